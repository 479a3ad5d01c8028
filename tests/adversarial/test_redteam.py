"""The red-team corpus (scripts/build_adversarial_redteam.py), graded for real with the
SHIPPED rubric rubrics/hw2, end to end (real kernels, the real sandbox).

A grader-aware student attacks the grading logic (memorised inputs, lying return objects,
poisoned global state, mutated inputs, a fingerprinted echo), the report writers
(Markdown, HTML, JUnit, CSV), the intake (forged zip times, a formula-like zip name, a
deeply nested notebook, a PDF with active content, a document that is not a PDF) and the
batch (a NetID clash). Each attack has an honest twin and may not gain a point over it;
its expected.json says what the report must show. Attacks that expose a weakness still
open are strict xfails naming the fix.

One session-wide execution cache: twins first. Run:
    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -p no:xdist tests/adversarial/test_redteam.py
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

SCRIPT = H.ROOT / "scripts" / "build_adversarial_redteam.py"


def _manifests() -> dict[str, dict]:
    if not (H.CORPUS / "rt_honest_cnn" / "expected.json").exists():
        subprocess.run([sys.executable, str(SCRIPT)], check=True, stdout=subprocess.DEVNULL)
    return {n: m for n, m in H.manifests().items() if m.get("suite") == "redteam"}


MANIFESTS = _manifests()
TWINS = sorted(n for n, m in MANIFESTS.items() if not m["twin"])
SINGLE = [n for n, m in MANIFESTS.items() if m["twin"] and not m.get("batch_with")]
BATCH = [n for n, m in MANIFESTS.items() if m.get("batch_with")]


def _params(names):
    return [pytest.param(n, id=n, marks=[pytest.mark.xfail(strict=True, reason=MANIFESTS[n]["weakness"])]
                         if MANIFESTS[n].get("weakness") else []) for n in names]


@pytest.fixture(scope="session")
def graded(shared_exec_cache):
    tmp = Path(tempfile.mkdtemp(prefix="rt-"))
    t0 = time.monotonic()
    try:  # twins first: their notebooks fill the execution cache
        out = H.grade_suite(MANIFESTS, [TWINS, SINGLE], tmp, cache=shared_exec_cache)
        print(f"\nred-team corpus: {len(out)} submissions graded in {time.monotonic() - t0:.0f} s")
        yield {"results": out, "out": tmp / "out", "tmp": tmp}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_items = H.items_by_id


def _report(graded, name) -> dict:
    return H.graded_report(graded["results"][name], name, MANIFESTS[name])


def _outputs(graded, rep: dict) -> dict[str, str]:
    """What the student and the class see: feedback.md/.html, the JUnit XML and the gradebook."""
    from grader.report.gradebook import gradebook_csv
    from grader.report.html import feedback_html
    from grader.report.junit import junit_xml
    from grader.untrusted import report_safe

    d = graded["out"] / rep["netid"]
    safe = report_safe(rep)
    return {"feedback.md": (d / "feedback.md").read_text(), "feedback.html": feedback_html(safe, d),
            "junit.xml": junit_xml([safe]), "gradebook.csv": gradebook_csv([safe])}


@pytest.mark.parametrize("name", TWINS)
def test_twin_is_graded_as_expected(graded, name):
    m = MANIFESTS[name]
    rep = _report(graded, name)
    items = _items(rep)
    for iid, status in m["items"].items():
        assert items[iid]["status"] == status, (iid, items[iid]["feedback"][:600])
    assert {p["rule"] for p in rep["penalties"]} >= set(m["penalties"]), rep["penalties"]


@pytest.mark.parametrize("name", _params(SINGLE))
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
        if status == "pending":
            assert items[iid]["score"] == 0, (iid, items[iid]["score"])
    for iid in items:  # no item scores above the twin's
        assert items[iid]["score"] <= twin_items[iid]["score"] + 1e-9, (iid, items[iid]["score"], twin_items[iid]["score"])
    for iid, text in m["item_feedback"].items():
        assert text in items[iid]["feedback"], (iid, items[iid]["feedback"][:800])
    assert rep["score"] <= twin["score"] - m["max_below_twin"] + 1e-9, (rep["score"], twin["score"])
    codes = {f["code"] for f in rep["findings"]}
    assert set(m["findings"]) <= codes, (m["findings"], [(f["code"], f["message"][:120]) for f in rep["findings"]])
    rules = {p["rule"] for p in rep["penalties"]}
    assert set(m["penalties"]) <= rules, rep["penalties"]
    outs = _outputs(graded, rep)
    for key, f in (("feedback_md_must_not", "feedback.md"), ("feedback_html_must_not", "feedback.html"),
                   ("junit_must_not", "junit.xml"), ("gradebook_must_not", "gradebook.csv")):
        for s in m.get(key) or []:
            assert s not in outs[f], (f, s, outs[f][max(0, outs[f].find(s) - 200):outs[f].find(s) + 200])


def test_markdown_has_one_score_line(graded):
    """feedback.md's score line is the grader's: student text stays inside its fences."""
    text = _outputs(graded, _report(graded, "markdown_fake_score"))["feedback.md"]
    assert sum(1 for line in text.splitlines() if line.startswith("**Score:")) == 1, text[:3000]
    assert sum(1 for line in text.splitlines() if line.startswith("# ")) == 1, text[:3000]


def test_html_page_keeps_its_csp_and_no_student_picture(graded):
    for name in ("html_script_injection", "evidence_png_injection"):
        page = _outputs(graded, _report(graded, name))["feedback.html"]
        assert "Content-Security-Policy" in page and "script-src" not in page
        assert "<img" not in page, name  # no item of these two has a grader picture (a loss curve)


def test_junit_is_well_formed(graded):
    import xml.etree.ElementTree as ET

    root = ET.fromstring(_outputs(graded, _report(graded, "junit_xml_injection"))["junit.xml"])
    names = [c.get("name") for c in root.iter("testcase")]
    assert not any("fake" in n for n in names), names


def test_lateness_uses_the_latest_time_the_files_admit(graded):
    rep = _report(graded, "forged_zip_times")
    twin = _report(graded, "rt_late_honest")
    assert rep["submission"]["submitted_at"] == twin["submission"]["submitted_at"], (rep["submission"], twin["submission"])
    f = next(f for f in rep["findings"] if f["code"] == "time_contradiction")
    assert "hw2_theory.pdf" in f["message"], f


def test_netid_clash_does_not_stop_the_batch(tmp_path):
    """A zip carrying a classmate's NetID: the batch grades everyone else, and the clashing
    NetID gets one row that says why it needs a TA (never two reports overwriting each other)."""
    from grader.batch.run import run_batch

    m = MANIFESTS["netid_clash_stops_batch"]
    zips = [Path(m["zip_path"])] + [Path(MANIFESTS[n]["zip_path"]) for n in m["batch_with"]]
    res = run_batch(zips, tmp_path / "out", H.ROOT / m["rubric"], workers=1, stream=open("/dev/null", "w"), tty=False,
                    class_reports=True)
    book = (tmp_path / "out" / "gradebook.csv").read_text().splitlines()
    rows = {line.split(",")[0]: line for line in book[1:]}
    assert set(rows) == {"red0003", "red0034"}, rows  # one row per NetID, the batch went on
    assert "NetID" in rows["red0003"] and "hw2_red0003_final.zip" in rows["red0003"], rows["red0003"]
    assert res.total == 2  # one job per NetID: the zip with the classmate's NetID is named in red0003's row, not graded
