"""Scoring rules: penalties as percentages of the total, the not-executable rule."""
from factories import notebook_node
from grader.model import CellOutcome, ItemResult, NotebookRun, Penalty
from grader.score import not_executable_reasons, total


def run(status="cell_errors", *cells):
    return NotebookRun("nb.ipynb", status, status == "completed", 1.0, 10, tuple(CellOutcome(i, "error", ename=e) for i, e in cells))


def test_unfinished_todo_and_its_consequences_are_not_penalized():
    assert not_executable_reasons([run("cell_errors", (3, "NotImplementedError"), (5, "NameError"))]) == []
    assert not_executable_reasons([run("cell_errors", (3, "AssertionError"))]) == []


def test_a_real_error_first_is_penalized():
    (reason,) = not_executable_reasons([run("cell_errors", (2, "ZeroDivisionError"), (4, "NotImplementedError"))])
    assert "cell 2 raised ZeroDivisionError" in reason


def nb_run(*cells):
    """A run whose failing cells carry messages: (index, ename, evalue)."""
    return NotebookRun("nb.ipynb", "cell_errors", False, 1.0, 10, tuple(CellOutcome(i, "error", ename=e, evalue=v) for i, e, v in cells))


def notebook(*sources):
    return {"nb.ipynb": notebook_node(*sources)}


def test_a_missing_module_is_the_environment_and_excuses_only_its_consequences():
    from grader.score import environment_errors

    nbs = notebook("import torch\nfrom tqdm import tqdm", "def train(m):\n    for x in tqdm(range(3)):\n        pass",
                   "model = 1\ntrain(model)", "history = train(model)\nprint(history)", "print(history)",
                   "1/0")
    r = nb_run((0, "ModuleNotFoundError", "No module named 'tqdm'"), (2, "NameError", "name 'tqdm' is not defined"),
               (3, "NameError", "name 'tqdm' is not defined"), (4, "NameError", "name 'history' is not defined"),
               (5, "ZeroDivisionError", "division by zero"))
    (reason,) = not_executable_reasons([r], None, nbs)
    assert "cell 5 raised ZeroDivisionError" in reason and "more failing" not in reason
    (why,) = environment_errors([r], None, nbs)
    assert "No module named 'tqdm'" in why and "lacks this module" in why
    assert "cell(s) 2, 3, 4 failed only because of it" in why


def test_a_nameerror_unrelated_to_the_missing_module_is_still_judged():
    nbs = notebook("from tqdm import tqdm", "print(undefined_thing)")
    r = nb_run((0, "ModuleNotFoundError", "No module named 'tqdm'"), (1, "NameError", "name 'undefined_thing' is not defined"))
    (reason,) = not_executable_reasons([r], None, nbs)
    assert "cell 1 raised NameError" in reason
    # without the sources, nothing is excused beyond the import itself
    r2 = nb_run((0, "ModuleNotFoundError", "No module named 'six'"), (1, "NameError", "name 'x' is not defined"))
    assert "cell 1 raised NameError" in not_executable_reasons([r2])[0]


def test_broken_runs_are_penalized():
    assert not_executable_reasons([run("dead_kernel")]) and not_executable_reasons([run("timeout")])
    assert not_executable_reasons([run("completed"), run("missing")]) == []


def item(score, mx, status="passed"):
    return ItemResult("a.b", "t", "allclose", score, mx, status, "")


def test_total_applies_percentages_of_the_maximum_and_floors_at_zero():
    assert total([item(50, 60), item(0, 40, "pending")], [Penalty("late", 20, "")], 100) == (50, 30)
    assert total([item(5, 60)], [Penalty("late", 20, ""), Penalty("naming", 10, "")], 100) == (5, 0)
    assert total([item(60, 60)], [Penalty("too_late", 100, "")], 100) == (60, 0)


def test_a_failing_assert_does_not_shield_a_later_broken_cell():
    (reason,) = not_executable_reasons([run("cell_errors", (3, "AssertionError"), (5, "NameError"))])
    assert "cell 5 raised NameError" in reason


def test_a_cut_goes_to_a_ta_where_the_rubric_says_the_training_needs_a_gpu():
    from pathlib import Path

    from grader.model import CellCut
    from grader.rubric import load_rubric
    from grader.score import environment_errors, execution_penalty

    rubric = load_rubric(Path(__file__).resolve().parents[1] / "rubrics" / "hw2-original")
    cut = CellCut(cell=9, ran_s=600.0, limit_s=600.0, which="cell", interrupted=True, exports="ran")

    def cut_run(name):
        return NotebookRun(name, "timeout", False, 610.0, 12, (CellOutcome(9, "timeout", 600.0, "Timeout", ""),), cut=cut)

    # the CNN notebook (execution.on_cut: ta): no penalty, a note for the TA
    assert execution_penalty([cut_run("hw2_cnn.ipynb")], rubric) == []
    (why,) = environment_errors([cut_run("hw2_cnn.ipynb")], rubric)
    assert "needs a TA" in why and "cell 9 was still running" in why and "model trained so far was graded" in why
    # the echo notebook keeps the course's rule: a cut at the calibrated budget is the penalty
    (pen,) = execution_penalty([cut_run("hw2_rnn.ipynb")], rubric)
    assert pen.rule == "not_executable" and "cell 9 was still running" in pen.reason
