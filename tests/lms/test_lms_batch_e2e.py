"""End to end: `grader batch` grades the sample Brightspace and Canvas downloads
(submissions/lms/, built by scripts/build_lms_samples.py) with the roster, the times file,
the extensions file, and late days (a rubric extending rubrics/hw2 with `late_days: 3`,
the ledger of an earlier homework), and every student gets the lateness and the time
source the LMS data calls for. The notebooks are byte-identical copies of the three graded
samples: the executions come from the session's shared cache (graded_class fills it)."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from factories import HW2_RUBRIC, ROOT

LMS = ROOT / "submissions" / "lms"
pytestmark = pytest.mark.slow

BS = "the Brightspace submission time (download file name)"
TIMES = "--submission-times"
LATE_MARKER = "Canvas's LATE marker (no time in the download)"
NO_TIME = "none: Canvas puts no time in the download and did not mark it late"

# netid: (penalty rules, time source starts with, flagged, late days used)
BRIGHTSPACE = {
    "am1101": ((), BS, False, 0),
    "bt1102": ((), BS, False, 0),  # the newest of two attempts, on time
    "jn1103": (("late",), BS, False, 0),  # 10.5 h late, no late day left (hw1 spent 3)
    "lo1104": ((), BS, False, 0),  # loose files, NetID from the roster
    "vl1105": (("late",), BS, False, 1),  # 38 h late: its last day brings it within the grace period
    "ex1106": ((), BS, False, 0),  # 20 h late, 48 h extension
    "mi1107": ((), BS, False, 0),  # 12:30 AM
    "nn1108": (("naming",), BS, False, 0),  # zip without the NetID: NetID from the roster
    "td1109": ((), TIMES, False, 0),  # the name says 1 AM (late), the times file 23:50
    "ld1110": ((), BS, False, 1),  # 5 h late: one late day
}
CANVAS = {
    "am2201": ((), TIMES, False, 0),
    "bt2202": ((), TIMES, False, 0),  # Canvas renamed the re-upload bt2202-1.zip
    "jn2203": (("late",), TIMES, False, 0),
    "lo2204": ((), TIMES, False, 0),  # times keyed by the Canvas user id
    "vl2205": (("too_late",), TIMES, False, 0),  # 38 h late, no late day left
    "ex2206": ((), TIMES, False, 0),  # extension to Mar 3
    "mi2207": (("late",), LATE_MARKER, True, 0),  # LATE, no time: the lesser rule, flagged
    "nn2208": (("naming",), NO_TIME, True, 0),  # no marker, no time: flagged
    "td2209": ((), TIMES, False, 0),
    "ld2210": ((), TIMES, False, 1),
}


@pytest.fixture(scope="module")
def late_days_rubric(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rubric-late-days")
    (d / "assignment.yaml").write_text(f"extends: {HW2_RUBRIC}\nlate_days: {{tokens: 3, unit: day}}\n")
    return d


def _grade(kind: str, download: str, rubric: Path, tmp_path: Path, graded_class, shared_exec_cache) -> Path:
    from factories import share_cache_entries as _share_entries

    from grader.batch import caches
    from grader.batch.run import run_batch
    from grader.lms.sources import Options

    src = LMS / kind
    out = tmp_path / "out"
    _share_entries(shared_exec_cache, caches.exec_dir(out))
    ledger = tmp_path / "late_days.json"
    shutil.copy(src / "late_days_hw1.json", ledger)
    options = Options(roster=str(src / "roster.csv"), submission_times=str(src / "times.csv"),
                      extensions=str(src / "ext.csv"), late_days_ledger=str(ledger))
    result = run_batch([src / download], out, rubric, workers=1, sources=options)
    assert result.failed == 0, result
    return out


def _check(out: Path, expected: dict) -> dict:
    rows = {r["netid"]: r for r in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    assert set(rows) == set(expected), sorted(rows)
    reports = {}
    for netid, (rules, source, flagged, days) in expected.items():
        rep = json.loads((out / netid / "report.json").read_text())
        reports[netid] = rep
        sub = rep["submission"]
        got = sorted(p["rule"] for p in rep["penalties"] if p["rule"] in ("late", "too_late", "naming"))
        assert got == sorted(rules), (netid, rep["penalties"])
        assert sub["submitted_at_source"].startswith(source), (netid, sub)
        assert bool(sub["time_flag"]) == flagged and bool(rows[netid]["time_flag"]) == flagged, (netid, sub)
        assert (f"{days} late day(s) used" in sub["deadline_rule"]) if days else ("no late day used" in sub["deadline_rule"]), sub
        assert sub["accepted"] == ("too_late" not in rules)
    flagged = [n for n, e in expected.items() if e[2]]
    md = (out / "class.md").read_text()
    assert ("Submission times not trustworthy" in md) == bool(flagged)
    for n in flagged:
        assert f"**{n}**" in md
    return reports


def test_brightspace_download_grades_with_lms_times(tmp_path, late_days_rubric, graded_class, shared_exec_cache):
    out = _grade("brightspace", "hw2_download.zip", late_days_rubric, tmp_path, graded_class, shared_exec_cache)
    reports = _check(out, BRIGHTSPACE)
    # the newest attempt (the partial sample), not the first (the blank starter)
    partial = (ROOT / "submissions/partial/pa3002.zip").read_bytes()
    import hashlib

    assert reports["bt1102"]["submission"]["sha256"] == hashlib.sha256(partial).hexdigest()
    assert any(f["code"] == "attempts" for f in reports["bt1102"]["findings"])
    assert any(f["code"] == "loose_files" for f in reports["lo1104"]["findings"])
    assert "extension of 48 h (medical)" in reports["ex1106"]["submission"]["deadline_rule"]
    assert reports["am1101"]["score"] == reports["jn1103"]["raw_score"]  # same notebooks; only the penalty differs
    ledger = json.loads((tmp_path / "late_days.json").read_text())["students"]
    assert ledger["ld1110"] == {"hw2": 1} and ledger["vl1105"] == {"hw1": 2, "hw2": 1} and "am1101" not in ledger


def test_canvas_download_grades_with_times_file_and_late_marker(tmp_path, late_days_rubric, graded_class, shared_exec_cache):
    out = _grade("canvas", "submissions.zip", late_days_rubric, tmp_path, graded_class, shared_exec_cache)
    reports = _check(out, CANVAS)
    assert any(f["code"] == "time_late_unknown" for f in reports["mi2207"]["findings"])
    assert any(f["code"] == "lms_renamed" for f in reports["bt2202"]["findings"])
    assert reports["bt2202"]["submission"]["file"] == "bt2202.zip"
