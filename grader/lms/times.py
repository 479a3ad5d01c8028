"""Submission times: where a submission's time came from, and how far to trust it.

DESIGN rule 8: times come from the LMS. The sources, strongest first:

  times_file    `--submission-times times.csv` (the instructor's export): wins over all
  cli           `grader run --submitted-at`
  lms_name      the time Brightspace writes into each download entry's name
  lms_late      Canvas's LATE marker: late, by an amount the download does not say
  lms_no_time   a Canvas entry without LATE: Canvas gives no time at all
  zip           the zip's own file times: set by the student's machine (intake judges them)
  unknown       nothing

Only the first three are trustworthy; every other submission carries a `time_flag` that
its gradebook row and the class summary show (never silently "on time").
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError

TIMES_FILE, CLI, LMS_NAME, LMS_LATE, LMS_NO_TIME, ZIP, UNKNOWN = (
    "times_file", "cli", "lms_name", "lms_late", "lms_no_time", "zip", "unknown")
TRUSTED = (TIMES_FILE, CLI, LMS_NAME)


@dataclass(frozen=True)
class Timing:
    """A submission's time as the batch knows it before grading."""

    kind: str  # one of the constants above
    submitted_at: dt.datetime | None = None  # timezone-aware
    source: str = ""  # what the report says the time came from

    @property
    def trusted(self) -> bool:
        return self.kind in TRUSTED and self.submitted_at is not None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
                "source": self.source}

    @classmethod
    def from_dict(cls, d: dict) -> "Timing":
        at = d.get("submitted_at")
        return cls(str(d.get("kind", UNKNOWN)), dt.datetime.fromisoformat(at) if at else None, str(d.get("source", "")))


def time_flag(kind: str, detail: str = "") -> str:
    """What a gradebook row says about a submission time that is not trustworthy ('' when it is)."""
    flags = {
        LMS_LATE: "LMS marked it LATE but gives no time: late by an unknown amount; a TA checks",
        LMS_NO_TIME: "the LMS gives no submission time (not marked late); pass --submission-times",
        ZIP: "time from the zip's file times (student-controlled); pass --submission-times",
        UNKNOWN: "no submission time: lateness not judged; pass --submission-times",
    }
    flag = flags.get(kind, "")
    return f"{flag} ({detail})" if flag and detail else flag


# -- Brightspace's time in entry names: "Mar 4, 2022 459 PM" (no colon) --------------------

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
NAME_TIME = r"(?:[A-Z][a-z]{2,8}\.?) \d{1,2}, \d{4} \d{1,2}:?\d{2} ?[AaPp]\.?[Mm]\.?"
_NAME_TIME_RX = re.compile(r"^([A-Za-z]{3,9})\.? (\d{1,2}), (\d{4}) (\d{1,2}):?(\d{2}) ?([AaPp])\.?[Mm]\.?$")


def parse_name_time(text: str, tz: str) -> dt.datetime:
    """'Mar 4, 2022 459 PM' in the time zone `tz` (12 AM is midnight, 12 PM noon).
    ValueError when it is not such a time."""
    m = _NAME_TIME_RX.match(text.strip())
    if not m:
        raise ValueError(f"not a Brightspace time: {text!r}")
    mon, day, year, hour, minute, ampm = m.groups()
    month = _MONTHS.get(mon[:3].lower())
    if month is None:
        raise ValueError(f"unknown month in {text!r}")
    h, mi = int(hour), int(minute)
    if not (1 <= h <= 12) or mi > 59:
        raise ValueError(f"not a 12-hour time: {text!r}")
    h = h % 12 + (12 if ampm.lower() == "p" else 0)
    return dt.datetime(int(year), month, int(day), h, mi, tzinfo=zoneinfo.ZoneInfo(tz))


def parse_iso(text: str, tz: str) -> dt.datetime:
    """An ISO date and time; without an offset, in the rubric's time zone."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=zoneinfo.ZoneInfo(tz)) if value.tzinfo is None else value


# -- CSV side files (--submission-times, --extensions) --------------------------------------

ID_COLUMNS = ("netid", "id", "lms_id", "user_id", "username", "sis_login_id", "orgdefinedid", "student_id")
MAX_SIDE_FILE_BYTES = 20 << 20


def read_side_csv(path: str | Path, what: str, value_columns: tuple[str, ...], example: str) -> list[tuple[int, str, dict]]:
    """[(line, id, {column: value})] of a small CSV with a header: one id column (ID_COLUMNS)
    and at least one of `value_columns`. UsageError (with the line) for anything else."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_SIDE_FILE_BYTES:
            raise UsageError(f"{what} {p}: larger than {MAX_SIDE_FILE_BYTES >> 20} MB; this is not a {what} file")
        text = p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{what} {p}: no such file; expected a CSV like:\n{example}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what} {p}: cannot be read as UTF-8 text ({exc}); expected a CSV like:\n{example}") from None
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip().lower().replace(" ", "_") for h in (rows[0] if rows else [])]
    id_col = next((i for i, h in enumerate(header) if h in ID_COLUMNS), None)
    cols = {h: i for i, h in enumerate(header) if h in value_columns}
    if id_col is None or not cols:
        raise UsageError(f"{what} {p}: the header {rows[0] if rows else '(empty file)'} needs an id column "
                         f"({', '.join(ID_COLUMNS[:2])}) and one of {', '.join(value_columns)}; expected a CSV like:\n{example}")
    out = []
    for line, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        ident = row[id_col].strip().lstrip("#").strip() if id_col < len(row) else ""
        if not ident:
            raise UsageError(f"{what} {p}, line {line}: no id in column {header[id_col]!r}")
        out.append((line, ident, {c: (row[i].strip() if i < len(row) else "") for c, i in cols.items()}))
    return out


TIMES_EXAMPLE = "netid,submitted_at\nab1234,2026-03-01T22:15:00\n12345,2026-03-02T09:00:00-05:00"


def load_submission_times(path: str | Path, tz: str) -> dict[str, dt.datetime]:
    """`--submission-times`: {netid or LMS id (lower case): time}. Naive times are in `tz`."""
    out: dict[str, dt.datetime] = {}
    for line, ident, values in read_side_csv(path, "--submission-times", ("submitted_at", "time", "submission_time"), TIMES_EXAMPLE):
        raw = next((v for v in values.values() if v), "")
        try:
            when = parse_iso(raw, tz)
        except ValueError:
            raise UsageError(f"--submission-times {path}, line {line}: {raw!r} is not an ISO time such as "
                             "2026-03-01T22:15:00 (the rubric's time zone) or 2026-03-01T22:15:00-05:00") from None
        key = ident.lower()
        if key in out and out[key] != when:
            raise UsageError(f"--submission-times {path}, line {line}: {ident} has two different times; keep one")
        out[key] = when
    return out
