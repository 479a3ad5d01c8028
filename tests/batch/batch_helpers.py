"""Shared by tests/batch and tests/report: synthetic report dicts, and fake job functions
that Dask workers import by name (this folder is put on the workers' PYTHONPATH)."""
from __future__ import annotations

import os
import time

from grader.model import Finding, ItemResult, Penalty, Report


def item(id, status="passed", score=None, max_score=5.0, **kw) -> ItemResult:
    if score is None:
        score = max_score if status == "passed" else 0.0
    return ItemResult(id=id, title=kw.pop("title", f"title of {id}"), kind=kw.pop("kind", "allclose"), score=score,
                      max_score=max_score, status=status, feedback=kw.pop("feedback", ""), **kw)


def make_report(netid="ab1234", items=None, penalties=(), score=None, max_score=None, findings=(), **kw) -> dict:
    items = tuple(items if items is not None else (
        item("nb.a"), item("nb.b", "failed", feedback="values differ; worst at index 2"),
        item("nb.c", "error", feedback="probe crashed"), item("nb.hidden", "failed", visibility="hidden",
                                                              feedback="secret input [3, 1, 4]", evidence={"inputs": [3, 1, 4]}),
        item("q1", "pending", kind="manual", max_score=10.0, part="theory", feedback="graded by a TA; pending"),
    ))
    raw = sum(i.score for i in items if i.status != "pending")
    mx = max_score if max_score is not None else sum(i.max_score for i in items)
    deduct = sum(p.percent for p in penalties) / 100 * mx
    return Report(
        netid=netid, assignment="mini", score=score if score is not None else max(0.0, raw - deduct), max_score=mx,
        raw_score=raw, penalties=tuple(penalties), items=items, notebooks=(), findings=tuple(findings),
        submission={"file": f"{netid}.zip", "sha256": "0" * 64, "accepted": True, "rejection": ""},
        environment={"isolation": {"mode": "none"}, "rubric": {"directory": "/nonexistent"}},
        graded_at="2026-03-02T00:00:00+00:00", seconds=kw.pop("seconds", 3.5),
    ).to_dict()


def _ok(payload: dict) -> dict:
    netid = payload["name"][:-4]
    return {"ok": True, "report": make_report(netid), "code": {}, "files": {}, "worker": f"test:{os.getpid()}", "seconds": 0.01}


def die_for_cd(payload: dict) -> dict:
    """Kills its own worker process for cd5678.zip: a segfault-like death Dask must survive."""
    if payload["name"] == "cd5678.zip":
        os._exit(3)
    return _ok(payload)


def raise_for_cd(payload: dict) -> dict:
    if payload["name"] == "cd5678.zip":
        raise RuntimeError("boom in the grader")
    return _ok(payload)


def hang_for_cd(payload: dict) -> dict:
    """For cd5678.zip, waits on a child that never ends (a grading blocked on a stuck process)."""
    import subprocess

    if payload["name"] == "cd5678.zip":
        subprocess.run(["sleep", "3600"])
    return _ok(payload)


def spin_for_cd(payload: dict) -> dict:
    """For cd5678.zip, loops in Python forever (a grading stuck in the grader's own code)."""
    if payload["name"] == "cd5678.zip":
        while True:
            pass
    return _ok(payload)


def slow_ok(payload: dict) -> dict:
    time.sleep(0.2)
    return _ok(payload)


__all__ = ["item", "make_report", "Penalty", "Finding", "die_for_cd", "raise_for_cd", "hang_for_cd", "spin_for_cd", "slow_ok"]


# Gradescope's documented autograder output ("Autograder Specifications" -> "Output format",
# results/results.json), written down as a JSON schema for the tests.
_VIS = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
_FMT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
GRADESCOPE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": _FMT,
        "test_output_format": _FMT,
        "test_name_format": _FMT,
        "visibility": _VIS,
        "stdout_visibility": _VIS,
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number", "minimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": _FMT,
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": _FMT,
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": _VIS,
                    "extra_data": {"type": "object"},
                },
            },
        },
        "leaderboard": {"type": "array"},
    },
    "anyOf": [{"required": ["score"]}, {"required": ["tests"]}],
}


def needs_bytes(payload: dict) -> dict:
    """For a remote scheduler the zip travels with the job (no shared filesystem assumed)."""
    assert payload.get("data") == payload["name"][:-4].encode(), "the zip's bytes were not shipped"
    return _ok(payload)
