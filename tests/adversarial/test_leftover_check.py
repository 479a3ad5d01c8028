"""The corpus's leftover check must be able to fail: a process of a sandbox uid that no
live sandbox holds is found wherever it runs (here: in /, with a command line that names
nothing of the grader), and a process of a uid a live sandbox holds is not a leftover."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

import harness as H


def _spawn_as(uid: int) -> subprocess.Popen:
    def drop():
        os.setsid()
        os.setgid(uid)
        os.setuid(uid)
        os.chdir("/")
    return subprocess.Popen(["/bin/sleep", "60"], preexec_fn=drop, cwd="/",
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as a sandbox uid")
def test_a_stray_process_of_a_sandbox_uid_is_found_wherever_it_runs():
    from grader.sandbox.uids import allocate_uid

    lease = allocate_uid()  # a uid no sandbox uses now; held by us while we look
    proc = _spawn_as(lease.uid)
    try:
        time.sleep(0.3)
        assert lease.uid in H.leased_uids()
        assert proc.pid not in [p for p, _u, _c in H.sandbox_processes()], "a held uid's process is not a leftover"
        lease.release()  # the sandbox "closed" but its process lives on
        found = [(p, u) for p, u, _c in H.sandbox_processes("/some/scratch/it/never/touched")]
        assert (proc.pid, lease.uid) in found
    finally:
        lease.release()
        proc.kill()
        proc.wait()
