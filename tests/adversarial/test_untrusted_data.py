"""Untrusted data reaching the grader process (scripts/build_adversarial_data.py), graded for real.

One `grader batch` (the CLI, one worker, the real sandbox) over every attack of the
untrusted-data corpus plus the honest twin, while a watcher reads the peak resident
memory (VmHWM) of every grader-side process of the batch (coordinator, Dask worker,
executors; the sandboxed kernels and probes run under other uids and are not the
grader) and the size of every executed notebook the executors store. Then
`grader report OUT` rebuilds the class files. Each attack must leave: the grader alive
with a gradebook row for everyone, report.json strict JSON (no NaN/Infinity tokens) and
small, every student file valid UTF-8, no gain over the honest twin, and what its
expected.json says.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -n 0 tests/adversarial/test_untrusted_data.py -s
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import harness as H

# grades a corpus of submissions end to end: with the slow tests (CI runs them all)
pytestmark = pytest.mark.slow

SCRIPT = H.ROOT / "scripts" / "build_adversarial_data.py"
MAX_GRADER_RSS = 1 << 30
MAX_REPORT_BYTES = 3 << 20  # "a few MB", for any report.json of the batch
BATCH_TIMEOUT_S = 400


def _manifests() -> dict[str, dict]:
    ms = {n: m for n, m in H.manifests().items() if m.get("suite") == "untrusted_data"}
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_adversarial_data", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    wanted = {a[0] for a in mod.ATTACKS}
    if set(ms) != wanted or not all(Path(m["zip_path"]).exists() for m in ms.values()):
        subprocess.run([sys.executable, str(SCRIPT)], check=True, stdout=subprocess.DEVNULL)
        ms = {n: m for n, m in H.manifests().items() if m.get("suite") == "untrusted_data"}
    return ms


MANIFESTS = _manifests()
TWIN = "honest_cnn"


def _isolation_mode() -> str:
    from grader import environment

    return environment.isolation("auto")["mode"]


def _status(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("Uid", "VmHWM", "Name"):
                    out[key] = value.split()
    except OSError:
        return {}
    return out


class Watcher:
    """Polls the batch's process tree: peak RSS of grader-side processes, and the size of
    every executed notebook written under the scratch root."""

    def __init__(self, root_pid: int, scratch: Path, period: float = 0.1):
        self.root, self.scratch, self.period = root_pid, scratch, period
        self.peak: dict[int, tuple[int, str]] = {}  # pid -> (VmHWM bytes, command)
        self.notebooks: dict[str, int] = {}  # executed.ipynb path -> largest size seen
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _descendants(self) -> list[int]:
        from grader.procstat import ppid_and_start

        parent = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (info := ppid_and_start(entry)) is not None:
                parent[int(entry)] = info[0]
        out, frontier = [], [self.root]
        while frontier:
            pid = frontier.pop()
            out.append(pid)
            frontier.extend(c for c, p in parent.items() if p == pid)
        return out

    def _poll(self) -> None:
        me = os.geteuid()
        for pid in self._descendants():
            st = _status(pid)
            if not st.get("VmHWM") or int(st["Uid"][0]) != me:  # sandboxed kernels and probes: not the grader
                continue
            hwm = int(st["VmHWM"][0]) * 1024
            if hwm > self.peak.get(pid, (0, ""))[0]:
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
                except OSError:
                    cmd = st.get("Name", ["?"])[0]
                self.peak[pid] = (hwm, cmd)
        for nb in self.scratch.glob("grader-*/x-*/private/executed.ipynb"):
            try:
                size = nb.stat().st_size
            except OSError:
                continue
            self.notebooks[str(nb)] = max(size, self.notebooks.get(str(nb), 0))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._poll()
            except Exception:  # a process vanished mid-read: next round
                pass
            self._stop.wait(self.period)

    def stop(self) -> None:
        self._stop.set()
        self._t.join(timeout=5)


def _grader(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=H.ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def batch():
    mode = _isolation_mode()
    names = [n for n, m in MANIFESTS.items() if not (m["only_bwrap"] and mode != "bwrap")]
    only = os.environ.get("ADU_ONLY")  # e.g. ADU_ONLY=npz_expansion_bomb,nan_and_inf_returns (the twin is always graded)
    if only:
        names = [n for n in names if n in only.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="adu-"))
    inbox, out, scratch = tmp / "in", tmp / "out", tmp / "s"
    inbox.mkdir()
    scratch.mkdir()
    for n in names + [TWIN]:
        m = H.manifests()[n] if n == TWIN else MANIFESTS[n]
        shutil.copy(m["zip_path"], inbox / Path(m["zip_path"]).name)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(scratch), "PYTHONPATH": str(H.ROOT)}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "grader", "batch", str(inbox), "--out", str(out), "--rubric",
                             str(H.RUBRIC), "--workers", "1"], cwd=H.ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    watcher = Watcher(proc.pid, scratch)
    try:
        output, _ = proc.communicate(timeout=BATCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
    finally:
        watcher.stop()
    seconds = time.monotonic() - t0
    t1 = time.monotonic()
    rebuilt = _grader("report", str(out), env=env)
    data = {"rc": proc.returncode, "output": output, "out": out, "names": names, "seconds": seconds,
            "peak": dict(watcher.peak), "notebooks": dict(watcher.notebooks), "rebuild": rebuilt,
            "rebuild_seconds": time.monotonic() - t1, "mode": mode}
    top = max(watcher.peak.values(), default=(0, ""))
    print(f"\nuntrusted-data batch: {len(names) + 1} submissions in {seconds:.0f} s ({mode}); grader peak RSS "
          f"{top[0] / 2**20:.0f} MiB ({top[1][:60]}); largest stored notebook "
          f"{max(watcher.notebooks.values(), default=0) / 2**10:.0f} KiB; report.json sizes (KiB) "
          + ", ".join(f"{d.name}={(d / 'report.json').stat().st_size >> 10}" for d in sorted(out.iterdir())
                      if (d / "report.json").exists()))
    yield data
    shutil.rmtree(tmp, ignore_errors=True)


def _strict(text: str):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _report(batch, netid: str) -> dict:
    path = batch["out"] / netid / "report.json"
    assert path.exists(), f"no report.json for {netid}; batch output:\n{batch['output'][-3000:]}"
    return _strict(path.read_bytes().decode("utf-8"))


def _gradebook(batch) -> dict[str, dict]:
    path = batch["out"] / "gradebook.csv"
    assert path.exists(), f"no gradebook.csv; batch output:\n{batch['output'][-3000:]}"
    return {r["netid"]: r for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))}


def test_batch_finishes_with_a_row_for_everyone(batch):
    assert batch["rc"] == 0, batch["output"][-3000:]
    rows = _gradebook(batch)
    netids = {MANIFESTS[n]["netid"] for n in batch["names"]} | {H.manifests()[TWIN]["netid"]}
    assert set(rows) == netids
    for _netid, row in rows.items():
        assert row["score"] != "" and row["notes"] == "", row  # graded, not "NOT GRADED: ..."


@pytest.mark.parametrize("name", list(MANIFESTS), ids=list(MANIFESTS))
def test_attack(batch, name):
    m = MANIFESTS[name]
    if name not in batch["names"]:
        pytest.skip(f"{name} is graded only under bwrap (isolation here: {batch['mode']})" if m["only_bwrap"]
                    else "not selected by ADU_ONLY")
    d = batch["out"] / m["netid"]
    rep = _report(batch, m["netid"])
    twin = _report(batch, H.manifests()[TWIN]["netid"])
    size = (d / "report.json").stat().st_size
    assert size <= min(m["max_report_bytes"], MAX_REPORT_BYTES), f"report.json is {size} bytes"
    json.dumps(rep, allow_nan=False)
    for f in ("feedback.md", "feedback.html", "results.json"):  # every student file: valid UTF-8
        (d / f).read_bytes().decode("utf-8")
    _strict((d / "results.json").read_text(encoding="utf-8"))
    codes = {f["code"] for f in rep["findings"]}
    assert not codes & {"internal_error", "grader_crash"}, rep["findings"]
    assert 0 <= rep["score"] <= twin["score"] - m["max_below_twin"] + 1e-6, (rep["score"], twin["score"])
    run = next(n for n in rep["notebooks"] if n["notebook"] == m["notebook"])
    if m["notebook_status"]:
        assert run["status"] in m["notebook_status"], (run["status"], run["message"][:300])
    failing = [c for c in run["cells"] if c["status"] in ("error", "timeout", "dead")]
    if m["failing_ename"]:
        assert any(c["ename"] in m["failing_ename"] for c in failing), failing
    items = {i["id"]: i for i in rep["items"]}
    for iid, status in m["items"].items():
        assert items[iid]["status"] == status, (iid, items[iid]["status"], items[iid]["feedback"][:400])
    for iid, texts in m["feedback_contains"].items():
        for t in texts:
            assert t in items[iid]["feedback"], (iid, t, items[iid]["feedback"][:600])
    for iid, texts in m["feedback_must_not"].items():
        for t in texts:
            assert t not in items[iid]["feedback"], (iid, t, items[iid]["feedback"][:600])
    assert set(m["penalties"]) <= {p["rule"] for p in rep["penalties"]}, rep["penalties"]
    assert set(m["findings"]) <= codes, codes


def test_reports_are_strict_and_small(batch):
    for d in sorted(p for p in batch["out"].iterdir() if p.is_dir() and not p.name.startswith(".")):
        text = (d / "report.json").read_bytes().decode("utf-8")
        assert len(text.encode()) <= MAX_REPORT_BYTES, (d.name, len(text))
        _strict(text)


def test_nonfinite_values_are_named(batch):
    if "nan_and_inf_returns" not in batch["names"]:
        pytest.skip("not selected by ADU_ONLY")
    rep = _report(batch, MANIFESTS["nan_and_inf_returns"]["netid"])
    finding = next(f for f in rep["findings"] if f["code"] == "non_finite_values")
    assert "items[0].evidence" in finding["message"], finding
    assert '"NaN"' in json.dumps(rep) and '"Infinity"' in json.dumps(rep)


def test_grader_memory_stays_bounded(batch):
    assert batch["peak"], "the watcher saw no grader process"
    worst = max(batch["peak"].values())
    assert worst[0] < MAX_GRADER_RSS, f"{worst[1]} peaked at {worst[0] / 2**20:.0f} MiB"


def test_stored_notebooks_are_capped(batch):
    m = MANIFESTS["display_update_flood"]
    if "display_update_flood" not in batch["names"]:
        pytest.skip("not selected by ADU_ONLY")
    assert len(batch["notebooks"]) >= len(batch["names"]), batch["notebooks"]  # every run was seen
    largest = max(batch["notebooks"].values())
    assert largest <= m["max_stored_notebook_bytes"], f"an executed notebook of {largest} bytes was stored"
    rep = _report(batch, m["netid"])
    assert next(n for n in rep["notebooks"] if n["notebook"] == m["notebook"])["output_truncated"]


def test_report_rebuilds_the_class_files(batch):
    r = batch["rebuild"]
    assert r.returncode == 0, r.stdout + r.stderr
    out = batch["out"]
    for f in ("gradebook.csv", "junit.xml", "cohort.json", "class.md", "class.html"):
        assert (out / f).stat().st_size > 0, f
    _strict((out / "cohort.json").read_text(encoding="utf-8"))
    assert set(_gradebook(batch)) == {d.name for d in out.iterdir() if (d / "report.json").exists()}
    for d in out.iterdir():
        if (d / "report.json").exists():
            (d / "feedback.html").read_bytes().decode("utf-8")
            _strict((d / "results.json").read_text(encoding="utf-8"))


def test_a_report_that_cannot_be_published_becomes_its_row(tmp_path, monkeypatch):
    """A publishing failure (here: forced) is that student's row with the reason; the next
    student is published as usual."""
    from grader.batch import run as batch_run
    from grader.batch.crash import crash_report
    from grader.batch.publish import write_class_reports
    from grader.rubric import load_rubric

    rubric = load_rubric(H.RUBRIC)
    ok = crash_report(rubric, Path("zz0002.zip"), "zz0002", "0" * 64, "a stand-in report")
    ok["findings"], ok["crash_reason"] = [], ""  # a graded report as far as publishing goes
    ok["submission"].update(accepted=True, rejection="")
    bad = json.loads(json.dumps(ok))
    bad["netid"] = "zz0001"
    import grader.report as rep_mod

    calls = {"n": 0}
    orig = rep_mod.feedback_text

    def flaky(report):
        calls["n"] += 1
        if report.get("netid") == "zz0001" and calls["n"] == 1:
            raise RuntimeError("disk says no")
        return orig(report)

    monkeypatch.setattr(rep_mod, "feedback_text", flaky)
    for netid, report in (("zz0001", bad), ("zz0002", ok)):
        job = batch_run.Job(Path(f"{netid}.zip"), netid, "0" * 64, "k")
        batch_run.publish_or_note(tmp_path, job, {"report": report, "code": {}, "files": {}}, None, rubric, "auto")
    write_class_reports(tmp_path, rubric=rubric)
    rows = {r["netid"]: r for r in csv.DictReader(io.StringIO((tmp_path / "gradebook.csv").read_text()))}
    assert set(rows) == {"zz0001", "zz0002"}
    assert "could not publish this report (RuntimeError: disk says no)" in rows["zz0001"]["notes"]
    assert rows["zz0002"]["notes"] == ""
