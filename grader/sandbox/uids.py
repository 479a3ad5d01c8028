"""Allocation of unprivileged uids, one per live sandbox, across processes.

A uid is held by an flock on /run/grader-sandbox/uid-N.lock for the sandbox's life;
the kernel drops the lock if the grader dies, so a crash never leaks a uid. Two
sandboxes never share a uid, so RLIMIT_NPROC and os.kill stay per job.
"""
from __future__ import annotations

import fcntl
import grp
import os
import pwd
import random
import tempfile
from pathlib import Path

UID_RANGE = range(61000, 62000)


def _lock_dir() -> Path:
    for base in (Path("/run"), Path(tempfile.gettempdir())):
        d = base / "grader-sandbox"
        try:
            d.mkdir(mode=0o700, exist_ok=True)
            os.chmod(d, 0o700)
            return d
        except OSError:
            continue
    raise OSError("no writable directory for sandbox uid locks (/run or $TMPDIR)")


def _is_free_id(uid: int) -> bool:
    """No real user or group owns this id."""
    try:
        pwd.getpwuid(uid)
        return False
    except KeyError:
        pass
    try:
        grp.getgrgid(uid)
        return False
    except KeyError:
        return True


class UidLease:
    """An exclusively held uid; release() (or process death) gives it back."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None


def allocate_uid() -> UidLease:
    d = _lock_dir()
    uids = list(UID_RANGE)
    start = random.randrange(len(uids))  # spreads parallel graders over the range
    for uid in uids[start:] + uids[:start]:
        if not _is_free_id(uid):
            continue
        fd = os.open(d / f"uid-{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            # flock (not lockf): two opens in the same process also exclude each other.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise OSError(f"all sandbox uids {UID_RANGE.start}-{UID_RANGE.stop - 1} are in use")
