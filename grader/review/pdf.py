"""The student's theory PDF as page images for the TA, rendered like any student input: in
a sandboxed subprocess (grader.sandbox: its own work dir, memory, CPU-time and file-size
limits, a wall-clock deadline) by pypdfium2 (grader/review/pdf_worker.py). What comes back
is data: PNG files (signature and size checked) and a JSON list of page texts (bounded,
decoded through grader.untrusted). The pages are cached under OUT/.review/pdf/<sha256>/,
so each PDF is rendered once, whoever opens it.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.model import PNG_MAGIC

MAX_PDF_BYTES = 50 << 20  # read from the zip at most (grader/review/sources.py)
MAX_PAGES = 30
MAX_PNG_BYTES = 8 << 20
SCALE = 1.4
WALL_S = 60.0
WORKER = Path(__file__).resolve().parent / "pdf_worker.py"


@dataclass(frozen=True)
class Pages:
    """A rendered PDF: `count` page images in `directory` (page-1.png ...), each page's text."""

    directory: Path | None
    count: int
    texts: tuple[str, ...]
    error: str = ""  # why there are no pages (no PDF, unreadable, limits)
    total: int = 0  # pages in the PDF (more than `count` when it was cut at MAX_PAGES)

    def page_for(self, *phrases: str) -> int:
        """The 1-based page whose text mentions the phrases most (section numbers first), 1 when none does."""
        best, best_score = 1, 0
        keys = [p.lower() for p in phrases if p]
        for k, text in enumerate(self.texts, start=1):
            low = text.lower()
            score = sum((5 if re.fullmatch(r"\d+(\.\d+)+", key) else 1) * low.count(key) for key in keys)
            if score > best_score:
                best, best_score = k, score
        return best


def question_phrases(title: str) -> list[str]:
    """What to look for in the PDF's text for an item titled e.g. "Theory 1.2: written derivation ...":
    its section numbers, then its longer words."""
    nums = re.findall(r"\b\d+(?:\.\d+)+\b", title)
    words = [w for w in re.findall(r"[A-Za-z]{6,}", title) if w.lower() not in {"theory", "written", "notebook"}]
    return nums + words[:6]


def render(data: bytes, cache_root: Path, isolation: str = "auto") -> Pages:
    """The pages of the PDF `data`, from the cache or rendered now in the sandbox."""
    from grader.untrusted import text

    if not data.startswith(b"%PDF"):
        return Pages(None, 0, (), "the file is not a PDF")
    digest = hashlib.sha256(data).hexdigest()
    target = Path(cache_root) / digest
    if not (target / "pages.json").exists():
        error = _render_into(data, target, isolation)
        if error:
            return Pages(None, 0, (), error)
    try:
        meta = json.loads((target / "pages.json").read_text())
        texts = tuple(text(t, 20000) for t in meta.get("texts", [])[:MAX_PAGES] if isinstance(t, str))
        count = sum(1 for k in range(1, MAX_PAGES + 1) if (target / f"page-{k}.png").exists())
        total = int(meta.get("pages", count)) if isinstance(meta.get("pages"), int) else count
    except (OSError, ValueError):
        return Pages(None, 0, (), "the rendered pages could not be read")
    return Pages(target, count, texts, "" if count else "the PDF has no pages", total)


def _render_into(data: bytes, target: Path, isolation: str) -> str:
    """Render in a sandboxed subprocess, check what it wrote, publish it to `target` whole."""
    from grader import sandbox as sbx
    from grader.sandbox import read_bytes

    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="review-pdf-", dir=target.parent))
    work = scratch / "work"
    try:
        work.mkdir()
        (work / "in.pdf").write_bytes(data)
        shutil.copyfile(WORKER, work / "pdf_worker.py")
        (work / "out").mkdir()
        argv = [sys.executable, "-I", "pdf_worker.py", "in.pdf", "out", str(MAX_PAGES), str(SCALE)]
        limits = sbx.Limits(memory_bytes=2 << 30, cpu_seconds=int(WALL_S), max_processes=16,
                            file_size_bytes=MAX_PNG_BYTES)  # the default disk cap (grader.defaults)
        iso = sbx.detect_isolation(prefer=None if isolation == "auto" else isolation)
        sb = sbx.Sandbox(work, limits, iso, name="review-pdf")
        try:
            proc = sb.popen(argv, cwd=str(work), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                proc.wait(timeout=WALL_S)
            except subprocess.TimeoutExpired:
                return f"rendering the PDF took longer than {WALL_S:g} s; open it from the student's zip"
            if proc.returncode != 0:
                return "the PDF could not be rendered (the renderer failed on it); open it from the student's zip"
        finally:
            sb.kill_all()
            sb.close()
        staged = scratch / "staged"
        staged.mkdir()
        try:
            meta = json.loads(read_bytes(work / "out", "pages.json", 2 << 20))
        except (OSError, ValueError):
            return "the renderer left no page list"
        if not isinstance(meta, dict) or not isinstance(meta.get("texts"), list):
            return "the renderer's page list is malformed"
        for k in range(1, MAX_PAGES + 1):
            try:
                png = read_bytes(work / "out", f"page-{k}.png", MAX_PNG_BYTES)
            except OSError:
                break
            if not png.startswith(PNG_MAGIC):
                break
            (staged / f"page-{k}.png").write_bytes(png)
        (staged / "pages.json").write_text(json.dumps({"pages": meta.get("pages") if isinstance(meta.get("pages"), int)
                                                       else 0, "texts": [t for t in meta["texts"] if isinstance(t, str)]}))
        try:
            staged.rename(target)
        except OSError:  # another request rendered it first
            pass
        return ""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
