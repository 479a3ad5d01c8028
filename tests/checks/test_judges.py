"""Fast unit tests of the judging functions of the trained-model check kinds (no kernels)."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from grader.checks import _exports as ex
from grader.checks import kind_cnn_architecture as arch
from grader.checks import kind_loss_curve as lc
from grader.checks import kind_train_step as ts
from grader.checks import kind_trained_model as tm
from grader.checks import kind_validation_accuracy as va
from grader.probe import Outcome

LC_P = {"model_class": "SimpleLSTM", "sizes": [8, 12, 4], "seed": 1, "steps_per_snapshot": 31, "max_snapshots": 1000,
        "max_rise": 0.2, "ignore_epochs": 1, "learned_margin": 0.1, "min_accuracy": 0.6, "partial_credit": 0.0, "plot": False}


def parts(res):
    return {p["name"].split(":")[0]: p for p in res.evidence["parts"]}


# ---- loss curve -------------------------------------------------------------------------

def test_curve_smooth_and_learning_passes():
    losses = list(np.linspace(1.39, 0.1, 60))
    accs = list(np.linspace(0.25, 0.99, 60))
    ps, ev = lc.judge_curve(losses, accs, LC_P)
    assert all(p.ok for p in ps) and ev["max_rise"] == 0


def test_curve_spike_fails_with_the_epoch():
    losses = list(np.linspace(1.39, 0.7, 30)) + [2.6, 1.9] + list(np.linspace(1.4, 0.05, 30))
    accs = [0.99] * len(losses)
    ps, ev = lc.judge_curve(losses, accs, LC_P)
    by = {p.name.split(":")[0]: p for p in ps}
    assert not by["no spike"].ok and "at epoch 30" in by["no spike"].detail
    assert not by["never back above the initial loss once learned"].ok
    assert ev["max_rise"] > 1.8


def test_curve_lr_zero_is_smooth_but_fails_learning():
    losses = [1.403] + [1.385] * 100
    accs = [0.26] + [0.24] * 100
    ps, _ = lc.judge_curve(losses, accs, LC_P)
    by = {p.name.split(":")[0]: p for p in ps}
    assert by["no spike"].ok and by["never back above the initial loss once learned"].ok
    assert not by["still learns"].ok and "learning rate of 0" in by["still learns"].detail


def test_curve_smooth_but_slower_learning_passes_near_chance_fails():
    # a smaller learning rate: smooth, 90 % by epoch 100 -- the course's criterion is met
    losses = list(np.linspace(1.40, 0.35, 101))
    accs = list(np.linspace(0.25, 0.90, 101))
    ps, _ = lc.judge_curve(losses, accs, LC_P)
    assert all(p.ok for p in ps), [(p.name, p.detail) for p in ps if not p.ok]
    # smooth and barely above chance: it does not really learn
    ps, _ = lc.judge_curve(list(np.linspace(1.40, 1.30, 101)), list(np.linspace(0.25, 0.35, 101)), LC_P)
    by = {p.name.split(":")[0]: p for p in ps}
    assert by["no spike"].ok and not by["still learns"].ok and "near chance" in by["still learns"].detail


def test_curve_nan_fails():
    ps, _ = lc.judge_curve([1.4, float("nan"), 0.5], [0.2, 0.2, 0.9], LC_P)
    assert not ps[0].ok and "snapshot 1" in ps[0].detail


def _snap_arrays(hidden=12, n=3, seed=1):
    torch.manual_seed(seed)
    from reference.seq_classification import SimpleLSTM

    m = SimpleLSTM(8, hidden, 4)
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    names = list(sd)
    arrays = {f"s{i}": np.stack([sd[k]] * n) for i, k in enumerate(names)}
    meta = {"found": True, "names": names, "at": list(range(0, 31 * n, 31)), "every": 31, "runs": [{"steps": 31 * (n - 1)}]}
    return meta, arrays


def test_changed_hidden_size_fails_with_that_reason():
    meta, arrays = _snap_arrays(hidden=16)
    res = lc.judge_export(meta, arrays, LC_P)
    assert res.status == "failed" and res.fraction == 0
    assert "hidden size is 16, expected 12" in res.feedback


def test_changed_seed_fails_and_gets_no_partial_credit():
    meta, arrays = _snap_arrays(seed=2)
    res = lc.judge_export(meta, arrays, dict(LC_P, partial_credit=0.5))
    assert res.status == "failed" and res.fraction == 0
    assert "FAIL initial weights are those of torch.manual_seed(1)" in res.feedback


def test_untrained_but_seeded_snapshots_fail_on_learning_only():
    meta, arrays = _snap_arrays(seed=1)
    res = lc.judge_export(meta, arrays, dict(LC_P, plot=True))
    by = parts(res)
    assert by["initial weights are those of torch.manual_seed(1) + SimpleLSTM(8, 12, 4)"]["ok"]
    assert not by["still learns"]["ok"]
    assert len(res.evidence["curve"]["loss"]) == 3
    png = res.evidence["artifacts"]["loss_curve.loss_curve.png"]
    import base64

    assert base64.b64decode(png)[:4] == b"\x89PNG"


def test_final_snapshot_must_match_live_model():
    meta, arrays = _snap_arrays(seed=1)
    meta["model_global_is_graded_run"] = True
    for i in range(len(meta["names"])):
        arrays[f"final{i}"] = arrays[f"s{i}"][-1] + 1.0
    res = lc.judge_export(meta, arrays, LC_P)
    assert "FAIL the last snapshot is the trained `model`" in res.feedback


# ---- exports ----------------------------------------------------------------------------

def test_read_npz_refuses_pickled_objects(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, a=np.array([{"evil": 1}], dtype=object))
    assert "could not be read as plain arrays" in ex.read_npz(p, 1 << 20)
    np.savez(p, a=np.arange(3))
    assert list(ex.read_npz(p, 1 << 20)["a"]) == [0, 1, 2]
    assert "larger than the limit" in ex.read_npz(p, 10)


def test_exports_untrusted_unless_epilogue_ran(tmp_path):
    run = SimpleNamespace(executed=False, status="timeout", message="cell 5 exceeded", exports_dir=tmp_path, instrumentation=())
    assert "did not run to the end (timeout" in ex.instrumentation_ok(run)
    run = SimpleNamespace(executed=True, status="completed", message="", exports_dir=tmp_path,
                          instrumentation=({"kind": "prologue", "status": "ok"}, {"kind": "epilogue", "status": "error", "ename": "X", "evalue": "y"}))
    assert "epilogue failed" in ex.instrumentation_ok(run)
    run.instrumentation = ({"kind": "prologue", "status": "ok"}, {"kind": "epilogue", "status": "ok"})
    assert ex.instrumentation_ok(run) is None


def test_init_kwargs_from_record_or_attributes():
    meta = {"signatures": {"__init__": [["self", "POSITIONAL_OR_KEYWORD", False], ["hidden_size", "POSITIONAL_OR_KEYWORD", False],
                                        ["dropout", "POSITIONAL_OR_KEYWORD", True]]},
            "init_args": {"hidden_size": 64}, "attrs": {}}
    kw, notes = ex.init_kwargs(meta)
    assert kw == {"hidden_size": 64} and any("dropout" in n for n in notes)
    meta["init_args"] = None
    assert "neither recorded nor stored as `self.hidden_size`" in ex.init_kwargs(meta)
    meta["attrs"] = {"hidden_size": 32}
    assert ex.init_kwargs(meta)[0] == {"hidden_size": 32}


def test_module_excluding_never_pulls_training():
    from grader.extract import extract

    e = extract(["import torch\nN = 26", "class M:\n    def run(self):\n        return model.x + N",
                 "def train(m):\n    while True: pass", "model = train(M())"])
    src = ex.module_excluding(e, ["M"], {"model"})
    assert "class M" in src and "N = 26" in src and "train" not in src


# ---- echo -------------------------------------------------------------------------------

def test_echo_accuracy_counts_like_the_notebook():
    s = ["abcdefgh", "hijklmnop"]
    perfect = ["    abcd", "    hijkl"]
    acc, _ = tm.echo_accuracy(s, [4, 4], perfect)
    assert acc == 1.0
    acc, ev = tm.echo_accuracy(s, [4, 4], [perfect[0], {"error": "boom"}])
    assert acc == pytest.approx(4 / 9) and ev["worst_input"] == "hijklmnop"
    acc, _ = tm.echo_accuracy(["abc"], [0], ["abc"])
    assert acc == 1.0
    assert tm.echo_accuracy(["abcdef"], [2], ["  ab"])[0] == pytest.approx(2 / 4)  # too short: missing = wrong


def test_strings_are_seeded_and_in_range():
    a = tm.make_strings(5, 50, (15, 25), (0, 8))
    assert a == tm.make_strings(5, 50, (15, 25), (0, 8))
    assert all(15 <= len(s) <= 25 and s.isalpha() and s.islower() for s in a[0])
    assert set(a[1]) <= set(range(9))


def test_deviations_are_named():
    meta = {"signatures": {"forward": [["self", "P", False], ["x", "P", False], ["h", "P", True]],
                           "test_run": [["self", "P", False], ["s", "P", False]]}}
    diag = Outcome(True, {"onehot": {"ok": False, "error": "IndexError"}, "indices": {"ok": True, "out": {"type": "tuple"}}})
    devs = tm._deviations(meta, diag, False)
    assert "forward takes extra argument(s) h beyond (x)" in devs
    assert any("integer indices" in d for d in devs) and any("tuple" in d for d in devs)


# ---- cnn architecture -------------------------------------------------------------------

class _NoResidual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)  # defined, never used
        self.fc = torch.nn.Linear(8, 2)

    def forward(self, x):
        x = torch.relu(self.c1(x)) + 1.0
        x = self.c2(x).mean((2, 3))
        return self.fc(x)


class _Projection(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.sc = torch.nn.Conv2d(3, 8, 1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 1)

    def forward(self, x):
        y = self.c2(torch.nn.functional.leaky_relu(self.bn(self.c1(x))))
        y += self.sc(x)
        return torch.sigmoid(self.fc(torch.nn.functional.max_pool2d(y, 2).mean((2, 3))))


def _trace(cls, sizes=((32, 32),)):
    from reference.cnn import CNN

    ns = {"CNN": CNN, "NoRes": _NoResidual, "Proj": _Projection}
    exec(arch._TRACE_SOURCE, ns)
    d = ns["__grader_cnn_trace"](cls, [list(s) for s in sizes], 2, 0)
    return json.loads(json.dumps(d))  # what crosses the boundary is plain data


def test_reference_cnn_has_every_part():
    f = arch.analyse(_trace("CNN", ((32, 32), (256, 256))))
    assert f["n_conv_weights"] >= 2 and f["batch_norm"] and f["activations"] and f["pooling"] and f["linear"]
    assert f["residual"]["convs_on_branches"] == [0, 2]


def test_missing_residual_and_unused_batchnorm_are_detected():
    d = _trace("NoRes")
    f = arch.analyse(d)
    assert f["residual"] is None and f["batch_norm"] == 0 and f["declared"]["batch_norm"] == 1 and not f["pooling"]


def test_projection_shortcut_counts_as_residual_and_prob_output_is_accepted():
    d = _trace("Proj")
    f = arch.analyse(d)
    assert f["residual"]["convs_on_branches"] == [1, 2]
    ok, msg = arch.judge_output(d["outputs"][0], 2)
    assert ok and "[2, 1]" in msg


def test_output_shapes():
    assert arch.judge_output({"size": [32, 32], "shape": [2, 3], "dtype": "torch.float32", "finite": True}, 2)[0] is False
    assert arch.judge_output({"size": [32, 32], "shape": [2], "dtype": "torch.float32", "finite": True, "min": 0.1, "max": 0.9}, 2)[0]
    assert "NaN" in arch.judge_output({"size": [32, 32], "shape": [2, 2], "dtype": "torch.float32", "finite": False}, 2)[1]


# ---- train_step -------------------------------------------------------------------------

def _step_case():
    W, b, x, y = ts._inputs(3)
    rng = np.random.default_rng(4)
    return W, b, x, y, rng.standard_normal(W.shape), rng.standard_normal(b.shape), 0.5


@pytest.mark.parametrize("mistake", ["no zero_grad", "zero_grad called after backward", "no backward", "two optimizer steps"])
def test_step_mistakes_are_named(mistake):
    W, b, x, y, sW, sb, lr = _step_case()
    outcomes = ts.reference_step_outcomes(W, b, x, y, sW, sb, lr)
    name = next(k for k in outcomes if k.startswith(mistake))
    nW, nb = outcomes[name]
    res = ts.TrainStep._judge_step(Outcome(True, {"W": nW, "b": nb, "events": ["backward", "step"]}), W, b, x, y, sW, sb, lr, 1e-6)
    assert res.status == "failed" and f"matches a known mistake: {mistake}" in res.feedback


def test_step_correct_passes():
    W, b, x, y, sW, sb, lr = _step_case()
    nW, nb = ts.reference_step_outcomes(W, b, x, y, sW, sb, lr)["correct"]
    res = ts.TrainStep._judge_step(Outcome(True, {"W": nW, "b": nb, "events": ["zero_grad", "backward", "step"]}), W, b, x, y, sW, sb, lr, 1e-6)
    assert res.status == "passed"


def test_get_loss_and_correct_needs_a_tensor_count_and_the_given_criterion():
    W, b, x, y = ts._inputs(3)
    outs = []
    for _red in ("mean", "sum"):
        r = ts.reference_glc(W, b, x, y, "mean")  # a hard-coded mean criterion
        outs.append(Outcome(True, {"loss": r["loss"], "has_graph": True, "gW": r["gW"], "gb": r["gb"],
                                   "correct": float(r["correct"]), "correct_type": "int"}))
    res = ts.TrainStep._judge_glc(outs, W, b, x, y, 1e-6)
    assert res.status == "failed" and 0 < res.fraction < 1
    assert "the criterion passed in was not used" in res.feedback
    assert "expected a tensor" in res.feedback


def test_inputs_make_argmax_axis_matter():
    W, b, x, y = ts._inputs(3)
    r = ts.reference_glc(W, b, x, y, "mean")
    assert 0 < r["correct"] < len(y)


# ---- validation accuracy ----------------------------------------------------------------

def test_predictions_formats():
    n = 4
    assert list(va.predictions(np.array([[1, 0], [0, 1], [2, 3], [5, -1.0]]), n)[0]) == [0, 1, 1, 0]
    p, how = va.predictions(np.array([0.2, 0.7, 0.9, 0.1]), n)
    assert list(p) == [0, 1, 1, 0] and "probability" in how
    p, how = va.predictions(np.array([[-2.0], [3.0], [0.5], [-0.1]]), n)
    assert list(p) == [0, 1, 1, 0] and "logit" in how
    assert va.predictions(np.zeros((4, 3)), n)[0] is None
