"""`grader check`: the student's pre-check. Ready on the full-marks sample; the misnamed and a
not-executable submission name the problem and the penalty it would cost; the lateness if
submitted now; hidden items are never run and nothing of them (name, inputs, expected
values) is printed."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from factories import GOOD_MINI, HW2_RUBRIC, MINI_RUBRIC, ROOT, SAMPLES, make_nb, make_zip, mini_files

from grader import precheck
from grader.errors import UsageError
from grader.rubric import load_rubric

BEFORE = dt.datetime(2026, 2, 28, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))  # a day before the deadline


def variant(tmp_path: Path, src: Path, hide: dict[str, list[str]], name="rubric") -> Path:
    """A copy of the rubric `src` whose items listed per notebook file are hidden."""
    d = tmp_path / name
    shutil.copytree(src, d)
    a = yaml.safe_load((d / "assignment.yaml").read_text())
    if a.get("support_dir"):
        a["support_dir"] = str((src / a["support_dir"]).resolve())
    (d / "assignment.yaml").write_text(yaml.safe_dump(a, sort_keys=False))
    for file, ids in hide.items():
        nb = yaml.safe_load((d / file).read_text())
        for item in nb["items"]:
            if item["id"] in ids:
                item["visibility"] = "hidden"
        (d / file).write_text(yaml.safe_dump(nb, sort_keys=False))
    return d


# -- fast --------------------------------------------------------------------------------


def test_public_rubric_drops_hidden_and_ta_items(tmp_path):
    r = load_rubric(variant(tmp_path, MINI_RUBRIC, {"mini.yaml": ["mini.count"]}))
    pub = precheck.public_rubric(r)
    assert [i.id for i in pub.items] == ["mini.add", "other.count"]
    assert [i.id for i in precheck.hidden_items(r)] == ["mini.count"]
    assert [i.id for i in r.items] == ["mini.add", "mini.count", "other.count", "mini_theory.q1"]  # the rubric itself is untouched


def test_scrub_withholds_a_line_naming_a_hidden_item():
    assert precheck._scrub("cell 3: hw2_cnn.secret failed", ("hw2_cnn.secret",)).startswith("(withheld")
    assert precheck._scrub("cell 3: all fine", ("hw2_cnn.secret",)) == "cell 3: all fine"


def test_a_folder_needs_a_netid_and_is_packed_as_the_zip(tmp_path):
    rubric = load_rubric(MINI_RUBRIC)
    folder = tmp_path / "my files"
    (folder / "sub").mkdir(parents=True)
    (folder / "mini.ipynb").write_text("{}")
    (folder / "sub" / "x.txt").write_text("x")
    with pytest.raises(UsageError, match="--netid"):
        precheck.check(folder, rubric)
    with pytest.raises(UsageError, match="does not look like a NetID"):
        precheck.check(folder, rubric, netid="Not A NetID")
    z = precheck.pack_folder(folder, "ab12", rubric, tmp_path)
    import zipfile

    assert z.name == "ab12.zip" and sorted(zipfile.ZipFile(z).namelist()) == ["mini.ipynb", "sub/x.txt"]
    with pytest.raises(UsageError, match="does not exist"):
        precheck.check(tmp_path / "nope.zip", rubric)


def test_command_line_usage_errors(tmp_path, capsys):
    from grader.cli import main

    assert main(["check", str(tmp_path / "nope.zip"), "--rubric", str(MINI_RUBRIC)]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "files").mkdir()
    assert main(["check", str(tmp_path / "files"), "--rubric", str(MINI_RUBRIC)]) == 2
    assert "--netid" in capsys.readouterr().err


# -- the mini rubric: real kernels, small notebooks --------------------------------------

WRONG_COUNT = make_nb("import torch\n\ndef add(a, b):\n    return a + b", "def count():\n    return 41", "print(add(1, 2))")
SECRET_TITLE = "count() the secret way"


def _mini_secret(tmp_path: Path, hidden: bool) -> Path:
    """The mini rubric with mini.count given a distinctive title and hint, hidden or not."""
    d = variant(tmp_path, MINI_RUBRIC, {"mini.yaml": ["mini.count"] if hidden else []}, f"mini-{hidden}")
    nb = yaml.safe_load((d / "mini.yaml").read_text())
    nb["items"][1]["title"] = SECRET_TITLE
    nb["items"][1]["feedback"] = "the hint for the secret check"
    (d / "mini.yaml").write_text(yaml.safe_dump(nb, sort_keys=False))
    return d


@pytest.mark.slow
def test_hidden_items_are_never_shown(tmp_path, shared_exec_cache):
    """mini.count fails (41, not 42): visible, the check prints its id, title, hint and the value
    it got; hidden, none of them (nor the expected 42), and it is not run."""
    z = make_zip(tmp_path / "ab1.zip", mini_files(mini__ipynb=WRONG_COUNT))
    secrets = ("mini.count", SECRET_TITLE, "the hint for the secret check", "got 41")
    shown = precheck.check(z, load_rubric(_mini_secret(tmp_path, False)), now=BEFORE, cache=shared_exec_cache).text
    assert all(s in shown for s in secrets), shown  # the control: a visible failing item says all this
    res = precheck.check(z, load_rubric(_mini_secret(tmp_path, True)), now=BEFORE, cache=shared_exec_cache)
    for secret in (*secrets, "secret", "42"):
        assert secret not in res.text, secret
    assert [i.id for i in res.report.items] == ["mini.add", "other.count"]  # never run
    assert res.ready and res.text.endswith(precheck.READY)


@pytest.mark.slow
def test_not_executable_names_the_cell_and_the_penalty(tmp_path, shared_exec_cache):
    broken = make_nb("def add(a, b):\n    return a + b", "def count():\n    return 42", "raise RuntimeError('my bug')")
    z = make_zip(tmp_path / "ab1.zip", mini_files(mini__ipynb=broken))
    res = precheck.check(z, load_rubric(MINI_RUBRIC), now=BEFORE, cache=shared_exec_cache)
    assert not res.ready and "NOT ready to submit" in res.text
    [problem] = res.problems
    assert problem.startswith("not_executable") and "would cost 20 % of the score" in problem
    assert "RuntimeError: my bug" in res.text  # the failing cell, so the student can fix it
    # the same files, on time and fixed: ready
    good = make_zip(tmp_path / "ok" / "ab1.zip", mini_files(mini__ipynb=GOOD_MINI))
    assert precheck.check(good, load_rubric(MINI_RUBRIC), now=BEFORE, cache=shared_exec_cache).ready


@pytest.mark.slow
def test_lateness_if_submitted_now(tmp_path, shared_exec_cache):
    z = make_zip(tmp_path / "ab1.zip", mini_files())
    rubric = load_rubric(MINI_RUBRIC)
    late = precheck.check(z, rubric, now=rubric.deadline + dt.timedelta(hours=3), cache=shared_exec_cache)
    assert not late.ready and any(p.startswith("late:") and "would cost 20 %" in p for p in late.problems)
    assert all(i.status == "passed" for i in late.report.items)  # content still checked
    too = precheck.check(z, rubric, now=rubric.deadline + dt.timedelta(days=3), cache=shared_exec_cache)
    assert any(p.startswith("too_late:") and "100 %" in p for p in too.problems)
    assert "on time if submitted now" in precheck.check(z, rubric, now=BEFORE, cache=shared_exec_cache).text


# -- the shipped rubric: the samples -----------------------------------------------------

HIDDEN = {"hw2_cnn.yaml": ["hw2_cnn.conv_output_shape", "hw2_cnn.conv_net_param_count"]}


@pytest.mark.slow
def test_full_marks_is_ready_and_hidden_items_stay_hidden(tmp_path, shared_exec_cache):
    """Through the command line, as a student runs it, with two of the shipped items hidden."""
    from reference import cnn_theory

    d = variant(tmp_path, HW2_RUBRIC, HIDDEN)
    r = subprocess.run([sys.executable, "-m", "grader", "check", str(SAMPLES / "full_marks" / "ab1234.zip"), "--rubric", str(d),
                        "--at", "2026-02-28T12:00", "--cache", str(shared_exec_cache)],
                       capture_output=True, text=True, timeout=900, cwd=ROOT)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and out.rstrip().endswith(precheck.READY), out
    assert "hw2_cnn.conv1d_forward" in out  # public items are listed by name
    spec = load_rubric(d)
    for item in precheck.hidden_items(spec):
        assert item.id not in out and item.title not in out and item.feedback not in out
        for case in item.params.cases:
            assert not case.label or case.label not in out
    # the reference values of the hidden items
    assert str(cnn_theory.conv_net_param_count()) not in out
    for case in next(i for i in spec.items if i.id == "hw2_cnn.conv_output_shape").params.cases:
        value = cnn_theory.conv_output_shape(*case.args)
        assert str(tuple(value)) not in out and str(list(value)) not in out


@pytest.mark.slow
def test_misnamed_sample_names_the_problem_and_the_penalty(shared_exec_cache):
    res = precheck.check(SAMPLES / "misnamed_files" / "mf6005.zip", load_rubric(HW2_RUBRIC), now=BEFORE,
                         cache=shared_exec_cache)
    assert not res.ready
    [problem] = res.problems
    assert problem.startswith("naming:") and "would cost 10 % of the score" in problem
    assert "should be" in problem or "was taken as" in res.text
