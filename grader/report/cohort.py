"""The class view: per-item pass rates, the score histogram, and similar-code pairs
(cohort.json, class.md, class.html).

Derived from the typed reports, plus the similarity pairs computed by
grader.batch.similarity (from the students' code, which reports do not hold).
"""
from __future__ import annotations

import json
import statistics
from typing import Mapping, Sequence

from grader.model import ItemStatus, Report, as_report
from grader.report.html import num, rate, render_page
from grader.report.markdown import inline

STATUSES = ItemStatus.values()
FLAG_CODES = ("other_rubric",)  # findings listed on the class page, per submission


def histogram(scores: list[float], max_score: float, bins: int = 10) -> dict:
    edges = [round(max_score * k / bins, 4) for k in range(bins + 1)]
    counts = [0] * bins
    for s in scores:
        k = int(s / max_score * bins) if max_score > 0 else 0
        counts[min(max(k, 0), bins - 1)] += 1  # a full score goes in the last bin
    return {"bin_edges": edges, "counts": counts}


def item_rows(reports: Sequence[Report]) -> list[dict]:
    """Per item, in first-seen order: how many reports gave each status, the pass rate and
    the mean score over the graded ones (pending not counted)."""
    items: dict[str, dict] = {}
    sums: dict[str, float] = {}
    for r in reports:
        for i in r.items:
            row = items.setdefault(i.id, {"id": i.id, "title": i.title, "kind": i.kind, "max_score": i.max_score,
                                          "extra_credit": i.extra_credit, **{s: 0 for s in STATUSES}})
            row[i.status.value] += 1
            if i.status is not ItemStatus.PENDING:
                sums[i.id] = sums.get(i.id, 0.0) + float(i.score)
    for row in items.values():
        graded = sum(row[s] for s in STATUSES if s != ItemStatus.PENDING)
        row["pass_rate"] = round(row["passed"] / graded, 4) if graded else None
        row["mean_score"] = round(sums.get(row["id"], 0.0) / graded, 4) if graded else None
    return list(items.values())


def build_cohort(reports: Sequence[Report | Mapping], pairs: list[dict] | None = None, *,
                 threshold: float | None = None, note: str = "", bins: int = 10) -> dict:
    reports = sorted((as_report(r) for r in reports), key=lambda r: r.netid)
    scores = [float(r.score) for r in reports]
    max_score = max((float(r.max_score) for r in reports), default=0.0)
    return {
        "n_submissions": len(reports),
        "max_score": max_score,
        "scores": {
            "mean": round(statistics.fmean(scores), 4) if scores else None,
            "median": round(statistics.median(scores), 4) if scores else None,
            "min": min(scores, default=None), "max": max(scores, default=None),
            "not_graded": sum(1 for r in reports if not r.graded),
        },
        "histogram": histogram(scores, max_score, bins) if reports else {"bin_edges": [], "counts": []},
        # extra credit: how many earned some, how many scored above the maximum (in the last bin above)
        "extra_credit": {"earned": sum(1 for r in reports if float(r.extra_credit or 0) > 0),
                         "above_max": sum(1 for r in reports if float(r.score) > float(r.max_score))},
        # submissions the instructor must look at: e.g. one that looks like another semester's rubric
        "flags": [{"netid": r.netid, "code": f.code, "message": f.message}
                  for r in reports for f in r.findings if f.code in FLAG_CODES],
        "items": item_rows(reports),
        # submissions with no trustworthy time (zip times, no LMS time, LATE without a time): grader.lms.times
        "time_flags": [{"netid": r.netid, "flag": r.submission.time_flag} for r in reports if r.submission.time_flag],
        "similarity": {"threshold": threshold, "note": note, "pairs": list(pairs or [])},
    }


def cohort_markdown(c: dict, title: str = "Class summary") -> str:
    s = c["scores"]
    lines = [f"# {inline(title)}", "", f"{c['n_submissions']} submissions; mean {num(s['mean'])}, median {num(s['median'])}, "
             f"min {num(s['min'])}, max {num(s['max'])} of {num(c['max_score'])}."]
    if s["not_graded"]:
        lines.append(f"\n**{s['not_graded']} submission(s) could not be graded by the grader** (score 0 with the reason in their report).")
    ec = c.get("extra_credit") or {}
    if ec.get("earned"):
        lines.append(f"\n{ec['earned']} submission(s) earned extra credit; {ec['above_max']} scored above the maximum.")
    if c.get("flags"):
        lines += ["", "## Flagged submissions", ""]
        lines += [f"- **{inline(f['netid'])}**: {inline(f['message'])}" for f in c["flags"]]
    if c.get("time_flags"):
        lines += ["", f"## Submission times not trustworthy ({len(c['time_flags'])})", "",
                  "Lateness of these was judged from a time the student controls, or not at all:", ""]
        lines += [f"- **{inline(f['netid'])}**: {inline(f['flag'])}" for f in c["time_flags"]]
    lines += ["", "## Items", "", "| item | passed | failed | error | skipped | pending | pass rate | mean |", "|---|---|---|---|---|---|---|---|"]
    for i in c["items"]:
        lines.append(f"| {inline(i['title'])}{' (extra credit)' if i.get('extra_credit') else ''} (`{inline(i['id'])}`) | {i['passed']} | {i['failed']} | {i['error']} | {i['skipped']} | {i['pending']} "
                     f"| {rate(i['pass_rate'])} | {num(i['mean_score'])} / {num(i['max_score'])} |")
    h = c["histogram"]
    lines += ["", "## Score histogram", "", "| scores | count |", "|---|---|"]
    for k, n in enumerate(h["counts"]):
        lines.append(f"| {num(h['bin_edges'][k])}–{num(h['bin_edges'][k + 1])} | {n} {'#' * n} |")
    sim = c["similarity"]
    lines += ["", "## Similar code", "", f"_{sim['note']}_", ""]
    if sim["pairs"]:
        lines += ["| submission A | submission B | similarity | per target |", "|---|---|---|---|"]
        for p in sim["pairs"]:
            per = ", ".join(f"{inline(t.split('::')[-1])} {v:.2f}" for t, v in p["targets"].items())
            lines.append(f"| {inline(p['a'])} | {inline(p['b'])} | {p['similarity']:.2f} | {per} |")
    else:
        lines.append(f"No pair above the threshold {sim['threshold']}.")
    return "\n".join(lines) + "\n"


def cohort_html(c: dict, title: str = "Class summary") -> str:
    return render_page("class.html.j2", title, c=c)


# -- the registry's render functions (grader.report.formats) --------------------------------

def _cohort(reports: Sequence[Report], ctx) -> dict:
    return build_cohort(reports, list(getattr(ctx, "pairs", ()) or ()), threshold=getattr(ctx, "threshold", None),
                        note=getattr(ctx, "note", ""))


def _title(reports: Sequence[Report], ctx) -> str:
    return getattr(ctx, "title", "") or f"Class summary: {reports[0].assignment if reports else ''}"


def render_json(reports: Sequence[Report], ctx=None) -> bytes:
    return (json.dumps(_cohort(reports, ctx), indent=2, allow_nan=False) + "\n").encode("utf-8", "replace")


def render_markdown(reports: Sequence[Report], ctx=None) -> bytes:
    from grader.lms.gradebooks import summary_markdown  # the LMS section, with a roster

    return (cohort_markdown(_cohort(reports, ctx), _title(reports, ctx)) + summary_markdown(reports, ctx)).encode("utf-8", "replace")


def render_html(reports: Sequence[Report], ctx=None) -> bytes:
    return cohort_html(_cohort(reports, ctx), _title(reports, ctx)).encode("utf-8", "replace")
