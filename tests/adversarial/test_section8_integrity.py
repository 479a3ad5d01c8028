"""Section 8's graded run must be the run that produced the live `model`
(scripts/build_adversarial_section8.py, suite "section8"), graded for real with the
SHIPPED rubric rubrics/hw2.

Each attack passed the loss_curve check before it was fixed (its expected.json's
`before_fix` says how): a decoy run started after the real one, a smooth run whose
model then had a spiky run's weights loaded, a run of 25 instead of 100 epochs, a
rollback to the best weights between the per-epoch snapshots, a one-step jump onto
weights trained on a copy padded to 3100 steps. Now the item must be failed or pending
(no points), say why, and name the graded run; the honest twin (the lab solution's
Section 8, 100 epochs) must still pass.

One session-wide execution cache; the notebooks hold only the lab's imports, its given
code and the Section-8 cell. Run:
OMP_NUM_THREADS=1 .venv/bin/python -m pytest -n 0 tests/adversarial/test_section8_integrity.py
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import harness as H

pytestmark = pytest.mark.slow

SCRIPT = H.ROOT / "scripts" / "build_adversarial_section8.py"
ITEM = "08-seq_classification.section8"


def _manifests() -> dict[str, dict]:
    spec = importlib.util.spec_from_file_location("build_adversarial_section8", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    wanted = {a[0] for a in mod.attacks()}
    ms = {n: m for n, m in H.manifests().items() if m.get("suite") == "section8"}
    if set(ms) != wanted or not all(Path(m["zip_path"]).exists() for m in ms.values()):
        subprocess.run([sys.executable, str(SCRIPT)], check=True, stdout=subprocess.DEVNULL)
        ms = {n: m for n, m in H.manifests().items() if m.get("suite") == "section8"}
    return ms


MANIFESTS = _manifests()
TWINS = sorted(n for n, m in MANIFESTS.items() if not m["twin"])
ATTACKS = sorted(n for n, m in MANIFESTS.items() if m["twin"])


@pytest.fixture(scope="session")
def graded(shared_exec_cache):
    tmp = Path(tempfile.mkdtemp(prefix="s8-"))
    t0 = time.monotonic()
    try:
        out = H.grade_suite(MANIFESTS, [TWINS, ATTACKS], tmp, cache=shared_exec_cache)
        print(f"\nsection-8 corpus: {len(out)} submissions graded in {time.monotonic() - t0:.0f} s: "
              + ", ".join(f"{n} {r['seconds']:.0f} s" for n, r in out.items()))
        yield out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _item(graded, name) -> dict:
    rep = H.graded_report(graded[name], name, MANIFESTS[name])
    nb = next(n for n in rep["notebooks"] if n["notebook"] == "08-seq_classification.ipynb")
    assert nb["status"] in MANIFESTS[name]["notebook_status"], (nb["status"], nb["message"][:300])
    return next(i for i in rep["items"] if i["id"] == ITEM)


def _feedback_has(item, name):
    for text in MANIFESTS[name]["feedback_contains"].get(ITEM, []):
        assert text in item["feedback"], (text, item["feedback"][:2000])


@pytest.mark.parametrize("name", TWINS)
def test_the_honest_twin_passes(graded, name):
    it = _item(graded, name)
    assert it["status"] == MANIFESTS[name]["items"][ITEM] == "passed", it["feedback"][:2000]
    assert it["score"] == it["max_score"] > 0
    _feedback_has(it, name)
    ev = it["evidence"]
    # the lab's EASY demo run is seen and not graded; Section 8's run is
    assert ev["graded_runs"] == MANIFESTS[name]["graded_runs"] == [1]
    assert [r["graded"] for r in ev["runs_seen"]] == [False, True]
    assert ev["effective_steps"] >= 3100 and ev["integrity"]["edits"] == 0


@pytest.mark.parametrize("name", ATTACKS)
def test_the_attack_gains_nothing(graded, name):
    m = MANIFESTS[name]
    it = _item(graded, name)
    twin = _item(graded, m["twin"])
    assert m["before_fix"].startswith("passed"), m["before_fix"]
    assert it["status"] == m["items"][ITEM] and it["status"] in ("failed", "pending"), (it["status"], it["feedback"][:2000])
    assert it["score"] == 0 and it["score"] < twin["score"], (it["score"], twin["score"])
    _feedback_has(it, name)
    # the graded run is the one whose last optimizer step produced the live `model`, and the feedback says so
    assert it["evidence"]["graded_runs"] == m["graded_runs"], it["evidence"]["runs_seen"]
    assert "Graded: run #" in it["feedback"]
    assert all(("not graded" in r["why"]) != r["graded"] for r in it["evidence"]["runs_seen"])
