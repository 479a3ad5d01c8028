"""The semesters' rubric variants (issue 16): each shipped variant loads and says which
semester it grades, extends its nearest sibling (rename, override_items, remove_items,
null removes a key), and the variant's notebooks and mutants are what the builders make.
Unit tests: no kernel."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.errors import RubricError
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[2]
RUBRICS = ROOT / "rubrics"
VARIANTS = ["hw2-spring2021", "hw3-fall2021", "hw2-spring2021-original", "hw3-fall2021-original", "hw2-fall2024-original"]
SHIPPED = ["hw2", "hw2-original", *VARIANTS]


def items(rubric):
    return {i.id: i for i in rubric.items}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_rubric_passes_rubric_check(name):
    p = subprocess.run([sys.executable, "-m", "grader", "rubric-check", str(RUBRICS / name)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    r = load_rubric(RUBRICS / name)
    assert r.semester, "assignment.yaml says which semester it grades"
    assert r.max_score == 100
    parts = {}
    for i in r.items:
        if not i.extra_credit:
            parts[i.part] = parts.get(i.part, 0) + i.points
    assert parts == {"theory": 50, "code": 50}  # the course's split


@pytest.mark.parametrize("name", ["hw3-fall2021", "hw3-fall2021-original"])
def test_fall2021_is_homework_3_with_two_notebooks(name):
    r = load_rubric(RUBRICS / name)
    assert [f.name for f in r.files] == ["hw3_theory.pdf", "hw3_cnn.ipynb", "hw3_rnn.ipynb"]
    assert "Fall 2021" in r.semester and "Homework 3" in r.title
    stems = {i.id.split(".")[0] for i in r.items}
    assert stems == {"hw3_theory", "hw3_cnn", "hw3_rnn"}  # every item follows its file
    assert sum(i.points for i in r.items if i.part == "theory") == 50


@pytest.mark.parametrize("name,stem", [("hw2-spring2021", "hw2"), ("hw3-fall2021", "hw3")])
def test_2021_project_points_follow_the_course(name, stem):
    """1.1 CNN 30 ((a) 5, (b) 5, (c) 20), 1.2 RNN 20; implementation 50 over two notebooks."""
    it = items(load_rubric(RUBRICS / name))
    pts = lambda *ids: sum(it[i].points for i in ids)  # noqa: E731
    c, r, t = f"{stem}_cnn.", f"{stem}_rnn.", f"{stem}_theory."
    assert pts(c + "conv_output_shape") == 5 and pts(t + "conv_output_formula") == 5
    assert pts(c + "conv1d_forward") == 4  # (c)(i)
    assert pts(c + "conv1d_dfdW", c + "conv1d_dfdx", c + "conv1d_dldW", t + "conv1d_derivation") == 16  # (c)(ii-iv)
    assert pts(t + "gated_rnn_diagram", t + "gated_rnn_reasoning", r + "gated_rnn_forward", r + "gated_rnn_dl_dWx",
               t + "gated_rnn_vanishing") == 20
    assert not {c + "conv_net_param_count", r + "binary_addition_rnn", r + "lstm_bptt"} & set(it)  # not asked in 2021
    assert not any("seq_classification" in i or "loss_curve" in i for i in it)
    assert sum(i.points for i in it.values() if i.part == "code") == 50


def test_2021_theory_examples_are_the_3x3_kernel_and_length_5():
    it = items(load_rubric(RUBRICS / "hw3-fall2021"))
    first = it["hw3_cnn.conv_output_shape"].params.cases[0]
    assert "theory example" in first.label and list(first.args) == [1, 10, 11, 3, 0, 2, 1, 1]
    assert not any("5x5" in (c.label or "") for c in it["hw3_cnn.conv_output_shape"].params.cases)
    for name in ("conv1d_forward", "conv1d_dfdW", "conv1d_dfdx", "conv1d_dldW"):
        labels = [c.label for c in it[f"hw3_cnn.{name}"].params.cases]
        assert labels[0].startswith("L=5, C=2, K=3, stride 2") and not any("L=7" in x for x in labels)
    spring2022 = items(load_rubric(RUBRICS / "hw2"))
    assert any("L=7" in c.label for c in spring2022["hw2_cnn.conv1d_forward"].params.cases)  # the sibling still has them


def test_2021_original_theory_points():
    it = items(load_rubric(RUBRICS / "hw2-spring2021-original"))
    theory = {k: v.points for k, v in it.items() if v.part == "theory"}
    assert theory == {"hw2_theory.conv_output_formula": 10, "hw2_theory.conv1d_derivation": 20, "hw2_theory.gated_rnn_diagram": 5,
                      "hw2_theory.gated_rnn_reasoning": 12, "hw2_theory.gated_rnn_vanishing": 3}
    r = load_rubric(RUBRICS / "hw2-spring2021-original")
    assert [nb.notebook for nb in r.notebooks] == ["hw2_cnn.ipynb", "hw2_rnn.ipynb"]
    # the calibration lost the lab's reference time (`~` removes a key of the extended rubric)
    assert set(r.notebooks[0].execution.calibration.reference_s) == {"hw2_cnn.ipynb", "hw2_rnn.ipynb"}


def test_fall2024_template_thresholds_and_lab_name():
    r = load_rubric(RUBRICS / "hw2-fall2024-original")
    assert [f.name for f in r.files][-1] == "seq_classification.ipynb"
    it = items(r)
    assert "seq_classification.section8" in it and not any(i.startswith("08-seq") for i in it)
    v = it["hw2_rnn.VariableDelayGRUMemory"].params
    assert (v.threshold, v.max_delay) == (0.95, 12) and v.default_template.startswith("Fall 2024")
    assert v.templates == ()  # no detection: a student's own `max_delay=8` must not pick the older thresholds
    assert set(r.notebooks[0].execution.calibration.reference_s) == {"hw2_cnn.ipynb", "hw2_rnn.ipynb", "seq_classification.ipynb"}
    # the course rubric it extends still holds Spring 2022's values
    base = items(load_rubric(RUBRICS / "hw2-original"))["hw2_rnn.VariableDelayGRUMemory"].params
    assert (base.threshold, base.max_delay) == (0.99, 8)


def test_the_grader_scores_delay_0_right_where_the_fall2024_template_does_not():
    """The template's s[:-delay] is empty at delay 0: a perfect echo scores 0 there. The
    grader's measure (all the variant's trained_model checks use it) scores it 1."""
    from grader.checks.kind_trained_model import echo_accuracy

    s = "thequickbrownfoxjumps"
    assert echo_accuracy([s], [0], [s])[0] == 1.0
    assert sum(a == b for a, b in zip(s[:-0], s[0:])) == 0  # the template's own count
    assert echo_accuracy([s, s], [0, 3], [s, "   " + s[:-3]])[0] == 1.0
    assert echo_accuracy([s], [0], ["-" * len(s)])[0] == 0.0  # and a wrong echo still fails


# The extension keys, on small rubrics extending the shipped ones ------------------------

def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_rename_moves_files_items_and_notebook_rubrics(tmp_path):
    write(tmp_path / "v" / "assignment.yaml", f"extends: {RUBRICS / 'hw2-spring2021'}\nassignment: v\n"
          "rename: {hw2_cnn.ipynb: cnn.ipynb}\n")
    r = load_rubric(tmp_path / "v")
    assert [f.name for f in r.files] == ["hw2_theory.pdf", "cnn.ipynb", "hw2_rnn.ipynb"]
    assert r.notebooks[0].notebook == "cnn.ipynb" and all(i.id.startswith("cnn.") for i in r.notebooks[0].items)
    assert "cnn.free_text_answers" in items(r) and "hw2_theory.conv1d_derivation" in items(r)


def test_renames_compose_along_the_chain(tmp_path):
    write(tmp_path / "v" / "assignment.yaml", f"extends: {RUBRICS / 'hw3-fall2021'}\nassignment: v\n"
          "rename: {hw3_rnn.ipynb: echo.ipynb}\n")
    r = load_rubric(tmp_path / "v")
    assert [nb.notebook for nb in r.notebooks] == ["hw3_cnn.ipynb", "echo.ipynb"]
    assert "echo.GRUMemory" in items(r) and "hw3_cnn.CNN" in items(r)


@pytest.mark.parametrize("yaml_text,where,words", [
    ("rename: {nope.ipynb: x.ipynb}\n", "rename.nope.ipynb", "not a file of the extended rubric"),
    ("remove_items: [hw2_theory.nope]\n", "remove_items[0]", "no such item"),
    ("execution: {calibration: {min_s: ~}}\n", "execution.calibration", "no such key"),
    ("override_items: [{id: hw2_theory.brand_new, points: 3}]\n", "manual_items", "required"),
    ("override_items: [{id: hw2_theory.conv1d_derivation, points: -1}]\n", "manual_items", "bad value -1"),
])
def test_a_bad_override_names_the_child_file(tmp_path, yaml_text, where, words):
    child = write(tmp_path / "v" / "assignment.yaml", f"extends: {RUBRICS / 'hw2-spring2021'}\nassignment: v\n" + yaml_text)
    with pytest.raises(RubricError) as exc:
        load_rubric(tmp_path / "v")
    text = str(exc.value)
    assert str(child) in text and where in text and words in text, text


def test_override_items_merge_key_by_key_and_add_new_ones(tmp_path):
    write(tmp_path / "v" / "assignment.yaml", f"extends: {RUBRICS / 'hw2-spring2021'}\nassignment: v\nsplit: {{theory: 52, code: 50}}\n"
          "override_items:\n  - {id: hw2_theory.conv1d_derivation, points: 10}\n")
    it = items(load_rubric(tmp_path / "v"))
    assert it["hw2_theory.conv1d_derivation"].points == 10
    assert it["hw2_theory.conv1d_derivation"].guide.startswith("The code items check the values")  # kept from the base


def test_a_notebook_rubric_extends_another_and_errors_name_it(tmp_path):
    d = tmp_path / "v"
    write(d / "assignment.yaml", f"extends: {RUBRICS / 'hw2-spring2021'}\nassignment: v\nsplit: {{theory: 50, code: 46}}\nfiles:\n"
          "  - {name: hw2_theory.pdf, kind: pdf}\n  - {name: cnn.ipynb, kind: notebook, rubric: cnn.yaml}\n"
          f"  - {{name: hw2_rnn.ipynb, kind: notebook, rubric: {RUBRICS / 'hw2-spring2021' / 'hw2_rnn.yaml'}}}\n"
          "remove_items: [hw2_cnn.free_text_answers]\n")
    nb = write(d / "cnn.yaml", f"schema: 1\nextends: {RUBRICS / 'hw2-spring2021' / 'hw2_cnn.yaml'}\nnotebook: cnn.ipynb\n"
               "remove_items: [cnn.step]\noverride_items:\n  - {id: cnn.CNN, points: 12}\n")
    it = items(load_rubric(d))
    assert it["cnn.CNN"].points == 12 and "cnn.step" not in it and "cnn.conv1d_dldW" in it
    assert it["cnn.CNN"].params.input_sizes  # the base's parameters kept
    nb.write_text(nb.read_text().replace("points: 12", "points: 12, params: {batch: 0}"))
    with pytest.raises(RubricError) as exc:
        load_rubric(d)
    assert str(nb) in str(exc.value) and "batch" in str(exc.value)


# The variants' mutants and notebooks ------------------------------------------------------

def test_variant_mutants_follow_the_renames():
    from grader.rubric.load import assignment_raw
    from grader.validate import load_mutants

    spec = load_mutants(RUBRICS / "hw3-fall2021" / "mutants.yaml",
                        assignment_raw(RUBRICS / "hw3-fall2021" / "assignment.yaml").get("rename"))
    auto = {i.id for i in load_rubric(RUBRICS / "hw3-fall2021").items if i.kind != "manual"}
    kills = {k for m in spec["mutants"] for k in m["kills"]}
    assert kills == auto  # every automatic item has a mutant, and every mutant names a real item
    assert {m["notebook"] for m in spec["mutants"]} == {"hw3_cnn.ipynb", "hw3_rnn.ipynb"}
    assert spec["reference"].endswith("solution/fall2021")


def test_a_stale_mutant_removal_fails(tmp_path):
    from grader.validate import load_mutants

    m = write(tmp_path / "mutants.yaml", f"schema: 1\nextends: {RUBRICS / 'hw2' / 'mutants.yaml'}\nreference: x\nstarter: y\n"
              "remove: [no_such_mutant]\n")
    with pytest.raises(RubricError, match="no_such_mutant"):
        load_mutants(m)


def test_semester_notebooks_match_the_build(tmp_path):
    import build_notebooks

    build_notebooks.write_all(tmp_path)
    for variant in ("starter", "solution"):
        for key, sem in build_notebooks.SEMESTERS.items():
            for name in sem.names.values():
                built = (tmp_path / "reference" / variant / key / name).read_bytes()
                assert built == (ROOT / "reference" / variant / key / name).read_bytes(), \
                    f"{variant}/{key}/{name} is stale: run python scripts/build_notebooks.py"


def test_2021_notebooks_are_one_form_under_two_names():
    sol = ROOT / "reference" / "solution"
    for a, b in (("hw2_cnn.ipynb", "hw3_cnn.ipynb"), ("hw2_rnn.ipynb", "hw3_rnn.ipynb")):
        assert (sol / "spring2021" / a).read_bytes() == (sol / "fall2021" / b).read_bytes()
    cnn = "\n".join(c.source for c in nbformat.read(str(sol / "fall2021" / "hw3_cnn.ipynb"), as_version=4).cells)
    assert "conv_output_shape(1, 10, 11, 3, 0, 2, 1, 1) == (1, 4, 5)" in cnn and "(1, 10, 11, 5," not in cnn
    assert "torch.randn(2, 5, dtype" in cnn and "torch.randn(1, 2, 3, dtype" in cnn
    assert "conv_net_param_count" not in cnn
    rnn = "\n".join(c.source for c in nbformat.read(str(sol / "fall2021" / "hw3_rnn.ipynb"), as_version=4).cells)
    assert "binary_addition_rnn" not in rnn and "lstm_bptt" not in rnn and "gated_rnn_dl_dWx" in rnn
