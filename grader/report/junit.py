"""JUnit XML from canonical report dicts: one <testsuite> per submission, one <testcase>
per rubric item. failed -> <failure>, error -> <error>, skipped/pending -> <skipped>.

Instructor-facing (CI dashboards): it carries full feedback, hidden items included.
Characters XML 1.0 cannot hold (ANSI escapes from tracebacks, NULs) are replaced.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

_BAD_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_TEXT = 20000


def _clean(s) -> str:
    return _BAD_XML.sub("\ufffd", str(s))[:MAX_TEXT]


def _message(s: str) -> str:
    first = (s or "").strip().splitlines()
    return _clean(first[0][:300]) if first else ""


def _suite(r: dict) -> ET.Element:
    counts = {k: sum(1 for i in r["items"] if i["status"] in v) for k, v in
              {"failures": ("failed",), "errors": ("error",), "skipped": ("skipped", "pending")}.items()}
    suite = ET.Element("testsuite", {
        "name": _clean(r["netid"]), "tests": str(len(r["items"])), **{k: str(v) for k, v in counts.items()},
        "time": f"{float(r.get('seconds') or 0):.3f}", "timestamp": _clean(r.get("graded_at", "")),
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("score", r["score"]), ("max_score", r["max_score"]), ("raw_score", r["raw_score"]),
                        ("assignment", r.get("assignment", "")),
                        ("isolation", r.get("environment", {}).get("isolation", {}).get("mode", ""))):
        ET.SubElement(props, "property", {"name": name, "value": _clean(value)})
    for p in r["penalties"]:
        ET.SubElement(props, "property", {"name": f"penalty.{_clean(p['rule'])}", "value": _clean(f"{p['percent']:g}% {p['reason']}")})
    for item in r["items"]:
        case = ET.SubElement(suite, "testcase", {
            "classname": _clean(f"{r.get('assignment', 'grader')}.{r['netid']}"),
            "name": _clean(f"{item['id']}: {item['title']}"),
            "time": f"{float(item.get('seconds') or 0):.3f}",
        })
        fb = item.get("feedback") or ""
        status = item["status"]
        if status == "failed":
            el = ET.SubElement(case, "failure", {"message": _message(fb) or "failed", "type": item["kind"]})
            el.text = _clean(f"{item['score']:g}/{item['max_score']:g} points\n{fb}")
        elif status == "error":
            el = ET.SubElement(case, "error", {"message": _message(fb) or "error", "type": item["kind"]})
            el.text = _clean(fb)
        elif status in ("skipped", "pending"):
            ET.SubElement(case, "skipped", {"message": _message(fb) or status})
        ET.SubElement(case, "system-out").text = _clean(f"score {item['score']:g}/{item['max_score']:g}")
    return suite


def junit_xml(reports: list[dict], name: str = "grader") -> str:
    reports = sorted(reports, key=lambda r: r["netid"])
    root = ET.Element("testsuites", {"name": _clean(name)})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    t = 0.0
    for r in reports:
        s = _suite(r)
        root.append(s)
        for k in totals:
            totals[k] += int(s.get(k))
        t += float(s.get("time"))
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{t:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
