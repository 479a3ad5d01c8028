"""`grader batch` end to end on the mini rubric: real zips, real kernels, real Dask workers."""
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import jsonschema
import pytest

from factories import FIXTURES, MINI_RUBRIC, make_nb, make_zip, mini_files

pytestmark = pytest.mark.slow

WRONG_ADD = make_nb("def add(a, b):\n    return a - b\n\ndef count():\n    return 42")


# Pinned: other people edit the grader while these tests run, and a code change regrades.
PINNED = {"GRADER_BATCH_VERSION": "test-pinned", "PYTHONPATH": str(FIXTURES)}


def _cli_env():
    return dict(os.environ, **PINNED)


def _manifest_lines(out):
    p = out / ".batch" / "manifest.jsonl"
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip().endswith("}")]


def _gradebook(out):
    return list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text())))


def test_sigkill_midway_then_resume_then_regrade_only_the_changed_zip(tmp_path):
    inp = tmp_path / "in"
    make_zip(inp / "ab1111.zip", mini_files())
    make_zip(inp / "cd2222.zip", mini_files(mini__ipynb=WRONG_ADD))
    # ef3333: full marks, one notebook slower (a cell sleeps 8 s, under the rubric's 10 s), so
    # that it is still running when the first grade lands and the kill finds work left. With
    # ab1111's notebooks it would finish with ab1111: the execution cache's single flight
    # (grader/execute/cache.py) makes a worker that needs the same notebook wait for its entry.
    make_zip(inp / "ef3333.zip", mini_files(other__ipynb=make_nb("import time\ntime.sleep(8)", "def count():\n    return 40 + 2")))
    (inp / "zz9999.zip").write_bytes(b"PK\x03\x04 truncated: not a zip")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader", "batch", str(inp), "--out", str(out), "--rubric", str(MINI_RUBRIC), "--workers", "2"]

    # 1. kill everything (coordinator, scheduler, workers) with SIGKILL once a real grade is recorded
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_cli_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while not any(r["netid"] != "zz9999" for r in _manifest_lines(out)):
            assert proc.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "no submission was graded in time"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first = {r["netid"]: r["key"] for r in _manifest_lines(out)}
    assert 1 <= len(first) <= 3  # at least one real grade; with 2 workers at least one zip was still queued
    with open(out / ".batch" / "manifest.jsonl", "ab") as fh:  # what a kill in the middle of an append leaves
        fh.write(b'{"v": 1, "key": "torn')

    # 2. resume: only the rest is graded; every submission has exactly one row
    p2 = subprocess.run(cmd, cwd=tmp_path, env=_cli_env(), capture_output=True, text=True, timeout=300)
    assert p2.returncode == 0, p2.stderr
    assert f"{4 - len(first)} graded now, {len(first)} unchanged" in p2.stdout
    rows = _gradebook(out)
    assert sorted(r["netid"] for r in rows) == ["ab1111", "cd2222", "ef3333", "zz9999"]
    scores = {r["netid"]: r["score"] for r in rows}
    assert scores == {"ab1111": "20", "cd2222": "14", "ef3333": "20", "zz9999": "0"}
    assert "not a readable zip" in next(r for r in rows if r["netid"] == "zz9999")["notes"]
    keys = [r["key"] for r in _manifest_lines(out)]
    assert len(keys) == len(set(keys)) == 4  # nothing graded twice

    # 3. a changed zip is regraded, the unchanged ones are not
    make_zip(inp / "cd2222.zip", mini_files())
    graded_at = {n: json.loads((out / n / "report.json").read_text())["graded_at"] for n in ("ab1111", "ef3333")}
    p3 = subprocess.run(cmd, cwd=tmp_path, env=_cli_env(), capture_output=True, text=True, timeout=300)
    assert p3.returncode == 0, p3.stderr
    assert "1 graded now, 3 unchanged" in p3.stdout
    scores = {r["netid"]: r["score"] for r in _gradebook(out)}
    assert scores == {"ab1111": "20", "cd2222": "20", "ef3333": "20", "zz9999": "0"}
    assert {n: json.loads((out / n / "report.json").read_text())["graded_at"] for n in graded_at} == graded_at
    assert [r["netid"] for r in _manifest_lines(out)].count("cd2222") == 2


@pytest.fixture(scope="module")
def class_batch(tmp_path_factory):
    """Two real submissions graded once on a 2-process LocalCluster (shared by the tests below)."""
    from grader.batch import run_batch

    tmp = tmp_path_factory.mktemp("class")
    inp = tmp / "in"
    make_zip(inp / "ab1111.zip", mini_files())
    # late (inside the grace period) and a wrong add: penalties must survive the TA merge
    make_zip(inp / "cd2222.zip", mini_files(mini__ipynb=WRONG_ADD), date_time=(2026, 3, 2, 8, 0, 0))
    # the workers import the mini rubric's reference module (PYTHONPATH)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in PINNED.items():
            mp.setenv(k, v)
        res = run_batch([inp], tmp / "out", MINI_RUBRIC, workers=2, stream=io.StringIO())
    return inp, tmp / "out", res


def _essence(r):
    return (r["score"], r["raw_score"], [(p["rule"], p["percent"]) for p in r["penalties"]],
            [(i["id"], i["status"], i["score"]) for i in r["items"]])


def test_local_cluster_scores_equal_direct_grading(class_batch, mini_rubric, tmp_path):
    from grader.pipeline import Env, grade

    inp, out, res = class_batch
    assert (res.total, res.graded, res.failed) == (2, 2, 0)
    workers = {r["worker"] for r in _manifest_lines(out)}
    for netid in ("ab1111", "cd2222"):
        direct = grade(inp / f"{netid}.zip", Env(rubric=mini_rubric, out_dir=tmp_path / "direct", jobs=1)).to_dict()
        batch = json.loads((out / netid / "report.json").read_text())
        assert _essence(batch) == _essence(direct)
    assert all(w and w.split(":")[1] != str(os.getpid()) for w in workers)  # graded in other processes


def test_manual_scores_merge_without_regrading(class_batch, tmp_path, monkeypatch):
    from grader.batch import run_batch

    for k, v in PINNED.items():
        monkeypatch.setenv(k, v)
    inp, out, _ = class_batch
    sheet = tmp_path / "ta.csv"
    sheet.write_text("netid,mini_theory.q1,mini_theory.q1:comment\nab1111,7.5,derivation misses a step\ncd2222,10,\n")
    res = run_batch([inp], out, MINI_RUBRIC, workers=1, manual_scores=sheet, stream=io.StringIO())
    assert (res.graded, res.skipped) == (0, 2)
    ab = json.loads((out / "ab1111" / "report.json").read_text())
    q1 = next(i for i in ab["items"] if i["id"] == "mini_theory.q1")
    assert (q1["status"], q1["score"], q1["feedback"]) == ("failed", 7.5, "derivation misses a step")
    assert ab["score"] == 27.5 and ab["raw_score"] == 27.5
    cd = json.loads((out / "cd2222" / "report.json").read_text())
    assert [p["rule"] for p in cd["penalties"]] == ["late"]
    assert cd["raw_score"] == 24 and cd["score"] == pytest.approx(24 - 0.2 * 30)  # the same penalty rules
    rows = {r["netid"]: r for r in _gradebook(out)}
    assert rows["ab1111"]["mini_theory.q1"] == "7.5" and rows["ab1111"]["pending_points"] == "0"
    assert rows["cd2222"]["score"] == "18" and rows["cd2222"]["penalty_late"] == "20"


def test_every_format_is_written_from_the_reports(class_batch):
    import xml.etree.ElementTree as ET

    from batch_helpers import GRADESCOPE_SCHEMA

    _, out, _ = class_batch
    for netid in ("ab1111", "cd2222"):
        jsonschema.validate(json.loads((out / netid / "results.json").read_text()), GRADESCOPE_SCHEMA)
        page = (out / netid / "feedback.html").read_text()
        assert page.startswith("<!DOCTYPE html>") and "add(a, b)" in page
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["ab1111", "cd2222"]
    cohort = json.loads((out / "cohort.json").read_text())
    add = next(i for i in cohort["items"] if i["id"] == "mini.add")
    assert (add["passed"], add["failed"], add["pass_rate"]) == (1, 1, 0.5)
    assert "not an accusation" in cohort["similarity"]["note"]
    assert "Similar code" in (out / "class.html").read_text() and "Score histogram" in (out / "class.md").read_text()
