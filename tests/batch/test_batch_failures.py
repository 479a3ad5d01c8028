"""A worker that dies or a grader that raises still yields a report and a gradebook row.

Real multi-process LocalCluster, fake (instant) grading functions: no notebooks run.
"""
import csv
import io
import json
import os

import pytest

from factories import FIXTURES, MINI_RUBRIC
from batch_helpers import die_for_cd, hang_for_cd, raise_for_cd, spin_for_cd
from grader.batch import run_batch

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def zips(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([HERE, str(FIXTURES)]))  # workers import batch_helpers
    d = tmp_path / "in"
    d.mkdir()
    for netid in ("ab1234", "cd5678", "ef9012"):
        (d / f"{netid}.zip").write_bytes(netid.encode())  # the fake graders never open them
    return d


def gradebook(out):
    return list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text())))


@pytest.mark.parametrize("job_fn,reason", [(die_for_cd, "worker process grading this submission died"),
                                           (raise_for_cd, "RuntimeError: boom in the grader")])
def test_a_failed_grading_becomes_a_zero_row_with_the_reason(tmp_path, zips, job_fn, reason):
    out = tmp_path / "out"
    res = run_batch([zips], out, MINI_RUBRIC, workers=2, job_fn=job_fn, stream=io.StringIO())
    assert (res.total, res.graded, res.failed) == (3, 3, 1)
    rows = {r["netid"]: r for r in gradebook(out)}
    assert sorted(rows) == ["ab1234", "cd5678", "ef9012"]
    assert rows["cd5678"]["score"] == "0" and reason in rows["cd5678"]["notes"]
    assert rows["ab1234"]["score"] != "0" and rows["ab1234"]["notes"] == ""
    report = json.loads((out / "cd5678" / "report.json").read_text())
    assert report["score"] == 0 and {i["status"] for i in report["items"]} == {"error", "pending"}
    assert [f["code"] for f in report["findings"]] == ["grader_crash"]
    assert "not of the submission" in (out / "cd5678" / "feedback.md").read_text()
    # crashes are retried by the next run; what was graded is not
    res2 = run_batch([zips], out, MINI_RUBRIC, workers=1, job_fn=job_fn, stream=io.StringIO(), class_reports=False)
    assert (res2.graded, res2.skipped) == (1, 2)


@pytest.mark.parametrize("job_fn,reason", [
    (hang_for_cd, "took longer than the batch's limit of 3 s per submission"),  # its processes killed
    (spin_for_cd, "stuck past the --job-timeout limit"),  # the worker ended, retried once, then given up
])
def test_a_stuck_grading_is_stopped_at_the_job_timeout(tmp_path, zips, job_fn, reason):
    import subprocess
    import time

    t0 = time.monotonic()
    res = run_batch([zips], tmp_path / "out", MINI_RUBRIC, workers=2, job_fn=job_fn, stream=io.StringIO(),
                    job_timeout_s=3, class_reports=False)
    assert (res.total, res.graded, res.failed) == (3, 3, 1)
    assert time.monotonic() - t0 < 90
    report = json.loads((tmp_path / "out" / "cd5678" / "report.json").read_text())
    assert report["score"] == 0 and reason in report["findings"][0]["message"], report["findings"]
    assert json.loads((tmp_path / "out" / "ab1234" / "report.json").read_text())["score"] > 0
    # the stuck child was killed, not left behind
    assert subprocess.run(["pgrep", "-f", "^sleep 3600$"], capture_output=True).returncode == 1


def test_default_job_timeout_adds_up_the_notebook_deadlines(mini_rubric):
    from grader.batch.run import CHECKS_ALLOWANCE_S, default_job_timeout
    from grader.execute.budget import CUT_EPILOGUE_S, CUT_WAIT_S

    # uncalibrated: the fixed deadlines, each plus the interrupt and exports after a cut
    deadlines = [nb.execution.notebook_timeout_s + CUT_WAIT_S + CUT_EPILOGUE_S for nb in mini_rubric.notebooks]
    assert len(deadlines) == 2 and default_job_timeout(mini_rubric) == sum(deadlines) + CHECKS_ALLOWANCE_S


def test_a_zip_with_a_classmates_netid_is_not_graded_into_their_folder(tmp_path, zips):
    """Two zips give ab1234: the one named exactly as the rubric asks is graded, with the
    other named in its report and gradebook row; the rest of the class is graded as usual."""
    from batch_helpers import slow_ok

    (zips / "hw2-ab1234.zip").write_bytes(b"x")
    res = run_batch([zips], tmp_path / "out", MINI_RUBRIC, workers=1, job_fn=slow_ok, stream=io.StringIO())
    assert res.total == 3 and res.graded == 3
    rows = {r["netid"]: r for r in gradebook(tmp_path / "out")}
    assert set(rows) == {"ab1234", "cd5678", "ef9012"}
    assert "hw2-ab1234.zip" in rows["ab1234"]["notes"] and rows["ab1234"]["score"] != ""
    rep = json.loads((tmp_path / "out" / "ab1234" / "report.json").read_text())
    assert rep["submission"]["file"] == "ab1234.zip"
    assert [f["code"] for f in rep["findings"]].count("netid_clash") == 1


def test_a_netid_no_zip_clearly_owns_gets_one_row_for_a_ta(tmp_path, zips):
    from batch_helpers import slow_ok

    (zips / "ab1234.zip").rename(zips / "hw2_ab1234_v1.zip")
    (zips / "hw2-ab1234-final.zip").write_bytes(b"y")
    res = run_batch([zips], tmp_path / "out", MINI_RUBRIC, workers=1, job_fn=slow_ok, stream=io.StringIO())
    assert res.total == 3 and res.graded == 2  # the held NetID is not run
    rows = {r["netid"]: r for r in gradebook(tmp_path / "out")}
    assert set(rows) == {"ab1234", "cd5678", "ef9012"}
    assert float(rows["ab1234"]["score"]) == 0
    assert "hw2-ab1234-final.zip" in rows["ab1234"]["notes"] and "hw2_ab1234_v1.zip" in rows["ab1234"]["notes"]
    assert "A TA finds out whose" in rows["ab1234"]["notes"]


def test_an_existing_scheduler_is_used_and_receives_the_zips(tmp_path, zips):
    from dask.distributed import LocalCluster

    from batch_helpers import needs_bytes

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        res = run_batch([zips], tmp_path / "out", MINI_RUBRIC, scheduler=cluster.scheduler_address,
                        job_fn=needs_bytes, stream=io.StringIO())
    assert (res.total, res.graded, res.failed) == (3, 3, 0)
    assert len(gradebook(tmp_path / "out")) == 3


def test_default_workers_is_one_per_core_unless_memory_is_short(monkeypatch):
    from grader import defaults
    from grader.batch import cli

    monkeypatch.setattr(defaults.os, "sched_getaffinity", lambda pid: set(range(16)))
    pages = {"SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(defaults.os, "sysconf", lambda name: pages.get(name, (64 << 30) // 4096))
    assert cli.default_workers() == 16  # 64 GiB: memory allows 32
    monkeypatch.setattr(defaults.os, "sysconf", lambda name: pages.get(name, (5 << 30) // 4096))
    assert cli.default_workers() == 2  # 5 GiB: two workers of ~1 GiB peak with headroom
    monkeypatch.setattr(defaults.os, "sysconf", lambda name: pages.get(name, (1 << 30) // 4096))
    assert cli.default_workers() == 1  # never zero
