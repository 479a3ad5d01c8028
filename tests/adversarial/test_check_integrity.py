"""Attacks on the checks themselves (scripts/build_adversarial_checks.py), graded for real
with the SHIPPED rubric rubrics/hw2: evidence, not trust (DESIGN.md rule 6).

Each attack makes a check score a claim of student code (test_run's strings, a notebook-
loadable validation split, a forged architecture trace, autograd or finite differences in
"derive by hand" items, the expected answer quoted in feedback) and has an honest twin.
An attack may not gain a point over its twin, its items must get the status its
expected.json names (`pending` = needs a TA, no points), and feedback must not leak what
`feedback_must_not` lists. Before the checks were fixed every one of these failed (the
`before_fix` line of each expected.json says how).

One session-wide execution cache: the twins' notebooks run once; each zip holds only the
notebook(s) its attack needs. Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/adversarial/test_check_integrity.py
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import harness as H

# grades a corpus of submissions end to end: with the slow tests (CI runs them all)
pytestmark = pytest.mark.slow

SCRIPT = H.ROOT / "scripts" / "build_adversarial_checks.py"


def _manifests() -> dict[str, dict]:
    if not (H.CORPUS / "honest_theory" / "expected.json").exists():
        subprocess.run([sys.executable, str(SCRIPT)], check=True, stdout=subprocess.DEVNULL)
    return {n: m for n, m in H.manifests().items() if m.get("rubric") and "feedback_must_not" in m}


MANIFESTS = _manifests()
ATTACKS = [n for n, m in MANIFESTS.items() if m["twin"]]


@pytest.fixture(scope="session")
def graded(shared_exec_cache):
    tmp = Path(tempfile.mkdtemp(prefix="chk-"))
    t0 = time.monotonic()
    try:
        twins = sorted(n for n in MANIFESTS if MANIFESTS[n]["twin"] is None)
        out = H.grade_suite(MANIFESTS, [twins, sorted(n for n in MANIFESTS if n not in twins)], tmp, cache=shared_exec_cache)
        print(f"\ncheck-integrity corpus: {len(out)} submissions graded in {time.monotonic() - t0:.0f} s")
        yield {"results": out, "out": tmp / "out"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_items = H.items_by_id


def _report(graded, name) -> dict:
    return H.graded_report(graded["results"][name], name, MANIFESTS[name])


@pytest.mark.parametrize("name", sorted(n for n, m in MANIFESTS.items() if not m["twin"]))
def test_twin_is_graded_as_expected(graded, name):
    rep = _report(graded, name)
    items = _items(rep)
    for iid, status in MANIFESTS[name]["items"].items():
        assert items[iid]["status"] == status, (iid, items[iid]["feedback"][:600])


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_gains_nothing_over_its_twin(graded, name):
    m = MANIFESTS[name]
    rep = _report(graded, name)
    twin = _report(graded, m["twin"])
    items, twin_items = _items(rep), _items(twin)
    for nb in rep["notebooks"]:
        if nb["notebook"] in m["notebooks"] and m["notebook_status"]:
            assert nb["status"] in m["notebook_status"], (nb["notebook"], nb["status"], nb["message"][:300])
    for iid, status in m["items"].items():
        assert items[iid]["status"] == status, (iid, items[iid]["status"], items[iid]["feedback"][:800])
        if status == "pending":  # needs a TA: never points
            assert items[iid]["score"] == 0, (iid, items[iid]["score"])
        assert items[iid]["score"] <= twin_items[iid]["score"] + 1e-9, (iid, items[iid]["score"], twin_items[iid]["score"])
    for iid, text in m["item_feedback"].items():
        assert text in items[iid]["feedback"], (iid, items[iid]["feedback"][:800])
    assert rep["score"] <= twin["score"] - m["max_below_twin"] + 1e-9, (rep["score"], twin["score"])


@pytest.mark.parametrize("name", [n for n in ATTACKS if MANIFESTS[n]["feedback_must_not"]])
def test_feedback_does_not_give_the_answer_away(graded, name):
    m = MANIFESTS[name]
    rep = _report(graded, name)
    items = _items(rep)
    d = graded["out"] / rep["netid"]
    student_files = {f: (d / f).read_text() for f in ("feedback.md", "feedback.html", "results.json") if (d / f).exists()}
    assert "feedback.md" in student_files
    for iid, secrets in m["feedback_must_not"].items():
        assert items[iid]["status"] == "failed"
        evidence = json.dumps(items[iid]["evidence"])
        for s in secrets:
            assert s not in items[iid]["feedback"], (iid, s, items[iid]["feedback"])
            assert s not in evidence, (iid, s)  # feedback.html shows the evidence
            for f, text in student_files.items():
                assert s not in text, (f, iid, s)


def test_the_scored_value_is_the_graders_own(graded):
    """The echo items score the grader's argmax of forward on its own inputs; test_run's
    strings are only shown (the attack's test_run claims a perfect echo)."""
    rep = _report(graded, "test_run_shifts_input")
    for iid in ("hw2_rnn.GRUMemory", "hw2_rnn.VariableDelayGRUMemory"):
        ev = _items(rep)[iid]["evidence"]
        assert ev["test_run_accuracy"] == 1.0 and ev["accuracy"] < 0.2 and ev["layout"] == "onehot", ev
    twin = _items(_report(graded, "honest_echo"))["hw2_rnn.GRUMemory"]["evidence"]
    assert twin["accuracy"] >= 0.99 and twin["control_accuracy"] < 0.2, twin


def test_validation_is_scored_on_images_the_notebook_cannot_load(graded):
    ev = _items(_report(graded, "validation_lookup_buffers"))["hw2_cnn.validation_accuracy"]["evidence"]
    assert ev["split"] == "private" and ev["accuracy"] < 0.6
    assert ev["known_split_accuracy"] == 1.0  # what the grader used to score
    assert ev["buffer_numel"] > 1_000_000 and "memory_x" in ev["large_buffers"]


def test_gradient_signals_name_their_evidence(graded):
    ag = _items(_report(graded, "autograd_gradients"))
    fd = _items(_report(graded, "finite_difference_gradients"))
    assert "torch.autograd.grad" in ag["hw2_rnn.lstm_bptt"]["feedback"]
    assert "Tensor.backward" in ag["hw2_cnn.conv1d_dldW"]["feedback"]
    assert "calls conv1d_forward" in fd["hw2_cnn.conv1d_dfdW"]["feedback"]
    assert any("agree with autograd only to" in s for s in fd["hw2_rnn.gated_rnn_dl_dWx"]["evidence"]["hand_derived_signals"])
    honest = _items(_report(graded, "honest_theory"))
    assert all("hand_derived_signals" not in honest[i]["evidence"] for i in honest if i.startswith(("hw2_cnn.conv1d", "hw2_rnn")))
