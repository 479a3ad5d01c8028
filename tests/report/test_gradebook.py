"""The class gradebook CSV: stable columns, one row per report, safe for spreadsheets."""
import csv
import io

from batch_helpers import Finding, Penalty, item, make_report

from grader.report.gradebook import gradebook_csv


def rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_columns_are_stable_and_rows_sorted(mini_rubric):
    reports = [make_report("cd5678", items=[item("mini.add", max_score=6), item("mini_theory.q1", "pending", kind="manual", max_score=10)]),
               make_report("ab1234", items=[item("other.count", max_score=10)], penalties=[Penalty("late", 20.0, "late")])]
    header, *body = rows(gradebook_csv(reports, mini_rubric))
    assert header == ["netid", "score", "max_score", "raw_score", "extra_credit", "penalty_naming", "penalty_extra_files", "penalty_late",
                      "penalty_not_executable", "penalty_too_late", "mini.add", "mini.count", "other.count", "mini_theory.q1",
                      "pending_points", "time_flag", "notes"]
    assert [r[0] for r in body] == ["ab1234", "cd5678"]
    ab = dict(zip(header, body[0]))
    assert (ab["score"], ab["raw_score"], ab["penalty_late"], ab["other.count"], ab["mini.add"]) == ("8", "10", "20", "10", "")
    cd = dict(zip(header, body[1]))
    assert (cd["mini_theory.q1"], cd["pending_points"]) == ("", "10")
    assert gradebook_csv(list(reversed(reports)), mini_rubric) == gradebook_csv(reports, mini_rubric)


def test_a_failed_grading_has_a_row_with_its_reason():
    crashed = make_report("ab1234", items=[item("nb.a", "error")], score=0.0,
                          findings=[Finding("grader_crash", "the worker died. This is a fault of the grader", "error")])
    header, row = rows(gradebook_csv([crashed]))
    assert dict(zip(header, row))["notes"] == "the worker died"


def test_student_text_cannot_become_a_spreadsheet_formula():
    r = make_report("ab1234", findings=[Finding("internal_error", "=HYPERLINK(\"http://x\")", "error")])
    header, row = rows(gradebook_csv([r]))
    assert dict(zip(header, row))["notes"].startswith("'=")
