"""LMS downloads in (grader.lms.sources, grader.lms.times): the entry-name parsers, kind
detection, attempts, NetIDs, and the staged per-student zips; no grading (the lateness each
sample student gets is checked through grader.intake in test_deadlines.py, and by grading
in test_lms_batch_e2e.py)."""
from __future__ import annotations

import datetime as dt
import io
import random
import unicodedata
import zipfile

import pytest

from factories import HW2_RUBRIC, ROOT
from grader.errors import UsageError
from grader.lms import sources as src
from grader.lms import times as tm

TZ = "America/New_York"
LMS = ROOT / "submissions" / "lms"


@pytest.fixture(scope="module")
def rubric():
    from grader.rubric import load_rubric

    return load_rubric(HW2_RUBRIC)


# -- Brightspace's time in names ----------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Mar 4, 2022 459 PM", (2022, 3, 4, 16, 59)),
    ("Mar 1, 2026 1230 AM", (2026, 3, 1, 0, 30)),  # 12 AM is midnight
    ("Mar 1, 2026 1201 PM", (2026, 3, 1, 12, 1)),  # 12 PM is noon
    ("Dec 31, 2025 1159 PM", (2025, 12, 31, 23, 59)),
    ("Sept 3, 2025 905 AM", (2025, 9, 3, 9, 5)),
    ("Jan 9, 2026 12:05 am", (2026, 1, 9, 0, 5)),  # with a colon, lower case
    ("Oct 10, 2025 100 PM", (2025, 10, 10, 13, 0)),
])
def test_name_time_parses_12_hour_clock(text, expected):
    when = tm.parse_name_time(text, TZ)
    assert (when.year, when.month, when.day, when.hour, when.minute) == expected
    assert str(when.tzinfo) == TZ


def test_name_time_is_in_the_rubric_time_zone_across_daylight_saving():
    before = tm.parse_name_time("Mar 7, 2026 1100 PM", TZ)
    after = tm.parse_name_time("Mar 8, 2026 1100 PM", TZ)
    assert before.utcoffset() == dt.timedelta(hours=-5) and after.utcoffset() == dt.timedelta(hours=-4)
    assert tm.parse_name_time("Mar 4, 2022 459 PM", "UTC").utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("text", ["Mar 4, 2022 1359 PM", "Mar 4, 2022 460 PM", "Mar 4, 2022 059 PM", "Foo 4, 2022 459 PM",
                                  "Feb 30, 2026 100 PM", "Mar 4 2022 459 PM", "2026-03-01T23:59"])
def test_name_time_rejects_what_is_not_one(text):
    with pytest.raises(ValueError):
        tm.parse_name_time(text, TZ)


# -- entry names --------------------------------------------------------------------------

def test_brightspace_names_with_odd_display_names_and_file_names():
    p = src.parse_brightspace("311040-5508100 - José Núñez - Mar 2, 2026 1030 AM - jn1103.zip", TZ)
    assert (p["user_id"], p["submission_id"], p["display_name"], p["original"]) == ("311040", "5508100", "José Núñez", "jn1103.zip")
    assert p["when"] == dt.datetime(2026, 3, 2, 10, 30, tzinfo=p["when"].tzinfo)
    # " - " inside the name and inside the file name: the time anchors the split
    p = src.parse_brightspace("1-2 - Mary - Kate Smith - Mar 1, 2026 900 PM - hw2 - final (1).zip", TZ)
    assert (p["display_name"], p["original"]) == ("Mary - Kate Smith", "hw2 - final (1).zip")
    # decomposed accents (a macOS unzip) read as the same name
    p = src.parse_brightspace(unicodedata.normalize("NFD", "1-2 - Léa O'Brien - Mar 1, 2026 900 PM - a.ipynb"), TZ)
    assert p["display_name"] == "Léa O'Brien"
    # the folder form of newer downloads
    p = src.parse_brightspace("311040-5508100 - Alice Martin - Mar 1, 2026 1015 PM/am1101.zip", TZ)
    assert (p["display_name"], p["original"]) == ("Alice Martin", "am1101.zip")


@pytest.mark.parametrize("name", ["index.html", "am1101.zip", "311040-5508100 - Alice Martin - am1101.zip",
                                  "311040-5508100 - Alice Martin - Mar 1, 2026 1375 PM - am1101.zip",
                                  "abc-5508100 - Alice Martin - Mar 1, 2026 1015 PM - am1101.zip",
                                  "311040-5508100 - Alice Martin - Mar 1, 2026 1015 PM"])
def test_not_brightspace_names(name):
    assert src.parse_brightspace(name, TZ) is None


def test_brightspace_names_round_trip_fuzz():
    rng = random.Random(15)
    letters = "abcdefghijklmnopqrstuvwxyzéñüøçåÉÑ'- "
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    for _ in range(400):
        first = "".join(rng.choice(letters) for _ in range(rng.randint(1, 12))).strip(" -") or "A"
        last = "".join(rng.choice(letters) for _ in range(rng.randint(1, 12))).strip(" -") or "B"
        when = dt.datetime(rng.randint(2020, 2030), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59))
        h12 = when.hour % 12 or 12
        stamp = f"{months[when.month - 1]} {when.day}, {when.year} {h12}{when.minute:02d} {'AM' if when.hour < 12 else 'PM'}"
        original = rng.choice(["ab1234.zip", "hw2 - v2.zip", "hw2_cnn.ipynb", "Théorie finale.pdf", "x_1_2_3.zip"])
        uid, sid = rng.randint(1, 10**7), rng.randint(1, 10**8)
        p = src.parse_brightspace(f"{uid}-{sid} - {first} {last} - {stamp} - {original}", TZ)
        assert p is not None, (first, last, stamp)
        assert (p["user_id"], p["submission_id"], p["original"]) == (str(uid), str(sid), original)
        assert p["display_name"] == unicodedata.normalize("NFC", f"{first} {last}".strip())
        assert p["when"].replace(tzinfo=None) == when


def test_canvas_names():
    p = src.parse_canvas("núñezjosé_LATE_108346_7712062_jn2203.zip")
    assert (p["sortable"], p["late"], p["user_id"], p["submission_id"], p["original"]) == ("núñezjosé", True, "108346", "7712062", "jn2203.zip")
    p = src.parse_canvas("obrienléa_108369_7712093_08-seq_classification.ipynb")
    assert (p["late"], p["original"]) == (False, "08-seq_classification.ipynb")
    p = src.parse_canvas("lee_108392_7712124_my_file_2.zip")  # underscores in the original name stay
    assert p["original"] == "my_file_2.zip"
    for name in ("hw2_cnn.ipynb", "martinalice_am2201.zip", "ab1234.zip", "martinalice_LATE_x_1_a.zip"):
        assert src.parse_canvas(name) is None, name


def _entries(names: list[str]) -> list[src.Entry]:
    return [src.Entry(n, lambda n=n: n.encode(), len(n)) for n in names]


def test_canvas_re_upload_suffix_is_taken_off_and_recorded():
    files, other = src.lms_files(_entries(["tanakabruno_1_2_bt2202-1.zip", "tanakabruno_1_2_hw2-v2.ipynb", "index.html"]),
                                 src.CANVAS, TZ)
    assert other == []
    got = {f.original: f.renamed for f in files}
    assert got == {"bt2202.zip": "bt2202-1.zip", "hw2-v2.ipynb": ""}


def test_detect_the_kind_from_entry_names():
    bs = ["1-2 - A B - Mar 1, 2026 900 PM - ab1234.zip", "index.html"]
    assert src.detect(bs, TZ) == src.BRIGHTSPACE
    assert src.detect(["ab_1_2_ab1234.zip", "cd_LATE_3_4_hw2_cnn.ipynb"], TZ) == src.CANVAS
    assert src.detect(["hw2_cnn.ipynb", "hw2_rnn.ipynb", "hw2_theory.pdf"], TZ) is None  # a student's own zip
    assert src.detect(["ab1234/hw2_cnn.ipynb"], TZ) is None
    assert src.detect(bs + ["stray.txt"], TZ) is None  # not all: not a download (--source forces it)
    assert src.detect(["index.html"], TZ) is None


def test_attempts_newest_last_by_time_then_submission_id():
    def f(uid, sid, when, name="x.zip"):
        return src.LmsFile(src.BRIGHTSPACE, uid, sid, "A B", name, _entries([name])[0],
                           when=tm.parse_name_time(when, TZ) if when else None)

    files = [f("1", "30", "Mar 1, 2026 900 PM"), f("1", "10", "Mar 2, 2026 100 AM"), f("1", "20", "Feb 1, 2026 100 AM"),
             f("1", "10", "Mar 2, 2026 100 AM", "y.pdf"), f("2", "5", None), f("2", "4", None)]
    atts = src.attempts(files)
    assert [a[0].submission_id for a in atts["1"]] == ["20", "30", "10"]
    assert [g.original for g in atts["1"][-1]] == ["x.zip", "y.pdf"]
    assert [a[0].submission_id for a in atts["2"]] == ["4", "5"]  # no times: by submission id


# -- gathering the sample downloads -------------------------------------------------------

def _gather(rubric, tmp_path, kind, **kw):
    download = LMS / kind / ("hw2_download.zip" if kind == "brightspace" else "submissions.zip")
    return src.gather([download], rubric, src.Options(**kw), tmp_path / "out")


def test_brightspace_sample_students_netids_and_times(rubric, tmp_path):
    found, notes = _gather(rubric, tmp_path, "brightspace", roster=str(LMS / "brightspace" / "roster.csv"))
    by = {p.netid: (path, p) for path, p in found}
    assert sorted(by) == ["am1101", "bt1102", "ex1106", "jn1103", "ld1110", "lo1104", "mi1107", "nn1108", "td1109", "vl1105"]
    assert {n: p.netid_source for n, (_, p) in by.items() if p.netid_source != "zip name"} == {"lo1104": "roster", "nn1108": "roster"}
    assert all(p.timing.kind == tm.LMS_NAME and p.timing.trusted for _, p in by.values())
    assert by["mi1107"][1].timing.submitted_at.isoformat() == "2026-03-01T00:30:00-05:00"
    path, lo = by["lo1104"]
    assert lo.packed == ("08-seq_classification.ipynb", "hw2_cnn.ipynb", "hw2_rnn.ipynb", "hw2_theory.pdf")
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(ROOT / "submissions/full_marks/ab1234.zip") as orig:
        assert {i.filename: z.read(i) for i in z.infolist()} == {i.filename: orig.read(i) for i in orig.infolist()}
    assert by["nn1108"][0].name == "hw2_submission.zip"  # the student's zip, under its own name
    assert by["am1101"][0].read_bytes() == (ROOT / "submissions/full_marks/ab1234.zip").read_bytes()
    assert any("Brightspace download, 10 students" in n for n in notes)
    # the same download gathered again stages the same bytes (the batch's keys do not move)
    again, _ = _gather(rubric, tmp_path, "brightspace", roster=str(LMS / "brightspace" / "roster.csv"))
    assert [(p, q.key()) for p, q in again] == [(p, q.key()) for p, q in found]


def test_attempt_first_grades_the_first_attempt(rubric, tmp_path):
    found, _ = _gather(rubric, tmp_path, "brightspace", attempt="first")
    bt = next((path, p) for path, p in found if p.netid == "bt1102")
    assert bt[0].read_bytes() == (ROOT / "submissions/blank_starter/bs2001.zip").read_bytes()
    msg = next(m for c, m, _ in bt[1].findings if c == "attempts")
    assert "graded the first one" in msg and "not graded: submission 5508111" in msg


def test_without_a_roster_a_placeholder_id_and_a_finding_never_a_guess(rubric, tmp_path):
    found, _ = _gather(rubric, tmp_path, "brightspace")
    by = {p.netid: p for _, p in found}
    placeholders = sorted(n for n in by if n.startswith("unknown-"))
    assert placeholders == ["unknown-brightspace-311091", "unknown-brightspace-311159"]  # lo1104 (loose) and nn1108 (hw2_submission.zip)
    for n in placeholders:
        assert by[n].netid_source == "placeholder"
        code, msg, severity = next(f for f in by[n].findings if f[0] == "no_netid")
        assert severity == "error" and "--roster" in msg


def test_canvas_sample_times_marker_and_roster(rubric, tmp_path):
    found, _ = _gather(rubric, tmp_path, "canvas", roster=str(LMS / "canvas" / "roster.csv"),
                       submission_times=str(LMS / "canvas" / "times.csv"))
    by = {p.netid: (path, p) for path, p in found}
    assert len(by) == 10 and "zp2211" not in by
    kinds = {n: p.timing.kind for n, (_, p) in by.items()}
    assert kinds["mi2207"] == tm.LMS_LATE and kinds["nn2208"] == tm.LMS_NO_TIME
    assert {k for n, k in kinds.items() if n not in ("mi2207", "nn2208")} == {tm.TIMES_FILE}
    assert by["lo2204"][1].timing.source == "--submission-times (108369)"  # keyed by the Canvas user id
    assert by["nn2208"][1].netid_source == "roster" and by["nn2208"][0].name == "HW2.zip"
    assert by["bt2202"][0].name == "bt2202.zip"


def test_folder_of_zips_is_unchanged_without_lms_options(rubric, tmp_path):
    found, notes = src.gather([ROOT / "submissions/full_marks"], rubric, src.Options(), tmp_path / "out")
    assert found == [((ROOT / "submissions/full_marks/ab1234.zip").resolve(), None)] and notes == []
    assert not (tmp_path / "out").exists()


def test_folder_of_zips_with_a_times_file(rubric, tmp_path):
    times = tmp_path / "t.csv"
    times.write_text("netid,submitted_at\nab1234,2026-03-02T09:00:00\n")
    found, _ = src.gather([ROOT / "submissions/full_marks", ROOT / "submissions/partial"], rubric,
                          src.Options(submission_times=str(times)), tmp_path / "out")
    by = {p.netid: p for _, p in found}
    assert by["ab1234"].timing.kind == tm.TIMES_FILE and by["ab1234"].timing.submitted_at.hour == 9
    assert by["pa3002"].timing.kind == tm.ZIP  # the zip's times, judged (and flagged) by intake


def test_forced_source_and_bad_inputs(rubric, tmp_path):
    with pytest.raises(UsageError, match="no canvas submission files"):
        src.gather([LMS / "brightspace" / "hw2_download.zip"], rubric, src.Options(source="canvas"), tmp_path / "o")
    with pytest.raises(UsageError, match="does not exist"):
        src.gather([tmp_path / "nope.zip"], rubric, src.Options(source="brightspace"), tmp_path / "o")
    with pytest.raises(UsageError, match="--attempt"):
        src.gather([LMS / "brightspace" / "hw2_download.zip"], rubric, src.Options(attempt="last"), tmp_path / "o")
    assert not (tmp_path / "o").exists()  # bad inputs change nothing


def test_entries_not_named_by_the_lms_are_listed_not_dropped(rubric, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("1-2 - A B - Mar 1, 2026 900 PM - ab1234.zip", (ROOT / "submissions/full_marks/ab1234.zip").read_bytes())
        z.writestr("index.html", "<html></html>")
        z.writestr("notes from the TA.txt", "hello")
    download = tmp_path / "download.zip"
    download.write_bytes(buf.getvalue())
    found, notes = src.gather([download], rubric, src.Options(source="brightspace"), tmp_path / "out")
    assert [p.netid for _, p in found] == ["ab1234"]
    assert any("notes from the TA.txt" in n and "not graded" in n for n in notes)


def test_cli_flags_reach_the_options():
    import argparse

    from grader.batch.cli import _sources, add_batch_parser

    parser = argparse.ArgumentParser()
    add_batch_parser(parser.add_subparsers())
    args = parser.parse_args(["batch", "x.zip", "--out", "o", "--source", "canvas", "--attempt", "first",
                              "--submission-times", "t.csv", "--extensions", "e.csv", "--late-days-ledger", "l.json"])
    o = _sources(args)
    assert (o.source, o.attempt, o.submission_times, o.extensions, o.late_days_ledger) == ("canvas", "first", "t.csv", "e.csv", "l.json")


def test_samples_are_built_deterministically(tmp_path):
    import build_lms_samples

    build_lms_samples.brightspace(tmp_path)
    build_lms_samples.canvas(tmp_path)
    for p in sorted(tmp_path.rglob("*")):
        if p.is_file():
            assert p.read_bytes() == (LMS / p.relative_to(tmp_path)).read_bytes(), p


def test_lms_time_source_is_never_the_zip(rubric, tmp_path):
    """The staged zips' own times say nothing: the report's time is the LMS's."""
    from grader.intake import intake

    found, _ = _gather(rubric, tmp_path, "brightspace", roster=str(LMS / "brightspace" / "roster.csv"))
    for path, prov in found:
        sub = intake(path, rubric, tmp_path / "job" / prov.netid, None, prov)
        assert sub.submitted_at == prov.timing.submitted_at and "zip" not in sub.submitted_at_source
        assert not any(f.code.startswith("time_from_zip") for f in sub.findings)


# -- attack: a student who reads the grader sets their zip's file times back ----------------

def _restamped(zip_bytes: bytes, when: tuple) -> bytes:
    """The same files, every entry dated `when` (what `touch -d` + zip does on a student's machine)."""
    import io

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as src_zip, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src_zip.infolist():
            z.writestr(zipfile.ZipInfo(info.filename, when), src_zip.read(info))
    return out.getvalue()


@pytest.mark.parametrize("entry_times, twin", [((2026, 2, 27, 12, 0, 0), "attack: zip times set 2.5 days back"),
                                               ((2026, 3, 2, 10, 25, 0), "honest twin: zip times as submitted")])
def test_zip_times_set_back_in_an_lms_download_change_nothing(rubric, tmp_path, entry_times, twin):
    """Brightspace says 10:30 AM on Mar 2 (10.5 h after the 23:59 deadline): the attack's
    zip, dated before the deadline, is exactly as late as its honest twin."""
    from grader.intake import intake

    student = _restamped((ROOT / "submissions/full_marks/ab1234.zip").read_bytes(), entry_times)
    download = tmp_path / "download.zip"
    with zipfile.ZipFile(download, "w") as z:
        z.writestr("index.html", "<html><body>Homework 2</body></html>")
        z.writestr("118201-2411 - Alex Brown - Mar 2, 2026 1030 AM - ab1234.zip", student)
    found, _ = src.gather([download], rubric, src.Options(), tmp_path / "out")
    ((path, prov),) = found
    sub = intake(path, rubric, tmp_path / "job", None, prov)
    assert prov.netid == "ab1234" and prov.timing.kind == tm.LMS_NAME, twin
    assert sub.submitted_at.isoformat() == "2026-03-02T10:30:00-05:00", twin
    assert [p.rule for p in sub.penalties if p.rule in ("late", "too_late")] == ["late"], twin
    assert "zip" not in sub.submitted_at_source, twin
    if "attack" in twin:  # what the forged times buy without an LMS time: on time, marked student-controlled
        alone = tmp_path / "alone" / "ab1234.zip"
        alone.parent.mkdir()
        alone.write_bytes(student)
        plain = intake(alone, rubric, tmp_path / "job-alone")
        assert plain.submitted_at.date().isoformat() == "2026-02-27" and "student" in plain.submitted_at_source
        assert not [p.rule for p in plain.penalties if p.rule in ("late", "too_late")]
