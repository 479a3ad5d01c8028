"""`grader batch`: the coordinator. THE place that lists a batch's stages and their order.

    discover -> plan -> grade -> publish -> class

Like grader.pipeline.grade, a batch is an ordered list of stages, each a function
(ClassState, Batch) -> ClassState over frozen data:

  discover  the submissions from their source (folders of <netid>.zip files, or zips),
            one Job per NetID with its content-hash key (NetID clashes resolved here)
  plan      against the manifest in OUT/.batch: for each job, reuse its recorded report
            (unchanged), hold it for a TA (clash), or grade it, and why (new, retried,
            re-judged with its executions reused, re-executed because execution changed)
  grade     the jobs to grade on the engine (Dask), each result cached + recorded in the
            manifest as it finishes
  publish   OUT/<netid>/ for every student (TA manual scores merged)
  class     the class outputs (gradebook.csv, junit.xml, cohort, class.md/html)

A source other than zips on disk (an LMS export) is another `discover`; a class format is
one more entry of grader.report.formats, written by `class`.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, TextIO

from grader.batch.crash import crash_report
from grader.batch.engine import dask_client, run_jobs
from grader.batch.manifest import Manifest, atomic_write_bytes, grader_version, job_key, rubric_hash, sha256_file
from grader.batch.manual import ManualScores, load_manual_scores
from grader.batch.progress import Progress
from grader import defaults
from grader.errors import UsageError

# Names the batch writes into OUT/<netid>/ itself; a check's extra files may not take them.
RESERVED = {"report.json", "feedback.md", "feedback.html", "results.json"}


@dataclass(frozen=True)
class Job:
    source: Path
    netid: str
    sha256: str
    key: str
    # other zips whose names give the same NetID (see plan()): never graded into this
    # NetID's folder; `held`: none of them is clearly the student's, a TA decides
    also: tuple[str, ...] = ()
    held: bool = False
    # what the source knows besides the zip: NetID, LMS time, deadline (grader.lms.sources.Provenance)
    provenance: object = None

    @property
    def name(self) -> str:
        return self.source.name


@dataclass(frozen=True)
class BatchResult:
    out_dir: Path
    total: int
    graded: int  # graded by this run
    skipped: int  # unchanged since an earlier run (same key in the manifest)
    failed: int  # the grader failed on them: a score-0 report with the reason
    netids: tuple[str, ...]
    seconds: float
    lms: dict | None = None  # the LMS files' summary (grader.lms.gradebooks.summary), with a roster


@dataclass(frozen=True)
class Decision:
    """What the plan does with one job, and why."""

    job: Job
    action: str  # reuse (same key recorded: publish the recorded report) | hold | grade
    reason: str  # unchanged | held | new | retry | rejudge | reexecute
    why: str = ""
    result: dict | None = None  # the recorded (reuse) or built (hold) result


@dataclass(frozen=True)
class Batch:
    """Everything a stage may read that is not the class's data."""

    inputs: tuple
    out_dir: Path
    rubric: object
    rubric_digest: str
    version: str
    isolation: str = "auto"
    workers: int = defaults.BATCH_WORKERS_FALLBACK
    scheduler: str | None = None
    jobs: int = 1
    manual: ManualScores | None = None
    similarity_threshold: float = defaults.SIMILARITY_THRESHOLD
    class_reports: bool = True
    job_fn: Callable[[dict], dict] | None = None
    job_timeout_s: float | None = None
    cache: bool = True  # executions and probe results under OUT/.batch (grader.batch.caches)
    sources: object = None  # LMS downloads, times, extensions, late days (grader.lms.sources.Options)
    lms: object = None  # --roster and the LMS names (grader.lms.gradebooks.LmsOptions)
    progress: Progress | None = field(default=None, compare=False)
    manifest: Manifest | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ClassState:
    jobs: tuple[Job, ...] = ()
    decisions: tuple[Decision, ...] = ()
    results: Mapping[str, dict] = field(default_factory=dict)  # job key -> result (report, code, files)
    graded: int = 0
    failed: int = 0
    summary: str = ""  # what the plan said it would do
    notes: tuple[str, ...] = ()  # what discover says about the sources (LMS downloads, unused extensions)
    lms: Mapping | None = None  # what the class stage wrote for the LMS (with a roster)


def discover(inputs: list[str | Path]) -> list[Path]:
    """Zips named on the command line, and the *.zip files directly inside named folders."""
    found: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() == ".zip"))
        elif p.is_file():
            found.append(p)
        else:
            raise UsageError(f"{p} does not exist; pass folders of <netid>.zip files or the zips themselves")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UsageError("no .zip files found in " + ", ".join(str(i) for i in inputs))
    return unique


def plan(zips: list, rubric, isolation: str) -> list[Job]:
    """One Job per NetID, keyed by content (see job_key), clashes resolved. `zips`: paths, or
    (path, Provenance or None) from grader.lms.sources.gather (its NetID and time in the key)."""
    from grader.intake import netid_from_zip_name

    rdigest, version = rubric_hash(rubric), grader_version()
    jobs = []
    zips = [z if isinstance(z, tuple) else (z, None) for z in zips]
    for z, prov in zips:
        netid = prov.netid if prov is not None else netid_from_zip_name(z, rubric)[0]
        digest = sha256_file(z)
        name = z.name if prov is None else f"{z.name}|{prov.key()}"
        jobs.append(Job(z, netid, digest, job_key(digest, name, rdigest, version, isolation), provenance=prov))
    by_netid: dict[str, list[Job]] = defaultdict(list)
    for j in jobs:
        by_netid[j.netid].append(j)
    out = []
    for netid, js in by_netid.items():
        if len(js) == 1:
            out.append(js[0])
            continue
        # Several zips name one NetID (a resubmission copied in twice, or a zip named with a
        # classmate's NetID). One student's files never stop the class, and none overwrites
        # another's report: the zip named exactly as the rubric asks is graded, with the
        # others named in its report; when no single zip is, the NetID gets one row with no
        # grade that a TA resolves.
        canonical = [j for j in js if j.name == rubric.zip_pattern.format(netid=netid)]
        names = tuple(sorted(j.name for j in js))
        if len(canonical) == 1:
            keep = canonical[0]
            also = tuple(n for n in names if n != keep.name)
            out.append(dataclasses.replace(keep, also=also, key=job_key(keep.sha256, "|".join((keep.name, *also)), rdigest, version, isolation)))
        else:
            first = min(js, key=lambda j: j.name)
            digest = hashlib.sha256("|".join(f"{j.name}:{j.sha256}" for j in sorted(js, key=lambda j: j.name)).encode()).hexdigest()
            out.append(dataclasses.replace(first, sha256=digest, also=names, held=True,
                                           key=job_key(digest, "|".join(names), rdigest, version, isolation)))
    return sorted(out, key=lambda j: [p for p, _ in zips].index(j.source))


def clash_note(job: Job) -> str:
    if job.held:
        return (f"{len(job.also)} zips give the NetID {job.netid} ({', '.join(job.also)}) and none is named exactly "
                f"as the rubric asks: not graded, so that no one's report overwrites another's. A TA finds out whose "
                f"each file is and regrades with one zip per student")
    return (f"other zips also give the NetID {job.netid} ({', '.join(job.also)}); this report grades {job.name}, "
            f"named as the rubric asks. The others were not graded: a TA finds out whose they are")


def held_report(rubric, job: Job, isolation: str) -> dict:
    """The row of a NetID that several zips claim, none clearly: no grade, the reason."""
    report = crash_report(rubric, job.source, job.netid, job.sha256, clash_note(job), "", isolation)
    report["findings"] = [{"code": "netid_clash", "message": clash_note(job), "severity": "error"}]
    report["submission"]["file"] = ", ".join(job.also)
    for item in report["items"]:
        if item["status"] == "error":
            item["feedback"] = "not graded: several zips give this NetID; a TA decides which is this student's"
    return report


def _with_clash_note(result: dict, job: Job) -> dict:
    if not job.also or job.held:
        return result
    report = dict(result["report"])
    report["findings"] = [*report.get("findings", []), {"code": "netid_clash", "message": clash_note(job), "severity": "warning"}]
    return {**result, "report": report}


def _summary(report: dict) -> str:
    crash = next((f for f in report.get("findings", []) if f.get("code") == "grader_crash"), None)
    if crash:
        return "NOT GRADED: " + crash["message"].split(". This is a fault")[0]
    return f"{report['score']:g}/{report['max_score']:g}"


def publish(out_dir: Path, netid: str, result: dict, manual: ManualScores | None) -> dict:
    """_publish() under the TA journal's publish lock (grader review may be writing this
    student's files from the journal at the same time)."""
    from grader.batch.ta_journal import publish_lock

    with publish_lock(out_dir):
        return _publish(out_dir, netid, result, manual)


def _publish(out_dir: Path, netid: str, result: dict, manual: ManualScores | None) -> dict:
    """Write OUT/<netid>/ from a cached job result: report.json with its artifacts, every
    student format (grader.report.formats), the check's extra files, the code for the
    similarity. Returns the published report's dict.

    The report dict came from a worker (or the cache): it is read through
    grader.untrusted.report_safe and loaded as a typed Report, so report.json is strict
    JSON and every format gets valid UTF-8, whatever the student's values put in it."""
    from grader.model import Report
    from grader.report.formats import Context, reserved_names, write_student_files
    from grader.untrusted import report_safe

    from grader.batch.ta_journal import apply_journal

    # TA decisions, from the sheet and from grader review's journal: the latest wins, all kept
    data = report_safe(apply_journal(result["report"], out_dir, manual))
    if not isinstance(data.get("items"), list) or data.get("netid") != netid or "score" not in data:
        raise ValueError("the worker's report is malformed")
    report = Report.from_dict(data, safe=True)
    d = Path(out_dir) / netid
    d.mkdir(parents=True, exist_ok=True)
    taken = reserved_names() | {a.file for a in report.artifacts if a.data is not None}  # written from the report
    for name, b64 in sorted((result.get("files") or {}).items()):
        if "/" in name or name.startswith(".") or name in taken:
            continue
        try:
            extra = base64.b64decode(b64, validate=True)
        except (ValueError, TypeError):
            continue
        atomic_write_bytes(d / name, extra)
    write_student_files(report, d, Context())  # the class step rewrites (and reports) what fails here
    code = {k: v for k, v in (result.get("code") or {}).items() if not k.startswith("__")}
    atomic_write_bytes(Path(out_dir) / ".batch" / "code" / f"{netid}.json", (json.dumps(code, sort_keys=True) + "\n").encode())
    return data


def publish_or_note(out_dir: Path, job: Job, result: dict, manual: ManualScores | None, rubric, isolation: str) -> dict:
    """publish(), and when that fails, a report saying so in the student's place: their
    gradebook row shows the reason, and the batch goes on with the next student."""
    import traceback

    from grader.untrusted import text

    try:
        return publish(out_dir, job.netid, _with_clash_note(result, job), manual)
    except Exception as exc:
        reason = f"the grader could not publish this report ({type(exc).__name__}: {text(exc, 300)})"
        note = crash_report(rubric, job.source, job.netid, job.sha256, reason, traceback.format_exc(), isolation)
        try:
            return publish(out_dir, job.netid, {"report": note, "code": {}, "files": {}}, None)
        except Exception:  # not even that could be written (disk full?): the batch still goes on
            return note


# Measured on a 2-core machine (bench/bench.py figure e): re-judging one submission from
# the caches takes ~2.5 s, starting a LocalCluster and importing torch in its workers ~4 s.
REJUDGE_S, CLUSTER_START_S = 2.5, 4.0

# Checks and probes after the notebooks: generous (the probes have their own limits).
CHECKS_ALLOWANCE_S = 600.0


def default_job_timeout(rubric) -> float:
    """Every notebook at its budget (the rubric's fixed deadline, or its budget calibrated on
    this machine) plus a cut's interrupt and exports, one after the other, plus the checks:
    a grading that takes longer is stuck, not slow. Measures the calibration benchmark here,
    once, before any worker grades (they then read it from the cache file)."""
    from grader.execute.budget import notebook_allowance

    return sum(notebook_allowance(nb) for nb in rubric.notebooks) + CHECKS_ALLOWANCE_S


# -- the stages -------------------------------------------------------------------------------

def stage_discover(state: ClassState, batch: Batch) -> ClassState:
    from grader.lms.sources import Options, gather

    found, notes = gather(list(batch.inputs), batch.rubric, batch.sources or Options(), batch.out_dir)
    return dataclasses.replace(state, jobs=tuple(plan(found, batch.rubric, batch.isolation)), notes=tuple(notes))


def stage_plan(state: ClassState, batch: Batch) -> ClassState:
    from grader.batch import caches

    manifest = batch.manifest
    assert manifest is not None
    latest = manifest.latest()
    facts = caches.rubric_facts(batch.rubric, batch.isolation, batch.version)
    caches.save_facts(manifest.dir, batch.rubric_digest, facts)
    previous = caches.previous_gradings(manifest)
    decisions = []
    for j in state.jobs:
        done = manifest.load_done(latest.get(j.key))
        if done is not None:
            decisions.append(Decision(j, "reuse", "unchanged", "graded before with this rubric", done))
        elif j.held:
            decisions.append(Decision(j, "hold", "held", clash_note(j),
                                      {"report": held_report(batch.rubric, j, batch.isolation), "code": {}, "files": {}}))
        else:
            reason, why = caches.why_grade(j, latest.get(j.key), previous, facts, manifest.dir, batch.cache)
            decisions.append(Decision(j, "grade", reason, why))
    summary = caches.describe_plan(decisions, batch.cache)
    return dataclasses.replace(state, decisions=tuple(decisions), summary=summary,
                               results={d.job.key: d.result for d in decisions if d.result is not None})


def _payload(job: Job, batch: Batch) -> dict:
    from grader.batch import caches

    payload = {"path": str(job.source), "name": job.name, "rubric_dir": str(Path(batch.rubric.directory).resolve()),
               "rubric_hash": batch.rubric_digest, "isolation": batch.isolation, "jobs": batch.jobs}
    if job.provenance is not None:
        payload["provenance"] = job.provenance.to_dict()
    if batch.scheduler:  # remote workers need not share our filesystem (nor our caches)
        payload["data"] = job.source.read_bytes()
    elif batch.cache:
        payload["exec_cache"] = str(caches.exec_dir(batch.out_dir))
        payload["probe_cache"] = str(caches.probe_dir(batch.out_dir))
        payload["judge_cache"] = str(caches.judge_dir(batch.out_dir))
        payload["code_cache"] = str(caches.code_dir(batch.out_dir))
    return payload


def stage_grade(state: ClassState, batch: Batch) -> ClassState:
    from grader.batch.worker import grade_job

    todo = [d.job for d in state.decisions if d.action == "grade"]
    manifest, progress = batch.manifest, batch.progress
    results = dict(state.results)
    failed = 0
    if not todo:
        return state
    by_netid = {j.netid: j for j in todo}

    def on_done(netid: str, outcome: dict) -> None:
        nonlocal failed
        job = by_netid[netid]
        if outcome.get("ok"):
            result, status = {"report": outcome["report"], "code": outcome.get("code", {}),
                              "files": outcome.get("files", {})}, "graded"
        else:
            failed += 1
            result, status = {"report": crash_report(batch.rubric, job.source, job.netid, job.sha256,
                                                     outcome.get("error", "unknown failure"), outcome.get("traceback", ""),
                                                     batch.isolation, outcome.get("seconds", 0.0)),
                              "code": {}, "files": {}}, "crashed"
        try:
            manifest.record(job.key, status, job.netid, job.name, result, source=str(job.source),
                            zip_sha256=job.sha256, rubric_hash=batch.rubric_digest, grader_version=batch.version,
                            isolation=batch.isolation, worker=outcome.get("worker", ""), seconds=outcome.get("seconds"),
                            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        except Exception:  # not cached: graded again by the next run; published all the same
            pass
        results[job.key] = result
        if progress is not None:
            progress.job_done(job.netid, _summary(result["report"]), status != "graded")

    payloads = [(j.netid, _payload(j, batch)) for j in todo]
    rejudge_only = all(d.reason == "rejudge" for d in state.decisions if d.action == "grade")
    serial_s = len(todo) * REJUDGE_S * (1 - 1 / max(1, batch.workers))  # what the workers would save
    if batch.scheduler is None and batch.job_fn is None and batch.cache and rejudge_only and serial_s < CLUSTER_START_S:
        # Only re-judging (every notebook's execution is cached): no student code runs in
        # the kernel again, and a probe whose inputs changed still runs in its sandbox with
        # its own limits. For a few submissions starting a cluster costs more than the work:
        # grade here, one after the other (the caches' hit counters are per process), with
        # the rubric loaded above (its digest is the jobs' key: the same files).
        from grader.batch.worker import keep_rubric

        if payloads:
            keep_rubric(payloads[0][1]["rubric_dir"], batch.rubric_digest, batch.rubric)
        for netid, payload in payloads:
            on_done(netid, grade_job(payload))
        return dataclasses.replace(state, results=results, graded=len(todo), failed=failed)
    default_limit = default_job_timeout(batch.rubric)  # before the workers start: measures the benchmark once
    with dask_client(batch.workers, batch.scheduler) as client:
        limit = default_limit if batch.job_timeout_s is None else batch.job_timeout_s
        run_jobs(client, batch.job_fn or grade_job, payloads, on_done, time_limit_s=limit or None)
    return dataclasses.replace(state, results=results, graded=len(todo), failed=failed)


def stage_publish(state: ClassState, batch: Batch) -> ClassState:
    for d in state.decisions:
        publish_or_note(batch.out_dir, d.job, state.results[d.job.key], batch.manual, batch.rubric, batch.isolation)
    return state


def stage_class(state: ClassState, batch: Batch) -> ClassState:
    if batch.class_reports:
        from grader.batch.publish import write_class_reports

        written = write_class_reports(batch.out_dir, rubric=batch.rubric, similarity_threshold=batch.similarity_threshold,
                                      lms=batch.lms)
        return dataclasses.replace(state, lms=written.get("lms"))
    return state


STAGES: tuple[tuple[str, Callable[[ClassState, Batch], ClassState]], ...] = (
    ("discover", stage_discover),
    ("plan", stage_plan),
    ("grade", stage_grade),
    ("publish", stage_publish),
    ("class", stage_class),
)


def run_batch(inputs: list[str | Path], out_dir: str | Path, rubric_dir: str | Path, *, workers: int = defaults.BATCH_WORKERS_FALLBACK,
              scheduler: str | None = None, isolation: str = "auto", jobs: int = 1,
              manual_scores: str | Path | None = None, similarity_threshold: float = defaults.SIMILARITY_THRESHOLD,
              class_reports: bool = True, stream: TextIO | None = None, tty: bool | None = None,
              job_fn: Callable[[dict], dict] | None = None, job_timeout_s: float | None = None,
              cache: bool = True, clear_cache: bool = False, sources=None, lms=None) -> BatchResult:
    """Grade every zip in `inputs` into `out_dir` through STAGES; resumable; see grader.batch.

    `job_timeout_s`: wall-clock limit per submission; None: default_job_timeout(rubric), 0: none.
    `cache`: keep executions and probe results under OUT/.batch (a regrade after a rubric
    change re-executes only what the change affects); `clear_cache`: empty them first.
    `lms`: grader.lms.gradebooks.LmsOptions (--roster and the LMS names), checked before grading."""
    from grader.batch import caches
    from grader.rubric import load_rubric

    t0 = time.monotonic()
    out_dir = Path(out_dir).resolve()
    rubric = load_rubric(rubric_dir)
    if lms is not None:  # a bad roster or name fails now, not after the grading
        from grader.lms.gradebooks import check_options
        from grader.lms.roster import load_roster

        lms = check_options(lms)
        if lms.roster:
            load_roster(lms.roster)
    batch = Batch(tuple(inputs), out_dir, rubric, rubric_hash(rubric), grader_version(), isolation, workers, scheduler,
                  jobs, None, similarity_threshold, class_reports, job_fn, job_timeout_s, cache, lms=lms)
    batch = dataclasses.replace(batch, sources=sources)  # grader.lms.sources.Options: LMS downloads, times, deadlines
    state = stage_discover(ClassState(), batch)  # before OUT is touched: bad inputs change nothing
    if manual_scores:
        batch = dataclasses.replace(batch, manual=load_manual_scores(manual_scores, rubric, {j.netid for j in state.jobs}))
    manifest = Manifest(out_dir)
    manifest.lock()
    try:
        if clear_cache:
            caches.clear(out_dir)
        batch = dataclasses.replace(batch, manifest=manifest)
        state = stage_plan(state, batch)
        n_graded = sum(d.action == "grade" for d in state.decisions)
        progress = Progress(len(state.jobs), len(state.jobs) - n_graded, stream=stream, tty=tty)
        progress.note(state.summary)
        for note in state.notes:
            progress.note(note)
        progress.start()
        batch = dataclasses.replace(batch, progress=progress)
        for name, stage in STAGES[2:]:
            state = stage(state, batch)
            if name == "publish":
                progress.finish()
    finally:
        manifest.unlock()
    return BatchResult(out_dir, len(state.jobs), state.graded, len(state.jobs) - state.graded, state.failed,
                       tuple(j.netid for j in state.jobs), round(time.monotonic() - t0, 3), state.lms)
