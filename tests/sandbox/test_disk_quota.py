"""The per-job disk quota: the work dir is a size-limited tmpfs while the job runs."""
from __future__ import annotations

import json
import os
import stat

import pytest

from grader.sandbox import Limits, Sandbox, SandboxError, detach_quotas, disk

from sandbox_helpers import run

MiB = 1 << 20

FILL = """
import json, os
written = 0
err = None
try:
    for i in range(100):
        with open(f"f{i}.bin", "wb") as fh:
            fh.write(b"x" * (1 << 20))
            fh.flush()
        written += 1
except OSError as exc:
    err = exc.errno
os.mkfifo("pipe")
os.symlink("/etc/passwd", "link")
print(json.dumps({"written": written, "errno": err, "mounted": os.path.ismount(os.getcwd())}))
"""


@pytest.fixture
def quota_iso(bwrap_iso):
    if "disk-quota" not in bwrap_iso.features:
        pytest.fail(f"no disk quota on this machine: {bwrap_iso.missing}")
    return bwrap_iso


def test_writes_stop_at_the_quota_and_the_files_survive_close(quota_iso, make_sandbox):
    sb = make_sandbox(quota_iso, limits=Limits(disk_bytes=8 * MiB))
    (sb.workdir / "given.txt").write_text("support file")  # written by the grader while open
    res = json.loads(run(sb, FILL).stdout)
    assert res["errno"] == 28 and 4 <= res["written"] < 8, res  # ENOSPC below 8 MiB
    assert res["mounted"]
    sb.close()
    assert not os.path.ismount(sb.workdir)  # a plain dir again
    names = set(os.listdir(sb.workdir))
    assert {"given.txt", "f0.bin", f"f{res['written'] - 1}.bin", "link"} <= names
    assert "pipe" not in names  # FIFOs are never copied out (a reader would block)
    assert os.readlink(sb.workdir / "link") == "/etc/passwd"  # a link stays a link
    assert os.stat(sb.workdir / "f0.bin", follow_symlinks=False).st_uid == 0  # given back to root
    assert not disk._mounts_under(sb.workdir.parent)


def test_starting_files_are_kept_and_counted(quota_iso, jobs_root):
    work = jobs_root / "bob"
    work.mkdir()
    (work / "res").mkdir()
    (work / "res" / "helpers.py").write_text("X = 1\n")
    os.chmod(work / "res" / "helpers.py", 0o640)
    with Sandbox(work, Limits(disk_bytes=4 * MiB), quota_iso, name="bob") as sb:
        assert os.path.ismount(work)
        out = run(sb, "print(open('res/helpers.py').read())").stdout
        assert out.strip() == "X = 1"
    assert stat.S_IMODE(os.stat(work / "res" / "helpers.py").st_mode) == 0o640
    (work / "big.bin").write_bytes(b"\0" * (6 * MiB))
    with pytest.raises(SandboxError, match="do not fit the disk quota"):
        Sandbox(work, Limits(disk_bytes=4 * MiB), quota_iso, name="bob")
    # the failed set-up left the dir as it was
    assert not os.path.ismount(work) and (work / "big.bin").stat().st_size == 6 * MiB


def test_no_quota_when_disk_bytes_is_none(quota_iso, make_sandbox):
    sb = make_sandbox(quota_iso, limits=Limits(disk_bytes=None))
    assert not os.path.ismount(sb.workdir)


def test_detach_quotas_unmounts_what_a_killed_job_left(quota_iso, jobs_root):
    # An executor killed by the watchdog never reaches Sandbox.close(): its mount stays
    # until the pipeline's clean-up detaches everything under the job dir.
    for name in ("a", "b"):
        (jobs_root / name).mkdir()
        assert disk.mount_quota(jobs_root / name, 2 * MiB, os.geteuid()) is None
    assert len(disk._mounts_under(jobs_root)) == 2
    detach_quotas(jobs_root)
    assert disk._mounts_under(jobs_root) == []


def test_disk_bytes_is_validated():
    with pytest.raises(ValueError, match="disk_bytes"):
        Limits(disk_bytes=1000)
