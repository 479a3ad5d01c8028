"""`grader review` end to end in headless chromium (Playwright driving Debian's chromium).

On the session's graded class of the samples (the `graded_class` fixture, copied): one
manual item graded across all students with the keyboard, one automatic item overridden,
one regrade request answered; then report.json, feedback.html and gradebook.csv show the
new scores with their history. Two TAs (two servers, two browser sessions) saving
different items of the same student at once lose nothing; a server killed (SIGKILL) while
saves are in flight loses nothing it acknowledged. A crafted PDF, notebook and request
text inject nothing (no dialog, no script runs, markup shown as text).

GRADER_REVIEW_SCREENSHOT=1 also writes the README's screenshot, tests/review/review.png.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from review_helpers import fabricated_class, item_of, report_json

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/install.sh)")]
ROOT = Path(__file__).resolve().parents[2]
THEORY = "hw2_theory.conv_output_formula"  # manual, 4 points


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Server:
    """`grader review OUT` in its own process; `url` carries the token."""

    def __init__(self, out: Path, ta: str, *extra: str):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "grader", "review", str(out), "--ta", ta, *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        line = self.proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:(\d+))/\?token=(\S+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"no URL from grader review: {line!r} {self.proc.stderr.read()[-2000:]}")
        self.base, self.token, self.url = m.group(1), m.group(3), m.group(0)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def wait_class_files(self, page, timeout=120):
        for _ in range(timeout * 5):
            if page.request.get(f"{self.base}/api/status").json()["class_files_current"]:
                return
            time.sleep(0.2)
        raise AssertionError("the class files were not rewritten in time")


def start(out, ta, *extra):
    return Server(out, ta, *extra)


def first_item(report: dict, status: str, kind_not: str = "manual") -> str:
    return next(i["id"] for i in report["items"] if i["status"] == status and i["kind"] != kind_not and i["max_score"] >= 2)


@pytest.fixture
def review_class(request, tmp_path):
    """A copy of the session's graded class (GRADER_REVIEW_CLASS: another `grader batch` OUT of the same samples)."""
    src = os.environ.get("GRADER_REVIEW_CLASS")
    out = tmp_path / "out"
    shutil.copytree(Path(src) if src else request.getfixturevalue("graded_class"), out, symlinks=True)
    return out


def gradebook(out: Path) -> dict:
    return {r["netid"]: r for r in csv.DictReader((out / "gradebook.csv").open())}


def test_grade_override_and_answer_a_regrade_with_the_keyboard(review_class, browser, tmp_path):
    out = review_class
    netids = sorted(p.parent.name for p in out.glob("*/report.json"))
    full = report_json(out, "ab1234")
    auto_item = first_item(full, "passed")
    part = report_json(out, "pa3002")
    failed_item = first_item(part, "failed")
    requests = tmp_path / "regrade.csv"
    requests.write_text(f"netid,item,text\npa3002,{failed_item},\"I fixed the axis, please look again <b>now</b>\"\n")
    server = start(out, "alice", "--requests", str(requests))
    try:
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server.url)
        assert page.url == f"{server.base}/"  # the token went into a cookie, out of the URL
        page.goto(f"{server.base}/?item={THEORY}")
        # one manual item across the class: n (next ungraded), a digit, Enter (save, go to the next)
        with page.expect_navigation():
            page.keyboard.press("n")
        for k, netid in enumerate(netids):
            assert f"/grade/{netid}/{THEORY}" in page.url
            page.keyboard.press(str(k + 2))
            if k == 0 and os.environ.get("GRADER_REVIEW_SCREENSHOT"):
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(ROOT / "tests" / "review" / "review.png"))
            with page.expect_navigation():
                page.keyboard.press("Enter")
        # override a verified automatic item: a score and the required reason
        page.goto(f"{server.base}/grade/ab1234/{auto_item}")
        page.keyboard.press("1")
        page.keyboard.press("Enter")  # no reason yet: refused on the page, nothing saved
        page.wait_for_selector("#message.error")
        assert "reason" in page.inner_text("#message")
        page.fill("#reason", "the reference tolerance was wrong for this seed")
        with page.expect_navigation():
            page.keyboard.press("Control+Enter")
        # the regrade request: in the queue's filter, answered with a new score
        page.goto(f"{server.base}/?item={failed_item}&filter=regrade")
        assert page.locator("table.students tr[data-href]").count() == 1
        with page.expect_navigation():
            page.keyboard.press("j")
        assert "I fixed the axis, please look again <b>now</b>" in page.inner_text(".request pre")
        page.fill("#comment", "right: the axis is fixed in cell 12")
        page.fill("#score", "2")
        with page.expect_navigation():
            page.click("#save")
        server.wait_class_files(page)
        assert dialogs == []
    finally:
        server.stop()
    journal = [json.loads(x) for x in (out / ".batch" / "ta" / "journal.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in journal] == ["request", "score", "score", "score", "override", "regrade"]
    for k, netid in enumerate(netids):
        r = report_json(out, netid)
        th = item_of(r, THEORY)
        assert (th["score"], th["ta"]["history"][-1]["ta"]) == (k + 2, "alice")
        assert gradebook(out)[netid][THEORY] == str(k + 2)
        assert f"alice scored {k + 2}/4" in (out / netid / "feedback.html").read_text()
    ab = report_json(out, "ab1234")
    over = item_of(ab, auto_item)
    assert over["score"] == 1 and over["ta"]["automatic"]["status"] == "passed"
    assert ab["score"] == pytest.approx(full["score"] - full_item_score(full, auto_item) + 1 + 2)
    assert f"{auto_item}: override by alice" in gradebook(out)["ab1234"]["notes"]
    pa = report_json(out, "pa3002")
    reg = item_of(pa, failed_item)
    assert reg["score"] == 2 and [h["kind"] for h in reg["ta"]["history"]] == ["request", "regrade"]
    page_html = (out / "pa3002" / "feedback.html").read_text()
    assert "regrade requested: I fixed the axis, please look again &lt;b&gt;now&lt;/b&gt;" in page_html
    assert "alice answered the regrade request: 2/" in page_html


def full_item_score(report: dict, item_id: str) -> float:
    return item_of(report, item_id)["score"]


def test_two_tas_save_the_same_student_at_once_and_a_killed_server_loses_nothing(review_class, browser):
    out = review_class
    manual = [i["id"] for i in report_json(out, "ab1234")["items"] if i["kind"] == "manual"]
    import socket

    with socket.socket() as probe:  # a free port for bob, chosen with --port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    alice, bob = start(out, "alice"), start(out, "bob", "--port", str(port))
    assert bob.base == f"http://127.0.0.1:{port}"
    try:
        pages = []
        for server in (alice, bob):
            ctx = browser.new_context()
            page = ctx.new_page()
            page.goto(server.url)
            pages.append((server, page))
        # rounds of two saves fired together (different items, same student), from two browser sessions
        # on two servers: each page's own token, both requests in flight at once
        fire = """([item, score]) => { const t = document.querySelector('meta[name="review-token"]').content;
            window.__saved = fetch('/api/save', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-Review-Token': t}, body: JSON.stringify({netid: 'ab1234', item: item, kind: 'score', score: score})})
            .then(r => r.json()); return true; }"""
        for k in range(0, len(manual) - 1, 2):
            for (server, page), item in zip(pages, manual[k:k + 2]):
                page.goto(f"{server.base}/grade/ab1234/{item}")
            for (_, page), item in zip(pages, manual[k:k + 2]):
                page.evaluate(fire, [item, 1])
            for _, page in pages:
                assert page.evaluate("window.__saved")["ok"]
        alice.wait_class_files(pages[0][1])
        bob.wait_class_files(pages[1][1])
    finally:
        alice.stop()
        bob.stop()
    saved = manual[:len(manual) - len(manual) % 2]
    r = report_json(out, "ab1234")
    assert {i for i in saved if item_of(r, i)["score"] == 1} == set(saved)
    assert {item_of(r, i)["ta"]["history"][-1]["ta"] for i in saved} == {"alice", "bob"}

    # SIGKILL while saves are in flight: every acknowledged save is in the journal and, after a restart, in report.json
    server = start(out, "carol")
    import httpx

    acked, stop = [], threading.Event()
    target = manual[0]

    def hammer():
        with httpx.Client(base_url=server.base, cookies={"grader_review": server.token}, timeout=30) as c:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    res = c.post("/api/save", json={"netid": "pa3002", "item": target, "kind": "score",
                                                    "score": n % 4, "comment": f"save {n}"},
                                 headers={"X-Review-Token": server.token})
                except httpx.HTTPError:
                    return
                if res.status_code == 200:
                    acked.append((res.json()["id"], n % 4))

    t = threading.Thread(target=hammer)
    t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    stop.set()
    t.join(60)
    assert len(acked) >= 5
    ids = {json.loads(x)["id"] for x in (out / ".batch" / "ta" / "journal.jsonl").read_text().splitlines() if x.strip()
           if x.startswith("{") and x.endswith("}")}
    assert {a for a, _ in acked} <= ids
    again = start(out, "carol")  # a restart applies the journal to every file
    again.stop()
    last = item_of(report_json(out, "pa3002"), target)
    written = [h for h in last["ta"]["history"] if h["ta"] == "carol"]
    assert {h["id"] for h in written} >= {a for a, _ in acked}
    assert last["score"] == written[-1]["score"]


def test_crafted_pdf_notebook_and_request_inject_nothing(browser, tmp_path):
    from test_app import XSS_NB, crafted_pdf

    from grader.batch.ta_journal import Journal

    out = fabricated_class(tmp_path / "out", pdf=crafted_pdf(), notebook=XSS_NB)
    Journal(out).append({"netid": "ab1234", "item": "nb.b", "kind": "request", "ta": "student",
                         "request": "<script>alert('req')</script><img src=x onerror=\"alert('img')\">"})
    server = start(out, "alice")
    try:
        page = browser.new_page()
        dialogs, errors = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server.url)
        page.goto(f"{server.base}/grade/ab1234/nb.b")
        page.wait_for_load_state("networkidle")
        assert dialogs == []
        assert page.evaluate("Array.from(document.scripts).map(s => s.src)") == [f"{server.base}/static/review.js"]
        assert page.evaluate("document.querySelectorAll('img[onerror], img[src=\"x\"]').length") == 0
        assert "<script>alert('req')</script>" in page.inner_text(".request pre")
        assert "<img src=x onerror=alert('img')>" in page.inner_text("pre.student-text")
        assert page.evaluate("document.querySelector('.page img').naturalWidth") > 0  # the PDF, as a picture
    finally:
        server.stop()
