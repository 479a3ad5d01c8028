"""A per-job disk quota: the work dir is its own size-limited tmpfs while the job runs.

RLIMIT_FSIZE caps one file; without this a job could write many files just under it
until the host disk is full. The tmpfs is mounted in the grader's own mount namespace
(so the grader reads the job's files as before) and needs CAP_SYS_ADMIN there, i.e. a
root grader. Its pages are charged to the memory cgroup of the process that writes
them, so the job's memory limit covers them too.

When the job ends, `release` copies what the job left (regular files, directories and
symlinks as links; never a FIFO or device, never following a link) into a plain
directory at the same path and unmounts the tmpfs: callers see an ordinary directory
afterwards, bounded by the quota.
"""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
from pathlib import Path

MS_NOSUID = 2
MS_NODEV = 4
MNT_DETACH = 2
# Files + directories a job may create (a tmpfs inode costs ~1 KiB of kernel memory).
DEFAULT_INODES = 65536

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _mount = _libc.mount
    _mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _umount2 = _libc.umount2
    _umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
except (OSError, AttributeError):  # pragma: no cover - non-glibc
    _mount = _umount2 = None


def _fs(path: Path) -> bytes:
    return os.fsencode(str(path))


def mount_quota(path: Path, size_bytes: int, uid: int, inodes: int = DEFAULT_INODES) -> str | None:
    """Make `path` (an existing dir) a tmpfs of `size_bytes`, keeping its contents.

    Returns None on success, else why it could not (the dir is then left as it was).
    """
    if _mount is None:
        return "no mount(2) in this C library"
    if os.geteuid() != 0:
        return "the grader is not root (mounting a size-limited tmpfs needs CAP_SYS_ADMIN)"
    path = Path(path)
    staging = path.with_name(path.name + ".pre-quota")
    if staging.exists():
        shutil.rmtree(staging)
    os.rename(path, staging)
    path.mkdir()
    opts = f"size={int(size_bytes)},nr_inodes={int(inodes)},mode=0700,uid={uid},gid={uid}"
    if _mount(b"tmpfs", _fs(path), b"tmpfs", MS_NOSUID | MS_NODEV, opts.encode()) != 0:
        err = ctypes.get_errno()
        path.rmdir()
        os.rename(staging, path)
        return f"mount tmpfs failed: {os.strerror(err)}"
    try:
        _copy_tree(staging, path)
    except OSError as exc:  # the grader's own files did not fit the quota
        _umount(path)
        path.rmdir()
        os.rename(staging, path)
        return f"the job's starting files do not fit the disk quota ({exc})"
    shutil.rmtree(staging, ignore_errors=True)
    return None


def probe() -> str | None:
    """None if quota mounts work here (tried once on a scratch dir), else why not."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="grader-quota-probe-"))
    try:
        (tmp / "w").mkdir()
        why = mount_quota(tmp / "w", 1 << 20, os.geteuid(), inodes=64)
        if why is None:
            try:
                with open(tmp / "w" / "big", "wb") as fh:
                    fh.write(b"\0" * (2 << 20))
                why = "a size-limited tmpfs did not limit the size"
            except OSError:
                pass
            release(tmp / "w")
        return why
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        detach_all(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def is_quota_mount(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


def release(path: Path) -> None:
    """Copy what the job left into a plain dir at `path`, then unmount the tmpfs.

    Safe to call twice and after a crash half-way (the tmpfs stays until the copy is done).
    """
    path = Path(path)
    if not is_quota_mount(path):
        return
    keep = path.with_name(path.name + ".kept")
    if keep.exists():
        shutil.rmtree(keep)
    keep.mkdir(mode=0o700)
    try:
        _copy_tree(path, keep)
    finally:
        _umount(path)
    os.rmdir(path)
    os.rename(keep, path)


def detach_all(root: Path) -> None:
    """Unmount (contents discarded) every quota mount at or under `root`: before rmtree."""
    root = Path(root).resolve()
    for mnt in sorted(_mounts_under(root), key=lambda p: -len(p.parts)):
        _umount(mnt)


def _mounts_under(root: Path) -> list[Path]:
    out = []
    try:
        with open("/proc/self/mountinfo", "rb") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) > 4:
                    # mountinfo escapes space, tab, newline and backslash as octal
                    mnt = Path(fields[4].decode("unicode_escape", "replace"))
                    if mnt == root or root in mnt.parents:
                        out.append(mnt)
    except OSError:
        pass
    return out


def _umount(path: Path) -> None:
    if _umount2 is None:
        return
    if _umount2(_fs(path), 0) != 0 and ctypes.get_errno() in (errno.EBUSY, errno.EINVAL):
        _umount2(_fs(path), MNT_DETACH)


def _copy_tree(src: Path, dest: Path) -> None:
    """Copy src's contents into the existing dir dest: files, dirs, symlinks (as links)."""
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = os.path.relpath(dirpath, src)
        target = dest if rel == "." else dest / rel
        for name in dirnames + filenames:
            s = os.path.join(dirpath, name)
            d = os.path.join(target, name)
            st = os.lstat(s)
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(d, stat.S_IMODE(st.st_mode) & 0o777 | 0o700)
            elif stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(s), d)
            elif stat.S_ISREG(st.st_mode):
                fd = os.open(s, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                try:
                    with os.fdopen(fd, "rb", closefd=False) as fin, open(d, "xb") as fout:
                        shutil.copyfileobj(fin, fout, 1 << 20)
                finally:
                    os.close(fd)
                os.chmod(d, stat.S_IMODE(st.st_mode) & 0o777)
            # FIFOs, sockets, devices: not copied
            try:
                os.lchown(d, st.st_uid, st.st_gid)
            except (OSError, FileNotFoundError):
                pass
