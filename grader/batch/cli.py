"""`grader batch` and `grader report`: argument parsing only; the work is in grader.batch."""
from __future__ import annotations

import sys
from pathlib import Path

from grader.report.gradescope import VISIBILITIES as GRADESCOPE_VISIBILITIES
from grader import defaults
from grader.sandbox.detect import ISOLATION_CHOICES


def default_workers() -> int:
    from grader.defaults import batch_workers

    return batch_workers()


def _default_rubric() -> str:
    from grader.cli import DEFAULT_RUBRIC

    return str(DEFAULT_RUBRIC)


def cmd_batch(args) -> int:
    from grader.batch.run import run_batch
    from grader.errors import UsageError

    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    if args.job_timeout is not None and args.job_timeout < 0:
        raise UsageError(f"--job-timeout must be seconds >= 0 (0: no limit), not {args.job_timeout:g}")
    from grader.lms import gradebooks

    res = run_batch(args.inputs, args.out, args.rubric, workers=args.workers, scheduler=args.scheduler,
                    isolation=args.isolation, jobs=args.jobs, manual_scores=args.manual_scores,
                    similarity_threshold=args.similarity_threshold, class_reports=not args.no_class_reports,
                    job_timeout_s=args.job_timeout, cache=not args.no_cache, clear_cache=args.clear_cache,
                    sources=_sources(args), lms=gradebooks.options_from_args(args))
    print(f"{res.total} submissions: {res.graded} graded now, {res.skipped} unchanged, {res.failed} not graded "
          f"(grader failures) in {res.seconds:.1f} s")
    print(f"gradebook: {Path(res.out_dir) / 'gradebook.csv'}")
    for line in gradebooks.summary_lines(res.lms, res.out_dir):
        print(line)
    if res.failed:
        print(f"grader: {res.failed} submission(s) could not be graded (score 0, reason in their report); "
              "rerun the same command to retry them", file=sys.stderr)
        return 1
    return 0


def _sources(args):
    from grader.lms.sources import Options

    return Options(source=args.source, attempt=args.attempt, roster=getattr(args, "roster", None),
                   submission_times=args.submission_times, extensions=args.extensions,
                   late_days_ledger=args.late_days_ledger)


def cmd_report(args) -> int:
    from grader.batch.publish import write_class_reports
    from grader.report.formats import CLASS, STUDENT, formats

    rubric = None
    if args.rubric:
        from grader.rubric import load_rubric

        rubric = load_rubric(args.rubric)
    from grader.lms import gradebooks

    cohort = write_class_reports(args.out, rubric=rubric, similarity_threshold=args.similarity_threshold,
                                 gradescope_hidden=args.gradescope_hidden, lms=gradebooks.options_from_args(args))
    print(f"{cohort['n_submissions']} reports -> {Path(args.out) / 'gradebook.csv'}, "
          f"{', '.join(f.file for f in formats(CLASS) if f.file != 'gradebook.csv' and f.when is None)}; "
          f"per student {', '.join(f.file for f in formats(STUDENT))}; "
          f"{len(cohort['similarity']['pairs'])} similar pair(s) to review")
    for line in gradebooks.summary_lines(cohort.get("lms"), Path(args.out)):
        print(line)
    for err in cohort.get("errors") or []:
        print(f"grader: could not write {err}", file=sys.stderr)
    return 1 if cohort.get("errors") else 0


def _lms_arguments(parser) -> None:
    from grader.lms.gradebooks import add_arguments

    add_arguments(parser)


def add_batch_parser(subparsers) -> None:
    b = subparsers.add_parser(
        "batch", help="grade many submissions in parallel (resumable; Dask)",
        description="Grade every <netid>.zip in the given folders/files. Rerunning the same command "
                    "skips unchanged submissions and regrades changed ones (content-hash manifest in "
                    "OUT/.batch). See `python -c 'import grader.batch; help(grader.batch)'` for clusters.")
    b.add_argument("inputs", nargs="+", metavar="DIR_OR_ZIPS", help="folders holding <netid>.zip files, or zips")
    b.add_argument("--out", required=True, help="output folder: OUT/<netid>/ per student, gradebook.csv etc. in OUT/")
    b.add_argument("--rubric", default=_default_rubric(), help="rubric directory (default: %(default)s)")
    b.add_argument("--workers", type=int, default=default_workers(),
                   help="worker processes of the embedded Dask LocalCluster (default: one per core, at most "
                        "one per 2 GiB of memory: %(default)s here)")
    b.add_argument("--scheduler", metavar="ADDRESS",
                   help="use an existing Dask cluster, e.g. tcp://host:8786 (its workers need this project installed)")
    b.add_argument("--isolation", default="auto", choices=ISOLATION_CHOICES,
                   help="sandbox mode on the workers (default: the strongest available)")
    b.add_argument("--jobs", type=int, default=defaults.BATCH_JOBS, help="notebooks of one submission executed at once (default: %(default)s)")
    b.add_argument("--job-timeout", type=float, metavar="SECONDS",
                   help="wall-clock limit per submission; a grading stuck past it becomes a 'not graded' row "
                        "(default: the rubric's notebook budgets added up, calibrated on this machine where the "
                        "rubric has `calibration`, plus 85 s per notebook for a cut's interrupt and exports, "
                        "plus 600 s; 0: no limit)")
    b.add_argument("--manual-scores", metavar="CSV",
                   help="TA scores for manual items: netid,<item id>...,<item id>:comment (validated first)")
    b.add_argument("--similarity-threshold", type=float, default=defaults.SIMILARITY_THRESHOLD,
                   help="report pairs of submissions whose normalized code overlaps at least this much (default: %(default)s)")
    b.add_argument("--clear-cache", action="store_true",
                   help="empty the batch's caches of executions and probe results (OUT/.batch/exec-cache, "
                        "probe-cache) first: every graded submission is executed and probed again")
    b.add_argument("--no-cache", action="store_true",
                   help="neither read nor write those caches in this run")
    b.add_argument("--no-class-reports", action="store_true", help="skip the gradebook/JUnit/HTML/cohort step")
    _lms_arguments(b)
    b.add_argument("--source", default="auto", choices=["auto", "brightspace", "canvas", "zips"],
                   help="what the inputs are: folders of zips, or a Brightspace 'Download all submissions' / Canvas "
                        "'Download submissions' zip (default: detected from the entry names)")
    b.add_argument("--attempt", default="newest", choices=["newest", "first"],
                   help="which of a student's attempts in an LMS download is graded (default: %(default)s)")
    b.add_argument("--submission-times", metavar="CSV",
                   help="submission times: netid (or LMS user id),submitted_at (ISO; the rubric's time zone when "
                        "no offset); wins over the LMS's and the zip's times")
    b.add_argument("--extensions", metavar="CSV",
                   help="extensions: netid (or LMS user id),new_deadline or extra_hours[,reason]")
    b.add_argument("--late-days-ledger", metavar="FILE",
                   help="late days each student spent, shared by a semester's batches when the rubric has "
                        "`late_days` (default: OUT/.batch/late_days.json)")
    b.set_defaults(func=cmd_batch)

    r = subparsers.add_parser("report", help="(re)write gradebook, Gradescope JSON, JUnit, HTML and cohort from OUT",
                              description="Derive every format from the canonical OUT/<netid>/report.json files.")
    r.add_argument("out", metavar="OUT", help="a folder written by `grader batch` or `grader run`")
    r.add_argument("--rubric", help="rubric directory (column order, starter code); default: the one in the reports")
    r.add_argument("--similarity-threshold", type=float, default=defaults.SIMILARITY_THRESHOLD, help="(default: %(default)s)")
    r.add_argument("--gradescope-hidden", default="visible", choices=GRADESCOPE_VISIBILITIES,
                   help="Gradescope visibility of hidden items; their output is always reduced to the verdict (default: %(default)s)")
    _lms_arguments(r)
    r.set_defaults(func=cmd_report)
