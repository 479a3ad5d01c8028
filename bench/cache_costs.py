"""Where a test-suite run's kernel time went, notebook by notebook: reads every execution
cache entry under a directory (the suite's --basetemp keeps them: shared-exec-cache and the
batch caches) and prints each distinct execution's wall time (run.json "seconds", as
measured under the run's load), its status, its title line and its slowest failing cells.

    .venv/bin/python bench/suite_cpu.py -- --basetemp=/tmp/bt
    .venv/bin/python bench/cache_costs.py /tmp/bt

Only cacheable executions (completed, cell_errors) are stored, so timeouts and dead kernels
are missing; completed cells carry no per-cell time. A session that replayed the recorded
executions (tests/recordings.py) holds them too: they are marked "recorded" and counted
apart, with the seconds of the live run that recorded them.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

RECORDINGS = Path(__file__).resolve().parent.parent / "tests" / "recorded" / "recording.json"


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def entries(root: Path) -> dict[str, tuple[float, str, str, list[str]]]:
    seen: dict[str, tuple[float, str, str, list[str]]] = {}
    for marker in root.rglob("entry.json"):
        d = marker.parent
        if d.name in seen:
            continue
        try:
            run = json.loads((d / "run.json").read_text())
            cells = json.loads((d / "executed.ipynb").read_text())["cells"]
        except (OSError, ValueError, KeyError):
            continue
        outcomes = [c for c in run.get("cells") or [] if isinstance(c, dict)]
        slow = []
        for c in sorted(outcomes, key=lambda c: -c.get("seconds", 0))[:3]:
            i = c.get("index")
            src = _source(cells[i]) if isinstance(i, int) and i < len(cells) else ""
            first = next((ln for ln in src.splitlines() if ln.strip() and not ln.startswith("#")), "")[:60]
            slow.append(f"{c.get('seconds', 0):.0f} s, cell {i} ({c.get('status')}): {first}")
        title = next((t.splitlines()[0][:60] for t in (_source(c).strip() for c in cells[:3]) if t), "")
        seen[d.name] = (float(run.get("seconds", 0) or 0), str(run.get("status")), title, slow)
    return seen


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: bench/cache_costs.py DIR  (a suite run's --basetemp)")
    found = entries(Path(args[0]))
    try:
        recorded = set(json.loads(RECORDINGS.read_text())["entries"])
    except (OSError, ValueError, KeyError):
        recorded = set()
    for key, (seconds, status, title, slow) in sorted(found.items(), key=lambda kv: -kv[1][0]):
        print(f"{seconds:7.1f} s  {key[:8]}  {status:12} {'(recorded) ' if key in recorded else ''}{title}")
        for line in slow:
            print(f"{'':20}{line}")
    live = {k: v for k, v in found.items() if k not in recorded}
    print(f"{sum(v[0] for v in live.values()):.0f} s in {len(live)} distinct executions run in the session"
          + (f"; {len(found) - len(live)} recorded ({sum(v[0] for k, v in found.items() if k in recorded):.0f} s when recorded)"
             if len(live) < len(found) else ""))


if __name__ == "__main__":
    main()
