"""Intake: unpack a submission safely, find its files, apply naming and late rules."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import zoneinfo
from pathlib import Path

from grader.intake.documents import check_pdf, read_notebook
from grader.intake.locate import is_junk, locate
from grader.intake.semester import detect as detect_semester
from grader.intake.unzip import ZipUnreadable, unpack
from grader.model import Finding, Penalty, Submission
from grader.rubric.model import Rubric

__all__ = ["intake", "read_notebook", "netid_from_zip_name"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def netid_from_zip_name(zip_path: Path, rubric: Rubric) -> tuple[str, str | None]:
    """(netid, naming problem or None)."""
    name = zip_path.name
    stem = name[:-4] if name.lower().endswith(".zip") else name
    full = re.compile(rubric.netid_pattern)
    expected = rubric.zip_pattern
    if full.fullmatch(stem) and expected.format(netid=stem) == name:
        return stem, None
    loose = re.compile(rubric.netid_pattern.lstrip("^").rstrip("$"))
    tokens = [t.lower() for t in re.split(r"[^A-Za-z0-9]+", stem) if loose.fullmatch(t.lower())]
    if tokens:
        # "hw2-ab1234.zip": a NetID has more digits than an assignment name like hw2
        token = max(tokens, key=lambda t: sum(ch.isdigit() for ch in t))
        return token, f"the zip is named {name!r}; it should be {expected.format(netid=token)!r}"
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", stem)[:40] or "unknown"
    return safe, f"the zip is named {name!r}, which contains no NetID; it should be {expected.format(netid='<netid>')!r}"


# Zip entry times are set by the student's machine (or by hand): a claim, not a fact.
# They are used only when nothing better is given, and only when plausible: not in the
# future, not before the zip format's own epoch floor (1980-01-01, what a zeroed or forged
# header decodes to), not absurdly far before the deadline, and with no invalid entry.
PLAUSIBLE_DAYS_BEFORE_DEADLINE = 120
ZIP_TIME_SOURCE = "newest file time in the zip (set by the student's machine)"


def _newest_time(entries, rubric: Rubric, now: dt.datetime | None = None) -> tuple[dt.datetime | None, str]:
    """(newest plausible entry time, why the zip's times cannot be used: '' when they can)."""
    tz = zoneinfo.ZoneInfo(rubric.timezone)
    own = [e for e in entries if not is_junk(e.name, rubric.ignore)]
    if not own:
        return None, ""
    if any(e.mtime is None for e in own):
        return None, "some file times in the zip are invalid"
    times = [e.mtime.replace(tzinfo=tz) for e in own]
    newest, oldest = max(times), min(times)
    now = now or dt.datetime.now(tz)
    if newest > now + dt.timedelta(days=1):
        return None, f"a file time in the zip is in the future ({newest.isoformat()})"
    if oldest.year <= 1980:
        return None, f"a file time in the zip is the zip format's zero date ({oldest.date().isoformat()}): times were wiped or forged"
    if newest < rubric.deadline - dt.timedelta(days=PLAUSIBLE_DAYS_BEFORE_DEADLINE):
        return None, (f"the newest file time in the zip ({newest.isoformat()}) is more than "
                      f"{PLAUSIBLE_DAYS_BEFORE_DEADLINE} days before the deadline")
    return newest, ""


# A document's own date later than the zip's newest file time by more than this means the
# zip's times were set back (clock skew between a PDF writer and a zip tool is seconds).
CONTRADICTION_TOLERANCE = dt.timedelta(minutes=10)


def _later_document_time(files, rubric: Rubric, zip_time: dt.datetime) -> tuple[dt.datetime, str] | None:
    """The latest date a submitted document records about itself (the PDF's creation and
    modification dates) when it is later than the zip's file times: both are claims the
    student's machine makes, but a file cannot have been written after the zip holding it
    was made, so the later claim is the one that stands (it is against the student's
    interest). None when no document contradicts the zip."""
    from grader.intake.documents import pdf_dates

    tz = zoneinfo.ZoneInfo(rubric.timezone)
    now = dt.datetime.now(tz)
    best = None
    for spec in rubric.files:
        found = files.get(spec.name)
        if found is None or spec.kind != "pdf":
            continue
        for what, when in pdf_dates(found.path):
            when = when.astimezone(tz)
            if when > now + dt.timedelta(days=1):  # a wrong clock, not evidence
                continue
            if when > zip_time + CONTRADICTION_TOLERANCE and (best is None or when > best[0]):
                best = (when, f"the {what} inside {spec.name}")
    return best


def _late_rules(submitted_at: dt.datetime | None, rubric: Rubric, deadline: dt.datetime | None = None) -> tuple[list[Penalty], bool, str]:
    if submitted_at is None:
        return [], True, ""
    deadline = deadline or rubric.deadline
    grace = dt.timedelta(hours=rubric.penalties.late_grace_hours)
    if submitted_at <= deadline:
        return [], True, ""
    late_by = submitted_at - deadline
    hours = late_by.total_seconds() / 3600
    if submitted_at <= deadline + grace:
        return [Penalty("late", rubric.penalties.late_percent, f"submitted {hours:.1f} h after the deadline {deadline.isoformat()} (within the {rubric.penalties.late_grace_hours:g} h grace period)")], True, ""
    reason = f"submitted {hours:.1f} h after the deadline {deadline.isoformat()}; submissions more than {rubric.penalties.late_grace_hours:g} h late are not accepted"
    return [Penalty("too_late", 100.0, reason)], False, reason


def intake(zip_path: Path, rubric: Rubric, job_dir: Path, submitted_at: dt.datetime | None = None,
           provenance=None) -> Submission:
    """`provenance` (grader.lms.sources.Provenance or its dict): what a batch knows besides
    the zip: the NetID it found, the LMS's time and the deadline that applied (grader.lms).
    The zip's own file times are then used only when the batch has no time for it."""
    from grader.lms import times as tm
    from grader.lms.sources import Provenance

    zip_path = Path(zip_path)
    prov = Provenance.from_dict(provenance) if isinstance(provenance, dict) else provenance
    findings: list[Finding] = []
    if prov is None:
        netid, zip_naming = netid_from_zip_name(zip_path, rubric)
    else:  # the zip's name judged against the NetID the batch found; not at all when the grader made it
        netid, expected = prov.netid, rubric.zip_pattern.format(netid=prov.netid)
        zip_naming = None if prov.packed or zip_path.name == expected else f"the zip is named {zip_path.name!r}; it should be {expected!r}"
        findings += [Finding(c, m, s) for c, m, s in prov.findings]
        if prov.timing.kind != tm.ZIP:
            submitted_at = prov.timing.submitted_at
    digest = sha256_file(zip_path)
    unpack_dir = job_dir / "unpacked"
    unpack_dir.mkdir(parents=True, exist_ok=True)
    penalties: list[Penalty] = []
    try:
        entries, unzip_findings = unpack(zip_path, unpack_dir)
    except ZipUnreadable as exc:
        findings.append(Finding("zip_unreadable", str(exc), "error"))
        return Submission(netid, zip_path, digest, None, {}, tuple(findings), (), submitted_at,
                          "--submitted-at" if submitted_at else "unknown", False, str(exc))
    findings.extend(unzip_findings)
    if not entries:
        findings.append(Finding("zip_empty", f"{zip_path.name} contains no files", "error"))
    located = locate(entries, rubric.files, rubric.ignore, netid)
    findings.extend(located.findings)
    # another semester's file set (hw3 names under the hw2 rubric): say which, and how to grade it
    findings.extend(detect_semester([e.name for e in entries], rubric, zip_path.name, netid))
    naming = ([zip_naming] if zip_naming else []) + located.misnamed
    if zip_naming:
        findings.append(Finding("misnamed_zip", zip_naming, "warning"))
    if naming or located.extra:
        reasons = naming + ([f"extra files: {', '.join(located.extra[:8])}"] if located.extra else [])
        percent = max(([rubric.penalties.naming_percent] if naming else []) + ([rubric.penalties.extra_files_percent] if located.extra else []))
        penalties.append(Penalty("naming", percent, "; ".join(reasons)))
    for spec in rubric.files:
        found = located.files.get(spec.name)
        if found is None:
            continue
        if spec.kind == "pdf":
            findings.extend(check_pdf(found.path, spec.name))
    if prov is not None and prov.timing.kind != tm.ZIP:
        source = prov.timing.source
        if prov.timing.kind == tm.LMS_NO_TIME:
            findings.append(Finding("time_unknown", "the LMS gives no submission time and did not mark it late: lateness "
                                    "was not judged; pass --submission-times", "warning"))
    elif submitted_at is not None:
        source = "--submitted-at"
    else:
        submitted_at, implausible = _newest_time(entries, rubric)
        source = ZIP_TIME_SOURCE if submitted_at else "unknown"
        if implausible:
            findings.append(Finding("time_implausible", f"{implausible}; lateness was not judged and needs a TA: pass the "
                                    "LMS's submission time (--submitted-at)", "error"))
        elif submitted_at is None:
            findings.append(Finding("time_unknown", "the zip holds no file times; lateness was not judged. Pass --submitted-at.", "warning"))
        else:
            findings.append(Finding("time_from_zip", "lateness was judged from the zip's own file times, which the "
                                    "student's machine sets; pass the LMS's submission time (--submitted-at) to rely on it",
                                    "warning"))
            later = _later_document_time(located.files, rubric, submitted_at)
            if later is not None:
                when, what = later
                findings.append(Finding("time_contradiction", f"{what} is {when.isoformat()}, after the newest file time in the "
                                        f"zip ({submitted_at.isoformat()}): the zip's times were set back or its files changed "
                                        "after it was made; lateness was judged from that later time. Pass the LMS's submission "
                                        "time (--submitted-at) to decide", "warning"))
                submitted_at, source = when, f"{what} (later than the zip's file times)"
    deadline = prov.deadline if prov is not None else None
    late, accepted, rejection = _late_rules(submitted_at, rubric, deadline.at if deadline else None)
    if prov is not None and prov.timing.kind == tm.LMS_LATE:
        late = _late_unknown(rubric, deadline, findings)
    penalties.extend(late)
    if deadline is not None and (deadline.at != deadline.base or deadline.tokens_left is not None):
        findings.append(Finding("deadline", deadline.explain(), "info"))
    kind = prov.timing.kind if prov is not None and prov.timing.kind != tm.ZIP else (
        tm.CLI if source == "--submitted-at" else tm.ZIP if submitted_at is not None else tm.UNKNOWN)
    return Submission(
        netid=netid,
        source=zip_path,
        sha256=digest,
        unpack_dir=unpack_dir,
        files=located.files,
        findings=tuple(findings),
        penalties=tuple(penalties),
        submitted_at=submitted_at,
        submitted_at_source=source,
        accepted=accepted,
        rejection=rejection,
        time_flag=tm.time_flag(kind),
        deadline=deadline.at if deadline else None,
        deadline_rule=deadline.explain() if deadline else "",
    )


def _late_unknown(rubric: Rubric, deadline, findings: list) -> list[Penalty]:
    """The LMS marked it LATE and gives no time: the lesser late rule, and a TA looks."""
    if deadline.at != deadline.base:
        findings.append(Finding("time_late_unknown", "the LMS marked it LATE against its own due date, but this student's "
                                f"deadline was moved ({deadline.explain()}) and the download holds no time: no late penalty; "
                                "a TA checks the time in the LMS or passes --submission-times", "error"))
        return []
    pct, grace = rubric.penalties.late_percent, rubric.penalties.late_grace_hours
    findings.append(Finding("time_late_unknown", "late by an unknown amount (the LMS's LATE marker, no time): a TA checks "
                            "the submission time in the LMS, or passes --submission-times", "error"))
    return [Penalty("late", pct, f"the LMS marked it LATE without a time: the late penalty ({pct:g} %) applied, the lesser "
                    f"rule (more than {grace:g} h late would not be accepted); a TA checks the time")]
