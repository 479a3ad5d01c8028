"""A content-hash cache of values the trusted judging computes, for batches that regrade.

Part of what a check computes in the grader's process is a pure function of plain data
the kernel exported (already read through the one door, grader/checks/_exports.py) and of
the grader's own reference code. The Section-8 curve is the costliest: every weight
snapshot evaluated by the reference SimpleLSTM on the fixed evaluation set (plus the
reference model's shapes and seeded initial weights, and the plot). A batch keeps these
values in OUT/.batch/judge-cache, so a regrade after a rubric fix computes each once per
distinct input instead of once per grading.

Only values are cached, never a verdict: the thresholds, points and feedback are applied
to them anew at every grading, so a changed threshold is not a cache miss and the result
is the one a grading from scratch gives. What is returned is always the stored form (JSON
plus arrays as dtype/shape/bytes), on a miss as on a hit, so both give the same values.

A key covers the computation's name, its parameters, the arrays it reads (dtype, shape,
bytes), the source of the code that computes it (the check module, the reference modules)
and the versions of the libraries it runs. An entry is JSON {"key", "created_at",
"value", "sha256"}, the hash over the canonical value; it is verified on read (the key it
was stored under, the hash, and the caller's shape check); a corrupted or foreign entry is
deleted and the value computed again. Non-finite floats are kept (JSON NaN/Infinity).
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from grader.fsutil import atomic_write_bytes

STATS = {"hits": 0, "misses": 0, "oldest": None}  # this process's, for the report's `reuse` block
MAX_ENTRY_BYTES = 16 << 20


def reset_stats() -> None:
    STATS.update(hits=0, misses=0, oldest=None)


@functools.lru_cache(maxsize=None)
def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def _module_file(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin) if spec is not None and spec.origin and spec.has_location else None


def code_digest(modules: Iterable[str]) -> str:
    """sha256 over the source files of `modules` (found without importing them)."""
    h = hashlib.sha256()
    for name in modules:
        path = _module_file(name)
        h.update(f"\0module {name}\0".encode())
        h.update(path.read_bytes() if path is not None else b"<no source>")
    return h.hexdigest()


def key(name: str, params: Any, arrays: dict | None = None, code: Iterable[str] = (), libs: Iterable[str] = ()) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"name": name, "params": params, "code": code_digest(code),
                         "libs": {d: _version(d) for d in libs}}, sort_keys=True, default=str).encode())
    for k in sorted(arrays or {}):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"\0array {k} {a.dtype.str} {a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def encode(value: Any) -> Any:
    """The stored (JSON) form: arrays as {"__array__": dtype, "shape", "b64"}, tuples as lists."""
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        return {"__array__": a.dtype.str, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"not storable: {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            dtype = np.dtype(value["__array__"])
            if dtype.hasobject:
                raise ValueError("object arrays are not stored")
            return np.frombuffer(base64.b64decode(value["b64"], validate=True), dtype=dtype).reshape(value["shape"]).copy()
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class JudgeCache:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, k: str) -> Path:
        return self.root / k[:2] / f"{k}.json"

    def get(self, k: str) -> tuple[bool, Any, str]:
        """(True, the stored form, when it was stored) for a verified entry; (False, None, "") otherwise."""
        path = self._path(k)
        try:
            if path.is_symlink() or path.stat().st_size > MAX_ENTRY_BYTES:
                raise ValueError("not a plain entry")
            entry = json.loads(path.read_bytes())
            ok = (isinstance(entry, dict) and entry.get("key") == k
                  and entry.get("sha256") == hashlib.sha256(_canonical(entry.get("value"))).hexdigest())
            if not ok:
                raise ValueError("foreign or corrupted")
        except FileNotFoundError:
            return False, None, ""
        except (OSError, ValueError, RecursionError):
            path.unlink(missing_ok=True)
            return False, None, ""
        return True, entry["value"], str(entry.get("created_at", ""))

    def forget(self, k: str) -> None:
        self._path(k).unlink(missing_ok=True)

    def put(self, k: str, stored: Any) -> None:
        path = self._path(k)
        data = json.dumps({"key": k, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                           "value": stored, "sha256": hashlib.sha256(_canonical(stored)).hexdigest()}).encode()
        if len(data) > MAX_ENTRY_BYTES:
            return
        try:
            atomic_write_bytes(path, data)
        except OSError:
            pass  # a cache that cannot be written only costs time


def cached(cache: JudgeCache | None, name: str, compute: Callable[[], Any], *, params: Any = None,
           arrays: dict | None = None, code: Iterable[str] = (), libs: Iterable[str] = (),
           valid: Callable[[Any], bool] | None = None) -> Any:
    """compute(), or its stored value from `cache` (None: no cache, compute() as is).

    With a cache the stored form is returned on a miss too (see the module docstring);
    `valid(value)` checks a decoded entry's shape, and one that fails it is recomputed."""
    if cache is None:
        return compute()
    k = key(name, params, arrays, tuple(code), tuple(libs))
    hit, stored, created = cache.get(k)
    if hit:
        try:
            value = decode(stored)
            if valid is None or valid(value):
                STATS["hits"] += 1
                if created and (STATS["oldest"] is None or created < STATS["oldest"]):
                    STATS["oldest"] = created
                return value
        except (ValueError, TypeError, KeyError):
            pass
        cache.forget(k)
    STATS["misses"] += 1
    value = compute()
    try:
        stored = encode(value)
    except TypeError:  # not a plain value: used as is, not stored
        return value
    cache.put(k, stored)
    return decode(stored)
