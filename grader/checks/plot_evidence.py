"""Evidence for a TA: which code cells of a notebook produced pictures (image/png outputs),
and which of them come in or after a section (a markdown heading).

Everything in a notebook's outputs is the student's (untrusted): nothing here reads text
outputs, runs anything or trusts a MIME label alone. A picture counts only when its
payload is a base64 string whose first bytes decode to the PNG signature. The notebook is
read with a size budget. The result is evidence shown with a manual item (e.g. the
Section-8 extra credit "plot the gradients and the weights"); it never scores by itself.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any

MAX_NOTEBOOK_BYTES = 256 << 20  # larger: not read (the executor caps outputs far below this)
MAX_CELLS_LISTED = 50
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_IMAGE_OUTPUTS = ("display_data", "execute_result")


def _is_png(payload: Any) -> bool:
    if isinstance(payload, list) and all(isinstance(x, str) for x in payload[:4]):
        payload = "".join(payload[:4])
    if not isinstance(payload, str):
        return False
    head = "".join(payload[:64].split())[:12]  # 12 base64 characters = 9 bytes
    try:
        return base64.b64decode(head + "=" * (-len(head) % 4), validate=True).startswith(PNG_MAGIC)
    except (binascii.Error, ValueError):
        return False


def _text(source: Any) -> str:
    if isinstance(source, list):
        return "".join(x for x in source if isinstance(x, str))
    return source if isinstance(source, str) else ""


def count_images(nb: Any, section: str | None = None) -> dict:
    """Per code cell (index among all cells), how many PNG pictures its outputs hold, and
    whether it comes at or after the first markdown cell matching `section` (a regex over
    the cell's text, multiline). `nb`: a notebook as a dict (or NotebookNode)."""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    cells = cells if isinstance(cells, list) else []
    rx = re.compile(section, re.MULTILINE) if section else None
    start = None
    listed, total, in_section = [], 0, 0
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type")
        if kind == "markdown" and rx is not None and start is None and rx.search(_text(cell.get("source"))[:2000]):
            start = index
        if kind != "code" or not isinstance(cell.get("outputs"), list):
            continue
        n = sum(1 for out in cell["outputs"]
                if isinstance(out, dict) and out.get("output_type") in _IMAGE_OUTPUTS
                and isinstance(out.get("data"), dict) and _is_png(out["data"].get("image/png")))
        if not n:
            continue
        after = start is not None
        total += n
        in_section += n if after else 0
        if len(listed) < MAX_CELLS_LISTED:
            listed.append({"cell": index, "images": n, "in_section": after})
    out = {"images": total, "cells": listed}
    if rx is not None:
        out.update(section=section, section_cell=start, images_in_section=in_section)
    return out


def read_notebook(path: Path | None) -> dict | None:
    """The notebook at `path` as plain JSON data, or None (missing, too large, not JSON)."""
    try:
        if path is None or not Path(path).is_file() or Path(path).stat().st_size > MAX_NOTEBOOK_BYTES:
            return None
        data = json.loads(Path(path).read_bytes().decode("utf-8", "replace"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def plot_evidence(executed: Path | None, submitted: Any, section: str | None) -> dict:
    """The evidence a TA sees: pictures in the grader's own run of the notebook, and in the
    notebook as the student saved it (a claim: outputs the student's machine wrote)."""
    run = read_notebook(executed)
    ev: dict = {
        "grader_run": count_images(run, section) if run is not None else None,
        "as_submitted": count_images(submitted, section) if submitted is not None else None,
        "note": "pictures (image/png outputs) per code cell, counted by the grader; cells are numbered among all "
                "cells from 0; `as_submitted` is what the student's own run saved (a claim), `grader_run` is the "
                "grader's run (its kernel draws matplotlib figures only where the notebook displays them, e.g. "
                "`%matplotlib inline` or IPython.display). Evidence for the TA, never a score.",
    }
    if run is None:
        ev["grader_run_missing"] = "the grader has no executed copy of this notebook (not run, or it could not be read)"
    return ev
