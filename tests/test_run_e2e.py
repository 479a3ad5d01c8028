"""`grader run` end to end on the small rubric: real zips, real kernels, the default sandbox."""
import json
import os
import subprocess
import sys
import time

import pytest

from factories import MINI_RUBRIC, FIXTURES, make_nb, make_zip, mini_files
from isolation_expect import assert_strongest_isolation

pytestmark = pytest.mark.slow

DEFS = "def add(a, b):\n    return a + b\n\ndef count():\n    return 42"


def items(report):
    return {i["id"]: i for i in report["items"]}


def test_complete_submission_scores_every_auto_item(tmp_path, grade_mini):
    r = grade_mini(make_zip(tmp_path / "ab1234.zip", mini_files()))
    its = items(r)
    assert set(its) == {"mini.add", "mini.count", "other.count", "mini_theory.q1"}
    assert [its[k]["status"] for k in ("mini.add", "mini.count", "other.count")] == ["passed"] * 3
    assert its["mini_theory.q1"]["status"] == "pending"
    assert r["score"] == 20 and r["max_score"] == 30 and r["penalties"] == []
    assert all(nb["executed"] for nb in r["notebooks"])
    assert_strongest_isolation(r)
    assert r["environment"]["seeds"] == {"mini.ipynb": 7, "other.ipynb": 7}
    assert (tmp_path / "out" / "ab1234" / "report.json").exists()
    assert "Score: 20 / 30" in (tmp_path / "out" / "ab1234" / "feedback.md").read_text()


def test_wrong_answer_costs_the_item_only(tmp_path, grade_mini):
    bad = make_nb("def add(a, b):\n    return a - b\n\ndef count():\n    return 42")
    r = grade_mini(make_zip(tmp_path / "ab1234.zip", mini_files(mini__ipynb=bad)))
    its = items(r)
    assert its["mini.add"]["status"] == "failed" and its["mini.add"]["score"] == 0
    assert "values differ; worst at index" in its["mini.add"]["feedback"]
    assert its["mini.count"]["score"] == 4 and its["other.count"]["score"] == 10


def test_renamed_function_gets_a_precise_message(tmp_path, grade_mini):
    nb = make_nb("def Add(a, b):\n    return a + b\n\ndef count():\n    return 42")
    r = grade_mini(make_zip(tmp_path / "ab1234.zip", mini_files(mini__ipynb=nb)))
    fb = items(r)["mini.add"]["feedback"]
    assert "no function or class `add` in mini.ipynb; found `Add`" in fb


def test_misnamed_late_submission(tmp_path, grade_mini):
    files = mini_files(other__ipynb=None)
    files["other_ab1234.ipynb"] = make_nb("def count():\n    return 42")
    z = make_zip(tmp_path / "ab1234.zip", files, date_time=(2026, 3, 2, 8, 0, 0))
    r = grade_mini(z)
    assert {p["rule"]: p["percent"] for p in r["penalties"]} == {"naming": 10, "late": 20}
    assert r["raw_score"] == 20 and r["score"] == pytest.approx(20 - 0.3 * 30)
    assert items(r)["other.count"]["status"] == "passed"


def test_too_late_is_reported_and_scores_zero(tmp_path, grade_mini):
    t0 = time.monotonic()
    r = grade_mini(make_zip(tmp_path / "ab1234.zip", mini_files(), date_time=(2026, 3, 5, 8, 0, 0)))
    assert r["score"] == 0 and not r["submission"]["accepted"]
    assert [p["rule"] for p in r["penalties"]] == ["too_late"]
    assert all(nb["status"] == "not_run" for nb in r["notebooks"])
    assert time.monotonic() - t0 < 20  # nothing was executed


def test_empty_zip_gets_a_report(tmp_path, grade_mini):
    r = grade_mini(make_zip(tmp_path / "ab1234.zip", {}))
    assert r["score"] == 0 and {nb["status"] for nb in r["notebooks"]} == {"missing"}
    assert any(f["code"] == "zip_empty" for f in r["findings"])


def test_corrupt_zip_gets_a_clear_error_and_a_report(tmp_path, grade_mini):
    z = tmp_path / "ab1234.zip"
    z.write_bytes(b"PK\x03\x04 definitely truncated")
    r = grade_mini(z)
    assert r["score"] == 0 and r["netid"] == "ab1234"
    assert any(f["code"] == "zip_unreadable" and "re-create it" in f["message"] for f in r["findings"])
    assert (tmp_path / "out" / "ab1234" / "report.json").exists()


def test_invalid_notebook_is_not_executable(tmp_path, grade_mini):
    r = grade_mini(make_zip(tmp_path / "ab1234.zip", mini_files(mini__ipynb="{oops")))
    nbs = {nb["notebook"]: nb for nb in r["notebooks"]}
    assert nbs["mini.ipynb"]["status"] == "invalid" and nbs["other.ipynb"]["executed"]
    assert [p["rule"] for p in r["penalties"]] == ["not_executable"]
    assert items(r)["other.count"]["score"] == 10 and items(r)["mini.add"]["score"] == 0


@pytest.mark.parametrize("attack,status", [
    ("while True:\n    pass", "timeout"),
    ("import os\nos._exit(0)", "dead_kernel"),
    ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.01)", "timeout"),
])
def test_broken_notebook_costs_only_itself(tmp_path, grade_mini, attack, status):
    nb = make_nb(DEFS, attack, "print('never here')")
    t0 = time.monotonic()
    r = grade_mini(make_zip(tmp_path / "ab1234.zip", mini_files(mini__ipynb=nb)))
    elapsed = time.monotonic() - t0
    nbs = {n["notebook"]: n for n in r["notebooks"]}
    assert nbs["mini.ipynb"]["status"] == status and not nbs["mini.ipynb"]["executed"]
    assert nbs["other.ipynb"]["executed"]
    assert items(r)["other.count"]["score"] == 10
    (pen,) = r["penalties"]
    assert pen["rule"] == "not_executable" and "mini.ipynb" in pen["reason"]
    not_run = [c for c in nbs["mini.ipynb"]["cells"] if c["status"] == "not_run"]
    assert [c["index"] for c in not_run] == [2]
    assert elapsed < 30 + 30  # the rubric's notebook deadline plus start-up, never the watchdog


def test_output_flood_is_capped(tmp_path, grade_mini):
    nb = make_nb(DEFS, "import sys\nfor _ in range(1000):\n    sys.stdout.write('x' * 1_000_000)\n", "print('after the flood')")
    r = grade_mini(make_zip(tmp_path / "ab1234.zip", mini_files(mini__ipynb=nb)))
    nbs = {n["notebook"]: n for n in r["notebooks"]}
    assert items(r)["other.count"]["score"] == 10 and items(r)["mini.add"]["score"] == 6
    assert nbs["mini.ipynb"]["output_truncated"] or nbs["mini.ipynb"]["status"] in ("executor_crashed", "dead_kernel")


def test_one_gigabyte_print_does_not_take_the_grader_down(tmp_path, grade_mini):
    nb = make_nb(DEFS, "print('x' * 10**9)", "print('after')")
    r = grade_mini(make_zip(tmp_path / "ab1234.zip", mini_files(mini__ipynb=nb)))
    assert items(r)["other.count"]["score"] == 10
    assert r["netid"] == "ab1234"


def test_skipped_colab_lines_are_reported(tmp_path, grade_mini):
    nb = make_nb("from google.colab import drive\ndrive.mount('/content/drive')\n!pip install nothing-at-all\n" + DEFS)
    r = grade_mini(make_zip(tmp_path / "ab1234.zip", mini_files(mini__ipynb=nb)))
    mini = next(n for n in r["notebooks"] if n["notebook"] == "mini.ipynb")
    assert mini["executed"], mini
    (skip,) = [c for c in mini["cells"] if c["status"] == "skipped"]
    assert "mounts Google Drive" in skip["note"] and "installs packages" in skip["note"]
    assert items(r)["mini.add"]["score"] == 6


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(FIXTURES))
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_cli_run_prints_summary_and_exits_zero(tmp_path):
    z = make_zip(tmp_path / "ab1234.zip", mini_files(mini__ipynb=make_nb("def add(a, b):\n    return a * b")))
    p = _cli("run", str(z), "--rubric", str(MINI_RUBRIC), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "TOTAL ab1234: 10 / 30" in p.stdout and "mini.add" in p.stdout
    report = json.loads((tmp_path / "o" / "ab1234" / "report.json").read_text())
    assert report["score"] == 10


def test_cli_errors_exit_nonzero_with_a_message(tmp_path):
    p = _cli("run", str(tmp_path / "nope.zip"), "--rubric", str(MINI_RUBRIC), cwd=tmp_path)
    assert p.returncode == 2 and "does not exist" in p.stderr
    z = make_zip(tmp_path / "ab1234.zip", mini_files())
    p = _cli("run", str(z), "--rubric", str(tmp_path), cwd=tmp_path)
    assert p.returncode == 2 and "assignment.yaml" in p.stderr
    p = _cli("run", str(z), "--rubric", str(MINI_RUBRIC), "--submitted-at", "yesterday", cwd=tmp_path)
    assert p.returncode == 2 and "not a date-time" in p.stderr


def test_execution_cache_runs_a_notebook_once(tmp_path, grade_mini):
    cache = tmp_path / "cache"
    z1 = make_zip(tmp_path / "a" / "ab1234.zip", mini_files())
    z2 = make_zip(tmp_path / "b" / "cd5678.zip", mini_files(other__ipynb=make_nb("def count():\n    return 41")))
    r1 = grade_mini(z1, exec_cache=cache)
    r2 = grade_mini(z2, exec_cache=cache)
    cached = {n["notebook"]: n["cached"] for n in r2["notebooks"]}
    assert not any(n["cached"] for n in r1["notebooks"])
    assert cached == {"mini.ipynb": True, "other.ipynb": False}  # other.ipynb changed
    assert items(r2)["mini.add"]["score"] == 6 and items(r2)["other.count"]["score"] == 0


def test_job_dirs_of_a_killed_grader_are_swept(tmp_path):
    """A grader killed mid-job (SIGKILL, a batch worker) leaves its job dir and any
    quota mount; the next grading on the same scratch root removes them, and only them."""
    import subprocess
    import sys

    from grader.pipeline import OWNER_FILE, _process_identity, sweep_stale_jobs
    from grader.sandbox import disk

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = _process_identity(dead.pid)
    dead.wait()
    stale, live, kept = tmp_path / "grader-stale", tmp_path / "grader-live", tmp_path / "grader-kept"
    for d in (stale, live, kept):
        (d / "w").mkdir(parents=True)
    (stale / OWNER_FILE).write_text(f"{ident}\n")
    (live / OWNER_FILE).write_text(_process_identity(os.getpid()) + "\n")
    mounted = os.geteuid() == 0 and disk.mount_quota(stale / "w", 1 << 20, 0) is None
    assert sweep_stale_jobs(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and kept.exists()
    if mounted:
        assert disk._mounts_under(tmp_path) == []
