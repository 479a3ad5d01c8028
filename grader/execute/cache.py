"""A content-hash cache of notebook executions: the same prepared notebook, under the same
limits, instrumentation, support files and grader version, runs once.

Batches and the test suite grade many submissions that share notebooks (samples that
differ in one notebook, resubmissions, re-grades after a rubric change to a check that
does not affect execution). What is cached is what the executor produced: its result,
the executed notebook and the plain-data exports. Exports were written by student code,
so they are copied as regular files only (no links, FIFOs or devices), size-capped, and
stay untrusted data for the checks that read them. Timeouts and crashes are not cached:
they may come from a loaded machine rather than from the notebook.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

# Only outcomes of the notebook itself: a timeout, a cut, a dead kernel or a crashed
# executor may come from a loaded machine and is never cached.
CACHEABLE = frozenset({"completed", "cell_errors"})
MAX_CACHED_BYTES = 256 << 20


def tree_digest(root: Path | None) -> str:
    h = hashlib.sha256()
    if root is None:
        return "none"
    for p in sorted(Path(root).rglob("*")):
        if "__pycache__" in p.parts or not p.is_file():
            continue
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def key(prepared_nb, settings: dict, support_digest: str) -> str:
    from importlib import metadata

    cells = [(c.get("cell_type"), c.get("source") if isinstance(c.get("source"), str) else "".join(c.get("source", [])))
             for c in prepared_nb.cells]
    try:
        version = metadata.version("dl-grader")
    except metadata.PackageNotFoundError:  # pragma: no cover
        version = "dev"
    blob = json.dumps({"cells": cells, "settings": settings, "support": support_digest, "grader": version,
                       "executor": _executor_digest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


# The grader's code an execution runs through, besides the prepared cells (which carry the
# in-kernel instrumentation): an entry made by another executor, sandbox or child
# environment is not reused. Paths relative to the package.
EXECUTION_CODE = ("execute/executor.py", "execute/prepare.py", "execute/__init__.py", "sandbox/*.py", "childenv.py",
                  "untrusted.py", "defaults.py")


def _executor_digest() -> str:
    """The execution code's bytes and the grader's own torch (the kernel's unless a student
    environment, whose spec is part of the key, runs it)."""
    from importlib import metadata

    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for pattern in EXECUTION_CODE:
        for path in sorted(package.glob(pattern)):
            h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        h.update(("torch " + metadata.version("torch")).encode())
    except metadata.PackageNotFoundError:  # pragma: no cover
        h.update(b"no torch")
    return h.hexdigest()[:16]


def copy_regular_files(src: Path, dst: Path, max_bytes: int = MAX_CACHED_BYTES) -> int:
    """Copy only regular files (never following links), up to max_bytes in total."""
    total = 0
    dst.mkdir(parents=True, exist_ok=True)
    if not src.is_dir() or src.is_symlink():
        return 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = Path(dirpath).relative_to(src)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode) or total + st.st_size > max_bytes:
                    continue
                data = fh.read(st.st_size + 1)[: st.st_size]
            total += len(data)
            (dst / rel / name).write_bytes(data)
    return total


ENTRY_FILE = "entry.json"  # {"key", "created_at", "files": {relative path: sha256}}

# Hits in this process, for the report's `reuse` block (the batch worker reads and clears it).
HITS: list[dict] = []


def cacheable(run_json: dict) -> bool:
    if not isinstance(run_json, dict) or run_json.get("status") not in CACHEABLE or run_json.get("cut"):
        return False
    cells = run_json.get("cells") or []
    return not any(isinstance(c, dict) and c.get("status") in ("timeout", "dead") for c in cells)


def _files(d: Path) -> dict[str, str] | None:
    """relative path -> sha256 of every file under d; None when anything is not a regular file."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(d, followlinks=False):
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                return None
        for name in filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                return None
            rel = path.relative_to(d).as_posix()
            if rel != ENTRY_FILE:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


class ExecCache:
    """Entries are directories named by their key, written whole (temp dir + rename) and
    verified on every read: entry.json names the key and the sha256 of every file (run.json,
    executed.ipynb, exports); an entry that is corrupted, incomplete, foreign (another key's)
    or from an older layout is deleted and the notebook executed again."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, k: str) -> Path | None:
        d = self.root / k
        if not d.is_dir() or d.is_symlink():
            return None
        try:
            entry = json.loads((d / ENTRY_FILE).read_text())
            ok = (isinstance(entry, dict) and entry.get("key") == k and isinstance(entry.get("files"), dict)
                  and "run.json" in entry["files"] and _files(d) == entry["files"])
        except (OSError, ValueError):
            ok = False
        if not ok:
            shutil.rmtree(d, ignore_errors=True)
            return None
        HITS.append({"key": k, "created_at": str(entry.get("created_at", ""))})
        return d

    @contextlib.contextmanager
    def claim(self, k: str, wait_s: float, poll_s: float = 0.25):
        """Single flight for a miss: hold the key's lock while this process executes the
        notebook, so that graders running the same notebook at the same time (a batch's
        workers, a class of identical starters, the test suite's processes) run it once and
        the others take the entry. Yields the entry when another holder stored it while this
        one waited (use it), else None (execute, then put). The lock is an flock on
        .locks/<key>: the OS releases it when its holder dies. After `wait_s` without the
        lock (a holder that hangs), yields None anyway: this one runs the notebook too."""
        locks = self.root / ".locks"
        locks.mkdir(exist_ok=True)
        fd = os.open(locks / k, os.O_CREAT | os.O_RDWR, 0o600)
        locked = False
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    locked = True
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(poll_s)
            yield self.get(k)
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def put(self, k: str, run_json: dict, executed_nb: Path | None, exports: Path | None) -> None:
        if not cacheable(run_json) or self.get(k) is not None:
            return
        import datetime as dt

        tmp = Path(tempfile.mkdtemp(prefix=f".{k[:12]}-", dir=self.root))
        try:
            if executed_nb is not None and executed_nb.exists():
                shutil.copyfile(executed_nb, tmp / "executed.ipynb")
            if exports is not None:
                copy_regular_files(exports, tmp / "exports")
            (tmp / "run.json").write_text(json.dumps(run_json))
            entry = {"key": k, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "files": _files(tmp)}
            (tmp / ENTRY_FILE).write_text(json.dumps(entry))
            os.rename(tmp, self.root / k)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
