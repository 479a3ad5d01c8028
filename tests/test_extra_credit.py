"""Extra credit: items marked `extra_credit: true` add points above the maximum (capped by
the rubric's `extra_credit_cap`), never count against a student who skips them, and show
as such in report.json, the feedback (Markdown, HTML), the gradebook, JUnit, Gradescope's
results.json and the class pages. Penalties come off the total, extra credit included."""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from factories import MINI_RUBRIC

from grader import score
from grader.batch.manual import ManualScore, merge_manual
from grader.errors import RubricError
from grader.model import Finding, ItemResult, Penalty, Report
from grader.report.cohort import build_cohort, cohort_markdown
from grader.report.gradebook import gradebook_csv
from grader.report.gradescope import gradescope_results
from grader.report.html import feedback_html
from grader.report.junit import junit_xml
from grader.report.markdown import feedback_markdown
from grader.report.view import student_view
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parent.parent


def it(id, score_, max_score, status=None, extra=False, kind="allclose"):
    status = status or ("passed" if score_ >= max_score else "failed")
    return ItemResult(id, f"title {id}", kind, float(score_), float(max_score), status, "", extra_credit=extra)


def graded(items, penalties=(), cap=None, netid="ab1234", findings=()) -> Report:
    """A report scored as the pipeline's score stage does (grader.score.total)."""
    mx = sum(i.max_score for i in items if not i.extra_credit)
    raw, final = score.total(list(items), list(penalties), mx, cap)
    return Report(netid, "hw2", final, mx, round(raw, 4), tuple(penalties), tuple(items), (), tuple(findings),
                  {"file": f"{netid}.zip", "accepted": True}, {"isolation": {"mode": "bwrap"}},
                  "2026-03-02T00:00:00+00:00", 1.0,
                  extra_credit=score.extra_credit_points(list(items), cap), extra_credit_cap=cap)


FULL = [it("nb.a", 50, 50), it("nb.b", 50, 50)]
BONUS = it("nb.bonus", 5, 5, extra=True)
SKIPPED_BONUS = it("nb.bonus", 0, 5, extra=True)


# -- score -----------------------------------------------------------------------------------

def test_extra_credit_raises_a_full_marks_student_above_the_maximum():
    r = graded(FULL + [BONUS])
    assert (r.max_score, r.raw_score, r.score, r.extra_credit) == (100, 105, 105, 5)


def test_a_student_who_skips_extra_credit_loses_nothing():
    with_item = graded(FULL + [SKIPPED_BONUS])
    without = graded(FULL)
    assert (with_item.score, with_item.max_score) == (without.score, without.max_score) == (100, 100)
    assert with_item.extra_credit == 0


def test_the_cap_holds():
    two = [it("nb.b1", 5, 5, extra=True), it("nb.b2", 4, 5, extra=True)]
    assert graded(FULL + two, cap=5).score == 105
    assert graded(FULL + two, cap=5).extra_credit == 5
    assert graded(FULL + two).score == 109  # no cap: the items' own points
    assert score.extra_credit_points(two, 0) == 0


def test_pending_extra_credit_counts_nothing_yet():
    r = graded(FULL + [it("nb.bonus", 0, 5, "pending", extra=True, kind="manual")])
    assert (r.score, r.pending_points, r.pending_extra_credit) == (100, 0, 5)
    md = feedback_markdown(r)
    assert "**Score: 100 / 100 (extra credit: up to 5 point(s) above the maximum; waiting for a TA)**" in md
    assert "1 extra-credit item(s) worth up to 5 points above the maximum are graded by a TA and still pending." in md
    assert "| pending (extra credit) | +0 extra credit (of 5) |" in md


def test_penalties_come_off_the_total_extra_credit_included():
    late = Penalty("late", 20.0, "late")
    # 20 % of the maximum (100) comes off what was earned, extra credit included
    assert graded(FULL + [BONUS], [late]).score == 85
    assert graded(FULL + [SKIPPED_BONUS], [late]).score == 80
    # too late: 0 whatever was earned
    assert graded(FULL + [BONUS], [Penalty("too_late", 100.0, "too late")]).score == 0
    # never below 0
    assert graded([it("nb.a", 0, 50), it("nb.b", 0, 50), BONUS], [late, Penalty("naming", 10, "x")]).score == 0


# -- rubric ----------------------------------------------------------------------------------

def _mini(tmp_path, extra_items, cap=None, split=True) -> Path:
    d = tmp_path / "mini"
    shutil.copytree(MINI_RUBRIC, d)
    a = yaml.safe_load((d / "assignment.yaml").read_text())
    a["manual_items"] += extra_items
    if cap is not None:
        a["extra_credit_cap"] = cap
    if not split:
        a.pop("split")
    (d / "assignment.yaml").write_text(yaml.safe_dump(a, sort_keys=False))
    return d


EC_ITEM = {"id": "mini_theory.bonus", "title": "Extra: plots", "points": 7, "kind": "manual", "part": "theory",
           "extra_credit": True, "guide": "5 for the plots"}


def test_the_rubric_declares_extra_credit_and_its_cap(tmp_path):
    base = load_rubric(MINI_RUBRIC)
    r = load_rubric(_mini(tmp_path, [EC_ITEM], cap=5))
    assert r.max_score == base.max_score  # extra credit is not part of the maximum (nor of the split)
    assert [i.id for i in r.items if i.extra_credit] == ["mini_theory.bonus"]
    assert (r.extra_credit_cap, r.extra_credit_max) == (5, 5)
    assert base.extra_credit_cap is None and base.extra_credit_max == 0


def test_a_non_extra_item_still_must_fit_the_split(tmp_path):
    with pytest.raises(RubricError, match="split.theory"):
        load_rubric(_mini(tmp_path, [dict(EC_ITEM, extra_credit=False)]))


def test_a_bad_cap_or_flag_fails_at_load_naming_the_file(tmp_path):
    d = _mini(tmp_path, [EC_ITEM], cap=-1)
    with pytest.raises(RubricError, match=r"assignment.yaml.*extra_credit_cap"):
        load_rubric(d)
    d2 = _mini(tmp_path / "b", [dict(EC_ITEM, extra_credit="yes")])
    with pytest.raises(RubricError, match=r"extra_credit"):
        load_rubric(d2)


def test_hw2_original_ships_the_section8_extra_credit():
    r = load_rubric(ROOT / "rubrics" / "hw2-original")
    ec = [i for i in r.items if i.extra_credit]
    assert [i.id for i in ec] == ["08-seq_classification.extra_credit_plots"]
    assert ec[0].points == 5 and ec[0].kind == "manual" and ec[0].guide
    assert r.extra_credit_cap == 5 and r.max_score == 100


# -- report.json -----------------------------------------------------------------------------

def test_report_json_carries_extra_credit_and_loads_back():
    r = graded(FULL + [BONUS], cap=5)
    d = r.to_dict()
    assert d["score"] == 105 and d["max_score"] == 100 and d["extra_credit"] == 5 and d["extra_credit_cap"] == 5
    assert [i["extra_credit"] for i in d["items"]] == [False, False, True]
    back = Report.from_dict(json.loads(json.dumps(d)))
    assert back == r
    # an older report.json without the fields: no extra credit
    for k in ("extra_credit", "extra_credit_cap"):
        d.pop(k)
    for i in d["items"]:
        i.pop("extra_credit")
    old = Report.from_dict(d)
    assert old.extra_credit == 0 and old.extra_credit_max == 0 and not any(i.extra_credit for i in old.items)


def test_ta_scores_merged_into_an_extra_credit_item_respect_the_cap():
    r = graded(FULL + [it("nb.bonus", 0, 8, "pending", extra=True, kind="manual")], cap=5).to_dict()
    merged = merge_manual(r, {"nb.bonus": ManualScore(8.0, "")})
    assert (merged["score"], merged["extra_credit"], merged["max_score"]) == (105, 5, 100)


# -- what every format shows -----------------------------------------------------------------

def test_feedback_shows_the_score_above_the_maximum_and_the_extra_credit():
    md = feedback_markdown(graded(FULL + [BONUS], cap=5))
    assert "**Score: 105 / 100 (includes 5 extra-credit point(s) above the maximum; up to 5 count)**" in md
    assert "| passed (extra credit) | +5 extra credit (of 5) |" in md
    html = feedback_html(graded(FULL + [BONUS], cap=5))
    assert "Score: 105 / 100 (includes 5 extra-credit point(s)" in html and "+5 extra credit (of 5)" in html


def test_feedback_shows_a_skipped_extra_credit_as_not_attempted_not_a_loss():
    r = graded(FULL + [SKIPPED_BONUS], cap=5)
    md = feedback_markdown(r)
    assert "**Score: 100 / 100 (extra credit: up to 5 point(s) above the maximum; none earned, nothing lost)**" in md
    assert "| extra credit, not attempted | +0 extra credit (of 5) |" in md
    assert "| failed |" not in md
    v = student_view(r)
    assert [i.verdict for i in v.items if i.extra_credit] == ["Extra credit, not attempted: no points lost."]
    # a regular item that scores 0 still reads as failed
    assert "| failed | 0 / 50 |" in feedback_markdown(graded([it("nb.a", 0, 50), it("nb.b", 50, 50), SKIPPED_BONUS]))


def test_no_extra_credit_no_change_in_the_score_line():
    assert "**Score: 100 / 100**" in feedback_markdown(graded(FULL))


def test_gradebook_has_the_extra_credit_column_and_the_score_above_the_maximum():
    text = gradebook_csv([graded(FULL + [BONUS], cap=5), graded(FULL + [SKIPPED_BONUS], cap=5, netid="cd5678")])
    ab, cd = csv.DictReader(io.StringIO(text))
    assert (ab["score"], ab["max_score"], ab["extra_credit"], ab["nb.bonus"]) == ("105", "100", "5", "5")
    assert (cd["score"], cd["extra_credit"], cd["nb.bonus"]) == ("100", "0", "0")


def test_gradescope_counts_extra_credit_above_the_total_and_never_as_a_failure():
    res = gradescope_results(graded(FULL + [BONUS], cap=5))
    assert res["score"] == 105
    bonus = res["tests"][-1]
    assert (bonus["score"], bonus["max_score"], bonus["status"]) == (5, 0, "passed")
    skipped = gradescope_results(graded(FULL + [SKIPPED_BONUS]))["tests"][-1]
    assert skipped["max_score"] == 0 and "status" not in skipped and "not attempted" in skipped["output"]


def test_junit_never_fails_a_skipped_extra_credit():
    xml = junit_xml([graded(FULL + [SKIPPED_BONUS], cap=5)])
    assert 'failures="0"' in xml and 'skipped message="extra credit, not attempted"' in xml
    assert 'failures="1"' in junit_xml([graded([it("nb.a", 0, 50), it("nb.b", 50, 50), SKIPPED_BONUS])])


def test_class_pages_mark_extra_credit():
    reports = [graded(FULL + [BONUS], cap=5), graded(FULL + [SKIPPED_BONUS], cap=5, netid="cd5678")]
    c = build_cohort(reports)
    assert c["extra_credit"] == {"earned": 1, "above_max": 1}
    assert [row["extra_credit"] for row in c["items"]] == [False, False, True]
    assert c["histogram"]["counts"][-1] == 2  # above the maximum: the last bin
    assert "(extra credit) (`nb.bonus`)" in cohort_markdown(c)


def test_flags_reach_the_class_page_and_the_gradebook():
    f = Finding("other_rubric", "looks like Fall 2021: grade with `grader run x.zip --rubric rubrics/hw3`", "warning")
    r = graded(FULL, findings=[f])
    c = build_cohort([r])
    assert c["flags"] == [{"netid": "ab1234", "code": "other_rubric", "message": f.message}]
    assert "## Flagged submissions" in cohort_markdown(c)
    assert "looks like Fall 2021" in gradebook_csv([r])


# -- Section 8's evidence for the TA: which cells produced pictures ---------------------------

def _png_b64() -> str:
    import base64
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\x10\x20\x30")) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


def _nb(*cells):
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _md(text):
    return {"cell_type": "markdown", "source": text, "metadata": {}}


def _code(*outputs):
    return {"cell_type": "code", "source": "plot()", "outputs": list(outputs), "metadata": {}, "execution_count": 1}


def _img(payload, kind="display_data"):
    return {"output_type": kind, "data": {"image/png": payload, "text/plain": "<Figure>"}, "metadata": {}}


SEC8 = r"^#+\s*8\b"


def test_pictures_are_counted_per_cell_and_placed_against_the_section():
    from grader.checks.plot_evidence import count_images

    png = _png_b64()
    nb = _nb(_md("## 7. Evaluate"), _code(_img(png)), _md("## 8. Visualize LSTM"), _code(_img(png), _img(png, "execute_result")),
             _code({"output_type": "stream", "name": "stdout", "text": "plotted the gradients and the weights!"}),
             _code(_img(png[:8] + "A" * 40)),  # labelled image/png, not a PNG: does not count
             _code(_img(["not base64 at all ~~~"])), _code(_img(42)))
    ev = count_images(nb, SEC8)
    assert ev == {"images": 3, "cells": [{"cell": 1, "images": 1, "in_section": False},
                                         {"cell": 3, "images": 2, "in_section": True}],
                  "section": SEC8, "section_cell": 2, "images_in_section": 2}
    no_section = count_images(_nb(_md("## 7"), _code(_img(png))), SEC8)
    assert (no_section["section_cell"], no_section["images_in_section"], no_section["images"]) == (None, 0, 1)
    assert count_images({"cells": "nonsense"}, SEC8)["images"] == 0 and count_images(None)["images"] == 0


def test_the_manual_item_carries_the_evidence_and_stays_pending(tmp_path):
    from types import SimpleNamespace

    from grader.checks import registry

    png = _png_b64()
    executed = tmp_path / "run.ipynb"
    executed.write_text(json.dumps(_nb(_md("## 8. Visualize"), _code())))  # the grader's run: Agg, no picture
    submitted = _nb(_md("## 8. Visualize"), _code(_img(png)))
    r = load_rubric(ROOT / "rubrics" / "hw2-original")
    item = next(i for i in r.items if i.extra_credit)
    ctx = SimpleNamespace(run=SimpleNamespace(executed_notebook=executed), submitted=submitted)
    res = registry.get("manual").run(ctx, item)
    assert (res.status, res.fraction) == ("pending", 0.0)
    plots = res.evidence["plots"]
    assert plots["grader_run"]["images"] == 0
    assert plots["as_submitted"]["images_in_section"] == 1 and plots["as_submitted"]["cells"][0]["cell"] == 1
    # without a run: said so, nothing invented
    res = registry.get("manual").run(SimpleNamespace(run=None, submitted=None), item)
    assert res.evidence["plots"]["grader_run"] is None and "grader_run_missing" in res.evidence["plots"]


def test_a_bad_plots_regex_fails_at_load(tmp_path):
    d = _mini(tmp_path, [dict(EC_ITEM, params={"plots_after": "(unclosed"})])
    with pytest.raises(RubricError, match=r"plots_after.*regex"):
        load_rubric(d)


def test_the_pipeline_keeps_the_flag_and_the_evidence_of_a_manual_extra_credit_item():
    from types import SimpleNamespace

    from grader.pipeline import _check_one

    item = next(i for i in load_rubric(ROOT / "rubrics" / "hw2-original").items if i.extra_credit)
    ctx = SimpleNamespace(run=None, submitted=_nb(_md("## 8."), _code(_img(_png_b64()))))
    res = _check_one(item, ctx, SimpleNamespace(accepted=True))
    assert (res.extra_credit, res.status, res.score, res.max_score) == (True, "pending", 0.0, 5.0)
    assert res.evidence["plots"]["as_submitted"]["images_in_section"] == 1
    # a submission that was not accepted: pending, no evidence gathered
    assert _check_one(item, ctx, SimpleNamespace(accepted=False)).evidence == {}


def test_lms_exports_carry_the_score_above_the_maximum_and_a_pending_extra_credit_withholds_nothing():
    from grader.lms import gradebooks as G
    from grader.lms.roster import parse_roster
    from grader.report.formats import Context

    roster = parse_roster("OrgDefinedId,Username,Last Name,First Name,Email,End-of-Line Indicator\r\n"
                          "#N001,#ab1234,Doe,Jo,ab1234@nyu.edu,#\r\n#N002,#cd5678,Roe,Al,cd5678@nyu.edu,#\r\n")
    ctx = Context(roster=roster, lms_grade_item="Homework 2")
    reports = [graded(FULL + [BONUS], cap=5),
               graded(FULL + [it("nb.bonus", 0, 5, "pending", extra=True, kind="manual")], cap=5, netid="cd5678")]
    out = list(csv.reader(io.StringIO(G.render_brightspace(reports, ctx).decode("utf-8"), newline="")))
    assert [r[1:3] for r in out[1:]] == [["#ab1234", "105"], ["#cd5678", "100"]]


def test_the_run_summary_says_the_extra_credit():
    from grader.report.summary import summary_table

    assert "TOTAL ab1234: 105 / 100  (includes 5 extra credit)" in summary_table(graded(FULL + [BONUS]))
    pending = graded(FULL + [it("nb.bonus", 0, 5, "pending", extra=True, kind="manual")])
    assert summary_table(pending).endswith("TOTAL ab1234: 100 / 100  (up to 5 extra-credit points pending TA grading)")
