"""Reading job outputs as root must not follow what the job planted."""
from __future__ import annotations

import os

import pytest

from grader.sandbox import read_bytes


def test_reads_a_regular_file(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "r.json").write_text("{}")
    assert read_bytes(tmp_path, "out/r.json", 100) == b"{}"


@pytest.mark.parametrize("planted", ["file_link", "dir_link", "fifo", "dotdot", "too_big"])
def test_refuses_planted_paths(tmp_path, planted):
    secret = tmp_path.parent / f"secret-{tmp_path.name}"
    secret.write_text("reference solution")
    rel = "x"
    if planted == "file_link":
        os.symlink(secret, tmp_path / "x")
    elif planted == "dir_link":
        os.symlink(tmp_path.parent, tmp_path / "d")
        rel = f"d/{secret.name}"
    elif planted == "fifo":
        os.mkfifo(tmp_path / "x")
    elif planted == "dotdot":
        rel = f"../{secret.name}"
    else:
        (tmp_path / "x").write_bytes(b"0" * 101)
    with pytest.raises(OSError):
        read_bytes(tmp_path, rel, 100)
