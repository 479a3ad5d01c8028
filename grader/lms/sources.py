"""Where a batch's submissions come from: folders of <netid>.zip files, a Brightspace
"Download all submissions" zip, or a Canvas "Download submissions" zip.

    gather(inputs, rubric, options, out_dir) -> [(zip path, Provenance | None)], notes

A download is read (never extracted by its entry names), each entry's name parsed:

  Brightspace  "<user id>-<submission id> - <First Last> - <Mon D, YYYY HMM AM> - <original name>"
               (the same as a folder and the original name inside it), plus index.html;
               several files and several attempts (submission ids) per student
  Canvas       "<sortablename>_[LATE_]<user id>_<submission id>_<original name>" (Canvas
               adds "-1", "-2" to a re-uploaded file's name); no time

Per student the newest attempt is graded (`--attempt first`: the first), and said so. A
single submitted zip is graded as it is (its name judged by the rubric's naming rules);
loose files (the notebooks and the PDF uploaded one by one) are packed by the grader into
<netid>.zip, recorded as such: their names are judged as usual, the zip's is not (the
student made none). The NetID comes from the submitted zip's name, else from the roster
(`--roster`: Canvas ID, or Brightspace OrgDefinedId / display name), else a placeholder
id ("unknown-<lms>-<user id>") with a finding a TA sees: never a silent guess.

The submission's time and the deadline that applied travel with it (Provenance, read by
grader.intake): see grader.lms.times and grader.lms.deadlines.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from grader.errors import UsageError
from grader.lms import deadlines as dl
from grader.lms import times as tm

BRIGHTSPACE, CANVAS, ZIPS = "brightspace", "canvas", "zips"
SOURCES = ("auto", BRIGHTSPACE, CANVAS, ZIPS)
ATTEMPTS = ("newest", "first")

MAX_DOWNLOAD_ENTRIES = 100_000
MAX_ENTRY_BYTES = 128 << 20  # as grader.intake.unzip.MAX_FILE_BYTES: one student's file
JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")


@dataclass(frozen=True)
class Options:
    source: str = "auto"  # auto | brightspace | canvas | zips
    attempt: str = "newest"  # newest | first
    roster: str | None = None
    submission_times: str | None = None
    extensions: str | None = None
    late_days_ledger: str | None = None  # default OUT/.batch/late_days.json

    @property
    def plain(self) -> bool:
        """Nothing asked beyond the folder of zips of old."""
        return (self.source in ("auto", ZIPS) and not self.submission_times and not self.extensions
                and not self.late_days_ledger)


@dataclass(frozen=True)
class Provenance:
    """What the batch knows about a submission besides its zip: who, when, which deadline."""

    netid: str
    netid_source: str  # "zip name" | "roster" | "placeholder"
    timing: tm.Timing
    deadline: dl.Deadline
    origin: str = ""  # where in the LMS download it came from
    packed: tuple[str, ...] = ()  # loose files the grader packed into the zip
    findings: tuple[tuple[str, str, str], ...] = ()  # (code, message, severity)

    def to_dict(self) -> dict:
        return {"netid": self.netid, "netid_source": self.netid_source, "timing": self.timing.to_dict(),
                "deadline": self.deadline.to_dict(), "origin": self.origin, "packed": list(self.packed),
                "findings": [list(f) for f in self.findings]}

    @classmethod
    def from_dict(cls, d: dict) -> "Provenance":
        return cls(str(d["netid"]), str(d.get("netid_source", "")), tm.Timing.from_dict(d["timing"]),
                   dl.Deadline.from_dict(d["deadline"]), str(d.get("origin", "")), tuple(d.get("packed", ())),
                   tuple(tuple(f) for f in d.get("findings", ())))

    def key(self) -> str:
        """A digest of everything here that changes a grade (the batch's job key includes it)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


# -- one file of a download ------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    name: str  # its path in the download
    read: Callable[[], bytes] = field(compare=False)
    size: int = 0


@dataclass(frozen=True)
class LmsFile:
    lms: str
    user_id: str
    submission_id: str
    display_name: str
    original: str  # the student's file name
    entry: Entry
    when: object = None  # Brightspace: the time in the name (aware datetime)
    late: bool = False  # Canvas: the LATE marker
    renamed: str = ""  # Canvas: the name before its "-N" suffix was taken off ('' none)


_BS_HEAD = re.compile(r"^(\d+)-(\d+) - (.+?) - (" + tm.NAME_TIME + r")(?: - (.+))?$")
_CANVAS = re.compile(r"^([^_/]+?)_(?:(LATE)_)?(\d+)_(\d+)_(.+)$")


def parse_brightspace(name: str, tz: str) -> dict | None:
    """The parts of a Brightspace entry name (or its folder + file form); None if it is not one."""
    parts = PurePosixPath(name).parts
    for head, rest in ((parts[-1], None), ("/".join(parts[:-1]), parts[-1])) if len(parts) > 1 else ((parts[-1], None),):
        m = _BS_HEAD.match(unicodedata.normalize("NFC", head.strip()))
        if not m or (rest is None) == (m.group(5) is None):
            continue
        try:
            when = tm.parse_name_time(m.group(4), tz)
        except ValueError:
            continue
        return {"user_id": m.group(1), "submission_id": m.group(2), "display_name": m.group(3).strip(),
                "when": when, "original": (rest if rest is not None else m.group(5)).strip()}
    return None


_DASH_N = re.compile(r"^(.*)-(\d{1,3})(\.[A-Za-z0-9]+)$")


def parse_canvas(name: str) -> dict | None:
    m = _CANVAS.match(unicodedata.normalize("NFC", PurePosixPath(name).name))
    if not m:
        return None
    return {"sortable": m.group(1), "late": bool(m.group(2)), "user_id": m.group(3), "submission_id": m.group(4),
            "original": m.group(5)}


def _is_junk(name: str) -> bool:
    return any((j.endswith("/") and j in name + "/") or PurePosixPath(name).name == j for j in JUNK)


def _entries(path: Path) -> list[Entry]:
    """The files of a download (a zip, or the folder it was unpacked into), junk left out."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        return [Entry(p.relative_to(path).as_posix(), (lambda p=p: p.read_bytes()), p.stat().st_size)
                for p in files if not _is_junk(p.relative_to(path).as_posix())]
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except Exception as exc:
        raise UsageError(f"{path} is not a readable zip ({exc}); pass the download as the LMS gave it") from None
    if len(infos) > MAX_DOWNLOAD_ENTRIES:
        raise UsageError(f"{path} has {len(infos)} entries (limit {MAX_DOWNLOAD_ENTRIES}); split the download")

    def reader(info):
        def read() -> bytes:
            with zipfile.ZipFile(path) as z, z.open(info) as fh:
                return fh.read(MAX_ENTRY_BYTES + 1)
        return read

    return [Entry(i.filename, reader(i), i.file_size) for i in infos
            if not i.filename.endswith("/") and not _is_junk(i.filename)]


def detect(names: list[str], tz: str) -> str | None:
    """brightspace | canvas | None (a student's own zip, or something else) from entry names:
    a download's entries (index.html aside) all name an LMS user and submission."""
    own = [n for n in names if PurePosixPath(n).name.lower() != "index.html"]
    if not own:
        return None
    if all(parse_brightspace(n, tz) for n in own):
        return BRIGHTSPACE
    if all(parse_canvas(n) for n in own):
        return CANVAS
    return None


def lms_files(entries: list[Entry], kind: str, tz: str) -> tuple[list[LmsFile], list[str]]:
    """The parsed files, and the names of entries that are not a submission's file."""
    files, other = [], []
    for e in entries:
        if PurePosixPath(e.name).name.lower() == "index.html" and "/" not in e.name.strip("/"):
            continue
        if kind == BRIGHTSPACE:
            p = parse_brightspace(e.name, tz)
            if p:
                files.append(LmsFile(kind, p["user_id"], p["submission_id"], p["display_name"], p["original"], e, when=p["when"]))
                continue
        else:
            p = parse_canvas(e.name)
            if p:
                original, renamed = p["original"], ""
                m = _DASH_N.match(original)
                if m:  # Canvas renames a re-uploaded file "name-1.ext"
                    original, renamed = m.group(1) + m.group(3), original
                files.append(LmsFile(kind, p["user_id"], p["submission_id"], p["sortable"], original, e,
                                     late=p["late"], renamed=renamed))
                continue
        other.append(e.name)
    return files, other


# -- per student -----------------------------------------------------------------------------

def attempts(files: list[LmsFile]) -> dict[str, list[list[LmsFile]]]:
    """{user id: [attempt, ...] oldest first}; an attempt is the files of one submission id."""
    by_user: dict[str, dict[str, list[LmsFile]]] = {}
    for f in files:
        by_user.setdefault(f.user_id, {}).setdefault(f.submission_id, []).append(f)

    def order(att: list[LmsFile]):
        when = max((f.when for f in att if f.when is not None), default=None)
        return (when.timestamp() if when is not None else 0.0, int(att[0].submission_id))

    return {u: sorted((sorted(a, key=lambda f: f.original) for a in subs.values()), key=order) for u, subs in by_user.items()}


def _describe_attempt(att: list[LmsFile]) -> str:
    when = att[0].when
    return f"submission {att[0].submission_id}" + (f" ({when.strftime('%b %d, %Y %I:%M %p')})" if when else "")


def _safe_file_name(name: str) -> str:
    base = PurePosixPath(name.replace("\\", "/")).name
    base = "".join(c for c in unicodedata.normalize("NFC", base) if c.isprintable() and c not in '/\\:*?"<>|')
    return base.strip(" .")[:150] or "file"


def _netid_for(kind: str, att: list[LmsFile], rubric, roster) -> tuple[str | None, str, list[tuple[str, str, str]]]:
    """(netid or None, how it was found, findings)."""
    from grader.intake import netid_from_zip_name

    findings = []
    from_zip = None
    if len(att) == 1 and att[0].original.lower().endswith(".zip"):
        netid, problem = netid_from_zip_name(Path(att[0].original), rubric)
        if problem is None:
            from_zip = netid
    from_roster, why = None, ""
    if roster is not None:
        who = roster.by_lms_id(att[0].user_id)
        if who is None and kind == BRIGHTSPACE:
            who = roster.by_display_name(att[0].display_name)
            many = roster.all_by_display_name(att[0].display_name)
            if who is None and len(many) > 1:
                why = f"{len(many)} roster students are named {att[0].display_name!r}"
        from_roster = who.netid if who is not None else None
    if from_zip and from_roster and from_zip != from_roster:
        findings.append(("netid_mismatch", f"the zip is named for {from_zip}, but the LMS account that submitted it "
                         f"({att[0].display_name}, user {att[0].user_id}) is {from_roster} on the roster; graded as "
                         f"{from_zip} (the zip's name): a TA checks whose work it is", "warning"))
    if from_zip:
        return from_zip, "zip name", findings
    if from_roster:
        return from_roster, "roster", findings
    hint = ("pass --roster (the LMS's class list) or " if roster is None else (why + "; " if why else "not on the roster; "))
    findings.append(("no_netid", f"no NetID for LMS user {att[0].user_id} ({att[0].display_name}): the submission "
                     f"({', '.join(f.original for f in att)}) names none; {hint}a TA maps this account to a NetID "
                     "(this report is filed under a placeholder id)", "error"))
    return None, "placeholder", findings


def _pack(att: list[LmsFile], when) -> tuple[bytes, tuple[str, ...]]:
    """The loose files of one attempt as a zip (deterministic: sorted, fixed times)."""
    stamp = (when.year, when.month, when.day, when.hour, when.minute, 0) if when is not None else (2000, 1, 1, 0, 0, 0)
    buf = io.BytesIO()
    names = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in att:
            name = _safe_file_name(f.original)
            while name in names:
                name = "_" + name
            names.append(name)
            data = f.entry.read()
            if len(data) > MAX_ENTRY_BYTES:
                raise UsageError(f"{f.entry.name}: larger than {MAX_ENTRY_BYTES >> 20} MiB")
            info = zipfile.ZipInfo(name, stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue(), tuple(names)


def _timing(kind: str, att: list[LmsFile], netid: str | None, times: dict, rubric) -> tm.Timing:
    for key in (netid, att[0].user_id):
        if key and key.lower() in times:
            return tm.Timing(tm.TIMES_FILE, times[key.lower()], f"--submission-times ({key})")
    if kind == BRIGHTSPACE:
        return tm.Timing(tm.LMS_NAME, att[0].when, "the Brightspace submission time (download file name)")
    if any(f.late for f in att):
        return tm.Timing(tm.LMS_LATE, None, "Canvas's LATE marker (no time in the download)")
    return tm.Timing(tm.LMS_NO_TIME, None, "none: Canvas puts no time in the download and did not mark it late")


class _Deadlines:
    """Extensions and late days for the whole batch; the ledger is written by save()."""

    def __init__(self, rubric, options: Options, out_dir: Path):
        self.rubric = rubric
        self.ext = dl.load_extensions(options.extensions, rubric.timezone) if options.extensions else {}
        self.used_ext: set[str] = set()
        self.ledger = None
        if rubric.late_days is not None:
            self.ledger = dl.Ledger.load(options.late_days_ledger or (Path(out_dir) / ".batch" / "late_days.json"))

    def for_student(self, netid: str | None, lms_id: str | None, timing: tm.Timing) -> dl.Deadline:
        ext = None
        for key in (netid, lms_id):
            if key and key.lower() in self.ext:
                ext, _ = self.ext[key.lower()], self.used_ext.add(key.lower())
                break
        available = None
        if self.ledger is not None and netid:
            available = self.ledger.available(netid, self.rubric.assignment, self.rubric.late_days.tokens)
        d = dl.decide(self.rubric.deadline, timing.submitted_at, timing.trusted, ext,
                      self.rubric.penalties.late_grace_hours, available)
        if self.ledger is not None and netid:
            self.ledger.record(netid, self.rubric.assignment, d.tokens_used)
        return d

    def unused(self) -> list[str]:
        return sorted(set(self.ext) - self.used_ext)

    def save(self) -> None:
        if self.ledger is not None:
            self.ledger.save()


def _download_students(path: Path, kind: str, rubric, options: Options, roster, times: dict, deadlines: _Deadlines,
                       entries: list[Entry], stage: Path) -> tuple[list[tuple[Path, Provenance, bytes]], list[str]]:
    files, other = lms_files(entries, kind, rubric.timezone)
    notes = []
    if other:
        shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
        notes.append(f"{path.name}: {len(other)} entr{'y' if len(other) == 1 else 'ies'} not named as {kind} names a "
                     f"submission's files, not graded: {shown}")
    if not files:
        raise UsageError(f"{path}: no {kind} submission files in it (entries like "
                         + ("'12345-67890 - First Last - Mar 4, 2022 459 PM - ab1234.zip'" if kind == BRIGHTSPACE
                            else "'lastfirst_12345_67890_ab1234.zip'") + "); is this the right download or --source?")
    out = []
    for user, atts in sorted(attempts(files).items(), key=lambda kv: kv[0]):
        att = atts[-1] if options.attempt == "newest" else atts[0]
        findings: list[tuple[str, str, str]] = []
        if len(atts) > 1:
            others = ", ".join(_describe_attempt(a) for a in atts if a is not att)
            findings.append(("attempts", f"{len(atts)} attempts in the download; graded the {options.attempt} one, "
                             f"{_describe_attempt(att)} (--attempt); not graded: {others}", "info"))
        renamed = [f for f in att if f.renamed]
        if renamed:
            findings.append(("lms_renamed", "Canvas renamed re-uploaded files; judged under the names the student gave: "
                             + ", ".join(f"{f.renamed} -> {f.original}" for f in renamed), "info"))
        netid, how, found = _netid_for(kind, att, rubric, roster)
        findings += found
        filed_as = netid or f"unknown-{kind}-{user}"
        timing = _timing(kind, att, netid, times, rubric)
        deadline = deadlines.for_student(netid, user, timing)
        single_zip = len(att) == 1 and att[0].original.lower().endswith(".zip")
        if single_zip:
            data, packed = att[0].entry.read(), ()
            if len(data) > MAX_ENTRY_BYTES:
                raise UsageError(f"{att[0].entry.name}: larger than {MAX_ENTRY_BYTES >> 20} MiB")
            name = _safe_file_name(att[0].original)
        else:
            data, packed = _pack(att, att[0].when)
            name = rubric.zip_pattern.format(netid=filed_as)
            findings.append(("loose_files", f"{len(att)} files uploaded without a zip ({', '.join(packed)}); the grader "
                             "packed them into a zip: their names are judged by the naming rules, the zip's is not "
                             "(the student made none)", "warning"))
        who = f"{att[0].display_name}, {kind.capitalize()} user {user}"
        origin = f"{path.name}: {who}, {_describe_attempt(att)}; NetID from the {how}"
        findings.insert(0, ("lms_source", f"from the {kind.capitalize()} download {origin}", "info"))
        prov = Provenance(filed_as, how, timing, deadline, origin, packed, tuple(findings))
        out.append((stage / f"{user}-{att[0].submission_id}" / name, prov, data))
    return out, notes


def _zip_provenance(z: Path, rubric, times: dict, deadlines: _Deadlines) -> Provenance:
    from grader.intake import netid_from_zip_name

    netid, _ = netid_from_zip_name(z, rubric)
    timing = (tm.Timing(tm.TIMES_FILE, times[netid], f"--submission-times ({netid})") if netid in times
              else tm.Timing(tm.ZIP, None, "the zip's file times"))
    return Provenance(netid, "zip name", timing, deadlines.for_student(netid, None, timing))


def gather(inputs: list, rubric, options: Options, out_dir: Path) -> tuple[list[tuple[Path, Provenance | None]], list[str]]:
    """The submissions of a batch, and notes for the instructor. LMS downloads are staged as
    one zip per student under OUT/.batch/lms/ (only after every input has been read: bad
    inputs change nothing)."""
    from grader.batch.run import discover

    if options.source not in SOURCES:
        raise UsageError(f"--source must be one of {', '.join(SOURCES)}, not {options.source!r}")
    if options.attempt not in ATTEMPTS:
        raise UsageError(f"--attempt must be one of {', '.join(ATTEMPTS)}, not {options.attempt!r}")
    roster = None
    if options.roster:
        from grader.lms.roster import load_roster

        roster = load_roster(options.roster)
    times = tm.load_submission_times(options.submission_times, rubric.timezone) if options.submission_times else {}
    deadlines = _Deadlines(rubric, options, out_dir)
    zips, downloads = [], []
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            raise UsageError(f"{p} does not exist; pass folders of <netid>.zip files, the zips, or an LMS download")
        kind = None
        if options.source in (BRIGHTSPACE, CANVAS):
            kind = options.source
        elif options.source == "auto" and (p.is_file() or (p / "index.html").is_file()):
            entries = _entries(p) if (p.is_dir() or zipfile.is_zipfile(p)) else []
            kind = detect([e.name for e in entries], rubric.timezone)
        if kind is None:
            zips.append(p)
        else:
            downloads.append((p, kind))
    if options.plain and not downloads and rubric.late_days is None:
        return [(z, None) for z in discover(zips)], []
    found: list[tuple[Path, Provenance | None]] = []
    notes: list[str] = []
    staged = []
    for p, kind in downloads:
        digest = hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:8]
        stage = Path(out_dir) / ".batch" / "lms" / f"{kind}-{_safe_file_name(p.stem)[:40]}-{digest}"
        students, n = _download_students(p, kind, rubric, options, roster, times, deadlines, _entries(p), stage)
        staged += students
        notes += n
        notes.append(f"{p.name}: a {kind.capitalize()} download, {len(students)} students ({options.attempt} attempt each)")
    if zips:
        found += [(z, _zip_provenance(z, rubric, times, deadlines)) for z in discover(zips)]
    for path, prov, data in staged:  # every input read: now write
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            from grader.fsutil import atomic_write_bytes

            atomic_write_bytes(path, data)
        found.append((path, prov))
    if deadlines.unused():
        notes.append(f"--extensions: no submission for {', '.join(deadlines.unused())} (extension not used)")
    deadlines.save()
    return found, notes

