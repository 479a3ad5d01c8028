"""TA scores for manual items: validation names the row and column; the merge rescores."""
import pytest

from batch_helpers import item, make_report
from grader.batch.manual import ManualScoresError, load_manual_scores, merge_manual
from grader.model import Penalty

NETIDS = {"ab1234", "cd5678"}


def sheet(tmp_path, text):
    p = tmp_path / "ta.csv"
    p.write_text(text)
    return p


def test_scores_and_comments_are_read(tmp_path, mini_rubric):
    ms = load_manual_scores(sheet(tmp_path, "netid,mini_theory.q1,mini_theory.q1:comment\nab1234,8,good\ncd5678,,\n"), mini_rubric, NETIDS)
    assert ms.for_netid("ab1234")["mini_theory.q1"].points == 8
    assert ms.for_netid("ab1234")["mini_theory.q1"].comment == "good"
    assert ms.for_netid("cd5678") == {}


@pytest.mark.parametrize("text,match", [
    ("id,mini_theory.q1\nab1234,3\n", r"ta.csv:1: no 'netid' column"),
    ("netid,mini_theory.q2\nab1234,3\n", r"ta.csv:1, column 'mini_theory.q2': unknown item 'mini_theory.q2'; the rubric's manual items are mini_theory.q1"),
    ("netid,mini.nope\nab1234,3\n", r"column 'mini.nope': unknown item 'mini.nope'.*automatic items take a TA score only where"),
    ("netid,mini.add\nab1234,7\n", r"column 'mini.add': score 7 is out of range 0..6"),
    ("netid,mini_theory.q1\nab1234,3\nzz0000,4\n", r"ta.csv:3, column 'netid': unknown netid 'zz0000'"),
    ("netid,mini_theory.q1\nab1234,11\n", r"ta.csv:2, column 'mini_theory.q1': score 11 is out of range 0..10 \(netid ab1234\)"),
    ("netid,mini_theory.q1\nab1234,-1\n", r"out of range"),
    ("netid,mini_theory.q1\nab1234,nan\n", r"out of range"),
    ("netid,mini_theory.q1\nab1234,seven\n", r"ta.csv:2, column 'mini_theory.q1': 'seven' is not a number"),
    ("netid,mini_theory.q1\nab1234,1\nab1234,2\n", r"ta.csv:3, column 'netid': 'ab1234' has a second row"),
    ("netid,mini_theory.q1,mini_theory.q1\nab1234,1,2\n", r"column 'mini_theory.q1': the column appears twice"),
])
def test_bad_sheets_are_refused_with_the_row_and_column(tmp_path, mini_rubric, text, match):
    with pytest.raises(ManualScoresError, match=match):
        load_manual_scores(sheet(tmp_path, text), mini_rubric, NETIDS)


def test_merge_sets_status_feedback_and_rescores_with_the_penalties(tmp_path, mini_rubric):
    r = make_report("ab1234", items=[item("mini.add", max_score=6), item("mini.count", "failed", max_score=4),
                                     item("mini_theory.q1", "pending", kind="manual", max_score=10)],
                    penalties=[Penalty("late", 20.0, "late")])
    assert (r["raw_score"], r["score"]) == (6, 2)  # 6 - 20 % of 20 points
    ms = load_manual_scores(sheet(tmp_path, "netid,mini_theory.q1,mini_theory.q1:comment\nab1234,9,nearly\n"), mini_rubric, NETIDS)
    m = merge_manual(r, ms.for_netid("ab1234"))
    q1 = m["items"][2]
    assert (q1["status"], q1["score"], q1["feedback"]) == ("failed", 9.0, "nearly")
    assert m["raw_score"] == 15 and m["score"] == pytest.approx(15 - 0.2 * 20)
    full = merge_manual(r, load_manual_scores(sheet(tmp_path, "netid,mini_theory.q1\nab1234,10\n"), mini_rubric, NETIDS).for_netid("ab1234"))
    assert full["items"][2]["status"] == "passed" and full["items"][2]["feedback"] == "graded by a TA: 10/10"
    assert r["items"][2]["status"] == "pending"  # the input report is not modified


def test_too_late_stays_zero_whatever_the_ta_gives(tmp_path, mini_rubric):
    r = make_report("ab1234", items=[item("mini_theory.q1", "pending", kind="manual", max_score=10)],
                    penalties=[Penalty("too_late", 100.0, "too late")], score=0.0)
    ms = load_manual_scores(sheet(tmp_path, "netid,mini_theory.q1\nab1234,10\n"), mini_rubric, NETIDS)
    m = merge_manual(r, ms.for_netid("ab1234"))
    assert m["raw_score"] == 10 and m["score"] == 0


def test_a_pending_automatic_item_takes_the_ta_score_and_keeps_why_it_was_pending(tmp_path, mini_rubric):
    """The grader could not verify this item (e.g. a hand-derived gradient computed with
    autograd): only a TA's number scores it, and the reason stays on record."""
    why = "needs a TA: the value agrees with autograd, but the function calls torch.autograd.grad"
    r = make_report("ab1234", items=[item("mini.add", "pending", max_score=6, feedback=why),
                                     item("mini.count", "failed", max_score=4)])
    assert r["score"] == 0
    m = merge_manual(r, load_manual_scores(sheet(tmp_path, "netid,mini.add,mini.add:comment\nab1234,2,derived by hand? partly\n"),
                                           mini_rubric, NETIDS).for_netid("ab1234"))
    add = m["items"][0]
    assert (add["status"], add["score"], add["feedback"]) == ("failed", 2.0, "derived by hand? partly")
    assert add["evidence"]["graded_by"] == "TA" and add["evidence"]["pending_reason"] == why
    assert m["score"] == 2.0 and not [f for f in m["findings"] if f["code"] == "ta_score_ignored"]


def test_a_ta_score_never_replaces_what_the_grader_verified(tmp_path, mini_rubric):
    r = make_report("ab1234", items=[item("mini.add", "failed", max_score=6), item("mini.count", "passed", max_score=4)])
    ms = load_manual_scores(sheet(tmp_path, "netid,mini.add,mini.count\nab1234,6,0\n"), mini_rubric, NETIDS)
    m = merge_manual(r, ms.for_netid("ab1234"))
    assert [(i["status"], i["score"]) for i in m["items"]] == [("failed", 0.0), ("passed", 4.0)]
    assert m["score"] == r["score"] == 4.0
    ignored = [f["message"] for f in m["findings"] if f["code"] == "ta_score_ignored"]
    assert len(ignored) == 2 and ignored[0].startswith("mini.add: the TA sheet gives 6 but the grader verified")
