"""grader.childenv: the one place the single-thread settings of child processes live."""
import os

from grader.childenv import SINGLE_THREAD, single_threaded_env


def test_single_threaded_env_keeps_base_and_extras_and_forces_one_thread():
    env = single_threaded_env({"PATH": "/x", "OMP_NUM_THREADS": "8"}, HOME="/h")
    assert env["PATH"] == "/x" and env["HOME"] == "/h"
    assert all(env[k] == "1" for k in SINGLE_THREAD)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_no_base_means_an_empty_environment_not_ours():
    env = single_threaded_env()
    assert set(env) == {*SINGLE_THREAD, "PYTHONDONTWRITEBYTECODE"}
    assert "PATH" not in env or env["PATH"] != os.environ.get("PATH")


def test_the_thread_settings_are_written_once_under_grader():
    """Nothing under grader/ spells a thread variable with its value but childenv."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "grader"
    hits = [str(p.relative_to(root)) for p in root.rglob("*.py")
            if p.name != "childenv.py" and ('OMP_NUM_THREADS="1"' in p.read_text() or '"OMP_NUM_THREADS": "1"' in p.read_text())]
    assert hits == []

