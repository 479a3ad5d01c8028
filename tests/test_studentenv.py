"""The students' Python environment (grader/studentenv.py): built once per spec, reused,
rebuilt when broken, optional groups left out with a record, used by kernels and probes."""
import json
import subprocess
import sys

import pytest

from grader import studentenv
from grader.studentenv import EnvSpec


def test_the_key_follows_the_spec():
    a = EnvSpec("colab", ("numpy<2", "six"))
    assert a.key == EnvSpec("colab", ("numpy<2", "six")).key
    assert a.key != EnvSpec("colab", ("numpy<2", "six", "tqdm")).key
    assert a.key != EnvSpec("colab", ("numpy<2", "six"), optional=(("torchvision",),)).key
    assert a.dirname.startswith("colab-") and len(a.dirname) == len("colab-") + 12


def test_a_missing_or_foreign_marker_is_not_an_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_ENVS", str(tmp_path))
    spec = EnvSpec("x", ("six",))
    assert studentenv.load(spec) is None
    root = studentenv.location(spec)
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(sys.executable)
    (root / studentenv.MARKER).write_text("{not json")
    assert studentenv.load(spec) is None
    (root / studentenv.MARKER).write_text(json.dumps({"key": "someone-else", "python": "3", "base_prefix": "/",
                                                     "packages": {}, "built_at": "now"}))
    assert studentenv.load(spec) is None
    env, why = studentenv.resolve(spec, auto_build=False)
    assert env is None and "grader env build" in why


def test_a_rubric_declares_its_environment_and_the_cli_reports_it(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from grader.cli import main
    from grader.rubric import load_rubric

    root = Path(__file__).resolve().parents[1]
    spec = load_rubric(root / "rubrics" / "hw2-original").environment
    assert spec is not None and "numpy<1.24" in spec.packages and "tqdm" in spec.packages and "six" in spec.packages
    assert load_rubric(root / "rubrics" / "hw2").environment is None
    monkeypatch.setenv("GRADER_ENVS", str(tmp_path))  # nothing built there
    assert main(["env", "check", str(root / "rubrics" / "hw2-original")]) == 1
    assert "is not built" in capsys.readouterr().out
    assert main(["env", "check", str(root / "rubrics" / "hw2")]) == 0
    assert "grader's own Python" in capsys.readouterr().out


@pytest.mark.slow
def test_build_once_reuse_rebuild_and_optional_groups(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_ENVS", str(tmp_path))
    spec = EnvSpec("tiny", ("six",), optional=(("no-such-package-for-the-grader-test==9.9",),))
    env = studentenv.build(spec)
    assert env.has("six") and env.has("ipykernel") and env.has("numpy")
    assert env.missing_optional == ("no-such-package-for-the-grader-test==9.9",)
    built = env.built_at
    # its interpreter is its own: six imports there; the marker records the versions
    out = subprocess.run([str(env.python), "-c", "import six, sys; print(sys.prefix)"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == str(env.root)
    assert studentenv.build(spec).built_at == built  # reused, not rebuilt
    assert studentenv.module_status(env, ["six", "tqdm_not_here"]) == {"six": True, "tqdm_not_here": False}
    (env.root / studentenv.MARKER).write_text("broken")
    assert studentenv.load(spec) is None  # a broken one is not used (build() would rebuild it)
