"""gradebook.csv: the class gradebook, rendered from the typed reports.

One row per report (failed gradings included: their score is 0 and `notes` says why; a
report.json that cannot be read gets a row saying so), sorted by netid. Columns, in a
stable order an LMS import can map once:

    netid, score, max_score, raw_score, extra_credit (points counted above max_score,
    included in score and raw_score), penalty_<rule> (percent) for every known rule,
    one column per rubric item id (points), pending_points, notes (flags the instructor
    must see: a grader failure, a NetID clash, a submission that looks like another
    rubric's semester)
"""
from __future__ import annotations

import csv
import io
from typing import Mapping, Sequence

from grader.model import ItemStatus, Report, as_report

PENALTY_RULES = ("naming", "extra_files", "late", "not_executable", "too_late")
NOTE_CODES = ("internal_error", "netid_clash", "other_rubric")  # findings the instructor must see in the row
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_number(x) -> str:
    if x is None or x == "":
        return ""
    text = f"{round(float(x), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def csv_text(s) -> str:
    """Spreadsheets execute cells that start like a formula; student text must not."""
    from grader.untrusted import text

    s = " ".join(text(s, 2000).split())
    return "'" + s if s.startswith(_FORMULA_START) else s


def item_columns(reports: Sequence[Report], rubric=None) -> list[str]:
    ids = [i.id for i in rubric.items] if rubric is not None else []
    for r in reports:  # items only some reports have (e.g. an older rubric) go last, in order
        ids += [i.id for i in r.items if i.id not in ids]
    return ids


def penalty_columns(reports: Sequence[Report]) -> list[str]:
    extra = sorted({p.rule for r in reports for p in r.penalties} - set(PENALTY_RULES))
    return [f"penalty_{rule}" for rule in (*PENALTY_RULES, *extra)]


def notes(r: Report) -> str:
    out = [r.crash_reason] if r.crash_reason else []
    out += [f.message for f in r.findings if f.code in NOTE_CODES]
    for i in r.items:  # a TA replaced what the grader verified: the row says who, and from what
        if i.ta is not None and i.ta.overridden and (c := i.ta.current) is not None:
            out.append(f"{i.id}: {c.kind} by {c.ta} at {c.at[:16]} ({float(i.ta.automatic.get('score', 0)):g} -> "
                       f"{c.score:g}; {len(i.ta.history)} TA decision(s) in report.json)")
    if not r.submission.accepted and r.submission.rejection and not out:
        out.append(f"not accepted: {r.submission.rejection}")
    return "; ".join(out)


def _row(r: Report, pens: list[str], items: list[str]) -> list[str]:
    by_rule: dict[str, float] = {}
    for p in r.penalties:
        by_rule[p.rule] = by_rule.get(p.rule, 0.0) + float(p.percent)
    scores = {i.id: i for i in r.items}
    row = [csv_text(r.netid), csv_number(r.score), csv_number(r.max_score), csv_number(r.raw_score),
           csv_number(r.extra_credit)]
    row += [csv_number(by_rule.get(c[len("penalty_"):])) for c in pens]
    row += ["" if (i := scores.get(c)) is None or i.status is ItemStatus.PENDING else csv_number(i.score) for c in items]
    row += [csv_number(r.pending_points), csv_text(r.submission.time_flag), csv_text(notes(r))]
    return row


def gradebook_rows(reports: Sequence[Report | Mapping], rubric=None,
                   unreadable: Sequence[tuple[str, str]] = ()) -> tuple[list[str], list[list[str]]]:
    """(header, rows). A report that is not a report (a dict that does not load) and each
    (netid, why) in `unreadable` get a row whose notes say why."""
    typed, broken = [], list(unreadable)
    for r in reports:
        try:
            typed.append(as_report(r))
        except Exception as exc:  # one malformed report: its row says why, the others are written
            netid = r.get("netid") if isinstance(r, Mapping) else None
            broken.append((str(netid), f"this row could not be computed ({type(exc).__name__}: {exc}); "
                                       "see the student's report.json"))
    items, pens = item_columns(typed, rubric), penalty_columns(typed)
    header = ["netid", "score", "max_score", "raw_score", "extra_credit", *pens, *items, "pending_points", "time_flag", "notes"]
    rows = [(r.netid, _row(r, pens, items)) for r in typed]
    rows += [(netid, [csv_text(netid), "", "", "", "", *([""] * len(pens)), *([""] * len(items)), "", "", csv_text(why)])
             for netid, why in broken]
    return header, [row for _, row in sorted(rows, key=lambda x: x[0])]


def gradebook_csv(reports: Sequence[Report | Mapping], rubric=None, unreadable: Sequence[tuple[str, str]] = ()) -> str:
    header, rows = gradebook_rows(reports, rubric, unreadable)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def render(reports: Sequence[Report], ctx=None) -> bytes:
    return gradebook_csv(reports, getattr(ctx, "rubric", None), getattr(ctx, "unreadable", ())).encode("utf-8", "replace")
