"""Run as a script (tests/sandbox/test_fork_safety.py): one thread in numpy matrix products
on a two-thread OpenBLAS pool while the main thread starts N processes through a Sandbox
(`Sandbox.popen`, a fork with a preexec_fn, as every kernel, probe server and executor
start). Prints "ok <seconds>". With "unpatched", the pool is set back to two threads and
the grader's fork_safe_blas made a no-op: then OpenBLAS's fork handler deadlocks against
the thread's BLAS call (4 of 4 runs of 600 starts hung here; numpy 2, OpenBLAS 0.3.31)."""
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from grader import childenv
from grader.sandbox import Sandbox, detect_isolation
from grader.sandbox import core as sandbox_core


def main(n: int, unpatched: bool) -> None:
    if unpatched:  # undo what importing grader.sandbox did, and keep it undone
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=2, user_api="blas")
        sandbox_core.fork_safe_blas = lambda: None
        childenv._blas_limited = False
    a = np.random.default_rng(0).random((300, 300))
    a @ a  # the BLAS thread pool is up before the race starts
    stop = threading.Event()

    def blas():
        while not stop.is_set():
            a @ a
    t = threading.Thread(target=blas, daemon=True)
    t.start()
    root = Path(tempfile.mkdtemp(prefix="blas-fork-"))
    t0 = time.monotonic()
    try:
        with Sandbox(root / "w", isolation=detect_isolation("none")) as sb:
            for _ in range(n):
                assert sb.popen(["/bin/true"]).wait() == 0
    finally:
        stop.set()
        shutil.rmtree(root, ignore_errors=True)
    print("ok", round(time.monotonic() - t0, 1), "limited" if childenv._blas_limited else "not limited", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), len(sys.argv) > 2 and sys.argv[2] == "unpatched")
