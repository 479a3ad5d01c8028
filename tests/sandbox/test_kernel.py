"""A real nbclient run in a sandboxed kernel, and a kernel that kills itself."""
from __future__ import annotations

import sys

import pytest
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from factories import notebook_node
from sandbox_helpers import uid_processes

from grader.sandbox import SandboxedKernelManager


def _stream(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.slow
def test_notebook_runs_in_sandboxed_kernel(bwrap_iso, make_sandbox):
    sb = make_sandbox(bwrap_iso)
    nb = notebook_node(
        "import os, sys, torch",
        "print(float(torch.arange(4.).sum()))",
        "print(os.getuid(), os.environ.get('JPY_PARENT_PID'), sys.version.split()[0], os.getcwd())",
    )
    km = SandboxedKernelManager(sandbox=sb)
    try:
        NotebookClient(nb, km=km, timeout=60).execute()
    finally:
        run_sync(km.shutdown_kernel)(now=True)  # nbclient leaves a caller-owned km running
    assert _stream(nb.cells[1]).strip() == "6.0"
    uid, parent_pid, version, cwd = _stream(nb.cells[2]).split()
    assert (int(uid), parent_pid, version, cwd) == (sb.uid, "None", sys.version.split()[0], str(sb.workdir))
    assert sb.pids() == set()  # nothing left once the kernel is shut down


@pytest.mark.slow
def test_os_exit_gives_dead_kernel_and_leaves_nothing(bwrap_iso, make_sandbox):
    sb = make_sandbox(bwrap_iso)
    nb = notebook_node(
        "import subprocess; subprocess.Popen(['sleep', '302'], start_new_session=True)",
        "import os; os._exit(0)",
        "print('never')",
    )
    km = SandboxedKernelManager(sandbox=sb)
    try:
        with pytest.raises(DeadKernelError):
            NotebookClient(nb, km=km, timeout=60).execute()
    finally:
        run_sync(km.shutdown_kernel)(now=True)
    assert sb.pids() == set()
    assert uid_processes(sb.uid) == []
    assert not nb.cells[2].get("outputs")
