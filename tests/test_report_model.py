"""The typed report (grader.model.Report): to_dict/from_dict round trip, report.json files of
older graders, statuses in one enum (and the README's list checked against it), artifacts."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from grader.model import (Artifact, CellCut, CellOutcome, CellStatus, ExecBudget, Finding, ItemResult, ItemStatus,
                          NotebookRun, NotebookStatus, Penalty, Report, ReportError, SubmissionInfo)

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "tests" / "report" / "legacy"
GOLDEN = ROOT / "tests" / "report" / "golden"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60


def report(**kw) -> Report:
    items = (
        ItemResult("nb.a", "A", "allclose", 2.0, 2.0, "passed", "", seconds=0.5),
        ItemResult("nb.curve", "Curve", "loss_curve", 1.0, 3.0, "failed", "rose",
                   evidence={"artifacts": {"nb.curve.loss_curve.png": base64.b64encode(PNG).decode()}, "rise": 0.3}),
        ItemResult("q1", "Q1", "manual", 0.0, 5.0, "pending", "graded by a TA; pending", part="theory"),
    )
    nb = NotebookRun("nb.ipynb", "timeout", False, 9.5, 10, (CellOutcome(3, "timeout", 5.0, "CellTimeoutError", "cut"),),
                     message="cut", budget=ExecBudget(5.0, 5.0, "fixed", "5 s"), cut=CellCut(3, 5.0, 5.0, "cell", True, "ran"))
    base = dict(netid="ab1234", assignment="hw", score=2.7, max_score=10.0, raw_score=3.0,
                penalties=(Penalty("late", 3.0, "late"),), items=items, notebooks=(nb,),
                findings=(Finding("misnamed", "taken as nb.ipynb", "warning"),),
                submission={"file": "ab1234.zip", "accepted": True, "deadline": "2026-03-01T23:59:00"},
                environment={"isolation": {"mode": "none"}}, graded_at="2026-03-02T00:00:00+00:00", seconds=12.0)
    return Report(**{**base, **kw})


def test_to_dict_and_from_dict_round_trip():
    r = report()
    back = Report.from_dict(r.to_dict())
    assert back == r
    assert back.artifacts[0].data == PNG  # the bytes travel as base64 in evidence (a batch worker's result)
    assert isinstance(back.submission, SubmissionInfo) and back.notebooks[0].cut == r.notebooks[0].cut
    assert json.loads(json.dumps(r.to_dict(), allow_nan=False)) == r.to_dict()


def test_report_json_form_keeps_file_names_and_round_trips():
    r = report()
    stored = r.to_dict(artifact_files=True)
    assert stored["items"][1]["evidence"]["artifacts"] == {"nb.curve.loss_curve.png": "nb.curve.loss_curve.png"}
    assert stored["artifacts"] == [{"item": "nb.curve", "name": "nb.curve.loss_curve.png", "media_type": "image/png",
                                    "file": "nb.curve.loss_curve.png"}]
    back = Report.from_dict(stored)
    assert back.artifacts == r.artifacts and back.artifacts[0].data is None  # the bytes are in the file
    assert back.to_dict(artifact_files=True) == stored


def test_the_golden_report_json_loads_and_dumps_byte_for_byte():
    from grader.report import report_json

    text = (GOLDEN / "report.json").read_text()
    assert report_json(Report.from_dict(json.loads(text)).to_dict(artifact_files=True)) == text


def test_an_old_report_json_still_loads_and_renders():
    """tests/report/legacy/report.json was written by the grader before the typed report
    (grader/model.py and grader/report/__init__.py at commit 30b1387): no `artifacts` list,
    no `crash_reason`, the PNG's file name in evidence["artifacts"]."""
    from grader.report.formats import FORMATS, STUDENT

    r = Report.from_dict(json.loads((LEGACY / "report.json").read_text()))
    assert [i.status for i in r.items] == [ItemStatus.PASSED, ItemStatus.PASSED, ItemStatus.PENDING]
    assert r.notebooks[0].status is NotebookStatus.CELL_ERRORS and r.notebooks[0].cells[0].status is CellStatus.ERROR
    assert r.notebooks[0].budget == ExecBudget(300.0, 300.0, "fixed", "300 s (the rubric's fixed limit)")
    assert r.artifacts == (Artifact("hw2_rnn.section8", "hw2_rnn.section8.loss_curve.png", "image/png",
                                    "hw2_rnn.section8.loss_curve.png"),)
    assert r.crash_reason == "" and r.graded and r.pending_points == 10
    pages = {f.file: f.render(r, None).decode() for f in FORMATS if f.scope == STUDENT}
    assert "![hw2_rnn.section8.loss_curve.png](hw2_rnn.section8.loss_curve.png)" in pages["feedback.md"]
    assert 'src="hw2_rnn.section8.loss_curve.png"' in pages["feedback.html"]


def test_an_old_crash_report_gets_its_reason_as_a_field():
    from grader.report.gradebook import gradebook_rows

    r = Report.from_dict(json.loads((LEGACY / "crash_report.json").read_text()))
    assert r.crash_reason == "the worker died" and not r.graded
    assert r.submission.grader_crash.startswith("Traceback")
    header, rows = gradebook_rows([r])
    assert dict(zip(header, rows[0]))["notes"] == "the worker died"


def test_submission_keys_of_a_newer_grader_are_kept():
    r = report(submission={"file": "ab1234.zip", "accepted": True, "lms_submission_id": 42})
    assert r.submission.other == {"lms_submission_id": 42}
    assert r.to_dict()["submission"]["lms_submission_id"] == 42
    assert Report.from_dict(r.to_dict()) == r


def test_what_is_missing_is_named_with_its_path():
    with pytest.raises(ReportError, match=r"report\.score is missing"):
        Report.from_dict({"netid": "x", "max_score": 1, "items": []})
    with pytest.raises(ReportError, match=r"report\.items\[0\]\.status is missing"):
        Report.from_dict({"netid": "x", "score": 0, "max_score": 1, "items": [{"id": "a", "score": 0, "max_score": 1}]})
    with pytest.raises(ReportError, match=r"report\.items\[0\]\.score: 'lots' is not a float"):
        Report.from_dict({"netid": "x", "score": 0, "max_score": 1,
                          "items": [{"id": "a", "status": "passed", "score": "lots", "max_score": 1}]})
    minimal = Report.from_dict({"netid": "x", "score": 1, "max_score": 2,
                                "items": [{"id": "a", "status": "passed", "score": 1, "max_score": 2}]})
    assert minimal.raw_score == 1 and minimal.submission == SubmissionInfo()


def test_statuses_are_strings_of_one_enum():
    assert ItemStatus.PASSED == "passed" and f"{ItemStatus.PENDING}" == "pending" and str(NotebookStatus.TIMEOUT) == "timeout"
    assert json.dumps([ItemStatus.ERROR]) == '["error"]' and {"passed": 1}[ItemStatus.PASSED] == 1
    item = ItemResult("a", "A", "k", 0.0, 1.0, "failed", "")
    assert item.status is ItemStatus.FAILED
    # an unknown status (a corrupt report, a bug in a check) is the grader's error, never a pass
    assert ItemResult("a", "A", "k", 1.0, 1.0, "great", "").status is ItemStatus.ERROR
    assert NotebookRun("n", "exploded", False, 0, 0, ()).status is NotebookStatus.EXECUTOR_ERROR


def _readme_statuses(label: str) -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The report (`report.json`)"):]
    section = section[:section.index("\n## ", 1)]
    line = next(line for line in section.splitlines() if line.strip().startswith(label))
    listed = line.split(":", 1)[1]
    return {re.sub(r"\(.*?\)", "", s).strip() for s in re.sub(r"\(.*?\)", "", listed).split("|")}


def test_the_readme_lists_every_status_of_the_code():
    assert _readme_statuses("status: passed") == set(ItemStatus.values())
    assert _readme_statuses("status: completed") == set(NotebookStatus.values())
