"""Prepare a student notebook for execution: drop environment-only lines (Colab setup).

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


def neutralize(source: str, rules: tuple[SkipRule, ...]) -> tuple[str, list[str]]:
    """Return (new source, notes) for one cell."""
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
            out.append(line)
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
