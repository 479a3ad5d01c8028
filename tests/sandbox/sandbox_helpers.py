"""Helpers for the sandbox tests (run code in a sandbox, look for leftover processes)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from grader.sandbox import Sandbox

PY = sys.executable


def run(sb: Sandbox, code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run python code in the sandbox, wait, return the completed process (text)."""
    p = sb.popen([PY, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        sb.kill_all()
        out, err = p.communicate()
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def uid_processes(uid: int) -> list[int]:
    """Live (non-zombie) host processes whose real uid is uid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return False


def wait_for(predicate, timeout: float = 5.0) -> bool:
    """Poll predicate until true (processes start and die asynchronously)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def processes_running(sb, argv0: bytes, marker: bytes) -> list[int]:
    """Host pids in the job's cgroup whose command line is argv0 ... marker (after exec)."""
    found = []
    for pid in sb.pids():
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(argv0) and marker in cmd:
            found.append(pid)
    return found
