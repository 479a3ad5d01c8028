"""Fixtures for the whole suite; the factories live in tests/factories.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from factories import MINI_RUBRIC


def pytest_configure(config):
    """Every pytest process, and every process it starts, computes on one thread: the suite
    runs three xdist workers and their notebook kernels on a machine of two or so cores, and
    a second OpenMP thread on a busy core spin-waits instead of helping (grader/childenv.py:
    single_threaded_torch, 4x the CPU time measured). Set before torch is imported, which
    reads it for its own pool."""
    import os

    from grader.childenv import SINGLE_THREAD

    os.environ.update(SINGLE_THREAD)
    _one_benchmark_figure(config)


def _one_benchmark_figure(config):
    """Every process of the session budgets calibrated notebooks with ONE machine figure
    (grader/execute/budget.py): the controller takes it (the cached file's, else measured
    once) and hands it to the xdist workers and everything they start through
    DL_GRADER_BENCHMARK_S. A budget is part of an execution's cache key; on a machine
    without the cached figure, three workers measuring at once under load got different
    figures, so the session's shared executions missed each other. Tests of the benchmark
    itself (tests/test_budget.py) set or clear the variable themselves."""
    import os

    from grader.execute import budget

    if hasattr(config, "workerinput") or os.environ.get(budget.ENV_OVERRIDE, "").strip():
        return
    import recordings

    value, _source = budget.machine_benchmark()
    # the recorded executions' figure on a machine no slower than theirs, so that their keys match
    value, why = recordings.session_figure(value, recordings.manifest())
    config._grader_benchmark_source = why
    os.environ[budget.ENV_OVERRIDE] = repr(value)


@pytest.fixture(scope="session")
def mini_rubric():
    from grader.rubric import load_rubric

    return load_rubric(MINI_RUBRIC)


@pytest.fixture
def grade_mini(tmp_path, mini_rubric):
    """Grade a zip with the mini rubric; returns the report dict."""
    from grader.pipeline import Env, grade

    def run(zip_path: Path, **env_kw):
        env = Env(rubric=mini_rubric, out_dir=tmp_path / "out", **env_kw)
        return grade(zip_path, env).to_dict()

    return run


@pytest.fixture(scope="session")
def shared_exec_cache(tmp_path_factory) -> Path:
    """One execution cache for the whole test session, shared by every xdist worker (the
    directory above the workers' own base temp dirs). Entries are content-keyed and written
    whole (temp dir + rename: grader.execute.cache), so tests that grade the same notebooks
    under the same limits and instrumentation run each notebook once per session. Pass it
    as `Env(exec_cache=...)`, `grader run --cache`, or copy it into a batch's OUT/.batch.
    It starts with the recorded executions of the suite's long notebook trainings
    (tests/recordings.py; none when GRADER_TEST_LIVE=1)."""
    import recordings

    root = _session_root(tmp_path_factory)
    path = root / recordings.EXEC_CACHE
    path.mkdir(exist_ok=True)
    recordings.write_session(root)
    recordings.seed(path)  # the long trainings, recorded (tests/recordings.py)
    return path


def _session_root(tmp_path_factory) -> Path:
    """The base temp dir shared by every xdist worker (the one above their own)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


@pytest.fixture(scope="session", autouse=True)
def shared_probe_cache(tmp_path_factory):
    """One probe cache (grader/probe/cache.py) for the whole session, shared by every xdist
    worker: a Prober created in a test's own thread with no cache of its own (no `Env(
    probe_cache=...)`, no probe_cache.use(...), not a batch, which always names its OUT's)
    reads and stores its results there. The suite grades the same samples in many tests;
    a submission whose probes all hit never starts its probe server (torch imported in a
    sandbox, about 2.3 s). Hits are read back through the same decoding boundary as fresh
    results; killed or timed-out probes are never stored. Gradings on other threads (the
    attack corpora's harness) and in other processes see no default and probe afresh."""
    from grader.probe import cache as probe_cache

    path = _session_root(tmp_path_factory) / "shared-probe-cache"
    path.mkdir(exist_ok=True)
    token = probe_cache._DIR.set(path)
    yield path
    probe_cache._DIR.reset(token)




@pytest.fixture(scope="session")
def graded_class(shared_exec_cache) -> Path:
    """A `grader batch` OUT folder of three samples (full marks, partial, blank starter)
    graded with the shipped rubric, built once per test session and shared by every xdist
    worker (the first one to take the lock grades; the others wait and reuse it). Treat it
    as read-only: copy it (shutil.copytree) into tmp_path before changing anything in it.
    Its executions go through `shared_exec_cache`, so notebooks graded elsewhere in the
    session are not run again."""
    import fcntl
    import shutil

    from factories import GRADED_CLASS, HW2_RUBRIC, SAMPLES, share_cache_entries

    root = shared_exec_cache.parent
    out = root / "graded-class"
    with open(root / "graded-class.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / ".complete").exists():
            from grader.batch import caches
            from grader.batch.run import run_batch

            shutil.rmtree(out, ignore_errors=True)
            work = root / "graded-class.tmp"
            shutil.rmtree(work, ignore_errors=True)
            share_cache_entries(shared_exec_cache, caches.exec_dir(work))
            zips = [SAMPLES / name / f"{netid}.zip" for name, netid in GRADED_CLASS.items()]
            result = run_batch(zips, work, HW2_RUBRIC, workers=1)
            assert result.failed == 0, result
            share_cache_entries(caches.exec_dir(work), shared_exec_cache)
            (work / ".complete").write_text("ok\n")
            work.rename(out)
    return out


# -- the fuzz-case count in the terminal summary, also from xdist worker processes --------

def pytest_sessionfinish(session, exitstatus):
    from fuzzcount import COUNTS

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput["fuzz_counts"] = dict(COUNTS)


def pytest_testnodedown(node, error):
    from fuzzcount import COUNTS

    COUNTS.update(getattr(node, "workeroutput", {}).get("fuzz_counts", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from fuzzcount import COUNTS

    if COUNTS:
        terminalreporter.write_sep("-", "fuzz cases run")
        for name, n in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{name}: {n}")
        terminalreporter.write_line(f"total: {sum(COUNTS.values())}")
    _recordings_summary(terminalreporter, config)


def _recordings_summary(terminalreporter, config):
    """Which long executions ran live this session (tests/recordings.py): none when the
    recordings are current; after a change to the execution code, the samples or the
    instrumentation, the ones to record again."""
    import recordings

    try:
        root = config._tmp_path_factory.getbasetemp()
    except (AttributeError, OSError):
        return
    if not (root / recordings.EXEC_CACHE).is_dir():
        return
    live = recordings.ran_live(root)
    why = getattr(config, "_grader_benchmark_source", "")
    terminalreporter.write_sep("-", "recorded executions")
    if recordings.live():
        terminalreporter.write_line(f"{recordings.LIVE_ENV}=1: every notebook executed; {len(live)} executions took "
                                    f"{recordings.MIN_SECONDS:.0f} s or more ({sum(v['seconds'] for v in live.values()):.0f} s)")
    else:
        terminalreporter.write_line(f"{len((recordings.manifest() or {}).get('entries', {}))} recorded; "
                                    f"{len(live)} executions of {recordings.MIN_SECONDS:.0f} s or more ran live"
                                    + (f"; benchmark figure: {why}" if why else ""))
    for key, v in sorted(live.items(), key=lambda kv: -kv[1]["seconds"]):
        terminalreporter.write_line(f"  {v['seconds']:7.1f} s  {key[:12]}  {v['status']:<12} {v['title']}")
    if live:
        terminalreporter.write_line(f"record them: .venv/bin/python scripts/record_executions.py --from {root}"
                                    + ("" if recordings.live() else f"  (from a session run with {recordings.LIVE_ENV}=1)"))


# -- the longest files first: xdist (--dist loadfile) hands files to workers in collection
# order, so a long end-to-end file collected last would finish last, alone -------------------
LONGEST_FIRST = (
    "tests/semesters/test_semester_samples_e2e.py", "tests/test_samples_e2e.py", "tests/test_validate_mutants.py", "tests/original/test_original_samples.py", "tests/adversarial/test_attacks.py",
    "tests/original/test_original_real_world.py", "tests/checks/test_e2e_checks.py",
    "tests/gradescope/test_gradescope_bundle.py", "tests/lms/test_lms_batch_e2e.py",
    "tests/adversarial/test_section8_integrity.py", "tests/test_run_e2e.py", "tests/adversarial/test_untrusted_data.py",
    "tests/adversarial/test_redteam.py", "tests/adversarial/test_check_integrity.py", "tests/test_regrade.py",
    "tests/adversarial/test_execution_integrity.py", "tests/batch/test_batch_e2e.py", "tests/reference/test_section8.py",
    "tests/test_validate.py",
)


def pytest_collection_modifyitems(session, config, items):
    root = Path(__file__).resolve().parent.parent

    def rank(item):
        rel = Path(str(item.fspath)).resolve().relative_to(root).as_posix()
        return LONGEST_FIRST.index(rel) if rel in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file, and of the other files, is kept
