"""Gradescope results.json: valid against the documented schema; hidden items keep their secrets."""

import jsonschema

from batch_helpers import GRADESCOPE_SCHEMA, Penalty, item, make_report

from grader.report.gradescope import gradescope_results


def test_results_validate_against_the_gradescope_schema():
    r = make_report(penalties=[Penalty("late", 20.0, "submitted 3 h late")])
    out = gradescope_results(r)
    jsonschema.validate(out, GRADESCOPE_SCHEMA)
    assert out["score"] == r["score"]
    assert [t["number"] for t in out["tests"]] == ["1", "2", "3", "4", "5"]
    assert [t.get("status") for t in out["tests"]] == ["passed", "failed", "failed", "failed", None]
    assert "Penalty late (-20 %)" in out["output"] and "10 points are graded by a TA" in out["output"]


def test_hidden_items_show_the_result_but_not_the_inputs():
    out = gradescope_results(make_report())
    hidden = out["tests"][3]
    assert hidden["visibility"] == "visible" and hidden["score"] == 0 and hidden["status"] == "failed"
    assert "secret" not in hidden["output"] and "3, 1, 4" not in hidden["output"]
    assert "Hidden test: failed" in hidden["output"]
    later = gradescope_results(make_report(), hidden_visibility="after_published")
    assert later["tests"][3]["visibility"] == "after_published"
    jsonschema.validate(later, GRADESCOPE_SCHEMA)


def test_visible_feedback_is_the_output():
    out = gradescope_results(make_report(items=[item("nb.b", "failed", feedback="values differ; worst at index 2")]))
    assert out["tests"][0]["output"] == "values differ; worst at index 2"
    assert out["tests"][0]["name"] == "title of nb.b (nb.b)"
