"""`grader gradescope build|run`: the bundle's contents and scripts, the submission folder
(zip or loose files) and Gradescope's metadata, the richer results (Markdown output,
extra_data, leaderboard), and (slow) the bundle's own run_autograder against a directory
laid out like /autograder, each results.json validated against Gradescope's format."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
from factories import HW2_RUBRIC, SAMPLES, make_zip

from grader import gradescope
from grader.errors import RubricError
from grader.model import ItemResult, Report
from grader.report.gradescope import gradescope_results
from grader.rubric import load_rubric

SCHEMA = json.loads((Path(__file__).with_name("results.schema.json")).read_text())
VENV_BIN = Path(sys.executable).parent


def valid(results: dict) -> dict:
    jsonschema.validate(results, SCHEMA)
    return results


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    gradescope.build(HW2_RUBRIC, out)
    return out


def unpack(bundle: Path, root: Path) -> Path:
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    for name in gradescope.SCRIPTS:  # zipfile does not restore modes; Gradescope runs them with bash
        os.chmod(root / "source" / name, 0o755)
    return root


# -- the schema itself can fail ----------------------------------------------------------


def test_schema_rejects_what_gradescope_does_not_know():
    ok = {"score": 1, "output_format": "md", "tests": [{"max_score": 1, "status": "passed"}],
          "leaderboard": [{"name": "acc", "value": 0.9, "order": "desc"}]}
    valid(ok)
    for bad in ({"score": 1, "output_format": "markdown"}, {"score": 1, "tests": [{"max_score": 1, "status": "error"}]},
                {"score": 1, "leaderboard": [{"name": "acc", "value": 0.9, "order": "up"}]}, {"scores": 1},
                {"score": 1, "tests": [{"score": 1, "points": 1}]}, {"score": "1"}, {"score": 1, "leaderboard": [{"value": 1}]}):
        with pytest.raises(jsonschema.ValidationError):
            valid(bad)


# -- the bundle --------------------------------------------------------------------------


def test_bundle_holds_the_scripts_the_grader_and_the_rubric(bundle):
    names = zipfile.ZipFile(bundle).namelist()
    assert {"setup.sh", "run_autograder", "bundle.env"} <= set(names)
    for must in ("grader-src/pyproject.toml", "grader-src/README.md", "grader-src/grader/cli.py",
                 "grader-src/grader/gradescope/run_autograder", "grader-src/rubrics/hw2/assignment.yaml",
                 "grader-src/rubrics/hw2/hw2_cnn.yaml", "grader-src/reference/res/plot_lib.py"):
        assert must in names, must
    assert not [n for n in names if "__pycache__" in n or n.startswith("grader-src/reference/solution/")]
    env = zipfile.ZipFile(bundle).read("bundle.env").decode()
    assert "GRADER_RUBRIC=grader-src/rubrics/hw2\n" in env


def test_bundle_is_reproducible(bundle, tmp_path):
    again = tmp_path / "again.zip"
    gradescope.build(HW2_RUBRIC, again)
    assert again.read_bytes() == bundle.read_bytes()


def test_scripts_parse_and_name_what_run_autograder_needs(bundle, tmp_path):
    root = unpack(bundle, tmp_path / "ag")
    for name in gradescope.SCRIPTS:
        r = subprocess.run(["bash", "-n", str(root / "source" / name)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    setup = (root / "source" / "setup.sh").read_text()
    run = (root / "source" / "run_autograder").read_text()
    venv = "$ROOT/grader-venv"
    assert f'VENV="{venv}"' in setup and venv + "/bin" in run  # setup installs where run_autograder looks
    assert '"$HERE/grader-src"' in setup and "download.pytorch.org/whl/cpu" in setup and "bubblewrap" in setup
    assert "ln -sf \"$VENV/bin/grader\" /usr/local/bin/grader" in setup
    assert "gradescope run" in run and "python3 -m grader" in run and "AUTOGRADER_ROOT" in run
    assert ". \"$SRC/bundle.env\"" in run and "$HERE/bundle.env" in setup


@pytest.mark.slow
def test_the_bundles_source_builds_the_package_setup_sh_installs(bundle, tmp_path):
    """setup.sh runs `pip install grader-src`: the copy is a buildable project whose wheel
    carries the scripts (package data) and the commands run_autograder calls."""
    root = unpack(bundle, tmp_path / "ag")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        str(root / "source" / "grader-src"), "-w", str(tmp_path / "wheel")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    [wheel] = (tmp_path / "wheel").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"grader/gradescope/setup.sh", "grader/gradescope/run_autograder", "grader/precheck.py",
            "grader/gradescope/__init__.py", "reference/cnn_theory.py"} <= names


def test_build_from_the_command_line(tmp_path, capsys):
    from grader.cli import main

    assert main(["gradescope", "build", str(HW2_RUBRIC), "-o", str(tmp_path / "autograder.zip")]) == 0
    assert "autograder.zip" in capsys.readouterr().out and zipfile.is_zipfile(tmp_path / "autograder.zip")
    assert main(["gradescope", "build", str(HW2_RUBRIC), "-o", str(tmp_path / "autograder.tgz")]) == 2
    assert "name it e.g. autograder.zip" in capsys.readouterr().err


def test_build_outside_a_checkout_says_so(tmp_path, monkeypatch):
    from grader.errors import UsageError

    monkeypatch.setattr(gradescope, "PROJECT_ROOT", tmp_path)
    with pytest.raises(UsageError, match="from a checkout"):
        gradescope.build(HW2_RUBRIC, tmp_path / "b.zip")


def test_build_rejects_a_bad_output_name_and_a_bad_rubric(tmp_path):
    from grader.errors import UsageError

    with pytest.raises(UsageError, match="autograder.zip"):
        gradescope.build(HW2_RUBRIC, tmp_path / "bundle.tar")
    with pytest.raises(RubricError):
        gradescope.build(tmp_path, tmp_path / "b.zip")


def test_a_rubric_outside_the_project_keeps_its_relative_paths(tmp_path):
    """A rubric elsewhere that extends the shipped one: the rubric, the one it extends and the
    support files are bundled together, and the bundled copy loads."""
    mine = tmp_path / "course" / "hw2-fall"
    mine.mkdir(parents=True)
    for f in HW2_RUBRIC.glob("hw2_*.yaml"):
        shutil.copy(f, mine / f.name)
    shutil.copy(HW2_RUBRIC / "08-seq_classification.yaml", mine)
    (mine / "assignment.yaml").write_text(f"extends: {HW2_RUBRIC}\ndeadline: '2026-12-20T23:59:00'\n")
    b = gradescope.build(mine, tmp_path / "b.zip")
    assert b.rubric.startswith("grader-src/rubric-tree/")
    root = unpack(b.path, tmp_path / "ag")
    assert load_rubric(root / "source" / b.rubric).deadline.day == 20


# -- the submission folder and the metadata ----------------------------------------------


META = {"id": 7, "created_at": "2026-03-01T20:00:00.123456-05:00", "assignment": {"title": "HW2"},
        "users": [{"email": "ab1234@nyu.edu", "name": "A B", "sid": "N12345678"}]}


def test_netid_from_metadata():
    pat = load_rubric(HW2_RUBRIC).netid_pattern
    assert gradescope.netid_from_metadata(META, pat)[0] == "ab1234"
    sid = {"users": [{"email": "alice@example.com", "sid": "xy99"}]}
    assert gradescope.netid_from_metadata(sid, pat)[0] == "xy99"
    none, why = gradescope.netid_from_metadata({"users": [{"email": "alice@example.com"}]}, pat)
    assert none is None and "no NetID" in why
    assert gradescope.netid_from_metadata({}, pat)[0] is None


def test_submission_time_is_gradescopes_own():
    when = gradescope.submission_time(META)
    assert when.isoformat().startswith("2026-03-01T20:00:00") and when.utcoffset().total_seconds() == -5 * 3600
    assert gradescope.submission_time({"created_at": "2026-03-02T01:00:00Z"}).utcoffset().total_seconds() == 0
    assert gradescope.submission_time({"created_at": "yesterday"}) is None
    assert gradescope.submission_time({}) is None


def test_loose_files_are_packed_for_the_intake_and_a_lone_zip_is_graded_as_is(tmp_path):
    rubric = load_rubric(HW2_RUBRIC)
    sub = tmp_path / "submission"
    (sub / "sub").mkdir(parents=True)
    (sub / "hw2_cnn.ipynb").write_text("{}")
    (sub / "sub" / "hw2_theory.pdf").write_bytes(b"%PDF")
    (sub / "link.ipynb").symlink_to("/etc/passwd")
    work = tmp_path / "work"
    work.mkdir()
    z, notes = gradescope.collect(sub, work, rubric, META)
    assert z.name == "ab1234.zip" and "packed into ab1234.zip" in notes[0]
    assert sorted(zipfile.ZipFile(z).namelist()) == ["hw2_cnn.ipynb", "sub/hw2_theory.pdf"]  # no link followed
    lone = tmp_path / "lone"
    lone.mkdir()
    make_zip(lone / "hw2-ab1234.zip", {"a.txt": "x"})
    (lone / ".DS_Store").write_bytes(b"junk")
    z, _ = gradescope.collect(lone, work, rubric, META)
    assert z == lone / "hw2-ab1234.zip"  # its name is the intake's to judge
    empty = tmp_path / "empty"
    empty.mkdir()
    assert gradescope.collect(empty, work, rubric, META)[0] is None


def test_run_writes_results_even_when_the_grader_cannot_work(tmp_path):
    root = tmp_path / "ag"
    (root / "submission").mkdir(parents=True)
    assert gradescope.run(root, tmp_path / "no-rubric", log=lambda m: None) == 1
    out = valid(json.loads((root / "results" / "results.json").read_text()))
    assert out["score"] == 0 and "could not grade" in out["output"] and "not your fault" in out["output"]


def test_weaker_isolation_still_grades_and_says_so(tmp_path):
    """Where bubblewrap cannot run (unprivileged Docker), `--isolation auto` falls back to
    rlimits: forced here, the result is still written and names the isolation in force."""
    root = tmp_path / "ag"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "ab1234.zip").write_bytes(b"not a zip")
    assert gradescope.run(root, HW2_RUBRIC, isolation="rlimits", log=lambda m: None) == 0
    out = valid(json.loads((root / "results" / "results.json").read_text()))
    assert out["extra_data"]["isolation"]["mode"] == "rlimits"
    assert "Isolation in force: rlimits, weaker than the full sandbox" in out["output"]


def test_run_without_an_autograder_root_is_a_usage_error(tmp_path, capsys):
    from grader.cli import main

    assert main(["gradescope", "run", str(HW2_RUBRIC), "--root", str(tmp_path / "nope")]) == 2
    assert "AUTOGRADER_ROOT" in capsys.readouterr().err and not (tmp_path / "nope").exists()


def test_nothing_uploaded_is_a_result(tmp_path):
    root = tmp_path / "ag"
    (root / "submission").mkdir(parents=True)
    assert gradescope.run(root, HW2_RUBRIC, log=lambda m: None) == 0
    out = valid(json.loads((root / "results" / "results.json").read_text()))
    assert out["score"] == 0 and "Nothing was uploaded" in out["output"] and "hw2_cnn.ipynb" in out["output"]


# -- the richer results ------------------------------------------------------------------


def _report(items, isolation=None) -> Report:
    env = {"grader_version": "9.9", "isolation": isolation or {"mode": "rlimits", "features": ["rlimits"],
                                                               "missing": ["bubblewrap not installed (apt-get install bubblewrap)"]}}
    sub = {"file": "ab1234.zip", "submitted_at": "2026-03-01T20:00:00-05:00", "submitted_at_source": "--submitted-at",
           "deadline": "2026-03-01T23:59:00-05:00", "accepted": True, "rejection": "", "files": {}}
    return Report("ab1234", "hw2", 5.0, 10.0, 5.0, (), tuple(items), (), (), sub, env, "2026-03-02T00:00:00+00:00", 3.0)


def test_results_say_which_isolation_and_carry_extra_data():
    r = valid(gradescope_results(_report([ItemResult("nb.a", "A", "allclose", 5.0, 10.0, "failed", "off by one")])))
    assert r["output_format"] == "md" and r["test_output_format"] == "text"
    assert r["extra_data"]["grader_version"] == "9.9" and r["extra_data"]["isolation"]["mode"] == "rlimits"
    assert "Isolation in force: rlimits" in r["output"] and "bubblewrap not installed" in r["output"]
    full = valid(gradescope_results(_report([], {"mode": "bwrap", "features": [], "missing": []})))
    assert "Isolation in force" not in full["output"] and full["extra_data"]["isolation"]["mode"] == "bwrap"


def test_markdown_output_keeps_student_text_as_text():
    from grader.model import Finding

    evil = "# Score: 100 / 100\n[click](http://x) <img src=x> **bold** 1. list"
    rep = _report([])
    rep = dataclasses.replace(rep, findings=(Finding("misnamed", evil, "warning"),))
    out = gradescope_results(rep)["output"]
    assert out.startswith("**Score: 5 / 10**")
    assert "- \\# Score: 100 / 100" in out.split("\n\n")  # a paragraph of text, not a heading
    bullet = next(line for line in out.split("\n\n") if "click" in line)
    assert bullet.startswith("- \\[click\\]") and "\\<img" in bullet and "\\*\\*bold" in bullet
    assert "\n# " not in out and out.count("**Score:") == 1


def _leaderboard_rubric(tmp_path: Path, entry: str) -> Path:
    """rubrics/hw2 copied (its notebook files too, so a test may change them) with a leaderboard."""
    import yaml

    d = tmp_path / "lb"
    shutil.copytree(HW2_RUBRIC, d)
    a = yaml.safe_load((d / "assignment.yaml").read_text())
    a["support_dir"] = str(HW2_RUBRIC / a["support_dir"])
    a["gradescope"] = {"leaderboard": yaml.safe_load(entry)}
    (d / "assignment.yaml").write_text(yaml.safe_dump(a, sort_keys=False))
    return d


def test_leaderboard_comes_from_the_rubric_and_the_graders_evidence(tmp_path):
    d = _leaderboard_rubric(tmp_path, "    - {name: 'Section 8 accuracy', item: 08-seq_classification.section8, value: final_accuracy}\n")
    rubric = load_rubric(d)
    board = rubric.gradescope.leaderboard
    assert board[0].order == "desc"
    item = ItemResult("08-seq_classification.section8", "S8", "loss_curve", 8.0, 8.0, "passed", "",
                      evidence={"final_accuracy": 0.93, "max_rise": 0.01})
    r = valid(gradescope_results(_report([item]), board=board))
    assert r["leaderboard"] == [{"name": "Section 8 accuracy", "value": 0.93, "order": "desc"}]
    # no number (the check did not get that far, or a student-made string): no entry, never a guess
    item2 = ItemResult("08-seq_classification.section8", "S8", "loss_curve", 0.0, 8.0, "failed", "", evidence={"final_accuracy": "0.99"})
    assert "leaderboard" not in gradescope_results(_report([item2]), board=board)
    assert "leaderboard" not in gradescope_results(_report([item]))  # the rubric did not ask


@pytest.mark.parametrize("entry, why", [
    ("    - {name: x, item: hw2_cnn.nope, value: accuracy}\n", "no such item"),
    ("    - {name: x, item: hw2_theory.conv_output_formula, value: accuracy}\n", "manual item"),
    ("    - {name: x, item: hw2_cnn.validation_accuracy, value: accuracy, order: up}\n", "order"),
    ("    - {name: x, item: hw2_cnn.validation_accuracy, value: accuracy, extra: 1}\n", "extra"),
])
def test_a_bad_leaderboard_fails_at_load(tmp_path, entry, why):
    with pytest.raises(RubricError, match="leaderboard") as e:
        load_rubric(_leaderboard_rubric(tmp_path, entry))
    assert why in str(e.value) or why in ("order", "extra")


def test_a_leaderboard_on_a_hidden_item_fails_at_load(tmp_path):
    d = _leaderboard_rubric(tmp_path, "    - {name: x, item: hw2_cnn.validation_accuracy, value: accuracy}\n")
    text = (d / "hw2_cnn.yaml").read_text().replace("    kind: validation_accuracy\n", "    kind: validation_accuracy\n    visibility: hidden\n")
    (d / "hw2_cnn.yaml").write_text(text)
    with pytest.raises(RubricError, match="hidden from students"):
        load_rubric(d)


# -- the bundle's run_autograder, end to end ---------------------------------------------


def run_autograder(bundle: Path, root: Path, submission: dict[str, Path], meta: dict, cache: Path) -> tuple[dict, str]:
    unpack(bundle, root)
    (root / "submission").mkdir()
    for name, src in submission.items():
        shutil.copy(src, root / "submission" / name)
    (root / "submission_metadata.json").write_text(json.dumps(meta))
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
           "GRADER_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                       timeout=900, cwd=root)
    results = json.loads((root / "results" / "results.json").read_text())
    return valid(results), r.stdout + r.stderr


@pytest.mark.slow
def test_run_autograder_full_marks(bundle, tmp_path, shared_exec_cache):
    out, log = run_autograder(bundle, tmp_path / "ag", {"ab1234.zip": SAMPLES / "full_marks" / "ab1234.zip"}, META,
                              shared_exec_cache)
    automatic = [t for t in out["tests"] if "Graded by a TA" not in t["output"]]
    assert automatic and all(t["status"] == "passed" and t["score"] == t["max_score"] for t in automatic), log
    assert out["score"] == sum(t["score"] for t in out["tests"])
    assert out["extra_data"]["submission_time_source"] == "gradescope created_at"
    assert out["extra_data"]["isolation"]["mode"] in ("bwrap", "rlimits", "none")
    assert "Gradescope's submission time" in out["output"]


@pytest.mark.slow
def test_run_autograder_broken_zip_and_loose_files(bundle, tmp_path, shared_exec_cache):
    broken = tmp_path / "ab1234.zip"
    broken.write_bytes(b"PK\x03\x04 this is not a zip")
    out, log = run_autograder(bundle, tmp_path / "ag", {"ab1234.zip": broken}, META, shared_exec_cache)
    assert out["score"] == 0 and "not a readable zip" in out["output"], log
    # loose files, one misnamed: packed as <netid>.zip and judged by the normal intake (no notebook
    # runs: the theory PDF alone, so this stays fast)
    pdf = tmp_path / "theory.pdf"
    with zipfile.ZipFile(SAMPLES / "full_marks" / "ab1234.zip") as zf:
        name = next(n for n in zf.namelist() if n.endswith(".pdf"))
        pdf.write_bytes(zf.read(name))
    out, log = run_autograder(bundle, tmp_path / "ag2", {"theory.pdf": pdf}, META, shared_exec_cache)
    assert "packed into ab1234.zip" in out["output"], log
    assert "naming" in out["output"] and "is not in the submission" in json.dumps(out)
