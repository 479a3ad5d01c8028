"""`grader report OUT`: every derived format, from the canonical OUT/<netid>/report.json files.

Per student (OUT/<netid>/): results.json (Gradescope), feedback.html.
Per class (OUT/): gradebook.csv, junit.xml, cohort.json, class.md, class.html.
`grader batch` calls this at its end; running it again only rewrites derived files.
Similarity uses the normalized target code the batch saved in OUT/.batch/code/.
"""
from __future__ import annotations

import json
from pathlib import Path

from grader.batch.manifest import atomic_write_bytes
from grader.errors import UsageError


def load_reports(out_dir: Path) -> list[dict]:
    reports = []
    for path in sorted(Path(out_dir).glob("*/report.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a report is only counted once its JSON is complete
        if isinstance(data, dict) and "netid" in data and "items" in data:
            reports.append(data)
    return reports


def _load_codes(out_dir: Path, netids: list[str]) -> dict[str, dict]:
    codes = {}
    for netid in netids:
        p = Path(out_dir) / ".batch" / "code" / f"{netid}.json"
        try:
            codes[netid] = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
    return codes


def _rubric_from_reports(reports: list[dict]):
    from grader.rubric import load_rubric

    for r in reports:
        d = r.get("environment", {}).get("rubric", {}).get("directory")
        if d and Path(d).is_dir():
            try:
                return load_rubric(d)
            except Exception:
                return None
    return None


def write_class_reports(out_dir: str | Path, rubric=None, similarity_threshold: float = 0.8,
                        gradescope_hidden: str = "visible") -> dict:
    from grader.batch import similarity
    from grader.report.cohort import build_cohort, cohort_html, cohort_markdown
    from grader.report.gradebook import gradebook_csv
    from grader.report.gradescope import gradescope_results
    from grader.report.html import feedback_html
    from grader.report.junit import junit_xml

    out_dir = Path(out_dir)
    reports = load_reports(out_dir)
    if not reports:
        raise UsageError(f"no OUT/<netid>/report.json under {out_dir}; run `grader batch` or `grader run --out {out_dir}` first")
    rubric = rubric or _rubric_from_reports(reports)
    for r in reports:
        d = out_dir / r["netid"]
        atomic_write_bytes(d / "results.json", (json.dumps(gradescope_results(r, gradescope_hidden), indent=2) + "\n").encode())
        atomic_write_bytes(d / "feedback.html", feedback_html(r, d).encode())
    atomic_write_bytes(out_dir / "gradebook.csv", gradebook_csv(reports, rubric).encode())
    atomic_write_bytes(out_dir / "junit.xml", junit_xml(reports, name=reports[0].get("assignment", "grader")).encode())
    codes = _load_codes(out_dir, [r["netid"] for r in reports])
    starter = similarity.starter_code(rubric, similarity.find_starter_dir(rubric)) if rubric is not None else {}
    pairs = similarity.similar_pairs(codes, starter, threshold=similarity_threshold)
    cohort = build_cohort(reports, pairs, threshold=similarity_threshold, note=similarity.NOTE)
    title = f"Class summary: {reports[0].get('assignment', '')}"
    atomic_write_bytes(out_dir / "cohort.json", (json.dumps(cohort, indent=2) + "\n").encode())
    atomic_write_bytes(out_dir / "class.md", cohort_markdown(cohort, title).encode())
    atomic_write_bytes(out_dir / "class.html", cohort_html(cohort, title).encode())
    return cohort
