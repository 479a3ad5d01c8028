"""Fixtures for the whole suite; the factories live in tests/factories.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `from factories import ...` from any test dir

from factories import MINI_RUBRIC  # noqa: E402


@pytest.fixture(scope="session")
def mini_rubric():
    from grader.rubric import load_rubric

    return load_rubric(MINI_RUBRIC)


@pytest.fixture
def grade_mini(tmp_path, mini_rubric):
    """Grade a zip with the mini rubric; returns the report dict."""
    from grader.pipeline import Env, grade

    def run(zip_path: Path, **env_kw):
        env = Env(rubric=mini_rubric, out_dir=tmp_path / "out", **env_kw)
        return grade(zip_path, env).to_dict()

    return run


# -- the fuzz-case count in the terminal summary, also from xdist worker processes --------

def pytest_sessionfinish(session, exitstatus):
    from fuzzcount import COUNTS

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput["fuzz_counts"] = dict(COUNTS)


def pytest_testnodedown(node, error):
    from fuzzcount import COUNTS

    COUNTS.update(getattr(node, "workeroutput", {}).get("fuzz_counts", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from fuzzcount import COUNTS

    if COUNTS:
        terminalreporter.write_sep("-", "fuzz cases run")
        for name, n in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{name}: {n}")
        terminalreporter.write_line(f"total: {sum(COUNTS.values())}")
