"""Gradescope: the autograder bundle (`grader gradescope build`) and what its
`run_autograder` runs for each submission (`grader gradescope run`).

The bundle (a zip Gradescope unpacks into /autograder/source):

    setup.sh         run once on Gradescope's Ubuntu image: python3, venv, bubblewrap when
                     apt has it, the grader from grader-src/ with its dependencies
    run_autograder   run per submission: finds `grader` (or `python3 -m grader`) on PATH and
                     calls `grader gradescope run`
    bundle.env       the rubric's path inside the bundle (read by both scripts)
    grader-src/      a source copy of the grader (pyproject.toml, grader/, reference/ without
                     the solution and starter notebooks) and the rubric with the files it names

The two scripts are package data files beside this module, not strings in it.
`AUTOGRADER_ROOT` overrides /autograder everywhere, so a test runs the bundle against a
temporary directory laid out like it (submission/, results/, submission_metadata.json).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import stat
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
SCRIPTS = ("setup.sh", "run_autograder")
SOURCE_DIR = "grader-src"
BUNDLE_ENV = "bundle.env"
DEFAULT_ROOT = "/autograder"
# the project files a pip install of the grader needs (pyproject names README.md as its readme)
PROJECT_FILES = ("pyproject.toml", "README.md")
PROJECT_DIRS = ("grader", "reference")
# never in the bundle: caches, and the reference solution / starter notebooks (not needed to
# grade; `grader validate` and `grader calibrate` run where the instructor works)
EXCLUDED = ("__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info")
EXCLUDED_PATHS = ("reference/solution", "reference/starter")
ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # fixed entry times: the same inputs give the same bundle


def root_dir(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get("AUTOGRADER_ROOT") or DEFAULT_ROOT)


# -- building the bundle -----------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    path: Path
    rubric: str  # the rubric's path inside the bundle (relative to /autograder/source)
    files: int
    bytes: int


def _rubric_paths(rubric) -> list[Path]:
    """Every directory grading with `rubric` reads: the rubric, the rubrics it extends, its
    support files and its datasets."""
    paths = [rubric.directory, *rubric.bases, rubric.support_dir, *(d.source for d in rubric.datasets)]
    return [Path(p).resolve() for p in paths if p is not None]


def _excluded(rel: Path) -> bool:
    posix = rel.as_posix()
    if any(posix == p or posix.startswith(p + "/") for p in EXCLUDED_PATHS):
        return True
    return any(Path(part).match(pat) for part in rel.parts for pat in EXCLUDED)


def _tree(src: Path, arc: str, base: Path | None = None) -> list[tuple[Path, str]]:
    """(file, name in the zip) for the regular files under `src` (links are not followed)."""
    base = base or src
    out = []
    if src.is_file():
        return [(src, arc)]
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if not _excluded((d / n).relative_to(base)))
        for name in sorted(filenames):
            p = d / name
            rel = p.relative_to(base)
            if _excluded(rel) or not stat.S_ISREG(os.lstat(p).st_mode):
                continue
            out.append((p, f"{arc}/{p.relative_to(src).as_posix()}"))
    return out


def build(rubric_dir: str | Path, out: str | Path) -> Bundle:
    """Write the autograder zip for the rubric at `rubric_dir` to `out`."""
    from grader.fsutil import atomic_write_bytes
    from grader.rubric import load_rubric

    rubric = load_rubric(rubric_dir)  # a rubric that does not load fails here, not on Gradescope
    missing = [n for n in PROJECT_FILES if not (PROJECT_ROOT / n).is_file()]
    if missing:
        raise UsageError(f"the bundle carries the grader's source, but {PROJECT_ROOT} has no {', '.join(missing)}: "
                         "run `grader gradescope build` from a checkout of the grader (pip install -e .)")
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise UsageError(f"{out}: the bundle is a zip; name it e.g. autograder.zip")
    entries: list[tuple[Path, str]] = []
    for name in PROJECT_FILES:
        entries.append((PROJECT_ROOT / name, f"{SOURCE_DIR}/{name}"))
    for name in PROJECT_DIRS:
        entries += _tree(PROJECT_ROOT / name, f"{SOURCE_DIR}/{name}", PROJECT_ROOT)
    needed = _rubric_paths(rubric)
    inside = all(p.is_relative_to(PROJECT_ROOT) for p in needed)
    # The rubric and what it names keep their places relative to each other (support_dir,
    # extends and datasets are relative paths): under grader-src/ when they are the
    # project's, else under grader-src/rubric-tree/ from their common folder.
    top = PROJECT_ROOT if inside else Path(os.path.commonpath([str(p) for p in needed]))
    arc_top = SOURCE_DIR if inside else f"{SOURCE_DIR}/rubric-tree"
    have = {arc for _, arc in entries}
    for p in needed:
        rel = p.relative_to(top).as_posix()
        for f, arc in _tree(p, f"{arc_top}/{rel}" if rel != "." else arc_top, p):
            if arc not in have:
                entries.append((f, arc))
                have.add(arc)
    rubric_rel = f"{arc_top}/{rubric.directory.relative_to(top).as_posix()}".rstrip("/.")
    env_text = (f"# written by `grader gradescope build`; read by setup.sh and run_autograder\n"
                f"GRADER_RUBRIC={shlex.quote(rubric_rel)}\nGRADER_ASSIGNMENT={shlex.quote(rubric.assignment)}\n")
    import io

    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in SCRIPTS:
            _add(zf, name, (HERE / name).read_bytes(), 0o755)
        _add(zf, BUNDLE_ENV, env_text.encode(), 0o644)
        for f, arc in sorted(entries, key=lambda e: e[1]):
            data = f.read_bytes()
            total += len(data)
            _add(zf, arc, data, 0o644)
    atomic_write_bytes(out, buf.getvalue())
    return Bundle(out, rubric_rel, len(entries) + len(SCRIPTS) + 1, out.stat().st_size)


def _add(zf: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | mode) << 16
    zf.writestr(info, data)


# -- grading one Gradescope submission ---------------------------------------------------


def read_metadata(root: Path) -> dict:
    """submission_metadata.json (Gradescope's; {} when absent or unreadable)."""
    try:
        data = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def submission_time(meta: dict) -> dt.datetime | None:
    """Gradescope's own time of the submission (`created_at`), timezone-aware, or None."""
    raw = meta.get("created_at")
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip().replace("Z", "+00:00").replace(" ", "T", 1)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:?\d\d)$", text)  # Python 3.10 and long fractions
        if not m:
            return None
        try:
            when = dt.datetime.fromisoformat(m.group(1) + m.group(3))
        except ValueError:
            return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)


def netid_from_metadata(meta: dict, pattern: str) -> tuple[str | None, str]:
    """(NetID, how it was found): the first user's email local part when it matches the
    course's NetID pattern, else their SID (student id) when that does."""
    users = meta.get("users") if isinstance(meta.get("users"), list) else []
    user = users[0] if users and isinstance(users[0], dict) else {}
    rx = re.compile(pattern)
    email = user.get("email") if isinstance(user.get("email"), str) else ""
    local = email.split("@", 1)[0].strip().lower()
    group = f" (the first of {len(users)} group members)" if len(users) > 1 else ""
    if local and rx.fullmatch(local):
        return local, f"the NetID {local} is the local part of your Gradescope email{group}"
    sid = str(user.get("sid") or "").strip().lower()
    if sid and rx.fullmatch(sid):
        return sid, f"the NetID {sid} is your Gradescope SID{group}"
    return None, "Gradescope's metadata names no NetID matching the course's pattern (neither the email nor the SID)"


def _submitted_files(sub_dir: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(sub_dir, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if stat.S_ISREG(os.lstat(p).st_mode):
                out.append(p)
    return out


def collect(sub_dir: Path, work: Path, rubric, meta: dict) -> tuple[Path | None, list[str]]:
    """The zip to grade and notes for the student: the uploaded zip when it is the only file,
    else every uploaded file packed into `<netid>.zip` (paths kept), so the normal intake
    judges the names. (None, notes) when nothing was uploaded."""
    from grader.intake.locate import is_junk

    files = _submitted_files(sub_dir) if sub_dir.is_dir() else []
    own = [p for p in files if not is_junk(p.relative_to(sub_dir).as_posix(), rubric.ignore)]
    if not own:
        return None, ["No files were submitted."]
    if len(own) == 1 and own[0].suffix.lower() == ".zip":
        return own[0], [f"Graded the uploaded zip {own[0].name}."]
    netid, how = netid_from_metadata(meta, rubric.netid_pattern)
    notes = []
    if netid is None:
        netid = "unknown"
        notes.append(f"{how}: the files were packed as {netid}.zip, which the naming rule flags; "
                     "ask your instructor to check the naming penalty.")
    else:
        notes.append(f"The uploaded files were packed into {rubric.zip_pattern.format(netid=netid)} for grading ({how}).")
    target = work / rubric.zip_pattern.format(netid=netid)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            info = zipfile.ZipInfo(p.relative_to(sub_dir).as_posix(), date_time=time.localtime(max(os.lstat(p).st_mtime, 315532800))[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(p, "rb") as fh:
                zf.writestr(info, fh.read())
    return target, notes


def _results_failure(message: str, extra: dict) -> dict:
    from grader.report.gradescope import _md_line

    return {"score": 0.0, "output": "**The autograder could not grade this submission.**\n\n- " + _md_line(message),
            "output_format": "md", "extra_data": extra, "tests": []}


def _grader_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("dl-grader")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return None


def run(root: str | Path | None = None, rubric_dir: str | Path | None = None, *, isolation: str = "auto",
        cache: str | Path | None = None, hidden_visibility: str = "visible", log=print) -> int:
    """Grade ROOT/submission and write ROOT/results/results.json (always, even when the grader
    fails: then a zero score with the reason). 0: graded; 1: the grader could not grade."""
    from grader.fsutil import atomic_write_bytes

    root = root_dir(root)
    if not root.is_dir():
        raise UsageError(f"{root} does not exist: run this inside Gradescope's image, or pass --root (or set "
                         "AUTOGRADER_ROOT) to a folder laid out like /autograder (submission/, submission_metadata.json)")
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    meta = read_metadata(root)
    extra: dict = {"grader_version": _grader_version()}
    t0 = time.monotonic()
    try:
        out = _grade(root, rubric_dir, meta, extra, isolation, cache, hidden_visibility, log)
        code = 0
    except Exception as exc:  # the student gets a results.json saying so; the instructor the traceback
        log(traceback.format_exc())
        out = _results_failure(f"{type(exc).__name__}: {exc}"[:1500] + ". Tell your instructor; this is not your fault.", extra)
        out["execution_time"] = int(round(time.monotonic() - t0))
        code = 1
    atomic_write_bytes(results, (json.dumps(out, indent=2, allow_nan=False) + "\n").encode("utf-8", "replace"))
    log(f"results: {results} (score {out['score']:g})")
    return code


def _rubric_from_bundle(root: Path) -> Path:
    env = root / "source" / BUNDLE_ENV
    try:
        text = env.read_text(encoding="utf-8")
    except OSError:
        raise UsageError(f"no {env}: pass --rubric, or run inside a bundle built by `grader gradescope build`") from None
    m = re.search(r"^GRADER_RUBRIC=(.+)$", text, re.M)
    if not m:
        raise UsageError(f"{env} names no GRADER_RUBRIC; rebuild the bundle with `grader gradescope build`")
    return root / "source" / shlex.split(m.group(1))[0]


def _grade(root, rubric_dir, meta, extra, isolation, cache, hidden_visibility, log) -> dict:
    from grader.pipeline import Env, grade
    from grader.report.gradescope import _md_line, gradescope_results
    from grader.rubric import load_rubric

    rubric = load_rubric(rubric_dir or _rubric_from_bundle(root))
    with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as tmp:
        work = Path(tmp)
        src, notes = collect(root / "submission", work, rubric, meta)
        if src is None:
            extra["assignment"] = rubric.assignment
            return _results_failure(f"Nothing was uploaded. Upload {rubric.zip_pattern.format(netid='<netid>')} or the files "
                                    f"{', '.join(f.name for f in rubric.files)}.", extra)
        when = submission_time(meta)
        if when is not None:
            notes.append(f"Lateness was judged from Gradescope's submission time ({when.isoformat()}).")
        report = grade(src, Env(rubric=rubric, out_dir=work / "out", submitted_at=when, isolation=isolation,
                                exec_cache=Path(cache) if cache else None))
    out = gradescope_results(report, hidden_visibility, rubric.gradescope.leaderboard if rubric.gradescope else ())
    out["output"] = (out["output"] + "".join("\n\n- " + _md_line(n) for n in notes))[:8000]
    out["extra_data"].update({"submission_time_source": "gradescope created_at" if when else out["extra_data"]["submitted_at_source"],
                              "packed": len(notes) > 0 and src.parent == work})
    log(f"graded {src.name}: {report.score:g} / {report.max_score:g}, isolation {report.isolation_mode}")
    return out
