"""The short table printed on stdout after `grader run` (not a file format)."""
from __future__ import annotations

from typing import Mapping

from grader.model import Report, as_report


def summary_table(report: Report | Mapping, width: int = 100) -> str:
    r = as_report(report)
    rows = [(i.id, str(i.status), f"{i.score:g}/{i.max_score:g}") for i in r.items]
    w1 = min(max([len(a) for a, _, _ in rows] + [4]), width - 24)
    out = [f"{'item':<{w1}}  {'status':<8}  points", "-" * (w1 + 20)]
    out += [f"{a[:w1]:<{w1}}  {b:<8}  {c}" for a, b, c in rows]
    out.append("-" * (w1 + 20))
    out += [f"penalty {p.rule} -{p.percent:g}%: {p.reason[:width - 20]}" for p in r.penalties]
    out += [f"notebook {nb.notebook}: {nb.status} {nb.message[:width - 30]}".rstrip() for nb in r.notebooks if not nb.executed]
    if r.crash_reason:
        out.append(f"NOT GRADED: {r.crash_reason[:width - 12]}")
    iso = r.environment.get("isolation") if isinstance(r.environment.get("isolation"), dict) else {}
    weak = r.isolation_mode != "bwrap"
    out.append(f"isolation: {r.isolation_mode}" + (f" (WEAKER than the full sandbox: {'; '.join(map(str, iso.get('missing') or []))})" if weak else ""))
    out.append(f"TOTAL {r.netid}: {r.score:g} / {r.max_score:g}"
               + (f"  (includes {r.extra_credit:g} extra credit)" if r.extra_credit else "")
               + (f"  ({r.pending_points:g} points pending TA grading)" if r.pending_points else "")
               + (f"  (up to {r.pending_extra_credit:g} extra-credit points pending TA grading)" if r.pending_extra_credit else ""))
    return "\n".join(out)
