"""item_pass_rates.csv: per rubric item, how many submissions passed it, for a spreadsheet
(the same numbers as cohort.json's items, without the similarity and the histogram).

Columns: item, title, max_score, graded (pending not counted), passed, failed, error,
skipped, pending, pass_rate (0..1, empty when none is graded), mean_score.
"""
from __future__ import annotations

import csv
import io
from typing import Sequence

from grader.model import Report
from grader.report.cohort import item_rows
from grader.report.gradebook import csv_number, csv_text

COLUMNS = ("item", "title", "max_score", "graded", "passed", "failed", "error", "skipped", "pending", "pass_rate", "mean_score")


def render(reports: Sequence[Report], ctx=None) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in item_rows(sorted(reports, key=lambda r: r.netid)):
        graded = row["passed"] + row["failed"] + row["error"] + row["skipped"]
        w.writerow([csv_text(row["id"]), csv_text(row["title"]), csv_number(row["max_score"]), graded, row["passed"], row["failed"],
                    row["error"], row["skipped"], row["pending"], csv_number(row["pass_rate"]), csv_number(row["mean_score"])])
    return buf.getvalue().encode("utf-8", "replace")
