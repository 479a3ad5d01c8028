"""The student's Markdown feedback, derived from the canonical report dict only."""
from __future__ import annotations


def _fmt(x: float) -> str:
    return f"{x:g}"


def feedback_markdown(r: dict) -> str:
    lines = [f"# Feedback for {r['netid']} ({r['assignment']})", ""]
    lines.append(f"**Score: {_fmt(r['score'])} / {_fmt(r['max_score'])}**"
                 + (f" (items {_fmt(r['raw_score'])}, before penalties)" if r["penalties"] else ""))
    pending = [i for i in r["items"] if i["status"] == "pending"]
    if pending:
        lines.append(f"\n{len(pending)} item(s) worth {_fmt(sum(i['max_score'] for i in pending))} points are graded by a TA and still pending.")
    sub = r["submission"]
    lines += ["", f"Submitted: {sub.get('submitted_at') or 'unknown'} ({sub.get('submitted_at_source')}); deadline {sub.get('deadline')}."]
    if r["penalties"]:
        lines += ["", "## Penalties", ""]
        for p in r["penalties"]:
            lines.append(f"- **{p['rule']}** (-{_fmt(p['percent'])} %): {p['reason']}")
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
            lines += ["", "```", i["feedback"].strip()[:4000], "```", ""]
        for name, file in (i.get("evidence", {}).get("artifacts") or {}).items():
            if isinstance(file, str) and file.endswith(".png"):
                lines += [f"![{name}]({file})", ""]
    lines += ["## Notebooks", ""]
    for nb in r["notebooks"]:
        state = "ran top to bottom" if nb["executed"] else f"did not run cleanly ({nb['status']})"
        lines.append(f"- `{nb['notebook']}`: {state}, {nb['seconds']:.1f} s" + (f". {nb['message']}" if nb["message"] else ""))
        for c in nb["cells"]:
            if c["status"] == "skipped":
                lines.append(f"  - cell {c['index']}: {c['note']}")
            elif c["status"] in ("error", "timeout", "dead"):
                lines.append(f"  - cell {c['index']}: {c['ename']}: {c['evalue'][:200]}")
        if nb.get("output_truncated"):
            lines.append("  - output was truncated (too much printed)")
    notable = [f for f in r["findings"] if f["severity"] != "info" or f["code"] in ("junk_ignored", "top_folder", "pdf_ok")]
    if notable:
        lines += ["", "## About your submission", ""]
        lines += [f"- {f['message']}" for f in notable]
    iso = r["environment"]["isolation"]
    lines += ["", f"_Graded in isolation mode `{iso['mode']}` at {r['graded_at']}._", ""]
    return "\n".join(lines)
