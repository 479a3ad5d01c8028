"""Gradescope's autograder `results.json`, rendered from the StudentView.

Schema (Gradescope "Autograder Specifications", results format): top-level `score`,
optional `output`, `execution_time`, `tests`: [{score, max_score, name, number, output,
visibility, status}], visibility one of visible | hidden | after_due_date |
after_published. Items the rubric marks hidden keep their result visible but their
output is reduced to the verdict: no inputs, no feedback, no evidence.

The richer fields: the overall `output` is Markdown (`output_format: md`; every line of
student-influenced text escaped, so none can forge a score line, a link or a heading) and
says which isolation was in force when it was weaker than the full sandbox; the tests'
outputs stay plain text (`test_output_format: text`); `extra_data` holds the grader's
version, the isolation and the submission time's source; `leaderboard` holds the numbers
the rubric's `gradescope.leaderboard` asks for (grader/rubric/gradescope.py), each taken
from the grader's own evidence of a visible item, and only when it is a finite number.
"""
from __future__ import annotations

import json
import math
import re
from typing import Mapping

from grader.model import ItemStatus, Report, as_report
from grader.report.markdown import inline
from grader.report.view import ItemView, StudentView, num, student_view

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
MAX_OUTPUT = 8000
# Gradescope knows passed and failed; an item the grader could not grade counts as failed
_STATUS = {ItemStatus.PASSED: "passed", ItemStatus.FAILED: "failed", ItemStatus.ERROR: "failed"}


def _test(n: int, i: ItemView, hidden_visibility: str) -> dict:
    output = i.verdict if i.status is ItemStatus.PENDING or i.hidden or not i.attempted else (i.feedback or i.verdict)
    test = {
        "score": i.score,
        # extra credit: max_score 0, so Gradescope shows its points above the total, never as a loss
        "max_score": 0.0 if i.extra_credit else i.max_score,
        "name": f"{i.title} ({i.id})" + (f" [extra credit, up to {num(i.max_score)}]" if i.extra_credit else ""),
        "number": str(n),
        "output": output[:MAX_OUTPUT],
        "visibility": hidden_visibility if i.hidden else "visible",
    }
    if i.extra_credit and i.status is ItemStatus.FAILED:  # extra credit is never a failure
        if i.score > 0:
            test["status"] = "passed"
    elif i.status in _STATUS:
        test["status"] = _STATUS[i.status]
    return test


def _overall(v: StudentView) -> str:
    lines = [*v.prominent, v.score_line + (f" (items {num(v.raw_score)} before penalties)" if v.penalties else "")]
    lines += [f"Penalty {p.rule} (-{num(p.percent)} %): {p.reason}" for p in v.penalties]
    lines += [f"{nb.notebook}: {nb.summary}" for nb in v.notebooks_not_run]
    lines += list(v.findings)
    if v.pending_note:
        lines.append(v.pending_note)
    return "\n".join(lines)[:MAX_OUTPUT]


def _md_line(text: str) -> str:
    """One line of text as Markdown: active characters escaped (grader.report.markdown.inline),
    and what could start a block (a heading, a quote, a list, a rule) escaped too."""
    s = inline(text)
    if s[:1] in ("#", ">", "+", "-", "=", "~", "_"):
        s = "\\" + s
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", s)


def isolation_note(report) -> str:
    """Which isolation was in force, and why it was not the full sandbox ("" for bwrap)."""
    iso = (report.environment or {}).get("isolation") if isinstance(report.environment, dict) else None
    iso = iso if isinstance(iso, dict) else {}
    mode = str(iso.get("mode", "?"))
    if mode == "bwrap":
        return ""
    why = "; ".join(str(m) for m in iso.get("missing") or [])[:600]
    return (f"Isolation in force: {mode}, weaker than the full sandbox (bubblewrap)" + (f": {why}" if why else "")
            + ". Your code was still run with limits and graded the same way.")


def _overall_md(v: StudentView, report) -> str:
    text = [line for line in _overall(v).splitlines() if line.strip()]
    # the grader's own score line (the first that starts with the score: a student's text never comes before it)
    score_at = next((k for k, line in enumerate(text) if line.startswith(f"Score: {num(v.score)} / ")), None)
    lines = [f"**{_md_line(line)}**" if k == score_at else "- " + _md_line(line) for k, line in enumerate(text)]
    note = isolation_note(report)
    if note:
        lines.append("- " + _md_line(note))
    return "\n\n".join(lines)[:MAX_OUTPUT]


def _extra_data(report) -> dict:
    env = report.environment if isinstance(report.environment, dict) else {}
    iso = env.get("isolation") if isinstance(env.get("isolation"), dict) else {}
    sub = report.submission
    return {
        "grader_version": env.get("grader_version"),
        "isolation": {"mode": str(iso.get("mode", "?")), "features": [str(f) for f in iso.get("features") or []],
                      "missing": [str(m)[:300] for m in iso.get("missing") or []]},
        "assignment": report.assignment,
        "netid": report.netid,
        "submitted_at": sub.submitted_at,
        "submitted_at_source": sub.submitted_at_source,
    }


def leaderboard(report, entries) -> list[dict]:
    """Gradescope's leaderboard entries for the rubric's `gradescope.leaderboard` (a number the
    grader computed, from a visible item's evidence; an entry without one is left out)."""
    items = {i.id: i for i in report.items}
    out = []
    for e in entries or ():
        item = items.get(e.item)
        if item is None or item.hidden or not isinstance(item.evidence, dict):
            continue
        value = item.evidence.get(e.value)
        if type(value) not in (int, float) or not math.isfinite(value):
            continue
        out.append({"name": e.name, "value": value, "order": e.order})
    return out


def gradescope_results(report: Report | Mapping, hidden_visibility: str = "visible", board=()) -> dict:
    """`board`: the rubric's leaderboard entries (Rubric.gradescope.leaderboard)."""
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden_visibility must be one of {VISIBILITIES}, not {hidden_visibility!r}")
    r = as_report(report)
    v = student_view(r)
    out = {
        "score": v.score,
        "execution_time": int(round(v.seconds)),
        "output": _overall_md(v, r),
        "output_format": "md",
        "test_output_format": "text",
        "extra_data": _extra_data(r),
        "tests": [_test(n, i, hidden_visibility) for n, i in enumerate(v.items, start=1)],
    }
    entries = leaderboard(r, board)
    if entries:
        out["leaderboard"] = entries
    return out


def render(report: Report, ctx=None) -> bytes:
    hidden = getattr(ctx, "gradescope_hidden", "visible")
    board = getattr(getattr(getattr(ctx, "rubric", None), "gradescope", None), "leaderboard", ())
    return (json.dumps(gradescope_results(report, hidden, board), indent=2, allow_nan=False) + "\n").encode("utf-8", "replace")
