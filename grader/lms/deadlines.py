"""The deadline that applies to one student: the rubric's, an extension, late-day tokens.

  base        the rubric's `deadline` (in its `timezone`)
  extension   `--extensions ext.csv`: netid (or LMS id), a new deadline or extra hours
  late days   `late_days: {tokens: 3, unit: day}` in assignment.yaml: whole days a student
              may spend over the semester; spent automatically, only as many as cancel a
              penalty (all of the lateness, or enough to bring a rejected submission within
              the grace period), only on a trustworthy time. What each student spent is kept
              in a ledger file (default OUT/.batch/late_days.json; `--late-days-ledger FILE`
              to share it between homeworks), keyed by assignment: a rerun of the same
              homework replaces its own entry, never spends twice.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from grader.errors import UsageError
from grader.lms.times import parse_iso, read_side_csv


class LateDays(BaseModel):
    """`late_days:` in assignment.yaml (its JSON schema is generated from this model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int = Field(ge=0, le=365, description="late days each student may spend over the semester")
    unit: Literal["day"] = "day"


def late_days_schema() -> dict:
    return LateDays.model_json_schema(mode="validation")


@dataclass(frozen=True)
class Extension:
    deadline: dt.datetime | None = None  # a new deadline
    extra_hours: float = 0.0  # or hours added to the base deadline
    reason: str = ""


EXT_EXAMPLE = "netid,new_deadline,extra_hours,reason\nab1234,2026-03-03T23:59:00,,medical\ncd5678,,48,"


def load_extensions(path: str | Path, tz: str) -> dict[str, Extension]:
    """`--extensions`: {netid or LMS id (lower case): Extension}."""
    out: dict[str, Extension] = {}
    for line, ident, values in read_side_csv(path, "--extensions", ("new_deadline", "deadline", "extra_hours", "hours", "reason"), EXT_EXAMPLE):
        new = values.get("new_deadline") or values.get("deadline") or ""
        hours = values.get("extra_hours") or values.get("hours") or ""
        if bool(new) == bool(hours):
            raise UsageError(f"--extensions {path}, line {line}: give {ident} either a new deadline or extra hours (one of them)")
        try:
            ext = (Extension(deadline=parse_iso(new, tz), reason=values.get("reason", "")) if new
                   else Extension(extra_hours=float(hours), reason=values.get("reason", "")))
        except ValueError:
            raise UsageError(f"--extensions {path}, line {line}: {new or hours!r} is not an ISO time "
                             "(2026-03-03T23:59:00) or a number of hours") from None
        if ext.extra_hours < 0 or not math.isfinite(ext.extra_hours):
            raise UsageError(f"--extensions {path}, line {line}: extra hours must be a positive number, not {hours}")
        if ident.lower() in out:
            raise UsageError(f"--extensions {path}, line {line}: {ident} has a second extension; keep one")
        out[ident.lower()] = ext
    return out


@dataclass(frozen=True)
class Deadline:
    """The deadline that applied, and why."""

    base: dt.datetime
    at: dt.datetime
    extension: str = ""  # how the extension moved it ('' none)
    tokens_used: int = 0
    tokens_left: int | None = None  # None: the rubric has no late days

    def explain(self) -> str:
        parts = [f"base deadline {self.base.isoformat()}"]
        if self.extension:
            parts.append(self.extension)
        if self.tokens_used:
            parts.append(f"{self.tokens_used} late day(s) used ({self.tokens_left} left)")
        elif self.tokens_left is not None:
            parts.append(f"no late day used ({self.tokens_left} left)")
        return "; ".join(parts) + (f"; deadline that applied: {self.at.isoformat()}" if self.at != self.base else "")

    def to_dict(self) -> dict:
        return {"base": self.base.isoformat(), "at": self.at.isoformat(), "extension": self.extension,
                "tokens_used": self.tokens_used, "tokens_left": self.tokens_left}

    @classmethod
    def from_dict(cls, d: dict) -> "Deadline":
        return cls(dt.datetime.fromisoformat(d["base"]), dt.datetime.fromisoformat(d["at"]), str(d.get("extension", "")),
                   int(d.get("tokens_used", 0)), d.get("tokens_left"))


def extended(base: dt.datetime, ext: Extension | None) -> tuple[dt.datetime, str]:
    if ext is None:
        return base, ""
    why = f" ({ext.reason})" if ext.reason else ""
    if ext.deadline is not None:
        return ext.deadline, f"extension to {ext.deadline.isoformat()}{why}"
    return base + dt.timedelta(hours=ext.extra_hours), f"extension of {ext.extra_hours:g} h{why}"


def tokens_needed(submitted_at: dt.datetime, deadline: dt.datetime, grace_hours: float, available: int) -> int:
    """Whole days to spend: all the lateness when the student has them; otherwise the fewest
    that bring a submission past the grace period back within it (a 100 % penalty becomes
    the late one); otherwise none (spending them would change nothing)."""
    late = submitted_at - deadline
    if late <= dt.timedelta(0) or available <= 0:
        return 0
    full = math.ceil(late / dt.timedelta(days=1))
    if full <= available:
        return full
    within = math.ceil((late - dt.timedelta(hours=grace_hours)) / dt.timedelta(days=1))
    return within if 0 < within <= available else 0


def decide(base: dt.datetime, submitted_at: dt.datetime | None, trusted: bool, ext: Extension | None,
           grace_hours: float, available: int | None) -> Deadline:
    """The deadline for one student. `available`: late days left (None: no late days)."""
    at, why = extended(base, ext)
    used = 0
    if available is not None and trusted and submitted_at is not None:
        used = tokens_needed(submitted_at, at, grace_hours, available)
    return Deadline(base, at + dt.timedelta(days=used), why, used,
                    None if available is None else available - used)


# -- the ledger ------------------------------------------------------------------------------

LEDGER_VERSION = 1


class Ledger:
    """{netid: {assignment: days used}} in a JSON file shared by a semester's batches."""

    def __init__(self, path: Path, data: dict | None = None):
        self.path = Path(path)
        self.students: dict[str, dict[str, int]] = (data or {}).get("students", {})

    @classmethod
    def load(cls, path: str | Path) -> "Ledger":
        p = Path(path)
        if not p.exists():
            return cls(p)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            students = data["students"]
            ok = isinstance(students, dict) and all(
                isinstance(v, dict) and all(isinstance(n, int) and n >= 0 for n in v.values()) for v in students.values())
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise UsageError(f"late-day ledger {p}: not a ledger this grader wrote ({{\"students\": {{netid: {{assignment: days}}}}}}); "
                             "fix or remove it, or pass another --late-days-ledger")
        return cls(p, data)

    def available(self, netid: str, assignment: str, tokens: int) -> int:
        spent = sum(n for a, n in self.students.get(netid, {}).items() if a != assignment)
        return max(0, tokens - spent)

    def record(self, netid: str, assignment: str, used: int) -> None:
        mine = self.students.setdefault(netid, {})
        if used:
            mine[assignment] = used
        else:
            mine.pop(assignment, None)
            if not mine:
                self.students.pop(netid)

    def save(self) -> None:
        from grader.fsutil import atomic_write_bytes

        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"version": LEDGER_VERSION, "unit": "day", "students": {k: dict(sorted(v.items())) for k, v in sorted(self.students.items())}}
        atomic_write_bytes(self.path, (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode())
