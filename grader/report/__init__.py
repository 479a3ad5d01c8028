"""Report stage: the canonical report (grader.model.Report, written as report.json) and the
formats derived from it (grader.report.formats: the registry every command writes through)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from grader.model import Report, as_report
from grader.report.markdown import feedback_markdown
from grader.report.summary import summary_table

__all__ = ["write_reports", "feedback_markdown", "feedback_text", "report_json", "summary_table", "report_dir"]


def report_dir(out_dir: Path, netid: str) -> Path:
    return Path(out_dir) / netid


def report_json(data: dict) -> str:
    """report.json's text: strict JSON (no NaN/Infinity tokens), from a report_safe dict."""
    from grader.untrusted import report_safe

    try:
        return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"
    except (TypeError, ValueError):  # not sanitised by the caller
        return json.dumps(report_safe(data), indent=2, sort_keys=False, allow_nan=False) + "\n"


def feedback_text(report: Report | Mapping) -> str:
    """feedback.md for a report (or its dict); a short page saying why when it cannot be built."""
    from grader.untrusted import text

    try:
        return feedback_markdown(as_report(report))
    except Exception as exc:  # a malformed report must not stop the others
        netid = report.netid if isinstance(report, Report) else report.get("netid") if isinstance(report, Mapping) else "?"
        return (f"# Feedback for {text(netid, 100)}\n\nThe grader could not write this feedback "
                f"({type(exc).__name__}: {text(exc, 300)}); the instructor has your report.\n")


def write_reports(report: Report, out_dir: Path, ctx=None) -> Path:
    """`grader run`'s files: OUT/<netid>/report.json, its artifacts and every student format.
    Raises ReportWriteError naming the files that could not be written (after the others)."""
    from grader.report.formats import ReportWriteError, write_student_files

    d = report_dir(out_dir, report.netid)
    errors = write_student_files(report, d, ctx)
    if errors:
        raise ReportWriteError("; ".join(errors))
    return d
