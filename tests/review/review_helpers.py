"""A fabricated graded class for the review tests (no grading): OUT/<netid>/report.json,
the student's zip and the manifest line that points at it."""
from __future__ import annotations

import json
from pathlib import Path

from batch_helpers import item, make_report
from factories import make_zip, pdf_bytes


def items():
    return [item("nb.a", "passed", max_score=5.0, evidence={"cases": [{"input": [1, 2], "ok": True}]}),
            item("nb.b", "failed", max_score=4.0, feedback="values differ"),
            item("nb.grad", "pending", max_score=3.0, feedback="needs a TA: the function calls torch.autograd.grad"),
            item("q1", "pending", kind="manual", max_score=6.0, part="theory", title="Theory 1.2: the derivation",
                 feedback="graded by a TA; pending")]


def fabricated_class(out: Path, netids=("ab1234", "cd5678"), pdf: bytes | None = None, notebook: str | None = None,
                     report_items=None) -> Path:
    from grader.model import Report
    from grader.report.formats import write_student_files

    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, netid in enumerate(netids):
        files = {"hw.pdf": pdf if pdf is not None else pdf_bytes()}
        if notebook is not None:
            files["nb.ipynb"] = notebook
        z = make_zip(out.parent / "zips" / f"{netid}.zip", files)
        data = make_report(netid, items=report_items or items())
        data["submission"]["files"] = {"hw.pdf": {"name_in_zip": "hw.pdf", "exact_name": True},
                                       **({"nb.ipynb": {"name_in_zip": "nb.ipynb", "exact_name": True}} if notebook else {})}
        write_student_files(Report.from_dict(data), out / netid)
        lines.append(json.dumps({"v": 1, "key": f"k{n}", "status": "graded", "netid": netid, "name": z.name,
                                 "source": str(z)}))
    (out / ".batch").mkdir(exist_ok=True)
    (out / ".batch" / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return out


def report_json(out: Path, netid: str) -> dict:
    return json.loads((out / netid / "report.json").read_text())


def item_of(report: dict, item_id: str) -> dict:
    return next(i for i in report["items"] if i["id"] == item_id)
