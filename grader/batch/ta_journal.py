"""The TA journal: every decision a TA makes (grader review, or a --manual-scores sheet),
and how the decisions reach the canonical reports without regrading anything.

OUT/.batch/ta/journal.jsonl holds one JSON object per line, appended under an exclusive
file lock (two TAs saving at once, or two servers, never interleave) and fsync'd before
the save is acknowledged; a torn last line (a server killed mid-write) is ignored on read
and completed before the next append. Nothing is ever rewritten or removed: a changed
score is a new line.

A line: {"v": 1, "id", "netid", "item", "kind", "ta", "at", "score", "comment", "reason",
"request", "source"}. Kinds (grader.model.TaDecision): "score" (a manual item, or an
automatic item the grader left pending for a TA), "override" (a verified automatic result
replaced; a reason is required), "regrade" (the answer to a regrade request: a new score
or, with no score, the score kept), "request" (a student's regrade request, imported from
a CSV; no score).

Precedence: for each item the decisions of the journal and of the TA sheet
(`--manual-scores`, each cell a decision dated by the sheet file's modification time) are
ordered by time and the latest one that sets a score wins; every one stays in the item's
history (ItemResult.ta), with the grader's own result (TaRecord.automatic). Applying is
idempotent: the result is recomputed from the automatic result and the whole history, so
`grader report OUT` and every publish can apply the journal again.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import datetime as dt
import fcntl
import hashlib
import json
import math
import uuid
from pathlib import Path
from typing import Iterable, Mapping

from grader.errors import UsageError
from grader.fsutil import append_lines
from grader.model import TaDecision

VERSION = 1
KINDS = ("score", "override", "regrade", "request")
MAX_TEXT = 4000  # characters of a comment, reason or request kept
MAX_NAME = 60
IGNORED = "ta_score_ignored"


def _by_ta(kind) -> bool:
    from grader.checks.registry import graded_by_ta

    return graded_by_ta(str(kind or ""))


class JournalError(UsageError):
    """A decision that cannot be recorded (what is wrong, and what to do)."""


def journal_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / ".batch" / "ta"


@contextlib.contextmanager
def publish_lock(out_dir: str | Path):
    """Held while a student's files are rebuilt from a report + the journal and written (grader
    review's saves, `grader batch`'s publish, `grader report`): each writer reads the journal
    inside it, so the last one to write includes every decision recorded before it."""
    d = journal_dir(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "publish.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _clip(value, limit: int = MAX_TEXT) -> str:
    from grader.untrusted import text

    return text("" if value is None else value, limit)


def validate(entry: Mapping, items: Mapping[str, Mapping] | None = None) -> dict:
    """A clean journal line from `entry`, or JournalError. `items`: item id -> {"kind",
    "max_score", "status"} of the student's report, to check the item and the score's range."""
    kind = str(entry.get("kind", ""))
    if kind not in KINDS:
        raise JournalError(f"unknown decision kind {kind!r}; use one of {', '.join(KINDS)}")
    netid, item = _clip(entry.get("netid"), 100), _clip(entry.get("item"), 200)
    if not netid or not item:
        raise JournalError("a decision names a netid and an item")
    ta = _clip(entry.get("ta"), MAX_NAME).strip()
    if not ta:
        raise JournalError("a decision names the TA who made it (grader review --ta NAME)")
    score = entry.get("score")
    if score in ("", None):
        score = None
    else:
        try:
            score = float(score)
        except (TypeError, ValueError):
            raise JournalError(f"score {score!r} is not a number") from None
        if not math.isfinite(score) or score < 0:
            raise JournalError(f"score {score!r} must be a number >= 0")
    spec = (items or {}).get(item) if items is not None else None
    if items is not None and spec is None:
        raise JournalError(f"{netid} has no item {item!r}")
    if spec is not None and score is not None and score > float(spec.get("max_score", 0)) + 1e-9:
        raise JournalError(f"score {score:g} is above the item's {float(spec.get('max_score', 0)):g} points")
    reason = _clip(entry.get("reason")).strip()
    comment = _clip(entry.get("comment")).strip()
    request = _clip(entry.get("request")).strip()
    if kind in ("score", "override") and score is None:
        raise JournalError(f"a {kind} needs a score")
    if kind == "override" and not reason:
        raise JournalError("an override needs a reason: say why the grader's result is replaced")
    if kind == "request" and (score is not None or not request):
        raise JournalError("a regrade request carries the student's text and no score")
    if kind == "regrade" and spec is not None and score is not None and not _by_ta(spec.get("kind")) \
            and spec.get("status") != "pending" and not (reason or comment):
        raise JournalError("changing a verified automatic score answers the request with a reason")
    if spec is not None and kind == "score" and not _by_ta(spec.get("kind")) and spec.get("status") != "pending":
        raise JournalError(f"{item} was verified by the grader; change it with an override and a reason")
    return {"v": VERSION, "id": _clip(entry.get("id") or uuid.uuid4().hex, 80), "netid": netid, "item": item,
            "kind": kind, "ta": ta, "at": _clip(entry.get("at") or now(), 40), "score": score, "comment": comment,
            "reason": reason, "request": request, "source": _clip(entry.get("source") or "review", 200)}


def decision(line: Mapping) -> TaDecision:
    return TaDecision(id=line["id"], kind=line["kind"], ta=line["ta"], at=line["at"], score=line["score"],
                      comment=line["comment"], reason=line["reason"], request=line["request"], source=line["source"])


class Journal:
    """OUT/.batch/ta/journal.jsonl (see the module's docstring)."""

    def __init__(self, out_dir: str | Path):
        self.dir = journal_dir(out_dir)
        self.path = self.dir / "journal.jsonl"
        self.lock_path = self.dir / "journal.lock"

    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.lock_path, "a+")
        fcntl.flock(fh, fcntl.LOCK_EX)
        return fh

    def append(self, entry: Mapping, items: Mapping[str, Mapping] | None = None) -> dict:
        """Validate, write and fsync one decision; returns the line written. Once this returns,
        the decision survives the process being killed."""
        return self.append_many([entry], items)[0]

    def append_many(self, entries: Iterable[Mapping], items: Mapping[str, Mapping] | None = None,
                    *, skip_known: bool = False) -> list[dict]:
        lines = [validate(e, items) for e in entries]
        fh = self._locked()
        try:
            if skip_known:
                known = {e["id"] for e in self.entries()}
                lines = [x for x in lines if x["id"] not in known]
            if not lines:
                return []
            append_lines(self.path, b"".join((json.dumps(x, sort_keys=True, ensure_ascii=True) + "\n").encode()
                                             for x in lines))
            return lines
        finally:
            fh.close()

    def entries(self) -> list[dict]:
        """Every complete, valid line in order (a torn or malformed line is skipped)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if isinstance(rec, dict) and rec.get("v") == VERSION:
                    out.append(validate(rec))
            except (ValueError, JournalError):
                continue
        return out

    def by_netid(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for e in self.entries():
            out.setdefault(e["netid"], []).append(e)
        return out

    def decisions_for(self, netid: str) -> list[tuple[str, TaDecision]]:
        return [(e["item"], decision(e)) for e in self.entries() if e["netid"] == netid]


# -- regrade requests and the TA sheet as decisions -------------------------------------------

def read_requests(path: str | Path, reports: Mapping[str, Mapping]) -> list[dict]:
    """A regrade-request CSV (columns netid, item, text) as journal lines of kind "request",
    each with an id from its content (importing the file twice adds nothing). Errors name
    the line and say what to fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise JournalError(f"cannot read the regrade requests {path}: {exc.strerror}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [h.strip() for h in rows[0]][:3] != ["netid", "item", "text"]:
        raise JournalError(f"{path}: the first line must be the header netid,item,text")
    when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat(timespec="microseconds")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < 3:
            raise JournalError(f"{path}:{line}: expected netid,item,text")
        netid, item, body = row[0].strip(), row[1].strip(), ",".join(row[2:]).strip()
        report = reports.get(netid)
        if report is None:
            raise JournalError(f"{path}:{line}: unknown netid {netid!r}: no report in this batch has it")
        if item not in {i.get("id") for i in report.get("items", [])}:
            raise JournalError(f"{path}:{line}: {netid} has no item {item!r}; use an item id of the rubric")
        if not body:
            raise JournalError(f"{path}:{line}: the request's text is empty")
        digest = hashlib.sha256(f"{netid}\0{item}\0{body}".encode()).hexdigest()[:20]
        out.append({"id": f"req-{digest}", "netid": netid, "item": item, "kind": "request", "ta": "student",
                    "at": when, "request": body, "source": f"csv:{path.name}"})
    return out


def sheet_decisions(manual, netid: str) -> list[tuple[str, TaDecision]]:
    """The TA sheet's (grader.batch.manual.ManualScores) scores for `netid` as decisions,
    dated by the sheet's modification time: a later save in grader review wins over it, a
    sheet edited after that save wins over the save."""
    if manual is None:
        return []
    path = Path(manual.source)
    try:
        when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat(timespec="microseconds")
    except OSError:
        when = now()
    return score_decisions(manual.for_netid(netid), path.name, when, netid)


def score_decisions(entries: Mapping, sheet: str, when: str, netid: str = "") -> list[tuple[str, TaDecision]]:
    """A sheet row's scores ({item id: grader.batch.manual.ManualScore}) as "score" decisions
    made at `when` (a blank score is no decision)."""
    out = []
    for item_id, ms in sorted(entries.items()):
        if ms.points is None:
            continue
        digest = hashlib.sha256(f"{sheet}\0{when}\0{netid}\0{item_id}\0{ms.points}\0{ms.comment}".encode()).hexdigest()[:20]
        out.append((item_id, TaDecision(id=f"csv-{digest}", kind="score", ta="TA sheet", at=when,
                                        score=round(float(ms.points), 4), comment=_clip(ms.comment),
                                        source=f"csv:{sheet}")))
    return out


# -- applying decisions to a report ------------------------------------------------------------

def _rescore(r: dict) -> None:
    from grader import score as scoring
    from grader.model import Report

    rep = Report.from_dict(r, safe=True)
    raw, final = scoring.total(list(rep.items), list(rep.penalties), rep.max_score, rep.extra_credit_cap)
    r["extra_credit"] = scoring.extra_credit_points(list(rep.items), rep.extra_credit_cap)
    r["raw_score"] = round(raw, 4)
    r["score"] = final


def _as_dict(d: TaDecision) -> dict:
    from grader.model import to_jsonable

    return to_jsonable(d)


def apply_decisions(report: Mapping, decisions: Iterable[tuple[str, TaDecision]]) -> dict:
    """A copy of `report` (a report dict) with the decisions applied: each item's score is
    the latest applicable decision's (or the grader's own), its history every decision, and
    the total recomputed with the report's penalties. Decisions already in the report's
    history (a report.json applied before) are not duplicated."""
    r = copy.deepcopy(dict(report))
    new: dict[str, dict[str, TaDecision]] = {}
    for item_id, d in decisions:
        new.setdefault(item_id, {})[d.id] = d
    r["findings"] = [f for f in r.get("findings", []) if not (isinstance(f, dict) and f.get("code") == IGNORED)]
    changed = False
    for item in r.get("items", []):
        ta = item.get("ta") if isinstance(item.get("ta"), dict) else None
        known = {h["id"]: h for h in (ta or {}).get("history", []) if isinstance(h, dict) and "id" in h}
        for d in new.get(item.get("id"), {}).values():
            known[d.id] = _as_dict(d)
        if not known:
            continue
        changed = True
        auto = dict(ta["automatic"]) if ta and isinstance(ta.get("automatic"), dict) else \
            {"score": item.get("score", 0.0), "status": item.get("status", "pending"), "feedback": item.get("feedback", "")}
        history = sorted(known.values(), key=lambda h: (str(h.get("at", "")), str(h.get("id", ""))))
        _apply_item(item, auto, history, r["findings"])
    if changed:
        from grader.model import ReportError

        try:
            _rescore(r)
        except ReportError:  # a report that does not load gets its gradebook row saying why
            pass
    return r


def _apply_item(item: dict, auto: dict, history: list[dict], findings: list) -> None:
    is_manual = _by_ta(item.get("kind"))  # a TA scores it (the manual kind)
    pending = auto.get("status") == "pending"
    max_score = float(item.get("max_score", 0))
    current = None
    for h in history:
        kind, score = h.get("kind"), h.get("score")
        ok = True
        if kind == "request" or score is None:
            ok = kind in KINDS
        elif not (0 <= float(score) <= max_score + 1e-9):
            ok = False
        elif kind == "score" and not (is_manual or pending):
            ok = False
            findings.append({
                "code": IGNORED, "severity": "warning",
                "message": f"{item['id']}: the {'TA sheet' if str(h.get('source', '')).startswith('csv') else 'TA'} gives "
                           f"{float(score):g} but the grader verified this item itself ({auto.get('status')}, "
                           f"{float(auto.get('score', 0)):g}/{max_score:g}); a TA score counts only for manual items and "
                           "items the grader left pending (an override with a reason changes a verified result)"})
        h["applied"] = ok
        if ok and score is not None and kind in ("score", "override", "regrade"):
            current = h
    item["score"], item["status"], item["feedback"] = float(auto.get("score", 0)), auto.get("status", "pending"), \
        auto.get("feedback", "")
    ev = dict(item.get("evidence") or {})
    ev.pop("graded_by", None)
    if current is not None:
        pts = round(float(current["score"]), 4)
        item["score"] = pts
        item["status"] = "passed" if pts >= max_score - 1e-9 else "failed"
        comment = current.get("comment", "")
        if is_manual or pending:
            item["feedback"] = comment or f"graded by a TA: {pts:g}/{max_score:g}"
            ev["graded_by"] = "TA"
            if pending and not is_manual and auto.get("feedback"):
                ev["pending_reason"] = str(auto["feedback"])[:2000]
        else:
            why = current.get("reason") or comment
            item["feedback"] = (f"A TA changed the grader's result ({auto.get('status')}, "
                                f"{float(auto.get('score', 0)):g}/{max_score:g}) to {pts:g}/{max_score:g}: {why}"
                                + (f"\n\n{comment}" if comment and comment != why else "")
                                + (f"\n\nThe grader's feedback was:\n{auto['feedback']}" if auto.get("feedback") else ""))
            ev["graded_by"] = "TA (override)"
    item["evidence"] = ev
    item["ta"] = {"automatic": auto, "history": history}


def apply_journal(report: Mapping, out_dir: str | Path, manual=None, journal: Journal | None = None) -> dict:
    """`report` with the TA sheet's and the journal's decisions for its netid applied."""
    netid = str(report.get("netid", ""))
    decisions = sheet_decisions(manual, netid) + (journal or Journal(out_dir)).decisions_for(netid)
    return apply_decisions(report, decisions)
