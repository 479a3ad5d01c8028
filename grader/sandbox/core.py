"""Sandbox: one per job (one kernel or one probe worker)."""
from __future__ import annotations

import ctypes
import dataclasses
import itertools
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from . import bwrap, disk
from grader.childenv import fork_safe_blas
from grader.errors import GraderError

from .cgroup import CONTROLLERS, JobCgroups
from .config import MIN_ADDRESS_SPACE, Isolation, Limits
from .detect import detect_isolation
from .uids import UidLease, allocate_uid


# Before any grading thread can be inside a BLAS call: limiting the pool while a threaded
# call is in flight is itself a race with the next fork (grader/childenv.py fork_safe_blas).
fork_safe_blas()


class SandboxError(GraderError, RuntimeError):
    """The sandbox could not be set up (not a failure of the student's code)."""


_counter = itertools.count()
_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - non-glibc
    _prctl = None

# Subdirectories of the work dir that $TMPDIR, $IPYTHONDIR, ... point to.
_ENV_DIRS = {
    "TMPDIR": ".tmp",
    "IPYTHONDIR": ".ipython",
    "MPLCONFIGDIR": ".config/matplotlib",
    "JUPYTER_CONFIG_DIR": ".jupyter",
    "JUPYTER_DATA_DIR": ".local/share/jupyter",
    "JUPYTER_RUNTIME_DIR": ".local/share/jupyter/runtime",
}


def _chown_tree(root: Path, uid: int, gid: int, *, strip_setid: bool = False) -> None:
    """lchown everything under root; never follows a symlink the job may have planted."""
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
                os.lchown(p, uid, gid)
                if strip_setid and stat.S_ISREG(st.st_mode) and st.st_mode & 0o6000:
                    os.chmod(p, stat.S_IMODE(st.st_mode) & ~0o6000)
            except OSError:
                pass


class Sandbox:
    """Limits and isolation for the processes of one job; a context manager.

    `workdir` is the only writable place; it is created if needed, chowned to the
    sandbox uid, and given back (owned by root) on close. Where the isolation has
    "disk-quota" it is a tmpfs of `limits.disk_bytes` while open, and a plain directory
    with the same contents after close (see disk.py).
    """

    def __init__(self, workdir: Path, limits: Limits = Limits(), isolation: Isolation | None = None,
                 *, readonly_binds: Sequence[Path | tuple[Path, Path]] = (),
                 hide: Sequence[Path] = (), name: str = "job") -> None:
        self.limits = limits
        self.workdir = Path(workdir).resolve()
        base = isolation or detect_isolation()
        self._lease: UidLease | None = None
        self._cgroups: JobCgroups | None = None
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self._closed = False
        self._final_stats: dict[str, int | None] = {}
        self._binds = tuple((Path(b).resolve(), Path(b).resolve()) if not isinstance(b, tuple)
                            else (Path(b[0]).resolve(), Path(b[1])) for b in readonly_binds)
        self._hide = tuple(Path(h).resolve() for h in hide)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40] or "job"
        try:
            if base.mode == "bwrap":
                self._lease = allocate_uid()
                self.uid: int = self._lease.uid
            else:
                self.uid = os.geteuid()
            self.isolation = dataclasses.replace(base, uid=self.uid)
            self._prepare_workdir()
            if base.mode != "none":
                ctrls = tuple(c for c in CONTROLLERS if f"cgroup-{c}" in base.features)
                if ctrls:
                    self._cgroups = JobCgroups(f"{safe}-{os.getpid()}-{next(_counter)}", ctrls)
                    self._cgroups.set_limits(limits.memory_bytes, limits.max_processes)
        except Exception as e:
            self.close()
            raise SandboxError(f"could not set up the sandbox for {self.workdir}: {e}") from e
        self._procs_files = self._cgroups.procs_files() if self._cgroups else []
        self._rlimits = self._compute_rlimits()

    # -- setup -------------------------------------------------------------------------

    def _prepare_workdir(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for sub in _ENV_DIRS.values():
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        if self.limits.disk_bytes is not None and "disk-quota" in self.isolation.features:
            why = disk.mount_quota(self.workdir, self.limits.disk_bytes, self.uid)
            if why is not None:
                raise SandboxError(f"the disk quota could not be set up: {why}")
        if self.isolation.mode == "bwrap":
            _chown_tree(self.workdir, self.uid, self.uid)
        os.chmod(self.workdir, 0o700)

    def _compute_rlimits(self) -> list[tuple[int, int, int]]:
        if self.isolation.mode == "none":
            return []
        lim = self.limits
        out = [
            (resource.RLIMIT_FSIZE, lim.file_size_bytes, lim.file_size_bytes),
            (resource.RLIMIT_NOFILE, lim.open_files, lim.open_files),
            (resource.RLIMIT_CORE, 0, 0),
        ]
        if lim.cpu_seconds is not None:
            # soft -> SIGXCPU, hard one second later -> SIGKILL
            out.append((resource.RLIMIT_CPU, lim.cpu_seconds, lim.cpu_seconds + 1))
        if self._cgroups is None or "memory" not in self._cgroups.dirs:
            asz = max(lim.memory_bytes, MIN_ADDRESS_SPACE)
            out.append((resource.RLIMIT_AS, asz, asz))
        else:
            # The memory cgroup limits what is used; an address-space cap inherited from
            # the caller (the executor keeps its own at 3 GiB) would only break imports that
            # reserve more than they use (a CUDA build of torch maps ~3.5 GB).
            out.append((resource.RLIMIT_AS, resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        if self.uid != 0:
            out.append((resource.RLIMIT_NPROC, lim.max_processes, lim.max_processes))
        return out

    # -- running -------------------------------------------------------------------------

    def wrap(self, argv: list[str], *, cwd: Path | None = None) -> list[str]:
        """The command line that runs argv inside the sandbox (cwd defaults to workdir)."""
        argv = [str(a) for a in argv]
        cwd = Path(cwd) if cwd is not None else self.workdir
        if self.isolation.mode == "bwrap":
            return bwrap.command(argv, uid=self.uid, workdir=self.workdir, cwd=cwd,
                                 readonly_binds=self._binds,
                                 hidden=bwrap.hidden_paths(self.workdir, self._hide))
        if self.isolation.mode == "rlimits":
            # jupyter_client adds JPY_PARENT_PID after env(); the kernel must not see it.
            return ["/usr/bin/env", "-u", "JPY_PARENT_PID", *argv]
        return argv

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A scrubbed environment: nothing of the grader's, scratch dirs in workdir."""
        w = self.workdir
        from grader.childenv import single_threaded_env

        env = single_threaded_env(
            PATH=os.pathsep.join([str(Path(sys.prefix) / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
            LANG="C.UTF-8", LC_ALL="C.UTF-8", HOME=str(w), USER="student", PYTHONNOUSERSITE="1", MPLBACKEND="Agg",
        )
        for var, sub in _ENV_DIRS.items():
            env[var] = str(w / sub)
        if extra:
            env.update({str(k): str(v) for k, v in extra.items()})
        env.pop("JPY_PARENT_PID", None)
        return env

    def preexec(self) -> Callable[[], None]:
        """For subprocess(preexec_fn=...): new session, die with parent, cgroups, rlimits.

        Everything is precomputed: the function runs between fork and exec.
        """
        fork_safe_blas()  # the caller forks next: see grader/childenv.py
        procs_files = list(self._procs_files)
        rlimits = list(self._rlimits)
        mode = self.isolation.mode
        prctl = _prctl

        def _preexec() -> None:
            try:
                os.setsid()
            except OSError:  # already a session leader (start_new_session=True)
                pass
            if mode == "none":
                return
            if prctl is not None:
                prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            pid = str(os.getpid()).encode()
            for path in procs_files:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)
            for res, soft, hard in rlimits:
                resource.setrlimit(res, (soft, hard))

        return _preexec

    def popen(self, argv: list[str], *, env: Mapping[str, str] | None = None,
              cwd: Path | None = None, **kwargs) -> subprocess.Popen:
        """Start argv inside the sandbox (stdin is /dev/null unless given)."""
        if self._closed:
            raise SandboxError("sandbox is closed")
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.pop("start_new_session", None)
        proc = subprocess.Popen(self.wrap(argv, cwd=cwd), env=self.env(env),
                                cwd=str(self.workdir), preexec_fn=self.preexec(), **kwargs)
        self.track(proc)
        return proc

    def track(self, proc: subprocess.Popen) -> None:
        """Remember a process started by someone else (e.g. a kernel manager) for kill_all."""
        with self._lock:
            if proc not in self._procs:
                self._procs.append(proc)

    # -- stopping ------------------------------------------------------------------------

    def pids(self) -> set[int]:
        """Host pids of the job's live processes (from the cgroups)."""
        return self._cgroups.pids() if self._cgroups else set()

    def kill_all(self) -> None:
        """SIGKILL every process of the job; idempotent, never raises."""
        try:
            cg = self._cgroups
            if cg is not None:
                cg.freeze(True)  # a fork bomb cannot outrun a frozen group
            try:
                for attempt in range(200):
                    with self._lock:
                        procs = list(self._procs)
                    for p in procs:
                        # Only an unreaped leader's pgid is safe from pid reuse.
                        if p.poll() is None:
                            try:
                                os.killpg(p.pid, signal.SIGKILL)
                            except OSError:
                                pass
                    live = cg.pids() if cg is not None else set()
                    for pid in live:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
                    if cg is not None:
                        cg.freeze(False)  # frozen tasks only die once thawed
                    if not live:
                        break
                    time.sleep(0.005 if attempt < 20 else 0.05)
            finally:
                if cg is not None:
                    cg.freeze(False)
            with self._lock:
                procs = list(self._procs)
            for p in procs:
                try:
                    p.wait(timeout=2)
                except Exception:
                    pass
        except Exception:  # never raises: called from finally blocks
            pass

    # -- reporting -----------------------------------------------------------------------

    def _stat(self, key: str) -> int | None:
        cg = self._cgroups
        if cg is not None and "memory" in cg.dirs:
            if key == "oom_kill":
                return cg.oom_kill_count()
            if key == "pids_max":
                return cg.pids_max_hits()
            return cg.memory_stat(key)
        if key == "pids_max" and cg is not None and "pids" in cg.dirs:
            return cg.pids_max_hits()
        return self._final_stats.get(key)

    def peak_memory_bytes(self) -> int | None:
        """Peak memory of the job (cgroup memory.max_usage_in_bytes), if known."""
        return self._stat("memory.max_usage_in_bytes")

    def oom_killed(self) -> bool:
        """True if the memory limit killed a process of the job (valid after close too)."""
        kills = self._stat("oom_kill")
        if kills is not None:
            return kills > 0
        # Kernels without the oom_kill counter: the limit was hit at least once.
        return (self._stat("memory.failcnt") or 0) > 0

    def pids_limit_hit(self) -> bool:
        """True if a fork was refused by pids.max (valid after close too)."""
        return (self._stat("pids_max") or 0) > 0

    def stats(self) -> dict[str, int | None]:
        return {k: self._stat(k) for k in
                ("memory.max_usage_in_bytes", "memory.failcnt", "oom_kill", "pids_max")}

    # -- teardown ------------------------------------------------------------------------

    def close(self) -> None:
        """Kill everything, remove the cgroups, give the work dir back to root."""
        if getattr(self, "_closed", True):  # also when __init__ failed very early
            return
        self._closed = True
        self.kill_all()
        if self._cgroups is not None:
            self._final_stats = self.stats()
            self._cgroups.remove()
            self._cgroups = None
        try:
            disk.release(self.workdir)
        except OSError:
            disk.detach_all(self.workdir)
        try:
            if self.workdir.exists() and getattr(self, "uid", 0) != 0:
                _chown_tree(self.workdir, 0, 0, strip_setid=True)
        except OSError:
            pass
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() in a finally is the contract
        try:
            self.close()
        except Exception:
            pass
