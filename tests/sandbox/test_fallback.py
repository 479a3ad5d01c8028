"""The weaker modes still run jobs and say plainly what they do not protect."""
from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from sandbox_helpers import PY, alive, processes_running, run, wait_for

from grader.sandbox import Limits, detect_isolation


def test_rlimits_mode_from_env_runs_and_lists_what_is_missing(monkeypatch, make_sandbox):
    monkeypatch.setenv("GRADER_SANDBOX", "rlimits")
    iso = detect_isolation()
    assert iso.mode == "rlimits"
    assert iso.missing and any("network" in m for m in iso.missing)
    assert "no-network" not in iso.features
    json.dumps(iso.to_dict())  # goes into reports as-is
    sb = make_sandbox(iso, limits=Limits(file_size_bytes=1 << 20))
    code = ("import json, os, sys\n"
            "try:\n    open('big', 'wb').write(b'x' * (2 << 20)); e = None\n"
            "except OSError as ex:\n    e = ex.errno\n"
            "print(json.dumps([os.getuid(), sys.version, e, 'JPY_PARENT_PID' in os.environ, os.environ['HOME']]))")
    r = run(sb, code)
    assert r.returncode == 0, r.stderr
    uid, version, err, has_jpy, home = json.loads(r.stdout)
    assert uid == os.geteuid() == sb.isolation.uid
    assert err == errno.EFBIG and not has_jpy and home == str(sb.workdir)


def test_rlimits_mode_still_kills_memory_bombs_and_escapees(make_sandbox):
    iso = detect_isolation("rlimits")
    if "cgroup-memory" not in iso.features:
        pytest.skip("no writable memory cgroup on this machine")
    sb = make_sandbox(iso, limits=Limits(memory_bytes=256 << 20))
    r = run(sb, "a = []\nwhile True: a.append(b'x' * (16 << 20))")
    assert r.returncode != 0 and sb.oom_killed()
    code = ("import subprocess, time; subprocess.Popen(['sleep', '303'], start_new_session=True); "
            "print('spawned', flush=True); time.sleep(300)")
    p = sb.popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "spawned"
    sleepers: list[int] = []
    assert wait_for(lambda: sleepers.extend(processes_running(sb, b"sleep", b"303")) or sleepers)
    assert sleepers
    sb.close()
    assert wait_for(lambda: not any(alive(pid) for pid in sleepers + [p.pid]), 2)


def test_none_mode_is_explicit_and_loud(make_sandbox):
    iso = detect_isolation("none")
    assert iso.mode == "none" and iso.missing and "disabled" in iso.missing[0]
    r = run(make_sandbox(iso), "import os; print(os.environ.get('OMP_NUM_THREADS'))")
    assert r.stdout.strip() == "1"


def test_unknown_mode_is_rejected(monkeypatch):
    from grader.errors import UsageError

    monkeypatch.setenv("GRADER_SANDBOX", "docker")
    with pytest.raises(UsageError, match="docker.*expected one of bwrap"):
        detect_isolation()


def test_a_bad_sandbox_mode_is_a_usage_error_at_the_command_line(tmp_path):
    """Exit code 2 and one line saying what to set, not a traceback."""
    import os
    import subprocess
    import sys

    import zipfile

    root = Path(__file__).resolve().parents[2]
    with zipfile.ZipFile(tmp_path / "ab1234.zip", "w") as z:
        z.writestr("notes.txt", "nothing to grade")
    proc = subprocess.run([sys.executable, "-m", "grader", "run", str(tmp_path / "ab1234.zip"), "--rubric",
                           str(root / "tests" / "fixtures" / "mini_rubric"), "--out", str(tmp_path / "out")],
                          env={**os.environ, "GRADER_SANDBOX": "docker"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr and "unknown sandbox mode 'docker'" in proc.stderr
