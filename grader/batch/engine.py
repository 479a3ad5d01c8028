"""Running jobs on Dask: an embedded LocalCluster by default, or an existing scheduler.

The engine knows nothing about grading: it maps a picklable function over job dicts,
keeps a bounded number in flight (so shipped zips do not pile up in memory), and hands
each outcome to a callback as soon as it is known. A job whose worker process dies is
retried once by Dask, then reported as {"ok": False, "error": ...}.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Callable, Iterable, Iterator

from grader.batch.manifest import BatchError
from grader.childenv import SINGLE_THREAD

ALLOWED_FAILURES = 1  # a job may kill one worker and get a second chance; not more


@contextlib.contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator:
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except Exception as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; "
                             "start it (`dask scheduler`) or drop --scheduler to grade on this machine") from None
        try:
            yield client
        finally:
            client.close()
        return
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    environ.update(SINGLE_THREAD)
    config = {
        "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
        "distributed.nanny.pre-spawn-environ": environ,
        "distributed.worker.daemon": False,  # graders start kernels and probe processes
        "distributed.admin.tick.limit": "1h",  # long CPU-bound grades are not a problem
        # Grading manages its own memory limits (sandboxed kernels); the worker must not
        # be paused or killed for the kernels' memory.
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
        "distributed.worker.memory.terminate": False,
    }
    with dask.config.set(config), warnings.catch_warnings():
        # the scheduler's HTTP endpoint moves to a free port when 8787 is taken: not our concern
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR, memory_limit=0)
        try:
            client = Client(cluster)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()


def run_jobs(client, fn: Callable[[dict], dict], jobs: Iterable[tuple[str, dict]],
             on_done: Callable[[str, dict], None], max_in_flight: int | None = None,
             time_limit_s: float | None = None) -> None:
    """Run fn(payload) for each (name, payload); call on_done(name, outcome) as each ends.

    `time_limit_s`: wall-clock limit per job, enforced on the worker (worker.run_limited)."""
    import functools

    from dask.distributed import as_completed

    from grader.batch.worker import run_limited

    if time_limit_s:
        fn = functools.partial(run_limited, fn, float(time_limit_s))

    queue = iter(jobs)
    if max_in_flight is None:
        threads = sum(client.nthreads().values()) if client.nthreads() else 0
        max_in_flight = max(4, 2 * threads)
    names: dict[str, str] = {}
    ac = as_completed()

    def submit_next() -> bool:
        nxt = next(queue, None)
        if nxt is None:
            return False
        name, payload = nxt
        fut = client.submit(fn, payload, pure=False, key=f"grade-{name}-{len(names)}")
        names[fut.key] = name
        ac.add(fut)
        return True

    for _ in range(max_in_flight):
        if not submit_next():
            break
    for fut in ac:
        name = names[fut.key]
        try:
            outcome = fut.result()
        except Exception as exc:
            outcome = {"ok": False, "error": _describe_failure(exc), "traceback": repr(exc)[-2000:]}
        finally:
            fut.release()
        if not isinstance(outcome, dict):
            outcome = {"ok": False, "error": f"the worker returned {type(outcome).__name__}, not a result"}
        on_done(name, outcome)
        submit_next()


def _describe_failure(exc: BaseException) -> str:
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        return (f"the worker process grading this submission died {ALLOWED_FAILURES + 1} times "
                "(killed, out of memory, crashed, or stuck past the --job-timeout limit); it was not graded")
    return f"the grader crashed: {type(exc).__name__}: {exc}"
