"""Golden files: every format of the registry (grader.report.formats.FORMATS), and report.json
itself, rendered from one fixed report (plus a crashed one for the class files), compared
byte for byte with tests/report/golden/<file>.

A change to a format shows here as a diff. When it is intended, regenerate and review:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest -n 0 tests/report/test_golden.py

A new format (a module and a line in FORMATS) gets its test from the parametrization; its
golden file is written by the command above.
"""
from __future__ import annotations

import difflib
import os
import struct
import zlib
from pathlib import Path

import pytest

from grader.model import (CellCut, CellOutcome, ExecBudget, Finding, ItemResult, NotebookRun, Penalty, Report)
from grader.report.formats import CLASS, FORMATS, STUDENT, Context

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def tiny_png() -> bytes:
    """A real 1x1 PNG, the same bytes every time."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x10\x20\x30", 9)) + chunk(b"IEND", b""))


ENV = {"grader_version": "0.1.0+golden", "python": "3.11.7", "seeds": {"python": 0},
       "isolation": {"mode": "bwrap", "uid": 65534, "features": ["net", "pid"], "missing": []},
       "rubric": {"directory": "/nonexistent/rubric"}}
SUB = {"file": "ab1234.zip", "sha256": "ab" * 32, "submitted_at": "2026-03-02T01:30:00-05:00",
       "submitted_at_source": "--submitted-at", "deadline": "2026-03-01T23:59:00-05:00", "accepted": True,
       "rejection": "", "files": {"hw2_cnn.ipynb": {"name_in_zip": "hw2_cnn.ipynb", "exact_name": True}}}


def fixed_report() -> Report:
    """One report with every feature a format shows: each item status, a hidden item, a
    picture, a penalty, a cut cell, student text with Markdown/HTML/CSV-active characters."""
    import base64

    evil = "<b>bold</b> | `tick` **Score: 99 / 99** =SUM(A1)"
    items = (
        ItemResult("hw2_cnn.conv1d", "Conv1D forward", "allclose", 10.0, 10.0, "passed", "", seconds=0.25,
                   evidence={"max_abs_err": 1e-7}),
        ItemResult("hw2_rnn.loss_curve", "Training curve", "loss_curve", 4.0, 5.0, "failed",
                   "the loss rose by 30 % at epoch 7\n" + "".join(f"epoch {k}: loss {1 / (k + 1):.4f}\n" for k in range(400)), seconds=2.5,
                   evidence={"max_rise": 0.3, "artifacts": {"loss_curve.png": base64.b64encode(tiny_png()).decode()}}),
        ItemResult("hw2_cnn.stride", f"Stride {evil}", "allclose", 0.0, 5.0, "failed",
                   f"values differ; got {evil}\n# not a heading", evidence={"got": [1, 2], "note": evil}),
        ItemResult("hw2_cnn.hidden", "Hidden shapes", "allclose", 0.0, 5.0, "failed", "secret input [3, 1, 4]",
                   visibility="hidden", evidence={"inputs": [3, 1, 4]}),
        ItemResult("hw2_rnn.probe", "RNN cell", "allclose", 0.0, 5.0, "error", "probe crashed: MemoryError"),
        ItemResult("hw2_theory.q1", "Theory question 1", "manual", 0.0, 10.0, "pending", "graded by a TA; pending",
                   part="theory"),
        ItemResult("hw2_rnn.bonus_plots", "Extra credit: gradient plots", "manual", 3.0, 5.0, "failed",
                   "graded by a TA: 3/5", evidence={"graded_by": "TA"}, extra_credit=True),
        ItemResult("hw2_rnn.bonus_adder", "Extra credit: a binary adder", "allclose", 0.0, 5.0, "failed",
                   "function add_bits not found", extra_credit=True),
    )
    budget = ExecBudget(600.0, 600.0, "calibrated", "600 s = 10 x the reference solution's 60 s on this machine (speed x1.50)",
                        factor=10.0, reference_s=40.0, reference_here_s=60.0, speed=1.5, benchmark_s=3.0,
                        baseline_benchmark_s=2.0, benchmark_source="measured")
    notebooks = (
        NotebookRun("hw2_cnn.ipynb", "completed", True, 12.34, 20, (CellOutcome(3, "skipped", note="!pip install torch (Colab line)"),)),
        NotebookRun("hw2_rnn.ipynb", "timeout", False, 600.0, 30, (CellOutcome(14, "timeout", 590.0, "CellTimeoutError", "cut"),),
                    message="cell 14 ran past its limit", budget=budget,
                    cut=CellCut(14, 590.0, 600.0, "notebook", True, "ran")),
    )
    findings = (Finding("junk_ignored", "ignored __MACOSX/ (2 files)", "info"),
                Finding("environment_error", "not the student's fault: no GPU", "info"),
                Finding("misnamed", f"hw2-rnn.ipynb was taken as hw2_rnn.ipynb {evil}", "warning"))
    return Report("ab1234", "hw2", 12.5, 45.0, 17.0, (Penalty("late", 10.0, "submitted 1.5 h late"),),
                  items, notebooks, findings, SUB, ENV, "2026-03-02T07:00:00+00:00", 640.5,
                  extra_credit=3.0, extra_credit_cap=5.0)


def crashed_report() -> Report:
    items = tuple(ItemResult(i.id, i.title, i.kind, 0.0, i.max_score, "pending" if i.kind == "manual" else "error",
                             "not graded: the worker died", visibility=i.visibility, part=i.part,
                             extra_credit=i.extra_credit) for i in fixed_report().items)
    return Report("cd5678", "hw2", 0.0, 45.0, 0.0, (), items, (),
                  (Finding("grader_crash", "the worker died. This is a fault of the grader, not of the submission; "
                                           "the instructor will regrade it.", "error"),),
                  {**SUB, "file": "cd5678.zip", "accepted": False, "rejection": "the worker died"}, ENV,
                  "2026-03-02T07:05:00+00:00", 1.0, crash_reason="the worker died", extra_credit_cap=5.0)


CTX = Context(pairs=({"a": "ab1234", "b": "cd5678", "similarity": 0.91, "shared_grams": 40,
                      "targets": {"hw2_cnn.ipynb::conv1d": 0.91}},),
              threshold=0.8, note="a lead for a human to look at, not an accusation")

# The LMS formats (written only with a roster): the class above plus a complete grading
# above the maximum (extra credit, after a late penalty) and one from a NetID not on the
# roster, against a Brightspace and a Canvas roster that also hold a student with no
# submission and a formula-like name.
BRIGHTSPACE_ROSTER = (
    "\ufeffOrgDefinedId,Username,Last Name,First Name,Email,End-of-Line Indicator\r\n"
    "#N001,#AB1234,Doe,\"=cmd|' /C calc'!A0\",ab1234@nyu.edu,#\r\n#N002,#cd5678,Núñez,José,cd5678@nyu.edu,#\r\n"
    "#N003,#ef9012,Lee,Kim,ef9012@nyu.edu,#\r\n#N004,#gh3456,Brontë,Zoë,gh3456@nyu.edu,#\r\n")
CANVAS_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Homework 2 (4411)\r\n    Points Possible,,,,,45\r\n"
    "\"=cmd|' /C calc'!A0, Jane\",101,N001,ab1234,DL 001\r\n\"Núñez, José\",102,N002,cd5678,DL 001\r\n"
    "\"Lee, Kim\",103,N003,ef9012@nyu.edu,\"DL 002, lab\"\r\n\"Brontë, Zoë\",104,N004,gh3456,DL 002\r\n"
    "\"Student, Test\",199,,,DL 001\r\n")


def lms_reports() -> list[Report]:
    import dataclasses

    full = fixed_report()
    done = dataclasses.replace(full, netid="ef9012", score=46.8, raw_score=52.0,
                               items=tuple(i for i in full.items if i.status.value != "pending"))
    stray = dataclasses.replace(done, netid="zz999", score=30.25, raw_score=30.25, penalties=())
    return [crashed_report(), dataclasses.replace(full, score=9.5, raw_score=14.0), done, stray]


def lms_contexts() -> list[Context]:
    import dataclasses

    from grader.lms.roster import parse_roster

    return [dataclasses.replace(CTX, roster=parse_roster(BRIGHTSPACE_ROSTER), lms_grade_item="Homework 2"),
            dataclasses.replace(CTX, roster=parse_roster(CANVAS_ROSTER), lms_assignment="Homework 2",
                                lms_assignment_id="4411")]


def rendered(name: str) -> bytes:
    from grader.report import report_json

    if name == "report.json":
        return report_json(fixed_report().to_dict(artifact_files=True)).encode()
    fmt = next(f for f in FORMATS if f.file == name)
    if fmt.scope == STUDENT:
        return fmt.render(fixed_report(), CTX)
    assert fmt.scope == CLASS
    if fmt.when is not None:  # the LMS formats: the first roster they are written for
        return fmt.render(lms_reports(), next(c for c in lms_contexts() if fmt.when(c)))
    return fmt.render([crashed_report(), fixed_report()], CTX)


FILES = ["report.json"] + [f.file for f in FORMATS]


@pytest.mark.parametrize("name", FILES)
def test_format_matches_its_golden_file(name):
    out, path = rendered(name), GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(out)
    assert path.exists(), f"no golden file for {name}: run UPDATE_GOLDEN=1 pytest -n 0 {__file__} and review it"
    want = path.read_bytes()
    if out != want:
        diff = "".join(difflib.unified_diff(want.decode(errors="replace").splitlines(True),
                                            out.decode(errors="replace").splitlines(True), f"golden/{name}", "now", n=2))
        pytest.fail(f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept):\n{diff[:6000]}")


def test_rendering_is_deterministic():
    assert all(rendered(n) == rendered(n) for n in FILES)


def test_every_golden_file_is_a_format():
    """A format removed from the registry leaves no stale golden file behind."""
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(FILES)
