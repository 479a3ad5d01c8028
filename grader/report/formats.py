"""The report formats: one registry, one writing loop.

Every file derived from the canonical report is a Format: a name, the file it is written
to, its scope (STUDENT: one file per report in OUT/<netid>/; CLASS: one file for all the
reports in OUT/) and a render function, `render(report, ctx) -> bytes` for a student format,
`render(reports, ctx) -> bytes` for a class one (`ctx`: a Context). `grader run`, the batch's
publishing, `grader report` and the class step of `grader batch` all write through
write_student_files() and write_class_files() below.

A format with `when` is written only when when(ctx) holds (the LMS gradebooks: with a
roster of their LMS; grader/lms/gradebooks.py).

Adding a format: a module with its render function, one line in FORMATS, and its golden
file in tests/report/golden/ (tests/report/test_golden.py renders every format of the
registry; UPDATE_GOLDEN=1 writes the new file).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from grader.lms import gradebooks as lms
from grader.model import Report
from grader.report import cohort, gradebook, gradescope, html, item_pass_rates, junit

STUDENT, CLASS = "student", "class"
CANONICAL = "report.json"  # the report itself (grader.model.Report.to_dict), not a derived format


@dataclass(frozen=True)
class Context:
    """What a render may need beyond the reports."""

    rubric: Any = None  # column order of the gradebook (None: the reports' own order)
    gradescope_hidden: str = "visible"  # Gradescope visibility of hidden items
    pairs: tuple = ()  # similar-code pairs (grader.batch.similarity), for the class view
    threshold: float | None = None
    note: str = ""
    title: str = ""  # the class pages' title ("": "Class summary: <assignment>")
    unreadable: tuple[tuple[str, str], ...] = ()  # (netid, why) of report.json files that did not load
    # the LMS gradebooks (grader/lms/gradebooks.py): the class roster (grader.lms.roster.Roster;
    # None: no LMS file is written) and the names from the command line ("": the rubric's lms block)
    roster: Any = None
    lms_grade_item: str = ""
    lms_assignment: str = ""
    lms_assignment_id: str = ""


@dataclass(frozen=True)
class Format:
    name: str
    file: str
    scope: str  # STUDENT | CLASS
    render: Callable[..., bytes]
    # the student cannot do without it: writing it fails the publishing (the others are
    # recorded and written again by `grader report`)
    required: bool = False
    # written only when this holds for the Context (None: always), e.g. only with a roster
    when: Callable[[Context], bool] | None = None


def _feedback_md(report: Report, ctx: Context) -> bytes:
    # Through the package's feedback_text (looked up now: tests replace it to make publishing
    # fail), which takes the report's dict and writes a short page instead of raising.
    from grader import report as package

    return package.feedback_text(report.to_dict()).encode("utf-8", "replace")


FORMATS: tuple[Format, ...] = (
    Format("markdown", "feedback.md", STUDENT, _feedback_md, required=True),
    Format("html", "feedback.html", STUDENT, html.render),
    Format("gradescope", "results.json", STUDENT, gradescope.render),
    Format("gradebook", "gradebook.csv", CLASS, gradebook.render),
    Format("junit", "junit.xml", CLASS, junit.render),
    Format("cohort", "cohort.json", CLASS, cohort.render_json),
    Format("class-markdown", "class.md", CLASS, cohort.render_markdown),
    Format("class-html", "class.html", CLASS, cohort.render_html),
    Format("item-pass-rates", "item_pass_rates.csv", CLASS, item_pass_rates.render),
    Format("brightspace", "brightspace_grades.csv", CLASS, lms.render_brightspace, when=lms.for_brightspace),
    Format("canvas", "canvas_grades.csv", CLASS, lms.render_canvas, when=lms.for_canvas),
    Format("lms-notes", "lms_notes.csv", CLASS, lms.render_notes, when=lms.has_roster),
)


def formats(scope: str) -> tuple[Format, ...]:
    return tuple(f for f in FORMATS if f.scope == scope)


def reserved_names() -> set[str]:
    """File names in OUT/<netid>/ that belong to the report (a check's extra file may not take one)."""
    return {CANONICAL} | {f.file for f in formats(STUDENT)}


class ReportWriteError(RuntimeError):
    pass


def _write(path: Path, data: bytes) -> None:
    from grader.fsutil import atomic_write_bytes

    atomic_write_bytes(path, data)


def _describe(exc: BaseException) -> str:
    from grader.untrusted import text

    return f"{type(exc).__name__}: {text(exc, 300)}"


def write_canonical(report: Report, directory: Path) -> None:
    """report.json, and beside it the artifacts whose bytes the report holds."""
    from grader.report import report_json

    directory.mkdir(parents=True, exist_ok=True)
    reserved = reserved_names()
    for a in report.artifacts:
        if a.data is not None and a.file not in reserved:
            _write(directory / a.file, a.data)
    _write(directory / CANONICAL, report_json(report.to_dict(artifact_files=True)).encode("utf-8", "replace"))


def write_student_files(report: Report, directory: Path, ctx: Context | None = None, *,
                        canonical: bool = True) -> list[str]:
    """The student's files in `directory`: report.json and its artifacts (`canonical`), then
    every STUDENT format. A required format that fails raises its exception (after the
    others are written); the other failures are returned, one line each."""
    ctx = ctx or Context()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if canonical:
        write_canonical(report, directory)
    errors: list[str] = []
    fatal: BaseException | None = None
    for f in formats(STUDENT):
        try:
            _write(directory / f.file, f.render(report, ctx))
        except Exception as exc:  # recorded; the next format is written all the same
            if f.required and fatal is None:
                fatal = exc
            else:
                errors.append(f"{f.file}: {_describe(exc)}")
    if fatal is not None:
        raise fatal
    return errors


def write_class_files(reports: Sequence[Report], out_dir: Path, ctx: Context | None = None) -> list[str]:
    """Every CLASS format in `out_dir`; failures are returned, one line each."""
    ctx = ctx or Context()
    errors = []
    for f in formats(CLASS):
        if f.when is not None and not f.when(ctx):
            continue
        try:
            _write(Path(out_dir) / f.file, f.render(list(reports), ctx))
        except Exception as exc:
            errors.append(f"{f.file}: {_describe(exc)}")
    return errors
