"""`cnn_architecture` on the fake prober: the grader's verify helper (grader/inkernel, exec'd
here as text) builds the test's class, traces one forward pass, and the grader replays the
record with its own torch; the parts are counted on the replay."""
import pytest
import torch
from torch import nn

from fake_kernel import ModuleContext
from fake_prober import item
from grader.checks import registry

KIND = registry.get("cnn_architecture")


class Full(nn.Module):
    """Every required part, used in forward: conv, batch norm, ReLU, pooling, a residual sum, a linear head."""

    def __init__(self, n_out=2):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16, n_out)

    def forward(self, x):
        h = torch.relu(self.bn(self.c1(x)))
        h = h + self.c2(h)
        return self.fc(torch.flatten(self.pool(h), 1))


class NoResidual(Full):
    def forward(self, x):
        h = torch.relu(self.bn(self.c1(x)))
        h = self.c2(h)
        return self.fc(torch.flatten(self.pool(h), 1))


class UnusedBatchNorm(Full):
    def forward(self, x):
        h = torch.relu(self.c1(x))
        h = h + self.c2(h)
        return self.fc(torch.flatten(self.pool(h), 1))


class ThreeOutputs(Full):
    def __init__(self):
        super().__init__(n_out=3)


class Crashes(Full):
    def forward(self, x):
        raise RuntimeError("shapes do not match")


class NoInit(Full):
    def __init__(self, channels):
        super().__init__()


def grade(tmp_path, ns, target="CNN", **params):
    ctx = ModuleContext(ns, tmp_path)
    return KIND.run(ctx, item("cnn_architecture", target, params)), ctx


def parts(res):
    return {p["name"]: p for p in res.evidence["parts"]}


def test_a_cnn_with_every_part_passes_as_replayed_by_the_grader(tmp_path):
    res, ctx = grade(tmp_path, {"CNN": Full}, input_sizes=[[32, 32], [48, 40]])
    assert res.status == "passed" and res.fraction == 1.0, res.feedback
    assert res.evidence["verified"] == "replayed by the grader" and res.evidence["n_conv_weights"] == 2
    assert res.evidence["residual"]["convs_on_branches"] == [0, 1]
    assert "looks like logits" in parts(res)["output shape on (B, 3, H, W) images"]["detail"]
    assert [c.fn for c in ctx.calls] == ["__grader_cnn_verify"] and ctx.calls[0].timeout_s == 120.0


def test_a_missing_part_fails_that_part_with_the_reason(tmp_path):
    res, _ = grade(tmp_path, {"CNN": NoResidual})
    assert res.status == "failed" and res.fraction == pytest.approx(6 / 7)
    assert not parts(res)["a residual connection"]["ok"]
    assert "no addition of a convolution branch to its input was traced" in res.feedback
    res, _ = grade(tmp_path, {"CNN": UnusedBatchNorm})
    assert parts(res)["batch normalisation"]["detail"] == "1 BatchNorm module(s) defined but never used in forward"


def test_the_weights_param_sets_each_parts_share(tmp_path):
    res, _ = grade(tmp_path, {"CNN": NoResidual}, weights={"residual": 4.0})
    assert res.fraction == pytest.approx(6 / 10)


def test_a_wrong_output_shape_fails_the_output_part(tmp_path):
    res, _ = grade(tmp_path, {"CNN": ThreeOutputs}, batch=3)
    out = parts(res)["output shape on (B, 3, H, W) images"]
    assert not out["ok"] and "output shape [3, 3]; expected (3, 2), (3, 1) or (3,)" in out["detail"]


def test_a_forward_that_raises_or_a_class_that_cannot_be_built_fails(tmp_path):
    res, _ = grade(tmp_path, {"CNN": Crashes})
    assert res.fraction == 0.0 and "forward failed, nothing could be traced: RuntimeError: shapes do not match" in res.feedback
    res, _ = grade(tmp_path, {"CNN": NoInit})
    assert res.status == "failed" and res.feedback.startswith("could not build and run CNN(): TypeError")


def test_a_model_too_large_to_replay_is_left_to_a_ta(tmp_path):
    res, _ = grade(tmp_path, {"CNN": Full}, max_params=10)
    assert res.status == "pending" and res.fraction == 0.0 and "more than the grader replays (10)" in res.feedback


def test_alternative_class_names_and_a_missing_class(tmp_path):
    res, _ = grade(tmp_path, {"CNN_Solution": Full}, alternative_targets=["CNN_Solution"])
    assert res.status == "passed" and res.evidence["graded_class"] == "CNN_Solution"
    assert res.feedback.startswith("graded class `CNN_Solution` (the rubric accepts `CNN` or `CNN_Solution`)")
    res, _ = grade(tmp_path, {}, alternative_targets=["CNN_Solution"])
    assert res.status == "failed" and "(nor `CNN_Solution`)" in res.feedback
    res, _ = grade(tmp_path, {"Net": Full})
    assert res.status == "failed" and "`CNN` is not defined" in res.feedback


class NanHead(Full):
    def forward(self, x):
        return super().forward(x) * float("nan")


def test_a_nan_output_fails_its_output_part_and_keeps_the_rest(tmp_path):
    """The replay reproduces the NaN where the probe saw it, so the record is verified and the
    output part fails for the right reason (not a TA's "could not verify")."""
    res, _ = grade(tmp_path, {"CNN": NanHead})
    assert res.status == "failed" and "output contains NaN or inf" in res.feedback, res.feedback
    assert 0 < res.fraction < 1 and res.evidence["verified"] == "replayed by the grader"


def test_a_failed_probe_fails_closed(tmp_path):
    ctx = ModuleContext({"CNN": Full}, tmp_path)
    ctx.probe_errors["__grader_cnn_verify"] = "the probe was killed: memory limit exceeded"
    res = KIND.run(ctx, item("cnn_architecture", "CNN", {}))
    assert res.status == "failed" and res.fraction == 0.0
    assert res.feedback == "could not build and run CNN(): the probe was killed: memory limit exceeded"
