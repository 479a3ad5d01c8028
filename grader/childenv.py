"""The one builder of single-threaded child-process environments.

Every process the grader starts for numerical work (the student's kernel, the executor,
probe servers, the benchmark, batch workers) runs with one BLAS/OpenMP thread: grading
runs many of them side by side, and the course's own time limits were set for one core
per notebook; a child that grabbed every core would slow its neighbours and make
timings depend on the machine's load.
"""
from __future__ import annotations

import os
import threading
from typing import Mapping

SINGLE_THREAD: Mapping[str, str] = {
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
}
THREAD_VARS = tuple(SINGLE_THREAD)


def single_threaded_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """`base` (None: an empty environment) with the single-thread settings and `extra` on
    top; PYTHONDONTWRITEBYTECODE too, so children never write .pyc files next to code."""
    env = dict(base or {})
    env.update(SINGLE_THREAD)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


_blas_lock = threading.Lock()
_blas_limited = False


def fork_safe_blas() -> None:
    """This process's own BLAS (numpy's OpenBLAS) on one thread, once, before it starts a
    child with a preexec_fn (every sandboxed process): the fork runs OpenBLAS's fork handler,
    which deadlocks when another thread is inside a BLAS call on OpenBLAS's thread pool (the
    test suite's attack corpus hung for 30 minutes on it: one thread forking a probe server,
    one in the binary adder's matrix products). The grader's own numerical work is small;
    one thread costs it nothing measurable. Called when grader.sandbox is imported, before
    any grading thread runs: a limit set while a threaded BLAS call is in flight can still
    leave that call waiting for a worker the next fork shuts down."""
    global _blas_limited
    if _blas_limited:
        return
    with _blas_lock:
        if _blas_limited:
            return
        import numpy  # noqa: F401  (loaded first, so that threadpoolctl finds its BLAS)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _blas_limited = True


def single_threaded_torch() -> None:
    """torch's intra-op pool in this process on one thread (the trusted checks' own torch
    work: gradients against autograd, loss curves from weight snapshots). Grading runs them
    beside sandboxed kernels, probe workers and other gradings; a second OpenMP thread on a
    busy machine spin-waits for its partner instead of helping: measured on a 2-core
    machine with both cores busy, five epochs of the Section-8 LSTM took 19.3 s and 17.7
    CPU-seconds with two threads, 6.3 s and 4.2 CPU-seconds with one."""
    try:
        import torch
    except Exception:  # torch is optional for the machinery that needs no checks
        return
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def make_this_process_single_threaded() -> None:
    """For a long-lived worker process (a Dask worker): the variables for its children and
    torch's own thread pool for itself."""
    os.environ.update(SINGLE_THREAD)
    fork_safe_blas()
    single_threaded_torch()
