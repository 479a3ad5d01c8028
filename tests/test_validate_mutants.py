"""Every mutant shipped in rubrics/hw2/mutants.yaml is caught, as the README promises:
`grader validate --mutants-only` over all of them (the four that need a notebook executed
run it; the others are judged on probes), and no automatic item is left weak."""
import pytest
import yaml

from factories import HW2_RUBRIC, copy_hw2_rubric

pytestmark = pytest.mark.slow

SHIPPED = [m["id"] for m in yaml.safe_load((HW2_RUBRIC / "mutants.yaml").read_text())["mutants"]]


def test_every_shipped_mutant_is_caught_and_no_item_is_weak(tmp_path, shared_exec_cache):
    from grader.validate import validate

    assert len(SHIPPED) >= 24
    # the session's execution cache: section8_original_procedure's lab notebook is the
    # starter's, which the blank and section8_unfixed samples hand in too
    v = validate(copy_hw2_rubric(tmp_path, SHIPPED), tmp_path / "out", full_runs=False, exec_cache=shared_exec_cache,
                 log=lambda *_: None)
    failed = [(p.name, p.detail) for p in v.promises if not p.ok]
    assert v.ok and not failed, failed
    assert sorted(p.name for p in v.promises) == sorted(f"mutant {m} is caught" for m in SHIPPED)
    assert v.weak_items == [] or v.weak_items == (), v.weak_items
    (st,) = [p for p in v.promises if p.name == "mutant step_no_zero_grad is caught"]
    assert st.detail == "caught by hw2_cnn.step (0/4)"
