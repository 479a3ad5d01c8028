"""junit.xml: one <testsuite> per submission, one <testcase> per rubric item, rendered from
each report's instructor view (grader.report.view, audience "instructor": full feedback,
hidden items included, for CI dashboards). failed -> <failure>, error -> <error>,
skipped/pending -> <skipped>. Characters XML 1.0 cannot hold (ANSI escapes from
tracebacks, NULs) are replaced.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Mapping, Sequence

from grader.model import ItemStatus, Report, as_report
from grader.report.view import ItemView, StudentView, num, student_view

_BAD_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_TEXT = 20000


def _clean(s) -> str:
    return _BAD_XML.sub("\ufffd", str(s))[:MAX_TEXT]


def _message(s: str) -> str:
    first = (s or "").strip().splitlines()
    return _clean(first[0][:300]) if first else ""


def _status(i: ItemView) -> ItemStatus:
    """Extra credit is never a failure: not attempted is skipped, some points pass."""
    if i.extra_credit and i.status is ItemStatus.FAILED:
        return ItemStatus.PASSED if i.score > 0 else ItemStatus.SKIPPED
    return i.status


def _suite(v: StudentView) -> ET.Element:
    statuses = [_status(i) for i in v.items]
    counts = {"failures": statuses.count(ItemStatus.FAILED), "errors": statuses.count(ItemStatus.ERROR),
              "skipped": statuses.count(ItemStatus.SKIPPED) + statuses.count(ItemStatus.PENDING)}
    suite = ET.Element("testsuite", {
        "name": _clean(v.netid), "tests": str(len(v.items)), **{k: str(n) for k, n in counts.items()},
        "time": f"{v.seconds:.3f}", "timestamp": _clean(v.graded_at),
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("score", v.score), ("max_score", v.max_score), ("raw_score", v.raw_score),
                        ("assignment", v.assignment), ("isolation", v.isolation)):
        ET.SubElement(props, "property", {"name": name, "value": _clean(value)})
    if v.extra_credit_max > 0:
        ET.SubElement(props, "property", {"name": "extra_credit", "value": f"{num(v.extra_credit)} of {num(v.extra_credit_max)}"})
    for m in v.prominent:
        ET.SubElement(props, "property", {"name": "flag", "value": _clean(m)})
    for p in v.penalties:
        ET.SubElement(props, "property", {"name": f"penalty.{_clean(p.rule)}", "value": _clean(f"{num(p.percent)}% {p.reason}")})
    for i in v.items:
        case = ET.SubElement(suite, "testcase", {
            "classname": _clean(f"{v.assignment or 'grader'}.{v.netid}"),
            "name": _clean(f"{i.id}: {i.title}"),
            "time": f"{i.seconds:.3f}",
        })
        fb = i.feedback
        status = _status(i)
        if not i.attempted:
            ET.SubElement(case, "skipped", {"message": i.label})
        elif status is ItemStatus.PASSED:
            pass
        elif status is ItemStatus.FAILED:
            el = ET.SubElement(case, "failure", {"message": _message(fb) or "failed", "type": i.kind})
            el.text = _clean(f"{num(i.score)}/{num(i.max_score)} points\n{fb}")
        elif status is ItemStatus.ERROR:
            el = ET.SubElement(case, "error", {"message": _message(fb) or "error", "type": i.kind})
            el.text = _clean(fb)
        elif status in (ItemStatus.SKIPPED, ItemStatus.PENDING):
            ET.SubElement(case, "skipped", {"message": _message(fb) or str(i.status)})
        ET.SubElement(case, "system-out").text = _clean(i.points if i.extra_credit else f"score {num(i.score)}/{num(i.max_score)}")
    return suite


def junit_xml(reports: Sequence[Report | Mapping], name: str = "grader") -> str:
    views = sorted((student_view(as_report(r), "instructor") for r in reports), key=lambda v: v.netid)
    root = ET.Element("testsuites", {"name": _clean(name)})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    t = 0.0
    for v in views:
        s = _suite(v)
        root.append(s)
        for k in totals:
            totals[k] += int(s.get(k))
        t += float(s.get("time"))
    for k, n in totals.items():
        root.set(k, str(n))
    root.set("time", f"{t:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render(reports: Sequence[Report], ctx=None) -> bytes:
    name = reports[0].assignment if reports else "grader"
    return junit_xml(reports, name=name).encode("utf-8", "replace")
