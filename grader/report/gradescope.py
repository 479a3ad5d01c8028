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
    output = i.verdict if i.status is ItemStatus.PENDING or i.hidden else (i.feedback or i.verdict)
    test = {
        "score": i.score,
        "max_score": i.max_score,
        "name": f"{i.title} ({i.id})",
        "number": str(n),
        "output": output[:MAX_OUTPUT],
        "visibility": hidden_visibility if i.hidden else "visible",
    }
    if i.status in _STATUS:
        test["status"] = _STATUS[i.status]
    return test


def _overall(v: StudentView) -> str:
    lines = [f"Score: {num(v.score)} / {num(v.max_score)}" + (f" (items {num(v.raw_score)} before penalties)" if v.penalties else "")]
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
