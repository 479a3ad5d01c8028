"""`shape` on the in-process fake prober: the outputs' shapes (and float dtype) per case."""
from dataclasses import replace

import numpy as np
import pydantic
import pytest

from fake_prober import FakeContext, item
from grader.checks import registry

KIND = registry.get("shape")
PARAMS = {"reference": "mini_ref:add", "cases": [{"args": [{"randn": [3]}, {"randn": [3]}]},
                                                 {"args": [{"randn": [2, 4]}, {"randn": [2, 4]}], "label": "matrices"}]}


def run(fn, **params):
    ctx = FakeContext({"add": fn})
    return KIND.run(ctx, item("shape", "add", {**PARAMS, **params})), ctx


def test_right_shapes_pass_on_public_and_fresh_inputs():
    res, ctx = run(lambda a, b: a * 0.5)  # any values: only the shape is checked
    assert res.status == "passed" and res.fraction == 1.0
    assert len(ctx.calls) == 4  # two public cases and their private twins
    public = [c for c in res.evidence["cases"] if not c.get("private")]
    assert [c["expected_shape"] for c in public] == [[3], [2, 4]] and public[1]["got_shape"] == [2, 4]


def test_a_wrong_shape_fails_that_case_and_says_what_was_expected():
    res, _ = run(lambda a, b: a.reshape(-1))  # flattens the matrix case
    assert res.status == "failed" and res.fraction == 0.5
    assert "expected shape [2, 4], got [8]" in res.feedback


def test_an_integer_result_fails_unless_the_rubric_allows_it():
    res, _ = run(lambda a, b: np.zeros(a.shape, dtype=np.int64))
    assert res.status == "failed" and "dtype is int64; expected floating point" in res.feedback
    res, _ = run(lambda a, b: np.zeros(a.shape, dtype=np.int64), require_float=False)
    assert res.status == "passed"


def test_wrong_type_raising_and_missing_target_fail_closed():
    res, _ = run(lambda a, b: "not an array")
    assert res.fraction == 0.0 and "expected an array of shape [3], got str" in res.feedback

    def boom(a, b):
        raise IndexError("bad index")
    res, _ = run(boom)
    assert res.fraction == 0.0 and "raised IndexError: bad index" in res.feedback
    assert res.evidence["cases"][0]["error"] == "IndexError: bad index"
    res = KIND.run(FakeContext({}), item("shape", "add", PARAMS))
    assert res.status == "failed" and "`add` is not defined" in res.feedback


def test_nan_values_of_the_right_shape_still_pass_a_shape_check():
    """`shape` checks shapes, not values: NaN of the right shape and dtype passes (allclose fails it)."""
    res, _ = run(lambda a, b: a * np.nan)
    assert res.status == "passed"


def test_shapes_right_only_on_the_public_inputs_fail():
    seen = []

    def table(a, b):  # answers the first (public) inputs of each shape right, later ones wrong
        key = tuple(a.shape)
        if key not in seen:
            seen.append(key)
            return a
        return a[:1]
    res, _ = run(table)
    assert res.status == "failed" and "fresh inputs" in res.feedback


def test_a_bad_input_spec_is_the_rubrics_error_not_the_students():
    ctx = FakeContext({"add": lambda a, b: a})
    spec = item("shape", "add", PARAMS)
    bad = spec.params.model_copy(update={"cases": (spec.params.cases[0].model_copy(update={"args": [{"gauss": [3]}]}),)})
    res = KIND.run(ctx, replace(spec, params=bad))
    assert res.status == "error" and "unknown input generator 'gauss'" in res.feedback
    with pytest.raises(pydantic.ValidationError):
        item("shape", "add", {**PARAMS, "cases": []})


def test_a_failed_probe_and_an_object_across_the_boundary_fail_closed(tmp_path):
    """Through the real probe encoder/decoder (fake_kernel): a killed probe is an error on
    every case; a custom object comes back as an opaque name, never as an array."""
    from fake_kernel import ModuleContext

    ctx = ModuleContext({"add": lambda a, b: a}, tmp_path)
    ctx.probe_errors["add"] = "the probe was killed: memory limit exceeded"
    res = KIND.run(ctx, item("shape", "add", PARAMS))
    assert res.fraction == 0.0 and res.feedback.count("raised the probe was killed: memory limit exceeded") == 2

    class Box:
        shape = (3,)
    res = KIND.run(ModuleContext({"add": lambda a, b: Box()}, tmp_path), item("shape", "add", PARAMS))
    assert res.fraction == 0.0 and "expected an array of shape [3], got an object of type Box (not plain numbers)" in res.feedback, res.feedback
