"""`loss_curve`'s run() on the fake kernel: the kind's own prologue (global optimizer hooks)
and epilogue (the export), as text, around a training "cell"; run() reads the export through
the untrusted-data door. The curve's values are the grader's evaluation of the snapshots;
where only the plumbing is under test it is replaced by a synthetic curve (tests of the
curve rules: test_judges.py; of the run selection: test_loss_curve_runs.py)."""
import base64
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from fake_kernel import FakeKernel, ModuleContext
from fake_prober import item
from grader.checks import kind_loss_curve as lc
from grader.checks import registry
from reference.seq_classification import SimpleLSTM

KIND = registry.get("loss_curve")
ITEM_ID = "seq.section8"
EVERY = 3
PARAMS = {"steps_per_snapshot": EVERY, "min_epochs": 2, "plot": False}


def smooth(snaps, sizes, eval_set=None):
    n = len(snaps)
    return {"loss": list(np.linspace(1.39, 0.1, n)), "accuracy": list(np.linspace(0.25, 0.99, n))}


def spiky(snaps, sizes, eval_set=None):
    curve = smooth(snaps, sizes)
    curve["loss"][-2] = 1.5  # back above the start, late in training
    return curve


@pytest.fixture
def curve(monkeypatch):
    def use(fn):
        monkeypatch.setattr(lc, "evaluate_snapshots", fn)
        monkeypatch.setattr(lc, "_eval_set", lambda: None)
    return use


def train(steps=7, seed=1, lr=1e-2, sizes=(8, 12, 4)):
    """A notebook cell: the seeded model, `steps` optimizer steps, kept as the global `model`."""
    def cell(ns):
        torch.manual_seed(seed)
        model = ns["SimpleLSTM"](*sizes)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        g = torch.Generator().manual_seed(0)
        for _ in range(steps):
            x, y = torch.randn(4, 5, sizes[0], generator=g), torch.randint(0, sizes[2], (4,), generator=g)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        ns["model"] = model
    return cell


def grade(tmp_path, *cells, params=None, run_edit=None):
    spec = item("loss_curve", None, {**PARAMS, **(params or {})}, id=ITEM_ID)
    kernel = FakeKernel(tmp_path / "kernel")
    run = kernel.run(KIND, spec, lambda ns: ns.update(SimpleLSTM=SimpleLSTM), *cells)
    if run_edit:
        run = run_edit(run)
    return KIND.run(ModuleContext({}, tmp_path / "scratch", run=run), spec)


def test_a_seeded_smooth_run_that_ends_in_the_live_model_passes(tmp_path, curve):
    curve(smooth)
    res = grade(tmp_path, train())
    assert res.status == "passed" and res.fraction == 1.0, res.feedback
    assert res.evidence["graded_runs"] == [0] and res.evidence["effective_steps"] == 7
    assert res.evidence["snapshot_steps"] == [0, 3, 6, 7]
    assert "Graded: run #0" in res.feedback


def test_a_spike_fails_and_names_the_epoch(tmp_path, curve):
    curve(spiky)
    res = grade(tmp_path, train())
    assert res.status == "failed" and res.fraction == 0.0
    assert "FAIL no spike" in res.feedback and "at epoch 2" in res.feedback


def test_too_short_another_seed_and_partial_credit(tmp_path, curve):
    curve(smooth)
    res = grade(tmp_path, train(steps=4))
    assert res.status == "failed" and "4 of 4 steps changed the weights" in res.feedback
    res = grade(tmp_path / "seed", train(seed=2))
    assert res.status == "failed" and "the seed or the model's initialisation was changed" in res.feedback
    curve(spiky)
    res = grade(tmp_path / "partial", train(), params={"partial_credit": 0.25})
    assert res.status == "failed" and res.fraction == pytest.approx(0.25)  # the run is genuine, the curve fails


def test_the_grader_evaluates_the_snapshots_itself(tmp_path):
    """No synthetic curve: 7 steps of a lr 0.01 procedure do not learn, whatever the notebook plotted."""
    res = grade(tmp_path, train(), params={"plot": True})
    assert res.status == "failed" and "FAIL still learns: final accuracy >= 0.6" in res.feedback
    curve_ev = res.evidence["curve"]
    assert len(curve_ev["loss"]) == 4 and all(np.isfinite(curve_ev["loss"]))
    png = base64.b64decode(res.evidence["artifacts"][f"{ITEM_ID}.loss_curve.png"])
    assert png.startswith(b"\x89PNG")


def test_no_optimizer_step_and_no_model(tmp_path, curve):
    curve(smooth)
    res = grade(tmp_path, lambda ns: ns.update(model=SimpleLSTM(8, 12, 4)))
    assert res.status == "failed" and "no optimizer step on a SimpleLSTM was observed" in res.feedback
    res = grade(tmp_path / "b", train(), lambda ns: ns.pop("model"))
    assert res.status == "failed" and "there is no global `model` at the end of the notebook" in res.feedback


def test_missing_or_forged_exports_say_why(tmp_path, curve):
    curve(smooth)
    res = grade(tmp_path, train(), run_edit=lambda r: replace(r, instrumentation=r.instrumentation[:1]))
    assert res.status == "failed" and "the grader's epilogue did not run in the kernel" in res.feedback
    key = KIND.instrument(item("loss_curve", None, PARAMS, id=ITEM_ID)).key

    def old_format(run):
        meta = json.loads((run.exports_dir / f"{key}.json").read_text())
        (run.exports_dir / f"{key}.json").write_text(json.dumps({**meta, "format": 1}))
        return run
    res = grade(tmp_path / "b", train(), run_edit=old_format)
    assert "the export is not in the grader's format" in res.feedback

    def no_arrays(run):
        (run.exports_dir / f"{key}.npz").unlink()
        return run
    res = grade(tmp_path / "c", train(), run_edit=no_arrays)
    assert res.status == "failed" and f"{key}.npz was not written" in res.feedback
    res = grade(tmp_path / "d", train(), run_edit=lambda r: replace(r, status="timeout", executed=False))
    assert res.status == "failed" and "the training curve could not be recorded" in res.feedback


def test_the_params_reach_the_kernel_code():
    spec = item("loss_curve", None, {"model_class": "MyLSTM", "steps_per_snapshot": 5, "max_snapshots": 9}, id=ITEM_ID)
    ins = KIND.instrument(spec)
    assert "__grader_lc_install('MyLSTM', 5, 9, 50)" in ins.prologue
    assert f"__grader_lc_write({ins.key!r}" in ins.epilogue and KIND.needs_target is False
