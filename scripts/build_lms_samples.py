#!/usr/bin/env python3
"""Build submissions/lms/: a small but faithful Brightspace "Download all submissions" zip and
a Canvas "Download submissions" zip of ~10 students each, with the LMS's class-list exports
(rosters), a times file, an extensions file and a late-day ledger of an earlier homework.

Every student's notebooks are byte-identical copies of the samples in submissions/
(full_marks, partial, blank_starter): a batch's execution cache runs each distinct notebook
once. The bytes are deterministic (fixed entry times, sorted entries, stored uncompressed).

    python scripts/build_lms_samples.py [--out submissions/lms]

The cases (deadline of rubrics/hw2: 2026-03-01 23:59 America/New_York), per LMS:
  on time, submitted twice (newest graded), display name with accents and late (10.5 h),
  the three notebooks and the PDF uploaded loose (no zip: NetID from the roster), very late
  (> 24 h), an extension, 12 AM / 12 PM times, a zip named without the NetID (roster), a time
  overridden by the times file, 5 h late (a late day cancels it where the rubric has late
  days), and one roster student with no submission. Canvas: LATE markers, one LATE without
  a time (late by an unknown amount), one with neither (no trustworthy time), a re-uploaded
  file Canvas renamed "-1".
"""
from __future__ import annotations

import argparse
import csv
import html
import io
import json
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {"full": ROOT / "submissions/full_marks/ab1234.zip", "partial": ROOT / "submissions/partial/pa3002.zip",
           "blank": ROOT / "submissions/blank_starter/bs2001.zip"}
STAMP = (2026, 3, 5, 10, 12, 0)  # when the instructor downloaded

# netid, first, last, sample, (attempts: (LMS time or None, file name or "loose", sample)), extras
BRIGHTSPACE = [
    ("am1101", "Alice", "Martin", [("Mar 1, 2026 1015 PM", "am1101.zip", "full")]),
    ("bt1102", "Bruno", "Tanaka", [("Feb 28, 2026 930 AM", "bt1102.zip", "blank"), ("Mar 1, 2026 1145 PM", "bt1102.zip", "partial")]),
    ("jn1103", "José", "Núñez", [("Mar 2, 2026 1030 AM", "jn1103.zip", "full")]),
    ("lo1104", "Léa", "O'Brien", [("Mar 1, 2026 900 PM", "loose", "full")]),
    ("vl1105", "Victor", "Lee", [("Mar 3, 2026 215 PM", "vl1105.zip", "partial")]),
    ("ex1106", "Emma", "Xu", [("Mar 2, 2026 800 PM", "ex1106.zip", "full")]),
    ("mi1107", "Mia", "Ito", [("Mar 1, 2026 1230 AM", "mi1107.zip", "partial")]),
    ("nn1108", "Noah", "Nguyen", [("Mar 1, 2026 1201 PM", "hw2_submission.zip", "full")]),
    ("td1109", "Tomás", "Díaz", [("Mar 2, 2026 100 AM", "td1109.zip", "blank")]),
    ("ld1110", "Li", "Deng", [("Mar 2, 2026 459 AM", "ld1110.zip", "partial")]),
    ("zp1111", "Zoe", "Park", []),
]
BS_TIMES = [("td1109", "2026-03-01T23:50:00")]  # the times file wins over the name's time
BS_EXT = [("ex1106", "", "48", "medical")]
BS_LEDGER = {"jn1103": {"hw1": 3}, "vl1105": {"hw1": 2}}

# netid, first, last, late marker, file name ("loose") , sample, time in times.csv (key: netid or "id")
CANVAS = [
    ("am2201", "Alice", "Martin", False, "am2201.zip", "full", ("netid", "2026-03-01T20:00:00")),
    ("bt2202", "Bruno", "Tanaka", False, "bt2202-1.zip", "partial", ("netid", "2026-03-01T23:40:00")),
    ("jn2203", "José", "Núñez", True, "jn2203.zip", "full", ("netid", "2026-03-02T10:30:00")),
    ("lo2204", "Léa", "O'Brien", False, "loose", "full", ("id", "2026-03-01T21:00:00")),
    ("vl2205", "Victor", "Lee", True, "vl2205.zip", "partial", ("netid", "2026-03-03T14:15:00")),
    ("ex2206", "Emma", "Xu", True, "ex2206.zip", "full", ("netid", "2026-03-02T20:00:00")),
    ("mi2207", "Mia", "Ito", True, "mi2207.zip", "partial", None),
    ("nn2208", "Noah", "Nguyen", False, "HW2.zip", "full", None),
    ("td2209", "Tomás", "Díaz", False, "td2209.zip", "blank", ("id", "2026-03-01T12:00:00")),
    ("ld2210", "Li", "Deng", True, "ld2210.zip", "partial", ("netid", "2026-03-02T04:59:00")),
    ("zp2211", "Zoe", "Park", False, None, None, None),
]
CANVAS_EXT = [("ex2206", "2026-03-03T23:59:00", "", "family emergency")]
CANVAS_LEDGER = {"jn2203": {"hw1": 3}, "vl2205": {"hw1": 3}}


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, STAMP)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            z.writestr(info, data)
    return buf.getvalue()


def _loose(sample: str) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(SAMPLES[sample]) as z:
        return [(i.filename, z.read(i)) for i in z.infolist() if not i.is_dir()]


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def brightspace(out: Path) -> None:
    entries, rows, roster = [], [], [["OrgDefinedId", "Username", "Last Name", "First Name", "Email", "End-of-Line Indicator"]]
    for k, (netid, first, last, attempts) in enumerate(BRIGHTSPACE):
        user = str(311040 + 17 * k)
        roster.append([f"#N{20260000 + k:08d}", f"#{netid}", last, first, f"{netid}@nyu.edu", "#"])
        for a, (when, name, sample) in enumerate(attempts):
            sub = str(5508100 + 10 * k + a)
            files = _loose(sample) if name == "loose" else [(name, SAMPLES[sample].read_bytes())]
            for original, data in files:
                entries.append((f"{user}-{sub} - {first} {last} - {when} - {original}", data))
            rows.append(f"<tr><td>{html.escape(first)} {html.escape(last)}</td><td>{html.escape(when)}</td>"
                        f"<td>{html.escape(', '.join(n for n, _ in files))}</td></tr>")
    index = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Homework 2 - Submissions</title></head><body>\n"
             "<h1>Homework 2</h1>\n<table>\n<tr><th>Submitted By</th><th>Date Submitted</th><th>Files</th></tr>\n"
             + "\n".join(rows) + "\n</table>\n</body></html>\n")
    entries.append(("index.html", index.encode("utf-8")))
    _write(out / "brightspace" / "hw2_download.zip", _zip(entries))
    _write(out / "brightspace" / "roster.csv", _csv(roster))
    _write(out / "brightspace" / "times.csv", _csv([["netid", "submitted_at"], *map(list, BS_TIMES)]))
    _write(out / "brightspace" / "ext.csv", _csv([["netid", "new_deadline", "extra_hours", "reason"], *map(list, BS_EXT)]))
    _write(out / "brightspace" / "late_days_hw1.json", _ledger(BS_LEDGER))


def _ledger(students: dict) -> bytes:
    return (json.dumps({"version": 1, "unit": "day", "students": students}, indent=2, ensure_ascii=False) + "\n").encode()


def _sortable(first: str, last: str) -> str:
    """Canvas's file-name form of "Last, First": lower case, letters and digits only."""
    return "".join(c for c in f"{last}{first}".lower() if c.isalnum())


def canvas(out: Path) -> None:
    entries = []
    roster = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section"],
              ["    Points Possible", "", "", "", ""]]
    times = [["id", "submitted_at"]]
    for k, (netid, first, last, late, name, sample, when) in enumerate(CANVAS):
        user = str(108300 + 23 * k)
        roster.append([f"{last}, {first}", user, f"N{30260000 + k:08d}", netid, "DL-GY 6143 Section A"])
        if name is None:
            continue
        sub = str(7712000 + 31 * k)
        files = _loose(sample) if name == "loose" else [(name, SAMPLES[sample].read_bytes())]
        for original, data in files:
            entries.append((f"{_sortable(first, last)}_{'LATE_' if late else ''}{user}_{sub}_{original}", data))
        if when is not None:
            times.append([netid if when[0] == "netid" else user, when[1]])
    _write(out / "canvas" / "submissions.zip", _zip(entries))
    _write(out / "canvas" / "roster.csv", _csv(roster))
    _write(out / "canvas" / "times.csv", _csv(times))
    _write(out / "canvas" / "ext.csv", _csv([["netid", "new_deadline", "extra_hours", "reason"], *map(list, CANVAS_EXT)]))
    _write(out / "canvas" / "late_days_hw1.json", _ledger(CANVAS_LEDGER))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "submissions" / "lms"))
    out = Path(ap.parse_args().out)
    brightspace(out)
    canvas(out)
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(f"{p.relative_to(out)}  {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
