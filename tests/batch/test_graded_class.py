"""The shared graded class (tests/conftest.py graded_class): what other suites build on.

It is a real `grader batch` OUT folder, and `grader report` rebuilt on a copy of it gives
the same gradebook: the class files depend on the reports only."""
import csv
import json
import shutil

import pytest

pytestmark = pytest.mark.slow


def test_graded_class_has_every_student_report_and_row(graded_class):
    from factories import GRADED_CLASS

    for netid in GRADED_CLASS.values():
        report = json.loads((graded_class / netid / "report.json").read_text())
        assert report["netid"] == netid
        assert (graded_class / netid / "feedback.html").is_file()
    with open(graded_class / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["netid"] for r in rows) == sorted(GRADED_CLASS.values())
    scores = {r["netid"]: float(r["score"]) for r in rows}
    assert scores["ab1234"] > scores["pa3002"] > scores["bs2001"]


def test_report_rebuilds_the_same_gradebook_from_the_reports(graded_class, tmp_path):
    from grader.cli import main

    copy = tmp_path / "class"
    shutil.copytree(graded_class, copy)
    (copy / "gradebook.csv").unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / "gradebook.csv").read_bytes() == (graded_class / "gradebook.csv").read_bytes()
