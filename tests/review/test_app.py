"""The review application through Starlette's TestClient (no browser): the token gate and
its headers, the queue and the grade page, saving (journal first, then the student's files,
then the class files), refusals, and student content escaped in the HTML."""
from __future__ import annotations

import csv
import io
import json
import time

import pytest

from review_helpers import fabricated_class, item_of, report_json

pytest.importorskip("httpx")
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")
TOKEN = "t0ken-for-tests"
XSS_NB = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    {"cell_type": "markdown", "metadata": {}, "source": "Does your model overfit?"},
    {"cell_type": "markdown", "metadata": {}, "source": "<script>alert('nb')</script><img src=x onerror=alert('img')>"},
]})


def crafted_pdf() -> bytes:
    """A PDF whose text layer is markup and that asks for JavaScript when opened."""
    import pypdf

    from grader.validate import small_pdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(small_pdf("<script>alert('pdf')</script> 1.2"))))
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer._root_object[NameObject("/OpenAction")] = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert('pdf-js');")})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@pytest.fixture
def client(tmp_path):
    from starlette.testclient import TestClient

    from grader.review.app import create_app

    out = fabricated_class(tmp_path / "out", pdf=crafted_pdf(), notebook=XSS_NB)
    app = create_app(out, ta="alice", token=TOKEN, isolation="auto")
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as c:
        c.out = out
        yield c


def login(c):
    r = c.get(f"/?token={TOKEN}")
    assert r.status_code == 303 and r.headers["location"] == "/"
    c.cookies.set("grader_review", r.cookies["grader_review"])
    return r


def save(c, **body):
    return c.post("/api/save", json={"netid": "ab1234", "item": "q1", "kind": "score", **body},
                  headers={"X-Review-Token": TOKEN})


def test_every_request_needs_the_token(client):
    assert client.get("/").status_code == 403
    assert client.get("/static/review.js").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    r = login(client)
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    page = client.get("/")
    assert page.status_code == 200 and "q1" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    r = client.post("/api/save", json={"netid": "ab1234", "item": "q1", "kind": "score", "score": 1})
    assert r.status_code == 403  # the cookie alone does not save: the page's header must come too
    assert "<script" not in page.text.split("</head>")[1]  # no inline script in the body


def test_save_writes_the_journal_then_the_files(client):
    login(client)
    r = save(client, score=5, comment="good <b>derivation</b>")
    assert r.status_code == 200 and r.json()["ok"]
    line = json.loads((client.out / ".batch" / "ta" / "journal.jsonl").read_text().splitlines()[0])
    assert (line["ta"], line["score"], line["item"]) == ("alice", 5.0, "q1")
    q1 = item_of(report_json(client.out, "ab1234"), "q1")
    assert q1["score"] == 5.0 and q1["ta"]["history"][0]["id"] == line["id"]
    for _ in range(100):
        if client.get("/api/status").json()["class_files_current"]:
            break
        time.sleep(0.1)
    rows = {row["netid"]: row for row in csv.DictReader((client.out / "gradebook.csv").open())}
    assert rows["ab1234"]["q1"] == "5"
    assert "good &lt;b&gt;derivation&lt;/b&gt;" in (client.out / "ab1234" / "feedback.html").read_text()


@pytest.mark.parametrize("body, match", [
    (dict(item="nb.a", kind="override", score=1, reason=""), "needs a reason"),
    (dict(item="nb.a", kind="score", score=1), "override"),
    (dict(score=99), "above"),
    (dict(netid="zz0000", score=1), "no report"),
])
def test_refusals_say_why_and_change_nothing(client, body, match):
    login(client)
    before = (client.out / "ab1234" / "report.json").read_bytes()
    r = save(client, **body)
    assert r.status_code == 400 and match in r.json()["error"]
    assert (client.out / "ab1234" / "report.json").read_bytes() == before
    assert not (client.out / ".batch" / "ta" / "journal.jsonl").exists()


def test_student_content_is_escaped_and_the_pdf_is_rendered_as_images(client):
    from grader.batch.ta_journal import Journal

    Journal(client.out).append({"netid": "ab1234", "item": "nb.b", "kind": "request", "ta": "student",
                                "request": "<script>alert('req')</script>"})
    login(client)
    page = client.get("/grade/ab1234/nb.b")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;req&#39;)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(&#39;img&#39;)&gt;" in page.text  # the notebook's markdown, as text
    assert '<img alt="page 1" src="/pdf/ab1234/1.png">' in page.text
    png = client.get("/pdf/ab1234/1.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG") and png.headers["content-type"] == "image/png"
    assert client.get("/pdf/ab1234/2.png").status_code == 404
    assert client.get("/artifact/ab1234/report.json").status_code == 404  # only listed PNG artifacts


def test_bad_input_gets_a_message_not_a_traceback(tmp_path, capsys):
    from grader.cli import main

    assert main(["review", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["review", str(tmp_path / "empty")]) == 2
    assert "run `grader batch" in capsys.readouterr().err
    out = fabricated_class(tmp_path / "out")
    bad = tmp_path / "requests.csv"
    bad.write_text("netid,item,text\nab1234,no.such.item,please\n")
    assert main(["review", str(out), "--requests", str(bad)]) == 2
    assert "ab1234 has no item 'no.such.item'" in capsys.readouterr().err


def test_the_printed_url_is_listening_at_once(tmp_path):
    """The URL `grader review` prints is accepted by the first connect, with no retry: a TA (or a
    browser test) who opens it at once is queued until uvicorn runs, never refused (the CI run of
    2026-11-30 lost a browser test to ERR_CONNECTION_REFUSED when the URL came before listen())."""
    import os
    import re
    import socket
    import subprocess
    import sys
    import urllib.request

    out = fabricated_class(tmp_path / "out")
    proc = subprocess.Popen([sys.executable, "-m", "grader", "review", str(out), "--ta", "alice"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=\S+", proc.stdout.readline())
        assert m, "no URL printed"
        socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=5).close()  # one try: refused fails here
        import http.cookiejar
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(m.group(0), timeout=60) as page:  # the token becomes a cookie, then a redirect
            assert page.status == 200 and b"ab1234" in page.read()
    finally:
        proc.terminate()
        proc.wait(30)
