"""Shared by the tests of the original-format samples (two files, so xdist grades the two
halves at once): grading with rubrics/hw2-original and reading the reports."""
from __future__ import annotations

from factories import ROOT

ORIGINAL = ROOT / "submissions" / "original"
CNN_ITEMS = ("hw2_cnn.CNN", "hw2_cnn.get_loss_and_correct", "hw2_cnn.step")
AUTOMATIC = 8 + 4 + 4 + 7 + 7 + 8  # every automatic item of rubrics/hw2-original


def grade_samples(tmp_path_factory, samples: dict, cache) -> dict:
    """Grade {quirk: netid} with `cache`, the session's shared execution cache (tests/conftest.py
    shared_exec_cache), so the two test files (on two xdist workers) and the semester tests
    share the notebooks they have in common (the Fall 2024 samples hand in the same
    hw2_cnn.ipynb and echo notebook as two of these samples)."""
    from grader.pipeline import Env, grade
    from grader.rubric import load_rubric

    rubric = load_rubric(ROOT / "rubrics" / "hw2-original")
    base = tmp_path_factory.mktemp("original")
    ref_cache: dict = {}
    out = {}
    for quirk, netid in samples.items():
        env = Env(rubric=rubric, out_dir=base / "out", exec_cache=cache, reference_cache=ref_cache, jobs=2)
        # the samples share most notebooks: a probe of the same code with the same inputs
        # runs once per session (tests/conftest.py shared_probe_cache; grader/probe/cache.py:
        # its results are decoded like fresh ones)
        out[quirk] = grade(ORIGINAL / quirk / f"{netid}.zip", env).to_dict()
    return out


def items(r):
    return {i["id"]: i for i in r["items"]}


def pen(r, rule):
    return next((p for p in r["penalties"] if p["rule"] == rule), None)


def env_errors(r):
    """The environment errors the report names (findings; they cost nothing)."""
    return " ".join(f["message"] for f in r["findings"] if f["code"] == "environment_error")


def nb_status(r, notebook):
    return next(n for n in r["notebooks"] if n["notebook"] == notebook)["status"]


def notes(r, notebook):
    nb = next(n for n in r["notebooks"] if n["notebook"] == notebook)
    return " ".join(c.get("note", "") for c in nb["cells"])
