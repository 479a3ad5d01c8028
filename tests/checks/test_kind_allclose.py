"""`allclose` on an in-process fake prober (tests/checks/fake_prober.py): milliseconds."""
import numpy as np

from fake_prober import FakeContext, item
from grader.checks import registry
from grader.checks.cases import SHADOW_NOTE

KIND = registry.get("allclose")
PARAMS = {"reference": "mini_ref:add", "cases": [{"args": [{"randn": [3]}, {"randn": [3]}]},
                                                 {"args": [{"randn": [2, 2]}, {"randn": [2, 2]}], "label": "matrices"}]}


def test_right_answer_passes_on_public_and_fresh_inputs():
    ctx = FakeContext({"add": lambda a, b: a + b})
    res = KIND.run(ctx, item("allclose", "add", PARAMS))
    assert res.status == "passed" and res.fraction == 1.0
    assert len(ctx.calls) == 4  # two public cases, two private twins
    assert all(c.timeout_s == 20.0 for c in ctx.calls)  # the model's default


def test_partial_credit_per_case_and_all_or_nothing():
    vec_only = lambda a, b: a + b if a.ndim == 1 else a - b  # noqa: E731
    res = KIND.run(FakeContext({"add": vec_only}), item("allclose", "add", PARAMS))
    assert res.status == "failed" and res.fraction == 0.5
    res = KIND.run(FakeContext({"add": vec_only}), item("allclose", "add", {**PARAMS, "all_or_nothing": True}))
    assert res.status == "failed" and res.fraction == 0.0


def test_answers_that_fit_only_the_public_inputs_fail():
    ctx = FakeContext({})
    public = {}

    def table(a, b):  # remembers the first inputs it sees (the public ones), then answers wrong
        key = tuple(np.asarray(a).shape)
        public.setdefault(key, (a, b))
        return a + b if a is public[key][0] else a * 0
    ctx.ns["add"] = table
    res = KIND.run(ctx, item("allclose", "add", PARAMS))
    assert res.status == "failed" and SHADOW_NOTE in res.feedback


def test_missing_target_and_raising_target():
    assert "not defined" in KIND.run(FakeContext({}), item("allclose", "add", PARAMS)).feedback

    def boom(a, b):
        raise ValueError("nope")
    res = KIND.run(FakeContext({"add": boom}), item("allclose", "add", PARAMS))
    assert res.fraction == 0.0 and "ValueError: nope" in res.feedback


def test_tolerances_and_timeout_come_from_the_typed_params():
    off = lambda a, b: a + b + 1e-3  # noqa: E731
    assert KIND.run(FakeContext({"add": off}), item("allclose", "add", PARAMS)).status == "failed"
    ctx = FakeContext({"add": off})
    res = KIND.run(ctx, item("allclose", "add", {**PARAMS, "atol": 1e-2, "timeout_s": 5}))
    assert res.status == "passed" and {c.timeout_s for c in ctx.calls} == {5.0}
