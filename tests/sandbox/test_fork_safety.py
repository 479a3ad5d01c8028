"""Starting a sandboxed process while another thread of the grader is in a BLAS call does
not deadlock (grader/childenv.py fork_safe_blas). The attack corpus hung CI's suite for 30
minutes on it: one grading thread forked a probe server while another was inside the
binary adder's matrix products, and OpenBLAS's fork handler waited forever. Each run is a
child process under a timeout, so a deadlock fails the test instead of hanging the suite."""
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def race(n: int, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess | None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)}
    try:
        return subprocess.run([sys.executable, str(HERE / "blas_fork_race.py"), str(n), *extra], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None  # deadlocked


def test_sandboxed_starts_beside_a_blas_call_never_deadlock():
    for _ in range(2):
        done = race(600)
        assert done is not None, "a sandboxed start deadlocked beside a BLAS call"
        assert done.returncode == 0 and done.stdout.startswith("ok") and "not limited" not in done.stdout, done.stderr[-2000:]
