"""Check kinds' parameters are declared once (grader/checks/base.py CheckParams): the
rubric schema, the loader's defaults and the README's table all come from the models."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from factories import MINI_RUBRIC
from grader.checks import registry
from grader.checks.base import PROBE_WALL_S, CheckParams, json_schema
from grader.cli import main as cli_main
from grader.errors import RubricError
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[1]
PYDANTIC_ONLY = {"ge", "le", "gt", "lt", "min_length", "max_length", "multiple_of"}


def _walk(x):
    if isinstance(x, dict):
        yield x
        for v in x.values():
            yield from _walk(v)
    elif isinstance(x, list):
        for v in x:
            yield from _walk(v)


@pytest.mark.parametrize("name", registry.names())
def test_schema_is_generated_from_the_model(name):
    kind = registry.get(name)
    assert issubclass(kind.Params, CheckParams)
    assert kind.params_schema == json_schema(kind.Params)
    assert kind.params_schema.get("additionalProperties") is False
    # a bound the JSON schema validator cannot see would only be caught by pydantic later
    leaked = [k for node in _walk(kind.params_schema) for k in node if k in PYDANTIC_ONLY]
    assert not leaked, f"{name}: constraints outside the JSON schema: {leaked}"
    for field, prop in kind.params_schema.get("properties", {}).items():
        assert prop.get("description"), f"{name}.{field} has no help text"


@pytest.mark.parametrize("name", registry.names())
def test_params_are_frozen_and_defaults_come_from_the_model(name):
    kind = registry.get(name)
    required = kind.params_schema.get("required", [])
    if required:
        return
    p = kind.Params()
    field = next(iter(type(p).model_fields), None)
    if field is not None:
        with pytest.raises(ValueError):  # pydantic's ValidationError: the model is frozen
            setattr(p, field, None)


def test_no_defaults_outside_the_models():
    """No kind fills defaults or reads params by key: one declaration per knob."""
    for f in sorted((ROOT / "grader" / "checks").glob("kind_*.py")) + [ROOT / "grader" / "checks" / "cases.py"]:
        text = f.read_text()
        assert "params_schema = {" not in text, f.name
        assert not re.search(r"\.setdefault\(\"", text), f.name
        assert not re.search(r"params\.get\(|\bp\.get\(|params\[\"|\bp\[\"", text), f.name


def test_registering_a_hand_written_schema_fails():
    from grader.checks.base import CheckKind

    class Bad(CheckKind):
        name = "bad_kind_for_test"
        params_schema = {"type": "object"}

    with pytest.raises(TypeError, match="generated from `Params`"):
        registry.register(Bad)

    class NoModel(CheckKind):
        name = "no_model_for_test"
        Params = dict

    with pytest.raises(TypeError, match="CheckParams"):
        registry.register(NoModel)


def test_readme_table_is_generated():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_kinds_table.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    text = (ROOT / "README.md").read_text()
    assert registry.markdown_table() in text


def test_readme_check_fails_on_drift(tmp_path, monkeypatch):
    import gen_kinds_table as gen
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text().replace("| `n_bits` | int | `8`", "| `n_bits` | int | `7`"))
    monkeypatch.setattr(gen, "README", readme)
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0


def _mini(tmp_path: Path, edit) -> Path:
    d = tmp_path / "r"
    shutil.copytree(MINI_RUBRIC, d)
    data = yaml.safe_load((d / "mini.yaml").read_text())
    edit(data)
    (d / "mini.yaml").write_text(yaml.safe_dump(data))
    return d


def test_loaded_item_has_typed_params_with_defaults(mini_rubric):
    item = next(i for i in mini_rubric.items if i.id == "mini.add")
    assert type(item.params) is registry.get("allclose").Params
    assert item.params.timeout_s == 20.0 and item.params.dtype == "float64"


def test_a_timeout_the_prober_cannot_honour_fails_rubric_check_with_its_path(tmp_path, capsys):
    d = _mini(tmp_path, lambda m: m["items"][0]["params"].update(timeout_s=300))
    with pytest.raises(RubricError) as info:
        load_rubric(d)
    assert info.value.path == "items[0].params.timeout_s"
    assert "bad value 300" in str(info.value)
    assert cli_main(["rubric-check", str(d)]) != 0
    out = capsys.readouterr()
    assert "items[0].params.timeout_s" in out.out + out.err
    ok = _mini(tmp_path / "ok", lambda m: m["items"][0]["params"].update(timeout_s=PROBE_WALL_S))
    assert load_rubric(ok).items[0].params.timeout_s == PROBE_WALL_S


def test_cross_field_rule_is_a_load_time_error(tmp_path):
    def edit(m):
        m["items"][0]["kind"] = "gradient"
        p = m["items"][0]["params"]
        p["forward"] = p.pop("reference")
        p.update(mode="vjp", wrt=0)

    with pytest.raises(RubricError) as info:
        load_rubric(_mini(tmp_path, edit))
    assert info.value.path == "items[0].params" and "needs `upstream`" in str(info.value)


def test_nested_values_are_checked_at_their_path(tmp_path):
    d = _mini(tmp_path, lambda m: m["items"][0]["params"]["cases"][0].update(dtype="float16"))
    with pytest.raises(RubricError) as info:
        load_rubric(d)
    assert info.value.path == "items[0].params.cases[0].dtype" and "bad value 'float16'" in str(info.value)


def test_deadline_format_is_checked(tmp_path):
    d = tmp_path / "r"
    shutil.copytree(MINI_RUBRIC, d)
    a = yaml.safe_load((d / "assignment.yaml").read_text())
    a["deadline"] = "2026-02-30T23:59:00"
    (d / "assignment.yaml").write_text(yaml.safe_dump(a))
    with pytest.raises(RubricError) as info:
        load_rubric(d)
    assert info.value.path == "deadline" and "date-time-local" in str(info.value)


@pytest.mark.parametrize("rubric", ["rubrics/hw2", "rubrics/hw2-original", "tests/fixtures/mini_rubric",
                                    "tests/fixtures/budget_rubric", "tests/fixtures/datasets_rubric", "tests/adversarial/rubric"])
def test_shipped_rubrics_load_with_typed_params(rubric):
    r = load_rubric(ROOT / rubric)
    for item in r.items:
        assert isinstance(item.params, registry.get(item.kind).Params)
