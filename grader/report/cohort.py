"""The class view: per-item pass rates, the score histogram, and similar-code pairs.

Derived from the canonical report dicts, plus the similarity pairs computed by
grader.batch.similarity (from the students' code, which reports do not hold).
"""
from __future__ import annotations

import statistics

from grader.report.html import esc, num, page

STATUSES = ("passed", "failed", "error", "skipped", "pending")


def histogram(scores: list[float], max_score: float, bins: int = 10) -> dict:
    edges = [round(max_score * k / bins, 4) for k in range(bins + 1)]
    counts = [0] * bins
    for s in scores:
        k = int(s / max_score * bins) if max_score > 0 else 0
        counts[min(max(k, 0), bins - 1)] += 1  # a full score goes in the last bin
    return {"bin_edges": edges, "counts": counts}


def build_cohort(reports: list[dict], pairs: list[dict] | None = None, *, threshold: float | None = None,
                 note: str = "", bins: int = 10) -> dict:
    reports = sorted(reports, key=lambda r: r["netid"])
    scores = [float(r["score"]) for r in reports]
    max_score = max((float(r["max_score"]) for r in reports), default=0.0)
    items: dict[str, dict] = {}
    for r in reports:
        for i in r["items"]:
            row = items.setdefault(i["id"], {"id": i["id"], "title": i["title"], "kind": i["kind"],
                                             "max_score": i["max_score"], **{s: 0 for s in STATUSES}, "_sum": 0.0})
            row[i["status"] if i["status"] in STATUSES else "error"] += 1
            if i["status"] != "pending":
                row["_sum"] += float(i["score"])
    for row in items.values():
        graded = sum(row[s] for s in STATUSES if s != "pending")
        row["pass_rate"] = round(row["passed"] / graded, 4) if graded else None
        row["mean_score"] = round(row.pop("_sum") / graded, 4) if graded else None
    return {
        "n_submissions": len(reports),
        "max_score": max_score,
        "scores": {
            "mean": round(statistics.fmean(scores), 4) if scores else None,
            "median": round(statistics.median(scores), 4) if scores else None,
            "min": min(scores, default=None), "max": max(scores, default=None),
            "not_graded": sum(1 for r in reports if any(f.get("code") == "grader_crash" for f in r.get("findings", []))),
        },
        "histogram": histogram(scores, max_score, bins) if reports else {"bin_edges": [], "counts": []},
        "items": list(items.values()),
        "similarity": {"threshold": threshold, "note": note, "pairs": list(pairs or [])},
    }


def _rate(x) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


def cohort_markdown(c: dict, title: str = "Class summary") -> str:
    s = c["scores"]
    lines = [f"# {title}", "", f"{c['n_submissions']} submissions; mean {num(s['mean'])}, median {num(s['median'])}, "
             f"min {num(s['min'])}, max {num(s['max'])} of {num(c['max_score'])}."]
    if s["not_graded"]:
        lines.append(f"\n**{s['not_graded']} submission(s) could not be graded by the grader** (score 0 with the reason in their report).")
    lines += ["", "## Items", "", "| item | passed | failed | error | skipped | pending | pass rate | mean |", "|---|---|---|---|---|---|---|---|"]
    for i in c["items"]:
        lines.append(f"| {i['title']} (`{i['id']}`) | {i['passed']} | {i['failed']} | {i['error']} | {i['skipped']} | {i['pending']} "
                     f"| {_rate(i['pass_rate'])} | {num(i['mean_score']) if i['mean_score'] is not None else 'n/a'} / {num(i['max_score'])} |")
    h = c["histogram"]
    lines += ["", "## Score histogram", "", "| scores | count |", "|---|---|"]
    for k, n in enumerate(h["counts"]):
        lines.append(f"| {num(h['bin_edges'][k])}–{num(h['bin_edges'][k + 1])} | {n} {'#' * n} |")
    sim = c["similarity"]
    lines += ["", "## Similar code", "", f"_{sim['note']}_", ""]
    if sim["pairs"]:
        lines += ["| submission A | submission B | similarity | per target |", "|---|---|---|---|"]
        for p in sim["pairs"]:
            per = ", ".join(f"{t.split('::')[-1]} {v:.2f}" for t, v in p["targets"].items())
            lines.append(f"| {p['a']} | {p['b']} | {p['similarity']:.2f} | {per} |")
    else:
        lines.append(f"No pair above the threshold {sim['threshold']}.")
    return "\n".join(lines) + "\n"


def cohort_html(c: dict, title: str = "Class summary") -> str:
    s = c["scores"]
    out = [f"<h1>{esc(title)}</h1>",
           f"<p>{c['n_submissions']} submissions; mean {num(s['mean'])}, median {num(s['median'])}, "
           f"min {num(s['min'])}, max {num(s['max'])} of {num(c['max_score'])}.</p>"]
    if s["not_graded"]:
        out.append(f"<p class=\"error\"><b>{s['not_graded']} submission(s) could not be graded by the grader.</b></p>")
    out.append("<h2>Items</h2><table><tr><th>item</th><th>passed</th><th>failed</th><th>error</th><th>skipped</th>"
               "<th>pending</th><th>pass rate</th><th>mean</th></tr>")
    for i in c["items"]:
        out.append(f"<tr><td>{esc(i['title'])} <code>{esc(i['id'])}</code></td><td>{i['passed']}</td><td>{i['failed']}</td>"
                   f"<td>{i['error']}</td><td>{i['skipped']}</td><td>{i['pending']}</td><td>{_rate(i['pass_rate'])}</td>"
                   f"<td>{num(i['mean_score']) if i['mean_score'] is not None else 'n/a'} / {num(i['max_score'])}</td></tr>")
    out.append("</table><h2>Score histogram</h2><table><tr><th>scores</th><th>count</th><th></th></tr>")
    h = c["histogram"]
    top = max(h["counts"], default=0) or 1
    for k, n in enumerate(h["counts"]):
        out.append(f"<tr><td>{num(h['bin_edges'][k])}–{num(h['bin_edges'][k + 1])}</td><td>{n}</td>"
                   f"<td><span class=\"bar\" style=\"width:{int(300 * n / top)}px\"></span></td></tr>")
    out.append("</table>")
    sim = c["similarity"]
    out.append(f"<h2>Similar code</h2><p class=\"note\">{esc(sim['note'])}</p>")
    if sim["pairs"]:
        out.append("<table><tr><th>submission A</th><th>submission B</th><th>similarity</th><th>per target</th></tr>")
        for p in sim["pairs"]:
            per = ", ".join(f"{esc(t.split('::')[-1])} {v:.2f}" for t, v in p["targets"].items())
            out.append(f"<tr><td>{esc(p['a'])}</td><td>{esc(p['b'])}</td><td>{p['similarity']:.2f}</td><td>{per}</td></tr>")
        out.append("</table>")
    else:
        out.append(f"<p>No pair above the threshold {esc(sim['threshold'])}.</p>")
    return page(title, "\n".join(out))
