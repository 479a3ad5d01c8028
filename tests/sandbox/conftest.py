"""Fixtures for the sandbox suite: real sandboxes, real attacks, no mocks."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from grader.sandbox import Isolation, Limits, Sandbox, detect_isolation

from sandbox_helpers import PY  # noqa: F401


@pytest.fixture(scope="session")
def bwrap_iso() -> Isolation:
    from isolation_expect import bwrap_required

    if shutil.which("bwrap") is None:
        if bwrap_required():
            pytest.fail("GRADER_REQUIRE_BWRAP is set but bubblewrap is not installed (apt-get install bubblewrap)")
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
