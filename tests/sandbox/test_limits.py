"""Attacks on availability: each is stopped by a limit, and the sandbox cleans up after it."""
from __future__ import annotations

import errno
import os
import subprocess
import time

from sandbox_helpers import PY, alive, processes_running, run, wait_for, uid_processes

from grader.sandbox import Limits, Sandbox

FORK_BOMB = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""


def test_fork_bomb_is_capped_by_pids_max_and_cleaned_up(bwrap_iso, make_sandbox, jobs_root):
    limits = Limits(max_processes=32)
    sb = make_sandbox(bwrap_iso, limits=limits)
    cg_dirs = list(sb._cgroups.dirs.values())
    p = sb.popen([PY, "-c", FORK_BOMB], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not sb.pids_limit_hit() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sb.pids_limit_hit(), "pids.max never refused a fork"
    assert len(sb.pids()) <= limits.max_processes
    t = time.monotonic()
    sb.close()
    assert time.monotonic() - t < 5
    assert p.poll() is not None
    assert uid_processes(sb.uid) == []
    assert not any(d.exists() for d in cg_dirs)
    # The grader survives and the next job runs normally.
    with Sandbox(jobs_root / "next", isolation=bwrap_iso) as sb2:
        assert run(sb2, "print('alive')").stdout.strip() == "alive"


def test_memory_bomb_is_oom_killed_and_reported(bwrap_iso, make_sandbox):
    sb = make_sandbox(bwrap_iso, limits=Limits(memory_bytes=256 << 20))
    r = run(sb, "a = []\nwhile True: a.append(b'x' * (16 << 20))", timeout=60)
    assert r.returncode != 0
    assert sb.oom_killed()
    assert sb.peak_memory_bytes() is not None and sb.peak_memory_bytes() <= 256 << 20
    sb.close()
    assert sb.oom_killed()  # still answerable after close (for the report)


def test_quiet_job_is_not_reported_as_oom(bwrap_iso, make_sandbox):
    sb = make_sandbox(bwrap_iso, limits=Limits(memory_bytes=256 << 20))
    assert run(sb, "x = b'x' * (32 << 20)").returncode == 0
    assert not sb.oom_killed()


def test_file_larger_than_limit_fails_with_efbig(bwrap_iso, make_sandbox):
    sb = make_sandbox(bwrap_iso, limits=Limits(file_size_bytes=1 << 20))
    code = """
import errno
try:
    with open("big.bin", "wb") as f:
        f.write(b"x" * (2 << 20))
    print("WROTE")
except OSError as e:
    print(e.errno)
"""
    r = run(sb, code)
    assert r.stdout.strip() == str(errno.EFBIG), r.stderr
    assert (sb.workdir / "big.bin").stat().st_size == 1 << 20


def test_new_session_child_does_not_outlive_close(bwrap_iso, make_sandbox):
    sb = make_sandbox(bwrap_iso)
    # Like a live kernel: the job keeps running while its detached child hides.
    code = ("import subprocess, time; subprocess.Popen(['sleep', '301'], start_new_session=True, "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print('spawned', flush=True); "
            "time.sleep(300)")
    p = sb.popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "spawned"
    sleepers: list[int] = []
    assert wait_for(lambda: sleepers.extend(processes_running(sb, b"sleep", b"301")) or sleepers)
    assert sleepers and all(alive(pid) for pid in sleepers)
    sb.close()
    assert p.poll() is not None
    assert wait_for(lambda: not any(alive(pid) for pid in sleepers), 2)
    assert uid_processes(sb.uid) == []


def test_cpu_seconds_limit_kills_busy_loop(bwrap_iso, make_sandbox):
    sb = make_sandbox(bwrap_iso, limits=Limits(cpu_seconds=1))
    t = time.monotonic()
    r = run(sb, "while True: pass", timeout=30)
    assert r.returncode != 0
    assert time.monotonic() - t < 10


def test_workdir_is_returned_to_root_without_setuid_bits(bwrap_iso, make_sandbox):
    sb = make_sandbox(bwrap_iso)
    code = ("import os; open('tool', 'w').write('x'); os.chmod('tool', 0o4755); "
            "os.symlink('/etc/passwd', 'link')")
    assert run(sb, code).returncode == 0
    assert os.stat(sb.workdir / "tool").st_uid == sb.uid
    sb.close()
    st = os.stat(sb.workdir / "tool")
    assert st.st_uid == 0 and not st.st_mode & 0o6000
    assert os.stat("/etc/passwd").st_uid == 0  # the symlink was not followed
    assert os.lstat(sb.workdir / "link").st_uid == 0
