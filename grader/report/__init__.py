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
    _atomic_write(d / "report.json", json.dumps(data, indent=2, sort_keys=False) + "\n")
    _atomic_write(d / "feedback.md", feedback_markdown(data))
    return d
