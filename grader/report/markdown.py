"""The student's Markdown feedback, derived from the canonical report dict only.

Student-controlled text (feedback quoting exception messages, cell errors, file names in
findings) must stay text: a block is an indented code block (nothing in it can end it), and a
line of text is put on one line with Markdown's active characters escaped, so no student
string can close a fence, start a heading or write a second score line.
"""
from __future__ import annotations

import re

# what can make inline text markup: code spans, emphasis, links/images, raw HTML, table cells
_ACTIVE = re.compile(r"([\\`*\[\]<>|])")


def inline(s) -> str:
    """One line of plain text inside Markdown: newlines folded, active characters escaped."""
    return _ACTIVE.sub(r"\\\1", " ".join(str(s).split()))


def code_block(s: str) -> list[str]:
    """`s` as an indented code block: every line is indented, so nothing in it can end the
    block, and no line of it starts like a heading or a score line, rendered or not."""
    return ["    " + line if line.strip() else "" for line in s.expandtabs(4).splitlines()]


def _fmt(x: float) -> str:
    return f"{x:g}"


def time_lines(nb: dict) -> list[str]:
    """A notebook's time budget with its derivation, and the cut cell if one was cut
    (plain text; grader.execute.budget). Reports written before budgets have neither."""
    out = []
    b = nb.get("budget")
    if isinstance(b, dict) and b.get("derivation"):
        text = f"time budget: {b['derivation']}"
        if b.get("source") == "calibrated" and b.get("benchmark_s") is not None:
            text += (f"; the calibration benchmark took {b['benchmark_s']:g} s here ({b.get('benchmark_source')}), "
                     f"{b.get('baseline_benchmark_s'):g} s where the reference solution took {b.get('reference_s'):g} s")
        out.append(text)
    c = nb.get("cut")
    if isinstance(c, dict):
        what = {"ran": "it was interrupted and the grader exported the model trained so far, which was graded",
                "failed": "it was interrupted, but the grader's export of the trained model failed",
                "not_run": "it did not stop when interrupted, so the trained model could not be exported or graded"
                           + (f" ({c['note']})" if c.get("note") else ""),
                "none": "it was interrupted; the remaining cells were not run"}.get(str(c.get("exports")), "")
        out.append(inline(f"cell {c.get('cell')} was cut after {float(c.get('ran_s') or 0):.0f} s "
                   f"(limit {float(c.get('limit_s') or 0):g} s, {'per cell' if c.get('which') == 'cell' else 'the rest of the notebook budget'})"
                   + (f": {what}" if what else "")))
    return out


def feedback_markdown(r: dict) -> str:
    lines = [f"# Feedback for {r['netid']} ({r['assignment']})", ""]
    lines.append(f"**Score: {_fmt(r['score'])} / {_fmt(r['max_score'])}**"
                 + (f" (items {_fmt(r['raw_score'])}, before penalties)" if r["penalties"] else ""))
    pending = [i for i in r["items"] if i["status"] == "pending"]
    if pending:
        lines.append(f"\n{len(pending)} item(s) worth {_fmt(sum(i['max_score'] for i in pending))} points are graded by a TA and still pending.")
    sub = r["submission"]
    lines += ["", inline(f"Submitted: {sub.get('submitted_at') or 'unknown'} ({sub.get('submitted_at_source')}); deadline {sub.get('deadline')}.")]
    if r["penalties"]:
        lines += ["", "## Penalties", ""]
        for p in r["penalties"]:
            lines.append(f"- **{inline(p['rule'])}** (-{_fmt(p['percent'])} %): {inline(p['reason'])}")
    lines += ["", "## Items", "", "| item | status | points |", "|---|---|---|"]
    for i in r["items"]:
        lines.append(f"| {i['title']} (`{i['id']}`) | {i['status']} | {_fmt(i['score'])} / {_fmt(i['max_score'])} |")
    lines += ["", "## Details", ""]
    for i in r["items"]:
        if i["status"] == "passed" and not i["feedback"].strip():
            continue
        lines.append(f"### {i['title']} — {i['status']}, {_fmt(i['score'])}/{_fmt(i['max_score'])}")
        if i["visibility"] == "hidden":
            lines.append("\n(hidden test: the inputs are not shown)\n")
            continue
        if i["feedback"].strip():
            lines += ["", *code_block(i["feedback"].strip()[:4000]), ""]
        for name, file in (i.get("evidence", {}).get("artifacts") or {}).items():
            if isinstance(file, str) and file.endswith(".png"):
                lines += [f"![{name}]({file})", ""]
    lines += ["## Notebooks", ""]
    for nb in r["notebooks"]:
        state = "ran top to bottom" if nb["executed"] else f"did not run cleanly ({nb['status']})"
        lines.append(f"- {inline(nb['notebook'])}: {state}, {nb['seconds']:.1f} s" + (f". {inline(nb['message'])}" if nb["message"] else ""))
        lines += [f"  - {t}" for t in time_lines(nb)]
        for c in nb["cells"]:
            if c["status"] == "skipped":
                lines.append(f"  - cell {c['index']}: {inline(c['note'])}")
            elif c["status"] in ("error", "timeout", "dead"):
                lines.append(f"  - cell {c['index']}: {inline(c['ename'])}: {inline(c['evalue'][:200])}")
        if nb.get("output_truncated"):
            lines.append("  - output was truncated (too much printed)")
    notable = [f for f in r["findings"] if f["severity"] != "info" or f["code"] in ("junk_ignored", "top_folder", "pdf_ok")]
    if notable:
        lines += ["", "## About your submission", ""]
        lines += [f"- {inline(f['message'])}" for f in notable]
    iso = r["environment"]["isolation"]
    lines += ["", f"_Graded in isolation mode `{iso['mode']}` at {r['graded_at']}._", ""]
    return "\n".join(lines)
