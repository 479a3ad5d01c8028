"""`grader report OUT`: every derived format, from the canonical OUT/<netid>/report.json files.
TA decisions recorded since (grader review's journal, OUT/.batch/ta: grader.batch.ta_journal)
are applied first; a report they change is written again.

The formats are grader.report.formats.FORMATS: per student (OUT/<netid>/) feedback.md,
feedback.html, results.json (Gradescope); per class (OUT/) gradebook.csv, junit.xml,
cohort.json, class.md, class.html, item_pass_rates.csv. `grader batch` calls this at its
end; running it again only rewrites derived files (never report.json). Similarity uses the
normalized target code the batch saved in OUT/.batch/code/.

Each report is read through grader.untrusted.report_safe (strict JSON, valid UTF-8, bounded
sizes, whatever a student's values put in it) and loaded as a typed Report. Writing one
student's files never stops another's: a failure is recorded (returned under "errors") and
the next file is written; a report.json that does not load gets a gradebook row saying why.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from grader import defaults
from grader.errors import UsageError


def load_reports(out_dir: Path) -> list[dict]:
    """The report_safe dicts of OUT/*/report.json (a file is counted once its JSON is complete)."""
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


def _rubric_from_reports(reports) -> object | None:
    from grader.rubric import load_rubric

    for r in reports:
        d = r.environment.get("rubric", {}).get("directory") if isinstance(r.environment.get("rubric"), dict) else None
        if d and Path(d).is_dir():
            try:
                return load_rubric(d)
            except Exception:
                return None
    return None


def write_class_reports(out_dir: str | Path, rubric=None, similarity_threshold: float = defaults.SIMILARITY_THRESHOLD,
                        gradescope_hidden: str = "visible", lms=None) -> dict:
    """_write_class_reports() under the TA journal's publish lock (grader review may be saving)."""
    from grader.batch.ta_journal import publish_lock

    with publish_lock(out_dir):
        return _write_class_reports(out_dir, rubric, similarity_threshold, gradescope_hidden, lms)


def _write_class_reports(out_dir: str | Path, rubric=None, similarity_threshold: float = defaults.SIMILARITY_THRESHOLD,
                         gradescope_hidden: str = "visible", lms=None) -> dict:
    """`lms`: grader.lms.gradebooks.LmsOptions given now (--roster, the LMS names); they are
    remembered in OUT/.batch, so that a later call without them writes the LMS files too."""
    from grader.batch import caches, similarity
    from grader.model import Report, ReportError
    from grader.report.cohort import build_cohort
    from grader.report.formats import Context, write_class_files, write_student_files
    from grader.untrusted import text

    from grader.batch.ta_journal import Journal, apply_decisions, decision

    out_dir = Path(out_dir)
    raw = load_reports(out_dir)
    by_netid = Journal(out_dir).by_netid()
    raw = [apply_decisions(d, [(e["item"], decision(e)) for e in by_netid.get(d.get("netid"), [])]) for d in raw]
    if not raw:
        raise UsageError(f"no OUT/<netid>/report.json under {out_dir}; run `grader batch` or `grader run --out {out_dir}` first")
    reports: list[Report] = []
    unreadable: list[tuple[str, str]] = []
    errors: list[str] = []
    for data in raw:
        try:
            reports.append(Report.from_dict(data, safe=True))
        except ReportError as exc:
            netid = text(data.get("netid"), 100)
            unreadable.append((netid, f"its report.json could not be read ({exc}); see the file"))
            errors.append(f"{netid}/report.json: {exc}")
    rubric = rubric or _rubric_from_reports(reports)
    ctx = Context(rubric=rubric, gradescope_hidden=gradescope_hidden, unreadable=tuple(unreadable))
    from grader.lms import gradebooks

    lms_fields, lms_error = gradebooks.context_fields(out_dir, lms)
    errors += [lms_error] if lms_error else []
    ctx = dataclasses.replace(ctx, **lms_fields)

    for r in reports:
        if not _PLAIN_NAME.match(r.netid):
            errors.append(f"{text(r.netid, 60)!r}: not a plain NetID, its files are not written")
            continue
        try:
            canonical = r.netid in by_netid  # the journal's decisions reach report.json too
            errors += [f"{r.netid}/{e}" for e in write_student_files(r, out_dir / r.netid, ctx, canonical=canonical)]
        except Exception as exc:  # recorded; the next student's files are written
            errors.append(f"{r.netid}: {type(exc).__name__}: {text(exc, 300)}")

    pairs: list[dict] = []
    try:
        codes = _load_codes(out_dir, [r.netid for r in reports if _PLAIN_NAME.match(r.netid)])
        starter = caches.starter_code(out_dir, rubric) if rubric is not None else {}
        pairs = similarity.similar_pairs(codes, starter, threshold=similarity_threshold)
    except Exception as exc:  # the class files are written without the pairs
        errors.append(f"the similarity of the class: {type(exc).__name__}: {text(exc, 300)}")
    ctx = dataclasses.replace(ctx, pairs=tuple(pairs), threshold=similarity_threshold, note=similarity.NOTE)
    errors += write_class_files(reports, out_dir, ctx)
    cohort = build_cohort(reports, pairs, threshold=similarity_threshold, note=similarity.NOTE)
    return {**cohort, "errors": errors, "lms": gradebooks.summary(reports, ctx) if gradebooks.has_roster(ctx) else None}
