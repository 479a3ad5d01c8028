"""Report stage: the canonical JSON and the formats derived from it."""
from __future__ import annotations

import json
import os
from pathlib import Path

from grader.model import Report
from grader.report.markdown import feedback_markdown
from grader.report.summary import summary_table

__all__ = ["write_reports", "feedback_markdown", "summary_table", "report_dir"]


def report_dir(out_dir: Path, netid: str) -> Path:
    return Path(out_dir) / netid


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_reports(report: Report, out_dir: Path) -> Path:
    d = report_dir(out_dir, report.netid)
    d.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    _atomic_write(d / "report.json", json.dumps(data, indent=2, sort_keys=False) + "\n")
    _atomic_write(d / "feedback.md", feedback_markdown(data))
    return d
