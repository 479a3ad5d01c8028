"""Score stage: item points, partial credit and the course penalties, all with reasons."""
from __future__ import annotations

from grader.model import CellOutcome, ItemResult, NotebookRun, Penalty
from grader.rubric.model import Rubric

# Errors that mean "wrong or unfinished answer" rather than "cannot be executed": the items
# already cost the points, so they do not also trigger the not-executable penalty.
ANSWER_ERRORS = frozenset({"AssertionError", "NotImplementedError"})
# executor_error (the grader could not start a kernel) is the grader's fault: never penalized.
BROKEN = frozenset({"timeout", "dead_kernel", "executor_crashed", "invalid"})


def environment_rule(cell: CellOutcome, rules) -> object | None:
    """The rubric's environment-error rule (rubric.environment_errors) a failing cell
    matches: an error the grading environment causes (no torchvision, no dataset, a known
    template bug), not the student. None when the cell is judged as usual."""
    return next((r for r in rules if r.matches(cell.ename, cell.evalue)), None)


def _classify(runs: list[NotebookRun], rules) -> tuple[list[str], list[str]]:
    """(reasons for the not-executable penalty, environment errors waived, with reasons)."""
    reasons, waived = [], []
    for run in runs:
        if run.status in BROKEN:
            reasons.append(f"{run.notebook}: {run.message or run.status}")
            continue
        failing = list(run.failing_cells)
        if failing and failing[0].ename == "NotImplementedError":
            # An unfinished TODO came first: later NameErrors etc. are its consequences.
            # (Not after a failing assert: that would let `assert False` shield a broken cell.)
            continue
        bad = []
        for i, cell in enumerate(failing):
            if cell.ename in ANSWER_ERRORS:
                continue
            rule = environment_rule(cell, rules)
            if rule is None:
                bad.append(cell)
                continue
            later = failing[i + 1:]
            text = f"{run.notebook}: cell {cell.index} raised {cell.ename}: {cell.evalue[:120]} -- {rule.reason}"
            if rule.later_cells == "excused" and later:
                text += f"; the {len(later)} later failing cell(s) depend on it and were not judged"
            waived.append(text)
            if rule.later_cells == "excused":
                break
        if bad:
            first = bad[0]
            reasons.append(f"{run.notebook}: cell {first.index} raised {first.ename}: {first.evalue[:120]}"
                           + (f" (and {len(bad) - 1} more failing cell(s))" if len(bad) > 1 else ""))
    return reasons, waived


def not_executable_reasons(runs: list[NotebookRun], rubric: Rubric | None = None) -> list[str]:
    return _classify(runs, rubric.environment_errors if rubric is not None else ())[0]


def environment_errors(runs: list[NotebookRun], rubric: Rubric | None = None) -> list[str]:
    """Cell errors the grading environment caused (not penalised), with the rubric's reason."""
    return _classify(runs, rubric.environment_errors if rubric is not None else ())[1]


def execution_penalty(runs: list[NotebookRun], rubric: Rubric, tampering: list[str] | None = None) -> list[Penalty]:
    """The not-executable penalty. Environment errors (see environment_errors) never count;
    the pipeline reports them as findings. Code that tampers with the kernel's
    machinery (grader.extract.tamper) makes the execution record untrustworthy: the
    notebook counts as not executable."""
    reasons, _waived = _classify(runs, rubric.environment_errors)
    reasons += [f"kernel tampering, the execution record cannot be trusted: {t}" for t in (tampering or [])]
    out = []
    if reasons:
        out.append(Penalty("not_executable", rubric.penalties.not_executable_percent, "; ".join(reasons)))
    return out


def total(items: list[ItemResult], penalties: list[Penalty], max_score: float) -> tuple[float, float]:
    """(raw score, final score). Penalties are percentages of the maximum score."""
    raw = sum(i.score for i in items if i.status != "pending")
    if any(p.rule == "too_late" for p in penalties):
        return raw, 0.0
    deduct = sum(p.percent for p in penalties) / 100.0 * max_score
    return raw, round(max(0.0, raw - deduct), 4)
