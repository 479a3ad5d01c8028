"""Command line: `grader run`, `grader rubric-check`. Library code raises GraderError; only
this module turns errors into messages and exit codes."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
import zoneinfo
from pathlib import Path

from grader.report.gradescope import VISIBILITIES as GRADESCOPE_VISIBILITIES
from grader import defaults
from grader.sandbox.detect import ISOLATION_CHOICES

from grader.errors import GraderError, UsageError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUBRIC = PROJECT_ROOT / "rubrics" / "hw2"


class ProgressLine:
    """A live one-line status on a terminal: notebook, cell k of n, elapsed."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.enabled = stream.isatty()
        self.state: dict[str, str] = {}
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, notebook: str, event: dict) -> None:
        if not self.enabled:
            return
        with self.lock:
            if event.get("event") == "cell":
                self.state[notebook] = f"{Path(notebook).stem} cell {event['k']}/{event['of']}"
            elif event.get("event") == "kernel_started":
                self.state[notebook] = f"{Path(notebook).stem} kernel up"
            line = " | ".join(self.state[k] for k in sorted(self.state)) + f" | {time.monotonic() - self.t0:.0f}s"
            self.stream.write("\r\033[K" + line[:150])
            self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.state:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _parse_time(text: str, tz: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--submitted-at {text!r} is not a date-time; use e.g. 2026-03-01T23:59:00 or 2026-03-01T23:59:00-05:00") from None
    return value.replace(tzinfo=zoneinfo.ZoneInfo(tz)) if value.tzinfo is None else value


def cmd_run(args) -> int:
    from grader.pipeline import Env, grade
    from grader.report import summary_table
    from grader.rubric import load_rubric

    rubric = load_rubric(args.rubric)
    src = Path(args.submission)
    if not src.exists():
        raise UsageError(f"{src} does not exist; pass the path of a student's <netid>.zip")
    if src.is_dir():
        raise UsageError(f"{src} is a folder; `grader run` grades one zip (use `grader batch` for a folder)")
    if not os.access(src, os.R_OK):
        raise UsageError(f"cannot read {src}; check its permissions")
    progress = ProgressLine()
    env = Env(
        rubric=rubric,
        out_dir=Path(args.out),
        submitted_at=_parse_time(args.submitted_at, rubric.timezone) if args.submitted_at else None,
        isolation="none" if args.no_sandbox else args.isolation,
        jobs=args.jobs,
        progress=progress,
        keep_scratch=args.keep_scratch,
        exec_cache=Path(args.cache) if args.cache else None,
    )
    report = grade(src, env)  # its report stage wrote OUT/<netid>/: report.json and every student format
    progress.done()
    if args.json:
        print(json.dumps(report.to_dict(artifact_files=True), indent=2))
    else:
        from grader.report.formats import STUDENT, formats

        print(summary_table(report))
        print(f"report: {Path(args.out) / report.netid / 'report.json'} "
              f"(+ {', '.join(f.file for f in formats(STUDENT))})")
    return 0


def cmd_calibrate(args) -> int:
    """Time the reference notebooks here and print the rubric's `calibration:` block."""
    from grader.execute.budget import calibrate, calibrated_budget
    from grader.rubric import load_rubric
    from grader.rubric.model import Calibration

    rubric = load_rubric(args.rubric)
    src = Path(args.notebooks) if args.notebooks else None
    if src is not None and not src.exists():
        raise UsageError(f"{src} does not exist; pass a folder or a zip of full-solution notebooks")
    res = calibrate(rubric, src, isolation=args.isolation, log=lambda m: print(m, file=sys.stderr))
    cal = Calibration(res["factor"], res["reference_s"], res["baseline_benchmark_s"], res["min_s"], res["max_s"])
    for name in res["reference_s"]:
        print(f"# {name}: budget here {calibrated_budget(cal, name, res['baseline_benchmark_s']).derivation}", file=sys.stderr)
    print("# paste under `execution:` in " + str(rubric.directory / "assignment.yaml"))
    print(res["yaml"])
    return 0


def cmd_validate(args) -> int:
    from grader.validate import junit_xml, validate

    v = validate(Path(args.rubric), Path(args.out) if args.out else None, full_runs=not args.mutants_only,
                 isolation=args.isolation)
    if args.junit:
        Path(args.junit).write_bytes(junit_xml(v))
    held = sum(p.ok for p in v.promises)
    print(f"{held}/{len(v.promises)} promises hold; {len(v.weak_items)} weak item(s)")
    return 0 if v.ok else 1


def cmd_check(args) -> int:
    """`grader check`: the student's pre-check (grader/precheck.py); exit 0 when ready to submit."""
    from grader.precheck import check
    from grader.rubric import load_rubric

    rubric = load_rubric(args.rubric)
    progress = ProgressLine(sys.stderr)  # today's stderr (the default was bound at import)
    now = _parse_time(args.at, rubric.timezone) if args.at else None
    result = check(args.submission, rubric, netid=args.netid, now=now, isolation=args.isolation, cache=args.cache,
                   progress=progress)
    progress.done()
    print(result.text)
    return 0 if result.ready else 1


def cmd_gradescope(args) -> int:
    """`grader gradescope build|run` (grader/gradescope/)."""
    from grader import gradescope

    if args.action == "build":
        b = gradescope.build(args.rubric or DEFAULT_RUBRIC, args.out)
        print(f"{b.path}: {b.files} files, {b.bytes / 1e6:.1f} MB; rubric {b.rubric}. Upload it as the autograder "
              "(base image Ubuntu 22.04 or later; give it the memory and time the rubric's limits need)")
        return 0
    return gradescope.run(args.root, args.rubric, isolation=args.isolation, cache=args.cache,
                          hidden_visibility=args.gradescope_hidden)


def cmd_rubric_check(args) -> int:
    from grader.rubric import load_rubric

    from grader.rubric.origins import describe

    rubric = load_rubric(args.rubric)
    print(f"{rubric.directory}: {len(rubric.items)} items, {rubric.max_score:g} points, notebooks: "
          + ", ".join(nb.notebook for nb in rubric.notebooks)
          + (f"; extra credit up to {rubric.extra_credit_max:g} points" if rubric.extra_credit_max else ""))
    print()
    print(describe(rubric.directory))  # the resolved values, each with the file of the extends chain it came from
    return 0


def cmd_env(args) -> int:
    """`grader env build|check RUBRIC`: the students' environment the rubric declares."""
    from grader import studentenv
    from grader.rubric import load_rubric

    rubric = load_rubric(args.rubric)
    spec = rubric.environment
    if spec is None:
        print(f"{rubric.directory}: no `environment` declared; students' code runs with the grader's own Python "
              f"({sys.executable})")
        return 0
    if args.action == "build":
        try:
            env = studentenv.build(spec, force=args.force)
        except studentenv.EnvBuildError as exc:
            raise UsageError(f"{exc}. Check the network or the requirement strings in {rubric.directory}/assignment.yaml") from exc
    else:
        env = studentenv.load(spec)
        if env is None:
            print(f"environment {spec.name!r} ({spec.key}) is not built at {studentenv.location(spec)}; "
                  f"run `grader env build {args.rubric}`")
            return 1
    print(f"environment {spec.name!r} ({spec.key}) at {env.root}: Python {env.python_version}, built {env.built_at}")
    wanted = [r for r in spec.packages] + [r for g in spec.optional for r in g]
    for req in wanted:
        name = _req_name(req)
        version = next((v for k, v in env.packages.items() if studentenv._norm(k) == studentenv._norm(name)), None)
        print(f"  {req:<28} {version or 'MISSING'}")
    if env.missing_optional:
        print(f"  optional, left out: {', '.join(env.missing_optional)}")
    modules = args.modules.split(",") if args.modules else []
    if modules:
        for mod, ok in studentenv.module_status(env, modules).items():
            print(f"  import {mod:<21} {'ok' if ok else 'MISSING'}")
    return 0


def _req_name(req: str) -> str:
    import re

    return re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grader", description="Sandboxed auto-grader for the CNN + RNN homework.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="grade one submission zip")
    run.add_argument("submission", help="the student's <netid>.zip")
    run.add_argument("--rubric", default=str(DEFAULT_RUBRIC), help="rubric directory (default: %(default)s)")
    run.add_argument("--out", default="out", help="report directory; reports go to OUT/<netid>/ (default: %(default)s)")
    run.add_argument("--submitted-at", help="submission time (ISO 8601); default: the newest file time in the zip")
    run.add_argument("--isolation", default="auto", choices=ISOLATION_CHOICES,
                     help="sandbox mode (default: the strongest available)")
    run.add_argument("--no-sandbox", action="store_true", help="same as --isolation none (trusted code only)")
    run.add_argument("--jobs", type=int, default=defaults.run_jobs(), help="notebooks executed at once (default: %(default)s)")
    run.add_argument("--cache", help="reuse executions of identical notebooks from this directory (content-hash cache)")
    run.add_argument("--keep-scratch", action="store_true", help="keep the job's scratch directory for debugging")
    run.add_argument("--json", action="store_true", help="print the full JSON report instead of the summary table")
    run.set_defaults(func=cmd_run)
    cal = sub.add_parser("calibrate", help="time the reference notebooks here; print the rubric's `calibration:` block",
                         description="Run each reference notebook alone through the grader's executor and print "
                                     "execution.calibration (reference_s measured here, baseline_benchmark_s).")
    cal.add_argument("rubric", nargs="?", default=str(DEFAULT_RUBRIC))
    cal.add_argument("--notebooks", metavar="DIR_OR_ZIP",
                     help="full-solution notebooks named as the rubric names them (default: the reference solution "
                          "named by the rubric's mutants.yaml)")
    cal.add_argument("--isolation", default="auto", choices=ISOLATION_CHOICES)
    cal.set_defaults(func=cmd_calibrate)
    from grader.batch.cli import add_batch_parser  # `grader batch` and `grader report` (grader/batch)

    add_batch_parser(sub)
    from grader.review.cli import add_review_parser  # `grader review` (grader/review)

    add_review_parser(sub)
    val = sub.add_parser("validate", help="instructor CI: reference = full marks, starter = floor, mutants caught")
    val.add_argument("rubric", nargs="?", default=str(DEFAULT_RUBRIC))
    val.add_argument("--out", help="where to keep the validation zips and reports (default: a temp dir)")
    val.add_argument("--junit", help="write the promises as JUnit XML to this file")
    val.add_argument("--mutants-only", action="store_true", help="skip the two full runs (reference, starter)")
    val.add_argument("--isolation", default="auto", choices=ISOLATION_CHOICES)
    val.set_defaults(func=cmd_validate)
    envp = sub.add_parser("env", help="the students' Python environment a rubric declares: build it or check it")
    envp.add_argument("action", choices=["build", "check"])
    envp.add_argument("rubric", nargs="?", default=str(DEFAULT_RUBRIC))
    envp.add_argument("--force", action="store_true", help="rebuild even if it is built")
    envp.add_argument("--modules", help="comma-separated modules to try importing in it, e.g. tqdm,torchvision")
    envp.set_defaults(func=cmd_env)
    pre = sub.add_parser("check", help="students: check a submission before submitting (public items only)",
                         description="Naming, zip layout, every notebook run top to bottom in the grader's sandbox, the "
                                     "rubric's public items and the lateness if submitted now. Prints 'ready to submit' "
                                     "or each problem with the penalty it would cost; exit 0 when ready.")
    pre.add_argument("submission", help="your <netid>.zip, or the folder with your notebooks and PDF")
    pre.add_argument("--rubric", default=str(DEFAULT_RUBRIC), help="rubric directory (default: %(default)s)")
    pre.add_argument("--netid", help="your NetID, to name the zip when checking a folder")
    pre.add_argument("--at", metavar="TIME", help="judge the lateness as if submitted at TIME (ISO 8601; default: now)")
    pre.add_argument("--isolation", default="auto", choices=ISOLATION_CHOICES)
    pre.add_argument("--cache", help="reuse executions of identical notebooks from this directory (content-hash cache)")
    pre.set_defaults(func=cmd_check)
    gs = sub.add_parser("gradescope", help="Gradescope: build the autograder bundle, or grade as its run_autograder does",
                        description="build RUBRIC -o autograder.zip: the bundle to upload (setup.sh, run_autograder, the "
                                    "grader and the rubric). run: grade AUTOGRADER_ROOT/submission into "
                                    "AUTOGRADER_ROOT/results/results.json (what run_autograder calls).")
    gs.add_argument("action", choices=["build", "run"])
    gs.add_argument("rubric", nargs="?", help="rubric directory (build: default rubrics/hw2; run: default the bundle's)")
    gs.add_argument("-o", "--out", default="autograder.zip", help="build: the bundle zip to write (default: %(default)s)")
    gs.add_argument("--root", help="run: the autograder root (default: $AUTOGRADER_ROOT or /autograder)")
    gs.add_argument("--isolation", default="auto", choices=ISOLATION_CHOICES)
    gs.add_argument("--cache", help="run: reuse executions of identical notebooks from this directory")
    gs.add_argument("--gradescope-hidden", default="visible", choices=GRADESCOPE_VISIBILITIES,
                    help="run: Gradescope visibility of the rubric's hidden items (default: %(default)s)")
    gs.set_defaults(func=cmd_gradescope)
    chk = sub.add_parser("rubric-check", help="load and validate a rubric set")
    chk.add_argument("rubric", nargs="?", default=str(DEFAULT_RUBRIC))
    chk.set_defaults(func=cmd_rubric_check)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GraderError as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130
