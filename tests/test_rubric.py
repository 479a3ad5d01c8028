"""Rubric loading: valid files load; every kind of mistake names file, YAML path and value."""
import shutil
from pathlib import Path

import pytest
import yaml

from grader.errors import RubricError
from grader.rubric import load_rubric
from factories import MINI_RUBRIC


def test_mini_rubric_loads(mini_rubric):
    assert mini_rubric.assignment == "mini"
    assert [nb.notebook for nb in mini_rubric.notebooks] == ["mini.ipynb", "other.ipynb"]
    assert mini_rubric.max_score == 30
    assert mini_rubric.deadline.utcoffset().total_seconds() == -5 * 3600
    assert [i.id for i in mini_rubric.manual] == ["mini_theory.q1"]


def _broken(tmp_path: Path, file: str, edit) -> Path:
    d = tmp_path / "r"
    shutil.copytree(MINI_RUBRIC, d)
    data = yaml.safe_load((d / file).read_text())
    edit(data)
    (d / file).write_text(yaml.safe_dump(data))
    return d


@pytest.mark.parametrize("file,edit,path,words", [
    ("mini.yaml", lambda d: d["items"][1].update(kind="allclsoe"), "items[1].kind", "unknown check kind 'allclsoe'"),
    ("mini.yaml", lambda d: d["items"][0].update(pionts=3), "items[0]", "unknown key(s) 'pionts'"),
    ("mini.yaml", lambda d: d["items"][0]["params"].update(rtol="small"), "items[0].params.rtol", "bad value 'small'"),
    ("mini.yaml", lambda d: d["items"][0]["params"].update(tolerance=1), "items[0].params", "unknown key(s) 'tolerance'"),
    ("mini.yaml", lambda d: d["items"][0].pop("target"), "items[0]", "needs a 'target'"),
    ("mini.yaml", lambda d: d["items"][1].update(id="mini.add"), "items[1].id", "duplicate item id"),
    ("mini.yaml", lambda d: d["items"][0].update(id="other.add"), "items[0].id", "must start with the notebook stem"),
    ("mini.yaml", lambda d: d["items"][0].update(points=-1), "items[0].points", "bad value -1"),
    ("assignment.yaml", lambda d: d.update(deadline="next friday"), "deadline", "bad value 'next friday'"),
    ("assignment.yaml", lambda d: d.update(timezone="Mars/Olympus"), "timezone", "not an IANA time zone"),
    ("assignment.yaml", lambda d: d["penalties"].pop("late"), "penalties", "'late' is required"),
    ("assignment.yaml", lambda d: d.update(split={"code": 25, "theory": 10}), "split.code", "add up to 20"),
])
def test_rubric_errors_name_file_path_and_value(tmp_path, file, edit, path, words):
    d = _broken(tmp_path, file, edit)
    with pytest.raises(RubricError) as info:
        load_rubric(d)
    err = info.value
    assert err.file.endswith(file)
    assert err.path == path, str(err)
    assert words in str(err)


def test_invalid_yaml_reports_line(tmp_path):
    d = tmp_path / "r"
    shutil.copytree(MINI_RUBRIC, d)
    (d / "other.yaml").write_text("schema: 1\nitems: [\n")
    with pytest.raises(RubricError) as info:
        load_rubric(d)
    assert "other.yaml" in str(info.value) and "line" in info.value.path


def test_missing_rubric_dir_says_what_to_do(tmp_path):
    with pytest.raises(RubricError, match="--rubric"):
        load_rubric(tmp_path)


def test_disk_quota_comes_from_the_rubric(tmp_path):
    d = _broken(tmp_path, "assignment.yaml", lambda a: a.setdefault("execution", {}).update(disk_mb=64))
    assert {nb.execution.disk_mb for nb in load_rubric(d).notebooks} == {64}
    assert {nb.execution.disk_mb for nb in load_rubric(MINI_RUBRIC).notebooks} == {512}
    d = _broken(tmp_path / "x", "assignment.yaml", lambda a: a.setdefault("execution", {}).update(disk_mb=1))
    with pytest.raises(RubricError, match="disk_mb"):
        load_rubric(d)


def _overlay(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "variant"
    d.mkdir()
    (d / "assignment.yaml").write_text(text)
    return d


def test_extends_grades_the_base_items_with_what_the_variant_overrides(tmp_path, mini_rubric):
    d = _overlay(tmp_path, f"extends: {MINI_RUBRIC}\ntitle: variant\nexecution: {{cell_timeout_s: 7}}\n"
                           "penalties: {late: {percent: 50}}\n")
    r = load_rubric(d)
    assert r.title == "variant" and r.directory == d.resolve() and r.bases == (MINI_RUBRIC.resolve(),)
    # the base's notebook rubrics and items, found relative to the base, not the variant
    assert [i.id for i in r.items] == [i.id for i in mini_rubric.items]
    assert [nb.file for nb in r.notebooks] == [nb.file for nb in mini_rubric.notebooks]
    # mappings merge key by key: only what the variant names changes
    assert all(nb.execution.cell_timeout_s == 7 for nb in r.notebooks)
    assert r.notebooks[0].execution.memory_mb == mini_rubric.notebooks[0].execution.memory_mb
    assert r.penalties.late_percent == 50 and r.penalties.late_grace_hours == mini_rubric.penalties.late_grace_hours
    assert r.support_dir == mini_rubric.support_dir and r.deadline == mini_rubric.deadline


def test_the_adversarial_overlay_is_the_shipped_rubric(mini_rubric):
    root = Path(__file__).resolve().parent.parent
    shipped, overlay = load_rubric(root / "rubrics" / "hw2"), load_rubric(root / "tests" / "adversarial" / "rubric")
    assert [(i.id, i.kind, i.points, dict(i.params)) for i in overlay.items] == [(i.id, i.kind, i.points, dict(i.params)) for i in shipped.items]
    assert overlay.penalties == shipped.penalties and overlay.bases == (shipped.directory,)
    assert all(nb.execution.notebook_timeout_s < 60 for nb in overlay.notebooks)


@pytest.mark.parametrize("text,words", [
    ("extends: ../nowhere\n", "does not exist (a rubric directory"),
    ("extends: 3\n", "expected the path of a rubric directory"),
    ("extends: .\n", "circular `extends`"),
])
def test_bad_extends_says_what_is_wrong(tmp_path, text, words):
    with pytest.raises(RubricError, match="extends") as err:
        load_rubric(_overlay(tmp_path, text))
    assert words in str(err.value)


def test_a_variant_is_validated_after_the_merge(tmp_path):
    with pytest.raises(RubricError) as err:
        load_rubric(_overlay(tmp_path, f"extends: {MINI_RUBRIC}\npenalties: {{naming: lots}}\n"))
    assert "penalties.naming" in str(err.value) and "bad value 'lots'" in str(err.value)


def test_a_notebook_rubric_key_nothing_reads_is_refused(tmp_path):
    """`exports:` was accepted and never read: now an unknown key, located."""
    import shutil

    import yaml

    from grader.errors import RubricError
    from grader.rubric import load_rubric
    from factories import HW2_RUBRIC

    d = tmp_path / "r"
    shutil.copytree(HW2_RUBRIC, d)
    nb = yaml.safe_load((d / "hw2_cnn.yaml").read_text())
    nb["exports"] = {"model": "npz"}
    (d / "hw2_cnn.yaml").write_text(yaml.safe_dump(nb, sort_keys=False))
    with pytest.raises(RubricError) as e:
        load_rubric(d)
    assert "hw2_cnn.yaml" in str(e.value) and "exports" in str(e.value)
