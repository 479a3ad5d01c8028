"""Where student code runs: limits, isolation and cleanup for one job at a time.

    iso = detect_isolation()                 # once; goes into every report
    with Sandbox(workdir, Limits(memory_bytes=4 << 30), iso) as sb:
        proc = sb.popen([sys.executable, "-c", "..."])
        ...                                  # or SandboxedKernelManager(sandbox=sb)
    # close(): every process killed, cgroups removed, workdir owned by root again

Modes: "bwrap" (namespaces + unprivileged uid + cgroups + rlimits), "rlimits"
(cgroups + rlimits only), "none" (explicit opt-out). See Isolation.missing for what a
mode does not protect.
"""
from __future__ import annotations

from typing import Any

from .config import Isolation, Limits
from .core import Sandbox, SandboxError
from .detect import detect_isolation
from . import disk  # noqa: F401 - grader.sandbox.disk, part of the package's interface
from .disk import detach_all as detach_quotas, release as release_quota
from .safeio import read_bytes, open_no_follow

__all__ = [
    "Isolation", "Limits", "Sandbox", "SandboxError", "SandboxedKernelManager",
    "detect_isolation", "read_bytes", "open_no_follow", "detach_quotas", "release_quota",
]


def __getattr__(name: str) -> Any:
    # jupyter_client is heavy; probe workers do not need it.
    if name == "SandboxedKernelManager":
        from .kernel import SandboxedKernelManager
        return SandboxedKernelManager
    raise AttributeError(name)
