"""Which semester a submission looks like: its file names against every shipped rubric's.

The homework ran in several semesters with different file sets (Fall 2021 hands in
hw3_theory.pdf, hw3_cnn.ipynb and hw3_rnn.ipynb; Spring 2021 has no Section-8 notebook;
...). When the files of a submission match another rubric's file set better than the
rubric in use, the instructor was probably given the wrong rubric for this class (or the
student handed in another semester's homework): intake says which rubric it looks like and
the exact command to grade it with that rubric (finding `other_rubric`, shown first in the
student's feedback and flagged in the gradebook and on the class page). The naming rules
are not changed: whether the naming penalty stands is the course's decision.

The candidates are every folder beside the rubric in use (e.g. rubrics/*) holding an
assignment.yaml; their file names come from each one's declared files, after its
`extends` chain and renames (grader.rubric.load.assignment_raw), never from a list here.

"Matches better" (match_score): more of the submission's files carry one of the
candidate's names than one of the rubric in use's; or, with as many matches, the
candidate's file set is exactly the submission's while the rubric in use lacks some of its
files (the submission may also be missing a notebook: the message says so). Names are
compared as intake's locate compares them (case, separators and the NetID aside).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.intake.locate import _key, is_junk
from grader.model import Finding
from grader.rubric.model import Rubric

CODE = "other_rubric"
ASSIGNMENT_FILE = "assignment.yaml"
MAX_CANDIDATES = 64  # folders looked at beside the rubric in use


@dataclass(frozen=True)
class Candidate:
    directory: Path
    assignment: str
    semester: str  # the rubric's `semester` (or its title)
    files: tuple[str, ...]  # the expected file names


def file_key(name: str, netid: str = "") -> str:
    """A file name as intake compares names: its stem without case, separators or the
    NetID, and its extension."""
    p = PurePosixPath(name)
    return f"{_key(p.name, netid)}{p.suffix.lower()}"


def _stamp(root: Path) -> tuple:
    out = []
    try:
        dirs = sorted(d for d in root.iterdir() if d.is_dir())[:MAX_CANDIDATES]
    except OSError:
        return ()
    for d in dirs:
        f = d / ASSIGNMENT_FILE
        try:
            out.append((d.name, f.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _candidates(root: str, stamp: tuple) -> tuple[Candidate, ...]:
    from grader.errors import RubricError
    from grader.rubric.load import assignment_raw

    out = []
    for name, _mtime in stamp:
        d = Path(root) / name
        try:
            raw = assignment_raw(d / ASSIGNMENT_FILE)
        except (RubricError, OSError, ValueError, RecursionError, TypeError, KeyError):
            continue  # a broken rubric is not a candidate (grader rubric-check says why)
        files = tuple(str(f.get("name")) for f in raw.get("files", ()) if isinstance(f, dict) and f.get("name"))
        if files:
            out.append(Candidate(d.resolve(), str(raw.get("assignment", name)),
                                 str(raw.get("semester") or raw.get("title") or name), files))
    return tuple(out)


def candidates(rubric_dir: Path) -> tuple[Candidate, ...]:
    """Every rubric beside `rubric_dir` (its parent's folders with an assignment.yaml)."""
    root = Path(rubric_dir).resolve().parent
    return _candidates(str(root), _stamp(root))


def match_score(submitted: set[str], expected: tuple[str, ...], netid: str = "") -> tuple[int, bool]:
    """(how many submitted files carry one of the expected names, whether the two sets are equal)."""
    want = {file_key(n, netid) for n in expected}
    return len(submitted & want), submitted == want


def submitted_keys(names, ignore: tuple[str, ...], netid: str = "") -> set[str]:
    return {file_key(n, netid) for n in names if not is_junk(n, ignore) and not n.endswith("/")}


def _command(zip_name: str, directory: Path) -> str:
    rel = os.path.relpath(directory, Path.cwd())
    shown = rel if not rel.startswith("..") else str(directory)
    return f"grader run {zip_name} --rubric {shown}"


def detect(names, rubric: Rubric, zip_name: str, netid: str = "") -> list[Finding]:
    """The `other_rubric` finding when another rubric beside `rubric` fits the submitted
    file `names` (paths inside the zip) better; [] otherwise."""
    subm = submitted_keys(names, rubric.ignore, netid)
    if not subm:
        return []
    here = Path(rubric.directory).resolve()
    ours = match_score(subm, tuple(f.name for f in rubric.files), netid)
    ours_names = {file_key(f.name, netid) for f in rubric.files}
    better = []
    for c in candidates(here):
        if c.directory == here or {file_key(n, netid) for n in c.files} == ours_names:
            continue
        score = match_score(subm, c.files, netid)
        if score[0] > ours[0] or (score[0] == ours[0] and score[1] and not ours[1] and score[0] > 0):
            better.append((score, c))
    if not better:
        return []
    top = max(s for s, _ in better)
    best = [c for s, c in better if s == top]
    # the same flavour first (course notebooks with a course-notebook rubric, project with project)
    flavour = here.name.endswith("-original")
    best.sort(key=lambda c: (c.directory.name.endswith("-original") != flavour, c.directory.name))
    matched = sorted(n for n in best[0].files if file_key(n, netid) in subm)
    mine = sorted(f.name for f in rubric.files if file_key(f.name, netid) in subm)
    missing = sorted(n for n in best[0].files if file_key(n, netid) not in subm)
    text = (f"these files look like another semester's homework: {', '.join(matched)} "
            f"{'is' if len(matched) == 1 else 'are'} the file names of {best[0].semester} "
            f"(rubric {best[0].directory.name}), while the rubric used here ({rubric.assignment}"
            + (f", {getattr(rubric, 'semester', '')}" if getattr(rubric, "semester", "") else "")
            + f") expects {', '.join(f.name for f in rubric.files)}"
            + (f" and only {', '.join(mine)} match{'es' if len(mine) == 1 else ''}" if mine else " and none match")
            + (f" ({', '.join(missing)} missing there too)" if missing else "") + ". ")
    if top[0] == ours[0]:  # as many matches: the rubric used here may simply be missing a file
        lacking = sorted(f.name for f in rubric.files if file_key(f.name, netid) not in subm)
        text += f"(Or the submission lacks {', '.join(lacking)}.) "
    text += f"If this student took that semester, grade it with: {_command(zip_name, best[0].directory)}"
    if len(best) > 1:
        text += " (or " + "; ".join(f"{_command(zip_name, c.directory)} for {c.semester}" for c in best[1:]) + ")"
    text += ". Names were judged by the rubric used here (its naming rules and penalties apply as usual)."
    return [Finding(CODE, text, "warning")]
