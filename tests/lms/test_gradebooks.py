"""grader.lms.gradebooks: the Brightspace and Canvas import files and lms_notes.csv, from
typed reports (tests/report/test_golden.py's fixed class) and a roster; no grading."""
from __future__ import annotations

import csv
import dataclasses
import io
import shutil
from pathlib import Path

import pytest

from test_golden import BRIGHTSPACE_ROSTER, CANVAS_ROSTER, CTX, crashed_report, lms_contexts, lms_reports

from factories import MINI_RUBRIC
from grader.errors import RubricError, UsageError
from grader.lms import gradebooks as G
from grader.lms.roster import parse_roster
from grader.report import formats as F

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def bs_ctx(**kw):
    return dataclasses.replace(lms_contexts()[0], **kw)


def cv_ctx(**kw):
    return dataclasses.replace(lms_contexts()[1], **kw)


def test_brightspace_every_roster_student_once_in_roster_order():
    out = rows(G.render_brightspace(lms_reports(), bs_ctx()))
    assert out[0] == ["OrgDefinedId", "Username", "Homework 2 Points Grade", "End-of-Line Indicator"]
    assert [r[1] for r in out[1:]] == ["#AB1234", "#cd5678", "#ef9012", "#gh3456"]  # the roster's order and spelling
    assert all(r[0].startswith("#N") and r[3] == "#" for r in out[1:])
    grades = {r[1]: r[2] for r in out[1:]}
    # pending TA points and a grader failure: blank, never a 0; a complete grading above
    # the maximum (extra credit) after its late penalty: as is; no submission: 0
    assert grades == {"#AB1234": "", "#cd5678": "", "#ef9012": "46.8", "#gh3456": "0"}
    assert "zz999" not in G.render_brightspace(lms_reports(), bs_ctx()).decode()  # not on the roster


def test_canvas_every_roster_student_once_with_points_possible_and_id():
    out = rows(G.render_canvas(lms_reports(), cv_ctx()))
    assert out[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 2 (4411)"]
    assert out[1] == ["    Points Possible", "", "", "", "", "45"]
    assert [r[1] for r in out[2:]] == ["101", "102", "103", "104"]  # the test student (no SIS Login ID) is not a row
    assert {r[1]: r[5] for r in out[2:]} == {"101": "", "102": "", "103": "46.8", "104": "0"}
    assert out[4][3:5] == ["ef9012@nyu.edu", "DL 002, lab"]  # as exported; the quoted comma survives


def test_no_submission_and_not_on_roster_are_listed_in_the_notes_and_class_summary():
    notes = rows(G.render_notes(lms_reports(), bs_ctx()))
    by = {r[1]: r for r in notes[1:]}
    assert notes[0] == ["issue", "netid", "name", "lms_id", "in_lms_import", "note"]
    assert by["zz999"][0] == G.NOT_ON_ROSTER and by["zz999"][4] == "no" and "30.25" in by["zz999"][5]
    assert by["gh3456"][:5] == [G.NO_SUBMISSION, "gh3456", "Zoë Brontë", "N004", "0"]
    assert by["ab1234"][0] == G.WITHHELD and "wait for a TA" in by["ab1234"][5]
    assert by["cd5678"][0] == G.WITHHELD and "could not grade" in by["cd5678"][5]
    assert "ef9012" not in by  # nothing to say
    md = F.formats(F.CLASS)[[f.file for f in F.formats(F.CLASS)].index("class.md")].render(lms_reports(), bs_ctx()).decode()
    assert "## LMS gradebook" in md and "not on the roster" in md and "zz999" in md and "gh3456" in md
    assert "## LMS gradebook" not in F.formats(F.CLASS)[[f.file for f in F.formats(F.CLASS)].index("class.md")].render(
        lms_reports(), CTX).decode()  # no roster, no section


def test_an_unreadable_report_is_blank_not_no_submission():
    reports = [r for r in lms_reports() if r.netid != "ef9012"]
    ctx = bs_ctx(unreadable=(("ef9012", "its report.json could not be read"),))
    grades = {r[1]: r[2] for r in rows(G.render_brightspace(reports, ctx))[1:]}
    assert grades["#ef9012"] == ""
    notes = {r[1]: r for r in rows(G.render_notes(reports, ctx))[1:]}
    assert notes["ef9012"][0] == G.WITHHELD and "could not be read" in notes["ef9012"][5]


def test_formula_like_names_never_start_a_cell():
    for data in (G.render_canvas(lms_reports(), cv_ctx()), G.render_notes(lms_reports(), cv_ctx()),
                 G.render_brightspace(lms_reports(), bs_ctx()), G.render_notes(lms_reports(), bs_ctx())):
        cells = [c for r in rows(data) for c in r]
        assert any("=cmd|" in c for c in cells) or data.startswith(b"OrgDefinedId")
        assert not [c for c in cells if c.startswith(FORMULA)], data.decode()
    # the guard is what makes it pass: without it the name would start a cell
    assert any(c.startswith("=cmd") for r in rows(CANVAS_ROSTER.encode()) for c in r)


def test_hostile_ids_and_grade_item_stay_in_their_cells():
    roster = parse_roster("OrgDefinedId,Username,First Name,Last Name,Email\n\"=1+1\",\"+x1\",A,B,\n")
    data = G.render_brightspace([], bs_ctx(roster=roster, lms_grade_item="=HYPERLINK(\"x\")"))
    out = rows(data)
    assert out[1][:2] == ["#'=1+1", "#'+x1"] and not out[0][2].startswith(FORMULA)


def test_penalties_extra_credit_and_the_rubric_cap():
    full = [r for r in lms_reports() if r.netid == "ef9012"][0]
    assert full.penalties and full.raw_score > full.score > full.max_score  # after the late penalty, above the maximum
    grade = lambda ctx: {r[1]: r[2] for r in rows(G.render_brightspace([full], ctx))[1:]}["#ef9012"]  # noqa: E731
    assert grade(bs_ctx()) == "46.8"
    rubric = _rubric(cap_at_max=True)
    assert grade(bs_ctx(rubric=rubric)) == "45"


def test_pending_partial_writes_the_score_so_far():
    report = [r for r in lms_reports() if r.netid == "ab1234"][0]
    assert report.pending_points > 0
    grade = lambda ctx: {r[1]: r[2] for r in rows(G.render_brightspace([report], ctx))[1:]}["#AB1234"]  # noqa: E731
    assert grade(bs_ctx()) == ""
    assert grade(bs_ctx(rubric=_rubric(pending="partial"))) == "9.5"


def test_a_grader_failure_is_blank_even_with_partial():
    grades = {r[1]: r[2] for r in rows(G.render_brightspace([crashed_report()], bs_ctx(rubric=_rubric(pending="partial"))))[1:]}
    assert grades["#cd5678"] == ""


def _rubric(**lms):
    from grader.rubric.lms import LmsSettings

    return type("R", (), {"lms": LmsSettings(**lms), "assignment": "hw2", "max_score": 45.0})()


def test_names_command_line_over_rubric_over_assignment_id():
    reports = lms_reports()
    plain = dataclasses.replace(lms_contexts()[1], lms_assignment="", lms_assignment_id="")
    assert rows(G.render_canvas(reports, plain))[0][5] == "hw2"  # no id: Canvas makes a new assignment
    rubric = _rubric(canvas_assignment="HW 2", canvas_assignment_id=77, brightspace_grade_item="HW 2 item")
    assert rows(G.render_canvas(reports, dataclasses.replace(plain, rubric=rubric)))[0][5] == "HW 2 (77)"
    assert rows(G.render_canvas(reports, dataclasses.replace(plain, rubric=rubric, lms_assignment_id="4411")))[0][5] == "HW 2 (4411)"
    assert rows(G.render_brightspace(reports, bs_ctx(rubric=rubric, lms_grade_item="")))[0][2] == "HW 2 item Points Grade"


def test_files_are_written_only_for_the_rosters_lms(tmp_path):
    reports = lms_reports()
    lms_files = {"brightspace_grades.csv", "canvas_grades.csv", "lms_notes.csv"}
    assert F.write_class_files(reports, tmp_path / "none", CTX) == []
    assert not lms_files & {p.name for p in (tmp_path / "none").iterdir()}
    assert F.write_class_files(reports, tmp_path / "bs", bs_ctx()) == []
    assert lms_files & {p.name for p in (tmp_path / "bs").iterdir()} == {"brightspace_grades.csv", "lms_notes.csv"}
    assert F.write_class_files(reports, tmp_path / "cv", cv_ctx()) == []
    assert lms_files & {p.name for p in (tmp_path / "cv").iterdir()} == {"canvas_grades.csv", "lms_notes.csv"}


# -- the command line: grader report OUT --roster, remembered in OUT/.batch -------------------

@pytest.fixture
def out(tmp_path):
    from grader.report.formats import write_canonical

    for r in lms_reports():
        write_canonical(r, tmp_path / "out" / r.netid)
    return tmp_path / "out"


def _main(argv, capsys):
    from grader.cli import main

    code = main(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_report_with_roster_then_without_it(tmp_path, out, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8")
    code, stdout, err = _main(["report", str(out), "--roster", str(roster), "--lms-assignment", "Homework 2",
                               "--lms-assignment-id", "4411"], capsys)
    assert code == 0, err
    assert "LMS (canvas roster, 4 students)" in stdout and "zz999" in stdout
    first = (out / "canvas_grades.csv").read_bytes()
    assert rows(first)[0][5] == "Homework 2 (4411)" and (out / "lms_notes.csv").exists()
    assert not (out / "brightspace_grades.csv").exists()
    (out / "canvas_grades.csv").unlink()
    code, stdout, err = _main(["report", str(out)], capsys)  # the roster and names are remembered
    assert code == 0, err
    assert (out / "canvas_grades.csv").read_bytes() == first
    roster.unlink()  # a remembered roster that is gone: said, the other files still written
    (out / "gradebook.csv").unlink()
    code, stdout, err = _main(["report", str(out)], capsys)
    assert code == 1 and "pass --roster again" in err and (out / "gradebook.csv").exists()


def test_report_with_a_bad_roster_or_id_says_what_to_do(tmp_path, out, capsys):
    bad = tmp_path / "gradebook.csv"
    bad.write_text("netid,score\nab1234,3\n")
    code, _, err = _main(["report", str(out), "--roster", str(bad)], capsys)
    assert code == 2 and "not a class list" in err and "Traceback" not in err
    assert not (out / ".batch" / G.STATE_FILE).exists()
    roster = tmp_path / "roster.csv"
    roster.write_text(BRIGHTSPACE_ROSTER, encoding="utf-8")
    code, _, err = _main(["report", str(out), "--roster", str(roster), "--lms-assignment-id", "abc"], capsys)
    assert code == 2 and "--lms-assignment-id 'abc'" in err and "Traceback" not in err


def test_batch_checks_the_roster_before_grading(tmp_path):
    from grader.batch.run import run_batch

    with pytest.raises(UsageError, match="no such file"):
        run_batch([tmp_path], tmp_path / "out", MINI_RUBRIC, lms=G.LmsOptions(roster=str(tmp_path / "nope.csv")))
    assert not (tmp_path / "out").exists()


# -- the rubric's lms block --------------------------------------------------------------------

def _mini_with(tmp_path, block: str) -> Path:
    d = tmp_path / "rubric"
    shutil.copytree(MINI_RUBRIC, d)
    with open(d / "assignment.yaml", "a") as fh:
        fh.write(block)
    return d


def test_rubric_lms_block(tmp_path):
    from grader.rubric import load_rubric

    r = load_rubric(_mini_with(tmp_path, "lms:\n  canvas_assignment: Homework 2\n  canvas_assignment_id: 4411\n"
                                         "  pending: partial\n  cap_at_max: true\n"))
    assert (r.lms.canvas_assignment, r.lms.canvas_assignment_id, r.lms.pending, r.lms.cap_at_max) == (
        "Homework 2", 4411, "partial", True)
    assert r.lms.brightspace_grade_item is None
    assert load_rubric(MINI_RUBRIC).lms is None


@pytest.mark.parametrize("block, where", [
    ("lms:\n  canvas_asignment: x\n", "canvas_asignment"),
    ("lms:\n  canvas_assignment_id: 0\n", "canvas_assignment_id"),
    ("lms:\n  pending: maybe\n", "pending"),
])
def test_rubric_lms_block_errors_name_the_key(tmp_path, block, where):
    from grader.rubric import load_rubric

    with pytest.raises(RubricError) as exc:
        load_rubric(_mini_with(tmp_path, block))
    assert "lms" in str(exc.value) and where in str(exc.value)


@pytest.mark.slow  # a one-worker Dask cluster: ~8 s
def test_batch_with_a_roster_writes_and_remembers_the_lms_files(tmp_path, monkeypatch):
    """run_batch's class stage (fake, instant grading: no notebook runs): the roster reaches
    the class files, the summary comes back, and `grader report OUT` alone rewrites them."""
    import os

    from batch_helpers import _ok
    from grader.batch.publish import write_class_reports
    from grader.batch.run import run_batch

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(str(Path(__file__).resolve().parent.parent / d) for d in ("batch", "fixtures")))
    zips = tmp_path / "in"
    zips.mkdir()
    for netid in ("ab1234", "zz999"):
        (zips / f"{netid}.zip").write_bytes(netid.encode())  # the fake grader never opens them
    roster = tmp_path / "roster.csv"
    roster.write_text(BRIGHTSPACE_ROSTER, encoding="utf-8")
    out = tmp_path / "out"
    res = run_batch([zips], out, MINI_RUBRIC, workers=1, job_fn=_ok, stream=io.StringIO(),
                    lms=G.LmsOptions(roster=str(roster), grade_item="HW 2"))
    assert res.lms["not_on_roster"] == ["zz999"] and res.lms["roster"] == 4
    assert sorted(res.lms["no_submission"]) == ["cd5678", "ef9012", "gh3456"] and res.lms["withheld"] == ["ab1234"]
    first = (out / "brightspace_grades.csv").read_bytes()
    assert rows(first)[0][2] == "HW 2 Points Grade" and len(rows(first)) == 5
    (out / "brightspace_grades.csv").unlink()
    assert write_class_reports(out)["lms"]["roster"] == 4
    assert (out / "brightspace_grades.csv").read_bytes() == first


def test_report_with_a_brightspace_roster_names_the_grade_item(tmp_path, out, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text(BRIGHTSPACE_ROSTER, encoding="utf-8")
    code, _, err = _main(["report", str(out), "--roster", str(roster), "--lms-grade-item", "HW 2 (CNN+RNN)"], capsys)
    assert code == 0, err
    header = rows((out / "brightspace_grades.csv").read_bytes())[0]
    assert "HW 2 (CNN+RNN) Points Grade" in header and header[-1] == "End-of-Line Indicator"
