"""The class gradebook CSV, derived from canonical report dicts only.

One row per report (failed gradings included: their score is 0 and `notes` says why),
sorted by netid. Columns, in a stable order an LMS import can map once:

    netid, score, max_score, raw_score, penalty_<rule> (percent) for every known rule,
    one column per rubric item id (points), pending_points, notes
"""
from __future__ import annotations

import csv
import io

PENALTY_RULES = ("naming", "extra_files", "late", "not_executable", "too_late")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _num(x) -> str:
    if x is None or x == "":
        return ""
    text = f"{round(float(x), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text(s: str) -> str:
    """Spreadsheets execute cells that start like a formula; student text must not."""
    from grader.untrusted import text

    s = " ".join(text(s, 2000).split())
    return "'" + s if s.startswith(_FORMULA_START) else s


def item_columns(reports: list[dict], rubric=None) -> list[str]:
    if rubric is not None:
        ids = [i.id for i in rubric.items]
    else:
        ids = []
    for r in reports:  # items only some reports have (e.g. an older rubric) go last, in order
        for i in r.get("items") or []:
            if isinstance(i, dict) and isinstance(i.get("id"), str) and i["id"] not in ids:
                ids.append(i["id"])
    return ids


def penalty_columns(reports: list[dict]) -> list[str]:
    extra = sorted({str(p.get("rule")) for r in reports for p in r.get("penalties") or [] if isinstance(p, dict)}
                   - set(PENALTY_RULES))
    return [f"penalty_{rule}" for rule in (*PENALTY_RULES, *extra)]


def _notes(r: dict) -> str:
    notes = []
    for f in r.get("findings", []):
        if f.get("code") in ("grader_crash", "internal_error", "netid_clash"):
            notes.append(f["message"].split(". This is a fault")[0])
    sub = r.get("submission", {})
    if not sub.get("accepted", True) and sub.get("rejection") and not notes:
        notes.append(f"not accepted: {sub['rejection']}")
    return "; ".join(notes)


def gradebook_rows(reports: list[dict], rubric=None) -> tuple[list[str], list[list[str]]]:
    reports = sorted(reports, key=lambda r: str(r.get("netid")))
    items = item_columns(reports, rubric)
    pens = penalty_columns(reports)
    header = ["netid", "score", "max_score", "raw_score", *pens, *items, "pending_points", "notes"]
    rows = []
    for r in reports:
        try:
            rows.append(_row(r, pens, items))
        except Exception as exc:  # one malformed report: its row says why, the others are written
            row = [_text(r.get("netid")), "", "", "", *([""] * len(pens)), *([""] * len(items)), ""]
            row.append(_text(f"this row could not be computed ({type(exc).__name__}: {exc}); see the student's report.json"))
            rows.append(row)
    return header, rows


def _row(r: dict, pens: list[str], items: list[str]) -> list[str]:
    by_rule: dict[str, float] = {}
    for p in r["penalties"]:
        by_rule[p["rule"]] = by_rule.get(p["rule"], 0.0) + float(p["percent"])
    scores = {i["id"]: i for i in r["items"]}
    row = [_text(r["netid"]), _num(r["score"]), _num(r["max_score"]), _num(r["raw_score"])]
    row += [_num(by_rule.get(c[len("penalty_"):])) for c in pens]
    row += ["" if (i := scores.get(c)) is None or i["status"] == "pending" else _num(i["score"]) for c in items]
    row.append(_num(sum(i["max_score"] for i in r["items"] if i["status"] == "pending")))
    row.append(_text(_notes(r)))
    return row


def gradebook_csv(reports: list[dict], rubric=None) -> str:
    header, rows = gradebook_rows(reports, rubric)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()
