"""Reading the documents of a submission: notebooks (any nbformat version) and the PDF."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat

from grader.model import Finding

MAX_NOTEBOOK_BYTES = 64 << 20


def read_notebook(path: Path, name: str):
    """Return (NotebookNode v4 or None, findings). Never raises for bad content."""
    findings: list[Finding] = []
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, [Finding("notebook_unreadable", f"{name}: cannot read ({exc.strerror})", "error")]
    if size > MAX_NOTEBOOK_BYTES:
        return None, [Finding("notebook_too_large", f"{name} is {size >> 20} MiB (limit {MAX_NOTEBOOK_BYTES >> 20} MiB); clear large outputs and resubmit", "error")]
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [Finding("notebook_invalid", f"{name} is not a notebook (not valid JSON: {exc}); save it from Jupyter/Colab as .ipynb", "error")]
    if not isinstance(data, dict) or "nbformat" not in data:
        return None, [Finding("notebook_invalid", f"{name} is JSON but not a Jupyter notebook (no 'nbformat' field)", "error")]
    # JSON may escape lone UTF-16 surrogates (\ud800) that no UTF-8 writer accepts: every
    # copy of this notebook the grader writes (for the executor, the cache) would fail.
    from grader import untrusted

    repaired = [0]
    data = untrusted.clean_tree(data, None, repaired)
    if repaired[0]:
        findings.append(Finding("notebook_text_repaired", f"{name}: {repaired[0]} string(s) held lone UTF-16 surrogates "
                                "(\\ud800-\\udfff escapes, not text); each was replaced by U+FFFD before running it", "warning"))
    try:
        major = int(data.get("nbformat", 4))
        nb = nbformat.reads(json.dumps(data), as_version=4)
    except Exception as exc:  # nbformat raises many types on malformed notebooks
        return None, [Finding("notebook_invalid", f"{name} could not be read as a notebook: {type(exc).__name__}: {exc}", "error")]
    if major < 4:
        findings.append(Finding("nbformat_converted", f"{name} is nbformat v{major}; converted to v4 for execution"))
    try:
        nbformat.validate(nb)
    except Exception as exc:
        findings.append(Finding("notebook_schema", f"{name} does not fully match the notebook schema ({str(exc).splitlines()[0][:200]}); graded anyway", "warning"))
    if not any(c.get("cell_type") == "code" for c in nb.get("cells", [])):
        findings.append(Finding("no_code_cells", f"{name} has no code cells", "error"))
    return nb, findings


def check_pdf(path: Path, name: str) -> list[Finding]:
    """A readable PDF opens, has at least one page and its pages parse."""
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
        if b"%PDF-" not in head:
            return [Finding("pdf_unreadable", f"{name} is not a PDF (no %PDF header); export the theory answers as a real PDF", "error")]
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            return [Finding("pdf_unreadable", f"{name} is password-protected; the TA cannot open it", "error")]
        n = len(reader.pages)
        if n == 0:
            return [Finding("pdf_unreadable", f"{name} has no pages", "error")]
        text = "".join((p.extract_text() or "") for p in reader.pages[:3])
    except Exception as exc:  # pypdf raises many types on broken files
        return [Finding("pdf_unreadable", f"{name} cannot be opened as a PDF ({type(exc).__name__}: {str(exc)[:120]})", "error")]
    note = "" if text.strip() else " (no extractable text: scanned or image-only; a TA can still read it)"
    return [Finding("pdf_ok", f"{name}: readable PDF, {n} page(s){note}")]
