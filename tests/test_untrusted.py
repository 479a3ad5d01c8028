"""The one door for untrusted data (grader/untrusted.py) and the writers behind it: fast unit tests.

The same attacks, graded for real through `grader batch`, are in
tests/adversarial/test_untrusted_data.py.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader import untrusted as U


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npy_member(shape, dtype="<f8", data=b"", fortran=False) -> bytes:
    """A .npy file with the header we choose (it may lie about the data)."""
    header = repr({"descr": dtype, "fortran_order": fortran, "shape": tuple(shape)}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def zip_of(members: dict[str, bytes], compress=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def strict(text: str):
    def refuse(token):
        raise ValueError(token)

    return json.loads(text, parse_constant=refuse)


# -- strings -------------------------------------------------------------------------------


def test_text_replaces_lone_surrogates_and_caps_visibly():
    s = U.text("a\ud800b\udfffc")
    assert s == "a\ufffdb\ufffdc"
    s.encode("utf-8")
    cut = U.text("x" * 500, 100)
    assert cut == "x" * 55 + " [truncated: 445 more characters]" and len(cut) <= 100 and U.text(cut, 100) == cut
    assert U.text("\U0001F600 ok") == "\U0001F600 ok"  # a real emoji is not a surrogate in Python
    assert U.tail("abcdef", 3).endswith("def") and "truncated" in U.tail("abcdef", 3)

    class Hostile:
        def __str__(self):
            raise RuntimeError("no")

    assert U.text(Hostile()) == "<Hostile>"


def test_clean_tree_counts_what_it_repaired():
    n = [0]
    out = U.clean_tree({"cells": [{"source": "# \ud800", "k\udc80": ["ok", "\udfff"]}]}, None, n)
    assert n[0] == 3
    json.dumps(out, ensure_ascii=False).encode("utf-8")


# -- .npz ----------------------------------------------------------------------------------


def test_npz_round_trip_is_exact_and_writable():
    a = np.arange(12.0).reshape(3, 4)
    f = np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3))
    with U.NpzReader(npz(a=a, f=f, b=np.array([True, False]), s=np.array(["x", "yz"]))) as z:
        out = {k: z.read(k) for k in z.files}
    assert np.array_equal(out["a"], a) and out["a"].dtype == a.dtype
    assert np.array_equal(out["f"], f) and np.array_equal(out["b"], [True, False])
    assert out["s"].tolist() == ["x", "yz"]
    out["a"][0, 0] = 5  # checks may work in place


def test_npz_refuses_pickled_objects_from_the_header():
    raw = npz(o=np.array([{"x": 1}], dtype=object))
    with U.NpzReader(raw) as z, pytest.raises(U.Refused, match="dtype object"):
        z.read("o")


def test_npz_member_count_is_refused_before_the_zip_is_parsed(monkeypatch):
    raw = zip_of({f"a{i}.npy": b"" for i in range(U.MAX_MEMBERS + 1)}, zipfile.ZIP_STORED)

    def no_parse(*a, **k):
        raise AssertionError("zipfile parsed the directory")

    monkeypatch.setattr(U.zipfile, "ZipFile", no_parse)
    with pytest.raises(U.Refused, match="too many arrays"):
        U.NpzReader(raw)


def test_npz_declared_size_is_checked_before_decompressing():
    # 8 GB declared by the header; only a few bytes behind it: nothing may be allocated
    raw = zip_of({"big.npy": npy_member((1 << 30,), data=b"\0" * 64)})
    budget = U.Budget(64 << 20, "one probe result")
    tracemalloc.start()
    try:
        with U.NpzReader(raw) as z, pytest.raises(U.Refused, match="too large"):
            z.read("big", budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak
    assert budget.used == 0
    with pytest.raises(U.Refused, match="more than"):
        U.read_npz(io.BytesIO(raw), 1 << 20)


def test_npz_header_that_overstates_its_data_is_refused():
    raw = zip_of({"a.npy": npy_member((1000,), data=b"\0" * 16)})
    with U.NpzReader(raw) as z, pytest.raises(U.Refused, match="shorter"):
        z.read("a")


@pytest.mark.parametrize("raw", [b"not a zip at all", b"PK\x05\x06" + b"\0" * 6 + b"\xff\xff" + b"\0" * 10])
def test_npz_malformed_archives_are_refused(raw):
    with pytest.raises(U.Refused):
        U.NpzReader(raw)


def test_npz_numeric_kinds_for_exports():
    with pytest.raises(U.Refused, match="not plain numbers"):
        U.read_npz(io.BytesIO(npz(c=np.array([1j]))), 1 << 20, kinds=U.NUMERIC_KINDS)
    assert U.read_npz(io.BytesIO(npz(c=np.array([1j]))), 1 << 20, kinds=U.PROBE_KINDS)["c"][0] == 1j  # a probe may


# -- probe result trees --------------------------------------------------------------------


def decode(spec, arrays=None, limit=U.MAX_RESULT_BYTES):
    with U.NpzReader(npz(**(arrays or {}))) as z:
        return U.decode_result(spec, z, U.Budget(limit, "one probe result"))


def test_every_reference_to_an_array_is_charged():
    ref = {"t": "tensor", "key": "a0"}
    a0 = np.zeros(1 << 17)  # 1 MiB
    assert len(decode({"t": "list", "v": [ref] * 10}, {"a0": a0}, 16 << 20)) == 10
    with pytest.raises(U.Refused, match="too large"):
        decode({"t": "list", "v": [ref] * 60}, {"a0": a0}, 16 << 20)


def test_tree_size_and_depth_are_bounded():
    with pytest.raises(U.Refused, match="too large or too deep"):
        decode({"t": "list", "v": [{"t": "int", "v": 1}] * (U.MAX_NODES + 1)})
    deep = {"t": "none"}
    for _ in range(U.MAX_DEPTH + 2):
        deep = {"t": "list", "v": [deep]}
    with pytest.raises(U.Refused):
        decode(deep)


def test_leaves_have_the_type_their_tag_says():
    O = U.Opaque
    assert isinstance(decode({"t": "str", "v": ["not", "a", "string"]}), O)
    assert isinstance(decode({"t": "int", "v": "1"}), O)
    assert isinstance(decode({"t": "int", "v": True}), O)
    assert isinstance(decode({"t": "bool", "v": 1}), O)
    assert isinstance(decode({"t": "list", "v": "abc"}), O)
    assert isinstance(decode({"t": "dict", "v": []}), O)
    assert isinstance(decode({"t": "float", "v": "1e309"}), O)
    assert math.isnan(decode({"t": "float", "v": "nan"})) and decode({"t": "npscalar", "v": "-inf"}) == -math.inf
    assert decode({"t": "float", "v": 2}) == 2.0 and decode({"t": "npscalar", "v": 3}) == 3
    assert isinstance(decode({"t": "tensor", "key": "nope"}), O)
    assert decode({"t": "tuple", "v": [{"t": "none"}, {"t": "bool", "v": False}]}) == (None, False)


def test_strings_names_and_keys_are_sanitised_and_capped():
    s = decode({"t": "str", "v": "\ud800" + "y" * 50_000})
    assert s.startswith("\ufffd") and "[truncated" in s and len(s) < U.MAX_STRING + 100
    o = decode({"t": "object", "type": "X" * 10**6 + "\udc80", "repr": "\ud83d"})
    assert len(o.type) < U.MAX_NAME + 100 and o.repr == "\ufffd"
    d = decode({"t": "dict", "v": {"k\ud800" + "z" * 5000: {"t": "none"}}})
    (key,) = d
    assert key.startswith("k\ufffd") and len(key) < U.MAX_KEY + 100


def test_result_meta_is_sanitised():
    meta = U.result_meta({"t": "tensor", "dtype": "D" * 10**6, "shape": [1] * 10**5, "type": "\ud800"})
    assert len(meta["dtype"]) < U.MAX_NAME + 100 and meta["shape"] is None and meta["type"] == "\ufffd"
    assert U.result_meta({"t": "tensor", "dtype": "float64", "shape": [2, 3]}) == {"t": "tensor", "dtype": "float64", "shape": [2, 3]}
    assert U.result_meta("nope") == {}


def test_prober_reads_results_within_the_submissions_budget(tmp_path):
    from grader.probe import Prober

    prober = Prober(tmp_path / "scratch", isolation="none", use_server=False)
    work = tmp_path / "w"
    work.mkdir()

    def result(i, value, arrays=None, compressed=False, **extra):
        (work / f"out-{i}.json").write_text(json.dumps({"index": i, "ok": True, "value": value, "seconds": 0.1, **extra}))
        buf = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(buf, **(arrays or {}))
        (work / f"out-{i}.npz").write_bytes(buf.getvalue())

    ref = {"t": "tensor", "key": "a0"}
    result(0, {"t": "list", "v": [ref] * 60}, {"a0": np.zeros(1 << 20)}, compressed=True)  # 480 MB from ~8 KB
    out = prober._read(work, 0, "", 0.0)
    assert not out.ok and "too large" in out.error
    result(1, {"t": "list", "v": [ref] * 3}, {"a0": np.ones(1 << 20)})
    out = prober._read(work, 1, "", 0.0)
    assert out.ok and len(out.value) == 3 and out.value[0].sum() == 1 << 20
    prober.budget = U.Budget(30 << 20, "all the probe results of one submission")
    assert prober._read(work, 1, "", 0.0).ok  # 24 MiB of 30
    out = prober._read(work, 1, "", 0.0)
    assert not out.ok and "left of the submission" in out.error
    (work / "out-2.json").write_text(json.dumps({"ok": False, "error": "E\ud800" * 5000, "traceback": "\udcff" * 9000,
                                                 "seconds": "soon"}))
    out = prober._read(work, 2, "", 0.0)
    assert out.error.startswith("E\ufffd") and "[truncated" in out.error and len(out.error) < 1100
    assert "\udcff" not in out.traceback and out.seconds == 0.0


# -- reports -------------------------------------------------------------------------------


def hostile_report(tmp_path):
    from grader.model import Finding, ItemResult, NotebookRun, CellOutcome, Report

    evidence = {"got": [1.0, float("nan"), float("inf"), -float("inf")], "np": np.float64("nan"), "i": np.int64(3),
                "arr": np.arange(3.0), "\ud800key": "v\udfff", "artifacts": {"curve.png": "A" * 200_000}}
    items = (
        ItemResult("hw2.a", "A \ud83d", "allclose", 0.0, 3.0, "failed", "raised ValueError: bad \ud800 input\n" + "x" * 200_000,
                   evidence=evidence),
        ItemResult("hw2.b", "B", "allclose", 3.0, 3.0, "passed", "", evidence={"big": ["y" * 1000] * 5000}),
    )
    nb = NotebookRun("hw2.ipynb", "cell_errors", False, 1.0, 3,
                     (CellOutcome(2, "error", 0.1, "RuntimeError", "and \udcff here"),), message="msg \ud800")
    return Report(netid="ab1234", assignment="hw2", score=3.0, max_score=6.0, raw_score=3.0, penalties=(), items=items,
                  notebooks=(nb,), findings=(Finding("x", "finding \ud800", "warning"),),
                  submission={"file": "ab1234.zip", "submitted_at": None, "submitted_at_source": "unknown",
                              "deadline": "2026-03-01T23:59:00", "accepted": True, "rejection": ""},
                  environment={"isolation": {"mode": "none"}}, graded_at="2026-01-01T00:00:00", seconds=1.0)


def test_report_safe_is_strict_bounded_and_idempotent(tmp_path):
    d = hostile_report(tmp_path).to_dict()
    text = json.dumps(d, allow_nan=False)
    text.encode("utf-8")
    assert U._size(d) <= U.MAX_REPORT_BYTES
    assert d["items"][0]["evidence"]["got"][1:] == ["NaN", "Infinity", "-Infinity"]
    assert d["items"][0]["evidence"]["i"] == 3 and d["items"][0]["evidence"]["arr"] == [0.0, 1.0, 2.0]
    assert len(d["items"][0]["evidence"]["artifacts"]["curve.png"]) == 200_000  # the grader's PNGs are not cut
    finding = next(f for f in d["findings"] if f["code"] == "non_finite_values")
    assert "items[0].evidence.got[1]" in finding["message"]
    assert "omitted" in d["items"][1]["evidence"]  # the largest evidence went first
    assert U.report_safe(d) == d


def test_report_safe_leaves_plain_reports_alone():
    plain = {"netid": "ab1", "score": 1.5, "items": [{"id": "x", "evidence": {"a": [1, 2.5, "s", None, True]}}],
             "findings": []}
    assert U.report_safe(plain) == plain


def test_every_writer_survives_a_hostile_report(tmp_path):
    from grader.batch.publish import load_reports, write_class_reports
    from grader.report import write_reports

    d = write_reports(hostile_report(tmp_path), tmp_path)
    rep = strict((d / "report.json").read_bytes().decode("utf-8"))
    assert (d / "report.json").stat().st_size <= 3 << 20
    (d / "feedback.md").read_bytes().decode("utf-8")
    assert "\ufffd" in rep["items"][0]["feedback"]
    # a report.json written by an older grader, with NaN tokens and escaped surrogates
    old = tmp_path / "cd5678"
    old.mkdir()
    legacy = json.loads(json.dumps(rep))
    legacy["netid"] = "cd5678"
    legacy["items"][0]["feedback"] = "raised \ud800"
    legacy["items"][0]["evidence"] = {"got": float("nan")}
    (old / "report.json").write_text(json.dumps(legacy))
    assert "NaN" in (old / "report.json").read_text()
    cohort = write_class_reports(tmp_path)
    assert cohort["errors"] == []
    rows = list(csv.DictReader(io.StringIO((tmp_path / "gradebook.csv").read_text(encoding="utf-8"))))
    assert [r["netid"] for r in rows] == ["ab1234", "cd5678"]
    for who in ("ab1234", "cd5678"):
        (tmp_path / who / "feedback.html").read_bytes().decode("utf-8")
        strict((tmp_path / who / "results.json").read_text(encoding="utf-8"))
    strict((tmp_path / "cohort.json").read_text())
    assert all(r["netid"] for r in load_reports(tmp_path))


def test_a_gradebook_row_that_cannot_be_computed_says_so():
    from grader.report.gradebook import gradebook_rows

    good = {"netid": "ab1", "score": 1, "max_score": 2, "raw_score": 1, "penalties": [], "findings": [],
            "items": [{"id": "x", "status": "passed", "score": 1, "max_score": 2}]}
    bad = {"netid": "ab2", "items": [{"id": "x"}]}
    header, rows = gradebook_rows([bad, good])
    assert all(len(r) == len(header) for r in rows)
    by = {r[0]: r for r in rows}
    assert "could not be computed" in by["ab2"][-1] and by["ab2"][1] == ""
    assert by["ab1"][:2] == ["ab1", "1"] and by["ab1"][-1] == ""


def test_a_nan_fraction_scores_nothing():
    from grader.checks.base import CheckResult
    from grader.pipeline import _item_result
    from grader.rubric.model import ItemSpec

    item = ItemSpec.__new__(ItemSpec)
    for k, v in dict(id="i", title="t", kind="allclose", points=4.0, feedback="", visibility="visible", part="code").items():
        object.__setattr__(item, k, v)
    assert _item_result(item, CheckResult(float("nan"), "failed", ""), 0.0).score == 0.0
    assert _item_result(item, CheckResult(0.5, "failed", ""), 0.0).score == 2.0


# -- stored notebook outputs ---------------------------------------------------------------


def _msg(kind: str, content: dict) -> dict:
    return {"msg_type": kind, "header": {"msg_type": kind, "msg_id": kind}, "parent_header": {"msg_id": "p"},
            "content": content, "metadata": {}}


def test_display_updates_count_against_the_output_cap():
    import nbformat

    from grader.execute.executor import CappedClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x"), nbformat.v4.new_code_cell("y")])
    client = CappedClient(nb, max_output_bytes=20_000)
    client.reset_execution_trackers()
    client.clear_before_next_output = False  # (set per cell by nbclient's execute_cell)
    disp = {"data": {"text/plain": "."}, "metadata": {}, "transient": {"display_id": "d"}}
    for _ in range(64):
        client.process_message(_msg("display_data", disp), nb.cells[0], 0)
    client.process_message(_msg("update_display_data", {**disp, "data": {"text/plain": "tick 1"}}), nb.cells[1], 1)
    assert nb.cells[0].outputs[0]["data"]["text/plain"] == "tick 1"  # an honest progress update still shows
    assert not client.truncated
    client.process_message(_msg("update_display_data", {**disp, "data": {"text/plain": "Z" * 100_000}}), nb.cells[1], 1)
    assert client.truncated
    assert len(U.notebook_text(nb)) < 2 * 20_000
    assert client.comm_open_handlers == {} and not client.store_widget_state


def test_stored_notebook_text_is_valid_utf8():
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('\\ud800')")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="\ud800 \udcff")]
    U.notebook_text(nb).encode("utf-8")


# -- the probe fork server -----------------------------------------------------------------


def _no_ptrace_capability() -> None:
    """(preexec) As root: drop CAP_SYS_PTRACE from the bounding set, so the exec'd process is
    root without it, as a probe is its server's uid without it."""
    import ctypes

    if os.geteuid() == 0:
        PR_CAPBSET_DROP, CAP_SYS_PTRACE = 24, 19
        if ctypes.CDLL(None, use_errno=True).prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")


def _open_mem(pid: int) -> str:
    code = (f"import os\ntry:\n    os.close(os.open('/proc/{pid}/mem', os.O_RDWR)); print('opened')\n"
            "except OSError as e:\n    print('denied', type(e).__name__)")
    return subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=30,
                          preexec_fn=_no_ptrace_capability).stdout.strip()


def test_the_probe_server_memory_is_closed_to_its_own_uid():
    """A process of the server's uid and capabilities (as every probe is: same uid, no
    CAP_SYS_PTRACE) cannot open the server's /proc/<pid>/mem; it can open a plain process's,
    so the test can fail. (The batch test runs the real attack from a sandboxed probe:
    maps, environ, mem and PTRACE_ATTACH all refused.)"""
    from grader.probe import FORKSERVER, WORKER

    d = Path(tempfile.mkdtemp(prefix="ufs-"))
    procs = []
    try:
        shutil.copy(WORKER, d / "worker.py")
        shutil.copy(FORKSERVER, d / "forkserver.py")
        server = subprocess.Popen([sys.executable, "-I", "forkserver.py"], cwd=d, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=_no_ptrace_capability)
        procs.append(server)
        hello = json.loads(server.stdout.readline())
        assert hello["ready"] and hello["undumpable"] is True
        plain = subprocess.Popen([sys.executable, "-I", "-c", "import time; time.sleep(60)"], cwd=d,
                                 preexec_fn=_no_ptrace_capability)
        procs.append(plain)
        time.sleep(0.3)
        assert _open_mem(plain.pid) == "opened"
        assert _open_mem(server.pid) == "denied PermissionError"
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)
