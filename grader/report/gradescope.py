"""Gradescope's autograder `results.json`, rendered from the StudentView.

Schema (Gradescope "Autograder Specifications", results format): top-level `score`,
optional `output`, `execution_time`, `tests`: [{score, max_score, name, number, output,
visibility, status}], visibility one of visible | hidden | after_due_date |
after_published. Items the rubric marks hidden keep their result visible but their
output is reduced to the verdict: no inputs, no feedback, no evidence.
"""
from __future__ import annotations

import json
from typing import Mapping

from grader.model import ItemStatus, Report
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


def gradescope_results(report: Report | Mapping, hidden_visibility: str = "visible") -> dict:
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden_visibility must be one of {VISIBILITIES}, not {hidden_visibility!r}")
    v = student_view(report)
    return {
        "score": v.score,
        "execution_time": int(round(v.seconds)),
        "output": _overall(v),
        "tests": [_test(n, i, hidden_visibility) for n, i in enumerate(v.items, start=1)],
    }


def render(report: Report, ctx=None) -> bytes:
    hidden = getattr(ctx, "gradescope_hidden", "visible")
    return (json.dumps(gradescope_results(report, hidden), indent=2, allow_nan=False) + "\n").encode("utf-8", "replace")
