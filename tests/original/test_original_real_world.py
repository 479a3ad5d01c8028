"""Original-format samples of what real submissions ran into in the grader's environment:
Colab's packages (tqdm, six, numpy 1), the lab's helpers imported as top-level modules,
forced CUDA, the Fall 2024 template, a training cell longer than a fixed limit allows.
Graded for real with rubrics/hw2-original (see test_original_samples.py for the rest).
"""
import pytest

from original_helpers import AUTOMATIC, CNN_ITEMS, ORIGINAL, ROOT, grade_samples, items, nb_status, notes, pen

pytestmark = pytest.mark.slow

SAMPLES = {"cuda_forced": "cf1104", "template_fall2024": "tf1107", "colab_packages": "cp1108"}


@pytest.fixture(scope="module")
def original_reports(tmp_path_factory, shared_exec_cache):
    return grade_samples(tmp_path_factory, SAMPLES, shared_exec_cache)


def test_forced_cuda_runs_on_the_cpu(original_reports):
    r = original_reports["cuda_forced"]
    # its lab notebook imports the lab's helpers as top-level modules after `!wget`-ing them
    assert "raw.githubusercontent.com/course/lab/master/res/sequential_task" in notes(r, "08-seq_classification.ipynb")
    assert nb_status(r, "08-seq_classification.ipynb") == "completed"
    it = items(r)
    for nb in ("hw2_cnn.ipynb", "hw2_rnn.ipynb", "08-seq_classification.ipynb"):
        assert "rewrote" in notes(r, nb) and "the grader runs on the CPU" in notes(r, nb)
    assert "torch.set_default_tensor_type('torch.FloatTensor')" in notes(r, "hw2_rnn.ipynb")
    assert ".cuda()" in notes(r, "hw2_rnn.ipynb")
    assert it["hw2_rnn.GRUMemory"]["status"] == "passed", it["hw2_rnn.GRUMemory"]["feedback"]
    # its lab is section8_unfixed's (Section 8 as handed out, judged in test_original_samples.py):
    # the forced GPU ran on the CPU up to the judged weights
    s8 = it["08-seq_classification.section8"]
    assert s8["status"] == "failed" and {p["name"].split(":")[0] for p in s8["evidence"]["parts"] if not p["ok"]} == {
        "no spike", "never back above the initial loss once learned"}, s8["feedback"]
    # the unfinished variable-delay part is an answer, not "cannot be executed"
    assert it["hw2_rnn.VariableDelayGRUMemory"]["score"] == 0 and pen(r, "not_executable") is None


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


def test_colab_packages_and_numpy1_calls_cost_nothing(original_reports):
    """tqdm (also tqdm.notebook), six, np.unicode_ / np.float and plot_state given
    test_data_gen.decode_x: all ran as in Colab."""
    r = original_reports["colab_packages"]
    it = items(r)
    for nb in ("hw2_cnn.ipynb", "08-seq_classification.ipynb"):
        assert nb_status(r, nb) == "completed", nb
    # hw2_rnn: only the template's undefined D fails (numpy 1 calls, tqdm, six all ran)
    rnn = next(n for n in r["notebooks"] if n["notebook"] == "hw2_rnn.ipynb")
    assert [c["ename"] for c in rnn["cells"] if c["status"] == "error"] == ["NameError"]
    assert pen(r, "not_executable") is None and r["penalties"] == []
    assert all(it[i]["status"] == "passed" for i in CNN_ITEMS + ("hw2_rnn.GRUMemory", "hw2_rnn.VariableDelayGRUMemory",
                                                                  "08-seq_classification.section8"))
    assert r["score"] == AUTOMATIC
    senv = r["environment"]["student_environment"]
    assert senv["packages"]["numpy"].startswith("1.") and "tqdm" in senv["packages"] and "six" in senv["packages"]


def test_a_slow_training_cell_finishes_within_the_calibrated_budget(original_reports):
    r = original_reports["colab_packages"]
    rnn = next(n for n in r["notebooks"] if n["notebook"] == "hw2_rnn.ipynb")
    assert rnn["budget"]["source"] == "calibrated" and rnn["cut"] is None
    assert items(r)["hw2_rnn.GRUMemory"]["status"] == "passed" and pen(r, "not_executable") is None


def test_under_an_old_fixed_limit_the_same_cell_is_cut_and_its_model_still_graded(tmp_path):
    """The same notebook under a fixed per-cell limit shorter than its training cell (as the
    old fixed 300 s was for real echo trainings): the cell is cut, the model trained so far
    is exported and graded anyway, and the penalty names the cell and the limit."""
    import dataclasses

    from grader.pipeline import Env, grade
    from grader.rubric import load_rubric

    rubric = load_rubric(ROOT / "rubrics" / "hw2-original")
    old = tuple(dataclasses.replace(nb, execution=dataclasses.replace(nb.execution, calibration=None, cell_timeout_s=8))
                for nb in rubric.notebooks)
    rubric = dataclasses.replace(rubric, notebooks=old)
    env = Env(rubric=rubric, out_dir=tmp_path, only_notebooks=("hw2_rnn.ipynb",))
    r = grade(ORIGINAL / "colab_packages" / "cp1108.zip", env).to_dict()
    rnn = next(n for n in r["notebooks"] if n["notebook"] == "hw2_rnn.ipynb")
    assert rnn["status"] == "timeout" and rnn["cut"]["exports"] == "ran"
    assert items(r)["hw2_rnn.GRUMemory"]["status"] in ("passed", "failed")  # graded, whatever it learnt so far
    assert "evidence" in items(r)["hw2_rnn.GRUMemory"] and items(r)["hw2_rnn.GRUMemory"]["evidence"].get("accuracy") is not None
    p = pen(r, "not_executable")
    assert p is not None and "was still running after 8 s" in p["reason"] and "fixed per-cell limit" in p["reason"]
