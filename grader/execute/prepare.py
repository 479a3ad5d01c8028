"""Prepare a student notebook, ONCE, in the trusted pipeline: the one source that the kernel
runs and that the extraction (and so every probe) reads.

`prepare_notebook` (the pipeline's `prepare` stage, grader/pipeline.py) does two things:

1. Normalise. The notebook handed to the executor is built by the grader from plain text:
   the cells in their order (so cell indices stay the submission's), each code cell's
   source and nothing else (no metadata, outputs, attachments, ids, kernelspec). Nothing a
   notebook carries besides its code can reach nbclient, the kernel manager or the
   kernel, so content such as `tags: 5` in a cell's metadata or a non-standard kernelspec
   can no longer make the executor fail. What cannot be normalised (a code cell whose
   source is not text, a cell that is not an object) makes the notebook `invalid`: the
   student's notebook cannot be executed (the course's penalty), with a message saying
   which cell and what to fix; it is not run, and its other code cells are still extracted.
2. Neutralise environment-only lines (Colab setup, the rubric's dataset downloads), one by
   one: a line is replaced by `pass` with the same indentation (a cell that mixes
   `!pip install x` with real code still runs its code, and the report says exactly which
   line was skipped and why). Rules with a `replace` text (the rubric's
   `execution.rewrite_lines`) rewrite a line instead, e.g. forced CUDA (`.cuda()`,
   `device = 'cuda'`, `torch.set_default_tensor_type('torch.cuda.FloatTensor')`) to the
   CPU the grader has; each rewrite is reported like a skipped line.

A rule applied to the kernel's copy and not to the probes' (or the reverse) would let a
notebook show an honest failure in the kernel while the probe grades other code (a return
line ending in a `drive.mount(` comment was neutralised in the kernel only). So the
probes get these prepared cells, and nothing applies a rule a second time
(`rewrite_source` stays as a helper for one source, no caller re-applies it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from grader.model import CellOutcome
from grader.rubric.model import SkipRule

_CONT = re.compile(r"\\\s*$")


def rewrite_line(line: str, rules) -> tuple[str, list[str]]:
    """Apply every rewrite rule (a SkipRule with `replace`) to one line: (new line, reasons)."""
    reasons = []
    for r in rules:
        if getattr(r, "replace", None) is None:
            continue
        new = re.sub(r.pattern, r.replace, line)
        if new != line:
            line = new
            if r.reason not in reasons:
                reasons.append(r.reason)
    return line, reasons


def rewrite_source(source: str, rules) -> str:
    """The rewrite rules applied to every line of `source` (no skipping, no notes)."""
    if not any(getattr(r, "replace", None) is not None for r in rules):
        return source
    return "\n".join(rewrite_line(line, rules)[0] for line in source.split("\n"))


def neutralize(source: str, rules: tuple[SkipRule, ...]) -> tuple[str, list[str]]:
    """Return (new source, notes) for one cell."""
    rewrites = tuple(r for r in rules if getattr(r, "replace", None) is not None)
    rules = tuple(r for r in rules if getattr(r, "replace", None) is None)
    lines = source.splitlines()
    out: list[str] = []
    notes: list[str] = []
    skipping_continuation = False
    for line in lines:
        if skipping_continuation:
            out.append("")
            skipping_continuation = bool(_CONT.search(line))
            continue
        rule = next((r for r in rules if re.search(r.pattern, line)), None)
        if rule is None:
            new, reasons = rewrite_line(line, rewrites)
            if reasons:
                notes.append(f"rewrote `{line.strip()[:80]}` as `{new.strip()[:80]}`: {'; '.join(reasons)}")
            out.append(new)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        out.append(f"{indent}pass  # [grader] skipped: {rule.reason}")
        notes.append(f"skipped `{line.strip()[:80]}`: {rule.reason}")
        skipping_continuation = bool(_CONT.search(line))
    return "\n".join(out), notes


@dataclass(frozen=True)
class Prepared:
    """A notebook as the grader runs AND extracts it (see the module docstring)."""

    nb: Any  # a NotebookNode built by the grader: cells in order, code cells' prepared source only
    notes: tuple[CellOutcome, ...] = ()  # skipped / rewritten lines, per cell
    problem: str = ""  # not empty: content the executor cannot run; the notebook is `invalid`

    @property
    def valid(self) -> bool:
        return not self.problem

    def code_cells(self) -> list[str]:
        """The prepared code cells' sources, in order (what the extraction reads)."""
        return [c.source for c in self.nb.cells if c.cell_type == "code"]


_FIX = ("; open the notebook in Jupyter or Colab, make every code cell plain text (re-create the cell if needed) "
        "and save it again")


def _text(value) -> str | None:
    """A cell source as text: a string, or a list of strings (nbformat's multi-line form)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return None


def _kind(value) -> str:
    """What a JSON value is, in words."""
    if value is None:
        return "nothing (null)"
    for t, word in ((bool, "boolean"), ((int, float), "number"), (dict, "object"), (list, "list"), (str, "string")):
        if isinstance(value, t):
            return f"a JSON {word}"
    return f"a {type(value).__name__}"


def normalise(nb) -> tuple[Any, str]:
    """(a grader-built copy of nb: cells in order, sources only; problem or '')."""
    import nbformat

    out = nbformat.v4.new_notebook()
    problems = []
    cells = nb.get("cells") if isinstance(nb, dict) else getattr(nb, "cells", None)
    if not isinstance(cells, list):
        return out, f"the notebook has no list of cells ({_kind(cells)})" + _FIX
    for idx, cell in enumerate(cells):
        if not isinstance(cell, dict):
            problems.append(f"cell {idx} is {_kind(cell)}, not a cell")
            out.cells.append(nbformat.v4.new_raw_cell(""))
            continue
        kind = cell.get("cell_type")
        source = _text(cell.get("source", ""))
        if kind == "code":
            if source is None:
                problems.append(f"code cell {idx}'s source is {_kind(cell.get('source'))}, not text")
                source = ""
            out.cells.append(nbformat.v4.new_code_cell(source))
        elif kind == "markdown":
            out.cells.append(nbformat.v4.new_markdown_cell(source or ""))
        else:  # raw cells, and cell types Jupyter does not know: never executed
            out.cells.append(nbformat.v4.new_raw_cell(source or ""))
    for i, c in enumerate(out.cells):  # stable ids: the same code gives the same prepared notebook
        c["id"] = f"cell-{i}"
    problem = ""
    if problems:
        problem = ("the executor cannot run this notebook: " + "; ".join(problems[:5])
                   + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "") + _FIX)
    return out, problem


def prepare_notebook(nb, rules: tuple[SkipRule, ...]) -> Prepared:
    """Normalise `nb` and neutralise its environment-only lines: the one prepared source."""
    out, problem = normalise(nb)
    notes: list[CellOutcome] = []
    for idx, cell in enumerate(out.cells):
        if cell.cell_type != "code":
            continue
        new, cell_notes = neutralize(cell.source, rules)
        if cell_notes:
            cell.source = new
            notes.append(CellOutcome(idx, "skipped", note="; ".join(cell_notes)))
    return Prepared(out, tuple(notes), problem)


def prepare(nb, rules: tuple[SkipRule, ...]):
    """Return (the prepared notebook, [CellOutcome(status='skipped') notes]): prepare_notebook's
    notebook and notes (callers that need the problem use prepare_notebook)."""
    p = prepare_notebook(nb, rules)
    return p.nb, list(p.notes)
