"""Score stage: item points, partial credit and the course penalties, all with reasons."""
from __future__ import annotations

import ast
import re

from grader import offline
from grader.model import CellOutcome, ItemResult, NotebookRun, Penalty
from grader.rubric.model import EnvironmentError_, Rubric

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


# Built in, after the rubric's own rules: an import of a module the students' environment
# lacks is never the student's fault by itself (the course's Colab may have had it); the
# report names the module, and a TA decides when it was the student's own file.
MISSING_MODULE = EnvironmentError_(
    ename="^ModuleNotFoundError$", evalue="No module named",
    reason="the grading environment lacks this module (the rubric's `environment` may not list a package the "
           "course's Colab had; if it is the student's own file, a TA decides)",
    later_cells="cascade")
_MODULE = re.compile(r"No module named '([^']+)'")
_NAME = re.compile(r"name '([^']+)' is not defined")


def bound_names(source: str) -> set[str]:
    """Names a cell binds at its top level and in its blocks (imports, assignments, defs,
    classes, loop and with targets): if the cell failed, any of them may be unbound."""
    from grader.extract import to_python

    names: set[str] = set()
    try:
        tree = ast.parse(to_python(source))
    except (SyntaxError, ValueError):
        return names
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _cascade(failing, i: int, sources: dict) -> list:
    """The later failing cells that are consequences of failing[i]: NameErrors on a name an
    excused cell (or a consequence of it) would have bound. Everything else stays judged."""
    unbound = bound_names(sources.get(failing[i].index, ""))
    if failing[i].ename == "ModuleNotFoundError":
        m = _MODULE.search(failing[i].evalue or "")
        if m:
            unbound.add(m.group(1).split(".")[0])
    out = []
    for cell in failing[i + 1:]:
        m = _NAME.search(cell.evalue or "")
        if cell.ename == "NameError" and m and m.group(1) in unbound:
            out.append(cell)
            unbound |= bound_names(sources.get(cell.index, ""))
    return out


def _cell_sources(nb) -> dict:
    """Code cell index -> source text (cells whose source is not text count as empty: the
    prepare stage reports them)."""
    if nb is None:
        return {}
    out = {}
    for i, c in enumerate(nb.get("cells") or () if isinstance(nb, dict) else getattr(nb, "cells", ()) or ()):
        if not isinstance(c, dict) or c.get("cell_type") != "code":
            continue
        src = c.get("source", "")
        if isinstance(src, list) and all(isinstance(x, str) for x in src):
            src = "".join(src)
        out[i] = src if isinstance(src, str) else ""
    return out


def _ta_cuts(rubric: Rubric | None) -> frozenset:
    """Notebooks whose cut at the budget goes to a TA rather than to the penalty
    (execution.on_cut: ta)."""
    if rubric is None:
        return frozenset()
    return frozenset(nb.notebook for nb in rubric.notebooks if nb.execution.on_cut == "ta")


def _classify(runs: list[NotebookRun], rules, notebooks: dict | None = None,
              ta_cuts: frozenset = frozenset()) -> tuple[list[str], list[str]]:
    """(reasons for the not-executable penalty, environment errors waived, with reasons).

    Every failing cell is judged on its own, in order:
      - an answer error (ANSWER_ERRORS: an unfinished TODO's NotImplementedError, a failing
        assert) costs the items, not the penalty; the later cells that fail only because
        it did not bind its names (NameError on a name it binds, transitively: _cascade)
        are its consequences and are not judged either;
      - an error a rule of the rubric (or the built-in missing-module rule) attributes to
        the grading environment is waived with the rule's reason, its consequences as the
        rule says (cascade, or every later cell: `excused`);
      - anything else is the student's: the penalty.
    An answer error never excuses an unrelated later failure (a shield cell raising
    NotImplementedError early no longer hides a genuine failure after it). `notebooks`
    (expected name -> the notebook as it ran) gives the cells' sources; without them a
    NotImplementedError's consequences are taken to be the later NameErrors (all callers
    in the pipeline pass the sources)."""
    reasons, waived = [], []
    rules = (*rules, MISSING_MODULE)
    for run in runs:
        nb = (notebooks or {}).get(run.notebook)
        sources = _cell_sources(nb)
        consequences: dict[int, int] = {}  # cell -> the excused cell it follows from
        if run.status == "timeout" and run.cut is not None and run.notebook in ta_cuts:
            from grader.execute.budget import cut_reason

            waived.append(f"{run.notebook}: {cut_reason(run) or run.message} -- needs a TA: this notebook's training was "
                          "written for the course's GPU (the rubric's execution.on_cut), so a cut is not judged "
                          "automatically; the cells after it were not run")
            continue
        if run.status in BROKEN:
            # a cut names the cell and the budget with its derivation (grader.execute.budget)
            from grader.execute.budget import cut_reason

            why = cut_reason(run) if run.cut is not None else None
            if why is None and run.status == "timeout" and run.budget is not None:
                why = f"{run.message or run.status} (budget: {run.budget.derivation})"
            reasons.append(f"{run.notebook}: {why or run.message or run.status}")
            continue
        failing = list(run.failing_cells)
        bad = []
        for i, cell in enumerate(failing):
            if cell.index in consequences:
                continue
            if cell.ename in ANSWER_ERRORS:
                if nb is not None:
                    follow = _cascade(failing, i, sources)
                elif cell.ename == "NotImplementedError":  # no sources: the legacy reading, NameErrors only
                    follow = [c for c in failing[i + 1:] if c.ename == "NameError"]
                else:
                    follow = []
                for c in follow:
                    consequences.setdefault(c.index, cell.index)
                continue
            rule = environment_rule(cell, rules)
            if rule is None:
                bad.append(cell)
                continue
            later = failing[i + 1:]
            text = f"{run.notebook}: cell {cell.index} raised {cell.ename}: {cell.evalue[:120]} -- {rule.reason}"
            calls = offline.network_calls(sources.get(cell.index, ""))
            if calls:  # what the cell fetches, read from its code (pretrained weights, downloads)
                text += f"; cell {cell.index} fetches from the network: {', '.join(calls[:3])}"
            if rule.later_cells == "excused" and later:
                text += f"; the {len(later)} later failing cell(s) depend on it and were not judged"
            if rule.later_cells == "cascade":
                follow = _cascade(failing, i, sources)
                for c in follow:
                    consequences.setdefault(c.index, cell.index)
                if follow:
                    text += (f"; cell(s) {', '.join(str(c.index) for c in follow)} failed only because of it "
                             "(a name it would have defined) and were not judged")
            waived.append(text)
            if rule.later_cells == "excused":
                break
        if bad:
            first = bad[0]
            reasons.append(f"{run.notebook}: cell {first.index} raised {first.ename}: {first.evalue[:120]}"
                           + (f" (and {len(bad) - 1} more failing cell(s))" if len(bad) > 1 else "")
                           + " -- the student's: no rule of the rubric attributes it to the grading environment "
                             "(packages, data, network, the template), and it is not an unfinished TODO or a failing "
                             "assert (nor a consequence of one)")
    return reasons, waived


def not_executable_reasons(runs: list[NotebookRun], rubric: Rubric | None = None, notebooks: dict | None = None) -> list[str]:
    return _classify(runs, rubric.environment_errors if rubric is not None else (), notebooks, _ta_cuts(rubric))[0]


def environment_errors(runs: list[NotebookRun], rubric: Rubric | None = None, notebooks: dict | None = None) -> list[str]:
    """Cell errors the grading environment caused (not penalised), with the rubric's reason.
    `notebooks` (expected name -> notebook) lets a waived error excuse its consequences."""
    return _classify(runs, rubric.environment_errors if rubric is not None else (), notebooks, _ta_cuts(rubric))[1]


def execution_penalty(runs: list[NotebookRun], rubric: Rubric, tampering: list[str] | None = None,
                      notebooks: dict | None = None) -> list[Penalty]:
    """The not-executable penalty. Environment errors (see environment_errors) never count;
    the pipeline reports them as findings. Code that tampers with the kernel's
    machinery (grader.extract.tamper) makes the execution record untrustworthy: the
    notebook counts as not executable."""
    reasons, _waived = _classify(runs, rubric.environment_errors, notebooks, _ta_cuts(rubric))
    reasons += [f"kernel tampering, the execution record cannot be trusted: {t}" for t in (tampering or [])]
    out = []
    if reasons:
        out.append(Penalty("not_executable", rubric.penalties.not_executable_percent, "; ".join(reasons)))
    return out


def extra_credit_points(items: list[ItemResult], cap: float | None = None) -> float:
    """The extra-credit points counted: the extra-credit items' scores (pending ones not yet),
    at most `cap` (None: no cap beyond the items' own points)."""
    got = sum(float(i.score) for i in items if i.extra_credit and i.status != "pending")
    return round(got if cap is None else min(got, float(cap)), 4)


def total(items: list[ItemResult], penalties: list[Penalty], max_score: float,
          extra_credit_cap: float | None = None) -> tuple[float, float]:
    """(raw score, final score). Penalties are percentages of the maximum score.

    Extra credit (items with extra_credit) adds above `max_score`, capped by
    `extra_credit_cap`; `max_score` never includes it, so a student who skips it loses
    nothing. The course's penalties are "a percentage of the total": the same points
    (percent x max_score) come off whatever the student earned, extra credit included, and
    a submission too late scores 0 whatever it earned. The final score is never below 0 and
    may exceed max_score by the extra credit."""
    raw = sum(i.score for i in items if i.status != "pending" and not i.extra_credit)
    raw += extra_credit_points(items, extra_credit_cap)
    if any(p.rule == "too_late" for p in penalties):
        return raw, 0.0
    deduct = sum(p.percent for p in penalties) / 100.0 * max_score
    return raw, round(max(0.0, raw - deduct), 4)
