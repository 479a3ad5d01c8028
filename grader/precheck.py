"""`grader check`: a student's own check before submitting.

It takes what the student would submit (their `<netid>.zip`, or a folder with the notebooks
and the PDF, packed the way the course asks) through the grader's own stages: the intake
(naming, zip layout, the lateness if submitted now), the same preparation, sandbox and
executor as the grading (every notebook run top to bottom, with the same instrumentation,
so an execution cache shared with grading holds for both), then the checks of the rubric's
PUBLIC items only. Hidden items are never run here and nothing of them is shown: not
their names, not their inputs, not their expected values. TA-graded items are left out.

It prints "ready to submit", or each problem with the penalty it would cost, computed by
the same intake and scoring rules that grade the submission (nothing is re-implemented).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat
import tempfile
import zipfile
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError
from grader.model import Report
from grader.rubric.model import Rubric

READY = "ready to submit"
MAX_FEEDBACK_LINES = 30  # of a public item's feedback


def public_rubric(rubric: Rubric) -> Rubric:
    """The rubric with its hidden items and its TA-graded items removed."""
    nbs = tuple(dataclasses.replace(nb, items=tuple(i for i in nb.items if i.visibility != "hidden" and not i.by_ta))
                for nb in rubric.notebooks)
    return dataclasses.replace(rubric, notebooks=nbs, manual=())


def hidden_items(rubric: Rubric):
    return tuple(i for i in rubric.items if i.visibility == "hidden")


def pack_folder(folder: Path, netid: str, rubric: Rubric, work: Path) -> Path:
    """The folder's regular files (paths kept, links skipped) in `<netid>.zip`: what the
    student would upload after zipping the folder's contents."""
    target = work / rubric.zip_pattern.format(netid=netid)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if stat.S_ISREG(os.lstat(p).st_mode):
                    zf.write(p, p.relative_to(folder).as_posix())
    return target


def _folder_netid(folder: Path, netid: str | None, rubric: Rubric) -> str:
    import re

    rx = re.compile(rubric.netid_pattern)
    if netid:
        if not rx.fullmatch(netid):
            raise UsageError(f"--netid {netid!r} does not look like a NetID (the course's pattern is {rubric.netid_pattern})")
        return netid
    if rx.fullmatch(folder.resolve().name):
        return folder.resolve().name
    raise UsageError(f"{folder} is a folder: pass --netid <your NetID> so the check can name the zip "
                     f"({rubric.zip_pattern.format(netid='<netid>')}) the way you will submit it")


def run_public(source: Path, rubric: Rubric, *, submitted_at: dt.datetime, isolation: str = "auto",
               cache: Path | None = None, jobs: int | None = None, progress=None) -> Report:
    """The grading pipeline's stages (grader.pipeline.STAGES, in their order, the report
    files aside) on `source`: intake through extract with the whole rubric (the same
    execution as when graded), check and score with its public items only."""
    from grader import defaults, pipeline

    full = pipeline.Env(rubric=rubric, out_dir=Path(tempfile.gettempdir()) / "grader-check-out", submitted_at=submitted_at,
                        isolation=isolation, jobs=jobs or defaults.run_jobs(), progress=progress, exec_cache=cache)
    public = dataclasses.replace(full, rubric=public_rubric(rubric))
    return pipeline.grade(Path(source), full, env_for=lambda stage: public if stage in ("check", "score") else full,
                          skip=("report",))


@dataclass(frozen=True)
class Precheck:
    ready: bool
    problems: tuple[str, ...]  # each with the penalty it would cost
    lines: tuple[str, ...]  # everything printed, in order
    report: Report  # of the public items only

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    """A line that names a hidden item (its id, title or any text the rubric gives it) is withheld."""
    return "(withheld: it concerns a hidden check)" if any(s and s in text for s in secrets) else text


def check(source: str | Path, rubric: Rubric, *, netid: str | None = None, now: dt.datetime | None = None,
          isolation: str = "auto", cache: str | Path | None = None, progress=None) -> Precheck:
    from grader.report.view import num, student_view

    source = Path(source)
    if not source.exists():
        raise UsageError(f"{source} does not exist; pass your {rubric.zip_pattern.format(netid='<netid>')} or the folder with your files")
    now = now or dt.datetime.now(zoneinfo.ZoneInfo(rubric.timezone))
    secrets = tuple(s for i in hidden_items(rubric) for s in (i.id, i.title, i.feedback) if s)
    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp:
        if source.is_dir():
            nid = _folder_netid(source, netid, rubric)
            zip_path = pack_folder(source, nid, rubric, Path(tmp))
            head = f"checking the folder {source} as {zip_path.name} (packed the way you would zip it)"
        else:
            zip_path = source
            head = f"checking {source.name}"
        # The content is judged as if submitted in time (so a late check still runs everything);
        # the lateness of a submission made now is judged by the intake's own rule, below.
        report = run_public(zip_path, rubric, submitted_at=min(now, rubric.deadline), isolation=isolation,
                            cache=Path(cache) if cache else None, progress=progress)
    from grader.intake import _late_rules

    late, _, _ = _late_rules(now, rubric)
    v = student_view(report)
    lines = [f"{head} for {rubric.assignment} (deadline {rubric.deadline.isoformat()}, now {now.isoformat(timespec='minutes')})"]
    lines.append(f"isolation: {report.isolation_mode} (the grader's own sandbox and executor)")
    lines.append("notebooks:")
    for nb in v.notebooks:
        lines.append(f"  {nb.notebook}: {nb.summary}")
        lines += [f"    {n}" for n in nb.notes]
    lines.append(f"public checks ({len(v.items)}; hidden checks and TA-graded questions are not run here):")
    for i in v.items:
        lines.append(f"  [{i.status}] {i.title} ({i.id}): {num(i.score)} / {num(i.max_score)}")
        if i.status != "passed":
            fb = i.feedback.splitlines()
            lines += [f"      {line}" for line in fb[:MAX_FEEDBACK_LINES]]
            if len(fb) > MAX_FEEDBACK_LINES:
                lines.append(f"      ... ({len(fb) - MAX_FEEDBACK_LINES} more lines)")
    failing = [i for i in v.items if i.status != "passed"]
    left = rubric.deadline - now
    lines.append(f"lateness: on time if submitted now ({left.total_seconds() / 3600:.1f} h before the deadline)" if not late
                 else f"lateness: if submitted now, {late[0].rule}")
    problems = []
    for p in (*report.penalties, *late):
        problems.append(f"{p.rule}: {p.reason} -> would cost {num(p.percent)} % of the score")
    if report.crash_reason and not report.penalties:
        problems.append(f"not graded: {report.crash_reason}")
    shown = [f for f in report.findings if f.severity in ("error", "warning")]
    if shown:
        lines.append("about your files:")
        lines += [f"  {f.severity}: {f.message}" for f in shown]
    if problems:
        lines.append(f"{len(problems)} problem(s) to fix before submitting:")
        lines += [f"  - {p}" for p in problems]
        lines.append("NOT ready to submit")
    else:
        if failing:
            lines.append(f"{len(failing)} public check(s) did not pass: they cost their points, not a penalty")
        lines.append(READY)
    lines = [_scrub(line, secrets) for line in lines]
    return Precheck(not problems, tuple(_scrub(p, secrets) for p in problems), tuple(lines), report)
