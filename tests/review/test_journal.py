"""The TA journal (grader.batch.ta_journal): validation, durable appends under a lock, the
merge of decisions into a report (latest wins, history kept, idempotent), the TA sheet
mixed in, and `grader report` applying the journal."""
from __future__ import annotations

import csv
import io
import multiprocessing
import os

import pytest

from review_helpers import fabricated_class, item_of, items, report_json
from batch_helpers import make_report
from grader.batch.ta_journal import (Journal, JournalError, apply_decisions, decision, read_requests,
                                     sheet_decisions, validate)

SPEC = {"nb.a": {"kind": "allclose", "max_score": 5.0, "status": "passed"},
        "nb.grad": {"kind": "allclose", "max_score": 3.0, "status": "pending"},
        "q1": {"kind": "manual", "max_score": 6.0, "status": "pending"}}


def entry(**kw):
    return {"netid": "ab1234", "item": "q1", "kind": "score", "ta": "alice", "score": 4, **kw}


@pytest.mark.parametrize("bad, match", [
    (dict(kind="vote"), "unknown decision kind"),
    (dict(ta=""), "names the TA"),
    (dict(score=7), "above the item's 6 points"),
    (dict(score=-1), ">= 0"),
    (dict(score="x"), "not a number"),
    (dict(item="nope"), "has no item"),
    (dict(item="nb.a"), "verified by the grader; change it with an override"),
    (dict(item="nb.a", kind="override", score=2), "needs a reason"),
    (dict(kind="request", score=None), "student's text"),
])
def test_validation_says_what_is_wrong(bad, match):
    with pytest.raises(JournalError, match=match):
        validate(entry(**bad), SPEC)


def test_valid_decisions_pass():
    assert validate(entry(), SPEC)["score"] == 4.0
    assert validate(entry(item="nb.grad", score=3), SPEC)["kind"] == "score"  # pending automatic: a plain score
    assert validate(entry(item="nb.a", kind="override", score=2, reason="shape check too strict"), SPEC)["reason"]


def test_append_is_durable_and_a_torn_line_is_skipped(tmp_path):
    j = Journal(tmp_path)
    first = j.append(entry())
    with open(j.path, "ab") as fh:  # a server killed mid-write
        fh.write(b'{"v": 1, "id": "torn", "netid": "ab1')
    second = j.append(entry(score=5))
    assert [e["id"] for e in j.entries()] == [first["id"], second["id"]]
    assert j.path.read_bytes().count(b"\n") == 3  # the torn line was closed before the next record


def _writer(out, k):
    j = Journal(out)
    for n in range(20):
        j.append(entry(ta=f"ta{k}", score=n % 6))


def test_concurrent_writers_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(tmp_path, k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    entries = Journal(tmp_path).entries()
    assert len(entries) == 80 and {e["ta"] for e in entries} == {"ta0", "ta1", "ta2", "ta3"}


def _decisions(*lines):
    return [(x["item"], decision(validate(x))) for x in lines]


def test_manual_score_then_a_later_one_wins_and_both_are_kept():
    r = make_report("ab1234", items=items())
    m = apply_decisions(r, _decisions(entry(score=2, at="2026-03-01T10:00:00+00:00", id="a"),
                                      entry(score=5, comment="good", at="2026-03-01T11:00:00+00:00", id="b", ta="bob")))
    q1 = item_of(m, "q1")
    assert (q1["score"], q1["status"], q1["feedback"]) == (5.0, "failed", "good")
    assert [h["id"] for h in q1["ta"]["history"]] == ["a", "b"] and q1["ta"]["automatic"]["status"] == "pending"
    assert m["score"] == r["score"] + 5 and item_of(r, "q1")["status"] == "pending"  # the input is not changed
    assert apply_decisions(m, _decisions(entry(score=5, comment="good", at="2026-03-01T11:00:00+00:00", id="b", ta="bob"))) == m


def test_override_keeps_the_automatic_result_and_changes_the_total():
    r = make_report("ab1234", items=items())
    m = apply_decisions(r, _decisions(entry(item="nb.b", kind="override", score=3, reason="tolerance too tight", id="o")))
    b = item_of(m, "nb.b")
    assert (b["score"], b["status"]) == (3.0, "failed") and "tolerance too tight" in b["feedback"]
    assert b["ta"]["automatic"] == {"score": 0.0, "status": "failed", "feedback": "values differ"}
    assert b["evidence"]["graded_by"] == "TA (override)" and m["score"] == r["score"] + 3


def test_a_score_on_a_verified_item_is_recorded_not_applied():
    r = make_report("ab1234", items=items())
    m = apply_decisions(r, _decisions(entry(item="nb.a", score=0, id="x")))
    a = item_of(m, "nb.a")
    assert (a["score"], a["status"]) == (5.0, "passed") and a["ta"]["history"][0]["applied"] is False
    assert [f["code"] for f in m["findings"]] == ["ta_score_ignored"]
    assert apply_decisions(m, [])["findings"] == m["findings"]  # applied again: one finding, not two


def test_regrade_keep_and_change():
    r = make_report("ab1234", items=items())
    req = {"netid": "ab1234", "item": "nb.b", "kind": "request", "ta": "student", "request": "my answer is right",
           "at": "2026-03-01T09:00:00+00:00", "id": "r1"}
    keep = apply_decisions(r, _decisions(req, entry(item="nb.b", kind="regrade", score=None, comment="the values differ",
                                                    at="2026-03-01T10:00:00+00:00", id="k")))
    assert item_of(keep, "nb.b")["score"] == 0.0 and len(item_of(keep, "nb.b")["ta"]["history"]) == 2
    change = apply_decisions(keep, _decisions(entry(item="nb.b", kind="regrade", score=4, comment="right after all",
                                                    at="2026-03-01T11:00:00+00:00", id="c")))
    assert item_of(change, "nb.b")["score"] == 4.0 and change["score"] == r["score"] + 4


def test_pending_automatic_item_keeps_why_it_was_pending():
    m = apply_decisions(make_report("ab1234", items=items()), _decisions(entry(item="nb.grad", score=2, id="g")))
    g = item_of(m, "nb.grad")
    assert g["score"] == 2.0 and g["evidence"]["pending_reason"].startswith("needs a TA")


def test_the_sheet_and_the_journal_mix_latest_wins(tmp_path, mini_rubric):
    from grader.batch.manual import load_manual_scores

    sheet = tmp_path / "ta.csv"
    sheet.write_text("netid,mini_theory.q1\nab1234,3\n")
    os.utime(sheet, (1772359200, 1772359200))  # 2026-03-01T10:00:00Z
    ms = load_manual_scores(sheet, mini_rubric, {"ab1234"})
    from batch_helpers import item

    r = make_report("ab1234", items=[item("mini_theory.q1", "pending", kind="manual", max_score=10.0)])
    later = {"netid": "ab1234", "item": "mini_theory.q1", "kind": "score", "ta": "alice", "score": 8,
             "at": "2026-03-01T11:00:00+00:00", "id": "j"}
    earlier = {**later, "score": 1, "at": "2026-03-01T09:00:00+00:00", "id": "e"}
    m = apply_decisions(r, sheet_decisions(ms, "ab1234") + _decisions(later))
    assert item_of(m, "mini_theory.q1")["score"] == 8.0  # the review's save is later than the sheet
    m = apply_decisions(r, sheet_decisions(ms, "ab1234") + _decisions(earlier))
    q = item_of(m, "mini_theory.q1")
    assert q["score"] == 3.0 and [h["source"] for h in q["ta"]["history"]] == ["review", "csv:ta.csv"]


def test_regrade_requests_csv(tmp_path):
    reports = {"ab1234": make_report("ab1234", items=items())}
    p = tmp_path / "requests.csv"
    buf = io.StringIO()
    csv.writer(buf).writerows([["netid", "item", "text"], ["ab1234", "nb.b", "I think, respectfully, it is right"]])
    p.write_text(buf.getvalue())
    lines = read_requests(p, reports)
    assert lines[0]["request"] == "I think, respectfully, it is right" and lines[0]["kind"] == "request"
    j = Journal(tmp_path)
    assert len(j.append_many(lines, skip_known=True)) == 1 and j.append_many(read_requests(p, reports), skip_known=True) == []
    p.write_text("netid,item,text\nzz9999,nb.b,hi\n")
    with pytest.raises(JournalError, match="unknown netid"):
        read_requests(p, reports)
    p.write_text("student,text\n")
    with pytest.raises(JournalError, match="header netid,item,text"):
        read_requests(p, reports)


def test_grader_report_applies_the_journal(tmp_path):
    from grader.batch.publish import write_class_reports

    out = fabricated_class(tmp_path / "out")
    before = report_json(out, "ab1234")["score"]
    Journal(out).append(entry(score=6))
    Journal(out).append(entry(item="nb.b", kind="override", score=4, reason="rounding"))
    write_class_reports(out)
    r = report_json(out, "ab1234")
    assert r["score"] == before + 10 and item_of(r, "q1")["ta"]["history"][0]["ta"] == "alice"
    rows = {row["netid"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["ab1234"]["q1"] == "6" and "nb.b: override by alice" in rows["ab1234"]["notes"]
    assert rows["cd5678"]["q1"] == ""
    page = (out / "ab1234" / "feedback.html").read_text()
    assert "alice overrode the grader&#39;s result: 4/4 (rounding)" in page
    md = (out / "ab1234" / "feedback.md").read_text()
    assert "TA decisions:" in md and "alice overrode the grader's result: 4/4 (rounding)" in md
    write_class_reports(out)  # again: the same files
    assert report_json(out, "ab1234") == r


def test_a_batch_rerun_publishes_the_journal_and_the_sheet(tmp_path, mini_rubric):
    """publish() (grader batch, from a cached worker result) applies both: the latest wins."""
    from batch_helpers import item
    from grader.batch.manual import load_manual_scores
    from grader.batch.run import publish

    out = tmp_path / "out"
    result = {"report": make_report("ab1234", items=[item("mini_theory.q1", "pending", kind="manual", max_score=10.0),
                                                     item("mini.add", "passed", max_score=6.0)]), "code": {}, "files": {}}
    sheet = tmp_path / "ta.csv"
    sheet.write_text("netid,mini_theory.q1\nab1234,3\n")
    os.utime(sheet, (1772359200, 1772359200))  # 2026-03-01T10:00:00Z, before the save below
    Journal(out).append({"netid": "ab1234", "item": "mini_theory.q1", "kind": "score", "ta": "alice", "score": 9})
    Journal(out).append({"netid": "ab1234", "item": "mini.add", "kind": "override", "ta": "bob", "score": 2,
                         "reason": "hard-coded output"})
    data = publish(out, "ab1234", result, load_manual_scores(sheet, mini_rubric, {"ab1234"}))
    q1, add = item_of(data, "mini_theory.q1"), item_of(data, "mini.add")
    assert q1["score"] == 9.0 and [h["source"] for h in q1["ta"]["history"]] == ["csv:ta.csv", "review"]
    assert add["score"] == 2.0 and add["ta"]["automatic"]["score"] == 6.0
    assert report_json(out, "ab1234")["score"] == data["score"] == 11.0


def test_a_save_waits_for_the_publish_lock_and_its_decision_is_recorded_first(tmp_path):
    """grader batch/report hold the publish lock while they write: a save in grader review is
    in the journal at once and its files follow when the lock is free (no interleaved writes)."""
    import threading

    from grader.batch.ta_journal import publish_lock
    from grader.review.state import ClassState

    out = fabricated_class(tmp_path / "out")
    state = ClassState(out)
    done = threading.Event()
    with publish_lock(out):
        t = threading.Thread(target=lambda: (state.save(entry(score=6, ta="alice")), done.set()))
        t.start()
        for _ in range(100):
            if Journal(out).entries():
                break
            t.join(0.05)
        assert len(Journal(out).entries()) == 1 and not done.is_set()
        assert item_of(report_json(out, "ab1234"), "q1")["status"] == "pending"  # files not written yet
    t.join(30)
    assert done.is_set() and item_of(report_json(out, "ab1234"), "q1")["score"] == 6.0
