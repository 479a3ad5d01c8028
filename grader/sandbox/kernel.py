"""A jupyter_client KernelManager whose kernel runs inside a Sandbox.

    km = SandboxedKernelManager(sandbox=sb)
    client = NotebookClient(nb, km=km, ...)

What the sandbox needs from the manager (PLATFORM.md): the kernel command prefixed by
the sandbox; transport "ipc" with the connection file and sockets inside the bound work
dir, readable by the sandbox uid (tcp would need the host network); no JPY_PARENT_PID
(ipykernel would see pid 1 as its parent and exit); interrupts as messages (a SIGINT
to the process we started would hit bwrap, not the kernel).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

from jupyter_client import AsyncKernelManager

from .core import Sandbox


def with_python(cmd: list[str], python: str | None) -> list[str]:
    """The kernel command run by `python` (a student environment's interpreter) instead of
    the grader's own: jupyter_client puts sys.executable first for the native kernel."""
    if python and cmd and (cmd[0] == sys.executable or Path(cmd[0]).name.startswith("python")):
        return [str(python), *cmd[1:]]
    return cmd


class PythonKernelManager(AsyncKernelManager):
    """An unsandboxed kernel (isolation "none") run by a chosen interpreter."""

    def __init__(self, python: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.python = python

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return with_python(super().format_kernel_cmd(extra_arguments), self.python)


class SandboxedKernelManager(AsyncKernelManager):
    """An AsyncKernelManager (nbclient needs the async client: a blocking one hangs its
    event loop forever when the kernel dies). Public methods are coroutines; from sync
    code use jupyter_core.utils.run_sync(km.shutdown_kernel)(now=True).

    nbclient does not shut down a km it was given: the caller must (in a finally).
    """

    def __init__(self, sandbox: Sandbox, extra_env: Mapping[str, str] | None = None,
                 python: str | None = None, **kwargs: Any) -> None:
        kwargs["transport"] = "ipc"
        kwargs.setdefault("ip", str(sandbox.workdir / ".kernel-ipc"))
        kwargs.setdefault("connection_file", str(sandbox.workdir / ".kernel.json"))
        super().__init__(**kwargs)
        self.sandbox = sandbox
        self.extra_env = dict(extra_env or {})
        self._sandbox_cwd: Path = sandbox.workdir
        self.python = python  # the student environment's interpreter (None: the grader's)

    def _inside_cwd(self, cwd: Any) -> Path:
        """The kernel's working dir: the caller's if inside the work dir, else the work dir."""
        if cwd:
            p = Path(cwd).resolve()
            if p == self.sandbox.workdir or self.sandbox.workdir in p.parents:
                return p
        return self.sandbox.workdir

    async def _async_pre_start_kernel(self, **kw: Any):
        self._sandbox_cwd = self._inside_cwd(kw.get("cwd"))
        kw["cwd"] = str(self.sandbox.workdir)
        # The grader's environment never reaches the kernel, whatever the caller passed.
        kw["env"] = self.sandbox.env(self.extra_env)
        kw["preexec_fn"] = self.sandbox.preexec()
        kw.pop("start_new_session", None)
        if self.kernel_spec is not None:
            self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)

    pre_start_kernel = _async_pre_start_kernel

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = with_python(super().format_kernel_cmd(extra_arguments), self.python)
        return self.sandbox.wrap(cmd, cwd=self._sandbox_cwd)

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        uid = self.sandbox.uid
        if uid != os.geteuid():
            os.chown(self.connection_file, uid, uid)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        await super()._async_launch_kernel(kernel_cmd, **kw)
        process = getattr(self.provisioner, "process", None)
        if process is not None:
            self.sandbox.track(process)

    _launch_kernel = _async_launch_kernel

    async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        try:
            await super()._async_shutdown_kernel(now=now, restart=restart)
        finally:
            # Orphans (start_new_session children, daemons) die with the kernel.
            self.sandbox.kill_all()

    shutdown_kernel = _async_shutdown_kernel
