"""Times files, extensions, late days and the deadline that applied (grader.lms.times,
grader.lms.deadlines), and what intake makes of them: the lateness each sample student of
submissions/lms/ gets, without grading."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import zoneinfo

import pytest

from factories import HW2_RUBRIC, ROOT
from grader.errors import RubricError, UsageError
from grader.lms import deadlines as dl
from grader.lms import sources as src
from grader.lms import times as tm

TZ = "America/New_York"
NY = zoneinfo.ZoneInfo(TZ)
BASE = dt.datetime(2026, 3, 1, 23, 59, tzinfo=NY)
LMS = ROOT / "submissions" / "lms"


def h(hours: float) -> dt.datetime:
    return BASE + dt.timedelta(hours=hours)


# -- late days -------------------------------------------------------------------------------

@pytest.mark.parametrize("late_h, available, used", [
    (-1, 3, 0),  # on time
    (0, 3, 0),  # at the deadline
    (5, 3, 1),
    (24, 3, 1),  # exactly one day
    (24 + 1 / 60, 3, 2),  # a minute more: two
    (71, 3, 3),
    (5, 0, 0),  # none left
    (38, 1, 1),  # one day is not all of it, but brings 38 h within the 24 h grace: spent
    (60, 1, 0),  # one day leaves 36 h: still rejected, so none is spent
    (80, 2, 0),
    (72.5, 3, 3),  # all of it needs 4 days; 2 leave 24.5 h (rejected), 3 bring it within grace
])
def test_tokens_needed(late_h, available, used):
    assert dl.tokens_needed(h(late_h), BASE, 24, available) == used


def test_decide_extension_then_tokens():
    ext = dl.Extension(extra_hours=48, reason="medical")
    d = dl.decide(BASE, h(20), True, ext, 24, 3)
    assert (d.at, d.tokens_used, d.tokens_left) == (h(48), 0, 3)
    assert "extension of 48 h (medical)" in d.explain() and d.explain().endswith(f"deadline that applied: {h(48).isoformat()}")
    d = dl.decide(BASE, h(50), True, ext, 24, 3)  # 2 h past the extension: one late day on top
    assert (d.at, d.tokens_used, d.tokens_left) == (h(72), 1, 2)
    new = dl.Extension(deadline=h(30))
    assert dl.decide(BASE, h(10), True, new, 24, None).explain() == (
        f"base deadline {BASE.isoformat()}; extension to {h(30).isoformat()}; deadline that applied: {h(30).isoformat()}")


def test_no_tokens_on_an_untrusted_or_unknown_time_and_none_without_late_days():
    assert dl.decide(BASE, h(5), False, None, 24, 3).tokens_used == 0
    assert dl.decide(BASE, None, True, None, 24, 3).tokens_used == 0
    d = dl.decide(BASE, h(5), True, None, 24, None)
    assert (d.tokens_used, d.tokens_left, d.at) == (0, None, BASE)
    assert d.explain() == f"base deadline {BASE.isoformat()}"


def test_deadline_round_trips():
    d = dl.decide(BASE, h(50), True, dl.Extension(extra_hours=48), 24, 3)
    assert dl.Deadline.from_dict(json.loads(json.dumps(d.to_dict()))) == d


def test_ledger_counts_other_homeworks_and_a_rerun_never_spends_twice(tmp_path):
    path = tmp_path / "ledger.json"
    led = dl.Ledger.load(path)  # no file yet: nothing spent
    assert led.available("ab1234", "hw2", 3) == 3
    led.record("ab1234", "hw1", 2)
    led.record("ab1234", "hw2", 1)
    led.record("ab1234", "hw2", 1)  # the same homework graded again: replaced
    led.record("cd5678", "hw2", 0)
    led.save()
    again = dl.Ledger.load(path)
    assert again.students == {"ab1234": {"hw1": 2, "hw2": 1}}
    assert again.available("ab1234", "hw2", 3) == 1  # hw2's own day is not counted against it
    assert again.available("ab1234", "hw3", 3) == 0
    again.record("ab1234", "hw2", 0)  # a regrade where it is no longer needed gives it back
    assert again.students == {"ab1234": {"hw1": 2}}


@pytest.mark.parametrize("text", ["[]", "{}", '{"students": {"ab1234": {"hw1": -1}}}', '{"students": {"ab1234": 3}}', "not json"])
def test_a_ledger_the_grader_did_not_write_is_refused(tmp_path, text):
    path = tmp_path / "ledger.json"
    path.write_text(text)
    with pytest.raises(UsageError, match="late-day ledger"):
        dl.Ledger.load(path)


# -- side files ------------------------------------------------------------------------------

def test_times_file(tmp_path):
    p = tmp_path / "times.csv"
    p.write_text("\ufeffNetID,Submitted At\nAB1234,2026-03-01T22:15:00\n108369,2026-03-02T09:00:00-04:00\n\ncd5678,2026-03-02T03:00:00Z\n")
    times = tm.load_submission_times(p, TZ)
    assert times["ab1234"] == dt.datetime(2026, 3, 1, 22, 15, tzinfo=NY)
    assert times["108369"].utcoffset() == dt.timedelta(hours=-4)
    assert times["cd5678"] == dt.datetime(2026, 3, 2, 3, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("text, match", [
    ("netid,when\nab1234,2026-03-01T22:15\n", "needs an id column"),
    ("name,submitted_at\nab1234,2026-03-01T22:15\n", "needs an id column"),
    ("netid,submitted_at\nab1234,yesterday\n", "line 2: 'yesterday' is not an ISO time"),
    ("netid,submitted_at\nab1234,2026-03-01T22:15\nab1234,2026-03-01T22:16\n", "line 3: ab1234 has two different times"),
    ("netid,submitted_at\n,2026-03-01T22:15\n", "line 2: no id"),
    ("", "empty file"),
])
def test_times_file_errors_say_where_and_what(tmp_path, text, match):
    p = tmp_path / "times.csv"
    p.write_text(text)
    with pytest.raises(UsageError, match=match):
        tm.load_submission_times(p, TZ)
    with pytest.raises(UsageError, match="no such file"):
        tm.load_submission_times(tmp_path / "missing.csv", TZ)


def test_extensions_file(tmp_path):
    p = tmp_path / "ext.csv"
    p.write_text("netid,new_deadline,extra_hours,reason\nab1234,2026-03-03T23:59:00,,medical\n108300,,36,\n")
    ext = dl.load_extensions(p, TZ)
    assert ext["ab1234"] == dl.Extension(deadline=dt.datetime(2026, 3, 3, 23, 59, tzinfo=NY), reason="medical")
    assert ext["108300"] == dl.Extension(extra_hours=36.0)


@pytest.mark.parametrize("row, match", [
    ("ab1234,2026-03-03T23:59:00,12,", "either a new deadline or extra hours"),
    ("ab1234,,,", "either a new deadline or extra hours"),
    ("ab1234,,-5,", "positive number"),
    ("ab1234,,nan,", "positive number"),
    ("ab1234,next week,,", "not an ISO time"),
])
def test_extension_errors(tmp_path, row, match):
    p = tmp_path / "ext.csv"
    p.write_text(f"netid,new_deadline,extra_hours,reason\n{row}\n")
    with pytest.raises(UsageError, match=match):
        dl.load_extensions(p, TZ)


def test_time_flags_only_for_untrusted_sources():
    assert [tm.time_flag(k) for k in tm.TRUSTED] == ["", "", ""]
    for kind in (tm.LMS_LATE, tm.LMS_NO_TIME, tm.ZIP, tm.UNKNOWN):
        assert tm.time_flag(kind)
    assert "student-controlled" in tm.time_flag(tm.ZIP)


# -- the rubric's late_days ------------------------------------------------------------------

def _rubric(tmp_path, late_days: str):
    from grader.rubric import load_rubric

    (tmp_path / "assignment.yaml").write_text(f"extends: {HW2_RUBRIC}\nlate_days: {late_days}\n")
    return load_rubric(tmp_path)


@pytest.fixture(scope="module")
def ld_rubric(tmp_path_factory):
    return _rubric(tmp_path_factory.mktemp("late-days"), "{tokens: 3, unit: day}")


@pytest.fixture(scope="module")
def hw2():
    from grader.rubric import load_rubric

    return load_rubric(HW2_RUBRIC)


def test_rubric_late_days(ld_rubric, hw2):
    assert ld_rubric.late_days == dl.LateDays(tokens=3) and ld_rubric.late_days.unit == "day"
    assert hw2.late_days is None


@pytest.mark.parametrize("value", ["{tokens: -1}", "{tokens: 3, unit: week}", "{tokns: 3}", "3"])
def test_rubric_late_days_errors_name_the_key(tmp_path, value):
    with pytest.raises(RubricError, match="late_days"):
        _rubric(tmp_path, value)


# -- intake: the lateness of every sample student, without grading ---------------------------

def _intake_all(rubric, tmp_path, kind):
    from grader.intake import intake

    d = LMS / kind
    ledger = tmp_path / "ledger.json"
    shutil.copy(d / "late_days_hw1.json", ledger)
    download = d / ("hw2_download.zip" if kind == "brightspace" else "submissions.zip")
    options = src.Options(roster=str(d / "roster.csv"), submission_times=str(d / "times.csv"),
                          extensions=str(d / "ext.csv"), late_days_ledger=str(ledger))
    found, _ = src.gather([download], rubric, options, tmp_path / "out")
    subs = {p.netid: intake(path, rubric, tmp_path / "job" / p.netid, None, p) for path, p in found}
    return subs, json.loads(ledger.read_text())["students"]


def _late(sub) -> str:
    rules = [p.rule for p in sub.penalties if p.rule in ("late", "too_late")]
    return rules[0] if rules else "on time"


def test_brightspace_sample_lateness_with_late_days(tmp_path, ld_rubric):
    subs, ledger = _intake_all(ld_rubric, tmp_path, "brightspace")
    assert {n: _late(s) for n, s in subs.items()} == {
        "am1101": "on time", "bt1102": "on time", "jn1103": "late", "lo1104": "on time", "vl1105": "late",
        "ex1106": "on time", "mi1107": "on time", "nn1108": "on time", "td1109": "on time", "ld1110": "on time"}
    assert "1 late day(s) used (2 left)" in subs["ld1110"].deadline_rule
    assert "1 late day(s) used (0 left)" in subs["vl1105"].deadline_rule  # 38 h -> 14 h: late, not rejected
    assert "no late day used (0 left)" in subs["jn1103"].deadline_rule
    assert subs["td1109"].submitted_at_source.startswith("--submission-times")
    assert all(s.time_flag == "" for s in subs.values())
    assert ledger == {"jn1103": {"hw1": 3}, "vl1105": {"hw1": 2, "hw2": 1}, "ld1110": {"hw2": 1}}


def test_brightspace_sample_lateness_without_late_days(tmp_path, hw2):
    subs, ledger = _intake_all(hw2, tmp_path, "brightspace")
    assert {n: _late(s) for n, s in subs.items() if _late(s) != "on time"} == {"jn1103": "late", "vl1105": "too_late", "ld1110": "late"}
    assert not subs["vl1105"].accepted
    assert ledger == {"jn1103": {"hw1": 3}, "vl1105": {"hw1": 2}}  # untouched: this rubric has no late days


def test_canvas_sample_lateness(tmp_path, ld_rubric):
    subs, _ = _intake_all(ld_rubric, tmp_path, "canvas")
    assert {n: _late(s) for n, s in subs.items() if _late(s) != "on time"} == {"jn2203": "late", "vl2205": "too_late", "mi2207": "late"}
    mi = subs["mi2207"]
    assert mi.submitted_at is None and "LATE" in mi.time_flag and any(f.code == "time_late_unknown" and f.severity == "error" for f in mi.findings)
    assert "lesser rule" in next(p.reason for p in mi.penalties if p.rule == "late")
    nn = subs["nn2208"]
    assert nn.submitted_at is None and "no submission time" in nn.time_flag and _late(nn) == "on time"
    assert "extension to 2026-03-03T23:59:00-05:00 (family emergency)" in subs["ex2206"].deadline_rule


def test_late_marker_with_an_extension_is_not_penalised_but_flagged(tmp_path, hw2):
    from grader.intake import intake

    rubric = hw2
    timing = tm.Timing(tm.LMS_LATE, None, "Canvas's LATE marker")
    prov = src.Provenance("ab1234", "zip name", timing, dl.decide(BASE, None, False, dl.Extension(extra_hours=48), 24, None))
    sub = intake(ROOT / "submissions/full_marks/ab1234.zip", rubric, tmp_path / "job", None, prov)
    assert _late(sub) == "on time" and sub.time_flag
    assert any(f.code == "time_late_unknown" and "moved" in f.message for f in sub.findings)


def test_a_folder_zip_without_lms_time_is_flagged_student_controlled(tmp_path, hw2):
    from grader.intake import intake

    rubric = hw2
    sub = intake(ROOT / "submissions/full_marks/ab1234.zip", rubric, tmp_path / "a")
    assert "student-controlled" in sub.time_flag
    sub = intake(ROOT / "submissions/full_marks/ab1234.zip", rubric, tmp_path / "b", BASE)
    assert sub.time_flag == "" and sub.submitted_at_source == "--submitted-at"


def test_gradebook_and_class_summary_show_the_flag():
    import csv
    import io

    from batch_helpers import make_report
    from grader.report.cohort import build_cohort, cohort_markdown
    from grader.report.gradebook import gradebook_csv

    flagged = make_report("ab1234")
    flagged["submission"]["time_flag"] = tm.time_flag(tm.ZIP)
    fine = make_report("cd5678")
    rows = {r["netid"]: r for r in csv.DictReader(io.StringIO(gradebook_csv([flagged, fine])))}
    assert "student-controlled" in rows["ab1234"]["time_flag"] and rows["cd5678"]["time_flag"] == ""
    md = cohort_markdown(build_cohort([flagged, fine]))
    assert "Submission times not trustworthy (1)" in md and "**ab1234**" in md and "**cd5678**" not in md
    assert "Submission times not trustworthy" not in cohort_markdown(build_cohort([fine]))
    from grader.report.cohort import cohort_html

    page = cohort_html(build_cohort([flagged, fine]))
    assert "Submission times not trustworthy (1)" in page and "<b>ab1234</b>" in page
