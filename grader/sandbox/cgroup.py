"""cgroup v1 groups for one job: memory, pids and freezer, nested under our own cgroup.

Each job gets <mount>/<our cgroup>/grader/<name>; nesting under the grader's own group
keeps whatever limit the machine put on the grader above the job.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "freezer")


def _own_path(controller: str) -> str:
    """This process's cgroup path for a v1 controller ("/" if not found)."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                if controller in ctrls.split(","):
                    return path
    except OSError:
        pass
    return "/"


def parent_dir(controller: str) -> Path | None:
    """Where job groups of this controller go, or None if the controller is unusable."""
    mount = CGROUP_ROOT / controller
    if not (mount / "cgroup.procs").exists():
        return None
    base = mount / _own_path(controller).lstrip("/")
    for candidate in (base, mount):
        if candidate.is_dir() and os.access(candidate, os.W_OK):
            return candidate / "grader"
    return None


def probe(controller: str) -> bool:
    """True if we can create (and remove) a job group of this controller."""
    parent = parent_dir(controller)
    if parent is None:
        return False
    test = parent / f"probe-{os.getpid()}"
    try:
        parent.mkdir(exist_ok=True)
        test.mkdir()
        os.rmdir(test)
        return True
    except OSError:
        return False


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: Path) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


_swept: set[Path] = set()


def _sweep_stale(parent: Path) -> None:
    """rmdir empty job groups left by a grader that was SIGKILLed (names end -<pid>-<n>)."""
    if parent in _swept:
        return
    _swept.add(parent)
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for d in entries:
        fields = d.name.rsplit("-", 2)
        if not d.is_dir() or len(fields) != 3 or not fields[1].isdigit():
            continue
        if not Path(f"/proc/{fields[1]}").exists():
            try:
                os.rmdir(d)  # fails (harmlessly) while processes remain
            except OSError:
                pass


class JobCgroups:
    """The cgroups of one job. Create with limits, join from preexec, remove on close."""

    def __init__(self, name: str, controllers: tuple[str, ...]) -> None:
        self.dirs: dict[str, Path] = {}
        try:
            for ctrl in controllers:
                parent = parent_dir(ctrl)
                if parent is None:
                    continue
                parent.mkdir(exist_ok=True)
                _sweep_stale(parent)
                d = parent / name
                d.mkdir()
                self.dirs[ctrl] = d
        except OSError:
            self.remove()
            raise

    def set_limits(self, memory_bytes: int | None, max_processes: int | None) -> None:
        mem = self.dirs.get("memory")
        if mem is not None and memory_bytes is not None:
            _write(mem / "memory.limit_in_bytes", str(memory_bytes))
            if (mem / "memory.memsw.limit_in_bytes").exists():
                # memsw >= limit is required, so it is written second: no swapping out either.
                _write(mem / "memory.memsw.limit_in_bytes", str(memory_bytes))
        pids = self.dirs.get("pids")
        if pids is not None and max_processes is not None:
            _write(pids / "pids.max", str(max_processes))

    @property
    def has_memsw(self) -> bool:
        mem = self.dirs.get("memory")
        return mem is not None and (mem / "memory.memsw.limit_in_bytes").exists()

    def procs_files(self) -> list[bytes]:
        """cgroup.procs paths to write a pid into (precomputed for preexec)."""
        return [os.fsencode(d / "cgroup.procs") for d in self.dirs.values()]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs.values():
            text = _read(d / "cgroup.procs")
            if text:
                found.update(int(p) for p in text.split())
        return found

    def freeze(self, frozen: bool) -> None:
        d = self.dirs.get("freezer")
        if d is None:
            return
        try:
            _write(d / "freezer.state", "FROZEN" if frozen else "THAWED")
            if frozen:
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    if (_read(d / "freezer.state") or "").strip() == "FROZEN":
                        return
                    time.sleep(0.005)
        except OSError:
            pass

    def memory_stat(self, name: str) -> int | None:
        d = self.dirs.get("memory")
        if d is None:
            return None
        text = _read(d / name)
        try:
            return int(text) if text is not None else None
        except ValueError:
            return None

    def oom_kill_count(self) -> int | None:
        d = self.dirs.get("memory")
        if d is None:
            return None
        for line in (_read(d / "memory.oom_control") or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return None

    def pids_max_hits(self) -> int | None:
        d = self.dirs.get("pids")
        if d is None:
            return None
        for line in (_read(d / "pids.events") or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "max":
                return int(value)
        return None

    def remove(self) -> list[str]:
        """rmdir every group; returns what could not be removed (still busy)."""
        left = []
        for ctrl, d in list(self.dirs.items()):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
            else:
                left.append(str(d))
                continue
            del self.dirs[ctrl]
        return left
