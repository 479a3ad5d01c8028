"""`grader review OUT [--port N] [--ta NAME] [--requests regrade.csv]`."""
from __future__ import annotations

import getpass
import socket
import sys
from pathlib import Path

from grader.errors import UsageError
from grader.sandbox.detect import ISOLATION_CHOICES


def add_review_parser(sub) -> None:
    p = sub.add_parser("review", help="a local web page where TAs grade manual items, override automatic ones "
                                      "and answer regrade requests",
                       description="Serve the review page for a graded class (a `grader batch` OUT folder) on "
                                   "127.0.0.1. Decisions are kept in OUT/.batch/ta/journal.jsonl and flow into "
                                   "report.json, the feedback pages and the class files.")
    p.add_argument("out", help="the graded class (grader batch --out)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--ta", default=None, help="your name, recorded with every decision (default: the login name)")
    p.add_argument("--requests", help="a CSV of regrade requests (columns netid,item,text) to add to the queue")
    p.add_argument("--isolation", default="auto", choices=ISOLATION_CHOICES, help="sandbox for rendering PDFs")
    p.set_defaults(func=cmd_review)


def prepare(out: Path, requests: str | None):
    """Check OUT, import the requests, apply the journal to every file (a server killed
    before it rewrote them loses nothing: the journal has the decisions). Returns the rubric."""
    from grader.batch.publish import _rubric_from_reports, load_reports
    from grader.batch.ta_journal import Journal, read_requests
    from grader.model import Report, ReportError
    from grader.review.state import ClassState

    if not out.is_dir():
        raise UsageError(f"{out} is not a folder; pass the --out folder of a `grader batch` run")
    raw = load_reports(out)
    if not raw:
        raise UsageError(f"no OUT/<netid>/report.json under {out}; run `grader batch ... --out {out}` first")
    typed = []
    for d in raw:
        try:
            typed.append(Report.from_dict(d, safe=True))
        except ReportError:
            continue
    rubric = _rubric_from_reports(typed)
    if requests:
        added = Journal(out).append_many(read_requests(requests, {d["netid"]: d for d in raw}), skip_known=True)
        print(f"regrade requests: {len(added)} new from {requests}", file=sys.stderr)
    ClassState(out, rubric).publish_class()
    return rubric


def cmd_review(args) -> int:
    import uvicorn

    from grader.review.app import create_app, new_token

    out = Path(args.out).resolve()
    rubric = prepare(out, args.requests)
    ta = (args.ta or getpass.getuser() or "TA").strip()
    token = new_token()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", args.port))
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); pick another --port") from None
    port = sock.getsockname()[1]
    # listening before the URL is printed: a browser (or a TA) that opens it at once is queued, never refused
    sock.listen(128)
    app = create_app(out, ta=ta, token=token, rubric=rubric, isolation=args.isolation)
    print(f"grader review: http://127.0.0.1:{port}/?token={token}", flush=True)
    print(f"(TA {ta}; decisions in {out / '.batch' / 'ta' / 'journal.jsonl'}; Ctrl-C stops)", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[sock])
    return 0
