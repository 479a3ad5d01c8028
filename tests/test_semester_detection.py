"""Semester detection at intake (grader/intake/semester.py): a submission whose file set
matches another rubric's better than the rubric in use gets an `other_rubric` finding that
names that rubric and the command to grade it with; the naming rules are unchanged.
Intake only: zips built in tmp, no kernels."""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from factories import MINI_RUBRIC, make_zip, pdf_bytes

from grader.intake import intake
from grader.intake.semester import CODE, candidates, detect
from grader.model import Finding, ItemResult, Report
from grader.report.markdown import feedback_markdown
from grader.report.view import student_view
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parent.parent
NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def other(sub):
    return [f for f in sub.findings if f.code == CODE]


def test_hw3_names_under_the_hw2_rubric_name_the_fall2021_rubric_and_the_command(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    z = make_zip(tmp_path / "ab1234.zip", {"ab1234/hw3_theory.pdf": pdf_bytes(), "ab1234/hw3_cnn.ipynb": NB,
                                           "ab1234/hw3_rnn.ipynb": NB, "__MACOSX/._hw3_cnn.ipynb": "junk"})
    sub = intake(z, load_rubric(ROOT / "rubrics" / "hw2-original"), tmp_path / "job")
    [f] = other(sub)
    assert f.severity == "warning"
    assert "Fall 2021" in f.message and "hw3_cnn.ipynb, hw3_rnn.ipynb, hw3_theory.pdf" in f.message
    # the course-notebook rubric first (the one in use grades course notebooks), the project one offered too
    assert "grade it with: grader run ab1234.zip --rubric rubrics/hw3-fall2021-original" in f.message
    assert "grader run ab1234.zip --rubric rubrics/hw3-fall2021 for" in f.message
    # the naming rule is the course's: unchanged
    assert any(p.rule == "naming" for p in sub.penalties)


def test_the_project_rubric_suggests_the_project_variant_first(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    z = make_zip(tmp_path / "ab1234.zip", {"hw3_theory.pdf": pdf_bytes(), "hw3_cnn.ipynb": NB, "hw3_rnn.ipynb": NB})
    [f] = other(intake(z, load_rubric(ROOT / "rubrics" / "hw2"), tmp_path / "job"))
    assert "grade it with: grader run ab1234.zip --rubric rubrics/hw3-fall2021 " in f.message


def test_a_submission_that_fits_its_rubric_gets_no_finding(tmp_path):
    files = {"hw2_theory.pdf": pdf_bytes(), "hw2_cnn.ipynb": NB, "hw2_rnn.ipynb": NB, "08-seq_classification.ipynb": NB}
    sub = intake(make_zip(tmp_path / "ab1234.zip", files), load_rubric(ROOT / "rubrics" / "hw2-original"), tmp_path / "job")
    assert other(sub) == []
    # the same names in the rubric that expects them (Fall 2021): nothing to say either
    files = {"hw3_theory.pdf": pdf_bytes(), "hw3_cnn.ipynb": NB, "hw3_rnn.ipynb": NB}
    sub = intake(make_zip(tmp_path / "cd5678.zip", files), load_rubric(ROOT / "rubrics" / "hw3-fall2021"), tmp_path / "job2")
    assert other(sub) == [] and not any(p.rule == "naming" for p in sub.penalties)


def test_a_missing_lab_notebook_is_said_to_fit_spring2021_or_to_lack_the_notebook():
    r = load_rubric(ROOT / "rubrics" / "hw2-original")
    [f] = detect(["hw2_theory.pdf", "hw2_cnn.ipynb", "hw2_rnn.ipynb"], r, "ab1234.zip", "ab1234")
    assert "Spring 2021" in f.message and "hw2-spring2021-original" in f.message
    assert "Or the submission lacks 08-seq_classification.ipynb" in f.message


# -- candidates come from the rubrics' own files, not from a list ----------------------------

def _rubric(root: Path, name: str, files: dict[str, str]) -> Path:
    """A copy of the mini rubric named `name` whose declared file names are changed by
    `files` (old -> new; only the names: enough for a candidate, which is never graded)."""
    d = root / name
    shutil.copytree(MINI_RUBRIC, d)
    a = yaml.safe_load((d / "assignment.yaml").read_text())
    a["assignment"] = name
    a["semester"] = f"semester {name}"
    for f in a["files"]:
        f["name"] = files.get(f["name"], f["name"])
    (d / "assignment.yaml").write_text(yaml.safe_dump(a, sort_keys=False))
    return d


def test_any_folder_with_an_assignment_yaml_is_a_candidate_read_when_it_appears(tmp_path):
    rubrics = tmp_path / "rubrics"
    used = load_rubric(_rubric(rubrics, "spring", {}))
    names = ["fall_theory.pdf", "fall.ipynb", "other.ipynb"]
    assert detect(names, used, "ab1234.zip") == []  # no rubric has these names yet
    _rubric(rubrics, "fall", {"mini_theory.pdf": "fall_theory.pdf", "mini.ipynb": "fall.ipynb"})
    (rubrics / "broken").mkdir()
    (rubrics / "broken" / "assignment.yaml").write_text("schema: 1\nfiles: [oops\n")  # not a candidate, no crash
    (rubrics / "notes").mkdir()  # no assignment.yaml: not a candidate
    assert sorted(c.directory.name for c in candidates(used.directory)) == ["fall", "spring"]
    [f] = detect(names, used, "ab1234.zip")
    assert "semester fall (rubric fall)" in f.message and f"--rubric {rubrics / 'fall'}" in f.message


def test_names_compare_as_intake_compares_them(tmp_path):
    rubrics = tmp_path / "rubrics"
    used = load_rubric(_rubric(rubrics, "spring", {}))
    _rubric(rubrics, "fall", {"mini_theory.pdf": "fall_theory.pdf", "mini.ipynb": "fall.ipynb"})
    # case, separators and the NetID aside; junk ignored
    names = ["Submission/FALL-theory.PDF", "Submission/fall_ab1234.ipynb", "Submission/other.ipynb", "__MACOSX/._x"]
    assert [f.code for f in detect(names, used, "ab1234.zip", "ab1234")] == [CODE]
    # one matching name more for the rubric in use than for the other: nothing said
    assert detect(["mini_theory.pdf", "fall.ipynb", "other.ipynb"], used, "ab1234.zip") == []


# -- shown prominently to the student, flagged for the instructor ----------------------------

def test_the_finding_comes_first_in_the_student_view_and_only_once():
    f = Finding(CODE, "these files look like another semester's homework: ... grade it with: grader run x.zip "
                      "--rubric rubrics/hw3-fall2021", "warning")
    r = Report("ab1234", "hw2", 0.0, 10.0, 0.0, (), (ItemResult("nb.a", "a", "allclose", 0.0, 10.0, "failed", ""),), (),
               (f, Finding("misnamed", "hw3_cnn.ipynb was taken as hw2_cnn.ipynb", "warning")),
               {"file": "x.zip"}, {}, "2026-03-02T00:00:00+00:00", 1.0)
    v = student_view(r)
    assert v.prominent == (f.message,) and f.message not in v.findings
    md = feedback_markdown(r)
    assert md.index("**Important:** these files look like") < md.index("## Items")
    assert md.count("look like another semester") == 1
