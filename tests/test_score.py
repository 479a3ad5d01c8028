"""Scoring rules: penalties as percentages of the total, the not-executable rule."""
from grader.model import CellOutcome, ItemResult, NotebookRun, Penalty
from grader.score import not_executable_reasons, total


def run(status="cell_errors", *cells):
    return NotebookRun("nb.ipynb", status, status == "completed", 1.0, 10, tuple(CellOutcome(i, "error", ename=e) for i, e in cells))


def test_unfinished_todo_and_its_consequences_are_not_penalized():
    assert not_executable_reasons([run("cell_errors", (3, "NotImplementedError"), (5, "NameError"))]) == []
    assert not_executable_reasons([run("cell_errors", (3, "AssertionError"))]) == []


def test_a_real_error_first_is_penalized():
    (reason,) = not_executable_reasons([run("cell_errors", (2, "ModuleNotFoundError"), (4, "NotImplementedError"))])
    assert "cell 2 raised ModuleNotFoundError" in reason


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
