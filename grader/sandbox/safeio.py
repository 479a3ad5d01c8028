"""Reading what a job left in its work dir without being tricked by it.

The job owned the directory: any name in it may be a symlink to /work/main/reference or
/etc/shadow, a FIFO that blocks forever, or a huge file. The grader runs as root, so a
plain open() would follow the link. These helpers walk the path one component at a
time with O_NOFOLLOW and accept only a regular file of bounded size.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath


def open_no_follow(root: Path, relpath: str | os.PathLike[str]) -> int:
    """An fd (read-only) for root/relpath; raises OSError on symlinks, '..', non-files."""
    parts = PurePosixPath(relpath).parts
    if not parts or PurePosixPath(relpath).is_absolute() or ".." in parts:
        raise PermissionError(f"refusing path {relpath!r}: must be relative, without '..'")
    flags_dir = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, flags_dir)
    try:
        for part in parts[:-1]:
            nfd = os.open(part, flags_dir, dir_fd=fd)
            os.close(fd)
            fd = nfd
        ffd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                      dir_fd=fd)
    finally:
        os.close(fd)
    st = os.fstat(ffd)
    if not stat.S_ISREG(st.st_mode):
        os.close(ffd)
        raise PermissionError(f"refusing {relpath!r}: not a regular file")
    return ffd


def read_bytes(root: Path, relpath: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The content of root/relpath, refusing links and files larger than max_bytes."""
    fd = open_no_follow(root, relpath)
    with os.fdopen(fd, "rb") as f:
        if os.fstat(f.fileno()).st_size > max_bytes:
            raise OSError(f"{relpath!r} is larger than {max_bytes} bytes")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"{relpath!r} is larger than {max_bytes} bytes")
    return data
