"""Prepare a student notebook for execution: drop environment-only lines (Colab setup).

Rules with a `replace` text (the rubric's `execution.rewrite_lines`) rewrite a line
instead, e.g. forced CUDA (`.cuda()`, `device = 'cuda'`,
`torch.set_default_tensor_type('torch.cuda.FloatTensor')`) to the CPU the grader has; each
rewrite is reported like a skipped line. `rewrite_source` applies the same rewrites to the
code the probes run (see grader/checks/_exports.py), so the kernel and the probes agree.

Lines are neutralized one by one (replaced by `pass` with the same indentation) rather
than whole cells, so a cell that mixes `!pip install x` with real code still runs its
code, and the report can say exactly which line was skipped and why.
"""
from __future__ import annotations

import copy
import re

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


def prepare(nb, rules: tuple[SkipRule, ...]):
    """Return (a prepared copy of nb, [CellOutcome(status='skipped') notes])."""
    nb = copy.deepcopy(nb)
    notes: list[CellOutcome] = []
    for idx, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        new, cell_notes = neutralize(source, rules)
        if cell_notes:
            cell.source = new
            notes.append(CellOutcome(idx, "skipped", note="; ".join(cell_notes)))
        cell.outputs = []
        cell.execution_count = None
    return nb, notes
