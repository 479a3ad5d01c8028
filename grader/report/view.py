"""What a student is shown, computed once from the typed Report: every student-facing format
(feedback.md, feedback.html, Gradescope's results.json) and the instructor's JUnit render
this view, so they agree on which items show details, where long text is cut, which
findings are shown and what is pending.

Audience "student": hidden items show their verdict only (no feedback, evidence or
pictures). Audience "instructor" (JUnit for CI dashboards): everything, hidden items included.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from grader.model import (FAILING_CELLS, Artifact, CellStatus, ItemResult, ItemStatus, NotebookRun, Penalty,
                          Report, as_report)

MAX_FEEDBACK = 6000  # characters of an item's feedback (or evidence) a student is shown; the rest is counted
MAX_INSTRUCTOR_FEEDBACK = 20000  # the same for the instructor (JUnit: the traceback's tail matters)
MAX_EVALUE = 300  # characters of a cell's exception message
# info findings a student is still told about (what happened to their files)
SHOWN_INFO = frozenset({"junk_ignored", "top_folder", "pdf_ok"})
# findings shown first, in a box of their own, to the student and the instructor alike
PROMINENT = frozenset({"other_rubric"})
AUDIENCES = ("student", "instructor")


def cut(text: str, limit: int = MAX_FEEDBACK) -> str:
    """`text` up to `limit` characters, and how many were left out when it was longer."""
    text = str(text)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters)"


@dataclass(frozen=True)
class ItemView:
    id: str
    title: str
    kind: str
    status: ItemStatus
    score: float
    max_score: float
    hidden: bool  # shown as a verdict only (audience "student")
    feedback: str  # stripped and cut; "" when hidden
    evidence: str  # the evidence (artifacts aside) as JSON text, cut; "" when hidden or empty
    pictures: tuple[Artifact, ...]  # PNG artifacts shown with the item
    verdict: str  # one line: what a format without room for details says
    details: bool  # worth a details section: not a passed item with nothing more to say
    seconds: float = 0.0
    extra_credit: bool = False  # adds above the maximum; never a loss
    attempted: bool = True  # False: an extra-credit item that earned nothing (not a loss)
    label: str = ""  # the status as shown: "failed", "passed (extra credit)", "extra credit, not attempted"
    points: str = ""  # the points as shown: "3 / 5", "+5 extra credit (of 5)"
    history: tuple[str, ...] = ()  # the TAs' decisions on it (grader review, the TA sheet), oldest first


@dataclass(frozen=True)
class NotebookView:
    notebook: str
    status: str
    executed: bool
    seconds: float
    summary: str  # "ran top to bottom, 3.2 s. <message>"
    notes: tuple[str, ...]  # time budget, cut cell, failing and skipped cells, truncated output


@dataclass(frozen=True)
class StudentView:
    audience: str
    netid: str
    assignment: str
    score: float
    max_score: float
    raw_score: float
    penalties: tuple[Penalty, ...]
    items: tuple[ItemView, ...]
    pending_items: int
    pending_points: float
    pending_note: str  # "" when nothing is pending
    submitted: str  # when, by which clock, and the deadline
    notebooks: tuple[NotebookView, ...]
    findings: tuple[str, ...]  # the messages shown ("About your submission")
    not_graded: str  # the grader's failure on this submission ("" when graded)
    isolation: str
    graded_at: str
    seconds: float
    extra_credit: float = 0.0  # extra-credit points counted in the score (after the cap)
    extra_credit_max: float = 0.0  # the most the rubric counts (0: the rubric has no extra credit)
    extra_credit_pending: float = 0.0  # points of extra-credit items a TA has not graded yet
    # flagged findings shown first, apart from the others (e.g. the submission looks like another semester's)
    prominent: tuple[str, ...] = ()

    @property
    def score_line(self) -> str:
        """"Score: 104 / 100 (includes 4 extra-credit points; up to 5 count)", the same in every format."""
        text = f"Score: {num(self.score)} / {num(self.max_score)}"
        if self.extra_credit_max > 0:
            text += (f" (includes {num(self.extra_credit)} extra-credit point(s) above the maximum; up to "
                     f"{num(self.extra_credit_max)} count)" if self.extra_credit > 0 else
                     f" (extra credit: up to {num(self.extra_credit_max)} point(s) above the maximum; "
                     + ("waiting for a TA)" if self.extra_credit_pending else "none earned, nothing lost)"))
        return text

    @property
    def detailed_items(self) -> tuple[ItemView, ...]:
        return tuple(i for i in self.items if i.details)

    @property
    def notebooks_not_run(self) -> tuple[NotebookView, ...]:
        return tuple(nb for nb in self.notebooks if not nb.executed)


def num(x) -> str:
    return f"{float(x):g}"


EXTRA_NOT_ATTEMPTED = "extra credit, not attempted"


def _item(i: ItemResult, report: Report, audience: str) -> ItemView:
    hidden = i.hidden and audience == "student"
    if not i.attempted:
        verdict = f"{EXTRA_NOT_ATTEMPTED.capitalize()}: no points lost."
    elif i.status is ItemStatus.PENDING:
        verdict = "Graded by a TA; pending." + (" Extra credit: adds above the maximum." if i.extra_credit else "")
    elif hidden:
        verdict = f"Hidden test: {i.status}. Its inputs and details are not shown."
    else:
        verdict = f"{i.status}."
    limit = MAX_FEEDBACK if audience == "student" else MAX_INSTRUCTOR_FEEDBACK
    feedback = "" if hidden else cut((i.feedback or "").strip(), limit)
    ev = {k: v for k, v in i.evidence.items() if k != "artifacts"} if isinstance(i.evidence, dict) else {}
    evidence = "" if hidden or not ev else cut(json.dumps(ev, indent=2, ensure_ascii=False, default=str))
    pictures = () if hidden else tuple(a for a in report.artifacts_of(i.id) if a.is_image)
    details = hidden or i.status is not ItemStatus.PASSED or bool(feedback) or bool(pictures)
    if not i.attempted:
        label, points = EXTRA_NOT_ATTEMPTED, f"+0 extra credit (of {num(i.max_score)})"
    elif i.extra_credit:
        shown = "partial" if i.status is ItemStatus.FAILED and i.score > 0 else str(i.status)
        label, points = f"{shown} (extra credit)", f"+{num(i.score)} extra credit (of {num(i.max_score)})"
    else:
        label, points = str(i.status), f"{num(i.score)} / {num(i.max_score)}"
    return ItemView(i.id, i.title, i.kind, i.status, float(i.score), float(i.max_score), hidden, feedback, evidence,
                    pictures, verdict, details, float(i.seconds or 0), extra_credit=i.extra_credit,
                    attempted=i.attempted, label=label, points=points)


def with_history(view: ItemView, i: ItemResult) -> ItemView:
    """The view with the TAs' decisions on the item (none shown for a hidden item)."""
    if view.hidden or i.ta is None or not i.ta.history:
        return view
    return dataclasses.replace(view, details=True, history=tuple(ta_line(d, float(i.max_score)) for d in i.ta.history))


def ta_line(d, max_score: float) -> str:
    """One TA decision (grader.model.TaDecision) in words."""
    when = f"{d.at[:16].replace('T', ' ')} UTC"
    if d.kind == "request":
        return f"{when}: regrade requested: {cut(d.request, 1000)}"
    what = {"score": "scored", "override": "overrode the grader's result:",
            "regrade": "answered the regrade request:"}.get(d.kind, d.kind)
    pts = "kept the score" if d.score is None else f"{d.score:g}/{max_score:g}"
    why = "; ".join(x for x in (d.reason, d.comment) if x)
    return (f"{when}: {d.ta} {what} {pts}" + (f" ({cut(why, 1000)})" if why else "")
            + ("" if d.applied else " [not applied: the grader verified this item; only an override changes it]"))


def time_notes(nb: NotebookRun) -> list[str]:
    """A notebook's time budget with its derivation, and the cut cell if one was cut.
    Reports written before budgets have neither."""
    out = []
    b, c = nb.budget, nb.cut
    if b is not None and b.derivation:
        text = f"time budget: {b.derivation}"
        if b.source == "calibrated" and b.benchmark_s is not None:
            text += (f"; the calibration benchmark took {b.benchmark_s:g} s here ({b.benchmark_source}), "
                     f"{b.baseline_benchmark_s or 0:g} s where the reference solution took {b.reference_s or 0:g} s")
        out.append(text)
    if c is not None:
        what = {"ran": "it was interrupted and the grader exported the model trained so far, which was graded",
                "failed": "it was interrupted, but the grader's export of the trained model failed",
                "not_run": "it did not stop when interrupted, so the trained model could not be exported or graded"
                           + (f" ({c.note})" if c.note else ""),
                "none": "it was interrupted; the remaining cells were not run"}.get(str(c.exports), "")
        out.append(f"cell {c.cell} was cut after {float(c.ran_s or 0):.0f} s "
                   f"(limit {float(c.limit_s or 0):g} s, {'per cell' if c.which == 'cell' else 'the rest of the notebook budget'})"
                   + (f": {what}" if what else ""))
    return out


def _notebook(nb: NotebookRun) -> NotebookView:
    state = "ran top to bottom" if nb.executed else f"did not run cleanly ({nb.status})"
    summary = f"{state}, {float(nb.seconds):.1f} s" + (f". {nb.message}" if nb.message else "")
    notes = time_notes(nb)
    for c in nb.cells:
        if c.status is CellStatus.SKIPPED:
            notes.append(f"cell {c.index}: {c.note}")
        elif c.status in FAILING_CELLS:
            notes.append(f"cell {c.index}: {c.ename}: {c.evalue[:MAX_EVALUE]}")
    if nb.output_truncated:
        notes.append("output was truncated (too much printed)")
    return NotebookView(nb.notebook, str(nb.status), nb.executed, float(nb.seconds), summary, tuple(notes))


def student_view(report: Report | dict, audience: str = "student") -> StudentView:
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, not {audience!r}")
    r = as_report(report)
    pending = r.pending_items
    pending_ec = [i for i in pending if i.extra_credit]
    pending_note = (f"{len(pending) - len(pending_ec)} item(s) worth {num(r.pending_points)} points are graded by a TA "
                    "and still pending." if len(pending) > len(pending_ec) else "")
    if pending_ec:
        pending_note += ((" " if pending_note else "") + f"{len(pending_ec)} extra-credit item(s) worth up to "
                         f"{num(r.pending_extra_credit)} points above the maximum are graded by a TA and still pending.")
    sub = r.submission
    submitted = f"Submitted: {sub.submitted_at or 'unknown'} ({sub.submitted_at_source}); deadline {sub.deadline}."
    if sub.deadline_rule:
        submitted += f" Deadline: {sub.deadline_rule}."
    if sub.time_flag:
        submitted += f" Time: {sub.time_flag}."
    findings = tuple(f.message for f in r.findings
                     if (audience == "instructor" or f.severity != "info" or f.code in SHOWN_INFO)
                     and f.code not in PROMINENT)
    prominent = tuple(f.message for f in r.findings if f.code in PROMINENT)
    return StudentView(
        audience=audience, netid=r.netid, assignment=r.assignment, score=float(r.score), max_score=float(r.max_score),
        raw_score=float(r.raw_score), penalties=r.penalties, items=tuple(with_history(_item(i, r, audience), i) for i in r.items),
        pending_items=len(pending), pending_points=r.pending_points, pending_note=pending_note, submitted=submitted,
        notebooks=tuple(_notebook(nb) for nb in r.notebooks), findings=findings, not_graded=r.crash_reason,
        isolation=r.isolation_mode, graded_at=r.graded_at, seconds=float(r.seconds or 0),
        extra_credit=float(r.extra_credit or 0), extra_credit_max=r.extra_credit_max, prominent=prominent,
        extra_credit_pending=r.pending_extra_credit,
    )
