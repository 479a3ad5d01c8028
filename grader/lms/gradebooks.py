"""LMS gradebook imports from the canonical reports and the class roster.

Three CLASS formats of the registry (grader/report/formats.py), written only when a roster
is given (`--roster`, remembered in OUT/.batch/lms.json), each LMS's file only for its own
roster (a Canvas file needs Canvas's user ids, which a Brightspace class list does not have):

- brightspace_grades.csv, Brightspace's grades import:
      OrgDefinedId, Username, <grade item> Points Grade, End-of-Line Indicator
  with the ids '#'-prefixed as Brightspace exports them and '#' as the end-of-line marker.
- canvas_grades.csv, Canvas's gradebook import:
      Student, ID, SIS User ID, SIS Login ID, Section, <assignment> (<assignment id>)
  with Canvas's "Points Possible" row. Without an assignment id the column is the name
  alone, which Canvas imports as a new assignment.
- lms_notes.csv, what an import file cannot say (neither LMS imports a comment with the
  grade): submissions from NetIDs not on the roster (not in the import: listed here, never
  dropped), roster students whose grade is left blank (grader failure, unreadable report,
  TA points pending) and roster students with no submission (0 in the import).

Every roster student is in the import exactly once, in the roster's order. The grade is the
report's total after penalties; with extra credit it may exceed the maximum (the rubric's
`lms: {cap_at_max: true}` caps it). A grade the grader cannot stand behind is left blank
rather than written as 0: a grader failure (regrade it), an unreadable report.json, and TA
points still pending (unless the rubric says `lms: {pending: partial}`).

The grade item / assignment names and the Canvas assignment id come from the command line
(`--lms-grade-item`, `--lms-assignment`, `--lms-assignment-id`), else the rubric's `lms:`
block (grader/rubric/lms.py), else the assignment's id (e.g. hw2).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from grader.errors import UsageError
from grader.lms.roster import BRIGHTSPACE, CANVAS, Roster, RosterEntry, load_roster, normalize_netid
from grader.model import Report
from grader.report.gradebook import csv_number, csv_text

BRIGHTSPACE_FILE, CANVAS_FILE, NOTES_FILE = "brightspace_grades.csv", "canvas_grades.csv", "lms_notes.csv"
STATE_FILE = "lms.json"  # in OUT/.batch: the roster and names given last, for `grader report OUT`
NO_SUBMISSION, NOT_ON_ROSTER, WITHHELD = "no submission", "not on the roster", "grade left blank"
POINTS_POSSIBLE = "    Points Possible"  # Canvas's own spelling, leading spaces included


# -- what is written for each student ----------------------------------------------------------

@dataclass(frozen=True)
class LmsSettings:
    """The names and rules in force (command line > rubric's lms block > defaults)."""

    grade_item: str
    assignment: str
    assignment_id: str
    pending: str  # "withhold" | "partial"
    cap_at_max: bool
    max_score: float | None


def settings(reports: Sequence[Report], ctx) -> LmsSettings:
    rubric = getattr(ctx, "rubric", None)
    block = getattr(rubric, "lms", None)
    default = getattr(rubric, "assignment", "") or next((r.assignment for r in reports if r.assignment), "") or "assignment"
    block_id = getattr(block, "canvas_assignment_id", None)
    max_score = getattr(rubric, "max_score", None)
    if max_score is None:
        max_score = max((float(r.max_score) for r in reports), default=None)
    return LmsSettings(
        grade_item=getattr(ctx, "lms_grade_item", "") or getattr(block, "brightspace_grade_item", None) or default,
        assignment=getattr(ctx, "lms_assignment", "") or getattr(block, "canvas_assignment", None) or default,
        assignment_id=str(getattr(ctx, "lms_assignment_id", "") or (block_id if block_id is not None else "")),
        pending=getattr(block, "pending", "withhold"),
        cap_at_max=bool(getattr(block, "cap_at_max", False)),
        max_score=max_score,
    )


@dataclass(frozen=True)
class Line:
    """One student for the LMS: a roster entry, a report, or both."""

    netid: str
    entry: RosterEntry | None
    report: Report | None
    grade: str  # the import's cell: a number, or "" (left blank)
    issue: str  # "" | NO_SUBMISSION | NOT_ON_ROSTER | WITHHELD
    note: str


def _grade(r: Report, s: LmsSettings) -> tuple[str, str]:
    """(grade cell, why it is blank or '')."""
    if not r.graded:
        return "", f"the grader could not grade it ({r.crash_reason}); regrade it, then run `grader report`"
    if r.pending_points and s.pending == "withhold":
        return "", (f"{csv_number(r.pending_points)} points wait for a TA (grader batch --manual-scores); "
                    f"{csv_number(r.score)} so far")
    score = float(r.score)
    if s.cap_at_max and r.max_score is not None:
        score = min(score, float(r.max_score))
    return csv_number(score), ""


def lines(reports: Sequence[Report], ctx) -> tuple[list[Line], list[Line]]:
    """(one Line per roster student in roster order, the submissions not on the roster)."""
    roster: Roster = ctx.roster
    s = settings(reports, ctx)
    by_netid: dict[str, Report] = {}
    for r in reports:
        by_netid.setdefault(normalize_netid(r.netid), r)
    unreadable = {normalize_netid(n): why for n, why in getattr(ctx, "unreadable", ()) or ()}
    out = []
    for e in roster.entries:
        r = by_netid.get(e.netid)
        if r is not None:
            grade, why = _grade(r, s)
            out.append(Line(e.netid, e, r, grade, WITHHELD if why else "", why))
        elif e.netid in unreadable:
            out.append(Line(e.netid, e, None, "", WITHHELD, unreadable[e.netid]))
        else:
            out.append(Line(e.netid, e, None, "0", NO_SUBMISSION, "no submission"))
    on_roster = set(roster.netids)
    strays = [Line(n, None, r, "", NOT_ON_ROSTER,
                   f"graded {csv_number(r.score)} / {csv_number(r.max_score)}, not in the LMS import: "
                   "add the student to the roster (or check the NetID) and run `grader report` again")
              for n, r in sorted(by_netid.items()) if n not in on_roster]
    strays += [Line(n, None, None, "", NOT_ON_ROSTER, f"{why}; not on the roster either")
               for n, why in sorted(unreadable.items()) if n not in on_roster]
    return out, strays


# -- the formats --------------------------------------------------------------------------------

def has_roster(ctx) -> bool:
    return getattr(ctx, "roster", None) is not None


def for_brightspace(ctx) -> bool:
    return has_roster(ctx) and ctx.roster.kind == BRIGHTSPACE


def for_canvas(ctx) -> bool:
    return has_roster(ctx) and ctx.roster.kind == CANVAS


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # what both LMSs export; Excel reads it too
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _hash_id(value: str) -> str:
    return "#" + csv_text(value) if value else ""


def render_brightspace(reports: Sequence[Report], ctx) -> bytes:
    s = settings(reports, ctx)
    roster_lines, _ = lines(reports, ctx)
    header = ["OrgDefinedId", "Username", f"{csv_text(s.grade_item)} Points Grade", "End-of-Line Indicator"]
    rows = [[_hash_id(x.entry.org_defined_id), _hash_id(x.entry.username), x.grade, "#"] for x in roster_lines]
    return _csv(header, rows)


def canvas_column(s: LmsSettings) -> str:
    name = csv_text(s.assignment)
    return f"{name} ({s.assignment_id})" if s.assignment_id else name


def render_canvas(reports: Sequence[Report], ctx) -> bytes:
    s = settings(reports, ctx)
    roster_lines, _ = lines(reports, ctx)
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", canvas_column(s)]
    rows = [[POINTS_POSSIBLE, "", "", "", "", csv_number(s.max_score)]]
    rows += [[csv_text(e.sortable_name or e.display_name), csv_text(e.lms_id), csv_text(e.sis_user_id),
              csv_text(e.username), csv_text(e.section), x.grade] for x in roster_lines if (e := x.entry)]
    return _csv(header, rows)


_ORDER = {NOT_ON_ROSTER: 0, WITHHELD: 1, NO_SUBMISSION: 2}


def render_notes(reports: Sequence[Report], ctx) -> bytes:
    roster_lines, strays = lines(reports, ctx)
    todo = sorted([x for x in roster_lines if x.issue] + strays, key=lambda x: (_ORDER[x.issue], x.netid))
    header = ["issue", "netid", "name", "lms_id", "in_lms_import", "note"]
    rows = [[x.issue, csv_text(x.netid), csv_text(x.entry.display_name if x.entry else ""),
             csv_text((x.entry.lms_id or x.entry.org_defined_id) if x.entry else ""),
             "no" if x.issue == NOT_ON_ROSTER else ("blank" if x.issue == WITHHELD else x.grade),
             csv_text(x.note)] for x in todo]
    return _csv(header, rows)


def summary(reports: Sequence[Report], ctx) -> dict:
    """Counts and the NetIDs the instructor must look at (for the class page and the CLI)."""
    roster_lines, strays = lines(reports, ctx)
    return {"kind": ctx.roster.kind, "roster": len(roster_lines),
            "graded": sum(1 for x in roster_lines if not x.issue),
            "no_submission": [x.netid for x in roster_lines if x.issue == NO_SUBMISSION],
            "withheld": [x.netid for x in roster_lines if x.issue == WITHHELD],
            "not_on_roster": [x.netid for x in strays],
            "files": [f for f, ok in ((BRIGHTSPACE_FILE, for_brightspace(ctx)), (CANVAS_FILE, for_canvas(ctx))) if ok]
                     + [NOTES_FILE]}


def summary_markdown(reports: Sequence[Report], ctx) -> str:
    """The class summary's LMS section ('' without a roster)."""
    from grader.report.markdown import inline

    if not has_roster(ctx):
        return ""
    s = summary(reports, ctx)
    out = ["", "## LMS gradebook", "",
           f"{s['roster']} students on the {s['kind'].capitalize()} roster, in {', '.join(s['files'][:-1])}: "
           f"{s['graded']} with their grade, {len(s['no_submission'])} with 0 (no submission), "
           f"{len(s['withheld'])} left blank. Details in {NOTES_FILE}."]
    if s["not_on_roster"]:
        out += ["", f"**{len(s['not_on_roster'])} submission(s) from NetIDs not on the roster** (not in the import): "
                + ", ".join(inline(n) for n in s["not_on_roster"])]
    if s["withheld"]:
        out += ["", "Left blank: " + ", ".join(inline(n) for n in s["withheld"])]
    if s["no_submission"]:
        out += ["", "No submission: " + ", ".join(inline(n) for n in s["no_submission"])]
    return "\n".join(out) + "\n"


# -- the roster and names given on the command line, remembered in OUT/.batch -----------------

@dataclass(frozen=True)
class LmsOptions:
    """What the command line gave ('' : not given)."""

    roster: str = ""
    grade_item: str = ""
    assignment: str = ""
    assignment_id: str = ""

    def given(self) -> bool:
        return any(dataclasses.astuple(self))


def check_options(opts: LmsOptions) -> LmsOptions:
    """UsageError for a name or id the LMS would not take (the rubric's rules, grader.rubric.lms)."""
    import pydantic

    from grader.rubric.lms import LmsSettings as Block

    raw = {"brightspace_grade_item": opts.grade_item or None, "canvas_assignment": opts.assignment or None,
           "canvas_assignment_id": opts.assignment_id or None}
    try:
        Block.model_validate(raw)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        flag = {"brightspace_grade_item": "--lms-grade-item", "canvas_assignment": "--lms-assignment",
                "canvas_assignment_id": "--lms-assignment-id"}[str(err["loc"][0])]
        raise UsageError(f"{flag} {err.get('input')!r}: {err['msg']} (the Canvas assignment id is the number "
                         "in the assignment's URL; names are one line)") from None
    return dataclasses.replace(opts, assignment_id=str(int(opts.assignment_id)) if opts.assignment_id else "")


def _state_path(out_dir: Path) -> Path:
    return Path(out_dir) / ".batch" / STATE_FILE


def remembered(out_dir: Path) -> LmsOptions:
    try:
        data = json.loads(_state_path(out_dir).read_text())
        fields = {f.name for f in dataclasses.fields(LmsOptions)}
        return LmsOptions(**{k: str(v) for k, v in data.items() if k in fields})
    except (OSError, ValueError, TypeError, AttributeError):
        return LmsOptions()


def resolve(out_dir: Path, given: LmsOptions | None) -> tuple[LmsOptions, bool]:
    """(the options in force: those given now over those remembered, whether to remember them)."""
    old = remembered(out_dir)
    given = check_options(given or LmsOptions())
    if given.roster:
        given = dataclasses.replace(given, roster=str(Path(given.roster).resolve()))
    merged = LmsOptions(**{k: v or getattr(old, k) for k, v in dataclasses.asdict(given).items()})
    return merged, given.given() and merged != old


def remember(out_dir: Path, opts: LmsOptions) -> None:
    from grader.fsutil import atomic_write_bytes

    atomic_write_bytes(_state_path(out_dir), (json.dumps(dataclasses.asdict(opts), indent=2) + "\n").encode())


def context_fields(out_dir: Path, given: LmsOptions | None = None) -> tuple[dict, str]:
    """(the Context fields for the LMS formats, an error line or ''). A roster given now that
    cannot be read raises UsageError; a remembered one that cannot any more is an error line
    (the other files are still written)."""
    opts, new = resolve(out_dir, given)
    fields = {"lms_grade_item": opts.grade_item, "lms_assignment": opts.assignment,
              "lms_assignment_id": opts.assignment_id}
    roster, error = None, ""
    if opts.roster:
        try:
            roster = load_roster(opts.roster)
        except UsageError as exc:
            if given is not None and given.roster:
                raise  # given now: nothing is remembered, nothing written
            error = (f"the LMS files: the roster remembered in {_state_path(out_dir)} cannot be read "
                     f"({exc}); pass --roster again")
    if new:
        remember(out_dir, opts)
    return ({**fields, "roster": roster} if roster is not None else fields), error


def options_from_args(args) -> LmsOptions | None:
    """The LmsOptions of `grader batch` / `grader report` (None: no LMS flag given)."""
    opts = LmsOptions(roster=getattr(args, "roster", None) or "", grade_item=getattr(args, "lms_grade_item", None) or "",
                      assignment=getattr(args, "lms_assignment", None) or "",
                      assignment_id=getattr(args, "lms_assignment_id", None) or "")
    return opts if opts.given() else None


def add_arguments(parser) -> None:
    """--roster and the LMS names, for `grader batch` and `grader report`."""
    parser.add_argument("--roster", metavar="CSV",
                        help="the class list exported from Brightspace or Canvas: writes brightspace_grades.csv or "
                             "canvas_grades.csv (every roster student once) and lms_notes.csv; remembered in OUT/.batch")
    parser.add_argument("--lms-grade-item", metavar="NAME",
                        help="the Brightspace grade item (default: the rubric's lms.brightspace_grade_item, else its id)")
    parser.add_argument("--lms-assignment", metavar="NAME",
                        help="the Canvas assignment (default: the rubric's lms.canvas_assignment, else its id)")
    parser.add_argument("--lms-assignment-id", metavar="ID",
                        help="the Canvas assignment's id, the number in its URL (default: the rubric's "
                             "lms.canvas_assignment_id; without one Canvas imports a new assignment)")


def summary_lines(s: dict | None, out_dir: Path) -> list[str]:
    """What `grader batch` / `grader report` print about the LMS files."""
    if not s:
        return []
    out = [f"LMS ({s['kind']} roster, {s['roster']} students): {', '.join(str(Path(out_dir) / f) for f in s['files'])}; "
           f"{s['graded']} graded, {len(s['no_submission'])} no submission (0), {len(s['withheld'])} left blank"]
    if s["not_on_roster"]:
        shown = ", ".join(s["not_on_roster"][:10]) + (", ..." if len(s["not_on_roster"]) > 10 else "")
        out.append(f"LMS: {len(s['not_on_roster'])} submission(s) from NetIDs not on the roster, not in the import: "
                   f"{shown} (see {NOTES_FILE})")
    return out
