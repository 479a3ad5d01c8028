"""The batch manifest: which job (content-hash key) finished, and where its report is.

One JSON object per line, appended and fsync'ed only after the job's cache file was
written atomically, so a line never points at a partial report. Reading ignores lines
that do not parse (a torn last line after SIGKILL); appending first completes a torn
line so the next record starts on its own line.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from grader.errors import GraderError
from grader.fsutil import append_lines, atomic_write_bytes  # noqa: F401 - atomic_write_bytes re-exported for older imports

MANIFEST_VERSION = 1
GRADER_ROOT = Path(__file__).resolve().parent.parent
# Presentation code does not change a grade: editing it must not regrade a class.
_NOT_GRADING = ("batch", "report", "cli.py", "__main__.py")


class BatchError(GraderError):
    """The batch itself cannot proceed (OUT locked by another batch, bad inputs)."""


from grader.intake import sha256_file  # noqa: E402,F401  (one definition: the report's sha256 is the same)


def _hash_tree(h, root: Path, label: str) -> None:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if path.is_file() and path.suffix != ".pyc":
            h.update(f"{label}/{rel.as_posix()}\0".encode())
            h.update(path.read_bytes())
            h.update(b"\0")


def rubric_hash(rubric) -> str:
    """Hash of every file in the rubric directory (and its support dir when outside it)."""
    h = hashlib.sha256()
    root = Path(rubric.directory).resolve()
    _hash_tree(h, root, "rubric")
    support = getattr(rubric, "support_dir", None)
    if support is not None and root not in Path(support).resolve().parents:
        _hash_tree(h, Path(support), "support")
    return h.hexdigest()


VERSION_ENV = "GRADER_BATCH_VERSION"


def grader_version() -> str:
    """The installed version plus a hash of the grading code (so a fix regrades).

    $GRADER_BATCH_VERSION, when set, replaces it: pin it to keep a class's grades while
    the grader's code is being edited (or in tests, where others edit it concurrently).
    """
    return os.environ.get(VERSION_ENV) or _code_version()


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    from importlib import metadata

    try:
        base = metadata.version("dl-grader")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        base = "0"
    h = hashlib.sha256()
    for path in sorted(GRADER_ROOT.rglob("*.py")):
        rel = path.relative_to(GRADER_ROOT)
        if rel.parts[0] in _NOT_GRADING:
            continue
        h.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    reference = GRADER_ROOT.parent / "reference"  # the reference solutions the rubrics import
    if reference.is_dir():
        for path in sorted(reference.rglob("*.py")):
            h.update(b"reference/" + path.relative_to(reference).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{base}+g{h.hexdigest()[:12]}"


def job_key(zip_sha256: str, zip_name: str, rubric_digest: str, version: str, isolation: str) -> str:
    blob = json.dumps({"zip": zip_sha256, "name": zip_name, "rubric": rubric_digest,
                       "grader": version, "isolation": isolation}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    key: str
    status: str  # graded | crashed
    netid: str
    name: str
    cache: str  # relative to the state dir
    cache_sha256: str
    record: dict


class Manifest:
    """OUT/.batch/: manifest.jsonl, jobs/<key>.json, and a lock so two batches never share OUT."""

    def __init__(self, out_dir: Path):
        self.dir = Path(out_dir) / ".batch"
        self.path = self.dir / "manifest.jsonl"
        self.jobs_dir = self.dir / "jobs"
        self._lock_fh = None

    # -- locking -----------------------------------------------------------------------
    def lock(self) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.dir / "lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise BatchError(f"another `grader batch` is writing to {self.dir.parent}; wait for it or use another --out") from None
        self._lock_fh = fh

    def unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()  # closing releases the flock (the kernel does it on SIGKILL too)
            self._lock_fh = None

    # -- reading -------------------------------------------------------------------------
    def records(self) -> Iterator[dict]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # torn by a kill mid-append; that job is simply graded again
            if isinstance(rec, dict) and rec.get("v") == MANIFEST_VERSION and "key" in rec:
                yield rec

    def latest(self) -> dict[str, Entry]:
        """key -> the last entry recorded for it."""
        out: dict[str, Entry] = {}
        for rec in self.records():
            out[rec["key"]] = Entry(rec["key"], rec.get("status", ""), rec.get("netid", ""), rec.get("name", ""),
                                    rec.get("cache", ""), rec.get("cache_sha256", ""), rec)
        return out

    def load_done(self, entry: Entry | None) -> dict | None:
        """The cached job result if `entry` is a complete, graded job; else None."""
        if entry is None or entry.status != "graded" or not entry.cache:
            return None
        path = self.dir / entry.cache
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != entry.cache_sha256:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    # -- writing -------------------------------------------------------------------------
    def record(self, key: str, status: str, netid: str, name: str, result: dict, **extra) -> Entry:
        """Cache `result` (atomically), then append its manifest line (fsync)."""
        data = (json.dumps(result, sort_keys=True) + "\n").encode()
        cache = f"jobs/{key}.json"
        atomic_write_bytes(self.dir / cache, data)
        rec = {"v": MANIFEST_VERSION, "key": key, "status": status, "netid": netid, "name": name,
               "cache": cache, "cache_sha256": hashlib.sha256(data).hexdigest(), **extra}
        self._append(rec)
        return Entry(key, status, netid, name, cache, rec["cache_sha256"], rec)

    def _append(self, rec: dict) -> None:
        append_lines(self.path, (json.dumps(rec, sort_keys=True) + "\n").encode())
