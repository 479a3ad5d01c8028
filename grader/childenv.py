"""The one builder of single-threaded child-process environments.

Every process the grader starts for numerical work (the student's kernel, the executor,
probe servers, the benchmark, batch workers) runs with one BLAS/OpenMP thread: grading
runs many of them side by side, and the course's own time limits were set for one core
per notebook; a child that grabbed every core would slow its neighbours and make
timings depend on the machine's load.
"""
from __future__ import annotations

import os
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


def make_this_process_single_threaded() -> None:
    """For a long-lived worker process (a Dask worker): the variables for its children and
    torch's own thread pool for itself."""
    os.environ.update(SINGLE_THREAD)
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:  # torch is optional for the batch machinery itself
        pass
