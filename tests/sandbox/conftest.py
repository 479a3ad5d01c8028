"""Fixtures for the sandbox suite: real sandboxes, real attacks, no mocks."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader.sandbox import Isolation, Limits, Sandbox, detect_isolation

PY = sys.executable


@pytest.fixture(scope="session")
def bwrap_iso() -> Isolation:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed (apt-get install bubblewrap): bwrap mode untestable")
    iso = detect_isolation("bwrap")
    if iso.mode != "bwrap":
        pytest.fail(f"bubblewrap is installed but unusable: {iso.missing}")
    return iso


@pytest.fixture
def jobs_root():
    """A job root outside /tmp (the sandbox's /tmp is private anyway), 0700 like the executor's."""
    root = Path(tempfile.mkdtemp(prefix="grader-sandbox-test-", dir="/var/tmp"))
    os.chmod(root, 0o700)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def make_sandbox(jobs_root):
    made: list[Sandbox] = []

    def _make(isolation: Isolation, name: str = "alice", limits: Limits = Limits(), **kw) -> Sandbox:
        sb = Sandbox(jobs_root / name, limits, isolation, name=name, **kw)
        made.append(sb)
        return sb

    yield _make
    for sb in made:
        sb.close()


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
