"""Unpack an untrusted zip without trusting anything in it.

Never extracts outside the target, never creates links, refuses bombs, reports every
refusal as a Finding. Entries are copied by reading from the archive stream, so the
archive's own paths, modes and link types never reach the file system.
"""
from __future__ import annotations

import datetime as dt
import posixpath
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.model import Finding

MAX_ENTRIES = 2000
MAX_TOTAL_BYTES = 512 << 20  # all files together, uncompressed
MAX_FILE_BYTES = 128 << 20
MAX_RATIO = 200  # uncompressed / compressed, for entries above 1 MiB


@dataclass(frozen=True)
class Entry:
    name: str  # normalized POSIX path inside the zip
    path: Path  # extracted location
    mtime: dt.datetime | None  # naive local time stored in the zip
    size: int


class ZipUnreadable(Exception):
    """The file is not a zip we can read at all (corrupt, truncated, not a zip)."""


def _safe_name(raw: str) -> str | None:
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    norm = posixpath.normpath(name)
    if norm.startswith("../") or norm == ".." or norm.startswith("/"):
        return None
    return norm


def _decode_name(info: zipfile.ZipInfo) -> tuple[str, bool]:
    """zipfile decodes non-UTF-8 names as cp437; say so instead of failing."""
    utf8_flag = bool(info.flag_bits & 0x800)
    if utf8_flag:
        return info.filename, True
    try:
        return info.filename.encode("cp437").decode("utf-8"), True
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename, False


def unpack(zip_path: Path, dest: Path) -> tuple[list[Entry], list[Finding]]:
    findings: list[Finding] = []
    entries: list[Entry] = []
    try:
        zf = zipfile.ZipFile(zip_path)
    except Exception as exc:  # BadZipFile, OSError, NotImplementedError (version), ... all mean the same

        raise ZipUnreadable(f"{zip_path.name} is not a readable zip file ({exc}); re-create it with a standard zip tool") from exc
    with zf:
        try:
            infos = zf.infolist()
        except Exception as exc:  # pragma: no cover - zipfile raises several types on corrupt directories
            raise ZipUnreadable(f"cannot list {zip_path.name}: {exc}") from exc
        if len(infos) > MAX_ENTRIES:
            raise ZipUnreadable(f"{zip_path.name} has {len(infos)} entries (limit {MAX_ENTRIES}); submit only the required files")
        total = 0
        seen: set[str] = set()
        for info in infos:
            name, decodable = _decode_name(info)
            if not decodable:
                findings.append(Finding("bad_filename", f"entry name {info.filename!r} is not valid UTF-8; it was read as {name!r}", "warning"))
            safe = _safe_name(name) if name.strip("/") else None
            if safe is None or safe in (".", ""):
                findings.append(Finding("path_traversal", f"refused entry {name!r}: it points outside the submission folder", "error"))
                continue
            if name.endswith("/"):  # a directory entry (ZipInfo.is_dir() fails on odd names)
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                findings.append(Finding("link_refused", f"refused entry {name!r}: symbolic links are not accepted", "error"))
                continue
            if mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
                findings.append(Finding("special_refused", f"refused entry {name!r}: not a regular file", "error"))
                continue
            if info.flag_bits & 0x1:
                findings.append(Finding("encrypted", f"refused entry {name!r}: it is encrypted; submit an unencrypted zip", "error"))
                continue
            if safe in seen:
                findings.append(Finding("duplicate_entry", f"entry {name!r} appears more than once; the first copy was used", "warning"))
                continue
            if info.file_size > MAX_FILE_BYTES:
                findings.append(Finding("too_large", f"refused entry {name!r}: {info.file_size} bytes (limit {MAX_FILE_BYTES})", "error"))
                continue
            if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                findings.append(Finding("zip_bomb", f"refused entry {name!r}: compression ratio {info.file_size // max(info.compress_size, 1)}:1 looks like a zip bomb", "error"))
                continue
            if total + info.file_size > MAX_TOTAL_BYTES:
                findings.append(Finding("too_large", f"refused entry {name!r}: the zip expands beyond {MAX_TOTAL_BYTES >> 20} MiB", "error"))
                continue
            target = dest / safe
            written = 0
            try:
                if any(len(part.encode()) > 255 for part in PurePosixPath(safe).parts):
                    raise ValueError("a path component is longer than 255 bytes")
                if dest.resolve() not in target.resolve().parents:
                    findings.append(Finding("path_traversal", f"refused entry {name!r}", "error"))
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        written += len(chunk)
                        # The header can lie about sizes: count what really comes out.
                        if written > MAX_FILE_BYTES or total + written > MAX_TOTAL_BYTES:
                            raise ValueError("expands beyond the size limit")
                        out.write(chunk)
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError, zlib.error) as exc:
                try:
                    target.unlink(missing_ok=True)
                except OSError:
                    pass
                findings.append(Finding("entry_unreadable", f"could not extract {name!r}: {exc}", "error"))
                continue
            total += written
            seen.add(safe)
            try:
                mtime = dt.datetime(*info.date_time)
            except ValueError:
                mtime = None
            entries.append(Entry(safe, target, mtime, written))
    return entries, findings
