"""Find the files the rubric names among the unpacked entries, and judge the names.

Rules (ASSIGNMENT.md section 2): files at the root or inside one top folder; macOS junk
and checkpoints are ignored; a misnamed file is still used when the match is unambiguous
(with the naming penalty); anything else is an extra file.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from grader.intake.unzip import Entry
from grader.model import Finding, FoundFile
from grader.rubric.model import FileSpec

FUZZY_MIN = 0.75


@dataclass(frozen=True)
class Located:
    files: dict[str, FoundFile]
    findings: list[Finding]
    misnamed: list[str]  # reasons
    extra: list[str]  # names of extra entries
    missing: list[str]


def is_junk(name: str, ignore: tuple[str, ...]) -> bool:
    parts = PurePosixPath(name).parts
    for pat in ignore:
        if pat.endswith("/"):
            if pat.rstrip("/") in parts[:-1]:
                return True
        elif parts and parts[-1] == pat:
            return True
    # AppleDouble files ("._name") travel with macOS zips even outside __MACOSX/
    return bool(parts) and parts[-1].startswith("._")


def _strip_top_folder(names: list[str]) -> tuple[str | None, dict[str, str]]:
    tops = {PurePosixPath(n).parts[0] for n in names}
    if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in names):
        top = tops.pop()
        return top, {n: str(PurePosixPath(*PurePosixPath(n).parts[1:])) for n in names}
    return None, {n: n for n in names}


def _key(name: str, netid: str) -> str:
    stem = PurePosixPath(name).stem.lower()
    if netid:
        stem = stem.replace(netid.lower(), "")
    return re.sub(r"[^a-z0-9]+", "", stem)


def locate(entries: list[Entry], expected: tuple[FileSpec, ...], ignore: tuple[str, ...], netid: str) -> Located:
    findings: list[Finding] = []
    junk = [e.name for e in entries if is_junk(e.name, ignore)]
    if junk:
        findings.append(Finding("junk_ignored", f"ignored {len(junk)} system file(s): {', '.join(sorted(junk)[:5])}" + (" ..." if len(junk) > 5 else "")))
    kept = [e for e in entries if e.name not in set(junk)]
    top, rel = _strip_top_folder([e.name for e in kept]) if kept else (None, {})
    if top:
        findings.append(Finding("top_folder", f"files are inside the folder {top!r}; that is allowed"))
    by_rel = {rel[e.name]: e for e in kept}
    files: dict[str, FoundFile] = {}
    misnamed: list[str] = []
    unmatched = dict(by_rel)
    for spec in expected:
        if spec.name in unmatched:
            e = unmatched.pop(spec.name)
            files[spec.name] = FoundFile(spec.name, e.path, e.name, True)
    todo = [s for s in expected if s.name not in files]

    def similarity(expected_name: str, entry: str) -> float:
        return difflib.SequenceMatcher(None, _key(expected_name, netid), _key(entry, netid)).ratio()

    for spec in todo:
        suffix = PurePosixPath(spec.name).suffix.lower()
        cands = [n for n in unmatched if PurePosixPath(n).suffix.lower() == suffix]
        scored = sorted(((similarity(spec.name, n), n) for n in cands), reverse=True)
        same_kind = [s for s in expected if PurePosixPath(s.name).suffix.lower() == suffix]
        same_kind_left = [s for s in todo if s in same_kind and s.name not in files]
        pick = None
        if scored and scored[0][0] >= FUZZY_MIN and (len(scored) == 1 or scored[1][0] < scored[0][0]):
            # unambiguous only if this entry is not a better match for another expected file,
            # found or not (`hw2_cnn (1).ipynb` beside hw2_cnn.ipynb is a copy, not hw2_rnn.ipynb)
            best = scored[0][1]
            if not [s for s in same_kind if s is not spec and similarity(s.name, best) > scored[0][0]]:
                pick = best
        elif len(cands) == 1 and len(same_kind_left) == 1:
            # the only file of its kind for the only missing slot of that kind, unless it is
            # plainly another expected file's copy
            elsewhere = [similarity(s.name, cands[0]) for s in same_kind if s is not spec]
            if not [r for r in elsewhere if r >= FUZZY_MIN and r > scored[0][0]]:
                pick = cands[0]
        if pick is not None:
            e = unmatched.pop(pick)
            files[spec.name] = FoundFile(spec.name, e.path, e.name, False)
            misnamed.append(f"{PurePosixPath(pick).name!r} should be named {spec.name!r}")
            findings.append(Finding("misnamed", f"{e.name!r} was used as {spec.name!r}; it should be named {spec.name!r}", "warning"))
    missing = [s.name for s in expected if s.name not in files]
    for name in missing:
        findings.append(Finding("missing_file", f"no {name} in the zip (and no unambiguous misnamed match)", "error"))
    extra = sorted(unmatched)
    for name in extra:
        if name.lower().endswith(".zip"):
            findings.append(Finding("nested_zip", f"{name!r} is a zip inside the zip; it was not opened. Submit the files themselves.", "warning"))
    if extra:
        findings.append(Finding("extra_files", f"extra file(s) in the zip: {', '.join(extra[:8])}" + (" ..." if len(extra) > 8 else ""), "warning"))
    return Located(files, findings, misnamed, extra, missing)
