"""`grader rubric-check` prints the resolved rubric with, for each value, the file of the
`extends` chain it came from; an error names the file of the chain that holds the bad
value (the child's own, or the base's for a value the child inherits). Rubrics in tmp
extending the shipped rubrics/hw2."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from grader.cli import main as cli_main
from grader.errors import RubricError
from grader.rubric import load_rubric
from grader.rubric.origins import assignment_chain, describe

ROOT = Path(__file__).resolve().parent.parent
HW2 = ROOT / "rubrics" / "hw2"


def child(tmp_path: Path, body: dict, name: str = "child", base: Path = HW2) -> Path:
    d = tmp_path / name
    d.mkdir(parents=True)
    (d / "assignment.yaml").write_text(yaml.safe_dump({"extends": os.path.relpath(base, d), **body}, sort_keys=False))
    return d


def line(text: str, key: str) -> str:
    hits = [x for x in text.splitlines() if re.match(rf"\s+{re.escape(key)}\s+= ", x)]
    assert len(hits) == 1, (key, hits)
    return hits[0]


def test_each_value_names_the_file_it_came_from(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = child(tmp_path, {"title": "Homework 2 (a shorter variant)", "penalties": {"late": {"percent": 15}},
                         "execution": {"notebook_timeout_s": 99}})
    assert cli_main(["rubric-check", str(d)]) == 0
    out = capsys.readouterr().out
    mine, base = "[child/assignment.yaml]", f"[{HW2 / 'assignment.yaml'}]"
    assert line(out, "title").endswith(mine)
    assert line(out, "penalties.late.percent").endswith(mine) and "= 15" in line(out, "penalties.late.percent")
    # the siblings of an overridden key keep the base as their origin (mappings merge key by key)
    assert line(out, "penalties.late.grace_hours").endswith(base)
    assert line(out, "penalties.naming").endswith(base)
    assert line(out, "execution.notebook_timeout_s").endswith(mine)
    assert line(out, "deadline").endswith(base)
    assert "extends chain: child/assignment.yaml -> " in out
    # every notebook rubric with its items
    assert "notebook hw2_cnn.ipynb (" in out and re.search(r"items\[0\]\s+= \{\"id\": \"hw2_cnn\.", out)


def test_items_overridden_or_added_by_the_child_name_it(tmp_path):
    base_items = yaml.safe_load((HW2 / "assignment.yaml").read_text())["manual_items"]
    first = base_items[0]["id"]
    d = child(tmp_path, {"override_items": [{"id": first, "points": base_items[0]["points"]}]})
    text = describe(d)
    row = next(x for x in text.splitlines() if f'"id": "{first}"' in x)
    assert row.endswith("[child/assignment.yaml (overridden)]") or "child/assignment.yaml (overridden)]" in row
    other = next(x for x in text.splitlines() if f'"id": "{base_items[1]["id"]}"' in x)
    assert other.endswith(f"{HW2 / 'assignment.yaml'}]") or "rubrics/hw2/assignment.yaml]" in other


def test_a_three_level_chain(tmp_path):
    mid = child(tmp_path, {"penalties": {"naming": 5}}, "mid")
    leaf = child(tmp_path, {"title": "leaf"}, "leaf", base=mid)
    assert [p.parent.name for p in assignment_chain(leaf / "assignment.yaml")] == ["hw2", "mid", "leaf"]
    text = describe(leaf)
    assert "mid/assignment.yaml]" in line(text, "penalties.naming") and "leaf/assignment.yaml]" in line(text, "title")
    assert load_rubric(leaf).penalties.naming_percent == 5


# -- errors name the child file ----------------------------------------------------------------

def test_a_bad_value_in_the_child_names_the_child_file(tmp_path, capsys):
    d = child(tmp_path, {"penalties": {"late": {"percent": 150}}})
    with pytest.raises(RubricError) as err:
        load_rubric(d)
    assert Path(err.value.file) == (d / "assignment.yaml").resolve() and err.value.path == "penalties.late.percent"
    # through the command line: a message, exit 2, no traceback
    assert cli_main(["rubric-check", str(d)]) == 2
    msg = capsys.readouterr().err
    assert str(d / "assignment.yaml") in msg and "150" in msg and "Traceback" not in msg


def test_a_bad_time_zone_is_named_where_it_is_set(tmp_path):
    d = child(tmp_path, {"timezone": "Mars/Olympus_Mons"})
    with pytest.raises(RubricError) as err:
        load_rubric(d)
    assert Path(err.value.file) == (d / "assignment.yaml").resolve() and err.value.path == "timezone"
    # set in a base (a tmp copy of hw2's assignment extending hw2 with the bad zone), the leaf inherits it: the base is named
    base = child(tmp_path, {"timezone": "Mars/Olympus_Mons"}, "base")
    leaf = child(tmp_path, {"title": "leaf"}, "leaf", base=base)
    with pytest.raises(RubricError) as err:
        load_rubric(leaf)
    assert Path(err.value.file) == (base / "assignment.yaml").resolve()
    assert "inherited by" in str(err.value) and str(leaf / "assignment.yaml") in str(err.value)


def test_a_bad_value_in_a_child_notebook_rubric_names_that_file(tmp_path):
    d = tmp_path / "child"
    d.mkdir()
    files = yaml.safe_load((HW2 / "assignment.yaml").read_text())["files"]
    for f in files:  # the child's own files list: its paths relative to the child
        if f.get("rubric"):
            f["rubric"] = os.path.relpath(HW2 / f["rubric"], d)
    cnn = next(f for f in files if f["name"] == "hw2_cnn.ipynb")
    cnn["rubric"] = "hw2_cnn.yaml"
    (d / "hw2_cnn.yaml").write_text(yaml.safe_dump({"extends": os.path.relpath(HW2 / "hw2_cnn.yaml", d), "seed": -3}))
    (d / "assignment.yaml").write_text(yaml.safe_dump({"extends": os.path.relpath(HW2, d), "files": files}, sort_keys=False))
    with pytest.raises(RubricError) as err:
        load_rubric(d)
    assert Path(err.value.file) == (d / "hw2_cnn.yaml").resolve() and err.value.path == "seed"
