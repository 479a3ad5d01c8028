"""`grader batch`: the coordinator. Decides what to grade, runs it, records and publishes.

The order of one batch, in one place:

    discover -> key (content hashes) -> validate TA sheet -> lock OUT -> skip done jobs
      -> grade the rest on Dask (as each finishes: cache + manifest line + publish)
      -> publish everything (TA scores merged) -> class reports
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from grader.batch.crash import crash_report
from grader.batch.engine import dask_client, run_jobs
from grader.batch.manifest import Manifest, atomic_write_bytes, grader_version, job_key, rubric_hash, sha256_file
from grader.batch.manual import ManualScores, load_manual_scores, merge_manual
from grader.batch.progress import Progress
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


def plan(zips: list[Path], rubric, isolation: str) -> list[Job]:
    from grader.intake import netid_from_zip_name

    rdigest, version = rubric_hash(rubric), grader_version()
    jobs = []
    for z in zips:
        netid, _ = netid_from_zip_name(z, rubric)
        digest = sha256_file(z)
        jobs.append(Job(z, netid, digest, job_key(digest, z.name, rdigest, version, isolation)))
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
    return sorted(out, key=lambda j: [p.name for p in zips].index(j.name))


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
    """Write OUT/<netid>/ from a cached job result: report.json with its artifacts, every
    student format (grader.report.formats), the check's extra files, the code for the
    similarity. Returns the published report's dict.

    The report dict came from a worker (or the cache): it is read through
    grader.untrusted.report_safe and loaded as a typed Report, so report.json is strict
    JSON and every format gets valid UTF-8, whatever the student's values put in it."""
    from grader.model import Report
    from grader.report.formats import Context, reserved_names, write_student_files
    from grader.untrusted import report_safe

    data = result["report"]
    if manual is not None:
        data = merge_manual(data, manual.for_netid(netid))
    data = report_safe(data)
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


# Checks and probes after the notebooks: generous (the probes have their own limits).
CHECKS_ALLOWANCE_S = 600.0


def default_job_timeout(rubric) -> float:
    """Every notebook at its budget (the rubric's fixed deadline, or its budget calibrated on
    this machine) plus a cut's interrupt and exports, one after the other, plus the checks:
    a grading that takes longer is stuck, not slow. Measures the calibration benchmark here,
    once, before any worker grades (they then read it from the cache file)."""
    from grader.execute.budget import notebook_allowance

    return sum(notebook_allowance(nb) for nb in rubric.notebooks) + CHECKS_ALLOWANCE_S


def run_batch(inputs: list[str | Path], out_dir: str | Path, rubric_dir: str | Path, *, workers: int = 2,
              scheduler: str | None = None, isolation: str = "auto", jobs: int = 1,
              manual_scores: str | Path | None = None, similarity_threshold: float = 0.8,
              class_reports: bool = True, stream: TextIO | None = None, tty: bool | None = None,
              job_fn: Callable[[dict], dict] | None = None, job_timeout_s: float | None = None) -> BatchResult:
    """Grade every zip in `inputs` into `out_dir`; resumable; see grader.batch for the design.

    `job_timeout_s`: wall-clock limit per submission; None: default_job_timeout(rubric), 0: none."""
    from grader.batch.worker import grade_job
    from grader.rubric import load_rubric

    t0 = time.monotonic()
    out_dir = Path(out_dir).resolve()
    rubric = load_rubric(rubric_dir)
    rdigest = rubric_hash(rubric)
    all_jobs = plan(discover(inputs), rubric, isolation)
    manual = load_manual_scores(manual_scores, rubric, {j.netid for j in all_jobs}) if manual_scores else None
    manifest = Manifest(out_dir)
    manifest.lock()
    try:
        latest = manifest.latest()
        done = {j.key: manifest.load_done(latest.get(j.key)) for j in all_jobs}
        for j in all_jobs:  # a NetID several zips claim, none clearly: a row for a TA, nothing to run
            if j.held and done[j.key] is None:
                done[j.key] = {"report": held_report(rubric, j, isolation), "code": {}, "files": {}}
        todo = [j for j in all_jobs if done[j.key] is None]
        progress = Progress(len(all_jobs), len(all_jobs) - len(todo), stream=stream, tty=tty)
        progress.start()
        by_netid = {j.netid: j for j in todo}
        failed = 0

        def on_done(netid: str, outcome: dict) -> None:
            nonlocal failed
            job = by_netid[netid]
            if outcome.get("ok"):
                result, status = {"report": outcome["report"], "code": outcome.get("code", {}),
                                  "files": outcome.get("files", {})}, "graded"
            else:
                failed += 1
                result, status = {"report": crash_report(rubric, job.source, job.netid, job.sha256, outcome.get("error", "unknown failure"),
                                                         outcome.get("traceback", ""), isolation, outcome.get("seconds", 0.0)),
                                  "code": {}, "files": {}}, "crashed"
            try:
                manifest.record(job.key, status, job.netid, job.name, result, source=str(job.source),
                                zip_sha256=job.sha256, rubric_hash=rdigest, grader_version=grader_version(),
                                worker=outcome.get("worker", ""), seconds=outcome.get("seconds"),
                                finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            except Exception:  # not cached: graded again by the next run; published now all the same
                pass
            done[job.key] = result
            report = publish_or_note(out_dir, job, result, manual, rubric, isolation)
            progress.job_done(job.netid, _summary(report), status != "graded")

        if todo:
            payloads = []
            for j in todo:
                payload = {"path": str(j.source), "name": j.name, "rubric_dir": str(Path(rubric.directory).resolve()),
                           "rubric_hash": rdigest, "isolation": isolation, "jobs": jobs}
                if scheduler:  # remote workers need not share our filesystem
                    payload["data"] = j.source.read_bytes()
                payloads.append((j.netid, payload))
            default_limit = default_job_timeout(rubric)  # before the workers start: measures the benchmark once
            with dask_client(workers, scheduler) as client:
                limit = default_limit if job_timeout_s is None else job_timeout_s
                run_jobs(client, job_fn or grade_job, payloads, on_done, time_limit_s=limit or None)
        for j in all_jobs:
            if j not in todo:
                publish_or_note(out_dir, j, done[j.key], manual, rubric, isolation)
        progress.finish()
    finally:
        manifest.unlock()
    if class_reports:
        from grader.batch.publish import write_class_reports

        write_class_reports(out_dir, rubric=rubric, similarity_threshold=similarity_threshold)
    return BatchResult(out_dir, len(all_jobs), len(todo), len(all_jobs) - len(todo), failed,
                       tuple(j.netid for j in all_jobs), round(time.monotonic() - t0, 3))
