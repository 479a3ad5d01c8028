"""The samples in the course's original format (submissions/original/<quirk>/), graded for
real with rubrics/hw2-original, each as a careful TA would. One session-wide execution
cache: notebooks shared between samples run once (08-seq_classification is the same in
all but cuda_forced; hw2_rnn is shared by colab_cells, cnn_solution_name, dataset_missing).
"""
import pytest

from factories import ROOT

pytestmark = pytest.mark.slow

ORIGINAL = ROOT / "submissions" / "original"
SAMPLES = {
    "colab_cells": "cc1101", "cnn_solution_name": "cn1102", "dataset_missing": "dm1103", "cuda_forced": "cf1104",
    "interface_quirks": "iq1105", "train_until_pass": "tp1106", "template_fall2024": "tf1107",
}
CNN_ITEMS = ("hw2_cnn.CNN", "hw2_cnn.get_loss_and_correct", "hw2_cnn.step")


@pytest.fixture(scope="session")
def original_reports(tmp_path_factory):
    from grader.pipeline import Env, grade
    from grader.rubric import load_rubric

    rubric = load_rubric(ROOT / "rubrics" / "hw2-original")
    base = tmp_path_factory.mktemp("original")
    cache, ref_cache = base / "exec-cache", {}
    out = {}
    for quirk, netid in SAMPLES.items():
        env = Env(rubric=rubric, out_dir=base / "out", exec_cache=cache, reference_cache=ref_cache, jobs=2)
        out[quirk] = grade(ORIGINAL / quirk / f"{netid}.zip", env).to_dict()
    return out


def items(r):
    return {i["id"]: i for i in r["items"]}


def pen(r, rule):
    return next((p for p in r["penalties"] if p["rule"] == rule), None)


def env_errors(r):
    """The environment errors the report names (findings; they cost nothing)."""
    return " ".join(f["message"] for f in r["findings"] if f["code"] == "environment_error")


def notes(r, notebook):
    nb = next(n for n in r["notebooks"] if n["notebook"] == notebook)
    return " ".join(c.get("note", "") for c in nb["cells"])


def test_colab_cells_are_skipped_and_everything_gradable_passes(original_reports):
    r = original_reports["colab_cells"]
    it = items(r)
    for what in ("drive.mount", "!wget", "!unzip", "google.colab"):
        assert what in notes(r, "hw2_cnn.ipynb")
    assert "!pip" in notes(r, "hw2_rnn.ipynb")
    assert "!git clone" in notes(r, "08-seq_classification.ipynb") and "%cd" in notes(r, "08-seq_classification.ipynb")
    for item_id in CNN_ITEMS + ("hw2_rnn.GRUMemory", "hw2_rnn.VariableDelayGRUMemory", "08-seq_classification.section8"):
        assert it[item_id]["status"] == "passed", (item_id, it[item_id]["feedback"][:500])
    # the res/ helpers were provided: Section 8 ran and was judged on its weights
    assert next(n for n in r["notebooks"] if n["notebook"] == "08-seq_classification.ipynb")["status"] == "completed"
    # no torchvision, no dataset, the template's undefined D: not the student's fault
    assert pen(r, "not_executable") is None
    waived = env_errors(r)
    assert "torchvision" in waived and "name 'D' is not defined" in waived
    # validation accuracy cannot be measured offline: pending for a TA, never a 0
    assert it["hw2_cnn.validation_accuracy"]["status"] == "pending" and "not measurable offline" in it["hw2_cnn.validation_accuracy"]["title"]
    assert r["score"] == r["raw_score"] == 8 + 4 + 4 + 7 + 7 + 8
    assert "template: Spring 2021 - Spring 2022" in it["hw2_rnn.VariableDelayGRUMemory"]["feedback"]


def test_cnn_solution_name_is_graded_and_named(original_reports):
    it = items(original_reports["cnn_solution_name"])
    assert it["hw2_cnn.CNN"]["status"] == "passed"
    assert "graded class `CNN_Solution`" in it["hw2_cnn.CNN"]["feedback"]
    assert "graded class `CNN`" in items(original_reports["colab_cells"])["hw2_cnn.CNN"]["feedback"]


def test_provided_dataset_and_its_stand_in_are_not_the_students_fault(original_reports):
    # The sample reads the images it downloads in Colab. rubrics/hw2-original mounts the
    # generated stand-in there (`datasets`): the download lines say where it is, the notebook
    # reads it, and the template's 500/500 split, which the small stand-in cannot fill,
    # costs nothing. (Data at a path the rubric does not provide: test_original_units.)
    r = original_reports["dataset_missing"]
    assert pen(r, "not_executable") is None
    assert "by the grader at ./cats_and_dogs_filtered" in notes(r, "hw2_cnn.ipynb")
    assert "ValueError: Sum of input lengths" in env_errors(r) and "stand-in" in env_errors(r)
    assert "FileNotFoundError" not in env_errors(r)
    assert all(items(r)[i]["status"] == "passed" for i in CNN_ITEMS)


def test_forced_cuda_runs_on_the_cpu(original_reports):
    r = original_reports["cuda_forced"]
    it = items(r)
    for nb in ("hw2_cnn.ipynb", "hw2_rnn.ipynb", "08-seq_classification.ipynb"):
        assert "rewrote" in notes(r, nb) and "the grader runs on the CPU" in notes(r, nb)
    assert "torch.set_default_tensor_type('torch.FloatTensor')" in notes(r, "hw2_rnn.ipynb")
    assert ".cuda()" in notes(r, "hw2_rnn.ipynb")
    assert it["hw2_rnn.GRUMemory"]["status"] == "passed", it["hw2_rnn.GRUMemory"]["feedback"]
    assert it["08-seq_classification.section8"]["status"] == "passed", it["08-seq_classification.section8"]["feedback"]
    # the unfinished variable-delay part is an answer, not "cannot be executed"
    assert it["hw2_rnn.VariableDelayGRUMemory"]["score"] == 0 and pen(r, "not_executable") is None


def test_interface_deviations_are_reported_not_penalised(original_reports):
    r = original_reports["interface_quirks"]
    g = items(r)["hw2_rnn.GRUMemory"]
    assert g["status"] == "passed", g["feedback"]
    fb = g["feedback"]
    assert "forward takes integer indices" in fb and "returns a tuple" in fb
    assert "vocab_size=27" in fb  # rebuilt with the notebook's own extra constructor argument
    assert pen(r, "not_executable") is None


def test_train_until_the_test_passes_is_retested_by_the_grader(original_reports):
    r = original_reports["train_until_pass"]
    g = items(r)["hw2_rnn.GRUMemory"]
    assert g["status"] == "passed" and g["evidence"]["n_strings"] == 500 and g["evidence"]["accuracy"] > 0.99
    assert pen(r, "not_executable") is None and env_errors(r)  # only torchvision


def test_fall2024_template_is_detected_and_its_thresholds_applied(original_reports):
    r = original_reports["template_fall2024"]
    v = items(r)["hw2_rnn.VariableDelayGRUMemory"]
    assert v["feedback"].startswith("template: Fall 2024+")
    assert v["evidence"]["threshold"] == 0.95 and v["evidence"]["delays"] == list(range(13))
    assert v["status"] == "passed", v["feedback"]
    assert 0.95 <= v["evidence"]["accuracy"] < 0.99  # passes only under this template's threshold
    assert "test_run requires extra argument(s) device" in v["feedback"] and "returns a tuple" in v["feedback"]
    assert "graded class `CNN_Solution`" in items(r)["hw2_cnn.CNN"]["feedback"]
    assert pen(r, "not_executable") is None
