"""`gradient` on the in-process fake prober: the answer against autograd on the reference
forward (here mini_ref:add, whose Jacobian w.r.t. either argument is the identity and whose
vector-Jacobian product is the upstream gradient itself), partial credit for the shape, the
common slips named, and the hand_derived guard."""
from dataclasses import replace

import numpy as np
import pydantic
import pytest
import torch

from fake_kernel import ModuleContext
from fake_prober import FakeContext, item
from grader.checks import registry

KIND = registry.get("gradient")
JAC = {"forward": "mini_ref:add", "mode": "jacobian", "wrt": 0,
       "cases": [{"args": [{"randn": [3]}, {"randn": [3]}]}, {"args": [{"randn": [4]}, {"randn": [4]}], "label": "four"}]}
VJP = {"forward": "mini_ref:add", "mode": "vjp", "wrt": 1, "upstream": 2,
       "cases": [{"args": [{"randn": [2, 3]}, {"randn": [2, 3]}, {"randn": [2, 3]}]}]}


def eye(a, b):
    return torch.eye(a.shape[0], dtype=torch.float64)


def run(fn, params=JAC, visibility="visible"):
    ctx = FakeContext({"d_add": fn})
    return KIND.run(ctx, item("gradient", "d_add", params, visibility)), ctx


def test_the_right_jacobian_and_vjp_pass():
    res, ctx = run(eye)
    assert res.status == "passed" and res.fraction == 1.0 and len(ctx.calls) == 4  # two cases, two private twins
    res, _ = run(lambda a, b, up: up, VJP)
    assert res.status == "passed"


def test_a_sign_slip_keeps_the_shape_credit_and_is_named():
    res, _ = run(lambda a, b: -eye(a, b))
    assert res.status == "failed" and res.fraction == pytest.approx(0.25)  # shape_weight
    assert "it looks like the sign is flipped" in res.feedback
    res, _ = run(lambda a, b: 2 * eye(a, b))
    assert "off by a constant factor 2" in res.feedback
    # identity + 0.5 matches 1.5 x the identity on the diagonal only: no factor is named
    res, _ = run(lambda a, b: eye(a, b) + 0.5)
    assert res.status == "failed" and "factor" not in res.feedback and "looks like" not in res.feedback
    res, _ = run(lambda a, b: -eye(a, b), {**JAC, "shape_weight": 0.5})
    assert res.fraction == pytest.approx(0.5)


def test_a_wrong_shape_gets_nothing_and_says_which_shape():
    res, _ = run(lambda a, b: torch.ones(a.shape[0], dtype=torch.float64))
    assert res.fraction == 0.0 and "expected shape [3, 3], got [3]" in res.feedback


def test_nan_wrong_type_raising_and_missing_target_fail_closed():
    res, _ = run(lambda a, b: eye(a, b) * np.nan)
    assert res.fraction == pytest.approx(0.25) and "NaN or inf" in res.feedback  # the shape was right
    res, _ = run(lambda a, b: "the identity")
    assert res.fraction == 0.0 and "got str" in res.feedback

    def boom(a, b):
        raise NotImplementedError("TODO")
    res, _ = run(boom)
    assert res.fraction == 0.0 and "raised NotImplementedError: TODO" in res.feedback
    res = KIND.run(FakeContext({}), item("gradient", "d_add", JAC))
    assert res.status == "failed" and "`d_add` is not defined" in res.feedback


def test_hidden_items_never_quote_the_expected_values():
    wrong = lambda a, b: eye(a, b) + 0.5  # noqa: E731
    shown, _ = run(wrong)
    assert "expected 0, got 0.5" in shown.feedback
    hidden, _ = run(wrong, visibility="hidden")
    assert hidden.status == "failed" and "got 0.5" in hidden.feedback and "expected 0" not in hidden.feedback
    assert all(c.get("expected_shown") is False for c in hidden.evidence["cases"] if "worst_index" in c)


def test_answers_right_only_on_the_public_inputs_fail():
    public = {}

    def table(a, b):
        key = tuple(a.shape)
        public.setdefault(key, a)
        return eye(a, b) if a is public[key] else eye(a, b) * 0
    res, _ = run(table)
    assert res.status == "failed" and "fresh inputs" in res.feedback


def test_rubric_mistakes_are_errors_or_load_failures():
    with pytest.raises(pydantic.ValidationError, match="upstream"):
        item("gradient", "d_add", {**VJP, "upstream": None})
    spec = item("gradient", "d_add", JAC)
    bad = spec.params.model_copy(update={"cases": (spec.params.cases[0].model_copy(update={"args": [{"noise": [3]}]}),)})
    res = KIND.run(FakeContext({"d_add": eye}), replace(spec, params=bad))
    assert res.status == "error" and "rubric input spec" in res.feedback


# -- hand_derived: the probe's autograd guard, run here in-process (and undone) ----------------

@pytest.fixture
def restore_autograd(monkeypatch):
    """Every torch attribute the guard wraps is put back after the test."""
    from factories import restore_autograd_attrs

    restore_autograd_attrs(monkeypatch)


def by_autograd(a, b):
    from mini_ref import add

    return torch.autograd.functional.jacobian(lambda x: add(x, b), a)


def test_hand_derived_autograd_is_pending_for_a_ta_and_a_derivation_passes(tmp_path, restore_autograd):
    params = {**JAC, "hand_derived": True}
    ctx = ModuleContext({"d_add": by_autograd}, tmp_path)
    res = KIND.run(ctx, item("gradient", "d_add", params))
    assert res.status == "pending" and res.fraction == 0.0
    assert "your code calls torch.autograd.functional.jacobian (the grader disables it here)" in res.feedback
    assert ctx.sources[0].startswith(KIND_GUARD_START)  # the guard goes before the student's first line
    ok = KIND.run(ModuleContext({"d_add": eye}, tmp_path), item("gradient", "d_add", params))
    assert ok.status == "passed" and "hand_derived_signals" not in ok.evidence
    # without hand_derived, autograd is allowed and the same answer passes
    assert KIND.run(FakeContext({"d_add": by_autograd}), item("gradient", "d_add", JAC)).status == "passed"


KIND_GUARD_START = "\ndef __grader_install_autograd_guard():"


def test_a_failed_probe_fails_every_case(tmp_path):
    ctx = ModuleContext({"d_add": eye}, tmp_path)
    ctx.probe_errors["d_add"] = "Timeout: the call took longer than 20.0 s"
    res = KIND.run(ctx, item("gradient", "d_add", JAC))
    assert res.fraction == 0.0 and "raised Timeout: the call took longer than 20.0 s" in res.feedback
