"""`trained_model` on the fake kernel and prober: the kind's own prologue and epilogue (text)
capture the test's model around its "cells", the export is read through the untrusted-data
door, and the grader's probe helpers (exec'd here) rebuild the class from the weights; the
accuracy is the grader's argmax over forward's outputs on its own inputs."""
import functools
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from fake_kernel import FakeKernel, ModuleContext
from fake_prober import item
from grader.checks import registry

KIND = registry.get("trained_model")
ITEM_ID = "rnn.GRUMemory"
PARAMS = {"delay": 4, "n_strings": 60, "length": [10, 14]}


class Echo(nn.Module):
    """Echoes one-hot letters `delay` steps later; the read-out's scale is its one weight."""

    def __init__(self, hidden_size, delay=4):
        super().__init__()
        self.hidden_size = hidden_size
        self.delay = delay
        self.scale = nn.Parameter(torch.tensor(1.0))

    def shifted(self, x):
        out = torch.zeros_like(x)
        out[..., 0] = 1.0  # blank before the echo starts
        out[:, self.delay:] = x[:, :-self.delay]
        return out

    def forward(self, x):
        return self.shifted(x) * self.scale

    def test_run(self, s):
        return " " * self.delay + s[:-self.delay]


class OffByOne(Echo):
    def forward(self, x):
        out = torch.zeros_like(x)
        out[..., 0] = 1.0
        out[:, self.delay + 1:] = x[:, :-self.delay - 1]
        return out * self.scale


class EveryThirdWrong(Echo):
    def forward(self, x):
        y = self.shifted(x)
        y[:, ::3] = torch.roll(y[:, ::3], 1, dims=-1)
        return y * self.scale


class Nan(Echo):
    def forward(self, x):
        return self.shifted(x) * float("nan")


class Words(Echo):
    def forward(self, x):
        return "predictions"


def fresh(base, name="GRUMemory"):
    """A new class object per test: the capture patches the class's own __init__ (once)."""
    @functools.wraps(base.__init__)  # the signature the capture records the arguments by
    def __init__(self, *a, **k):
        base.__init__(self, *a, **k)
    return type(name, (base,), {"__init__": __init__})


def train(scale=10.0, **kw):
    def cell(ns):
        ns["model"] = ns["GRUMemory"](16, **kw)
        with torch.no_grad():
            ns["model"].scale.fill_(scale)  # "trained" after construction: the export has the trained value
    return cell


def grade(tmp_path, base, params=None, cells=None, run_edit=None, name="GRUMemory"):
    cls = fresh(base, name)
    spec = item("trained_model", "GRUMemory", {**PARAMS, **(params or {})}, id=ITEM_ID)
    kernel = FakeKernel(tmp_path / "kernel")
    define = lambda ns: ns.update({name: cls})  # noqa: E731
    run = kernel.run(KIND, spec, define, *(cells if cells is not None else [train()]))
    if run_edit:
        run = run_edit(run)
    ctx = ModuleContext({name: cls}, tmp_path / "scratch", run=run)
    return KIND.run(ctx, spec), ctx


def test_a_model_that_echoes_passes_on_the_graders_argmax(tmp_path):
    res, ctx = grade(tmp_path, Echo)
    assert res.status == "passed" and res.fraction == 1.0, res.feedback
    assert res.evidence["accuracy"] == 1.0 and res.evidence["layout"] == "onehot"
    assert res.evidence["test_run_accuracy"] == 1.0 and res.evidence["n_strings"] == 60
    assert res.evidence["exported"]["init_args"] == {"hidden_size": 16}  # the call, as the prologue recorded it
    assert [c.fn for c in ctx.calls] == ["__grader_echo", "__grader_echo_diag", "__grader_echo_forward"]


def test_the_exported_trained_weights_are_what_is_graded(tmp_path):
    res, _ = grade(tmp_path, Echo, cells=[train(scale=-1.0)])  # a negative read-out: the blank wins everywhere
    assert res.status == "failed" and res.fraction == 0.0 and res.evidence["accuracy"] < 0.5


def test_a_wrong_delay_fails_and_shows_an_example(tmp_path):
    res, _ = grade(tmp_path, OffByOne)
    assert res.status == "failed" and res.fraction == 0.0
    assert "example: input" in res.feedback and "delay 4: expected" in res.feedback
    assert "your test_run's strings echo with accuracy 1.0000, which is not what your model predicts" in res.feedback


def test_below_the_threshold_but_learning_gets_partial_credit(tmp_path):
    res, _ = grade(tmp_path, EveryThirdWrong)
    assert 0.5 <= res.evidence["accuracy"] < 0.99
    assert res.status == "failed" and res.fraction == pytest.approx(0.3) and "partial credit" in res.feedback
    res, _ = grade(tmp_path, EveryThirdWrong, {"partial_credit": 0.5, "threshold": 0.6})
    assert res.status == "passed"


def test_nan_outputs_score_nothing(tmp_path):
    res, _ = grade(tmp_path, Nan)
    assert res.fraction == 0.0 and res.evidence["accuracy"] == 0.0


def test_outputs_the_grader_cannot_read_with_a_good_test_run_are_left_to_a_ta(tmp_path):
    res, _ = grade(tmp_path, Words)
    assert res.status == "pending" and res.fraction == 0.0
    assert "the grader could not read predictions from forward" in res.feedback
    assert "forward returned str, not a tensor" in res.feedback


def test_missing_exports_say_why(tmp_path):
    res, _ = grade(tmp_path, Echo, cells=[])  # the class is defined, never instantiated
    assert res.status == "failed" and "no trained model found in the notebook" in res.feedback
    res, _ = grade(tmp_path / "b", Echo, run_edit=lambda r: replace(r, instrumentation=r.instrumentation[:1]))
    assert "the grader's epilogue did not run in the kernel" in res.feedback
    res, _ = grade(tmp_path / "c", Echo, run_edit=lambda r: replace(r, status="dead_kernel", executed=False))
    assert "the notebook did not run to the end (dead_kernel" in res.feedback
    res = KIND.run(ModuleContext({}, tmp_path / "d", run=None), item("trained_model", "GRUMemory", PARAMS, id=ITEM_ID))
    assert res.status == "failed" and "`GRUMemory` is not defined" in res.feedback


def test_a_forged_or_damaged_export_is_refused(tmp_path):
    def damage(run):
        (run.exports_dir / f"{KIND.instrument(item('trained_model', 'GRUMemory', PARAMS, id=ITEM_ID)).key}.npz").write_bytes(b"PK\x03\x04 not an npz")
        return run
    res, _ = grade(tmp_path, Echo, run_edit=damage)
    assert res.status == "failed" and "could not be read as plain arrays" in res.feedback


def test_variable_delay_needs_max_delay(tmp_path):
    res, _ = grade(tmp_path, Echo, {"mode": "variable_delay"})
    assert res.status == "failed" and "has no integer attribute `max_delay`" in res.feedback


def test_the_item_params_reach_the_probe(tmp_path):
    res, ctx = grade(tmp_path, Echo, {"timeout_s": 7, "n_strings": 20})
    assert res.evidence["n_strings"] == 20 and ctx.calls[0].timeout_s == 7.0 and ctx.calls[2].timeout_s == 7.0
    assert len(ctx.calls[0].args[3]) == 20 and all(10 <= len(s) <= 14 for s in ctx.calls[0].args[3])
    np.testing.assert_array_equal(ctx.calls[0].args[4], [None] * 20)


def test_with_the_weights_control_an_echo_the_grader_cannot_recompute_is_left_to_a_ta(tmp_path):
    """Echo's behaviour is written in forward, not learned: no standard GRU/LSTM reading of its
    weights reproduces it, so the weights control withholds the points."""
    res, ctx = grade(tmp_path, Echo, {"weights_control": True})
    assert res.status == "pending" and res.fraction == 0.0
    assert res.evidence["recomputed"]["verified"] is False and "needs a TA" in res.feedback
    assert [c.args[6] for c in ctx.calls if c.fn == "__grader_echo_forward"] == ["weights.npz", "control.npz"]


def test_failed_probes_fail_closed(tmp_path):
    cls = fresh(Echo)
    spec = item("trained_model", "GRUMemory", PARAMS, id=ITEM_ID)
    run = FakeKernel(tmp_path / "kernel").run(KIND, spec, lambda ns: ns.update(GRUMemory=cls), train())
    ctx = ModuleContext({"GRUMemory": cls}, tmp_path / "scratch", run=run)
    ctx.probe_errors.update({f: "the probe was killed: memory limit exceeded"
                             for f in ("__grader_echo", "__grader_echo_diag", "__grader_echo_forward")})
    res = KIND.run(ctx, spec)
    assert res.status == "failed" and res.fraction == 0.0
    assert "could not run forward: the probe was killed" in res.feedback
