"""Where a test-suite run's CPU goes: runs a command (by default the README's test command)
while sampling /proc, and prints the busy core-seconds of the whole machine and of each
kind of process (notebook kernels, executors, probe workers, pytest workers, Dask workers,
the browser, pip, ...).

    .venv/bin/python bench/suite_cpu.py                      # the whole suite (~35 min on 2 cores)
    .venv/bin/python bench/suite_cpu.py -- -m "not slow"     # extra pytest arguments
    .venv/bin/python bench/suite_cpu.py --json cpu.json --cmd "bash .ci/run"

The suite is CPU-bound on a 2-core machine, so its wall time is about the machine's busy
core-seconds / 2: the per-kind split says which cost to cut. A process is charged its
utime + stime at the last sample that saw it (every --interval seconds), so processes that
live shorter than one interval are missed; the machine-wide figure (/proc/stat) is exact
and the difference is printed as "unsampled".
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")

# (kind, substrings of the command line, any of which marks it); the first match wins
KINDS = (
    ("kernel", ("ipykernel_launcher", "ipykernel")),
    ("executor", ("grader.execute.executor",)),
    ("probe worker", ("grader/probe/", "-I worker.py", "-I forkserver.py", "grader.probe")),
    ("dask / multiprocessing worker", ("distributed", "dask", "multiprocessing.spawn")),
    ("browser", ("chromium", "chrome")),
    ("pip / env build", ("-m pip", "bin/pip", "-m venv", "virtualenv")),
    ("sandbox (bwrap)", ("bwrap",)),
    # xdist's workers are execnet gateways: python -c "import sys;exec(eval(sys.stdin.readline()))"
    ("pytest", ("exec(eval(sys.stdin.readline()))", "pytest")),
    ("grader CLI", ("-m grader", "grader ")),
)


def machine_busy_s() -> float:
    """Busy core-seconds since boot: every /proc/stat cpu field but idle and iowait."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


def kind_of(cmdline: str) -> str:
    for kind, marks in KINDS:
        if any(m in cmdline for m in marks):
            return kind
    return "other"


def sample(seen: dict[int, tuple[str, float, str]], skip: set[int]) -> None:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid in skip:
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if pid not in seen:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            else:
                cmd = seen[pid][2]
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        cpu = (int(rest[11]) + int(rest[12])) / TICK  # utime, stime (fields 14 and 15)
        seen[pid] = (kind_of(cmd), cpu, cmd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cmd", default=None, help="the command to measure (default: the README's pytest command)")
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args()
    cmd = shlex.split(a.cmd) if a.cmd else [str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", *a.pytest_args]
    # processes alive before the run are not the run's (their CPU so far is not charged either)
    before: dict[int, tuple[str, float, str]] = {}
    sample(before, set())
    baseline = {pid: cpu for pid, (_, cpu, _) in before.items()}
    seen: dict[int, tuple[str, float, str]] = {}
    busy0, t0 = machine_busy_s(), time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    skip = {os.getpid()}
    while proc.poll() is None:
        sample(seen, skip)
        time.sleep(a.interval)
    wall, busy = time.monotonic() - t0, machine_busy_s() - busy0
    per_kind: dict[str, float] = {}
    top: dict[str, float] = {}
    for pid, (kind, cpu, cmdline) in seen.items():
        used = cpu - baseline.get(pid, 0.0) if pid in baseline and before[pid][2] == cmdline else cpu
        per_kind[kind] = per_kind.get(kind, 0.0) + used
        if kind == "other":
            top[cmdline[:100]] = top.get(cmdline[:100], 0.0) + used
    sampled = sum(per_kind.values())
    print(f"\nexit {proc.returncode}; wall {wall:.0f} s; machine busy {busy:.0f} core-s "
          f"({busy / max(wall, 1e-9):.2f} cores on average, {os.cpu_count()} present)")
    for kind, s in sorted(per_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:30} {s:8.0f} core-s  {100 * s / max(busy, 1e-9):5.1f} %")
    print(f"  {'unsampled':30} {busy - sampled:8.0f} core-s  (processes shorter than {a.interval} s, the rest of the machine)")
    if top:
        print("  'other', the largest:")
        for c, s in sorted(top.items(), key=lambda kv: -kv[1])[:8]:
            print(f"    {s:7.0f}  {c}")
    if a.json:
        Path(a.json).write_text(json.dumps({"wall_s": wall, "busy_core_s": busy, "per_kind": per_kind,
                                            "returncode": proc.returncode}, indent=1))
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
