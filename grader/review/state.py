"""The review's view of a graded class: the reports (OUT/<netid>/report.json with the TA
journal applied), the queue of one item across the class, and publishing after a save.

Saving is: validate, append to the journal (fsync'd under its lock: the acknowledgement),
then rewrite the student's report.json and feedback files from report.json + journal
(under OUT/.batch/ta/publish.lock, so two saves never interleave their writes), then the
class files (gradebook, class pages, exports) in the background. Nothing is regraded; an
automatic item's score changes only through an override with a reason.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from grader.batch.ta_journal import Journal, apply_decisions, decision, publish_lock
from grader.model import ItemResult, ItemStatus, Report

FILTERS = {
    "all": "all students",
    "pending": "pending",
    "flagged": "flagged for review (the grader left it to a TA)",
    "regrade": "regrade requested",
    "overridden": "overridden",
}


@dataclass(frozen=True)
class Row:
    """One student on one item."""

    netid: str
    item: ItemResult
    automatic_status: str  # what the grader itself said (pending: left to a TA)
    open_requests: tuple  # regrade requests (TaDecision) not answered yet
    graded_by: str  # the TA whose decision sets the score ("" none)

    @property
    def by_ta(self) -> bool:
        """Scored by a TA by its kind (the manual kind), not by the grader."""
        from grader.checks.registry import graded_by_ta

        return graded_by_ta(self.item.kind)

    @property
    def reason(self) -> str:
        """Why the grader left it to a TA (its feedback when it gave the item to a TA)."""
        return str(self.item.ta.automatic.get("feedback", "")) if self.item.ta else self.item.feedback

    @property
    def pending(self) -> bool:
        return self.item.status is ItemStatus.PENDING

    @property
    def flagged(self) -> bool:
        return not self.by_ta and self.automatic_status == "pending"

    @property
    def overridden(self) -> bool:
        return self.item.ta is not None and self.item.ta.overridden

    def matches(self, flt: str) -> bool:
        return {"all": True, "pending": self.pending, "flagged": self.flagged, "regrade": bool(self.open_requests),
                "overridden": self.overridden}.get(flt, True)


def open_requests(item: ItemResult) -> tuple:
    """The regrade requests on `item` that no later "regrade" decision answers."""
    if item.ta is None:
        return ()
    out = []
    for d in item.ta.history:
        if d.kind == "request":
            out.append(d)
        elif d.kind == "regrade":
            out = []
    return tuple(out)


class ClassState:
    def __init__(self, out_dir: Path, rubric=None):
        self.out_dir = Path(out_dir)
        self.journal = Journal(self.out_dir)
        self.rubric = rubric
        self._cache: dict[str, tuple[float, dict]] = {}
        self._rebuild = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self.last_error = ""

    # -- reading -------------------------------------------------------------------------
    def raw_reports(self) -> dict[str, dict]:
        """netid -> report.json's dict (re-read when the file changed)."""
        import json

        from grader.untrusted import report_safe

        out = {}
        for path in sorted(self.out_dir.glob("*/report.json")):
            try:
                mtime = path.stat().st_mtime_ns
                cached = self._cache.get(path.parent.name)
                if cached is None or cached[0] != mtime:
                    data = json.loads(path.read_bytes().decode("utf-8", "replace"))
                    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
                        continue
                    self._cache[path.parent.name] = cached = (mtime, report_safe(data))
            except (OSError, ValueError, RecursionError):
                continue
            if cached[1].get("netid") == path.parent.name:
                out[path.parent.name] = cached[1]
        return out

    def reports(self) -> dict[str, Report]:
        """netid -> its Report with every journal decision applied (even one saved a moment ago
        by another TA whose files are still being written)."""
        from grader.model import ReportError

        journal = self.journal.by_netid()
        out = {}
        for netid, data in self.raw_reports().items():
            try:
                out[netid] = Report.from_dict(
                    apply_decisions(data, [(e["item"], decision(e)) for e in journal.get(netid, [])]), safe=True)
            except ReportError:
                continue
        return out

    def item_ids(self, reports: dict[str, Report]) -> list[str]:
        ids = [i.id for i in self.rubric.items] if self.rubric is not None else []
        for r in reports.values():
            ids += [i.id for i in r.items if i.id not in ids]
        return ids

    def spec(self, item_id: str):
        if self.rubric is None:
            return None
        return next((i for i in self.rubric.items if i.id == item_id), None)

    def rows(self, reports: dict[str, Report], item_id: str, flt: str = "all") -> list[Row]:
        out = []
        for netid in sorted(reports):
            r = reports[netid]
            if not r.graded:
                continue
            item = next((i for i in r.items if i.id == item_id), None)
            if item is None:
                continue
            auto = str(item.ta.automatic.get("status", item.status)) if item.ta else str(item.status)
            cur = item.ta.current if item.ta else None
            row = Row(netid, item, auto, open_requests(item), cur.ta if cur else "")
            if row.matches(flt):
                out.append(row)
        return out

    def progress(self, reports: dict[str, Report]) -> list[dict]:
        """Per item: students, how many still pending, flagged, with open requests, overridden."""
        out = []
        for item_id in self.item_ids(reports):
            rows = self.rows(reports, item_id)
            if not rows:
                continue
            first = rows[0].item
            out.append({"id": item_id, "title": first.title, "kind": first.kind, "max_score": first.max_score,
                        "students": len(rows), "pending": sum(r.pending for r in rows),
                        "flagged": sum(r.flagged for r in rows), "regrade": sum(bool(r.open_requests) for r in rows),
                        "overridden": sum(r.overridden for r in rows),
                        "needs_ta": rows[0].by_ta or any(r.flagged or r.open_requests for r in rows)})
        return out

    def ta_progress(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.journal.entries():
            if e["kind"] != "request":
                counts[e["ta"]] = counts.get(e["ta"], 0) + 1
        return dict(sorted(counts.items()))

    # -- writing -------------------------------------------------------------------------
    def save(self, entry: dict) -> dict:
        """Record one decision (the acknowledgement), then rewrite the student's files."""
        raw = self.raw_reports().get(str(entry.get("netid", "")))
        if raw is None:
            from grader.batch.ta_journal import JournalError

            raise JournalError(f"no report for netid {entry.get('netid')!r} in {self.out_dir}")
        report = self.reports().get(raw["netid"])
        items = {}
        for i in (report.items if report is not None else ()):
            auto = i.ta.automatic.get("status", str(i.status)) if i.ta else str(i.status)
            items[i.id] = {"kind": i.kind, "max_score": i.max_score, "status": auto}
        line = self.journal.append(entry, items)
        self.publish_student(line["netid"])
        self.schedule_class()
        return line

    def publish_student(self, netid: str) -> None:
        from grader.report.formats import Context, write_student_files

        with publish_lock(self.out_dir):
            self._cache.pop(netid, None)
            raw = self.raw_reports().get(netid)
            if raw is None:
                return
            decisions = [(item, d) for item, d in self.journal.decisions_for(netid)]
            report = Report.from_dict(apply_decisions(raw, decisions), safe=True)
            write_student_files(report, self.out_dir / netid, Context(rubric=self.rubric), canonical=True)
            self._cache.pop(netid, None)

    def publish_class(self) -> None:
        """Every report.json, feedback file and class file from the reports + journal
        (what `grader report OUT` does)."""
        from grader.batch.publish import write_class_reports

        res = write_class_reports(self.out_dir, rubric=self.rubric)  # under the publish lock
        self.last_error = "; ".join(res.get("errors", []))[:2000]
        self._cache.clear()

    def schedule_class(self) -> None:
        self._idle.clear()
        self._rebuild.set()

    def class_writer(self, stop: threading.Event) -> None:
        """The background thread: rewrites the class files after saves (several saves, one rewrite)."""
        while not stop.is_set():
            if not self._rebuild.wait(0.2):
                continue
            self._rebuild.clear()
            try:
                self.publish_class()
            except Exception as exc:  # shown on the page; the journal keeps every decision
                self.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if not self._rebuild.is_set():
                self._idle.set()

    @property
    def class_files_current(self) -> bool:
        return self._idle.is_set()
