"""The report of a submission the grader itself failed on: score 0 and the reason.

Built from the rubric (every item present, as an error), so the gradebook row has the
same columns as everyone else's and the student's feedback says it is not their fault.
The reason is the typed report's `crash_reason` field (grader/model.py), which the formats
read (the gradebook's notes, "NOT GRADED" in the summary); the finding says it in words.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from grader import environment
from grader.model import Finding, ItemResult, Report


def crash_report(rubric, zip_path: Path, netid: str, sha256: str, reason: str, detail: str = "",
                 isolation: str = "auto", seconds: float = 0.0) -> dict:
    reason = reason or "the grader failed on this submission"  # never "": an empty crash_reason means graded
    items = []
    for item in rubric.items:
        manual = item.by_ta
        items.append(ItemResult(
            id=item.id, title=item.title, kind=item.kind, score=0.0, max_score=item.points,
            status="pending" if manual else "error",
            feedback="graded by a TA; pending" if manual else f"not graded: {reason}",
            visibility=item.visibility, part=item.part, extra_credit=item.extra_credit,
        ))
    finding = Finding("grader_crash", f"{reason}. This is a fault of the grader, not of the submission; "
                                      "the instructor will regrade it.", "error")
    report = Report(
        netid=netid, assignment=rubric.assignment, score=0.0, max_score=rubric.max_score, raw_score=0.0,
        penalties=(), items=tuple(items), notebooks=(), findings=(finding,),
        submission={"file": Path(zip_path).name, "sha256": sha256, "submitted_at": None,
                    "submitted_at_source": "unknown", "deadline": rubric.deadline.isoformat(),
                    "accepted": False, "rejection": reason, "files": {}, "grader_crash": detail[-4000:]},
        environment=environment.describe(rubric, {"mode": isolation, "uid": None, "features": [], "missing": []}),
        graded_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        seconds=round(seconds, 3),
        crash_reason=reason, extra_credit_cap=rubric.extra_credit_cap,
    )
    return report.to_dict()
