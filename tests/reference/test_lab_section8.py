"""Section 8 of the ORIGINAL lab notebook, on the lab-faithful res/ (reference/lab/res),
judged by the grader's own loss-curve judge.

The training below behaves like the lab notebook's cells (its SimpleLSTM returns an
output per time step and the loops keep the last one; every epoch runs the train pass
then the test pass, which draw alternately from numpy's global stream seeded by the two
get_predefined_generator calls). The weights are snapshotted after every epoch (= 31
optimizer steps, what the grader's hooks record) and handed to
grader.checks.kind_loss_curve.judge_export with rubrics/hw2-original's section8 parameters.

Measured (2026-12-01, CPU, one thread): the unmodified procedure (RMSprop lr=1e-3) learns
(loss 1.403 -> 0.06), comes back above the initial loss at epoch 21 (1.64) and rises up
to 1.67 over its running minimum (epoch 92); the fix shipped in the original samples
(Adam lr=5e-4, gradient norm clipped to 0.05) rises at most 0.07 and ends at 99.8 %.
The same numbers come out of the notebook scripts/build_original_samples.py:seq_nb() writes
when it runs in a kernel with the grader's hooks. About 20 s per training on one core.
"""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from grader.checks.kind_loss_curve import LossCurve, judge_export

ROOT = Path(__file__).resolve().parents[2]

_SPEC = importlib.util.spec_from_file_location(
    "_lab_res_sequential_tasks_s8", ROOT / "reference" / "lab" / "res" / "sequential_tasks.py")
_ST = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_ST)
QRSU = _ST.TemporalOrderExp6aSequence  # the lab-faithful generator


def _rubric_params():
    """The section8 item's parameters in rubrics/hw2-original, with the kind's defaults."""
    raw = yaml.safe_load((ROOT / "rubrics" / "hw2-original" / "08-seq_classification.yaml").read_text())
    item = next(i for i in raw["items"] if i["kind"] == "loss_curve")
    return LossCurve.Params.of(item.get("params") or {}).model_copy(update={"plot": False})


PARAMS = _rubric_params()


class SimpleLSTM(torch.nn.Module):
    """The lab notebook's model: the linear layer is applied at every time step."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.lstm = torch.nn.LSTM(input_size, hidden_size, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, output_size)

    def forward(self, x):
        return self.linear(self.lstm(x)[0])


def train(model, train_data_gen, criterion, optimizer, clip=None):
    model.train()
    num_correct = 0
    for batch_idx in range(len(train_data_gen)):
        data, target = train_data_gen[batch_idx]
        data, target = torch.from_numpy(data).float(), torch.from_numpy(target).long()
        output = model(data)[:, -1, :]  # input is pre-padded: the last step is the answer
        target = target.argmax(dim=1)
        loss = criterion(output, target)
        optimizer.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        num_correct += (output.argmax(dim=1) == target).sum().item()
    return num_correct, loss.item()


def evaluate_epoch(model, test_data_gen, criterion):  # the notebook's test()
    model.eval()
    num_correct = 0
    with torch.no_grad():
        for batch_idx in range(len(test_data_gen)):
            data, target = test_data_gen[batch_idx]
            output = model(torch.from_numpy(data).float())[:, -1, :]
            target = torch.from_numpy(target).long().argmax(dim=1)
            loss = criterion(output, target)
            num_correct += (output.argmax(dim=1) == target).sum().item()
    return num_correct, loss.item()


def section8(make_optimizer, clip=None, max_epochs=100):
    """Section 8's cell with the given optimizer; returns (snapshots, last test accuracy)."""
    torch.manual_seed(1)
    difficulty = QRSU.DifficultyLevel.MODERATE
    train_data_gen = QRSU.get_predefined_generator(difficulty, 32)
    test_data_gen = QRSU.get_predefined_generator(difficulty, 32)
    model = SimpleLSTM(train_data_gen.n_symbols, 12, train_data_gen.n_classes)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = make_optimizer(model.parameters())
    names = list(model.state_dict())
    snaps = [[v.detach().clone().numpy() for v in model.state_dict().values()]]
    accuracy = None
    for _ in range(max_epochs):
        train(model, train_data_gen, criterion, optimizer, clip)
        snaps.append([v.detach().clone().numpy() for v in model.state_dict().values()])
        num_correct, _ = evaluate_epoch(model, test_data_gen, criterion)
        accuracy = num_correct / (len(test_data_gen) * test_data_gen.batch_size)
    final = dict(zip(names, snaps[-1]))
    return names, snaps, final, accuracy


def judge(names, snaps, final):
    """The grader's verdict, from data shaped like its notebook epilogue's export."""
    n = len(snaps)
    meta = {"format": 1, "found": True, "names": names, "steps": 31 * (n - 1), "at": [31 * i for i in range(n)],
            "n_snapshots": n, "model_global_is_graded_run": True, "model_global_class": "SimpleLSTM",
            "every": 31, "runs": [{"steps": 31 * (n - 1), "snapshots": n, "hidden_size": 12, "optimizers": []}]}
    arrays = {f"s{i}": np.stack([s[i] for s in snaps]) for i in range(len(names))}
    arrays.update({f"final{i}": final[k] for i, k in enumerate(names)})
    return judge_export(meta, arrays, dict(PARAMS))


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the grader's kernels run with one thread
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_unmodified_section8_spikes_back_above_the_initial_loss():
    names, snaps, final, _ = section8(lambda ps: torch.optim.RMSprop(ps, lr=0.001))
    res = judge(names, snaps, final)
    assert res.status == "failed", res.feedback
    curve = res.evidence["curve"]["loss"]
    initial, peak = curve[0], max(curve[1:])
    print(f"unmodified: initial {initial:.3f}, min {min(curve):.3f}, peak {peak:.3f}, "
          f"max rise {res.evidence['max_rise']:.3f}, final accuracy {res.evidence['final_accuracy']:.3f}")
    # the right reasons: same seed and model (gates pass), it learned and still ends above
    # 95 %, but it spiked, even back above the initial (chance-level) loss
    failed = {p["name"].split(":")[0] for p in res.evidence["parts"] if not p["ok"]}
    assert failed == {"no spike", "never back above the initial loss once learned"}, res.feedback
    assert min(curve) < 0.2 and peak > initial > math.log(4) - 0.05
    assert res.evidence["max_rise"] > 1.0


@pytest.mark.slow
def test_adam_with_tiny_clipping_is_smooth_and_passes():
    names, snaps, final, test_accuracy = section8(lambda ps: torch.optim.Adam(ps, lr=5e-4), clip=0.05)
    res = judge(names, snaps, final)
    curve = res.evidence["curve"]["loss"]
    print(f"fix: initial {curve[0]:.3f}, min {min(curve):.3f}, peak after epoch 1 {max(curve[2:]):.3f}, "
          f"max rise {res.evidence['max_rise']:.3f}, final accuracy {res.evidence['final_accuracy']:.3f}, "
          f"notebook test accuracy {test_accuracy:.3f}")
    assert res.status == "passed", res.feedback
    # 7 parts: seed, last snapshot = live model, at least 100 epochs (the rubric's min_epochs), and the curve's 4
    assert all(p["ok"] for p in res.evidence["parts"]) and len(res.evidence["parts"]) == 7
    # with a margin under the rubric's limits, not at them (measured: max rise 0.108 against
    # the rubric's 0.2, accuracy 0.977; the figures move a little with numpy/torch builds)
    assert res.evidence["max_rise"] < 0.6 * PARAMS.max_rise and res.evidence["final_accuracy"] > 0.95
    assert test_accuracy > 0.95
