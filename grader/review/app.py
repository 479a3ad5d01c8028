"""The review web application (Starlette, served by uvicorn on 127.0.0.1).

Pages: `/` the queue (one item across the class, progress per item and per TA, filters),
`/grade/<netid>/<item>` one student on one item (guide and scale, the theory PDF as page
images, the notebooks' free-text answers, the grader's evidence, the TAs' history; score,
override or answer a regrade request). `/api/save` records a decision. Everything a
student wrote is escaped by the templates (Jinja2, autoescape on); the pages load only
the package's own script and style (Content-Security-Policy: script-src 'self', no inline
script); every request carries the token printed at start (the URL's ?token=, then an
HttpOnly SameSite=Strict cookie) and every save also its X-Review-Token header.
"""
from __future__ import annotations

import contextlib
import hmac
import json
import secrets
import threading
from pathlib import Path
from urllib.parse import quote, urlencode

from grader.review.state import FILTERS, ClassState

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
HERE = Path(__file__).resolve().parent
COOKIE = "grader_review"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda x: "" if x is None else f"{float(x):g}"
    env.filters["q"] = lambda x: quote(str(x), safe="")
    return env


class TokenGate:
    """ASGI middleware: a request without the token (query, then cookie) gets 403; a request
    with ?token= gets the cookie and is redirected to the same URL without it (the token
    does not stay in the history or a Referer). Security headers on every response."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    def _ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse, RedirectResponse

        request = Request(scope)
        if self._ok(request.query_params.get("token")):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            response = RedirectResponse(request.url.path + (f"?{urlencode(rest)}" if rest else ""), status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
        elif not self._ok(request.cookies.get(COOKIE)):
            response = PlainTextResponse("forbidden: open the URL `grader review` printed (it carries the token)",
                                         status_code=403)
        elif request.method not in ("GET", "HEAD") and not self._ok(request.headers.get("x-review-token")):
            response = PlainTextResponse("forbidden: a save must carry the page's token", status_code=403)
        else:
            response = None
        headers = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                   (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"), (b"cache-control", b"no-store")]
        if response is not None:
            for k, v in headers:
                response.headers[k.decode()] = v.decode()
            return await response(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def create_app(out_dir: Path, *, ta: str, token: str, rubric=None, isolation: str = "auto",
               start_writer: bool = True):
    """The ASGI application over a graded class in `out_dir`."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from grader.batch.ta_journal import JournalError
    from grader.model import ItemStatus
    from grader.review import pdf as pdfmod
    from grader.review import sources

    state = ClassState(out_dir, rubric)
    env = _env()
    stop = threading.Event()

    def page(template: str, **ctx) -> HTMLResponse:
        return HTMLResponse(env.get_template(template).render(token=token, ta=ta, **ctx))

    def grade_url(netid: str, item: str, flt: str) -> str:
        return f"/grade/{quote(netid, safe='')}/{quote(item, safe='')}?filter={quote(flt, safe='')}"

    def queue(request):
        reports = state.reports()
        progress = state.progress(reports)
        flt = request.query_params.get("filter", "all")
        flt = flt if flt in FILTERS else "all"
        ids = [p["id"] for p in progress]
        item_id = request.query_params.get("item") or next((p["id"] for p in progress if p["pending"]), ids[0] if ids else "")
        if item_id not in ids:
            item_id = ids[0] if ids else ""
        rows = state.rows(reports, item_id, flt) if item_id else []
        nxt = next((r for r in state.rows(reports, item_id, "pending")), None) if item_id else None
        return page("queue.html.j2", progress=progress, item_id=item_id, rows=rows, flt=flt, filters=FILTERS,
                    ta_progress=state.ta_progress(), grade_url=grade_url, spec=state.spec(item_id),
                    next_url=grade_url(nxt.netid, item_id, flt) if nxt else "", class_error=state.last_error)

    def grade(request):
        netid, item_id = request.path_params["netid"], request.path_params["item"]
        flt = request.query_params.get("filter", "all")
        flt = flt if flt in FILTERS else "all"
        reports = state.reports()
        report = reports.get(netid)
        item = next((i for i in report.items if i.id == item_id), None) if report else None
        if report is None or item is None:
            return PlainTextResponse(f"no item {item_id!r} for {netid!r} in this class", status_code=404)
        rows = state.rows(reports, item_id, flt)
        order = [r.netid for r in rows] or [netid]
        k = order.index(netid) if netid in order else -1
        prev_url = grade_url(order[k - 1], item_id, flt) if k > 0 else ""
        next_url = grade_url(order[k + 1], item_id, flt) if 0 <= k < len(order) - 1 else ""
        pending_rows = [r.netid for r in state.rows(reports, item_id, "pending") if r.netid != netid]
        after = [n for n in pending_rows if n > netid] + [n for n in pending_rows if n < netid]
        next_ungraded = grade_url(after[0], item_id, flt) if after else ""
        row = next((r for r in state.rows(reports, item_id, "all") if r.netid == netid))
        spec = state.spec(item_id)
        verified = not row.by_ta and row.automatic_status != "pending"
        mode = "regrade" if row.open_requests else ("override" if verified else "score")
        # the theory PDF and the notebooks' free-text answers, from the student's zip (data only)
        zips = sources.zip_sources(state.out_dir)
        members = sources.member_names(report)
        pdf_role = next((role for role in members if role.lower().endswith(".pdf")), None)
        pages, focus = None, 1
        if pdf_role:
            data = sources.read_member(zips.get(netid), members[pdf_role], pdfmod.MAX_PDF_BYTES)
            if data is not None:
                pages = pdfmod.render(data, state.out_dir / ".review" / "pdf", isolation)
                focus = pages.page_for(*pdfmod.question_phrases(item.title))
        stem = item_id.split(".", 1)[0]
        nb_role = next((role for role in members if role == f"{stem}.ipynb"), None)
        answers = sources.free_text_answers(
            sources.read_member(zips.get(netid), members.get(nb_role), sources.MAX_NOTEBOOK_BYTES), nb_role) if nb_role else ()
        evidence = {k: v for k, v in item.evidence.items() if k != "artifacts"} if isinstance(item.evidence, dict) else {}
        return page("grade.html.j2", report=report, item=item, row=row, spec=spec, mode=mode, verified=verified, by_ta=row.by_ta,
                    flt=flt, prev_url=prev_url, next_url=next_url, next_ungraded=next_ungraded,
                    position=(k + 1, len(order)), pages=pages, focus=focus, answers=answers,
                    evidence=json.dumps(evidence, indent=2, ensure_ascii=False, default=str) if evidence else "",
                    pictures=[a for a in report.artifacts_of(item_id) if a.is_image],
                    history=item.ta.history if item.ta else (), pending=item.status is ItemStatus.PENDING,
                    automatic=item.ta.automatic if item.ta else None, netid_q=quote(netid, safe=""),
                    queue_url=f"/?item={quote(item_id, safe='')}&filter={quote(flt, safe='')}")

    async def save(request):
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"ok": False, "error": "the request body is not JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"ok": False, "error": "expected a JSON object"}, status_code=400)
        entry = {k: body.get(k) for k in ("netid", "item", "kind", "score", "comment", "reason")}
        entry["ta"] = ta
        if entry["kind"] == "regrade":
            entry["request"] = str(body.get("request") or "")
        from starlette.concurrency import run_in_threadpool

        try:
            line = await run_in_threadpool(state.save, entry)
        except JournalError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "id": line["id"], "at": line["at"]})

    def status(request):
        return JSONResponse({"class_files_current": state.class_files_current, "error": state.last_error,
                             "decisions": len(state.journal.entries())})

    def pdf_page(request):
        netid, n = request.path_params["netid"], request.path_params["n"]
        report = state.reports().get(netid)
        if report is None:
            return PlainTextResponse("not found", status_code=404)
        members = sources.member_names(report)
        role = next((r for r in members if r.lower().endswith(".pdf")), None)
        data = sources.read_member(sources.zip_sources(state.out_dir).get(netid), members.get(role), pdfmod.MAX_PDF_BYTES) if role else None
        pages = pdfmod.render(data, state.out_dir / ".review" / "pdf", isolation) if data else None
        if pages is None or pages.directory is None or not (1 <= n <= pages.count):
            return PlainTextResponse("not found", status_code=404)
        return Response((pages.directory / f"page-{n}.png").read_bytes(), media_type="image/png")

    def artifact(request):
        from grader.model import PNG_MAGIC
        from grader.sandbox import read_bytes

        netid, name = request.path_params["netid"], request.path_params["file"]
        report = state.reports().get(netid)
        listed = {a.file for a in report.artifacts if a.is_image} if report else set()
        if name not in listed:
            return PlainTextResponse("not found", status_code=404)
        try:
            data = read_bytes(state.out_dir / netid, name, 8 << 20)
        except OSError:
            return PlainTextResponse("not found", status_code=404)
        if not data.startswith(PNG_MAGIC):
            return PlainTextResponse("not a PNG", status_code=404)
        return Response(data, media_type="image/png")

    routes = [
        Route("/", queue),
        Route("/grade/{netid}/{item}", grade),
        Route("/api/save", save, methods=["POST"]),
        Route("/api/status", status),
        Route("/pdf/{netid}/{n:int}.png", pdf_page),
        Route("/artifact/{netid}/{file}", artifact),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if start_writer:
            threading.Thread(target=state.class_writer, args=(stop,), daemon=True, name="review-class-writer").start()
        yield
        stop.set()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.review = state
    return TokenGate(app, token)
