"""grader/batch/crash.py: the report of a submission the grader failed on carries its reason
as the typed report's `crash_reason` field, which the formats read (not only as text)."""
from pathlib import Path

from grader.batch.crash import crash_report
from grader.model import Report
from grader.report.gradebook import gradebook_rows
from grader.report.summary import summary_table


def _crash(mini_rubric, reason):
    return Report.from_dict(crash_report(mini_rubric, Path("ab1234.zip"), "ab1234", "0" * 64, reason, "Traceback ..."))


def test_the_reason_is_a_field_the_formats_read(mini_rubric):
    r = _crash(mini_rubric, "the worker died")
    assert r.crash_reason == "the worker died" and not r.graded
    assert r.to_dict()["crash_reason"] == "the worker died"
    header, rows = gradebook_rows([r])
    assert dict(zip(header, rows[0]))["notes"] == "the worker died"
    assert "NOT GRADED: the worker died" in summary_table(r)
    assert all(i.score == 0 for i in r.items) and r.score == 0
    assert r.submission.grader_crash == "Traceback ..."


def test_the_field_does_not_depend_on_the_findings_wording(mini_rubric):
    """The reason survives a finding reworded or dropped (held_report replaces the findings)."""
    d = crash_report(mini_rubric, Path("ab1234.zip"), "ab1234", "0" * 64, "two zips claim ab1234")
    d["findings"] = [{"code": "netid_clash", "message": "another text", "severity": "error"}]
    assert Report.from_dict(d).crash_reason == "two zips claim ab1234"


def test_an_empty_reason_still_means_not_graded(mini_rubric):
    r = _crash(mini_rubric, "")
    assert r.crash_reason and not r.graded
