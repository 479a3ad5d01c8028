"""The class roster: the LMS's own class-list export, read into NetIDs and LMS identities.

Two exports are recognised from their header row (extra columns, e.g. grade columns of a
gradebook export, are ignored):

- Brightspace (D2L): ``OrgDefinedId, Username, First Name, Last Name, Email`` and possibly
  ``End-of-Line Indicator``. Brightspace prefixes ``OrgDefinedId`` and ``Username`` values
  with ``#`` (so that spreadsheets keep leading zeros); the ``#`` is not part of the value.
  NetID = ``Username``.
- Canvas: ``Student, ID, SIS User ID, SIS Login ID, Section``; ``Student`` is the sortable
  name ("Last, First"); a gradebook export may carry a "Points Possible" row (and a
  "Muted"/"Read Only" row), which is not a student. NetID = ``SIS Login ID``.

A NetID is normalised as the grader's own NetIDs are (grader.intake: lower case, taken
from the zip name): surrounding spaces and Brightspace's ``#`` removed, lower-cased, and an
e-mail-style login (``ab1234@nyu.edu``) reduced to its local part.

Rows without a NetID (Canvas's "Student, Test" has no SIS Login ID) are not students the
grader can match; they are kept in ``Roster.skipped`` with the reason, never silently lost.
Everything in the file is untrusted text (students choose their display names).
"""
from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import UsageError

BRIGHTSPACE, CANVAS = "brightspace", "canvas"
BRIGHTSPACE_COLUMNS = ("OrgDefinedId", "Username", "First Name", "Last Name", "Email")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
EOL_COLUMN = "End-of-Line Indicator"
MAX_ROSTER_BYTES = 20 * 1024 * 1024  # a class list of 100 000 students is a few MB
_NOT_STUDENT_ROWS = ("points possible", "muted", "read only")  # Canvas export header rows


def normalize_netid(value: str | None) -> str:
    """The grader's form of a NetID ('' when there is none)."""
    s = unicodedata.normalize("NFKC", str(value or "")).strip().lstrip("#").strip()
    if "@" in s:
        s = s.split("@", 1)[0]
    return s.lower()


def name_key(name: str | None) -> str:
    """A display name compared the way a person would: Unicode-normalised (composed and
    decomposed accents are the same name), case-folded, spaces collapsed."""
    s = unicodedata.normalize("NFC", str(name or ""))
    return " ".join(s.casefold().split())


def _plain(key: str) -> str:
    """A name key without its accents ('josé' -> 'jose'), for file names that lost them."""
    return "".join(c for c in unicodedata.normalize("NFD", key) if not unicodedata.combining(c))


def _id(value: str | None) -> str:
    return unicodedata.normalize("NFC", str(value or "")).strip().lstrip("#").strip()


def _text(value: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", str(value or "")).split())


@dataclass(frozen=True)
class RosterEntry:
    """One student of the class list. Fields an LMS does not export are ''."""

    netid: str
    org_defined_id: str = ""  # Brightspace OrgDefinedId (without its '#')
    username: str = ""  # Brightspace Username / Canvas SIS Login ID, as exported (without '#')
    lms_id: str = ""  # Canvas ID (the user id in Canvas's download file names)
    sis_user_id: str = ""  # Canvas SIS User ID
    first: str = ""
    last: str = ""
    display_name: str = ""  # "First Last"
    sortable_name: str = ""  # "Last, First" (Canvas's Student column)
    section: str = ""
    email: str = ""
    line: int = 0  # line in the roster file (for messages)


@dataclass(frozen=True)
class Roster:
    kind: str  # BRIGHTSPACE | CANVAS
    entries: tuple[RosterEntry, ...]
    path: str = ""
    skipped: tuple[tuple[int, str], ...] = ()  # (line, why) of rows that are not matchable students
    _by_netid: dict = field(default_factory=dict, repr=False, compare=False)
    _by_lms: dict = field(default_factory=dict, repr=False, compare=False)
    _by_name: dict = field(default_factory=dict, repr=False, compare=False)
    _by_plain_name: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        for e in self.entries:
            self._by_netid[e.netid] = e
            for key in {e.lms_id, e.org_defined_id} - {""}:
                self._by_lms.setdefault(key, []).append(e)
            for key in {name_key(e.display_name), name_key(e.sortable_name)} - {""}:
                self._by_name.setdefault(key, []).append(e)
                self._by_plain_name.setdefault(_plain(key), []).append(e)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __contains__(self, netid: str) -> bool:
        return normalize_netid(netid) in self._by_netid

    @property
    def netids(self) -> tuple[str, ...]:
        return tuple(e.netid for e in self.entries)

    def by_netid(self, netid: str) -> RosterEntry | None:
        return self._by_netid.get(normalize_netid(netid))

    def by_lms_id(self, lms_id: str | int) -> RosterEntry | None:
        """The student with this Canvas ID or Brightspace OrgDefinedId (None: no one, or
        more than one)."""
        found = self._by_lms.get(_id(str(lms_id)), [])
        return found[0] if len(found) == 1 else None

    def by_display_name(self, name: str) -> RosterEntry | None:
        """The one student with this name ("First Last" or "Last, First"; accents, case and
        spacing as a person reads them; a name that lost its accents, e.g. in a file name,
        matches when no name matches exactly). None when no one or several students have it:
        a name shared by two students identifies neither."""
        found = self.all_by_display_name(name)
        return found[0] if len(found) == 1 else None

    def all_by_display_name(self, name: str) -> tuple[RosterEntry, ...]:
        key = name_key(name)
        return tuple(self._by_name.get(key) or self._by_plain_name.get(_plain(key), ()))


def _read_text(path: Path) -> str:
    try:
        if not path.is_file():
            raise UsageError(f"roster {path}: no such file; pass the class list exported from "
                             "Brightspace (Grades > Export) or Canvas (Grades > Export)")
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise UsageError(f"roster {path}: larger than {MAX_ROSTER_BYTES // (1024 * 1024)} MB; "
                             "this is not a class list")
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"roster {path}: cannot be read ({exc.strerror or exc})") from None
    for encoding in ("utf-8-sig", "cp1252"):  # Excel re-saves class lists as Windows-1252
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # every byte decodes; never reached in practice


def _kind(header: list[str]) -> str | None:
    cols = set(header)
    if {"OrgDefinedId", "Username"} <= cols:
        return BRIGHTSPACE
    if {"Student", "ID", "SIS Login ID"} <= cols:
        return CANVAS
    return None


def _display(first: str, last: str) -> str:
    return " ".join(x for x in (first, last) if x)


def _split_sortable(student: str) -> tuple[str, str]:
    """'Last, First' -> (first, last); a name without a comma is all 'first'."""
    if "," in student:
        last, first = student.split(",", 1)
        return first.strip(), last.strip()
    return student.strip(), ""


def _entry(kind: str, row: dict, line: int) -> RosterEntry | str:
    """The row's entry, or why it is not a student."""
    get = lambda k: row.get(k) or ""  # noqa: E731 (DictReader gives None for short rows)
    if kind == BRIGHTSPACE:
        netid = normalize_netid(get("Username"))
        first, last = _text(get("First Name")), _text(get("Last Name"))
        if not netid:
            return f"{_display(first, last)!r}: no Username"
        return RosterEntry(netid=netid, org_defined_id=_id(get("OrgDefinedId")), username=_id(get("Username")),
                           first=first, last=last, display_name=_display(first, last),
                           sortable_name=", ".join(x for x in (last, first) if x),
                           section=_text(get("Section")), email=_text(get("Email")), line=line)
    student = _text(get("Student"))
    if student.casefold() in _NOT_STUDENT_ROWS:
        return f"the {student!r} row"
    netid = normalize_netid(get("SIS Login ID"))
    if not netid:
        test = student.casefold() in ("student, test", "test student")
        return f"{student!r}: no SIS Login ID" + (" (Canvas's test student has none)" if test else "")
    first, last = _split_sortable(student)
    return RosterEntry(netid=netid, username=_id(get("SIS Login ID")), lms_id=_id(get("ID")),
                       sis_user_id=_id(get("SIS User ID")), first=first, last=last,
                       display_name=_display(first, last), sortable_name=student,
                       section=_text(get("Section")), email=_text(get("Email")), line=line)


def parse_roster(text: str, source: str = "roster") -> Roster:
    """The roster in `text` (a CSV file's content). UsageError with what to do when it is
    not a class list Brightspace or Canvas exported."""
    text = text.lstrip("\ufeff")
    rows: list[tuple[int, list[str]]] = []  # (line where the record starts, values), blank lines left out
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        start = 1
        for values in reader:
            if any(c.strip() for c in values):
                rows.append((start, values))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise UsageError(f"roster {source}: not a readable CSV file (line {reader.line_num}: {exc})") from None
    if not rows:
        raise UsageError(f"roster {source}: the file is empty; export the class list from Brightspace "
                         "(Grades > Export, with OrgDefinedId and Username) or Canvas (Grades > Export)")
    header = [_text(h) for h in rows[0][1]]
    kind = _kind(header)
    if kind is None:
        shown = ", ".join(repr(h) for h in header[:8]) + (", ..." if len(header) > 8 else "")
        raise UsageError(
            f"roster {source}: not a class list the grader knows (header: {shown}); it needs the "
            f"Brightspace columns {', '.join(BRIGHTSPACE_COLUMNS[:2])} or the Canvas columns "
            f"{', '.join(CANVAS_COLUMNS)}; export it from the LMS's gradebook (Export), not by hand")
    entries: list[RosterEntry] = []
    skipped: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for n, values in rows[1:]:
        row = dict(zip(header, values))
        got = _entry(kind, row, n)
        if isinstance(got, str):
            skipped.append((n, got))
            continue
        if got.netid in seen:
            raise UsageError(f"roster {source}: NetID {got.netid!r} appears twice (lines {seen[got.netid]} and {n}); "
                             "a class list has each student once: export it again from the LMS")
        seen[got.netid] = n
        entries.append(got)
    if not entries:
        raise UsageError(f"roster {source}: no students in it (a {kind} header and "
                         f"{len(rows) - 1} row(s) without a NetID); export the class list with its students")
    return Roster(kind=kind, entries=tuple(entries), path=source, skipped=tuple(skipped))


def load_roster(path: str | Path) -> Roster:
    """The roster file at `path` (Brightspace or Canvas class-list export, kind from its header)."""
    path = Path(path)
    return parse_roster(_read_text(path), str(path))
