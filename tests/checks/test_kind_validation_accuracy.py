"""`validation_accuracy` on the fake kernel and prober: the trained CNN captured by the kind's
own prologue/epilogue, rebuilt from the export by the grader's probe helpers (exec'd here),
scored by the grader on images it drew itself. The "CNN" is a small hand-made classifier
(disc vs square by how much of its bounding box the shape fills, about 0.9 accurate on the
course generator) whose decision threshold is its one trained parameter."""
import functools
from dataclasses import replace

import pytest
import torch
from torch import nn

from fake_kernel import FakeKernel, ModuleContext
from fake_prober import item
from grader.checks import registry

KIND = registry.get("validation_accuracy")
ITEM_ID = "cnn.validation_accuracy"
PARAMS = {"n_images": 200}
REFERENCES: dict = {}  # the images, drawn once for the whole module (as for a class of students)


class FillRatio(nn.Module):
    def __init__(self, n_out=2):
        super().__init__()
        self.n_out = n_out
        self.th = nn.Parameter(torch.tensor(0.0))  # 0: untrained (every image a square)

    def fill(self, x):
        g = nn.functional.avg_pool2d(x.mean(1, keepdim=True), 3, 1, 1)
        lo = g.flatten(1).quantile(0.1, dim=1)[:, None, None, None]
        hi = g.flatten(1).quantile(0.995, dim=1)[:, None, None, None]
        m = (g > (lo + hi) / 2).float()[:, 0]
        h, w = (m.sum(2) > 0).sum(1).float(), (m.sum(1) > 0).sum(1).float()
        return m.sum((1, 2)) / (h * w).clamp(min=1)

    def forward(self, x):
        d = (self.fill(x) - self.th) * 20
        return torch.stack([-d, d], 1) if self.n_out == 2 else torch.sigmoid(d)[:, None]


class Learned(FillRatio):
    """The fill-ratio rule with its scale and threshold in one trained weight vector:
    shuffled, the decision is nonsense."""
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.0, 0.0, 0.0, 0.0]))

    def forward(self, x):
        d = (self.fill(x) * self.w[0] - self.w[1]) * 20 + self.w[2] * self.w[3]
        return torch.stack([-d, d], 1)


class RuleAndNet(FillRatio):
    """The attack: the answers come from a rule written in forward; the trained layer only
    adds a whisper to them."""
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        d = (self.fill(x) - 0.85) * 20
        return torch.stack([-d, d], 1) + 1e-3 * self.lin(x.mean((2, 3)))


def train_learned(ns):
    ns["model"] = ns["CNN"]()
    with torch.no_grad():
        ns["model"].w.copy_(torch.tensor([1.0, 0.85, 0.0, 0.0]))


class ThreeOutputs(FillRatio):
    def forward(self, x):
        return torch.zeros(x.shape[0], 3)


class Nan(FillRatio):
    def forward(self, x):
        return super().forward(x) * float("nan")


class Words(FillRatio):
    def forward(self, x):
        return "cat"


class Hoarder(FillRatio):
    def __init__(self):
        super().__init__()
        self.register_buffer("seen", torch.zeros(200_001))


def fresh(base, name="CNN"):
    @functools.wraps(base.__init__)
    def __init__(self, *a, **k):
        base.__init__(self, *a, **k)
    return type(name, (base,), {"__init__": __init__})


def train(th=0.85, **kw):
    def cell(ns):
        ns["model"] = ns["CNN"](**kw)
        with torch.no_grad():
            ns["model"].th.fill_(th)
    return cell


def grade(tmp_path, base, params=None, cells=None, run_edit=None):
    cls = fresh(base)
    spec = item("validation_accuracy", "CNN", {**PARAMS, **(params or {})}, id=ITEM_ID)
    kernel = FakeKernel(tmp_path / "kernel")
    run = kernel.run(KIND, spec, lambda ns: ns.update(CNN=cls), *(cells if cells is not None else [train()]))
    if run_edit:
        run = run_edit(run)
    ctx = ModuleContext({"CNN": cls}, tmp_path / "scratch", run=run)
    ctx.reference_cache = REFERENCES
    return KIND.run(ctx, spec), ctx


def test_a_trained_classifier_passes_on_the_graders_private_images(tmp_path):
    res, ctx = grade(tmp_path, FillRatio)
    assert res.status == "passed" and res.fraction == 1.0, res.feedback
    assert res.evidence["split"] == "private" and res.evidence["n_images"] == 200 and res.evidence["accuracy"] >= 0.75
    assert res.evidence["decision"] == "argmax of (B, 2) outputs" and "known_split_accuracy" in res.evidence
    images = ctx.calls[0].args[3]
    assert [tuple(a.shape) for a in images] == [(200, 3, 32, 32), (500, 3, 32, 32)]  # private, then the known split
    assert len(ctx.calls[0].args) == 6  # images only: the labels never leave the grader


def test_the_exported_trained_weights_are_what_is_scored(tmp_path):
    res, _ = grade(tmp_path, FillRatio, cells=[train(th=0.0)])
    assert res.status == "failed" and res.fraction == 0.0 and res.evidence["accuracy"] < 0.6


def test_partial_credit_and_the_thresholds_come_from_the_params(tmp_path):
    res, _ = grade(tmp_path, FillRatio, {"threshold": 0.99})
    assert res.status == "failed" and res.fraction == pytest.approx(0.3) and "partial credit" in res.feedback
    res, _ = grade(tmp_path, FillRatio, {"threshold": 0.99, "partial_credit": 0.5})
    assert res.fraction == pytest.approx(0.5)


def test_a_single_probability_output_is_read_as_such(tmp_path):
    res, _ = grade(tmp_path, FillRatio, cells=[train(n_out=1)])
    assert res.status == "passed" and res.evidence["decision"] == "probability > 0.5 of a single output"


def test_the_known_split_when_the_private_one_is_off(tmp_path):
    res, ctx = grade(tmp_path, FillRatio, {"private_split": False})
    assert res.status == "passed" and res.evidence["split"] == "validation" and res.evidence["n_images"] == 500
    assert len(ctx.calls[0].args[3]) == 1


def test_unreadable_nan_and_wrong_type_outputs_fail_with_the_reason(tmp_path):
    res, _ = grade(tmp_path, ThreeOutputs)
    assert res.status == "failed" and "cannot read predictions: output shape [200, 3]" in res.feedback
    res, _ = grade(tmp_path / "nan", Nan)
    assert res.status == "failed" and "outputs NaN or inf" in res.feedback
    res, _ = grade(tmp_path / "words", Words)
    assert res.status == "failed" and res.feedback.startswith("could not evaluate your trained CNN: AttributeError")


def test_large_buffers_that_could_hold_a_dataset_go_to_a_ta(tmp_path):
    res, _ = grade(tmp_path, Hoarder)
    assert res.status == "pending" and res.fraction == 0.0
    assert res.evidence["large_buffers"] == {"seen": 200_001} and "needs a TA" in res.feedback
    res, _ = grade(tmp_path / "big", Hoarder, {"max_buffer_numel": 10**6})
    assert res.status == "passed"


def test_missing_exports_say_why(tmp_path):
    res, _ = grade(tmp_path, FillRatio, cells=[])
    assert res.status == "failed" and "no trained model found in the notebook" in res.feedback
    res, _ = grade(tmp_path / "b", FillRatio, run_edit=lambda r: replace(r, instrumentation=()))
    assert "the grader's prologue did not run in the kernel" in res.feedback

    def forge(run):
        (run.exports_dir / f"{KIND.instrument(item('validation_accuracy', 'CNN', PARAMS, id=ITEM_ID)).key}.json").write_text("[1, 2]")
        return run
    res, _ = grade(tmp_path / "c", FillRatio, run_edit=forge)
    assert res.status == "failed" and "is malformed" in res.feedback
    res = KIND.run(ModuleContext({}, tmp_path / "d"), item("validation_accuracy", "CNN", PARAMS, id=ITEM_ID))
    assert res.status == "failed" and "`CNN` is not defined" in res.feedback


def test_a_failed_probe_fails_closed(tmp_path):
    cls = fresh(FillRatio)
    spec = item("validation_accuracy", "CNN", PARAMS, id=ITEM_ID)
    run = FakeKernel(tmp_path / "kernel").run(KIND, spec, lambda ns: ns.update(CNN=cls), train())
    ctx = ModuleContext({"CNN": cls}, tmp_path / "scratch", run=run)
    ctx.reference_cache = REFERENCES
    ctx.probe_errors["__grader_cnn_eval"] = "the probe was stopped after 120 s (time limit)"
    res = KIND.run(ctx, spec)
    assert res.status == "failed" and res.fraction == 0.0
    assert res.feedback.startswith("could not evaluate your trained CNN: the probe was stopped after 120 s")


def test_the_weights_control_sends_a_classifier_written_in_forward_to_a_ta(tmp_path):
    res, ctx = grade(tmp_path, RuleAndNet, {"weights_control": True}, cells=[lambda ns: ns.update(model=ns["CNN"]())])
    assert res.status == "pending" and res.fraction == 0.0, res.feedback
    assert res.evidence["accuracy"] >= 0.75 and res.evidence["control_accuracy"] >= 0.75
    assert "weights shuffled by the grader" in res.feedback and "needs a TA" in res.feedback
    assert ctx.calls[1].args[-1] == "control.npz" and len(ctx.calls[1].args[3]) == 1  # the private images only
    res, _ = grade(tmp_path / "off", RuleAndNet, cells=[lambda ns: ns.update(model=ns["CNN"]())])
    assert res.status == "passed"  # without the control (the default) the rule scores


def test_a_model_that_owes_its_answers_to_its_weights_passes_the_control(tmp_path):
    res, ctx = grade(tmp_path, Learned, {"weights_control": True}, cells=[train_learned])
    assert res.status == "passed" and res.fraction == 1.0, res.feedback
    assert res.evidence["control_accuracy"] < 0.6 <= 0.75 <= res.evidence["accuracy"]
    assert len(ctx.calls) == 2
