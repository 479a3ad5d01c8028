"""Which isolation this machine gives, found by trying it once (cached per process)."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import bwrap, cgroup, disk
from .config import Isolation
from .uids import allocate_uid

MODES = ("bwrap", "rlimits", "none")
# what --isolation accepts: "auto" picks the strongest of MODES that works here
ISOLATION_CHOICES = ("auto", *MODES)
ENV_VAR = "GRADER_SANDBOX"

_DISK_NOTE = ("work-dir disk usage is not capped, only each file's size (RLIMIT_FSIZE): {why}")


@functools.lru_cache(maxsize=None)
def _disk_quota() -> tuple[list[str], list[str]]:
    """(features, missing) for the per-job disk quota (a size-limited tmpfs work dir)."""
    why = disk.probe()
    if why is None:
        return ["disk-quota"], []
    return [], [_DISK_NOTE.format(why=why)]


def _try_bwrap() -> str | None:
    """Run the real sandbox command once; None if it works, else why not."""
    if os.geteuid() != 0:
        return "the grader does not run as root (bwrap without a user namespace needs root)"
    if not shutil.which("bwrap"):
        return "bubblewrap not installed (apt-get install bubblewrap)"
    if not shutil.which("setpriv"):
        return "setpriv (util-linux) not installed"
    lease = allocate_uid()
    tmp = Path(tempfile.mkdtemp(prefix="grader-sandbox-probe-"))
    try:
        work = tmp / "work"
        work.mkdir()
        os.chown(work, lease.uid, lease.uid)
        cmd = bwrap.command(
            [sys.executable, "-I", "-c", "import os,sys; print(os.getuid()); print(sys.version)"],
            uid=lease.uid, workdir=work, cwd=work, hidden=bwrap.hidden_paths(work))
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"bubblewrap could not start a sandbox: {e}"
        if r.returncode != 0:
            return f"bubblewrap could not start a sandbox: {r.stderr.strip()[-300:]}"
        lines = r.stdout.splitlines()
        if len(lines) < 2 or lines[0] != str(lease.uid):
            return f"bubblewrap sandbox did not drop to uid {lease.uid}: {r.stdout[-200:]!r}"
        if "\n".join(lines[1:]) != sys.version:
            return (f"the sandboxed interpreter is not the grader's ({lines[1]!r} != "
                    f"{sys.version!r}): the Python installation is not readable inside")
        return None
    finally:
        lease.release()
        shutil.rmtree(tmp, ignore_errors=True)


def _cgroup_features() -> tuple[list[str], list[str]]:
    features, missing = [], []
    if cgroup.probe("memory"):
        features.append("cgroup-memory")
    else:
        missing.append("no writable memory cgroup: memory is limited by RLIMIT_AS only "
                       "(MemoryError inside the job, no OOM kill, no peak-memory report)")
    if cgroup.probe("pids"):
        features.append("cgroup-pids")
    else:
        missing.append("no writable pids cgroup: process count limited by RLIMIT_NPROC only "
                       "(which is ignored when the job runs as root)")
    if cgroup.probe("freezer"):
        features.append("cgroup-freezer")
    return features, missing


def _bwrap_isolation() -> Isolation:
    cg_features, cg_missing = _cgroup_features()
    dq_features, dq_missing = _disk_quota()
    features = ("no-network", "pid-namespace", "ipc-namespace", "uts-namespace", "ro-root",
                "private-tmp", "hidden:/root", f"hidden:{bwrap.project_root()}",
                "hidden:sibling-job-dirs", "non-root-uid", "no-capabilities", "no-new-privs",
                "die-with-parent", "new-session", "scrubbed-env", "rlimits", *cg_features, *dq_features)
    return Isolation("bwrap", None, features, (*cg_missing, *dq_missing))


def _rlimits_isolation(why_not_bwrap: str) -> Isolation:
    cg_features, cg_missing = _cgroup_features()
    uid = os.geteuid()
    missing = [
        f"{why_not_bwrap}: no network isolation, student code can open connections",
        "no filesystem isolation: student code can read reference solutions, rubrics and "
        "other students' files, and write wherever the grader can",
        "no pid namespace: student code can see and signal the grader and other jobs",
    ]
    if uid == 0:
        missing.append("student code runs as the grader's uid (root): RLIMIT_NPROC does not "
                       "apply to root, and there is no privilege separation")
    missing += cg_missing
    dq_features, dq_missing = _disk_quota()
    missing += dq_missing
    features = ("new-session", "scrubbed-env", "rlimits", "die-with-parent", *cg_features, *dq_features)
    return Isolation("rlimits", uid, features, tuple(missing))


def _none_isolation(reason: str) -> Isolation:
    return Isolation("none", os.geteuid(), ("new-session",), (
        f"sandbox disabled ({reason}): student code runs with the grader's privileges, "
        "no network or filesystem isolation, no memory/process/CPU/file limits; "
        "only a new session and the wall-clock deadline apply",
    ))


@functools.lru_cache(maxsize=None)
def _detect(prefer: str | None, env_value: str | None) -> Isolation:
    if prefer is not None:
        wanted, source = prefer, f"prefer={prefer!r}"
    elif env_value:
        wanted, source = env_value, f"{ENV_VAR}={env_value}"
    else:
        wanted, source = "bwrap", "auto"
    if wanted not in MODES:
        from grader.errors import UsageError

        raise UsageError(f"unknown sandbox mode {wanted!r} ({source}); expected one of {', '.join(MODES)} "
                         f"(unset {ENV_VAR} to use the strongest available)")
    if wanted == "none":
        return _none_isolation(f"explicit opt-out, {source}")
    if wanted == "rlimits":
        return _rlimits_isolation(f"bubblewrap not used ({source})")
    why_not = _try_bwrap()
    if why_not is None:
        return _bwrap_isolation()
    return _rlimits_isolation(why_not)


def detect_isolation(prefer: str | None = None) -> Isolation:
    """The strongest isolation available (or the one asked for; 'none' opts out).

    `prefer` wins over $GRADER_SANDBOX; asking for 'bwrap' where it does not work
    gives 'rlimits', with the reason in `missing`.
    """
    return _detect(prefer, os.environ.get(ENV_VAR) or None)
