"""Execute stage: run each notebook in its own executor process, under a watchdog."""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import nbformat

from grader.execute import budget as budget_mod
from grader.execute import cache as cache_mod
from grader.execute.cache import ExecCache
from grader.model import CellCut, CellOutcome, NotebookRun
from grader.sandbox import release_quota

if TYPE_CHECKING:  # run_notebook imports them: not the executor process, which imports this package first
    from grader.execute.prepare import Prepared
    from grader.rubric.model import NotebookRubric

EXECUTOR_MEMORY_BYTES = 3 << 30  # the trusted executor's own address-space cap
WATCHDOG_GRACE_S = 30.0
EXPORTS = "__grader_exports__"  # where instrumentation writes plain-data exports (untrusted)

ProgressFn = Callable[[str, dict], None]


def _executor_limits():
    os.setsid()
    # A soft cap only: the kernel it starts lifts it (its memory is the cgroup's business),
    # and a hard cap could not be raised again without CAP_SYS_RESOURCE.
    resource.setrlimit(resource.RLIMIT_AS, (EXECUTOR_MEMORY_BYTES, resource.RLIM_INFINITY))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_notebook(
    nb,
    spec: NotebookRubric,
    job_dir: Path,
    support_dir: Path | None,
    isolation: str,
    progress: ProgressFn | None = None,
    prologue: list = (),
    epilogue: list = (),
    cache: "ExecCache | None" = None,
    hide: tuple[str, ...] = (),
    student_env=None,
    datasets: tuple = (),
    prepared: Prepared | None = None,
) -> NotebookRun:
    """Run one (already parsed) notebook; always returns a NotebookRun, never raises for student faults.

    `prepared` is the pipeline's one prepared source (grader/execute/prepare.py: the same
    cells the extraction reads); without it (grader calibrate) the notebook is prepared
    here with the same rules. A notebook whose content the executor cannot run is not
    started: status `invalid`, with the message saying what to fix. Everything else this
    function does (scratch dirs, support files, mounts, the executor process) is the
    grader's: an exception from it is the grader's failure (the pipeline records
    `executor_error`, unpenalised)."""
    # here, not at the top: `python -m grader.execute.executor` imports this package once per
    # notebook execution, and the rubric loader these pull in is 0.3 s it never needs
    from grader import offline
    from grader.execute.prepare import prepare_notebook

    stem = spec.stem
    ex = spec.execution
    if prepared is None:
        prepared = prepare_notebook(nb, offline.skip_rules(datasets, isolation) + tuple(ex.skip_cells))
    skip_notes = list(prepared.notes)
    if not prepared.valid:
        return NotebookRun(spec.notebook, "invalid", False, 0.0, len(prepared.nb.cells), tuple(skip_notes),
                           message=f"{spec.notebook}: {prepared.problem}")
    # Short names: the kernel's ipc sockets live in the work dir and a socket path has a
    # 107-byte limit, so every byte of the scratch path counts.
    base = job_dir / f"x-{stem[:10]}"
    workdir = base / "w"  # the only place the kernel may write (bound into the sandbox)
    private = base / "private"  # executor's own files: never visible to the kernel
    for d in (workdir, private):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    os.chmod(base, 0o711)
    os.chmod(private, 0o700)
    kernel_env = {}
    if support_dir is not None:
        shutil.copytree(support_dir, workdir / support_dir.name, ignore=shutil.ignore_patterns("__pycache__"))
        # Importable as `res.<name>` (the folder beside the notebook) and as `<name>` (how
        # students import the lab's helpers after `!wget`-ing them into the cwd).
        kernel_env["PYTHONPATH"] = str(workdir / support_dir.name)
    (workdir / EXPORTS).mkdir()
    # the rubric's datasets: read-only binds (bwrap) or copies; their download lines skipped
    mounts = offline.mount(datasets, workdir, isolation)
    prepared_nb = prepared.nb
    # fixed limits from the rubric, or budgets calibrated on this machine (budget.py)
    budget = budget_mod.budget_for(spec)
    nb_in = private / "prepared.ipynb"
    nbformat.write(prepared_nb, nb_in)
    job = {
        "name": f"{job_dir.name}-{stem}"[:60],
        "notebook_in": str(nb_in),
        "notebook_out": str(private / "executed.ipynb"),
        "result": str(private / "result.json"),
        "workdir": str(workdir),
        "cell_timeout_s": budget.cell_s,
        "deadline_s": budget.notebook_s,
        # at a cut: interrupt, wait for the kernel, then run the epilogue in bounded extra time
        "cut_wait_s": budget_mod.CUT_WAIT_S,
        "cut_resend_s": budget_mod.CUT_RESEND_S,
        "cut_epilogue_s": budget_mod.CUT_EPILOGUE_S,
        "max_output_bytes": ex.max_output_kb * 1024,
        "memory_bytes": ex.memory_mb << 20,
        "disk_bytes": ex.disk_mb << 20,
        "isolation": isolation,
        "prologue": [list(p) for p in prologue],  # [(item id, code)], each its own hidden cell
        "epilogue": [list(e) for e in epilogue],
        "hide": list(hide),  # grader-side dirs the sandbox must mask
        "kernel_env": kernel_env,
        # the students' environment (grader/studentenv.py): its interpreter runs the kernel
        "python": str(student_env.python) if student_env is not None else None,
        "readonly_binds": [[str(p), str(p)] for p in (student_env.binds if student_env is not None else ())],
    }
    job.setdefault("readonly_binds", []).extend(list(b) for b in mounts.binds)
    job_file = private / "job.json"
    job_file.write_text(json.dumps(job))
    # the budget, then the interrupt and the exports after a cut, then the grace
    limit = budget.notebook_s + budget_mod.CUT_WAIT_S + budget_mod.CUT_EPILOGUE_S + WATCHDOG_GRACE_S + 30
    if cache is None:
        return _execute(job, job_file, private, workdir, spec, progress, skip_notes, budget, limit, len(prepared_nb.cells))[0]
    settings = {k: job[k] for k in ("cell_timeout_s", "deadline_s", "max_output_bytes", "memory_bytes", "disk_bytes", "isolation", "prologue", "epilogue")}
    settings["student_env"] = student_env.spec.key if student_env is not None else None
    settings["datasets"] = mounts.digest
    cache_key = cache_mod.key(prepared_nb, settings, cache_mod.tree_digest(support_dir))
    # the entry, or on a miss: another grader may be running this very notebook now; wait
    # for its entry (at most as long as this run could take) instead of running it twice
    with cache.claim(cache_key, wait_s=limit) as hit:
        if hit is not None:
            return _restore(hit, spec, job, workdir, skip_notes, budget)
        run, res = _execute(job, job_file, private, workdir, spec, progress, skip_notes, budget, limit,
                            len(prepared_nb.cells))
        if res is not None and res["status"] in cache_mod.CACHEABLE:
            cache.put(cache_key, res, Path(job["notebook_out"]), workdir / EXPORTS)
    return run


def _execute(job: dict, job_file: Path, private: Path, workdir: Path, spec, progress, skip_notes, budget, limit: float,
             n_cells: int) -> "tuple[NotebookRun, dict | None]":
    """Run the executor process on the prepared job under the watchdog. Returns the
    NotebookRun and the executor's result dict (None when it left none: watchdog, crash)."""
    from grader.childenv import fork_safe_blas, single_threaded_env

    fork_safe_blas()  # a preexec_fn fork follows: see grader/childenv.py
    env = single_threaded_env({k: v for k, v in os.environ.items() if not k.startswith("JPY_")})
    t0 = time.monotonic()
    stderr_path = private / "executor.stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader.execute.executor", str(job_file)],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
            preexec_fn=_executor_limits, env=env, cwd=str(private),
        )
        reader = threading.Thread(target=_read_progress, args=(proc, spec.notebook, progress), daemon=True)
        reader.start()
        try:
            proc.wait(timeout=limit)
            watchdog = False
        except subprocess.TimeoutExpired:
            watchdog = True
        finally:
            _kill_group(proc)
            proc.wait()
            reader.join(timeout=5)
            # a killed executor leaves the work dir's quota tmpfs mounted: keep its files
            release_quota(workdir)
    seconds = time.monotonic() - t0
    result_file = Path(job["result"])
    if watchdog or not result_file.exists():
        tail = stderr_path.read_bytes()[-1500:].decode("utf-8", "replace") if stderr_path.exists() else ""
        status = "timeout" if watchdog else "executor_crashed"
        why = (f"the watchdog stopped execution after {seconds:.0f} s" if watchdog
               else f"execution stopped abnormally (exit code {proc.returncode}); most likely the notebook flooded its output or memory")
        run = NotebookRun(spec.notebook, status, False, round(seconds, 3), n_cells, tuple(skip_notes),
                          message=why + (f"\n{tail.strip()[-600:]}" if tail.strip() else ""), budget=budget)
        return run, None
    res = json.loads(result_file.read_text())
    return _from_result(res, spec, job, workdir, skip_notes, seconds, budget=budget), res


def _cut(raw) -> CellCut | None:
    if not isinstance(raw, dict):
        return None
    return CellCut(cell=int(raw["cell"]), ran_s=round(float(raw.get("ran_s", 0.0)), 3), limit_s=float(raw["limit_s"]),
                   which=str(raw.get("which", "cell")), interrupted=bool(raw.get("interrupted")),
                   exports=str(raw.get("exports", "none")), note=str(raw.get("note", ""))[:300])


def _from_result(res: dict, spec, job: dict, workdir: Path, skip_notes, seconds: float, cached: bool = False,
                 budget=None) -> NotebookRun:
    cells = [CellOutcome(c["index"], c["status"], round(float(c.get("seconds", 0.0)), 3), c.get("ename", ""), c.get("evalue", ""))
             for c in res["cells"]]
    all_cells = tuple(sorted(list(skip_notes) + cells, key=lambda c: (c.index, c.status != "skipped")))
    executed = res["status"] == "completed"
    peak = res.get("peak_memory_bytes")
    return NotebookRun(
        notebook=spec.notebook,
        status=res["status"],
        executed=executed,
        seconds=round(seconds, 3),
        n_cells=res["n_cells"],
        cells=all_cells,
        message=res.get("message", ""),
        output_truncated=bool(res.get("output_truncated")),
        peak_memory_mb=round(peak / 2**20, 1) if peak else None,
        executed_notebook=Path(job["notebook_out"]) if Path(job["notebook_out"]).exists() else None,
        exports_dir=workdir / EXPORTS,
        instrumentation=tuple(res.get("instrumentation", [])),
        cached=cached,
        budget=budget,
        cut=_cut(res.get("cut")),
    )


def _restore(hit: Path, spec, job: dict, workdir: Path, skip_notes, budget=None) -> NotebookRun:
    """A cache hit: the exports and executed notebook come back as if just executed."""
    res = json.loads((hit / "run.json").read_text())
    exports = workdir / EXPORTS
    shutil.rmtree(exports, ignore_errors=True)
    cache_mod.copy_regular_files(hit / "exports", exports)
    if (hit / "executed.ipynb").exists():
        shutil.copyfile(hit / "executed.ipynb", job["notebook_out"])
    return _from_result(res, spec, job, workdir, skip_notes, float(res.get("seconds", 0.0)), cached=True, budget=budget)


def _read_progress(proc: subprocess.Popen, notebook: str, progress: ProgressFn | None) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        if len(raw) > 65536 or progress is None:
            continue
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if isinstance(event, dict):
            progress(notebook, event)
