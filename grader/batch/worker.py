"""What runs on a Dask worker: grade one submission, return plain data.

The worker never writes into the batch's OUT directory: it grades into a private
temporary directory and returns the report dict, the normalized code of the rubric
targets (for the cohort similarity) and any extra report files (plots). The batch
coordinator caches and publishes them. Any exception becomes {"ok": False, ...}; a worker
process that dies is reported by Dask (KilledWorker) and handled by the coordinator.
"""
from __future__ import annotations

import base64
import datetime as dt
import os
import socket
import signal
import tempfile
import threading
import time
import traceback
from pathlib import Path

from grader.childenv import make_this_process_single_threaded as single_threaded

MAX_EXTRA_FILE_BYTES = 4 << 20

# One worker process grades many submissions of the same rubric: keep the loaded rubric and
# its reference-output cache for the life of the process (keyed by the rubric's hash).
_RUBRICS: dict[tuple[str, str], tuple] = {}


def keep_rubric(directory: str, digest: str, rubric) -> None:
    """Grading in the coordinator's process: the rubric it loaded serves the jobs too."""
    _RUBRICS.clear()
    _RUBRICS[(directory, digest)] = (rubric, {})


def _rubric(directory: str, digest: str):
    key = (directory, digest)
    if key not in _RUBRICS:
        from grader.rubric import load_rubric

        _RUBRICS.clear()
        _RUBRICS[key] = (load_rubric(directory), {})
    return _RUBRICS[key]


def _extra_files(report_dir: Path) -> dict[str, str]:
    """Files a check wrote beside the report, base64, size-capped (the report's own files and
    artifacts, such as the loss-curve PNG, are written by the coordinator from the report)."""
    out: dict[str, str] = {}
    if not report_dir.is_dir():
        return out
    for path in sorted(report_dir.iterdir()):
        if path.name in ("report.json", "feedback.md") or not path.is_file() or path.is_symlink():
            continue
        if path.stat().st_size <= MAX_EXTRA_FILE_BYTES:
            out[path.name] = base64.b64encode(path.read_bytes()).decode()
    return out


def reuse_block(report: dict) -> dict:
    """What this grading took from the batch's caches, and from when: the executions (per
    notebook: reused or executed now) and the probes. Everything was judged now."""
    from grader.checks import _judged
    from grader.execute import cache as exec_cache
    from grader.probe import cache as probe_cache

    runs = [nb for nb in report.get("notebooks", []) if isinstance(nb, dict)]
    reused = [nb.get("notebook") for nb in runs if nb.get("cached")]
    executed = [nb.get("notebook") for nb in runs if not nb.get("cached") and nb.get("status") not in ("missing", "not_run", "invalid")]
    times = sorted(h["created_at"] for h in exec_cache.HITS if h.get("created_at"))
    stats = probe_cache.STATS
    return {
        "judged_at": report.get("graded_at"),
        "executions": {"reused": reused, "executed": executed, "from": times[0] if times else None},
        "probes": {"reused": stats["hits"], "run": stats["misses"], "from": stats["oldest"]},
        "judged_values": {"reused": _judged.STATS["hits"], "computed": _judged.STATS["misses"], "from": _judged.STATS["oldest"]},
    }


def _cached_code(directory: str | None, src: Path, rubric, compute) -> dict:
    """The submission's normalized target code (similarity), computed once per zip content,
    targets and similarity code: a regrade after a rubric fix does not parse it again."""
    import hashlib
    import json

    from grader.batch import similarity
    from grader.batch.caches import cached_code, similarity_code_digest

    if not directory:
        return compute()
    h = hashlib.sha256(Path(src).read_bytes())
    h.update(json.dumps(similarity.targets_of(rubric), sort_keys=True).encode())
    h.update(similarity_code_digest().encode())
    return cached_code(Path(directory) / f"{h.hexdigest()}.json", compute)


def grade_job(job: dict) -> dict:
    """Grade job["path"] (or job["data"], the zip's bytes, written under job["name"])."""
    from grader.batch.similarity import submission_code
    from grader.checks import _judged
    from grader.execute import cache as exec_cache
    from grader.pipeline import Env, grade
    from grader.probe import cache as probe_cache

    single_threaded()
    t0 = time.monotonic()
    where = f"{socket.gethostname()}:{os.getpid()}"
    try:
        rubric, ref_cache = _rubric(job["rubric_dir"], job["rubric_hash"])
        with tempfile.TemporaryDirectory(prefix="grader-batch-") as tmp:
            tmp_path = Path(tmp)
            src = Path(job["path"])
            if job.get("data") is not None:
                (tmp_path / "in").mkdir()
                src = tmp_path / "in" / Path(job["name"]).name
                src.write_bytes(job["data"])
            submitted_at = dt.datetime.fromisoformat(job["submitted_at"]) if job.get("submitted_at") else None
            env = Env(rubric=rubric, out_dir=tmp_path / "out", submitted_at=submitted_at,
                      isolation=job.get("isolation", "auto"), jobs=int(job.get("jobs", 1)),
                      reference_cache=ref_cache, provenance=job.get("provenance"), write_reports=False,
                      **{k: Path(job[k]) if job.get(k) else None for k in ("exec_cache", "probe_cache", "judge_cache")})
            exec_cache.HITS.clear()
            probe_cache.reset_stats()
            _judged.reset_stats()
            report = grade(src, env).to_dict()
            if job.get("exec_cache") or job.get("probe_cache") or job.get("judge_cache"):
                report["environment"] = {**report.get("environment", {}), "reuse": reuse_block(report)}
            files = _extra_files(tmp_path / "out" / report["netid"])
            try:
                (tmp_path / "code").mkdir()
                code = _cached_code(job.get("code_cache"), src, rubric, lambda: submission_code(src, rubric, tmp_path / "code"))
            except Exception as exc:  # similarity is an extra; never cost the grade
                code = {"__error__": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "report": report, "code": code, "files": files, "worker": where,
                "seconds": round(time.monotonic() - t0, 3)}
    except Exception as exc:
        return {"ok": False, "error": f"the grader crashed: {type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-4000:], "worker": where,
                "seconds": round(time.monotonic() - t0, 3)}


# -- the per-submission wall-clock limit (`grader batch --job-timeout`) ---------------------

def _clock_ticks() -> float:
    return float(os.sysconf("SC_CLK_TCK"))


def _boot_ticks_now() -> int:
    """Now, in the unit of /proc/<pid>/stat's starttime (clock ticks since boot)."""
    with open("/proc/uptime") as fh:
        return int(float(fh.read().split()[0]) * _clock_ticks())


def _descendants_since(root: int, since_ticks: int) -> list[int]:
    """Processes below `root` (any depth) started at or after `since_ticks`."""
    from grader.procstat import ppid_and_start

    parent: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := ppid_and_start(entry)) is not None:
            parent[int(entry)] = info
    out, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        for child, (ppid, started) in parent.items():
            if ppid == pid:
                frontier.append(child)
                if started >= since_ticks:
                    out.append(child)
    return out


def _worker_threads() -> int:
    """Jobs this Dask worker runs at once (1 outside a worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except Exception:
        return 1


def _grace_s(limit_s: float) -> float:
    return min(30.0, max(2.0, limit_s / 10))


def run_limited(fn, limit_s: float | None, payload: dict) -> dict:
    """fn(payload) with a wall-clock limit, on the worker.

    When the limit passes, every process this grading started (executors, kernels, probe
    servers) is killed, which ends a grading blocked on one of them: the result is then a
    failure ("took longer than ..."), never a grade computed from killed runs. If the
    grading is stuck in the grader's own code and still has not returned after a grace
    period, the worker process ends itself; Dask starts a new worker, retries the job once,
    and reports it as a dead worker if that happens again. On a worker with several
    threads (against the advice in grader/batch/__init__.py) the processes cannot be told
    apart by job, so only the second step applies.
    """
    if not limit_s:
        return fn(payload)
    me, t0_ticks = os.getpid(), _boot_ticks_now()
    done, fired = threading.Event(), threading.Event()
    alone = _worker_threads() <= 1  # else the worker's new processes may be other jobs'

    def watchdog() -> None:
        if done.wait(limit_s):
            return
        fired.set()
        for pid in (_descendants_since(me, t0_ticks) if alone else ()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not done.wait(_grace_s(limit_s)):
            os._exit(75)  # stuck in the grader's own code: only ending the process stops it

    threading.Thread(target=watchdog, name="grader-job-timeout", daemon=True).start()
    t0 = time.monotonic()
    try:
        outcome = fn(payload)
    except BaseException:
        if not fired.is_set():
            raise
        outcome = {}
    finally:
        done.set()
    if fired.is_set():
        return {"ok": False, "error": f"grading took longer than the batch's limit of {limit_s:g} s per submission "
                                      "(--job-timeout) and was stopped; it was not graded",
                "worker": f"{socket.gethostname()}:{os.getpid()}", "seconds": round(time.monotonic() - t0, 3)}
    return outcome
