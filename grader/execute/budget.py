"""Time budgets for notebook execution, calibrated on the grading machine.

The course's notebooks were written for a Colab GPU; on a 2-core CPU their training cells
take far longer than any fixed per-cell limit a rubric could guess. A rubric may therefore
declare, in `execution` (assignment level, inherited, overridable per notebook):

    calibration:
      factor: 10                 # budget = factor x the reference solution's time here
      reference_s: {hw2_rnn.ipynb: 80, ...}   # measured by `grader calibrate`
      baseline_benchmark_s: 0.5  # the benchmark's time where reference_s was measured
      min_s: 120
      max_s: 3600

and a notebook's budget on this machine is

    clamp(factor x reference_s[notebook] x speed, min_s, max_s),
    speed = benchmark here / baseline_benchmark_s       (> 1: this machine is slower)

The per-cell limit under calibration is the notebook's budget (a training cell may use it
all). Without `calibration` the rubric's fixed limits apply exactly as before.

The benchmark is a small fixed CPU workload (a tiny GRU trained for a few dozen steps
with torch single-threaded, plus a numpy matmul loop), run in a child process with the
kernels' thread settings; the best of five repetitions is this machine's figure. It is
measured once per process and kept in `$XDG_CACHE_HOME/dl-grader/benchmark.json` (or
`~/.cache/dl-grader/`), keyed by CPU model, torch version and workload version, so a batch
measures it once; a malformed cache file or entry is ignored and rewritten.
`DL_GRADER_BENCHMARK_S=<seconds>` overrides the measurement (heterogeneous clusters,
tests); the report says where the figure came from.

`grader calibrate RUBRIC [--notebooks DIR_OR_ZIP]` runs the reference notebooks through
the grader's own executor, one at a time, and prints the `calibration:` block to paste.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader.model import ExecBudget

# The longest budget a notebook may get. Everything that watches a grading (run_notebook's
# watchdog, `grader batch --job-timeout`, the stale-job sweep) is sized from the budgets;
# beyond six hours per notebook a stuck grading can no longer be told from a slow one.
MAX_BUDGET_S = 6 * 3600.0
# After a cut: how long the kernel may take to stop after the interrupt (interrupts are
# resent every CUT_RESEND_S), then how long the grader's export cells may take.
CUT_WAIT_S = 25.0
CUT_RESEND_S = 5.0
CUT_EPILOGUE_S = 60.0

WORKLOAD_VERSION = 1
ENV_OVERRIDE = "DL_GRADER_BENCHMARK_S"
CACHE_NAME = "benchmark.json"
_MIN_BENCH_S, _MAX_BENCH_S = 1e-3, 600.0
_lock = threading.Lock()
_measured: tuple[float, str] | None = None  # (seconds, source) for this process


# --------------------------------------------------------------------------------------
# the benchmark


def workload(repeats: int = 5) -> float:
    """The calibration workload in this process; the best repetition's seconds."""
    import numpy as np
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    best = math.inf
    try:
        for _ in range(repeats):
            torch.manual_seed(0)
            gru = torch.nn.GRU(8, 32, batch_first=True)
            head = torch.nn.Linear(32, 8)
            opt = torch.optim.Adam(list(gru.parameters()) + list(head.parameters()), lr=1e-2)
            x = torch.randn(16, 20, 8)
            y = torch.randint(0, 8, (16 * 20,))
            a = np.random.default_rng(0).standard_normal((96, 96))
            t0 = time.perf_counter()
            for _step in range(100):
                opt.zero_grad()
                out, _h = gru(x)
                loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, 8), y)
                loss.backward()
                opt.step()
            for _i in range(600):
                b = a @ a
                a = b / np.abs(b).max()
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return best


def _measure() -> float:
    """The workload in a child process with the kernels' single-thread settings (so the
    grader's own threads and BLAS set-up do not count); in-process if that fails."""
    from grader.childenv import single_threaded_env

    env = single_threaded_env(os.environ)
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run([sys.executable, "-c", "from grader.execute.budget import workload; print(repr(workload()))"],
                             capture_output=True, text=True, timeout=300, env=env, cwd=str(root), check=True)
        value = float(out.stdout.strip().splitlines()[-1])
        if _valid(value):
            return value
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        pass
    return workload()


def _valid(value) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and _MIN_BENCH_S <= value <= _MAX_BENCH_S


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dl-grader" / CACHE_NAME


def machine_key() -> str:
    """CPU model + torch version + workload version: what the figure depends on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine() or "unknown cpu"
    try:
        from importlib import metadata

        torch_version = metadata.version("torch")
    except Exception:
        torch_version = "unknown"
    return f"{cpu} | torch {torch_version} | workload v{WORKLOAD_VERSION}"


def read_cache(path: Path, key: str) -> float | None:
    """The cached figure for `key`, or None when absent or malformed in any way."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 1 << 20:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("entries"), dict):
        return None
    entry = data["entries"].get(key)
    if not isinstance(entry, dict):
        return None
    value = entry.get("benchmark_s")
    return float(value) if _valid(value) else None


def write_cache(path: Path, key: str, seconds: float) -> None:
    """Record the figure (atomically; other entries kept when the file is valid). Best effort."""
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() and not path.is_symlink() else None
    except (OSError, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("entries"), dict):
        data = {"format": 1, "entries": {}}
    data["entries"][key] = {"benchmark_s": round(float(seconds), 6),
                            "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    try:
        from grader.fsutil import atomic_write_text

        atomic_write_text(path, json.dumps(data, indent=1))
    except OSError:
        pass


def machine_benchmark(refresh: bool = False) -> tuple[float, str]:
    """(this machine's benchmark seconds, where the figure came from). Once per process."""
    global _measured
    env = os.environ.get(ENV_OVERRIDE, "").strip()
    if env and not refresh:
        try:
            value = float(env)
        except ValueError:
            value = None
        if _valid(value):
            return value, f"environment ({ENV_OVERRIDE})"
    with _lock:
        if _measured is not None and not refresh:
            return _measured
        path, key = cache_file(), machine_key()
        cached = None if refresh else read_cache(path, key)
        if cached is not None:
            _measured = (cached, f"cache file {path}")
        else:
            value = _measure()
            write_cache(path, key, value)
            _measured = (value, "measured")
        return _measured


def _remember(seconds: float) -> None:
    global _measured
    with _lock:
        write_cache(cache_file(), machine_key(), seconds)
        _measured = (seconds, "measured")


def _reset_for_tests() -> None:
    global _measured
    with _lock:
        _measured = None


# --------------------------------------------------------------------------------------
# budgets


def _secs(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"


def fixed_budget(execution) -> ExecBudget:
    return ExecBudget(
        notebook_s=float(execution.notebook_timeout_s), cell_s=float(execution.cell_timeout_s), source="fixed",
        derivation=f"fixed limits from the rubric: {execution.cell_timeout_s:g} s per cell, "
                   f"{execution.notebook_timeout_s:g} s per notebook (no calibration)")


def calibrated_budget(cal, notebook: str, benchmark_s: float, benchmark_source: str = "measured") -> ExecBudget:
    """The arithmetic, on its own: clamp(factor x reference x speed, min_s, max_s)."""
    ref = float(cal.reference_s[notebook])
    speed = benchmark_s / cal.baseline_benchmark_s
    here = ref * speed
    raw = cal.factor * here
    clamped = "min_s" if raw < cal.min_s else "max_s" if raw > cal.max_s else None
    seconds = float(max(1, math.ceil(min(max(raw, cal.min_s), cal.max_s) - 1e-9)))
    core = f"{cal.factor:g} x the reference solution's {_secs(here)} s on this machine (speed x{speed:.2f})"
    if clamped == "min_s":
        text = f"{seconds:g} s, the rubric's minimum ({core} = {_secs(raw)} s)"
    elif clamped == "max_s":
        text = f"{seconds:g} s, the rubric's maximum ({core} = {_secs(raw)} s)"
    else:
        text = f"{seconds:g} s = {core}"
    return ExecBudget(
        notebook_s=seconds, cell_s=seconds, source="calibrated", derivation=text, factor=float(cal.factor),
        reference_s=ref, reference_here_s=round(here, 3), speed=round(speed, 4), benchmark_s=round(benchmark_s, 4),
        baseline_benchmark_s=float(cal.baseline_benchmark_s), benchmark_source=benchmark_source, clamped=clamped)


def budget_for(spec) -> ExecBudget:
    """The budget of one notebook rubric on this machine (measures the benchmark once)."""
    cal = spec.execution.calibration
    if cal is None:
        return fixed_budget(spec.execution)
    bench, source = machine_benchmark()
    return calibrated_budget(cal, spec.notebook, bench, source)


def notebook_allowance(spec) -> float:
    """The longest a notebook's execution may take: its budget, then the interrupt and the
    grader's exports after a cut (what run_notebook's watchdog and batch's job limit allow)."""
    return budget_for(spec).notebook_s + CUT_WAIT_S + CUT_EPILOGUE_S


def cut_reason(run) -> str | None:
    """The not-executable reason for a notebook cut at its time limit, naming the cell and
    the budget with its derivation; None when the run has no cut."""
    cut, b = getattr(run, "cut", None), getattr(run, "budget", None)
    if cut is None:
        return None
    if b is None:
        limit = f"{cut.limit_s:g} s"
    elif b.source == "calibrated":
        limit = b.derivation
    elif cut.which == "cell":
        limit = f"{cut.limit_s:g} s, the rubric's fixed per-cell limit (the rubric has no calibration)"
    else:
        limit = f"{b.notebook_s:g} s, the rubric's fixed whole-notebook limit (the rubric has no calibration)"
    if cut.which == "cell":
        text = f"cell {cut.cell} was still running after {limit}"
    else:
        text = (f"cell {cut.cell} was still running after {cut.ran_s:.0f} s when the notebook's budget ran out "
                f"({limit})")
    if cut.exports == "ran":
        text += "; it was interrupted there and the model trained so far was graded"
    elif cut.exports == "failed":
        text += "; it was interrupted there, but the grader's export of the trained model failed, so it could not be graded"
    elif cut.exports == "not_run":
        text += ("; it did not stop when interrupted, so the grader's exports could not run and the trained model "
                 "could not be graded")
    return text


# --------------------------------------------------------------------------------------
# `grader calibrate`


def _reference_notebooks(rubric, source: Path | None, scratch: Path) -> dict[str, Path]:
    """Rubric notebook name -> file: from --notebooks (a folder or a zip, searched by file
    name), else the reference solution the rubric's mutants.yaml names."""
    import zipfile

    from grader.errors import UsageError

    names = [nb.notebook for nb in rubric.notebooks]
    if source is None:
        import yaml

        mfile = rubric.directory / "mutants.yaml"
        ref = None
        if mfile.is_file():
            spec = yaml.safe_load(mfile.read_text(encoding="utf-8")) or {}
            ref = spec.get("reference") if isinstance(spec, dict) else None
        if not ref:
            raise UsageError(f"{rubric.directory} names no reference solution notebooks (mutants.yaml `reference`); "
                             "pass --notebooks DIR_OR_ZIP with full-solution notebooks")
        source = (rubric.directory / ref).resolve()
    source = Path(source)
    found: dict[str, list[Path]] = {n: [] for n in names}
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            for info in zf.infolist():
                base = info.filename.rstrip("/").rsplit("/", 1)[-1]
                if base in found and not info.is_dir() and "__MACOSX" not in info.filename and info.file_size < 64 << 20:
                    dest = scratch / "notebooks" / str(len(found[base])) / base
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(zf.read(info))
                    found[base].append(dest)
    elif source.is_dir():
        for name in names:
            found[name] = sorted(p for p in source.rglob(name) if p.is_file() and ".ipynb_checkpoints" not in p.parts)
    else:
        raise UsageError(f"{source} is neither a folder nor a zip of notebooks")
    missing = [n for n, ps in found.items() if not ps]
    if missing:
        raise UsageError(f"{source} holds no {', '.join(missing)}; calibration needs every notebook of the rubric")
    double = {n: ps for n, ps in found.items() if len(ps) > 1}
    if double:
        raise UsageError(f"{source} holds more than one " + "; ".join(f"{n} ({len(ps)})" for n, ps in double.items()))
    return {n: ps[0] for n, ps in found.items()}


def _grading_setup(rubric, log) -> dict:
    """What else grading gives run_notebook (the rubric's student environment and data
    sets), so the reference is timed as it would be graded."""
    from grader import studentenv

    senv, problem = studentenv.resolve(rubric.environment)
    if problem:
        log(f"note: {problem}; timing with the grader's own Python")
    return {"student_env": senv, "datasets": rubric.datasets}


def calibrate(rubric, notebooks: Path | None = None, isolation: str = "auto", limit_s: float = 3600.0,
              log=print) -> dict:
    """Run each reference notebook alone through the grader's executor (with the rubric's
    instrumentation, as in grading) and measure the benchmark before and after.
    Returns {"reference_s", "baseline_benchmark_s", "runs", "yaml", ...}."""
    import dataclasses
    import shutil

    from grader import environment, score
    from grader.errors import GraderError
    from grader.execute import run_notebook
    from grader.intake import read_notebook
    from grader.pipeline import MAX_SCRATCH_CHARS, _instrumentation
    from grader.sandbox import detach_quotas

    scratch_root = Path(tempfile.gettempdir())
    if len(str(scratch_root.resolve())) > MAX_SCRATCH_CHARS:
        scratch_root = Path("/tmp/grader-scratch")
    scratch_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="grader-cal-", dir=scratch_root))
    os.chmod(work, 0o711)
    mode = environment.isolation(isolation)["mode"]
    extra = _grading_setup(rubric, log)
    try:
        files = _reference_notebooks(rubric, notebooks, work)
        bench_before, _ = machine_benchmark(refresh=True)
        log(f"benchmark on this machine: {bench_before:.3f} s ({machine_key()})")
        times, runs = {}, {}
        for spec in rubric.notebooks:
            path = files[spec.notebook]
            nb, _findings = read_notebook(path, spec.notebook)
            if nb is None:
                raise GraderError(f"{path} could not be read as a notebook")
            ex = dataclasses.replace(spec.execution, cell_timeout_s=limit_s, notebook_timeout_s=limit_s, calibration=None)
            pro, epi = _instrumentation(spec)
            job = work / f"j{len(runs)}"
            job.mkdir()
            os.chmod(job, 0o711)
            log(f"running {path} ({mode}) ...")
            hide = tuple(str(d) for d in (rubric.directory, rubric.support_dir) if d is not None)
            try:
                run = run_notebook(nb, dataclasses.replace(spec, execution=ex), job, rubric.support_dir, mode, None, pro, epi,
                                   None, hide=hide, **extra)
            finally:
                detach_quotas(job)
            runs[spec.notebook] = run
            bad = list(run.failing_cells)
            log(f"  {spec.notebook}: {run.status}, {run.seconds:.1f} s"
                + ("; failing cells: " + "; ".join(f"{c.index} {c.ename}: {c.evalue[:80]}" for c in bad[:6]) if bad else ""))
            if run.status not in ("completed", "cell_errors"):
                raise GraderError(f"the reference {spec.notebook} did not finish ({run.status}: {run.message[:300]}); "
                                  "a calibration needs notebooks that run to the end")
            # only errors the rubric blames on the grading environment (no torchvision, ...)
            # are allowed: a reference that fails otherwise would time something else
            reasons = score.not_executable_reasons([run], rubric)
            if reasons:
                raise GraderError(f"the reference {spec.notebook} would not count as executable: {'; '.join(reasons)[:600]}; "
                                  "calibrate with full-solution notebooks that run here")
            times[spec.notebook] = round(run.seconds, 1)
        bench_after, _ = machine_benchmark(refresh=True)
        log(f"benchmark after the runs: {bench_after:.3f} s")
    finally:
        detach_quotas(work)
        shutil.rmtree(work, ignore_errors=True)
    bench = min(bench_before, bench_after)
    _remember(bench)  # this process and the cache file keep the figure the block states
    old = rubric.notebooks[0].execution.calibration if rubric.notebooks else None
    factor = old.factor if old else 10.0
    min_s = old.min_s if old else 120.0
    max_s = old.max_s if old else 3600.0
    today = dt.date.today().isoformat()
    src = f" --notebooks {notebooks}" if notebooks else ""
    where = os.path.relpath(rubric.directory)
    where = where if not where.startswith("..") else str(rubric.directory)
    refs = ", ".join(f"{n}: {t:g}" for n, t in times.items())
    lines = [
        f"  # measured with `grader calibrate {where}{src}` on {today}",
        f"  # ({machine_key()}; isolation {mode}; each reference notebook alone)",
        "  calibration:",
        f"    factor: {factor:g}",
        f"    reference_s: {{{refs}}}",
        f"    baseline_benchmark_s: {bench:.3f}",
        f"    min_s: {min_s:g}",
        f"    max_s: {max_s:g}",
    ]
    return {"reference_s": times, "baseline_benchmark_s": round(bench, 3), "benchmarks": [bench_before, bench_after],
            "runs": runs, "yaml": "\n".join(lines), "factor": factor, "min_s": min_s, "max_s": max_s}
