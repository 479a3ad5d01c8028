"""Gradescope's autograder `results.json`, derived from a canonical report dict.

Schema (Gradescope "Autograder Specifications", results format): top-level `score`,
optional `output`, `execution_time`, `tests`: [{score, max_score, name, number, output,
visibility, status}], visibility one of visible | hidden | after_due_date |
after_published. Items the rubric marks hidden keep their result visible but their
output is reduced to the verdict: no inputs, no feedback, no evidence.
"""
from __future__ import annotations

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
MAX_OUTPUT = 8000


def _test(n: int, item: dict, hidden_visibility: str) -> dict:
    hidden = item.get("visibility") == "hidden"
    status = item["status"]
    if status == "pending":
        output = "Graded by a TA; pending."
    elif hidden:
        output = f"Hidden test: {status}. Its inputs and details are not shown."
    else:
        output = (item.get("feedback") or "").strip() or f"{status}."
    test = {
        "score": float(item["score"]),
        "max_score": float(item["max_score"]),
        "name": f"{item['title']} ({item['id']})",
        "number": str(n),
        "output": output[:MAX_OUTPUT],
        "visibility": hidden_visibility if hidden else "visible",
    }
    if status in ("passed", "failed"):
        test["status"] = status
    elif status == "error":
        test["status"] = "failed"
    return test


def _overall(r: dict) -> str:
    lines = [f"Score: {r['score']:g} / {r['max_score']:g}"
             + (f" (items {r['raw_score']:g} before penalties)" if r["penalties"] else "")]
    for p in r["penalties"]:
        lines.append(f"Penalty {p['rule']} (-{p['percent']:g} %): {p['reason']}")
    for nb in r.get("notebooks", []):
        if not nb.get("executed"):
            lines.append(f"{nb['notebook']}: did not run cleanly ({nb['status']}). {nb.get('message', '')}".rstrip())
    for f in r.get("findings", []):
        if f.get("severity") == "error":
            lines.append(f["message"])
    pending = sum(i["max_score"] for i in r["items"] if i["status"] == "pending")
    if pending:
        lines.append(f"{pending:g} points are graded by a TA and still pending.")
    return "\n".join(lines)[:MAX_OUTPUT]


def gradescope_results(r: dict, hidden_visibility: str = "visible") -> dict:
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden_visibility must be one of {VISIBILITIES}, not {hidden_visibility!r}")
    return {
        "score": float(r["score"]),
        "execution_time": int(round(float(r.get("seconds") or 0))),
        "output": _overall(r),
        "tests": [_test(n, item, hidden_visibility) for n, item in enumerate(r["items"], start=1)],
    }
