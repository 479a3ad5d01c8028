"""`grader report OUT`: every derived format, from the canonical OUT/<netid>/report.json files.

Per student (OUT/<netid>/): results.json (Gradescope), feedback.html.
Per class (OUT/): gradebook.csv, junit.xml, cohort.json, class.md, class.html.
`grader batch` calls this at its end; running it again only rewrites derived files.
Similarity uses the normalized target code the batch saved in OUT/.batch/code/.

Each report is read through grader.untrusted.report_safe (strict JSON, valid UTF-8, bounded
sizes, whatever a student's values put in it). Writing one student's files never stops
another's: a failure is recorded (returned under "errors") and the next student's files
are written; a gradebook row that cannot be built says why in its notes column.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from grader.batch.manifest import atomic_write_bytes
from grader.errors import UsageError


def load_reports(out_dir: Path) -> list[dict]:
    from grader.untrusted import report_safe

    reports = []
    for path in sorted(Path(out_dir).glob("*/report.json")):
        try:
            data = json.loads(path.read_bytes().decode("utf-8", "replace"))
        except (OSError, ValueError, RecursionError):
            continue  # a report is only counted once its JSON is complete
        if isinstance(data, dict) and "netid" in data and isinstance(data.get("items"), list):
            reports.append(report_safe(data))
    return reports


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


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

    from grader.untrusted import text

    out_dir = Path(out_dir)
    reports = load_reports(out_dir)
    if not reports:
        raise UsageError(f"no OUT/<netid>/report.json under {out_dir}; run `grader batch` or `grader run --out {out_dir}` first")
    rubric = rubric or _rubric_from_reports(reports)
    errors: list[str] = []

    def attempt(what: str, fn) -> None:
        try:
            fn()
        except Exception as exc:  # recorded; the next student's (or file's) writing goes on
            errors.append(f"{what}: {type(exc).__name__}: {text(exc, 300)}")

    def utf8(s: str) -> bytes:
        return s.encode("utf-8", "replace")

    for r in reports:
        netid = str(r.get("netid"))
        if not _PLAIN_NAME.match(netid):
            errors.append(f"{text(netid, 60)!r}: not a plain NetID, its files are not written")
            continue
        d = out_dir / netid
        attempt(f"{netid}/results.json", lambda: atomic_write_bytes(
            d / "results.json", utf8(json.dumps(gradescope_results(r, gradescope_hidden), indent=2, allow_nan=False) + "\n")))
        attempt(f"{netid}/feedback.html", lambda: atomic_write_bytes(d / "feedback.html", utf8(feedback_html(r, d))))
    attempt("gradebook.csv", lambda: atomic_write_bytes(out_dir / "gradebook.csv", utf8(gradebook_csv(reports, rubric))))
    attempt("junit.xml", lambda: atomic_write_bytes(
        out_dir / "junit.xml", utf8(junit_xml(reports, name=str(reports[0].get("assignment", "grader"))))))
    codes = _load_codes(out_dir, [str(r["netid"]) for r in reports if _PLAIN_NAME.match(str(r.get("netid")))])
    cohort = {"n_submissions": len(reports), "similarity": {"pairs": []}}

    def class_view() -> None:
        nonlocal cohort
        starter = similarity.starter_code(rubric, similarity.find_starter_dir(rubric)) if rubric is not None else {}
        pairs = similarity.similar_pairs(codes, starter, threshold=similarity_threshold)
        cohort = build_cohort(reports, pairs, threshold=similarity_threshold, note=similarity.NOTE)

    attempt("the class summary", class_view)
    title = f"Class summary: {reports[0].get('assignment', '')}"
    attempt("cohort.json", lambda: atomic_write_bytes(out_dir / "cohort.json",
                                                     utf8(json.dumps(cohort, indent=2, allow_nan=False) + "\n")))
    attempt("class.md", lambda: atomic_write_bytes(out_dir / "class.md", utf8(cohort_markdown(cohort, title))))
    attempt("class.html", lambda: atomic_write_bytes(out_dir / "class.html", utf8(cohort_html(cohort, title))))
    return {**cohort, "errors": errors}
