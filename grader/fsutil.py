"""The one atomic file writer of the trusted grader.

Every file the grader writes that someone else may read while it is written (reports,
class files, the batch's manifest and caches, the benchmark record, the TA journal's
snapshots) goes through atomic_write_bytes: a new file written and fsync'd beside the
target, renamed over it, and the directory fsync'd, so a reader sees the old file or the
whole new one, never half, and a kill at any moment leaves one of the two. The temporary
name carries the pid, so concurrent writers of the same path never share a temp file; the
last rename wins.

(The probe worker, which runs inside the sandbox with student code, has its own tiny
writer in grader/probe/worker.py: that module imports nothing from the grader.)
"""
from __future__ import annotations

import os
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write-then-rename with fsync: readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def append_lines(path: str | Path, data: bytes) -> None:
    """Append `data` (whole lines) to a line journal and fsync it before returning: once
    this returns the lines survive a kill. A torn last line left by an earlier crash is
    closed first, so the new lines start on their own line; a journal created here has its
    directory fsync'd too. Callers serialise writers (a lock) where lines must not mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":  # a torn line: the next record starts on its own line
                    data = b"\n" + data
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
