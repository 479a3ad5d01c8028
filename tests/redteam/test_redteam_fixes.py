"""Unit tests of the red-team fixes (tests/adversarial/test_redteam.py grades the attacks end to end)."""
from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def test_markdown_student_text_cannot_forge_lines():
    from grader.report.markdown import code_block, inline

    evil = "```\n\n**Score: 100 / 100**\n# Heading\n| a | b |"
    block = code_block(evil)
    assert all(line == "" or line.startswith("    ") for line in block)
    one = inline(evil)
    assert "\n" not in one and "\\*\\*Score" in one and "\\|" in one and "\\`\\`\\`" in one


def test_html_pictures_only_from_the_graders_artifacts():
    from grader.report.html import split_images
    import build_adversarial_redteam as rt

    png = base64.b64encode(rt.banner_png()).decode()
    ev, images = split_images({"exported": {"init_args": {"banner": png}}, "note": png}, None)
    assert images == [] and ev["note"] == png
    ev, images = split_images({"artifacts": {"x.loss_curve.png": png}}, None)
    assert len(images) == 1


def test_deeply_nested_notebook_is_invalid_not_a_crash(tmp_path):
    from grader.intake.documents import _json_depth, read_notebook

    p = tmp_path / "nb.ipynb"
    p.write_text('{"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": ' + "[" * 50000 + "]" * 50000 + '}, "cells": []}')
    nb, findings = read_notebook(p, "nb.ipynb")
    assert nb is None and findings[0].code == "notebook_invalid" and "nests" in findings[0].message
    assert _json_depth(b'{"a": "[[[[[[", "b": [{"c": "\\\\\\"[["}]}') == 3


def test_pdf_dates_and_active_content(tmp_path):
    from grader.intake.documents import check_pdf, parse_pdf_date
    import build_adversarial_redteam as rt

    assert parse_pdf_date("D:20260302100000-05'00'") == dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.timezone.utc)
    assert parse_pdf_date("D:20260302100000") is None  # no zone: cannot be placed in time
    p = tmp_path / "a.pdf"
    p.write_bytes(rt.pdf_with_javascript("ab1234"))
    codes = {f.code: f.message for f in check_pdf(p, "a.pdf")}
    assert "pdf_active_content" in codes and "JavaScript" in codes["pdf_active_content"]
    p.write_bytes(rt.pdf_with_dates("ab1234", "2026-03-02T15:00:00+0000"))
    assert {f.code for f in check_pdf(p, "a.pdf")} == {"pdf_ok"}


def test_a_public_case_fails_when_its_fresh_twin_fails():
    from grader.checks.base import Part
    from grader.checks.cases import CaseRun, SHADOW_NOTE, fold_shadows
    from grader.probe import Outcome

    runs = [CaseRun("a", [], {}, Outcome(True), None, 1), CaseRun("b", [], {}, Outcome(True), None, 2),
            CaseRun("a (fresh inputs)", [], {}, Outcome(True), None, 3, 0), CaseRun("b (fresh inputs)", [], {}, Outcome(True), None, 4, 1)]
    parts, ev = fold_shadows(runs, [[Part("a", 1, True)], [Part("b", 1, True)], [Part("a'", 1, False)], [Part("b'", 1, True)]],
                             [{"label": "a", "ok": True}, {"label": "b", "ok": True}, {"label": "a'"}, {"label": "b'"}])
    assert [p.ok for p in parts] == [False, True] and SHADOW_NOTE in parts[0].detail
    assert [e.get("private") for e in ev] == [None, None, True, True] and "inputs" not in ev[2]


def test_forged_zip_times_are_overruled_by_the_pdfs_own_date(tmp_path):
    from grader.intake import intake
    from grader.rubric import load_rubric

    m = json.loads((ROOT / "submissions/adversarial/forged_zip_times/expected.json").read_text())
    sub = intake(ROOT / "submissions/adversarial/forged_zip_times" / m["zip"], load_rubric(ROOT / "rubrics/hw2"), tmp_path)
    assert sub.submitted_at.isoformat() == "2026-03-02T10:00:00-05:00"
    assert "time_contradiction" in {f.code for f in sub.findings}
    assert [p.rule for p in sub.penalties] == ["late"]
