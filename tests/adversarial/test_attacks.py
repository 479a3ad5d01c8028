"""The adversarial corpus (scripts/build_adversarial.py), graded once per session.

Each attack's expected.json says what the report must show; every attack must also leave
the grader alive, the host untouched and no process behind. Attacks that expose a known
weakness of the grader are strict xfails whose reason describes the fix.

The corpus is graded with tests/adversarial/rubric: the SHIPPED rubrics/hw2 (`extends`),
every item included (the checks that read exports too, so a forged export can fail), with
only shorter execution limits. Leftover processes are found by the sandbox's uid (any
process of a sandbox uid that no live sandbox holds), not by where they run. Host paths in
`host_absent` are written "{ROOT}/..." for the checkout under test; the payloads find the
checkout at run time. Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/adversarial
(`-m "not slow"` leaves out the two long attacks and the outside-paths check).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

import harness as H
from isolation_expect import assert_strongest_isolation

# grades a corpus of submissions end to end: with the slow tests (CI runs them all)
pytestmark = pytest.mark.slow

MANIFESTS = H.manifests()
FAST = [n for n, m in MANIFESTS.items() if not m["slow"]]
NB_STATUSES = {"completed", "cell_errors", "timeout", "dead_kernel", "executor_crashed", "executor_error",
               "invalid", "missing", "not_run"}
ITEM_STATUSES = {"passed", "failed", "error", "skipped", "pending"}
MARKERS = ("adv_", "adv-escape", "pwned")  # every file an attack tries to plant has one of these in its name


def _params(names):
    out = []
    for n in names:
        w = MANIFESTS[n]["weakness"]
        out.append(pytest.param(n, id=n, marks=[pytest.mark.xfail(strict=True, reason=w)] if w else []))
    return out


def _isolation_mode() -> str:
    from grader import environment

    return environment.isolation("auto")["mode"]


def _marked(paths: set[str]) -> set[str]:
    return {p for p in paths if any(m in os.path.basename(p) for m in MARKERS)}


@pytest.fixture(scope="session")
def corpus():
    """Grade every fast attack once; record the host before and after."""
    tmp = Path(tempfile.mkdtemp(prefix="adv-"))
    out_dir, scratch = tmp / "out", tmp / "s"
    mode = _isolation_mode()
    names = [n for n in FAST if not (MANIFESTS[n]["only_bwrap"] and mode != "bwrap")]
    only = os.environ.get("ADV_ONLY")  # e.g. ADV_ONLY=fork_bomb,zip_tricks: grade those (and their twins) only
    if only:
        wanted = set(only.split(","))
        wanted |= {MANIFESTS[n]["twin"] for n in wanted if MANIFESTS.get(n, {}).get("twin")}
        names = [n for n in names if n in wanted]
    before = {
        "listing": H.listing(),
        "shadow": H.stat_sig("/etc/shadow"),
        "passwd": H.stat_sig("/etc/passwd"),
    }
    listener = H.Listener()
    t0 = time.monotonic()
    try:
        results = H.grade_corpus(names, out_dir, scratch, workers=int(os.environ.get("ADV_WORKERS", "2")))
    finally:
        listener.close()
    time.sleep(0.5)
    after = {
        "listing": H.listing(),
        "shadow": H.stat_sig("/etc/shadow"),
        "passwd": H.stat_sig("/etc/passwd"),
    }
    data = {"results": results, "before": before, "after": after, "hits": list(listener.hits), "out": out_dir,
            "scratch": scratch, "mode": mode, "seconds": time.monotonic() - t0, "skipped": sorted(n for n in FAST if MANIFESTS[n]["only_bwrap"] and mode != "bwrap")}
    print(f"\nadversarial corpus: {len(names)} submissions graded in {data['seconds']:.0f} s ({mode})")
    yield data
    shutil.rmtree(tmp, ignore_errors=True)


def _failing(rep, notebook):
    run = next((n for n in rep["notebooks"] if n["notebook"] == notebook), None)
    return run, ([c for c in run["cells"] if c["status"] in ("error", "timeout", "dead")] if run else [])


def check_report(name: str, res: dict, out_dir: Path, twin_score: float | None):
    m = MANIFESTS[name]
    assert res["error"] is None, f"the grader itself failed: {res['error']}"
    rep = res["report"]
    assert rep is not None
    # the grader survived and wrote its report, with sane fields
    saved = out_dir / rep["netid"] / "report.json"
    assert saved.exists(), "no report.json written"
    assert json.loads(saved.read_text())["score"] == rep["score"]
    assert rep["netid"] == m["netid"]
    assert 0 <= rep["score"] <= rep["max_score"]
    assert all(n["status"] in NB_STATUSES for n in rep["notebooks"])
    assert all(i["status"] in ITEM_STATUSES and 0 <= i["score"] <= i["max_score"] for i in rep["items"])
    assert not any(f["code"] == "internal_error" for f in rep["findings"]), rep["findings"]
    assert_strongest_isolation(rep)
    # no hang past the deadline
    assert res["seconds"] <= m["max_seconds"], f"grading took {res['seconds']:.0f} s (bound {m['max_seconds']} s)"
    # no gain from the attack
    if twin_score is not None:
        assert rep["score"] <= twin_score - m["max_below_twin"] + 1e-6, (rep["score"], twin_score)
    if m.get("max_score") is not None:
        assert rep["score"] <= m["max_score"] + 1e-6
    run, failing = _failing(rep, m["notebook"])
    assert run is not None
    if m["notebook_status"]:
        assert run["status"] in m["notebook_status"], (run["status"], run["message"][:300], run["cells"])
    if m["failing_ename"]:
        enames = [c["ename"] for c in failing]
        assert any(e in m["failing_ename"] for e in enames), f"failing cells: {failing}"
    if m["failing_evalue"]:
        assert any(m["failing_evalue"] in c["evalue"] for c in failing), f"failing cells: {failing}"
    for bad in m["evalue_must_not"]:
        assert not any(bad in c["evalue"] for c in failing), f"leak {bad!r} in {failing}"
    items = {i["id"]: i for i in rep["items"]}
    for iid, status in m["items"].items():
        assert items[iid]["status"] == status, (iid, items[iid]["status"], items[iid]["feedback"][:400])
    if m.get("disk_cap_mib") is not None:
        import re

        wrote = [int(x) for c in failing for x in re.findall(r"DISKFILL wrote (\d+) MiB", c["evalue"])]
        assert wrote and max(wrote) <= m["disk_cap_mib"], f"the kernel wrote {wrote} MiB (cap {m['disk_cap_mib']} MiB)"
    for iid, text in m["item_feedback"].items():
        assert text in items[iid]["feedback"], (iid, items[iid]["feedback"][:400])
    codes = {f["code"] for f in rep["findings"]}
    assert set(m["findings"]) <= codes, (m["findings"], codes)
    rules = {p["rule"] for p in rep["penalties"]}
    assert set(m["penalties"]) <= rules, (m["penalties"], rep["penalties"])
    for p in m["host_absent"]:
        p = p.replace("{ROOT}", str(H.ROOT))
        assert not os.path.lexists(p), f"{p} was created on the host"
    # nothing left behind
    assert res["sandbox_procs"] == [], f"processes of a sandbox uid left: {res['sandbox_procs']}"
    assert res["new_kernel_procs"] == [], f"kernels/executors/probes left: {res['new_kernel_procs']}"
    return rep


@pytest.mark.parametrize("name", _params(FAST))
def test_attack(corpus, name):
    if name not in corpus["results"] and name not in corpus["skipped"]:
        pytest.skip("not selected by ADV_ONLY")
    if name in corpus["skipped"]:
        pytest.skip(f"{name} is graded only under bwrap (isolation here: {corpus['mode']})")
    twin = MANIFESTS[name]["twin"]
    twin_score = None
    if twin:
        twin_res = corpus["results"][twin]
        assert twin_res["report"] is not None
        twin_score = twin_res["report"]["score"]
    check_report(name, corpus["results"][name], corpus["out"], twin_score)


def test_no_connection_reached_the_host(corpus):
    assert corpus["hits"] == []


def test_no_file_planted_outside_the_job_dirs(corpus):
    new = _marked(corpus["after"]["listing"] - corpus["before"]["listing"])
    assert new == set()
    # the job dirs themselves are gone
    left = [p for p in corpus["scratch"].rglob("grader-*")] if corpus["scratch"].exists() else []
    assert left == []
    # the out dir holds only the grader's reports (and the class files `grader report` may have written)
    for d in corpus["out"].iterdir():
        if d.is_file():
            continue
        assert d.name in {m["netid"] for m in MANIFESTS.values()}, d
        assert {p.name for p in d.iterdir()} <= {"report.json", "feedback.md", "feedback.html", "results.json",
                                                 "junit.xml", "artifacts"}, sorted(p.name for p in d.iterdir())


def test_grader_files_and_host_untouched(corpus):
    b, a = corpus["before"], corpus["after"]
    assert a["shadow"] == b["shadow"] and a["passwd"] == b["passwd"]
    # Other people edit the repository while the suite runs: look for the attacks' payloads, not for changes.
    for d in ("reference", "rubrics", "grader", "tests/adversarial/rubric"):
        for p in (H.ROOT / d).rglob("*"):
            if p.is_file() and p.suffix in (".py", ".yaml", ".ipynb", ".json"):
                assert b"adv_pwned" not in p.read_bytes() and "adv_escape" not in p.name, p


def test_grader_report_writes_the_class_files_for_a_class_of_attacks(corpus):
    """`grader report` over the corpus's reports (a class made of attacks): every class file
    is written and every attack has its gradebook row, with the score of its report."""
    import csv
    import subprocess
    import sys

    out = corpus["out"]
    proc = subprocess.run([sys.executable, "-m", "grader", "report", str(out), "--rubric", str(H.RUBRIC)], cwd=H.ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = {r["netid"]: r for r in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    graded = {res["report"]["netid"]: res["report"]["score"] for res in corpus["results"].values() if res["report"]}
    assert set(rows) == set(graded)
    assert all(float(rows[n]["score"]) == s for n, s in graded.items())
    for f in ("junit.xml", "cohort.json"):
        assert (out / f).stat().st_size > 0, f


# ------------------------------------------------------------------------------------
# slow ones: graded on their own


def test_long_scratch_path_still_runs(tmp_path):
    scratch = Path(tempfile.mkdtemp(prefix="adv-" + "x" * 40 + "-"))
    try:
        res = H.grade_one(Path(MANIFESTS["honest_cnn"]["zip_path"]), tmp_path / "out", scratch / "scratch-root")
        run, _ = _failing(res["report"], "hw2_cnn.ipynb")
        assert run["status"] == "completed", run["message"][:300]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.slow
def test_probe_that_ignores_its_alarm(tmp_path):
    scratch = Path(tempfile.mkdtemp(prefix="adv-"))
    twin = H.grade_one(Path(MANIFESTS["honest_cnn"]["zip_path"]), tmp_path / "o1", scratch / "s1")
    res = H.grade_one(Path(MANIFESTS["probe_ignores_alarm"]["zip_path"]), tmp_path / "out", scratch / "s2")
    time.sleep(0.3)
    res["sandbox_procs"] = H.sandbox_processes(str(scratch / "s2"))
    res["new_kernel_procs"] = sorted(H.kernel_processes(str(scratch / "s2")))
    shutil.rmtree(scratch, ignore_errors=True)
    check_report("probe_ignores_alarm", res, tmp_path / "out", twin["report"]["score"])


# section8_cosmetic_smoothing (the same 08 notebook as submissions/section8_cosmetic_smoothing/
# cs5004.zip) is graded with rubrics/hw2 by tests/test_samples_e2e.py
# (test_spiky_section8_fails_whatever_the_recorded_losses_say), not twice.


@pytest.mark.slow
def test_outside_paths_hidden(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="adv-outside-", dir="/var/tmp"))
    os.chmod(base, 0o755)  # as an instructor's /srv/hw2 would be (mkdtemp makes it private)
    try:
        # the shipped rubric copied outside (as /srv/hw2/rubric would be), and the test
        # overlay extending it there
        shipped, rubric = base / "shipped", base / "rubric"
        shutil.copytree(H.ROOT / "rubrics" / "hw2", shipped)
        a = shipped / "assignment.yaml"
        a.write_text(a.read_text().replace("support_dir: ../../reference/res", f"support_dir: {H.ROOT / 'reference' / 'res'}"))
        shutil.copytree(H.RUBRIC, rubric)
        o = rubric / "assignment.yaml"
        o.write_text(o.read_text().replace("extends: ../../../rubrics/hw2", "extends: ../shipped"))
        subs, out = base / "zips", base / "grades"
        subs.mkdir()
        (out / "zz9999").mkdir(parents=True)
        (out / "zz9999" / "report.json").write_text('{"netid": "zz9999", "score": 93}')
        shutil.copy(MANIFESTS["honest_cnn"]["zip_path"], subs / "zz9999.zip")
        z = shutil.copy(MANIFESTS["read_other_students"]["zip_path"], subs / "adv0008.zip")
        res = H.grade_one(Path(z), out, Path(tempfile.mkdtemp(prefix="adv-")), rubric_dir=rubric)
        rep = res["report"]
        _, failing = _failing(rep, "hw2_cnn.ipynb")
        print("outside-paths failing cells:", failing)
        leaked = [c["evalue"] for c in failing if str(base) in c["evalue"]]
        assert leaked == [], leaked
    finally:
        shutil.rmtree(base, ignore_errors=True)
