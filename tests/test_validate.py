"""`grader validate`: promises hold on the shipped rubric; a weakened item breaks one."""

import pytest
import yaml

from factories import copy_hw2_rubric as _copy_rubric

pytestmark = pytest.mark.slow


# two mutants: the weak-item report (every shipped mutant runs in tests/test_validate_mutants.py)
MUTANTS = ["conv1d_dldW_sign_flip", "step_no_zero_grad"]


def test_mutants_are_caught_and_weak_items_listed(tmp_path):
    from grader.validate import junit_xml, validate

    v = validate(_copy_rubric(tmp_path, MUTANTS), tmp_path / "out", full_runs=False, log=lambda *_: None)
    assert v.ok, [p for p in v.promises if not p.ok]
    assert sorted(p.name for p in v.promises) == sorted(f"mutant {m} is caught" for m in MUTANTS)
    assert "hw2_cnn.conv_output_shape" in v.weak_items and "hw2_cnn.conv1d_dldW" not in v.weak_items
    # a code item: the probe-only train_step check sees the mutation without executing the notebook
    assert "hw2_cnn.step" not in v.weak_items and "hw2_cnn.get_loss_and_correct" in v.weak_items
    (st,) = [p for p in v.promises if p.name == "mutant step_no_zero_grad is caught"]
    assert st.detail == "caught by hw2_cnn.step (0/4)"
    import xml.etree.ElementTree as ET

    suite = ET.fromstring(junit_xml(v))
    assert suite.get("failures") == "0" and len(suite.findall("testcase")) == len(MUTANTS) + len(v.weak_items)


def test_a_weakened_item_breaks_its_promise(tmp_path):
    from grader.validate import junit_xml, validate

    d = _copy_rubric(tmp_path, ["conv1d_dldW_sign_flip"])
    cnn = yaml.safe_load((d / "hw2_cnn.yaml").read_text())
    for item in cnn["items"]:
        if item["id"] == "hw2_cnn.conv1d_dldW":
            item["params"].update(rtol=10.0, atol=100.0, shape_weight=1.0)  # only the shape is checked now
    (d / "hw2_cnn.yaml").write_text(yaml.safe_dump(cnn, sort_keys=False))
    v = validate(d, tmp_path / "out", full_runs=False, log=lambda *_: None)
    assert not v.ok
    (p,) = v.promises
    assert "NOT caught by hw2_cnn.conv1d_dldW" in p.detail
    assert b"<failure" in junit_xml(v)


def test_stale_mutant_fails_loudly(tmp_path):
    from grader.validate import validate

    d = _copy_rubric(tmp_path, ["conv1d_dldW_sign_flip"])
    data = yaml.safe_load((d / "mutants.yaml").read_text())
    data["mutants"][0]["edits"][0]["old"] = "text that is not in the cell"
    (d / "mutants.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    v = validate(d, tmp_path / "out", full_runs=False, log=lambda *_: None)
    assert not v.ok and "stale mutant" in v.promises[0].detail


def test_cli_validate_exit_codes(tmp_path):
    import subprocess
    import sys

    d = _copy_rubric(tmp_path, ["binary_adder_wrong_output_bias"])
    p = subprocess.run([sys.executable, "-m", "grader", "validate", str(d), "--mutants-only", "--junit", str(tmp_path / "v.xml")],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1/1 promises hold" in p.stdout and (tmp_path / "v.xml").exists()


def test_validation_zips_follow_the_naming_rule(mini_rubric, tmp_path):
    """The reference must not lose the naming penalty to validate's own zip name."""
    import dataclasses

    from grader.errors import RubricError
    from grader.intake import netid_from_zip_name
    from grader.validate import validation_netid

    netid = validation_netid(mini_rubric)
    assert netid_from_zip_name(tmp_path / mini_rubric.zip_pattern.format(netid=netid), mini_rubric) == (netid, None)
    strict = dataclasses.replace(mini_rubric, netid_pattern=r"^[a-z]{3}[0-9]{3}$")
    assert validation_netid(strict) == "abc123"
    with pytest.raises(RubricError, match="netid_pattern"):
        validation_netid(dataclasses.replace(mini_rubric, netid_pattern=r"^zz[0-9]{9}$"))

