"""The short table printed on stdout after `grader run`."""
from __future__ import annotations


def summary_table(r: dict, width: int = 100) -> str:
    rows = [(i["id"], i["status"], f"{i['score']:g}/{i['max_score']:g}") for i in r["items"]]
    w1 = min(max([len(a) for a, _, _ in rows] + [4]), width - 24)
    out = [f"{'item':<{w1}}  {'status':<8}  points", "-" * (w1 + 20)]
    for a, b, c in rows:
        out.append(f"{a[:w1]:<{w1}}  {b:<8}  {c}")
    out.append("-" * (w1 + 20))
    for p in r["penalties"]:
        out.append(f"penalty {p['rule']} -{p['percent']:g}%: {p['reason'][:width - 20]}")
    for nb in r["notebooks"]:
        if not nb["executed"]:
            out.append(f"notebook {nb['notebook']}: {nb['status']} {nb['message'][:width - 30]}".rstrip())
    iso = r["environment"]["isolation"]
    weak = iso["mode"] != "bwrap"
    out.append(f"isolation: {iso['mode']}" + (f" (WEAKER than the full sandbox: {'; '.join(iso['missing'])})" if weak else ""))
    pending = sum(i["max_score"] for i in r["items"] if i["status"] == "pending")
    out.append(f"TOTAL {r['netid']}: {r['score']:g} / {r['max_score']:g}" + (f"  ({pending:g} points pending TA grading)" if pending else ""))
    return "\n".join(out)
