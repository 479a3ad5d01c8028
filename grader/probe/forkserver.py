"""Probe fork server: runs INSIDE the sandbox, one per submission, never runs student code itself.

It imports torch and numpy once, then for each request forks a child that runs one probe
(worker.main in the request's directory) and exits. The child gets a fresh copy of a
clean interpreter in ~20 ms instead of a new Python with torch in ~1.5 s, and nothing a
probe does survives it: the next probe forks from the untouched server again.

Protocol (one JSON object per line): stdin {"dir": "p3", "wall_s": 30}; stdout
{"ready": true} once, then {"dir": "p3", "status": "exit:0" | "signal:9" | "timeout"}.
The grader never trusts these answers beyond "the probe finished": results are read
from files and judged in the grader's process.

The probes run as the server's uid, in its sandbox: the server makes itself non-dumpable
first (prctl PR_SET_DUMPABLE 0), so that no probe can ptrace it or open its
/proc/<pid>/mem, maps or environ to patch the process every later probe is forked from.
The forked probes inherit it; a probe may make itself dumpable again, never the server.
"""
import json
import os
import signal
import sys
import time

PR_SET_DUMPABLE, PR_GET_DUMPABLE = 4, 3


def _undumpable() -> bool:
    """Make this process non-dumpable; True when the kernel confirms it."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    except Exception:  # pragma: no cover - not Linux
        return False


UNDUMPABLE = _undumpable()  # before anything else: no probe exists yet

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # started with -I: make worker.py (copied beside this file) importable

import numpy  # noqa: E402,F401  (imported once, shared by every forked probe)

try:
    import torch

    torch.set_num_threads(1)
except Exception:  # pragma: no cover - the grader's environment has torch
    torch = None

import worker  # noqa: E402


def _reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _child(path: str, progress_w: int) -> None:
    try:
        os.setpgid(0, 0)  # its own group: a timeout kills the probe and whatever it spawned
        fd = os.open(os.path.join(path, "worker.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(fd, 1)  # the server's stdout is the grader's channel: never let a probe write there
        os.dup2(fd, 2)
        os.chdir(path)
        worker.main(path, progress_fd=progress_w)
    finally:
        os._exit(0)


def _budgets(path: str) -> dict:
    """Seconds allowed for loading and for each call (+1 s of slack), from calls.json."""
    try:
        with open(os.path.join(path, "calls.json")) as fh:
            job = json.load(fh)
        return {"load": float(job.get("load_timeout_s", 60)) + 1,
                "calls": [float(c.get("timeout_s", 20)) + 1 for c in job["calls"]]}
    except (OSError, ValueError, KeyError, TypeError):
        return {"load": 60.0, "calls": []}


def serve() -> None:
    _reply({"ready": True, "pid": os.getpid(), "undumpable": UNDUMPABLE})
    for line in sys.stdin:
        try:
            req = json.loads(line)
            name = str(req["dir"])
            wall = float(req.get("wall_s", 30))
        except (ValueError, KeyError, TypeError):
            _reply({"error": "bad request"})
            continue
        path = os.path.join(HERE, name)
        if os.path.dirname(os.path.abspath(path)) != HERE or not os.path.isdir(path):
            _reply({"dir": name, "status": "bad-dir"})
            continue
        budgets = _budgets(path)  # read before any student code runs
        progress_r, progress_w = os.pipe()
        os.set_blocking(progress_r, False)
        pid = os.fork()
        if pid == 0:
            os.close(progress_r)
            _child(path, progress_w)
        os.close(progress_w)
        start = time.monotonic()
        hard = start + wall  # the whole probe, whatever the markers say
        phase_end = start + budgets["load"]  # loading the module, then each call in turn
        current, pending = -1, b""
        status = None
        while status is None:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = f"exit:{os.WEXITSTATUS(code)}" if os.WIFEXITED(code) else f"signal:{os.WTERMSIG(code)}"
                break
            try:
                pending += os.read(progress_r, 4096)
            except BlockingIOError:
                pass
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                try:
                    i = int(line)
                except ValueError:
                    continue
                if current < i < len(budgets["calls"]):  # markers only move forward
                    current = i
                    phase_end = time.monotonic() + budgets["calls"][i]
            now = time.monotonic()
            if now > hard or now > phase_end:
                for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):  # noqa: B023 - called at once
                    try:
                        target()
                    except OSError:
                        pass
                os.waitpid(pid, 0)
                status = "timeout" if current < 0 else f"timeout:call {current}"
                break
            time.sleep(0.005)
        os.close(progress_r)
        try:
            os.killpg(pid, signal.SIGKILL)  # leftovers of a finished probe
        except OSError:
            pass
        _reply({"dir": name, "status": status})


if __name__ == "__main__":
    serve()
