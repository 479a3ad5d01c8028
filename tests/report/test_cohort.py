"""The class view: pass rates, histogram, similarity section with its caveat."""
import json

from batch_helpers import item, make_report

from grader.report.cohort import build_cohort, cohort_html, cohort_markdown, histogram


def test_pass_rates_ignore_pending_and_count_every_status():
    reports = [make_report("ab1234"), make_report("cd5678", items=[item("nb.a", "failed"), item("q1", "pending", kind="manual")])]
    c = build_cohort(reports, [], threshold=0.8, note="not an accusation")
    items = {i["id"]: i for i in c["items"]}
    assert (items["nb.a"]["passed"], items["nb.a"]["failed"], items["nb.a"]["pass_rate"]) == (1, 1, 0.5)
    assert items["q1"]["pending"] == 2 and items["q1"]["pass_rate"] is None
    assert c["n_submissions"] == 2
    json.dumps(c)


def test_histogram_puts_a_full_score_in_the_last_bin():
    assert histogram([0, 5, 29.9, 30], 30, bins=3) == {"bin_edges": [0, 10, 20, 30], "counts": [2, 0, 2]}


def test_similar_pairs_are_listed_with_the_caveat_and_escaped():
    pairs = [{"a": "ab1234", "b": "<i>cd5678", "similarity": 0.95, "shared_grams": 40, "targets": {"hw.ipynb::conv1d": 0.95}}]
    c = build_cohort([make_report("ab1234")], pairs, threshold=0.8, note="a lead for a human, not an accusation")
    md, page = cohort_markdown(c), cohort_html(c)
    assert "| ab1234 | \\<i\\>cd5678 | 0.95 | conv1d 0.95 |" in md and "not an accusation" in md  # escaped: a table cell cannot be broken
    assert "&lt;i&gt;cd5678" in page and "<i>cd5678" not in page
