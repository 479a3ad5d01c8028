"""The grading pipeline. THE place that lists the stages and their order.

    intake -> prepare -> execute -> extract -> check -> score -> report

`prepare` makes, once, the source that both the kernel runs and the extraction (so every
probe) reads: the notebook normalised to plain code cells, environment-only lines skipped
or rewritten (grader/execute/prepare.py). From there on `State.notebooks` holds these
prepared notebooks (the submitted ones stay in `State.submitted_notebooks`).

Each stage is a function (State, Env) -> State over frozen data. A stage that raises does
not stop grading: the error becomes a finding, the remaining stages still run, and every
submission ends with a report.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import shutil
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader import environment, score
from grader.checks import registry
from grader.checks._judged import JudgeCache
from grader.checks.base import CheckResult
from grader.checks.context import CheckContext
from grader.childenv import single_threaded_torch
from grader.execute import ProgressFn, run_notebook
from grader.execute.cache import ExecCache
from grader.extract import extract, notebook_code_cells, tamper
from grader.intake import intake, read_notebook
from grader.model import Finding, ItemResult, NotebookRun, Report, Submission
from grader.probe import Prober
from grader.sandbox import detach_quotas
from grader.rubric.model import ItemSpec, Rubric


@dataclass(frozen=True)
class Env:
    """Everything a stage may read that is not the submission itself."""

    rubric: Rubric
    out_dir: Path
    submitted_at: dt.datetime | None = None
    isolation: str = "auto"  # auto | bwrap | rlimits | none
    jobs: int = 2
    progress: ProgressFn | None = None
    keep_scratch: bool = False
    scratch_root: Path | None = None
    execute: bool = True  # False only for `grader validate` mutants: grade extracted code alone
    only_notebooks: tuple[str, ...] | None = None  # grade only these notebooks (validate's mutants)
    exec_cache: Path | None = None  # content-hash cache of notebook executions (see grader/execute/cache.py)
    provenance: Any = None  # a batch's NetID, LMS time and deadline for this zip (grader.lms.sources.Provenance)
    probe_cache: Path | None = None  # content-hash cache of probe results (grader/probe/cache.py)
    judge_cache: Path | None = None  # values the checks compute from exports (grader/checks/_judged.py)
    write_reports: bool = True  # False in a batch's worker: the coordinator publishes every file from the report
    reference_cache: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class State:
    source: Path
    job_dir: Path
    isolation: dict
    started: float
    submission: Submission | None = None
    notebooks: dict = field(default_factory=dict)  # expected name -> NotebookNode | None (prepared, after `prepare`)
    submitted_notebooks: dict = field(default_factory=dict)  # expected name -> the notebook as submitted
    prepared: dict = field(default_factory=dict)  # expected name -> grader.execute.prepare.Prepared
    notebook_labels: dict = field(default_factory=dict)  # expected name -> name in the zip
    runs: tuple[NotebookRun, ...] = ()
    extractions: dict = field(default_factory=dict)  # expected name -> Extraction
    items: tuple[ItemResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    report: Report | None = None
    student_env: Any = None  # grader.studentenv.StudentEnv, or None: the grader's interpreter


def stage_intake(state: State, env: Env) -> State:
    sub = intake(state.source, env.rubric, state.job_dir, env.submitted_at, env.provenance)
    notebooks, labels, findings = {}, {}, []
    for spec in env.rubric.files:
        if spec.kind != "notebook":
            continue
        found = sub.files.get(spec.name)
        if found is None or not sub.accepted:
            notebooks[spec.name] = None
            continue
        nb, nb_findings = read_notebook(found.path, found.name_in_zip)
        notebooks[spec.name] = nb
        labels[spec.name] = found.name_in_zip
        findings.extend(nb_findings)
    return dataclasses.replace(state, submission=sub, notebooks=notebooks, notebook_labels=labels,
                               findings=state.findings + tuple(findings))


def _instrumentation(spec) -> tuple[list, list]:
    """Each recording's prologue and epilogue, run as separate hidden cells so one failing
    export does not cost the other items theirs: [(recording key, code), ...] twice. Keyed
    by what is recorded, not by item (grader/checks/_exports.recording_key): items that
    record the same thing share one recording, and the execution's cache key holds no
    item id or notebook name."""
    pro, epi, seen = [], [], set()
    for item in spec.items:
        ins = registry.get(item.kind).instrument(item)
        if ins is None or ins.key in seen:
            continue
        if not ins.key:
            raise ValueError(f"{item.kind}: its Instrumentation has no key (grader/checks/_exports.recording_key)")
        seen.add(ins.key)
        if ins.prologue.strip():
            pro.append((ins.key, ins.prologue))
        if ins.epilogue.strip():
            epi.append((ins.key, ins.epilogue))
    return pro, epi


def hidden_dirs(state: State, env: Env) -> tuple[str, ...]:
    """Grader-side places student code must not see: the rubric (and its reference
    support files), every report, the folder of submissions, the scratch root."""
    dirs = {env.rubric.directory, *env.rubric.bases, env.rubric.support_dir, Path(env.out_dir).resolve(),
            Path(state.source).resolve().parent, state.job_dir.parent}
    dirs |= {d.source for d in env.rubric.datasets}  # visible only through their read-only mounts
    return tuple(sorted(str(d) for d in dirs if d is not None))


def stage_prepare(state: State, env: Env) -> State:
    """The one prepared source per notebook (grader/execute/prepare.py), for the kernel AND
    the extraction. Content that cannot be prepared is the notebook's: it is `invalid`
    (the executor gets nothing to run, the not-executable penalty applies, the message
    says what to fix), never a grader error.

    The items of an `invalid` notebook still run, on its prepared code cells (those that
    are text): an item grades a definition in a fresh probe process, which never depended
    on the kernel having run; the course charges a notebook that cannot be executed with
    the 20 % penalty, not with every item, as for a timeout or a dead kernel, whose
    definitions are graded too. What only the kernel can produce (trained models, the
    Section-8 curve) is simply not there: those items get nothing."""
    from grader import offline
    from grader.execute.prepare import Prepared, prepare_notebook

    mode = state.isolation.get("mode", "none")
    prepared, notebooks = {}, {}
    for spec in env.rubric.notebooks:
        nb = state.notebooks.get(spec.notebook)
        if nb is None:
            continue
        rules = offline.skip_rules(env.rubric.datasets, mode) + tuple(spec.execution.skip_cells)
        try:
            p = prepare_notebook(nb, rules)
        except Exception as exc:  # the notebook's content, whatever it is, could not be prepared
            import nbformat

            p = Prepared(nbformat.v4.new_notebook(), (), f"the grader could not read this notebook's cells "
                         f"({type(exc).__name__}: {str(exc)[:200]}); open it in Jupyter or Colab, run it top to "
                         "bottom and save it again")
        prepared[spec.notebook] = p
        notebooks[spec.notebook] = p.nb
    merged = {**state.notebooks, **notebooks}
    return dataclasses.replace(state, prepared=prepared, notebooks=merged,
                               submitted_notebooks=state.submitted_notebooks or dict(state.notebooks))


def _witness_findings(run: NotebookRun) -> list[Finding]:
    """What the executor's witness (grader/execute/executor.py, WITNESS_DOC) concluded."""
    out = []
    for h in run.instrumentation or ():
        if not isinstance(h, dict) or h.get("kind") != "witness" or "verdict" not in h:
            continue
        evidence = [str(e)[:300] for e in (h.get("evidence") or [])][:10]
        if h.get("verdict") == "tampered":
            out.extend(Finding("kernel_tampering", f"{run.notebook}: the grader's witness: {e}", "error") for e in evidence)
        elif h.get("verdict") == "unavailable":
            out.append(Finding("witness_unavailable", f"{run.notebook}: {'; '.join(evidence) or 'no witness'}; "
                               "the cells' outcomes rest on the kernel's replies alone", "warning"))
    return out


def stage_execute(state: State, env: Env) -> State:
    sub = state.submission
    mode = state.isolation.get("mode", "none")

    def one(spec) -> NotebookRun:
        nb = state.notebooks.get(spec.notebook)
        if sub is None or not sub.accepted:
            return NotebookRun(spec.notebook, "not_run", False, 0.0, 0, (), message=sub.rejection if sub else "")
        if spec.notebook not in sub.files:
            return NotebookRun(spec.notebook, "missing", False, 0.0, 0, (), message=f"{spec.notebook} is not in the submission")
        if nb is None:
            return NotebookRun(spec.notebook, "invalid", False, 0.0, 0, (), message=f"{spec.notebook} could not be read as a notebook")
        if not env.execute or (env.only_notebooks is not None and spec.notebook not in env.only_notebooks):
            return NotebookRun(spec.notebook, "not_run", False, 0.0, len(nb.cells), (), message="execution skipped (rubric validation)")
        prepared = state.prepared.get(spec.notebook)
        if prepared is not None and not prepared.valid:  # the student's content: not run, penalised
            return NotebookRun(spec.notebook, "invalid", False, 0.0, len(prepared.nb.cells), prepared.notes,
                               message=f"{spec.notebook}: {prepared.problem}")
        pro, epi = _instrumentation(spec)
        try:
            return run_notebook(nb, spec, state.job_dir, env.rubric.support_dir, mode, env.progress, pro, epi, cache,
                                hide=hidden_dirs(state, env), student_env=state.student_env, datasets=env.rubric.datasets,
                                prepared=prepared)
        except Exception as exc:  # the grader's own failure (the content was prepared and checked before): still a result
            return NotebookRun(spec.notebook, "executor_error", False, 0.0, len(nb.cells), (),
                               message=f"grader error while executing: {type(exc).__name__}: {exc}")

    cache = ExecCache(env.exec_cache) if env.exec_cache is not None else None
    specs = list(env.rubric.notebooks)
    with ThreadPoolExecutor(max_workers=max(1, min(env.jobs, len(specs)))) as pool:
        runs = tuple(pool.map(one, specs))
    findings = tuple(f for run in runs for f in _witness_findings(run))
    return dataclasses.replace(state, runs=runs, findings=state.findings + findings)


def stage_extract(state: State, env: Env) -> State:
    """Definitions by AST from the PREPARED cells (what the kernel ran: the same skipped and
    rewritten lines), and the tampering scan over the same cells."""
    out, findings = {}, []
    for spec in env.rubric.notebooks:
        prepared = state.prepared.get(spec.notebook)
        nb = state.notebooks.get(spec.notebook)
        if prepared is None and nb is None:
            continue
        cells = prepared.code_cells() if prepared is not None else notebook_code_cells(nb)
        ex = extract(cells)
        out[spec.notebook] = ex
        findings.extend(Finding("extract_problem", f"{spec.notebook}: {p}", "warning") for p in ex.problems)
        findings.extend(Finding("kernel_tampering", f"{spec.notebook}: {hit}", "error") for hit in tamper.scan(cells))
    return dataclasses.replace(state, extractions=out, findings=state.findings + tuple(findings))


def _item_result(item: ItemSpec, res: CheckResult, seconds: float) -> ItemResult:
    fraction = float(res.fraction) if res.status != "pending" else 0.0
    # NaN passes max(0, min(1, NaN)) as 1.0: full marks from a number no check meant
    fraction = max(0.0, min(1.0, fraction)) if math.isfinite(fraction) else 0.0
    return ItemResult(
        id=item.id, title=item.title, kind=item.kind, score=round(item.points * fraction, 4), max_score=item.points,
        status=res.status, feedback=(res.feedback or "") + (f"\n{item.feedback}" if item.feedback and res.status in ("failed", "error") else ""),
        visibility=item.visibility, part=item.part, evidence=res.evidence, seconds=round(seconds, 3),
        extra_credit=item.extra_credit,
    )


def stage_check(state: State, env: Env) -> State:
    single_threaded_torch()  # beside kernels and probes, a second thread only spin-waits
    sub = state.submission
    results: list[ItemResult] = []
    runs = {r.notebook: r for r in state.runs}
    mode = state.isolation.get("mode", "none")
    senv = state.student_env
    prober = Prober(state.job_dir / "probes", isolation=mode, hide=hidden_dirs(state, env),
                    python=senv.python if senv else None, binds=senv.binds if senv else (), cache_dir=env.probe_cache)
    judged = JudgeCache(env.judge_cache) if env.judge_cache is not None else None
    try:
        for spec in env.rubric.notebooks:
            ctx = CheckContext(spec, state.notebook_labels.get(spec.notebook, spec.notebook), state.extractions.get(spec.notebook),
                               runs.get(spec.notebook), prober, state.job_dir, env.reference_cache,
                               submitted=state.submitted_notebooks.get(spec.notebook), judge_cache=judged)
            for item in spec.items:
                if env.only_notebooks is not None and spec.notebook not in env.only_notebooks:
                    results.append(_item_result(item, CheckResult(0.0, "skipped", "not graded in this run"), 0.0))
                    continue
                results.append(_check_one(item, ctx, sub))
    finally:
        prober.close()
    for item in env.rubric.manual:
        results.append(_item_result(item, CheckResult(0.0, "pending", "graded by a TA; pending"), 0.0))
    return dataclasses.replace(state, items=tuple(results))


def _check_one(item: ItemSpec, ctx: CheckContext, sub: Submission | None) -> ItemResult:
    t0 = time.monotonic()
    if item.by_ta:  # pending; the kind may gather evidence for the TA (never a score)
        try:
            res = registry.get(item.kind).run(ctx, item) if sub is not None and sub.accepted else None
        except Exception:  # evidence is a help, never a reason to lose the item
            res = None
        res = res if res is not None and res.status == "pending" else CheckResult(0.0, "pending", "graded by a TA; pending")
    elif sub is None or not sub.accepted:
        res = CheckResult(0.0, "skipped", f"not graded: {sub.rejection if sub else 'no submission'}")
    elif ctx.extraction is None:
        res = CheckResult(0.0, "failed", f"{ctx.notebook.notebook} is missing or could not be read")
    else:
        try:
            res = registry.get(item.kind).run(ctx, item)
        except Exception as exc:  # a bug in a check must not cost the rest of the report
            res = CheckResult.error(f"grader error in check {item.kind!r}: {type(exc).__name__}: {exc}",
                                    traceback=traceback.format_exc()[-2000:])
    return _item_result(item, res, time.monotonic() - t0)


def stage_score(state: State, env: Env) -> State:
    sub = state.submission
    penalties = list(sub.penalties) if sub else []
    if sub is not None and sub.accepted:
        tampering = [f.message for f in state.findings if f.code == "kernel_tampering"]
        penalties += score.execution_penalty(list(state.runs), env.rubric, tampering, state.notebooks)
    raw, final = score.total(list(state.items), penalties, env.rubric.max_score, env.rubric.extra_credit_cap)
    findings = (sub.findings if sub else ()) + state.findings
    if sub is not None and sub.accepted:
        findings += tuple(Finding("environment_error", f"not the student's fault (grading environment), no penalty: {why}", "info")
                          for why in score.environment_errors(list(state.runs), env.rubric, state.notebooks))
    report = Report(
        netid=sub.netid if sub else state.source.stem,
        assignment=env.rubric.assignment,
        score=final,
        max_score=env.rubric.max_score,
        raw_score=round(raw, 4),
        penalties=tuple(penalties),
        items=state.items,
        notebooks=state.runs,
        findings=findings,
        submission={
            "file": state.source.name,
            "sha256": sub.sha256 if sub else None,
            "submitted_at": sub.submitted_at.isoformat() if sub and sub.submitted_at else None,
            "submitted_at_source": sub.submitted_at_source if sub else "unknown",
            "deadline": (sub.deadline if sub and sub.deadline else env.rubric.deadline).isoformat(),
            "deadline_rule": sub.deadline_rule if sub else "",
            "time_flag": sub.time_flag if sub else "",
            "accepted": sub.accepted if sub else False,
            "rejection": sub.rejection if sub else "",
            "files": {k: {"name_in_zip": v.name_in_zip, "exact_name": v.exact} for k, v in (sub.files if sub else {}).items()},
        },
        environment=environment.describe(env.rubric, state.isolation, state.student_env),
        graded_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - state.started, 3),
        extra_credit=score.extra_credit_points(list(state.items), env.rubric.extra_credit_cap),
        extra_credit_cap=env.rubric.extra_credit_cap,
    )
    return dataclasses.replace(state, report=report)


def stage_report(state: State, env: Env) -> State:
    from grader.report import write_reports

    assert state.report is not None
    if env.write_reports:
        write_reports(state.report, env.out_dir)
    return state


MAX_SCRATCH_CHARS = 40

STAGES: tuple[tuple[str, Callable[[State, Env], State]], ...] = (
    ("intake", stage_intake),
    ("prepare", stage_prepare),
    ("execute", stage_execute),
    ("extract", stage_extract),
    ("check", stage_check),
    ("score", stage_score),
    ("report", stage_report),
)


OWNER_FILE = ".owner"  # "<pid> <process start time>" of the grader using a job dir


def _process_identity(pid: int) -> str | None:
    """pid plus its start time (so a reused pid does not look like the owner)."""
    from grader.procstat import ppid_and_start

    info = ppid_and_start(pid)
    return None if info is None else f"{pid} {info[1]}"


def sweep_stale_jobs(scratch_root: Path) -> list[Path]:
    """Remove job dirs whose grader died without cleaning up (SIGKILL, a killed batch
    worker): their quota mounts are detached and the files deleted. Dirs of live graders
    and dirs kept on purpose (--keep-scratch: no owner file) are left alone."""
    removed = []
    for d in Path(scratch_root).glob("grader-*"):
        try:
            owner = (d / OWNER_FILE).read_text().strip()
            pid = int(owner.split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if _process_identity(pid) == owner:
            continue
        detach_quotas(d)
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def _with_student_env(state: State, env: Env) -> State:
    """The rubric's student environment, built on first use; when it cannot be had, the
    grader's own interpreter runs the notebooks and the report says why."""
    from grader import studentenv

    senv, problem = studentenv.resolve(env.rubric.environment)
    state = dataclasses.replace(state, student_env=senv)
    if problem:
        state = dataclasses.replace(state, findings=state.findings + (Finding(
            "environment_unavailable", f"{problem}; the notebooks ran in the grader's own Python environment "
            "instead, which may lack packages the course had (errors they cause are not penalised)", "warning"),))
    return state


def grade(source: Path, env: Env, *, env_for: Callable[[str], Env] | None = None, skip: tuple[str, ...] = ()) -> Report:
    """Grade one submission through every stage; always returns a Report.

    `env_for(stage name)`: the Env that stage runs with (default: `env` for every stage;
    the students' pre-check checks and scores with the public items only); `skip`: stages
    not run (the pre-check writes no report files)."""
    scratch_root = env.scratch_root or Path(tempfile.gettempdir())
    if len(str(scratch_root.resolve())) > MAX_SCRATCH_CHARS:
        # Kernel sockets live in the job's work dir and a Unix socket path has a 107-byte
        # limit: a long scratch root would make every kernel fail to start.
        scratch_root = Path("/tmp/grader-scratch")
    scratch_root.mkdir(parents=True, exist_ok=True)
    sweep_stale_jobs(scratch_root)
    job_dir = Path(tempfile.mkdtemp(prefix="grader-", dir=scratch_root))
    os.chmod(job_dir, 0o711)
    (job_dir / OWNER_FILE).write_text((_process_identity(os.getpid()) or str(os.getpid())) + "\n")
    state = State(source=Path(source), job_dir=job_dir, isolation=environment.isolation(env.isolation), started=time.monotonic())
    state = _with_student_env(state, env)
    try:
        for name, stage in STAGES:
            if name in skip:
                continue
            try:
                state = stage(state, env_for(name) if env_for is not None else env)
            except Exception as exc:
                state = dataclasses.replace(state, findings=state.findings + (
                    Finding("internal_error", f"the {name} stage failed: {type(exc).__name__}: {exc}", "error"),))
                if name == "score":
                    raise
        assert state.report is not None
        return state.report
    finally:
        detach_quotas(job_dir)  # nothing of a crashed job stays mounted
        if not env.keep_scratch:
            shutil.rmtree(job_dir, ignore_errors=True)
        else:  # kept on purpose: not for sweep_stale_jobs
            (job_dir / OWNER_FILE).unlink(missing_ok=True)
