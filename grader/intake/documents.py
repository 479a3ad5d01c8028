"""Reading the documents of a submission: notebooks (any nbformat version) and the PDF."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat

from grader.model import Finding

MAX_NOTEBOOK_BYTES = 64 << 20
MAX_JSON_DEPTH = 200  # a real notebook nests about 10 levels; widget state a few dozen


def _json_depth(raw: bytes) -> int:
    """The deepest nesting of [ and { in JSON text, outside strings (a linear scan, no recursion)."""
    import re

    # strings first (escaped quotes included), then count brackets in what is left
    stripped = re.sub(rb'"(?:[^"\\]|\\.)*"', b'""', raw)
    depth = deepest = 0
    for b in re.finditer(rb"[\[\]{}]", stripped):
        if b.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


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
    if (depth := _json_depth(raw)) > MAX_JSON_DEPTH:
        # json, copy and jsonschema recurse: such a file would stop the grading of the whole
        # submission (RecursionError) instead of being the student's invalid notebook
        return None, [Finding("notebook_invalid", f"{name} is not a notebook Jupyter writes: its JSON nests {depth} levels deep "
                              f"(limit {MAX_JSON_DEPTH}); save it from Jupyter/Colab as .ipynb", "error")]
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
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
    out = [Finding("pdf_ok", f"{name}: readable PDF, {n} page(s){note}")]
    active = pdf_active_content(reader, path)
    if active:
        out.append(Finding("pdf_active_content", f"{name} holds active content a PDF reader may run when the TA opens it "
                           f"({', '.join(active)}); open it with JavaScript disabled, or grade a printed copy", "warning"))
    return out


# Actions and entries that make a PDF do something when opened, beyond showing pages.
_ACTIVE_ACTIONS = {"/JavaScript": "JavaScript", "/Launch": "a Launch action (runs a program)", "/SubmitForm": "a form submission",
                   "/ImportData": "an ImportData action", "/GoToE": "an embedded-file action", "/Rendition": "a media rendition"}
_ACTIVE_KEYS = {"/JS": "JavaScript", "/JavaScript": "JavaScript", "/EmbeddedFiles": "embedded files", "/EmbeddedFile": "embedded files",
                "/RichMedia": "rich media (Flash)", "/XFA": "an XFA form"}
MAX_PDF_OBJECTS = 20000


def pdf_active_content(reader, path: Path) -> list[str]:
    """What in the PDF can act when opened (JavaScript, launch actions, embedded files...).

    Every indirect object is read through pypdf, so objects compressed in object streams
    count too; the raw bytes are scanned as well in case the cross-reference table lies."""
    found: list[str] = []

    def note(what: str) -> None:
        if what not in found:
            found.append(what)

    try:
        from pypdf.generic import DictionaryObject, IndirectObject

        ids = set()
        for gen_table in (getattr(reader, "xref", {}) or {}).values():
            ids.update(gen_table)
        ids.update(getattr(reader, "xref_objStm", {}) or {})
        for k, idnum in enumerate(sorted(ids)):
            if k >= MAX_PDF_OBJECTS:
                break
            try:
                obj = reader.get_object(IndirectObject(idnum, 0, reader))
            except Exception:
                continue
            if isinstance(obj, DictionaryObject):
                s = obj.get("/S")
                if isinstance(s, str) and s in _ACTIVE_ACTIONS:
                    note(_ACTIVE_ACTIONS[s])
                for key, what in _ACTIVE_KEYS.items():
                    if key in obj:
                        note(what)
    except Exception:  # pragma: no cover - a parser failure: the raw scan below still runs
        pass
    try:
        raw = path.read_bytes()
        for key, what in (*((a, w) for a, w in _ACTIVE_ACTIONS.items()), *((k, w) for k, w in _ACTIVE_KEYS.items())):
            if key.encode() + b" " in raw or key.encode() + b"(" in raw or key.encode() + b"<" in raw or key.encode() + b"/" in raw:
                note(what)
    except OSError:
        pass
    return found


_PDF_DATE = None


def parse_pdf_date(raw) -> "object | None":
    """A PDF date string (D:YYYYMMDDHHmmSS+HH'mm', PDF 1.7 section 7.9.4) as an aware
    datetime; None without a time zone (it cannot be placed in time) or when malformed.
    (pypdf's own parser reads negative offsets wrongly: -05'00' as -19 h.)"""
    import datetime as dt
    import re

    global _PDF_DATE
    if _PDF_DATE is None:
        _PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(Z|[+-]\d{2}'?(?:\d{2}'?)?)?")
    m = _PDF_DATE.match(str(raw).strip())
    if not m or m.group(7) is None:
        return None
    y, mo, d, h, mi, sec = (int(g) if g else dflt for g, dflt in zip(m.groups()[:6], (0, 1, 1, 0, 0, 0)))
    tz = m.group(7)
    if tz == "Z":
        off = dt.timedelta(0)
    else:
        digits = tz[1:].replace("'", "")
        off = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        off = -off if tz[0] == "-" else off
    try:
        return dt.datetime(y, mo, d, h, mi, sec, tzinfo=dt.timezone(off))
    except ValueError:
        return None


def pdf_dates(path: Path) -> list[tuple[str, "object"]]:
    """[(what, timezone-aware datetime)] the PDF's own creation and modification dates
    (written by the student's software: a claim, like the zip's times)."""
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    out = []
    try:
        meta = PdfReader(str(path), strict=False).metadata or {}
        for what, key in (("creation date", "/CreationDate"), ("modification date", "/ModDate")):
            raw = meta.get(key)
            when = parse_pdf_date(raw) if isinstance(raw, str) else None
            if when is not None:
                out.append((what, when))
    except Exception:
        return []
    return out
