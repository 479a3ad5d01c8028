"""The one door for untrusted data (DESIGN.md rule 7).

Everything that crosses from a sandbox into the grader process is decoded here, with its
budget checked BEFORE it is read:

  - a probe's result (out-<i>.json + out-<i>.npz, grader/probe): `decode_result`. The
    .npz's member count is read from the zip's end-of-central-directory record before the
    zip is parsed; each array's size is read from its .npy header before its data is; every
    reference to an array in the result tree is charged to the result's budget (the checks
    stack lists of arrays, so one array referenced 60 times costs 60 times); the results of
    one submission share a budget too. Strings are sanitised and capped, the tree's size and
    depth are bounded, every leaf has the type its tag says.
  - exported arrays and JSON written in the kernel (grader/checks/_exports.py): `read_npz`,
    `clean_tree`.
  - the notebook as submitted (grader/intake/documents.py) and as stored after execution
    (grader/execute/executor.py): `clean_tree`, `notebook_text`.
  - any string for a report: `text` (lone UTF-16 surrogates replaced, so that UTF-8 can
    encode it; a length cap with a visible "[truncated ...]" marker).
  - the report itself (grader/model.py Report.to_dict, and every reader of report.json):
    `report_safe`, after which `json.dumps(..., allow_nan=False)` succeeds, non-finite
    numbers are strings ("NaN", "Infinity", "-Infinity") with a finding that says where,
    and report.json stays under MAX_REPORT_BYTES (artifacts aside).

A refusal is a `Refused` exception whose message is written for the student's report.
"""
from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_RESULT_BYTES = 64 << 20  # decoded arrays of one probe result (each reference counted)
MAX_SUBMISSION_BYTES = 256 << 20  # decoded arrays of all the probe results of one submission
MAX_MEMBERS = 4096  # arrays in one .npz
MAX_CENTRAL_DIR_BYTES = MAX_MEMBERS * 512  # a zip directory larger than that holds more entries, or lies
MAX_NODES = 100_000  # nodes of one result tree (the probe worker's own limit)
MAX_DEPTH = 32
MAX_DIMS = 32
MAX_STRING = 10_000  # characters of a string in a probe result
MAX_NAME = 200  # type names, dtypes
MAX_KEY = 1_000  # dict keys
MAX_REPORT_STRING = 64 << 10  # any string in a report
MAX_REPORT_BYTES = 2 << 20  # report.json, artifacts (the grader's own PNGs) aside
MAX_ARTIFACT_CHARS = 8 << 20  # base64 of a 5 MiB PNG fits
PROBE_KINDS = "biufcUS"  # dtype kinds a probe may return (no objects, no raw void, no datetimes)
NUMERIC_KINDS = "biuf"

_SURROGATES = re.compile("[\ud800-\udfff]")


class Refused(ValueError):
    """Untrusted data the grader will not decode; the message says why, for the report."""


@dataclass(frozen=True)
class Opaque:
    """An object that is not plain data (custom class, lying __eq__ ...): never equal to anything."""

    type: str
    repr: str

    def __eq__(self, other):  # pragma: no cover - trivial
        return False

    __hash__ = object.__hash__


def mib(n: int) -> str:
    return f"{n / (1 << 20):.3g} MiB"


class Budget:
    """Bytes the grader may still decode for one result, or for one submission."""

    def __init__(self, limit: int, what: str):
        self.limit = int(limit)
        self.used = 0
        self.what = what

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    def charge(self, nbytes: int, what: str = "") -> None:
        if nbytes < 0 or self.used + nbytes > self.limit:
            raise Refused(f"{what or 'the data'} is too large: {mib(self.used + max(nbytes, 0))} decoded, more than "
                          f"the grader decodes for {self.what} ({mib(self.limit)})")
        self.used += nbytes


# --------------------------------------------------------------------------------------
# strings


def text(value: Any, limit: int | None = MAX_STRING) -> str:
    """A string safe for any report: valid UTF-8 (lone surrogates become U+FFFD) and at most
    `limit` characters, with a visible marker when cut."""
    s = value if isinstance(value, str) else _str(value)
    if limit is not None and len(s) > limit:  # the marker fits in `limit`: cutting again changes nothing
        kept = max(0, limit - 45)
        s = s[:kept] + f" [truncated: {len(s) - kept} more characters]"
    return _SURROGATES.sub("\ufffd", s)


def _str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # a hostile __str__: the type's name only
        return f"<{type(value).__name__}>"


def tail(value: Any, limit: int) -> str:
    """The last `limit` characters (tracebacks: the end matters), sanitised."""
    s = value if isinstance(value, str) else _str(value)
    if len(s) > limit:
        s = f"[truncated: {len(s) - limit} earlier characters] " + s[-limit:]
    return _SURROGATES.sub("\ufffd", s)


def has_surrogates(s: str) -> bool:
    return _SURROGATES.search(s) is not None


def clean_tree(obj: Any, limit: int | None = None, counter: list | None = None) -> Any:
    """JSON-like data with every string (and key) made valid UTF-8; `counter` (a one-element
    list) counts the strings that needed it. For parsed untrusted JSON (notebooks, exports)."""
    if isinstance(obj, str):
        if counter is not None and _SURROGATES.search(obj):
            counter[0] += 1
        return text(obj, limit)
    if isinstance(obj, dict):
        return {clean_tree(k, limit, counter) if isinstance(k, str) else k: clean_tree(v, limit, counter)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean_tree(v, limit, counter) for v in obj]
    return obj


def notebook_text(nb) -> str:
    """nbformat.writes(nb), as valid UTF-8 text whatever the outputs hold."""
    import nbformat

    return _SURROGATES.sub("\ufffd", nbformat.writes(nb))


# --------------------------------------------------------------------------------------
# .npz files


def _zip_directory(fh) -> tuple[int, int]:
    """(entries, central directory bytes) declared by the end-of-central-directory record,
    read before zipfile parses the directory (which would build one object per entry)."""
    fh.seek(0, io.SEEK_END)
    size = fh.tell()
    n = min(size, 22 + 65535)
    fh.seek(size - n)
    tail_bytes = fh.read(n)
    at = tail_bytes.rfind(b"PK\x05\x06")
    if at < 0 or len(tail_bytes) - at < 22:
        raise Refused("not a zip archive (no end-of-central-directory record)")
    _sig, _d, _dcd, _nd, entries, cd_size, _off, _clen = struct.unpack("<4s4H2LH", tail_bytes[at:at + 22])
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:  # zip64: the real numbers are in the zip64 record
        loc = tail_bytes[at - 20:at] if at >= 20 else b""
        if len(loc) != 20 or loc[:4] != b"PK\x06\x07":
            raise Refused("malformed zip64 archive")
        _s, _disk, rec_off, _tot = struct.unpack("<4sLQL", loc)
        if rec_off + 56 > size:
            raise Refused("malformed zip64 archive")
        fh.seek(rec_off)
        rec = fh.read(56)
        if rec[:4] != b"PK\x06\x06":
            raise Refused("malformed zip64 archive")
        _s, _sz, _v, _vn, _d, _dcd, _nd, entries, cd_size, _off = struct.unpack("<4sQ2H2L4Q", rec)
    fh.seek(0)
    return entries, cd_size


class NpzReader:
    """The arrays of an untrusted .npz, read one at a time after their headers are checked.

    Opened on bytes or a binary file object. Nothing is unpickled (object dtypes are refused
    from the header), nothing is decompressed before its declared size is within budget."""

    def __init__(self, source, kinds: str = PROBE_KINDS, max_members: int = MAX_MEMBERS, label: str = "the result"):
        fh = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        self.label = label
        self.kinds = kinds
        try:
            entries, cd_size = _zip_directory(fh)
        except (OSError, struct.error) as exc:
            raise Refused(f"{label} is not a readable .npz ({type(exc).__name__})") from None
        if entries > max_members or cd_size > max_members * 512:
            raise Refused(f"{label} holds too many arrays ({entries} declared; the grader reads at most {max_members})")
        try:
            self.zip = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise Refused(f"{label} is not a readable .npz ({type(exc).__name__})") from None
        infos = self.zip.infolist()
        if len(infos) > max_members:
            raise Refused(f"{label} holds too many arrays ({len(infos)}; the grader reads at most {max_members})")
        self._names = {(i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i.filename for i in infos}
        self._cache: dict[str, np.ndarray] = {}

    @property
    def files(self) -> list[str]:
        return list(self._names)

    def __contains__(self, key) -> bool:
        return key in self._names

    def close(self) -> None:
        self.zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _open(self, key: str):
        """(member stream positioned at the data, shape, fortran order, dtype, bytes)."""
        f = self.zip.open(self._names[key])
        fmt = np.lib.format
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise Refused(f"array {text(key, 60)!r} has an unsupported .npy version {version}")
        except Refused:
            f.close()
            raise
        except Exception as exc:
            f.close()
            raise Refused(f"array {text(key, 60)!r} has no valid .npy header ({type(exc).__name__})") from None
        if dtype.hasobject or dtype.kind not in self.kinds or dtype.itemsize == 0 or dtype.names is not None:
            f.close()
            raise Refused(f"array {text(key, 60)!r} has dtype {text(dtype, 60)}, not plain "
                          + ("numbers" if self.kinds == NUMERIC_KINDS else "numbers or text"))
        if len(shape) > MAX_DIMS or not all(isinstance(n, int) and n >= 0 for n in shape):
            f.close()
            raise Refused(f"array {text(key, 60)!r} has a malformed shape")
        return f, shape, fortran, dtype, math.prod(shape) * dtype.itemsize

    def nbytes(self, key: str) -> int:
        """The decoded size its header declares (nothing else is read)."""
        f, _shape, _fortran, _dtype, nbytes = self._open(key)
        f.close()
        return nbytes

    def read(self, key: str, budget: Budget | None = None, what: str | None = None) -> np.ndarray:
        """The array `key`, charged to `budget` (before its data is read). A key read before is
        charged again but decoded once: callers materialise every reference (np.stack)."""
        if key not in self._names:
            raise Refused(f"{self.label} names an array {text(key, 60)!r} it does not hold")
        if key in self._cache:
            a = self._cache[key]
            if budget is not None:
                budget.charge(a.nbytes, what or self.label)
            return a
        f, shape, fortran, dtype, nbytes = self._open(key)
        with f:
            if budget is not None:
                budget.charge(nbytes, what or self.label)
            buf = bytearray(nbytes)
            view, got = memoryview(buf), 0
            try:
                while got < nbytes:
                    n = f.readinto(view[got:])
                    if not n:
                        break
                    got += n
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:  # bad CRC, truncated stream
                raise Refused(f"array {text(key, 60)!r} could not be read ({type(exc).__name__})") from None
            if got != nbytes:
                raise Refused(f"array {text(key, 60)!r} is shorter than its header says")
        a = np.frombuffer(buf, dtype=dtype, count=math.prod(shape)).reshape(shape, order="F" if fortran else "C")
        self._cache[key] = a
        return a


def read_npz(source, max_bytes: int, kinds: str = NUMERIC_KINDS, max_members: int = MAX_MEMBERS,
             label: str = "the file") -> dict[str, np.ndarray]:
    """Every array of an untrusted .npz, their total decoded size checked against `max_bytes`
    from the headers before any data is read. Raises Refused."""
    with NpzReader(source, kinds=kinds, max_members=max_members, label=label) as z:
        total = 0
        for k in z.files:
            total += z.nbytes(k)
            if total > max_bytes:
                raise Refused(f"{label} holds more than {mib(max_bytes)} of arrays once decoded")
        return {k: z.read(k) for k in z.files}


# --------------------------------------------------------------------------------------
# probe results


_FLOAT_WORDS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class _Decoder:
    def __init__(self, npz: NpzReader, budget: Budget):
        self.npz = npz
        self.budget = budget
        self.nodes = 0

    def decode(self, spec: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise Refused(f"the result is too large or too deep (more than {MAX_NODES} values or {MAX_DEPTH} levels)")
        if not isinstance(spec, dict) or "t" not in spec:
            return Opaque("malformed", "")
        t, v = spec.get("t"), spec.get("v")
        if t in ("tensor", "ndarray"):
            key = spec.get("key")
            if not isinstance(key, str) or key not in self.npz:
                return Opaque("missing-array", text(key, MAX_NAME))
            return self.npz.read(key, self.budget, "the result")
        if t == "none":
            return None
        if t == "bool":
            return v if type(v) is bool else Opaque("bad-bool", text(repr(v), MAX_NAME))
        if t == "int":
            return v if type(v) is int else Opaque("bad-int", text(repr(v), MAX_NAME))
        if t in ("float", "npscalar"):
            if isinstance(v, str):
                return _FLOAT_WORDS[v] if v in _FLOAT_WORDS else Opaque("bad-float", text(v, MAX_NAME))
            if t == "npscalar" and type(v) in (bool, int):
                return v
            if type(v) is float or (type(v) is int and abs(v) < 1 << 1000):
                return float(v)
            return Opaque("bad-float", text(repr(v), MAX_NAME))
        if t == "str":
            return text(v, MAX_STRING) if isinstance(v, str) else Opaque("bad-str", "")
        if t in ("list", "tuple"):
            if not isinstance(v, list):
                return Opaque("malformed", "")
            items = [self.decode(x, depth + 1) for x in v]
            return items if t == "list" else tuple(items)
        if t == "dict":
            if not isinstance(v, dict):
                return Opaque("malformed", "")
            return {text(k, MAX_KEY): self.decode(x, depth + 1) for k, x in v.items()}
        return Opaque(text(spec.get("type", "object"), MAX_NAME), text(spec.get("repr", ""), MAX_NAME))


def decode_result(spec: Any, npz: NpzReader, budget: Budget) -> Any:
    """The value of a probe result's JSON tree `spec`, its arrays read from `npz` within `budget`."""
    return _Decoder(npz, budget).decode(spec)


def result_meta(top: Any) -> dict:
    """The top-level type information of a result (t, dtype, shape, type), sanitised."""
    if not isinstance(top, dict):
        return {}
    meta = {}
    for k in ("t", "dtype", "type"):
        if k in top:
            meta[k] = text(top[k], MAX_NAME) if isinstance(top[k], str) else None
    if "shape" in top:
        s = top["shape"]
        ok = isinstance(s, list) and len(s) <= MAX_DIMS and all(type(n) is int and 0 <= n < 1 << 62 for n in s)
        meta["shape"] = s if ok else None
    return meta


# --------------------------------------------------------------------------------------
# reports


_NONFINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _jsonable(x: Any, path: str, notes: list, cap: int | None, list_cap: int | None, depth: int = 0,
              art: bool = False) -> Any:
    """`art`: inside an item's "artifacts" (the grader's own base64 PNGs): not cut at `cap`."""
    if depth > 64:
        return "[too deep]"
    if x is None or isinstance(x, bool) or type(x) is int:
        return x
    if isinstance(x, float):
        if math.isfinite(x):
            return float(x)
        notes.append(path)
        return "NaN" if math.isnan(x) else _NONFINITE[x]
    if isinstance(x, int):  # an int subclass (numpy ints are not)
        return int(x)
    if isinstance(x, str):
        return text(x, MAX_ARTIFACT_CHARS if art else cap)
    if isinstance(x, dict):
        return {text(k, MAX_KEY): _jsonable(v, f"{path}.{text(k, 60)}" if path else text(k, 60), notes, cap, list_cap,
                                             depth + 1, art or k == "artifacts") for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        items = list(x)
        extra = 0
        if list_cap is not None and len(items) > list_cap:
            keep = max(0, list_cap - 1)
            extra, items = len(items) - keep, items[:keep]
        out = [_jsonable(v, f"{path}[{i}]", notes, cap, list_cap, depth + 1, art) for i, v in enumerate(items)]
        if extra:
            out.append(f"[truncated: {extra} more entries]")
        return out
    if isinstance(x, np.generic):
        return _jsonable(x.item(), path, notes, cap, list_cap, depth + 1, art)
    if isinstance(x, np.ndarray):
        if x.size <= 1000 and x.dtype.kind in "biuf":
            return _jsonable(x.tolist(), path, notes, cap, list_cap, depth + 1, art)
        return {"array": {"shape": list(x.shape), "dtype": str(x.dtype)}}
    return text(f"<{type(x).__name__}>", MAX_NAME)


def _size(data: dict) -> int:
    """Bytes of report.json without its artifacts (the grader's PNGs, written as files)."""
    items = data.get("items")
    if isinstance(items, list):
        stripped = dict(data, items=[{**i, "evidence": {k: v for k, v in i["evidence"].items() if k != "artifacts"}}
                                     if isinstance(i, dict) and isinstance(i.get("evidence"), dict) else i for i in items])
    else:
        stripped = data
    return len(json.dumps(stripped, indent=2, allow_nan=False))


def report_safe(data: dict, max_bytes: int = MAX_REPORT_BYTES) -> dict:
    """A report dict that `json.dumps(..., allow_nan=False)` writes, in valid UTF-8, under
    `max_bytes`: strings cleaned and capped, non-finite numbers written as strings (a
    finding lists where), evidence and then long strings and lists cut when still too large.
    Idempotent; reports that need none of it come back equal."""
    notes: list[str] = []
    out = _jsonable(data, "", notes, MAX_REPORT_STRING, None)
    if not isinstance(out, dict):
        out = {"invalid_report": out}
    if notes:
        shown = ", ".join(notes[:8]) + (f" and {len(notes) - 8} more" if len(notes) > 8 else "")
        finding = {"code": "non_finite_values", "severity": "info",
                   "message": f"{len(notes)} non-finite number(s) (NaN or infinity) in the results are written as "
                              f"strings, since JSON has no such numbers: {shown}"}
        out["findings"] = list(out.get("findings") or []) + [finding]
    if _size(out) <= max_bytes:
        return out
    # 1. the largest evidence first: it is where student values end up
    items = [i for i in out.get("items") or [] if isinstance(i, dict) and isinstance(i.get("evidence"), dict)]
    by_size = sorted(items, key=lambda i: len(json.dumps(i["evidence"], allow_nan=False)), reverse=True)
    for item in by_size:
        ev = item["evidence"]
        n = len(json.dumps(ev, allow_nan=False))
        kept = {"artifacts": ev["artifacts"]} if "artifacts" in ev else {}
        item["evidence"] = {**kept, "omitted": f"{n} bytes of evidence left out: the report's limit is {mib(max_bytes)}"}
        if _size(out) <= max_bytes:
            return out
    # 2. then every long string and list (feedback, findings)
    for cap, list_cap in ((4000, 200), (400, 20), (80, 5)):
        out = _jsonable(out, "", [], cap, list_cap)
        if _size(out) <= max_bytes:
            return out
    return out
