"""A regrade after a rubric change is exactly a grading from scratch with the new rubric.

For each change (a threshold, points, a new case, and a time limit, which needs a new
execution), a sample is graded with rubric A, then regraded with rubric B reusing the
batch's caches (OUT/.batch), and graded from scratch with B in a fresh OUT: the items,
scores and feedback must be equal (times and the `reuse` block aside), and the regrade
must have re-executed only what the change needs, and taken the Section-8 curve (the
snapshots evaluated by the reference model: grader/checks/_judged.py) from the batch's
judge cache instead of computing it.

Cost (2 cores): one first grading of the sample (its notebooks run once, or not at all when the
session graded the sample under rubrics/hw2 before: shared_exec_cache), then per change
a regrade and a fresh grading. The fresh gradings of B start from a copy of A's execution
cache only (no manifest, no probe or judge cache): every item is probed and judged anew, and a
changed execution key (the time limit) misses it and executes; that the key changes with
limits, instrumentation and support files is tests/test_exec_cache.py's job. Samples:
bs2001 by default; GRADER_REGRADE_SAMPLES=bs2001,pa3002,ab1234 for more (slower).
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from grader.batch import run_batch

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {"bs2001": "blank_starter/bs2001.zip", "pa3002": "partial/pa3002.zip", "ab1234": "full_marks/ab1234.zip"}
CHOSEN = [s for s in os.environ.get("GRADER_REGRADE_SAMPLES", "bs2001").split(",") if s]
IGNORED = {"executed_notebook", "exports_dir", "seconds", "graded_at", "environment", "cached", "peak_memory_mb", "ran_s", "budget", "created_at"}


def _rubric(dst: Path, edit=None) -> Path:
    shutil.copytree(ROOT / "rubrics" / "hw2", dst)
    a = dst / "assignment.yaml"
    a.write_text(a.read_text().replace("support_dir: ../../reference/res", f"support_dir: {ROOT / 'reference' / 'res'}"))
    if edit:
        name, old, new = edit
        text = (dst / name).read_text()
        assert text.count(old) == 1, (name, old)
        (dst / name).write_text(text.replace(old, new))
    return dst


CHANGES = {
    "threshold": ("hw2_cnn.yaml", "params: {threshold: 0.75, split: validation, data_seed: 0, weights_control: true}",
                  "params: {threshold: 0.6, split: validation, data_seed: 0, weights_control: true}"),
    "points": ("hw2_cnn.yaml", "title: \"conv_output_shape: output size of a convolution\"\n    points: 3",
               "title: \"conv_output_shape: output size of a convolution\"\n    points: 5"),
    "new_case": ("hw2_cnn.yaml", "        - {label: \"even kernel, stride 3\", args: [1, 7, 9, 4, 1, 3, 1, 5]}\n",
                 "        - {label: \"even kernel, stride 3\", args: [1, 7, 9, 4, 1, 3, 1, 5]}\n"
                 "        - {label: \"7x7 kernel, padding 3\", args: [2, 20, 24, 7, 3, 1, 1, 6]}\n"),
    # one notebook's time limit: that notebook runs again, the others are reused
    "time_limit": ("hw2_cnn.yaml", "seed: 2026\n", "seed: 2026\nexecution: {notebook_timeout_s: 660}\n"),
}
EXPECT = {  # what the plan says, and which notebooks the regrade executes again
    "threshold": ("1 to re-judge, 0 to re-execute", "only the thresholds of 1 item changed", False),
    "points": ("1 to re-judge, 0 to re-execute", "only the points of 1 item changed", False),
    "new_case": ("1 to re-judge, 0 to re-execute", "only the cases of 1 item changed", False),
    "time_limit": ("0 to re-judge, 1 to re-execute", "the execution of", True),
}


def _normal(value):
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k not in IGNORED}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, str):  # "in 0.8 s", "took 12.3 s": the clock; /tmp/grader-x1y2z3w4: the scratch dir
        value = re.sub(r"grader-[A-Za-z0-9_]{8}", "grader-<job>", value)
        return re.sub(r"\d+(\.\d+)? ?(s|ms|seconds)\b", "<t>", value)
    return value


def _report(out: Path, netid: str) -> dict:
    return json.loads((out / netid / "report.json").read_text())


@pytest.fixture(scope="module", autouse=True)
def _pinned(tmp_path_factory):
    old = os.environ.get("GRADER_BATCH_VERSION")
    os.environ["GRADER_BATCH_VERSION"] = "regrade-test"  # others edit the grader meanwhile
    yield
    if old is None:
        os.environ.pop("GRADER_BATCH_VERSION", None)
    else:
        os.environ["GRADER_BATCH_VERSION"] = old


@pytest.fixture(scope="module", params=CHOSEN)
def first(request, tmp_path_factory, shared_exec_cache):
    from factories import share_cache_entries

    from grader.batch import caches

    netid = request.param
    d = tmp_path_factory.mktemp(f"first-{netid}")
    (d / "in").mkdir()
    shutil.copy(ROOT / "submissions" / SAMPLES[netid], d / "in" / f"{netid}.zip")
    rubric = _rubric(d / "rubricA")
    # A's executions may come from the session's (the sample graded elsewhere under the same
    # rubric: same keys); what this test compares starts after this first grading
    share_cache_entries(shared_exec_cache, caches.exec_dir(d / "outA"))
    run_batch([d / "in"], d / "outA", rubric, workers=1, stream=io.StringIO(), class_reports=False)
    share_cache_entries(caches.exec_dir(d / "outA"), shared_exec_cache)
    return netid, d


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_regrade_equals_a_grading_from_scratch(first, change, tmp_path):
    netid, d = first
    rubric_b = _rubric(tmp_path / "rubricB", CHANGES[change])
    # regrade: A's whole OUT (manifest, executions, probes), then rubric B
    shutil.copytree(d / "outA", tmp_path / "regrade", symlinks=True)
    said = io.StringIO()
    res = run_batch([d / "in"], tmp_path / "regrade", rubric_b, workers=1, stream=said, class_reports=False)
    assert (res.graded, res.skipped, res.failed) == (1, 0, 0)
    # from scratch: a fresh OUT; only A's executions, which B's changed keys miss
    shutil.copytree(d / "outA" / ".batch" / "exec-cache", tmp_path / "scratch" / ".batch" / "exec-cache", symlinks=True)
    run_batch([d / "in"], tmp_path / "scratch", rubric_b, workers=1, stream=io.StringIO(), class_reports=False)

    regraded, scratch = (_report(tmp_path / o, netid) for o in ("regrade", "scratch"))
    before = _report(d / "outA", netid)
    assert _normal(regraded) == _normal(scratch)
    if change in ("points", "new_case"):  # and the change is really in the grade
        assert _normal(regraded["items"]) != _normal(before["items"])

    plan, why, executes = EXPECT[change]
    assert plan in said.getvalue() and why in said.getvalue(), said.getvalue()
    reuse = regraded["environment"]["reuse"]
    assert reuse["judged_at"] == regraded["graded_at"]
    if executes:  # only hw2_cnn's execution changed
        assert reuse["executions"]["executed"] == ["hw2_cnn.ipynb"]
        assert sorted(reuse["executions"]["reused"]) == ["08-seq_classification.ipynb", "hw2_rnn.ipynb"]
    else:
        assert reuse["executions"]["executed"] == [] and reuse["executions"]["reused"]
        assert reuse["executions"]["from"] <= regraded["graded_at"]
        assert reuse["probes"]["reused"] > 0
    # Section 8's notebook ran once (every change keeps its execution): its curve, reference
    # model and plot come from the judge cache; the same values a grading from scratch computes
    assert reuse["judged_values"]["reused"] >= 2 and reuse["judged_values"]["computed"] == 0, reuse
    fresh = scratch["environment"]["reuse"]
    assert fresh["probes"]["reused"] == 0  # the scratch grading probed everything itself
    assert fresh["judged_values"]["reused"] == 0 and fresh["judged_values"]["computed"] >= 2  # and judged it
