"""Report stage: the canonical JSON and the formats derived from it."""
from __future__ import annotations

import json
import os
from pathlib import Path

from grader.model import Report
from grader.report.markdown import feedback_markdown
from grader.report.summary import summary_table

__all__ = ["write_reports", "feedback_markdown", "feedback_text", "report_json", "summary_table", "report_dir"]


def report_dir(out_dir: Path, netid: str) -> Path:
    return Path(out_dir) / netid


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(text.encode("utf-8", "replace"))  # never raises on text: the report is sanitised already
    os.replace(tmp, path)


def report_json(data: dict) -> str:
    """report.json's text: strict JSON (no NaN/Infinity tokens), from a report_safe dict."""
    from grader.untrusted import report_safe

    try:
        return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"
    except (TypeError, ValueError):  # not sanitised by the caller
        return json.dumps(report_safe(data), indent=2, sort_keys=False, allow_nan=False) + "\n"


def feedback_text(data: dict) -> str:
    """feedback.md for a report dict; a short page saying why when it cannot be built."""
    from grader.untrusted import text

    try:
        return feedback_markdown(data)
    except Exception as exc:  # a malformed report must not stop the others
        return (f"# Feedback for {text(data.get('netid'), 100)}\n\nThe grader could not write this feedback "
                f"({type(exc).__name__}: {text(exc, 300)}); the instructor has your report.\n")


def _write_artifacts(data: dict, d: Path) -> None:
    """Checks may attach files (e.g. the loss-curve PNG) as base64 in evidence["artifacts"];
    they are written beside report.json and the JSON keeps only their file names."""
    import base64
    import re

    for item in data["items"]:
        arts = item.get("evidence", {}).get("artifacts")
        if not isinstance(arts, dict):
            continue
        files = {}
        for name, b64 in arts.items():
            stem = name if name.startswith(item["id"]) else f"{item['id']}.{name}"
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:120]
            try:
                (d / safe).write_bytes(base64.b64decode(b64, validate=True))
            except (ValueError, TypeError):
                continue
            files[name] = safe
        item["evidence"]["artifacts"] = files


def write_reports(report: Report, out_dir: Path) -> Path:
    d = report_dir(out_dir, report.netid)
    d.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    _write_artifacts(data, d)
    _atomic_write(d / "report.json", report_json(data))
    _atomic_write(d / "feedback.md", feedback_text(data))
    return d
