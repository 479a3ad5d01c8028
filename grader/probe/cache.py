"""A content-hash cache of probe results, for batches that regrade a class.

A probe's result is determined by what it ran: the module source, the calls with their
inputs (arrays hashed by dtype, shape and bytes), the files given to it, the load timeout,
the isolation mode, the interpreter (the student environment's python) and the probe's
own code. An item whose inputs did not change after a rubric change is not probed again.

What is stored is what the student's process wrote (out-<i>.json, out-<i>.npz), raw and
size-capped, never a decoded value: a hit is read back by Prober._read, through the same
decoding boundary (grader/untrusted.py) and the same per-submission budget as a fresh
probe. Entries are verified on read (sha256 of every file, and the key they were stored
under); a corrupted or foreign entry is deleted and the probe runs again. A probe that was
killed (time limit, memory), or whose call timed out, is never cached.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

ENTRY_FILE = "entry.json"
_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("grader_probe_cache", default=None)
STATS = {"hits": 0, "misses": 0, "oldest": None}  # this process's, for the report's `reuse` block


@contextlib.contextmanager
def use(directory: str | Path | None):
    """Probers created inside this block (and given no cache_dir) use `directory`."""
    token = _DIR.set(Path(directory) if directory else None)
    try:
        yield
    finally:
        _DIR.reset(token)


def default_dir() -> Path | None:
    return _DIR.get()


def reset_stats() -> None:
    STATS.update(hits=0, misses=0, oldest=None)


def _code_digest() -> str:
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in ("worker.py", "forkserver.py", "__init__.py", "cache.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def key(module_source: str, spec: dict, arrays: dict, files: dict | None, isolation: str, python: str,
        memory_bytes: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"source": module_source, "spec": spec, "isolation": isolation, "python": python,
                         "memory": memory_bytes, "code": _code_digest()}, sort_keys=True, default=str).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\0array {name} {a.dtype.str} {a.shape}\0".encode())
        h.update(a.tobytes())
    for name in sorted(files or {}):
        content = files[name]
        data = Path(content).read_bytes() if isinstance(content, Path) else bytes(content)
        h.update(f"\0file {name} {len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.iterdir()) if p.name != ENTRY_FILE and p.is_file() and not p.is_symlink()}


def cacheable(raw_jsons: list[bytes | None]) -> bool:
    """Every call left a result, and none of them timed out or ran out of memory."""
    for raw in raw_jsons:
        if raw is None:
            return False
        try:
            out = json.loads(raw)
        except ValueError:
            continue  # unreadable is the student's result, decided the same way every time
        if isinstance(out, dict) and not out.get("ok"):
            err = str(out.get("error", ""))
            if err.startswith("Timeout") or "MemoryError" in err or "timed out" in err:
                return False
    return True


class ProbeCache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, k: str) -> Path | None:
        """The verified entry directory (out-<i>.json/.npz as the probe wrote them), or None."""
        d = self.root / k[:2] / k
        if not d.is_dir() or d.is_symlink():
            STATS["misses"] += 1
            return None
        try:
            entry = json.loads((d / ENTRY_FILE).read_text())
            ok = isinstance(entry, dict) and entry.get("key") == k and entry.get("files") == _digests(d)
        except (OSError, ValueError):
            ok = False
        if not ok:
            shutil.rmtree(d, ignore_errors=True)
            STATS["misses"] += 1
            return None
        STATS["hits"] += 1
        created = str(entry.get("created_at", ""))
        if created and (STATS["oldest"] is None or created < STATS["oldest"]):
            STATS["oldest"] = created
        return d

    def put(self, k: str, outputs: dict[str, bytes]) -> None:
        final = self.root / k[:2] / k
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{k[:12]}-", dir=final.parent))
        try:
            for name, data in outputs.items():
                (tmp / name).write_bytes(data)
            entry = {"key": k, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "files": _digests(tmp)}
            (tmp / ENTRY_FILE).write_text(json.dumps(entry))
            os.rename(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
