"""Record the test suite's long notebook executions into tests/recorded (see tests/recordings.py).

    .venv/bin/python scripts/record_executions.py                 # runs the whole suite live (~36 min on 2 cores), then records
    .venv/bin/python scripts/record_executions.py --from /tmp/bt  # records from a finished live session

A live session is one run with GRADER_TEST_LIVE=1 (no recordings replayed) and a
--basetemp; its shared execution cache holds every notebook it executed. The executions of
at least --min-seconds replace tests/recorded whole (entries no longer made are dropped).
Commit tests/recorded afterwards: the next sessions replay them.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import recordings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", type=Path,
                    help="the --basetemp of a finished live session (default: run the suite live now)")
    ap.add_argument("--min-seconds", type=float, default=recordings.MIN_SECONDS,
                    help="record executions at least this long (default: %(default)s)")
    ap.add_argument("--into", type=Path, default=recordings.RECORDED,
                    help="the recordings directory to replace (default: tests/recorded)")
    args = ap.parse_args(argv)
    source = args.source
    if source is None:
        source = Path(tempfile.mkdtemp(prefix="record-"))
        env = {**os.environ, recordings.LIVE_ENV: "1"}
        rc = subprocess.call([sys.executable, "-m", "pytest", f"--basetemp={source}"], cwd=ROOT, env=env)
        if rc != 0:
            print(f"the live session failed (exit {rc}): nothing recorded; its files are in {source}", file=sys.stderr)
            return rc
    into = args.into.resolve()
    doc = recordings.harvest(source.resolve(), into, min_seconds=args.min_seconds)
    size = sum(f.stat().st_size for f in (into / "exec").rglob("*") if f.is_file())
    total = sum(e["seconds"] for e in doc["entries"].values())
    print(f"recorded {len(doc['entries'])} executions ({total:.0f} s of their own wall time, {size / 1e6:.1f} MB) "
          f"in {into}, benchmark figure {doc['benchmark_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
