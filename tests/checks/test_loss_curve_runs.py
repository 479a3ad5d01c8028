"""Which training run the Section-8 `loss_curve` check grades, without a kernel.

The graded run is every run of SimpleLSTM whose LAST optimizer step produced the live
weights of the global `model` (bit for bit); it must have at least `min_epochs` x
`steps_per_snapshot` steps that changed the weights; weights changed outside optimizer
steps cannot claim the live model, and inside a run they send a passing curve to a TA.

The kernel half (the prologue's hooks, the epilogue's export) runs here in-process: the
prologue's code is exec'd, a few optimizer steps on random data are taken, the epilogue
writes its files into a temporary directory, and the trusted half reads them through the
same untrusted-data door as run(). The curve itself is replaced by a synthetic one where
only the selection and the gates are under test (evaluate_snapshots is monkeypatched).
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.checks import _exports as ex
from grader.checks import kind_loss_curve as lc
from reference.seq_classification import SimpleLSTM

SIZES = [8, 12, 4]
EVERY = 3
P = {"model_class": "SimpleLSTM", "sizes": SIZES, "seed": 1, "steps_per_snapshot": EVERY, "max_snapshots": 1000,
     "min_epochs": 2, "max_step_change": 1.0, "max_rise": 0.2, "ignore_epochs": 1, "learned_margin": 0.1,
     "min_accuracy": 0.6, "partial_credit": 0.0, "plot": False}


@pytest.fixture(autouse=True)
def _smooth_curve(monkeypatch):
    """Any snapshots evaluate to a smooth, learning curve: only selection and gates matter."""
    def fake(snaps, sizes, eval_set=None):
        n = len(snaps)
        return {"loss": list(np.linspace(1.39, 0.1, n)), "accuracy": list(np.linspace(0.25, 0.99, n))}
    monkeypatch.setattr(lc, "evaluate_snapshots", fake)
    monkeypatch.setattr(lc, "_eval_set", lambda: None)


def seeded():
    torch.manual_seed(1)
    return SimpleLSTM(*SIZES)


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(4, 5, SIZES[0], generator=g), torch.randint(0, SIZES[2], (4,), generator=g)


def train(model, steps, opt=None, lr=1e-2):
    opt = opt or torch.optim.SGD(model.parameters(), lr=lr)
    for k in range(steps):
        x, y = batch(k)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return opt


def record(tmp_path, monkeypatch, body):
    """Runs body() between the grader's prologue and epilogue (in this process); body
    returns the global `model`. Returns (meta, arrays) as run() reads them."""
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(lc._PROLOGUE, ns)
    st = ns["__grader_lc_install"]("SimpleLSTM", EVERY, 1000, lc.MAX_RUNS)
    try:
        glob = body()
    finally:
        for h in st["handles"]:
            h.remove()
    exec(lc._EPILOGUE, ns)
    ns["__grader_lc_write"]("k", st, lc.MAX_EXPORTED_RUNS, glob)
    d = Path(tmp_path) / "__grader_exports__"
    meta, arrays = ex.read_json(d / "k.json"), ex.read_npz(d / "k.npz", 64 << 20)
    assert isinstance(meta, dict) and isinstance(arrays, dict), (meta, arrays)
    return meta, arrays


def graded(meta, arrays):
    g, seen, why = lc.select_runs(meta, arrays)
    return [r["index"] for r, _ in g], {s["run"]: s for s in seen}, why


# ---- the kernel half: what the hooks record ------------------------------------------------

def test_honest_run_is_graded_and_passes(tmp_path, monkeypatch):
    def body():
        easy = SimpleLSTM(8, 4, 4)  # the lab's EASY demo trains another SimpleLSTM first
        train(easy, 2)
        model = seeded()
        train(model, 7)  # 7 is not a multiple of EVERY: the last post-step weights are appended
        return model
    meta, arrays = record(tmp_path, monkeypatch, body)
    ids, seen, _ = graded(meta, arrays)
    assert ids == [1] and not seen[0]["graded"] and seen[0]["hidden_size"] == 4
    r1 = next(r for r in meta["runs"] if r["index"] == 1)
    assert (r1["steps"], r1["effective"], r1["edits"]) == (7, 7, 0) and 0 < r1["max_step_change"] < 1
    assert list(arrays["r1_at"]) == [0, 3, 6, 7]
    res = lc.judge_export(meta, arrays, P)
    assert res.status == "passed", res.feedback
    assert "Graded: run #1" in res.feedback and "run #0 (hidden size 4" in res.feedback
    assert res.evidence["graded_runs"] == [1] and res.evidence["effective_steps"] == 7


def test_a_decoy_started_last_is_not_graded(tmp_path, monkeypatch):
    def body():
        model = seeded()
        init = copy.deepcopy(model.state_dict())
        train(model, 7)
        decoy = SimpleLSTM(*SIZES)
        decoy.load_state_dict(init)
        decoy(batch()[0])
        jump = torch.optim.SGD(decoy.parameters(), lr=1.0)
        for p, q in zip(decoy.parameters(), model.parameters()):
            p.grad = (p - q).detach() * 0.5  # halfway: a smooth two-point curve
        jump.step()
        return model
    meta, arrays = record(tmp_path, monkeypatch, body)
    ids, seen, _ = graded(meta, arrays)
    assert ids == [0]
    assert not seen[1]["graded"] and "does not end in the live `model`" in seen[1]["why"]


def test_weights_loaded_after_the_last_step_cannot_claim_the_live_model(tmp_path, monkeypatch):
    def body():
        model = seeded()
        other = copy.deepcopy(model)
        train(other, 4, lr=0.5)
        train(model, 7)
        model.load_state_dict(other.state_dict())
        return model
    meta, arrays = record(tmp_path, monkeypatch, body)
    ids, seen, _ = graded(meta, arrays)
    assert ids == [0]  # the run that produced the loaded weights
    assert seen[1]["is_live_object"] and "changed after this run's last optimizer step" in seen[1]["why"]
    res = lc.judge_export(meta, arrays, P)
    assert res.status == "failed" and "FAIL at least 2 epochs" in res.feedback  # its 4 steps < 2 x 3


def test_an_in_place_edit_after_training_leaves_no_graded_run(tmp_path, monkeypatch):
    def body():
        model = seeded()
        train(model, 7)
        with torch.no_grad():
            model.linear.bias.add_(0.01)
        return model
    meta, arrays = record(tmp_path, monkeypatch, body)
    ids, _, why = graded(meta, arrays)
    assert ids == [] and "changed after that run's last optimizer step" in why
    res = lc.judge_export(meta, arrays, P)
    assert res.status == "failed" and res.fraction == 0
    assert res.feedback.startswith("FAIL the last snapshot is the trained `model`")
    assert res.evidence["graded_run"] is None


def test_training_a_copy_and_loading_it_is_graded_as_the_copy(tmp_path, monkeypatch):
    def body():
        model = seeded()
        work = copy.deepcopy(model)
        train(work, 7)
        model.load_state_dict(work.state_dict())
        return model
    meta, arrays = record(tmp_path, monkeypatch, body)
    ids, seen, _ = graded(meta, arrays)
    assert ids == [0] and not seen[0]["is_live_object"]
    assert lc.judge_export(meta, arrays, P).status == "passed"


def test_no_global_model_or_a_model_never_stepped(tmp_path, monkeypatch):
    def gone():
        train(seeded(), 7)
        return None
    meta, arrays = record(tmp_path, monkeypatch, gone)
    ids, _, why = graded(meta, arrays)
    assert ids == [] and "no global `model`" in why

    def body():
        work = seeded()
        train(work, 7)
        model = SimpleLSTM(*SIZES)
        with torch.no_grad():
            for p, q in zip(model.parameters(), work.parameters()):
                p.copy_(q)
        return model
    meta, arrays = record(tmp_path, monkeypatch, body)
    ids, _, why = graded(meta, arrays)
    assert ids == [0]  # copy_ reproduces the bits: the run that produced them is graded

    def body2():
        model = seeded()
        train(model, 7)
        m2 = SimpleLSTM(*SIZES)
        m2.load_state_dict({k: v * 1.0001 for k, v in model.state_dict().items()})
        return m2
    meta, arrays = record(tmp_path, monkeypatch, body2)
    ids, _, why = graded(meta, arrays)
    assert ids == [] and "no optimizer step produced the weights of the global `model`" in why


def test_rollback_between_steps_and_lr0_padding_are_counted(tmp_path, monkeypatch):
    def body():
        model = seeded()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        settle = torch.optim.SGD(model.parameters(), lr=0.0)
        best = copy.deepcopy(model.state_dict())
        for epoch in range(3):
            train(model, 2, opt)
            if epoch == 1:
                model.load_state_dict(best)  # the rollback, before the epoch's last step
            best = copy.deepcopy(model.state_dict())
            settle.step()  # an lr = 0 step: changes nothing
        return model
    meta, arrays = record(tmp_path, monkeypatch, body)
    r = meta["runs"][0]
    assert (r["steps"], r["effective"], r["edits"], r["first_edit"]) == (9, 6, 1, 6)
    assert [o["type"] for o in r["optimizers"]] == ["Adam", "SGD"]
    res = lc.judge_export(meta, arrays, P)  # 6 changing steps = 2 epochs of 3: long enough
    assert res.status == "pending" and res.fraction == 0, res.feedback
    assert res.feedback.startswith("needs a TA: the weights were changed outside an optimizer step 1 time(s), first before step 6")
    res = lc.judge_export(meta, arrays, dict(P, min_epochs=3))
    assert res.status == "failed" and "FAIL at least 3 epochs" in res.feedback and "also: the weights were changed" in res.feedback


def test_one_optimizer_over_two_models_records_both(tmp_path, monkeypatch):
    def body():
        model, other = seeded(), SimpleLSTM(*SIZES)
        model(batch()[0]), other(batch()[0])
        opt = torch.optim.SGD(list(model.parameters()) + list(other.parameters()), lr=1e-2)
        for k in range(6):
            x, y = batch(k)
            opt.zero_grad()
            (torch.nn.functional.cross_entropy(model(x), y) + torch.nn.functional.cross_entropy(other(x), y)).backward()
            opt.step()
        return model
    meta, arrays = record(tmp_path, monkeypatch, body)
    assert [r["steps"] for r in meta["runs"]] == [6, 6]
    ids, _, _ = graded(meta, arrays)
    assert ids == [0]


def test_every_run_ending_in_the_live_model_is_graded(tmp_path, monkeypatch):
    def body():
        a, b = seeded(), seeded()
        train(a, 7)
        train(b, 7)  # the same deterministic steps: the same bits
        return b
    meta, arrays = record(tmp_path, monkeypatch, body)
    ids, _, _ = graded(meta, arrays)
    assert sorted(ids) == [0, 1]
    res = lc.judge_export(meta, arrays, P)
    assert res.status == "passed" and "Graded: runs #0, #1" in res.feedback and "each must pass" in res.feedback


def test_a_large_single_step_goes_to_a_ta(tmp_path, monkeypatch):
    def body():
        model = seeded()
        jump = torch.optim.SGD(model.parameters(), lr=1.0)
        model(batch()[0])
        for p in model.parameters():
            p.grad = torch.full_like(p, -2.0)  # every weight moves by 2 in one step
        jump.step()
        for p in model.parameters():
            p.grad = torch.full_like(p, 1e-4)
        for _ in range(6):
            jump.step()
        return model
    meta, arrays = record(tmp_path, monkeypatch, body)
    assert meta["runs"][0]["max_step_change"] == pytest.approx(2.0)
    res = lc.judge_export(meta, arrays, P)
    assert res.status == "pending" and "moved a weight by 2" in res.feedback
    assert lc.judge_export(meta, arrays, dict(P, max_step_change=None)).status == "passed"


# ---- the trusted half: exports are re-checked, not believed ----------------------------------

def _honest(tmp_path, monkeypatch):
    def body():
        model = seeded()
        train(model, 7)
        return model
    return record(tmp_path, monkeypatch, body)


def test_a_claimed_end_in_the_live_model_is_checked_bit_for_bit(tmp_path, monkeypatch):
    meta, arrays = _honest(tmp_path, monkeypatch)
    arrays = dict(arrays)
    arrays["live0"] = arrays["live0"].copy()
    arrays["live0"].flat[0] = np.nextafter(arrays["live0"].flat[0], np.float32(9))  # one ulp
    assert meta["runs"][0]["ends_in_live"] is True  # what the kernel said
    ids, _, why = graded(meta, arrays)
    assert ids == [] and "changed after that run's last optimizer step" in why
    # a different dtype with the same values is not the same bits either
    meta, arrays = _honest(tmp_path, monkeypatch)
    arrays = {k: (v.astype(np.float64) if k.startswith("live") else v) for k, v in arrays.items()}
    assert graded(meta, arrays)[0] == []


def test_a_last_snapshot_other_than_the_last_post_step_weights_is_refused(tmp_path, monkeypatch):
    meta, arrays = _honest(tmp_path, monkeypatch)
    arrays = dict(arrays)
    s = arrays["r0_s0"].copy()
    s[-1] += 1.0
    arrays["r0_s0"] = s
    ids, seen, _ = graded(meta, arrays)
    assert ids == [] and "its last snapshot is not its last post-step weights" in seen[0]["why"]


def test_too_few_changing_steps_fail_the_epochs_gate(tmp_path, monkeypatch):
    meta, arrays = _honest(tmp_path, monkeypatch)
    res = lc.judge_export(meta, arrays, dict(P, min_epochs=3))  # 7 < 3 x 3
    assert res.status == "failed" and res.fraction == 0
    assert "FAIL at least 3 epochs: 9 optimizer steps that changed the weights: 7 of 7 steps changed the weights" in res.feedback
    res = lc.judge_export(meta, arrays, dict(P, min_epochs=0))
    assert res.status == "passed" and not any(p["name"].startswith("at least") for p in res.evidence["parts"])


def test_a_failing_and_a_passing_graded_run_fail_together(tmp_path, monkeypatch):
    meta, arrays = _honest(tmp_path, monkeypatch)
    meta = copy.deepcopy(meta)
    twin = dict(meta["runs"][0], index=1, effective=1, is_live_object=False)
    meta["runs"].append(twin)
    arrays = dict(arrays)
    for k in [k for k in arrays if k.startswith("r0_")]:
        arrays["r1_" + k[3:]] = arrays[k]
    res = lc.judge_export(meta, arrays, P)
    assert res.evidence["graded_runs"] == [0, 1]
    assert res.status == "failed" and res.evidence["graded_run"] == 1, res.feedback
    assert res.evidence["other_graded_runs"][0]["status"] == "passed"


def test_an_error_of_the_grader_s_own_hooks_goes_to_a_ta(tmp_path, monkeypatch):
    meta, arrays = _honest(tmp_path, monkeypatch)
    meta = dict(meta, error="RuntimeError: boom")
    res = lc.judge_export(meta, arrays, P)
    assert res.status == "pending" and res.feedback.startswith("needs a TA: the grader's hooks reported an error")
    arrays = {k: v for k, v in arrays.items() if not k.startswith("live")}
    res = lc.judge_export(meta, arrays, P)
    assert res.status == "pending" and "FAIL the last snapshot is the trained `model`" in res.feedback
    assert "weights of the global `model` are missing" in res.feedback


def test_a_global_model_of_another_class(tmp_path, monkeypatch):
    def body():
        train(seeded(), 7)
        return torch.nn.Linear(2, 2)
    meta, arrays = record(tmp_path, monkeypatch, body)
    ids, _, why = graded(meta, arrays)
    assert ids == [] and why == "the global `model` at the end is a Linear, not a SimpleLSTM"


def test_a_global_model_that_is_not_section8_s_says_so(tmp_path, monkeypatch):
    def body():
        model = SimpleLSTM(8, 4, 4)  # the EASY demo's model stays the global `model`
        train(model, 4)
        model8 = seeded()
        train(model8, 7)
        return model
    meta, arrays = record(tmp_path, monkeypatch, body)
    res = lc.judge_export(meta, arrays, P)
    assert res.status == "failed" and "your hidden size is 4, expected 12" in res.feedback
    assert "run #1 has the required sizes but is not the global `model`" in res.feedback
