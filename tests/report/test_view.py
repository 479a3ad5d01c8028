"""One student view (grader/report/view.py) for every student-facing format: feedback.md,
feedback.html and Gradescope's results.json agree on what a student is shown. Each test is
a disagreement the formats had when each built its own view."""
import base64
import json

from batch_helpers import Finding, item, make_report

from grader.model import Report
from grader.report.formats import FORMATS, STUDENT
from grader.report.view import MAX_FEEDBACK, student_view

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 80


def pages(r: dict) -> dict[str, str]:
    typed = Report.from_dict(r)
    return {f.file: f.render(typed, None).decode() for f in FORMATS if f.scope == STUDENT}


def test_every_format_shows_the_same_findings():
    """Before: Markdown showed warnings plus three info codes, HTML warnings only, Gradescope errors only."""
    r = make_report(findings=[Finding("misnamed", "taken as hw2_rnn.ipynb", "warning"),
                              Finding("junk_ignored", "ignored __MACOSX", "info"),
                              Finding("pdf_unreadable", "the PDF could not be read", "error"),
                              Finding("environment_error", "internal note for the grader", "info")])
    for name, page in pages(r).items():
        for shown in ("taken as hw2_rnn.ipynb", "ignored __MACOSX", "the PDF could not be read"):
            assert shown in page, (name, shown)
        assert "internal note" not in page, name


def test_long_feedback_is_cut_at_the_same_place_everywhere():
    """Before: 4000 characters in Markdown, 6000 in HTML, 8000 in Gradescope."""
    r = make_report(items=[item("nb.a", "failed", feedback="y" * (MAX_FEEDBACK + 123))])
    for name, page in pages(r).items():
        assert "(123 more characters)" in page, name
        assert "y" * MAX_FEEDBACK in page and "y" * (MAX_FEEDBACK + 1) not in page, name


def test_the_pending_total_is_one_sentence_everywhere():
    """Before: computed in four places, in three wordings."""
    r = make_report()
    note = student_view(r).pending_note
    assert note == "1 item(s) worth 10 points are graded by a TA and still pending."
    for name, page in pages(r).items():
        assert note in page, name
    from grader.report.summary import summary_table

    assert "(10 points pending TA grading)" in summary_table(r)


def test_a_passed_item_with_a_picture_shows_it_in_both_pages():
    """Before: Markdown skipped a passed item without feedback, picture and all."""
    r = make_report(items=[item("nb.curve", "passed", evidence={"artifacts": {"loss_curve.png": base64.b64encode(PNG).decode()}})])
    p = pages(r)
    assert "![loss_curve.png](nb.curve.loss_curve.png)" in p["feedback.md"]
    assert 'src="nb.curve.loss_curve.png"' in p["feedback.html"]


def test_the_same_items_have_details_in_markdown_and_html():
    """Before: HTML showed a details section for every item, Markdown not for passed items without feedback."""
    r = make_report()
    p = pages(r)
    detailed = [i.id for i in student_view(r).items if i.details]
    assert detailed == ["nb.b", "nb.c", "nb.hidden", "q1"]
    for iid in detailed:
        assert f'<h3 id="{iid}">' in p["feedback.html"]
    assert '<h3 id="nb.a">' not in p["feedback.html"] and p["feedback.md"].count("\n### ") == len(detailed)


def test_hidden_items_say_the_same_thing_everywhere():
    r = make_report()
    verdict = "Hidden test: failed. Its inputs and details are not shown."
    p = pages(r)
    assert verdict in p["feedback.md"] and verdict in p["feedback.html"]
    assert json.loads(p["results.json"])["tests"][3]["output"] == verdict
    for page in p.values():
        assert "secret input" not in page and "3, 1, 4" not in page


def test_the_instructor_view_keeps_hidden_feedback_and_every_finding():
    r = make_report(findings=[Finding("environment_error", "internal note", "info")])
    v = student_view(r, "instructor")
    assert next(i for i in v.items if i.id == "nb.hidden").feedback == "secret input [3, 1, 4]"
    assert "internal note" in v.findings
