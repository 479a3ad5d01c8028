"""Recorded executions: the suite's long notebook trainings, replayed from a live run.

About fifty notebooks the suite grades run for 5 s to over 3 minutes each (the original
course notebooks, the semester samples, the full-marks and partial samples): together
about half of the whole suite's CPU on two cores. `tests/recorded/exec/` holds their
execution cache entries (grader/execute/cache.py), harvested from a live session by
`scripts/record_executions.py`; every session copies them into its shared execution cache
(conftest's `shared_exec_cache`), so a test that grades one of those notebooks reads the
recorded run instead of training again. Everything after the execution (extraction,
probes, the trusted checks, the reports) runs for real.

A recording is only ever used for exactly the execution it records: the entry's name is
the cache key, which covers the prepared cells (the notebook and the grader's in-kernel
instrumentation), the limits, the isolation mode, the student environment, the datasets,
the support files and the grader's execution code and torch (cache.EXECUTION_CODE). Change
any of them and the key changes: the notebook runs live again, the session's summary lists
it under "recorded executions", and `scripts/record_executions.py` records it anew. Entries
are verified on read (sha256 of every file) like any cache entry.

Calibrated notebooks' limits come from the machine's benchmark figure
(grader/execute/budget.py), which is part of their key. A session uses the figure the
recordings were made with unless this machine is slower than it by more than
BENCHMARK_TOLERANCE: on a machine as fast or faster, the recorded limits are at least as
generous as its own would be (a limit only bounds how long a notebook may run), and the
recordings hit. The figure is not a stable property of a kind of machine: two 2-core AMD
EPYC machines measured 2.40 s and 0.27 s, while their suites ran at about the same speed.
A slower machine budgets with its own figure, and those recordings miss.

`GRADER_TEST_LIVE=1` runs a session without them: every notebook executes (the whole suite
then takes about 35 minutes on 2 cores instead of about 10).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORDED = HERE / "recorded"
MANIFEST = RECORDED / "recording.json"
LIVE_ENV = "GRADER_TEST_LIVE"
SESSION_FILE = "session.json"  # in the session root: {"live", "benchmark_s"}, for the harvest
EXEC_CACHE = "shared-exec-cache"  # conftest's shared_exec_cache, under the session root
MIN_SECONDS = 5.0  # executions at least this long (own wall time, under load) are recorded: a shorter one costs less to run than to keep
BENCHMARK_TOLERANCE = 0.25


def live() -> bool:
    return os.environ.get(LIVE_ENV, "").strip() not in ("", "0")


def manifest(path: Path = MANIFEST) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("entries"), dict) else None


def session_figure(measured: float, recorded: dict | None) -> tuple[float, str]:
    """The benchmark figure a session budgets with, and why: the recordings' unless this
    machine is more than BENCHMARK_TOLERANCE slower (or the session runs live), else its own."""
    figure = (recorded or {}).get("benchmark_s")
    if live() or not isinstance(figure, (int, float)) or figure <= 0:
        return measured, "measured"
    if measured <= figure * (1.0 + BENCHMARK_TOLERANCE):
        return float(figure), f"the recordings' (measured here: {measured:.3f} s)"
    return measured, f"measured ({measured:.3f} s is more than {BENCHMARK_TOLERANCE:.0%} slower than the recordings' {figure:.3f} s)"


def write_session(root: Path) -> None:
    """Record in the session root whether this session ran live and with which benchmark
    figure (what scripts/record_executions.py needs to harvest it)."""
    info = {"live": live(), "benchmark_s": float(os.environ.get("DL_GRADER_BENCHMARK_S", "0") or 0)}
    tmp = root / f".{SESSION_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(info))
    os.replace(tmp, root / SESSION_FILE)


def seed(cache_dir: Path, recorded: Path = RECORDED) -> int:
    """Copy the recorded entries into a session's execution cache (none in a live session).
    Returns how many the cache holds from the recordings."""
    from factories import share_cache_entries

    if live():
        return 0
    share_cache_entries(recorded / "exec", cache_dir)
    return sum(1 for d in (recorded / "exec").glob("*") if (cache_dir / d.name).is_dir())


def _title(entry: Path) -> str:
    try:
        cells = json.loads((entry / "executed.ipynb").read_text())["cells"]
        src = cells[0]["source"]
        src = src if isinstance(src, str) else "".join(src)
        return src.strip().splitlines()[0][:70] if src.strip() else ""
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return ""


def long_executions(cache_dir: Path, min_seconds: float = MIN_SECONDS) -> dict[str, dict]:
    """{key: {seconds, status, title}} of the verified entries of at least min_seconds."""
    from grader.execute.cache import ExecCache

    out = {}
    if not cache_dir.is_dir():
        return out
    cache = ExecCache(cache_dir)
    for d in sorted(cache_dir.iterdir()):
        if d.name.startswith(".") or not d.is_dir() or cache.get(d.name) is None:
            continue
        run = json.loads((d / "run.json").read_text())
        seconds = float(run.get("seconds") or 0)
        if seconds >= min_seconds:
            out[d.name] = {"seconds": round(seconds, 1), "status": run.get("status"), "title": _title(d)}
    return out


def ran_live(root: Path, recorded: Path = RECORDED) -> dict[str, dict]:
    """The session's long executions that were not replayed: not among the recordings."""
    known = set((manifest(recorded / MANIFEST.name) or {}).get("entries", {}))
    return {k: v for k, v in long_executions(root / EXEC_CACHE).items() if k not in known}


def harvest(root: Path, recorded: Path = RECORDED, min_seconds: float = MIN_SECONDS) -> dict:
    """Replace the recordings with a live session's long executions (root: its --basetemp).
    Refuses a session that replayed: its long entries may include recordings no longer used."""
    try:
        info = json.loads((root / SESSION_FILE).read_text())
    except (OSError, ValueError):
        raise SystemExit(f"{root} is not a test session's --basetemp (no {SESSION_FILE}): "
                         "run the suite with --basetemp=DIR first") from None
    if not info.get("live"):
        raise SystemExit(f"{root} replayed recordings: record from a live session ({LIVE_ENV}=1)")
    found = long_executions(root / EXEC_CACHE, min_seconds)
    if not found:
        raise SystemExit(f"{root / EXEC_CACHE} holds no execution of {min_seconds:.0f} s or more")
    new = recorded.with_name(recorded.name + ".new")
    shutil.rmtree(new, ignore_errors=True)
    (new / "exec").mkdir(parents=True)
    for key in found:
        shutil.copytree(root / EXEC_CACHE / key, new / "exec" / key)
    doc = {"format": 1, "recorded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "benchmark_s": info.get("benchmark_s"), "min_seconds": min_seconds,
           "note": "Written by scripts/record_executions.py: see tests/recordings.py.", "entries": found}
    (new / MANIFEST.name).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    old = recorded.with_name(recorded.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if recorded.exists():
        recorded.rename(old)
    new.rename(recorded)
    shutil.rmtree(old, ignore_errors=True)
    return doc
