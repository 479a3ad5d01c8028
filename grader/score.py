"""Score stage: item points, partial credit and the course penalties, all with reasons."""
from __future__ import annotations

from grader.model import ItemResult, NotebookRun, Penalty
from grader.rubric.model import Rubric

# Errors that mean "wrong or unfinished answer" rather than "cannot be executed": the items
# already cost the points, so they do not also trigger the not-executable penalty.
ANSWER_ERRORS = frozenset({"AssertionError", "NotImplementedError"})
BROKEN = frozenset({"timeout", "dead_kernel", "executor_crashed", "executor_error", "invalid"})


def not_executable_reasons(runs: list[NotebookRun]) -> list[str]:
    reasons = []
    for run in runs:
        if run.status in BROKEN:
            reasons.append(f"{run.notebook}: {run.message or run.status}")
            continue
        failing = list(run.failing_cells)
        if failing and failing[0].ename in ANSWER_ERRORS:
            # An unfinished TODO came first: later NameErrors etc. are its consequences.
            continue
        bad = [c for c in failing if c.ename not in ANSWER_ERRORS]
        if bad:
            first = bad[0]
            reasons.append(f"{run.notebook}: cell {first.index} raised {first.ename}: {first.evalue[:120]}"
                           + (f" (and {len(bad) - 1} more failing cell(s))" if len(bad) > 1 else ""))
    return reasons


def execution_penalty(runs: list[NotebookRun], rubric: Rubric) -> list[Penalty]:
    reasons = not_executable_reasons(runs)
    if not reasons:
        return []
    return [Penalty("not_executable", rubric.penalties.not_executable_percent, "; ".join(reasons))]


def total(items: list[ItemResult], penalties: list[Penalty], max_score: float) -> tuple[float, float]:
    """(raw score, final score). Penalties are percentages of the maximum score."""
    raw = sum(i.score for i in items if i.status != "pending")
    if any(p.rule == "too_late" for p in penalties):
        return raw, 0.0
    deduct = sum(p.percent for p in penalties) / 100.0 * max_score
    return raw, round(max(0.0, raw - deduct), 4)
