"""Overhead of the sandbox: `python -c pass` and a kernel start, inside vs outside.

    .venv/bin/python tests/sandbox/measure_overhead.py [runs]
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client import AsyncKernelManager
from jupyter_core.utils import run_sync

from grader.sandbox import Sandbox, SandboxedKernelManager, detect_isolation


def _median(f, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _kernel(km_factory) -> None:
    km = km_factory()
    async def go():
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    run_sync(go)()


def main(runs: int = 7) -> None:
    iso = detect_isolation()
    root = Path(tempfile.mkdtemp(prefix="grader-overhead-"))
    plain = lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)  # noqa: E731

    def sandboxed():
        with Sandbox(root / "w", isolation=iso) as sb:
            assert sb.popen([sys.executable, "-c", "pass"]).wait() == 0

    def sandboxed_only_run(sb=[]):  # noqa: B006 - never mutated
        pass

    print(f"isolation: {iso.mode}")
    print(f"python -c pass, plain:              {_median(plain, runs) * 1000:7.1f} ms")
    print(f"python -c pass, Sandbox()+run+close: {_median(sandboxed, runs) * 1000:7.1f} ms")
    with Sandbox(root / "w2", isolation=iso) as sb:
        inside = _median(lambda: sb.popen([sys.executable, "-c", "pass"]).wait(), runs)
    print(f"python -c pass, in an open Sandbox:  {inside * 1000:7.1f} ms")
    print(f"kernel start+ready+shutdown, plain:  {_median(lambda: _kernel(AsyncKernelManager), runs // 2 + 1) * 1000:7.1f} ms")

    def sandboxed_kernel():
        with Sandbox(root / "k", isolation=iso) as sb:
            _kernel(lambda: SandboxedKernelManager(sandbox=sb))
    print(f"kernel start+ready+shutdown, sandbox:{_median(sandboxed_kernel, runs // 2 + 1) * 1000:7.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
