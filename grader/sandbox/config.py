"""The two plain data types of the sandbox: what a job may use, and what protects it."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from grader.defaults import SANDBOX_DISK_MB

GiB = 1 << 30

# torch reserves a lot of address space at import; a smaller RLIMIT_AS breaks it (the CPU
# build needs ~1.5 GiB, the CUDA build a student environment may hold ~3.5 GB).
MIN_ADDRESS_SPACE = 6 * GiB


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed job (one kernel or one probe worker)."""

    # cgroup memory.limit_in_bytes (+memsw); RLIMIT_AS only when no memory cgroup.
    memory_bytes: int = 4 * GiB
    # cgroup pids.max (counts threads and the 2 bwrap processes) + RLIMIT_NPROC for the uid.
    max_processes: int = 64
    # RLIMIT_CPU: CPU seconds over the whole process life (a torch import costs 1-2 s).
    cpu_seconds: int | None = None
    # RLIMIT_FSIZE: the largest file a job may write (larger writes fail with EFBIG).
    file_size_bytes: int = 256 << 20
    # RLIMIT_NOFILE: a kernel holds ~63 descriptors; keep >= 256.
    open_files: int = 1024
    # Total size of the work dir (its own tmpfs while the job runs; see sandbox/disk.py).
    # Enforced where Isolation.features has "disk-quota"; None: not capped.
    disk_bytes: int | None = SANDBOX_DISK_MB << 20

    def __post_init__(self) -> None:
        for name in ("memory_bytes", "max_processes", "file_size_bytes", "open_files"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")
        if self.open_files < 16:
            raise ValueError(f"Limits.open_files must be >= 16 (a kernel needs ~63), got {self.open_files}")
        if self.disk_bytes is not None and (not isinstance(self.disk_bytes, int) or self.disk_bytes < (1 << 20)):
            raise ValueError(f"Limits.disk_bytes must be None or an int >= 1 MiB, got {self.disk_bytes!r}")
        if self.cpu_seconds is not None and self.cpu_seconds <= 0:
            raise ValueError(f"Limits.cpu_seconds must be positive or None, got {self.cpu_seconds!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Isolation:
    """What isolation was in force for a job; copied into every report as-is."""

    mode: str  # "bwrap" (full), "rlimits" (weaker fallback), "none"
    uid: int | None  # uid student code runs as
    features: tuple[str, ...]
    missing: tuple[str, ...]  # what is NOT in force and why, in plain words

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "uid": self.uid,
            "features": list(self.features),
            "missing": list(self.missing),
        }

    @property
    def is_full(self) -> bool:
        return self.mode == "bwrap"
