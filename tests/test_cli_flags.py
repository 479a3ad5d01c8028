"""The command-line flags the README shows reach what they control (tests/test_readme.py
checks that every such flag is used by a test). The grading itself is replaced by a stand-in
that records what the command passed on: milliseconds, no kernel."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from factories import MINI_RUBRIC
from grader.cli import main


@pytest.fixture
def fake_grade(monkeypatch, mini_rubric):
    """`grader run`'s grading replaced: records the Env, returns a (crash) report of the mini rubric."""
    from grader import pipeline
    from grader.batch.crash import crash_report
    from grader.model import Report

    seen = {}

    def grade(src, env):
        seen["src"], seen["env"] = src, env
        return Report.from_dict(crash_report(mini_rubric, Path(src), "ab1234", "0" * 64, "a stand-in report"))
    monkeypatch.setattr(pipeline, "grade", grade)
    return seen


def test_run_flags_reach_the_grading(tmp_path, fake_grade, capsys):
    z = tmp_path / "ab1234.zip"
    z.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert main(["run", str(z), "--rubric", str(MINI_RUBRIC), "--out", str(tmp_path / "out"), "--jobs", "3",
                 "--keep-scratch", "--cache", str(tmp_path / "cache"), "--isolation", "none",
                 "--submitted-at", "2026-03-01T23:00:00", "--json"]) == 0
    env = fake_grade["env"]
    assert env.jobs == 3 and env.keep_scratch is True and env.exec_cache == tmp_path / "cache"
    assert env.isolation == "none" and env.out_dir == tmp_path / "out" and env.submitted_at.hour == 23
    out = json.loads(capsys.readouterr().out)  # --json: the report, not the summary table
    assert out["netid"] == "ab1234" and out["crash_reason"] == "a stand-in report"


def test_run_without_json_prints_the_summary(tmp_path, fake_grade, capsys):
    z = tmp_path / "ab1234.zip"
    z.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert main(["run", str(z), "--rubric", str(MINI_RUBRIC), "--out", str(tmp_path / "out")]) == 0
    env = fake_grade["env"]
    assert env.keep_scratch is False and env.exec_cache is None
    text = capsys.readouterr().out
    assert "report: " in text and not text.lstrip().startswith("{")


@pytest.fixture
def fake_batch(monkeypatch):
    from grader.batch import run as batch_run

    seen = {}

    def run_batch(inputs, out, rubric, **kw):
        seen.update(kw, inputs=inputs, out=out, rubric=rubric)
        return SimpleNamespace(total=0, graded=0, skipped=0, failed=0, seconds=0.0, out_dir=Path(out), lms=None)
    monkeypatch.setattr(batch_run, "run_batch", run_batch)
    return seen


def test_batch_flags_reach_run_batch(tmp_path, fake_batch):
    sheet = tmp_path / "ta.csv"
    sheet.write_text("netid\n")
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--rubric", str(MINI_RUBRIC), "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:8786", "--manual-scores", str(sheet), "--isolation", "none",
                 "--job-timeout", "30", "--jobs", "2", "--clear-cache"]) == 0
    kw = fake_batch
    assert kw["workers"] == 2 and kw["scheduler"] == "tcp://127.0.0.1:8786" and kw["manual_scores"] == str(sheet)
    assert kw["jobs"] == 2 and kw["job_timeout_s"] == 30 and kw["isolation"] == "none"
    assert kw["clear_cache"] is True and kw["cache"] is True


def test_batch_no_cache_and_defaults(tmp_path, fake_batch):
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--no-cache"]) == 0
    assert fake_batch["cache"] is False and fake_batch["clear_cache"] is False
    assert fake_batch["scheduler"] is None and fake_batch["manual_scores"] is None


def test_batch_rejects_a_bad_worker_count(tmp_path, fake_batch, capsys):
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err and not fake_batch


def test_env_check_modules_tries_each_module(monkeypatch, capsys):
    from grader import rubric as rubric_mod
    from grader import studentenv

    spec = SimpleNamespace(name="colab-2023", key="k1", packages=["numpy<2"], optional=[])
    monkeypatch.setattr(rubric_mod, "load_rubric", lambda path: SimpleNamespace(environment=spec, directory=Path(path)))
    env = SimpleNamespace(root=Path("/envs/k1"), python_version="3.10.12", built_at="2026-01-01", packages={"numpy": "1.26.4"},
                          missing_optional=[])
    monkeypatch.setattr(studentenv, "load", lambda s: env)
    asked = []
    monkeypatch.setattr(studentenv, "module_status", lambda e, mods: asked.extend(mods) or {m: m == "tqdm" for m in mods})
    assert main(["env", "check", "rubrics/x", "--modules", "tqdm,torchvision"]) == 0
    out = capsys.readouterr().out
    assert asked == ["tqdm", "torchvision"]
    assert "import tqdm" in out and "ok" in out and "import torchvision" in out and "MISSING" in out


def test_batch_similarity_threshold_and_no_class_reports_reach_run_batch(tmp_path, fake_batch):
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--similarity-threshold", "0.7",
                 "--no-class-reports"]) == 0
    assert fake_batch["similarity_threshold"] == 0.7 and fake_batch["class_reports"] is False
    fake_batch.clear()
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    from grader import defaults
    assert fake_batch["similarity_threshold"] == defaults.SIMILARITY_THRESHOLD and fake_batch["class_reports"] is True


def test_report_flags_reach_the_class_reports(tmp_path, monkeypatch, capsys):
    from grader.batch import publish

    seen = {}

    def write_class_reports(out, **kw):
        seen.update(kw, out=out)
        return {"n_submissions": 0, "similarity": {"pairs": []}}
    monkeypatch.setattr(publish, "write_class_reports", write_class_reports)
    assert main(["report", str(tmp_path), "--gradescope-hidden", "after_due_date", "--similarity-threshold", "0.9"]) == 0
    assert seen["gradescope_hidden"] == "after_due_date" and seen["similarity_threshold"] == 0.9
    with pytest.raises(SystemExit):  # the choices are the Gradescope format's own
        main(["report", str(tmp_path), "--gradescope-hidden", "secret"])
    assert "invalid choice: 'secret'" in capsys.readouterr().err


def test_gradescope_run_flags_reach_the_run(tmp_path, monkeypatch):
    from grader import gradescope

    seen = {}
    monkeypatch.setattr(gradescope, "run", lambda root, rubric, **kw: seen.update(kw, root=root, rubric=rubric) or 0)
    assert main(["gradescope", "run", "--root", str(tmp_path), "--gradescope-hidden", "hidden", "--cache",
                 str(tmp_path / "c"), "--isolation", "none"]) == 0
    assert seen == {"root": str(tmp_path), "rubric": None, "isolation": "none", "cache": str(tmp_path / "c"),
                    "hidden_visibility": "hidden"}


def test_env_build_force_reaches_the_builder(monkeypatch, capsys):
    from grader import rubric as rubric_mod
    from grader import studentenv

    spec = SimpleNamespace(name="colab-2023", key="k1", packages=[], optional=[])
    monkeypatch.setattr(rubric_mod, "load_rubric", lambda path: SimpleNamespace(environment=spec, directory=Path(path)))
    env = SimpleNamespace(root=Path("/envs/k1"), python_version="3.10.12", built_at="2026-01-01", packages={},
                          missing_optional=[])
    forced = []
    monkeypatch.setattr(studentenv, "build", lambda s, force: forced.append(force) or env)
    assert main(["env", "build", "rubrics/x", "--force"]) == 0
    assert main(["env", "build", "rubrics/x"]) == 0
    assert forced == [True, False]
