"""Benchmarks of the grader, printed as ratios measured in one run on one machine.

    .venv/bin/python bench/bench.py            # figures a-e (about 15 minutes on 2 cores)
    .venv/bin/python bench/bench.py --only c   # one figure: a, b, c, d, e, f or g (f: on request, after e)

(a) `grader run` on the full-marks sample vs plain nbclient executing the same three
    notebooks one after another in reference/solution (target: ratio <= 1.0)
(b) `grader batch` of N copies of the samples with 1 worker vs 2 workers (target: >= 1.8x)
(c) the cost of one probe: forked from the warm per-submission server vs a fresh
    sandboxed Python (target: < 100 ms)
(d) the grader's own peak memory per worker while grading (target: < 1.5 GB), and the
    kernels' peak inside the sandbox, from the report
(e) `grader batch` of the samples (full marks, partial, blank starter), then the same
    batch again after a threshold change in the rubric: the regrade re-judges every
    submission from the batch's caches (target: regrade < 5 % of the first grading)
(f) a class-sized regrade: the samples under N NetIDs (--class-size, default 20) graded as
    one batch whose executions come from a first grading of the three samples (so this
    grading is NOT a first-grading cost), then regraded after a threshold change on the
    Dask workers; prints the regrade's seconds per student and the linear extrapolation
    to 300 students (start-up costs included in the per-student figure, so an upper-ish
    estimate for this machine and worker count)
(g) one epoch of Section 8's data (31 train + 31 test batches of 32, MODERATE) from the
    lab's task generators (reference/lab/res, what original submissions import, and
    reference/res, the project's): the direct one-hot path vs the per-symbol path the
    generators take for a changed generator; same batches (tests/reference pin both)
These machines are noisy: compare the ratios, not the seconds, and only within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
NOTEBOOKS = ["hw2_cnn.ipynb", "hw2_rnn.ipynb", "08-seq_classification.ipynb"]
FULL = ROOT / "submissions" / "full_marks" / "ab1234.zip"


def header() -> None:
    import nbclient
    import torch

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, nbclient {nbclient.__version__}")
    from grader.environment import isolation

    print(f"isolation: {isolation()['mode']}")
    print()


def _peak_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_timed(cmd: list[str]) -> tuple[float, str]:
    """(wall seconds, stderr). Not CPU seconds: a batch's Dask workers and sandboxed kernels
    are not all waited-for children, so getrusage would leave most of a first grading out."""
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, proc.stderr


def timed(cmd: list[str], cwd: Path | None = None, watch_memory: bool = False) -> tuple[float, int]:
    """(wall seconds, peak RSS in KB of the command's own process)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    stop = threading.Event()

    def watch():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _peak_rss_kb(proc.pid))
            time.sleep(0.2)

    t = threading.Thread(target=watch, daemon=True)
    if watch_memory:
        t.start()
    _, err = proc.communicate()
    stop.set()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return time.monotonic() - t0, peak


PLAIN = """
import sys, nbformat
from nbclient import NotebookClient
for name in sys.argv[1:]:
    nb = nbformat.read(name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
"""


def figure_a(tmp: Path) -> dict:
    plain, _ = timed([PY, "-c", PLAIN, *NOTEBOOKS], cwd=ROOT / "reference" / "solution")
    graded, peak = timed([PY, "-m", "grader", "run", str(FULL), "--out", str(tmp / "a")], watch_memory=True)
    report = json.loads((tmp / "a" / "ab1234" / "report.json").read_text())
    print(f"(a) grader run, full-marks sample: {graded:.1f} s; plain nbclient, 3 notebooks in sequence: {plain:.1f} s")
    print(f"    ratio grader/plain = {graded / plain:.2f}   (target <= 1.0; score {report['score']:g}/{report['max_score']:g})")
    return {"plain_s": plain, "grader_s": graded, "ratio": graded / plain, "peak_kb": peak, "report": report}


def figure_b(tmp: Path, n: int) -> dict:
    src = sorted((ROOT / "submissions").glob("*/*.zip"))
    src = [p for p in src if "adversarial" not in p.parts]
    batch = tmp / "batch-in"
    batch.mkdir()
    for i in range(n):
        p = src[i % len(src)]
        # distinct netids; same content repeats only after all samples were used once
        shutil.copy(p, batch / f"zz{i:04d}.zip")
    times = {}
    for workers in (1, 2):
        out = tmp / f"batch-out-{workers}"
        times[workers], _ = timed([PY, "-m", "grader", "batch", str(batch), "--out", str(out), "--workers", str(workers)])
    speedup = times[1] / times[2]
    print(f"(b) grader batch of {n} submissions: 1 worker {times[1]:.1f} s, 2 workers {times[2]:.1f} s")
    print(f"    speed-up = {speedup:.2f}x   (target >= 1.8x)")
    return {"times": times, "speedup": speedup}


def figure_c(tmp: Path) -> dict:
    import torch

    from grader.probe import Call, Prober

    src = "import torch\ndef f(x):\n    return x * 2\n"
    res = {}
    for server in (True, False):
        p = Prober(tmp / f"probe-{server}", isolation="auto" if False else _mode(), use_server=server)
        ts = []
        for _ in range(8):
            t0 = time.monotonic()
            (out,) = p.run(src, [Call("f", (torch.ones(3),))])
            ts.append(time.monotonic() - t0)
            assert out.ok
        p.close()
        res["server" if server else "process"] = {"first_s": ts[0], "median_rest_s": statistics.median(ts[1:])}
    s, f = res["server"], res["process"]
    print(f"(c) one probe: forked from the warm server {s['median_rest_s'] * 1000:.0f} ms (server start {s['first_s']:.2f} s, once per submission);"
          f" fresh sandboxed process {f['median_rest_s'] * 1000:.0f} ms")
    print(f"    ratio fresh/forked = {f['median_rest_s'] / s['median_rest_s']:.0f}x   (target: forked < 100 ms)")
    return res


def _mode() -> str:
    from grader.environment import isolation

    return isolation()["mode"]


def figure_d(a: dict | None, tmp: Path) -> dict:
    if a is None:
        _, peak = timed([PY, "-m", "grader", "run", str(FULL), "--out", str(tmp / "d")], watch_memory=True)
        report = json.loads((tmp / "d" / "ab1234" / "report.json").read_text())
    else:
        peak, report = a["peak_kb"], a["report"]
    kernels = {nb["notebook"]: nb.get("peak_memory_mb") for nb in report["notebooks"]}
    print(f"(d) grader process peak RSS while grading one submission: {peak / 1024:.0f} MB   (target < 1536 MB per worker)")
    print(f"    kernels' peak memory in the sandbox (cgroup): {kernels}")
    return {"grader_peak_mb": peak / 1024, "kernels_mb": kernels}


SAMPLES = ["full_marks/ab1234.zip", "partial/pa3002.zip", "blank_starter/bs2001.zip"]
THRESHOLD = "params: {threshold: 0.75,"  # hw2_cnn's validation accuracy item, lowered for the regrade


def _rubric_copy(tmp: Path, name: str) -> Path:
    rubric = tmp / name
    shutil.copytree(ROOT / "rubrics" / "hw2", rubric)
    a = rubric / "assignment.yaml"
    a.write_text(a.read_text().replace("support_dir: ../../reference/res", f"support_dir: {ROOT / 'reference' / 'res'}"))
    return rubric


def _lower_threshold(rubric: Path) -> None:
    cnn = rubric / "hw2_cnn.yaml"
    text = cnn.read_text()
    assert text.count(THRESHOLD) == 1, "the benchmark's threshold is no longer in rubrics/hw2/hw2_cnn.yaml"
    cnn.write_text(text.replace(THRESHOLD, "params: {threshold: 0.7,"))


def _plan(stderr: str) -> str:
    return next((line for line in stderr.splitlines() if "to re-judge" in line), "")


def figure_e(tmp: Path) -> dict:
    rubric = _rubric_copy(tmp, "rubric-e")
    inp = tmp / "e-in"
    inp.mkdir()
    for s in SAMPLES:
        shutil.copy(ROOT / "submissions" / s, inp)
    out = tmp / "e-out"
    cmd = [PY, "-m", "grader", "batch", str(inp), "--out", str(out), "--rubric", str(rubric), "--workers", "2"]
    first, _ = run_timed(cmd)
    _lower_threshold(rubric)
    regrade, err = run_timed(cmd)
    print(f"(e) grader batch of {len(SAMPLES)} samples, 2 workers: first grading {first:.1f} s; "
          f"after a threshold change {regrade:.1f} s")
    print(f"    plan: {_plan(err)}")
    print(f"    ratio regrade/first = {regrade / first * 100:.1f} %   (target < 5 %)")
    return {"first_s": first, "regrade_s": regrade, "ratio": regrade / first, "out": out}


def figure_f(tmp: Path, n: int, e: dict | None) -> dict:
    if e is None:
        e = figure_e(tmp)
    rubric = _rubric_copy(tmp, "rubric-f")
    inp = tmp / "f-in"
    inp.mkdir()
    for i in range(n):  # distinct NetIDs, the samples' contents in turn
        shutil.copy(ROOT / "submissions" / SAMPLES[i % len(SAMPLES)], inp / f"cs{i:04d}.zip")
    out = tmp / "f-out"
    # the executions of figure e's first grading (same notebooks): this grading runs no kernel
    shutil.copytree(Path(e["out"]) / ".batch" / "exec-cache", out / ".batch" / "exec-cache")
    cmd = [PY, "-m", "grader", "batch", str(inp), "--out", str(out), "--rubric", str(rubric), "--workers", "2"]
    graded, _ = run_timed(cmd)
    _lower_threshold(rubric)
    regrade, err = run_timed(cmd)
    per = regrade / n
    print(f"(f) a class of {n} (the samples under {n} NetIDs), 2 workers: graded from cached executions in {graded:.1f} s "
          f"(not a first grading: no notebook ran); after a threshold change {regrade:.1f} s")
    print(f"    plan: {_plan(err)}")
    print(f"    {per:.2f} s per student; 300 students by linear extrapolation: about {per * 300 / 60:.1f} min "
          f"(start-up included per student, so an over-estimate; this machine, 2 workers)")
    return {"n": n, "graded_s": graded, "regrade_s": regrade, "per_student_s": per}


def figure_g() -> dict:
    import importlib.util

    import numpy as np

    res = {}
    for label, path in (("lab", ROOT / "reference" / "lab" / "res" / "sequential_tasks.py"),
                        ("project", ROOT / "reference" / "res" / "sequential_tasks.py")):
        spec = importlib.util.spec_from_file_location(f"_bench_st_{label}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cls = mod.TemporalOrderExp6aSequence
        general = type("General", (cls,), {})  # a subclass takes the per-symbol path
        times = {}
        for name, klass in (("fast", cls), ("general", general)):
            best = float("inf")
            for _ in range(3):
                gens = [cls.get_predefined_generator(cls.DifficultyLevel.MODERATE, 32) for _ in range(2)]
                for g in gens:
                    g.__class__ = klass
                t0 = time.perf_counter()
                for g in gens:
                    for i in range(len(g)):
                        g[i]
                best = min(best, time.perf_counter() - t0)
            times[name] = best
        np.random.seed(None)
        res[label] = times
        print(f"(g) {label} generator, one Section-8 epoch of data: {times['fast'] * 1000:.0f} ms direct, "
              f"{times['general'] * 1000:.0f} ms per symbol; ratio {times['general'] / times['fast']:.1f}x")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["a", "b", "c", "d", "e", "f", "g"])
    ap.add_argument("--batch-size", type=int, default=20, help="submissions in (b) (default 20)")
    ap.add_argument("--class-size", type=int, default=20, help="submissions in (f) (default 20)")
    args = ap.parse_args()
    header()
    tmp = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    try:
        a = None
        if args.only in (None, "a"):
            a = figure_a(tmp)
        if args.only in (None, "b"):
            figure_b(tmp, args.batch_size)
        if args.only in (None, "c"):
            figure_c(tmp)
        if args.only in (None, "d"):
            figure_d(a, tmp)
        e = None
        if args.only in (None, "e"):
            e = figure_e(tmp)
        if args.only == "f":
            figure_f(tmp, args.class_size, e)
        if args.only in (None, "g"):
            figure_g()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
