"""feedback.md: the student's Markdown feedback, rendered from the StudentView.

Student-controlled text (feedback quoting exception messages, cell errors, file names in
findings) must stay text: a block is an indented code block (nothing in it can end it), and a
line of text is put on one line with Markdown's active characters escaped, so no student
string can close a fence, start a heading or write a second score line.
"""
from __future__ import annotations

import re
from typing import Mapping

from grader.model import CellCut, ExecBudget, NotebookRun, Report, _load
from grader.report.view import StudentView, num, student_view, time_notes

# what can make inline text markup: code spans, emphasis, links/images, raw HTML, table cells
_ACTIVE = re.compile(r"([\\`*\[\]<>|])")


def inline(s) -> str:
    """One line of plain text inside Markdown: newlines folded, active characters escaped."""
    return _ACTIVE.sub(r"\\\1", " ".join(str(s).split()))


def code_block(s: str) -> list[str]:
    """`s` as an indented code block: every line is indented, so nothing in it can end the
    block, and no line of it starts like a heading or a score line, rendered or not."""
    return ["    " + line if line.strip() else "" for line in s.expandtabs(4).splitlines()]


def time_lines(nb: NotebookRun | Mapping) -> list[str]:
    """The notebook's time budget and cut cell as lines of Markdown text (also from a
    notebook's dict in a report.json, older ones included)."""
    if isinstance(nb, Mapping):
        budget, cut = nb.get("budget"), nb.get("cut")
        try:
            budget = _load(ExecBudget, budget, "budget") if isinstance(budget, Mapping) else None
            cut = _load(CellCut, cut, "cut") if isinstance(cut, Mapping) else None
        except ValueError:
            return []
        nb = NotebookRun("", "not_run", False, 0.0, 0, (), budget=budget, cut=cut)
    return [inline(t) for t in time_notes(nb)]


def render_view(v: StudentView) -> str:
    lines = [f"# Feedback for {inline(v.netid)} ({inline(v.assignment)})", ""]
    lines.append(f"**{v.score_line}**"
                 + (f" (items {num(v.raw_score)}, before penalties)" if v.penalties else ""))
    for m in v.prominent:
        lines += ["", f"> **Important:** {inline(m)}"]
    if v.pending_note:
        lines += ["", v.pending_note]
    lines += ["", inline(v.submitted)]
    if v.penalties:
        lines += ["", "## Penalties", ""]
        lines += [f"- **{inline(p.rule)}** (-{num(p.percent)} %): {inline(p.reason)}" for p in v.penalties]
    lines += ["", "## Items", "", "| item | status | points |", "|---|---|---|"]
    lines += [f"| {inline(i.title)} (`{inline(i.id)}`) | {i.label} | {i.points} |" for i in v.items]
    lines += ["", "## Details", ""]
    for i in v.detailed_items:
        lines.append(f"### {inline(i.title)} — {i.label}, " + (i.points if i.extra_credit else f"{num(i.score)}/{num(i.max_score)}"))
        if i.hidden:
            lines += ["", inline(i.verdict), ""]
            continue
        if i.feedback:
            lines += ["", *code_block(i.feedback), ""]
        for a in i.pictures:
            lines += [f"![{inline(a.name)}]({a.file})", ""]
        if i.history:
            lines += ["TA decisions:", "", *[f"- {inline(h)}" for h in i.history], ""]
    lines += ["## Notebooks", ""]
    for nb in v.notebooks:
        lines.append(f"- {inline(nb.notebook)}: {inline(nb.summary)}")
        lines += [f"  - {inline(n)}" for n in nb.notes]
    if v.findings:
        lines += ["", "## About your submission", ""]
        lines += [f"- {inline(m)}" for m in v.findings]
    lines += ["", f"_Graded in isolation mode `{inline(v.isolation)}` at {inline(v.graded_at)}._", ""]
    return "\n".join(lines)


def feedback_markdown(report: Report | Mapping) -> str:
    return render_view(student_view(report))
