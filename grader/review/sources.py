"""What the TA reads beside the item, taken from the student's zip as data (never run):
the zip's location (the batch manifest), the theory PDF's bytes and the free-text answers
of the notebooks (markdown cells after a question). Everything returned is untrusted text:
the templates escape it.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

MAX_NOTEBOOK_BYTES = 20 << 20
MAX_ANSWER = 5000
MAX_BLOCKS = 12


@dataclass(frozen=True)
class Answer:
    notebook: str
    cell: int  # index of the question's cell
    question: str
    answers: tuple[str, ...]  # the markdown cells after it, up to the next code cell or heading


def zip_sources(out_dir: Path) -> dict[str, Path]:
    """netid -> the zip its latest grading read (the batch manifest's `source`)."""
    from grader.batch.manifest import Manifest

    out: dict[str, Path] = {}
    for rec in Manifest(out_dir).records():
        if rec.get("netid") and rec.get("source"):
            out[str(rec["netid"])] = Path(str(rec["source"]))
    return out


def member_names(report) -> dict[str, str]:
    """role (the rubric's file name) -> its name in the zip, from the report's submission info."""
    out = {}
    for role, info in (report.submission.files or {}).items():
        if isinstance(info, dict) and isinstance(info.get("name_in_zip"), str):
            out[str(role)] = info["name_in_zip"]
    return out


def read_member(zip_path: Path | None, name: str | None, limit: int) -> bytes | None:
    if zip_path is None or not name:
        return None
    try:
        with zipfile.ZipFile(zip_path) as zf:
            info = zf.getinfo(name)
            if info.file_size > limit:
                return None
            with zf.open(info) as fh:
                data = fh.read(limit + 1)
    except (OSError, KeyError, zipfile.BadZipFile, RuntimeError, ValueError, NotImplementedError):
        return None
    return data if len(data) <= limit else None


def _source(cell) -> str:
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(s for s in src if isinstance(s, str)) if isinstance(src, list) else str(src)


def free_text_answers(data: bytes | None, notebook: str) -> tuple[Answer, ...]:
    """The question cells of a notebook (markdown with a '?') and the markdown written after
    each, as plain text."""
    from grader.untrusted import text

    if not data:
        return ()
    try:
        nb = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return ()
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return ()
    out: list[Answer] = []
    for k, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown" or "?" not in _source(cell):
            continue
        answers = []
        for nxt in cells[k + 1:k + 6]:
            if not isinstance(nxt, dict) or nxt.get("cell_type") != "markdown" or _source(nxt).lstrip().startswith("#"):
                break
            answers.append(text(_source(nxt), MAX_ANSWER))
        out.append(Answer(notebook, k, text(_source(cell), MAX_ANSWER), tuple(answers)))
        if len(out) >= MAX_BLOCKS:
            break
    return tuple(out)
