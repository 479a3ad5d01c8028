"""`train_step` on the fake prober: the lab's get_loss_and_correct and step helpers, called
by the grader's probe helpers (grader/inkernel/train_step_probe.py, exec'd here as text)
on a grader-made Linear model; the verdict is the grader's recomputation."""
import pydantic
import pytest
import torch

from fake_kernel import ModuleContext
from fake_prober import item
from grader.checks import registry

KIND = registry.get("train_step")
GLC = {"contract": "get_loss_and_correct"}
STEP = {"contract": "step"}


def glc_ok(model, batch, criterion, device):
    x, y = batch
    out = model(x)
    return criterion(out, y), (out.argmax(1) == y).sum()


def step_ok(loss, optimizer):
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def grade(tmp_path, fn, params, name="fn"):
    ctx = ModuleContext({name: fn}, tmp_path)
    return KIND.run(ctx, item("train_step", name, params)), ctx


def test_the_labs_helpers_pass(tmp_path):
    res, ctx = grade(tmp_path, glc_ok, GLC)
    assert res.status == "passed" and res.fraction == 1.0
    assert [c.fn for c in ctx.calls] == ["__grader_glc", "__grader_glc"] and {c.timeout_s for c in ctx.calls} == {30.0}
    res, _ = grade(tmp_path, step_ok, {**STEP, "timeout_s": 5})
    assert res.status == "passed" and res.evidence["events"] == ["zero_grad", "backward", "step"]


def test_a_hard_coded_criterion_fails_the_sum_case_and_is_named(tmp_path):
    def own_criterion(model, batch, criterion, device):
        x, y = batch
        out = model(x)
        return torch.nn.functional.cross_entropy(out, y), (out.argmax(1) == y).sum()
    res, _ = grade(tmp_path, own_criterion, GLC)
    assert res.status == "failed" and "the criterion passed in was not used" in res.feedback
    assert 0 < res.fraction < 1


def test_argmax_over_the_wrong_axis_and_a_python_int_count_fail(tmp_path):
    def wrong_axis(model, batch, criterion, device):
        x, y = batch
        out = model(x)
        return criterion(out, y), (out.argmax(0)[: len(y)] == y[: out.shape[1]]).sum()
    res, _ = grade(tmp_path, wrong_axis, GLC)
    assert res.status == "failed" and "argmax over classes, dim=1" in res.feedback

    def int_count(model, batch, criterion, device):
        loss, correct = glc_ok(model, batch, criterion, device)
        return loss, int(correct)
    res, _ = grade(tmp_path, int_count, GLC)
    assert res.status == "failed" and "returned a int, expected a tensor" in res.feedback


def test_a_detached_loss_fails_the_gradient_part(tmp_path):
    def detached(model, batch, criterion, device):
        loss, correct = glc_ok(model, batch, criterion, device)
        return loss.detach(), correct
    res, _ = grade(tmp_path, detached, GLC)
    assert res.status == "failed" and "the loss is detached from the model (no graph)" in res.feedback
    assert "ok   CrossEntropyLoss(reduction='mean'), batch of 8, 3 classes: loss value" in res.feedback


def test_wrong_type_raising_and_missing_target(tmp_path):
    res, _ = grade(tmp_path, lambda model, batch, criterion, device: "loss", GLC)
    assert res.fraction == 0.0 and "returned str, expected a pair (loss, correct)" in res.feedback

    def boom(model, batch, criterion, device):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    res, _ = grade(tmp_path, boom, GLC)
    assert res.fraction == 0.0 and "raised RuntimeError: mat1 and mat2" in res.feedback
    res = KIND.run(ModuleContext({}, tmp_path), item("train_step", "fn", GLC))
    assert res.status == "failed" and "`fn` is not defined" in res.feedback


def test_a_nan_loss_fails(tmp_path):
    def nan_loss(model, batch, criterion, device):
        loss, correct = glc_ok(model, batch, criterion, device)
        return loss * float("nan"), correct
    res, _ = grade(tmp_path, nan_loss, GLC)
    assert res.status == "failed" and "got nan" in res.feedback


@pytest.mark.parametrize("body, mistake", [
    (lambda loss, opt: (loss.backward(), opt.step()), "no zero_grad"),
    (lambda loss, opt: (loss.backward(), opt.zero_grad(), opt.step()), "the parameters did not move"),
    (lambda loss, opt: (opt.zero_grad(), loss.backward(), opt.step(), opt.step()), "two optimizer steps"),
    (lambda loss, opt: opt.step(), "no backward"),
])
def test_step_mistakes_are_named(tmp_path, body, mistake):
    res, _ = grade(tmp_path, body, STEP)
    assert res.status == "failed" and "the update matches a known mistake: " in res.feedback and mistake in res.feedback


def test_step_raising_and_the_learning_rate_param(tmp_path):
    def boom(loss, opt):
        raise TypeError("step() missing 1 required positional argument")
    res, _ = grade(tmp_path, boom, STEP)
    assert res.fraction == 0.0 and "step(loss, optimizer) raised TypeError" in res.feedback
    res, ctx = grade(tmp_path, step_ok, {**STEP, "lr": 0.01})
    assert res.status == "passed" and ctx.calls[0].args[6] == 0.01 and res.evidence["inputs"]["optimizer"] == "SGD(lr=0.01)"
    with pytest.raises(pydantic.ValidationError):
        item("train_step", "fn", {"contract": "train"})


def test_a_failed_probe_fails_closed(tmp_path):
    ctx = ModuleContext({"fn": glc_ok}, tmp_path)
    ctx.probe_errors["__grader_glc"] = "the probe was stopped after 70 s (time limit)"
    res = KIND.run(ctx, item("train_step", "fn", GLC))
    assert res.fraction == 0.0 and "raised the probe was stopped after 70 s" in res.feedback
    ctx = ModuleContext({"fn": step_ok}, tmp_path)
    ctx.probe_errors["__grader_step"] = "probe result refused: too large"
    res = KIND.run(ctx, item("train_step", "fn", STEP))
    assert res.fraction == 0.0 and "step(loss, optimizer) raised probe result refused" in res.feedback
