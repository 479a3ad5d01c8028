"""Attacks on the "cannot be executed" rule (scripts/build_adversarial_exec.py, suite
"execution"), graded for real with the SHIPPED rubric rubrics/hw2.

The course rule: a notebook that cannot be executed costs 20 % (`not_executable`); an
unfinished TODO's NotImplementedError and a failing assert are answer errors the items
already charge. Each attack tries to dodge the penalty (a NotImplementedError shield,
content that breaks the executor, kernel tampering with names built at run time or hidden
from any static scan) or to be graded on code the kernel never ran (a line a rule
neutralised for one of them only). Each has an honest twin: the attack may not gain a
point over it (item by item, raw and final score), and the penalty must apply wherever
the twin's honest version of the failure gets it. Before issue 12 was fixed every attack
gained (the `before_fix` line of each expected.json says how); the honest notebooks of the
suite (nie_consequences, honest_magics) guard against false positives.

One session-wide execution cache; notebooks are hw2_cnn's theory cells cut down to what
the attacks need. Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/adversarial/test_execution_integrity.py
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import harness as H

pytestmark = pytest.mark.slow

SCRIPT = H.ROOT / "scripts" / "build_adversarial_exec.py"
NOTEBOOK = "hw2_cnn.ipynb"


def _manifests() -> dict[str, dict]:
    if not (H.CORPUS / "exec_honest" / "expected.json").exists():
        subprocess.run([sys.executable, str(SCRIPT)], check=True, stdout=subprocess.DEVNULL)
    return {n: m for n, m in H.manifests().items() if m.get("suite") == "execution"}


MANIFESTS = _manifests()
ATTACKS = sorted(n for n, m in MANIFESTS.items() if m["twin"])


@pytest.fixture(scope="session")
def graded(shared_exec_cache):
    tmp = Path(tempfile.mkdtemp(prefix="exe-"))
    t0 = time.monotonic()
    try:
        # the twins first (their executions fill the cache), then the rest two at a time
        twins = sorted(n for n in MANIFESTS if MANIFESTS[n]["twin"] is None)
        out = H.grade_suite(MANIFESTS, [twins, [n for n in sorted(MANIFESTS) if n not in twins]], tmp, workers=2, cache=shared_exec_cache)
        seconds = time.monotonic() - t0
        print(f"\nexecution-integrity corpus: {len(out)} submissions graded in {seconds:.0f} s")
        yield {"results": out, "seconds": seconds}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _report(graded, name) -> dict:
    return H.graded_report(graded["results"][name], name, MANIFESTS[name])


def _run(rep) -> dict:
    return next(n for n in rep["notebooks"] if n["notebook"] == NOTEBOOK)


_items = H.items_by_id


def _rules(rep) -> set:
    return {p["rule"] for p in rep["penalties"]}


def _check_expectations(name, rep):
    m = MANIFESTS[name]
    run = _run(rep)
    if m["notebook_status"]:
        assert run["status"] in m["notebook_status"], (run["status"], run["message"][:400], run["cells"])
    if m["failing_ename"]:
        enames = [c["ename"] for c in run["cells"] if c["status"] in ("error", "timeout", "dead")]
        assert any(e in m["failing_ename"] for e in enames), run["cells"]
    items = _items(rep)
    for iid, status in m["items"].items():
        assert items[iid]["status"] == status, (iid, items[iid]["status"], items[iid]["feedback"][:600])
    rules, codes = _rules(rep), {f["code"] for f in rep["findings"]}
    assert set(m["penalties"]) <= rules, (m["penalties"], rep["penalties"])
    assert not set(m["penalties_absent"]) & rules, rep["penalties"]
    assert set(m["findings"]) <= codes, (m["findings"], codes)
    assert not set(m["findings_absent"]) & codes, [f for f in rep["findings"] if f["code"] in m["findings_absent"]]


@pytest.mark.parametrize("name", sorted(n for n, m in MANIFESTS.items() if not m["twin"]))
def test_twin_is_graded_as_expected(graded, name):
    _check_expectations(name, _report(graded, name))


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_gains_nothing_over_its_twin(graded, name):
    m = MANIFESTS[name]
    rep, twin = _report(graded, name), _report(graded, m["twin"])
    _check_expectations(name, rep)
    items, twin_items = _items(rep), _items(twin)
    for iid, item in items.items():
        assert item["score"] <= twin_items[iid]["score"] + 1e-9, (iid, item["score"], twin_items[iid]["score"], item["feedback"][:400])
    assert rep["raw_score"] <= twin["raw_score"] + 1e-9, (rep["raw_score"], twin["raw_score"])
    assert rep["score"] <= twin["score"] - m["max_below_twin"] + 1e-9, (rep["score"], twin["score"])
    # the penalty applies wherever the twin's honest version of the failure gets it
    assert _rules(twin) <= _rules(rep), (rep["penalties"], twin["penalties"])


def test_every_manifest_says_what_the_grader_did_before_the_fix():
    assert len(MANIFESTS) >= 12 - 2 and all(m["before_fix"] and m["tries"] for m in MANIFESTS.values())
    assert all(m["rubric"] == "rubrics/hw2" and m["slow"] for m in MANIFESTS.values())


def test_content_that_breaks_the_executor_is_the_notebooks_invalid(graded):
    rep = _report(graded, "cell_source_not_text")
    run = _run(rep)
    assert run["status"] == "invalid" and "code cell 3's source is a JSON number, not text" in run["message"]
    assert "save it again" in run["message"]  # what to fix
    (pen,) = rep["penalties"]
    assert "code cell 3" in pen["reason"]
    # the items still run (on the code cells that are text), the penalty applies
    assert _items(rep)["hw2_cnn.conv1d_forward"]["status"] == "passed"


def test_a_message_nbclient_cannot_store_is_dropped_and_the_run_goes_on(graded):
    run = _run(_report(graded, "display_id_unhashable"))
    assert "cannot store; they were dropped" in run["message"] and "unhashable type: 'list'" in run["message"]
    assert [c["ename"] for c in run["cells"] if c["status"] == "error"] == ["IndexError"]


def test_metadata_never_reaches_the_executor(graded):
    """The prepared notebook holds only the cells' code: a broken `tags` runs exactly like the twin."""
    rep, twin = _report(graded, "cell_tags_not_a_list"), _report(graded, "exec_honest_failure")
    strip = [(c["index"], c["status"], c["ename"]) for c in _run(rep)["cells"]]
    assert strip == [(c["index"], c["status"], c["ename"]) for c in _run(twin)["cells"]]


def test_the_witness_catches_tampering_no_static_scan_can_see(graded):
    rep = _report(graded, "tamper_outside_scan")
    tampering = [f["message"] for f in rep["findings"] if f["code"] == "kernel_tampering"]
    assert tampering and all("the grader's witness" in t for t in tampering), tampering
    assert any("failed (IndexError), but the kernel reported success" in t for t in tampering)
    assert any("run_cell_async was replaced" in t for t in tampering)
    run = _run(rep)  # the cell the kernel reported as a success is recorded as the failure it was
    assert any(c["ename"] == "IndexError" and "witness" in c["evalue"] for c in run["cells"]), run["cells"]
    witness = [h for h in run["instrumentation"] if h.get("kind") == "witness" and "verdict" in h]
    assert witness and witness[-1]["verdict"] == "tampered"


def test_runtime_names_are_caught_by_the_scan_and_the_witness(graded):
    msgs = [f["message"] for f in _report(graded, "tamper_runtime_names")["findings"] if f["code"] == "kernel_tampering"]
    assert any("built at run time" in t for t in msgs) and any("the grader's witness" in t for t in msgs), msgs


def test_honest_notebooks_have_a_clean_witness(graded):
    for name in ("exec_honest", "honest_magics", "exec_honest_failure", "nie_consequences"):
        run = _run(_report(graded, name))
        witness = [h for h in run["instrumentation"] if h.get("kind") == "witness" and "verdict" in h]
        assert witness and witness[-1]["verdict"] == "clean", (name, witness)


def test_the_kernel_and_the_probe_grade_the_same_source(graded):
    rep, twin = _report(graded, "rule_on_one_side"), _report(graded, "unfinished_and_wrong")
    items, twin_items = _items(rep), _items(twin)
    shape = items["hw2_cnn.conv_output_shape"]
    assert shape["score"] == 0 and "NotImplementedError" in shape["feedback"], shape["feedback"][:400]
    assert any(c["status"] == "skipped" and "Google Drive" in c["note"] for c in _run(rep)["cells"])
    # the %%time cell's conv1d_forward (the one the kernel ran) is the one graded
    forward = items["hw2_cnn.conv1d_forward"]
    assert forward["score"] == twin_items["hw2_cnn.conv1d_forward"]["score"] < forward["max_score"]
