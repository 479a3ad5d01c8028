"""Section 8: the reference fix is spike-free and learns; the original procedure spikes.

Both are judged the way the grader judges students: per-epoch weight snapshots
evaluated with SimpleLSTM on the fixed evaluation set, never the recorded losses.
"""
import math

import matplotlib
import pytest

matplotlib.use("Agg")

from reference import seq_classification as sc  # noqa: E402


@pytest.mark.slow
def test_reference_fix_is_smooth_and_learns():
    _, snapshots = sc.train_section8_fixed()
    assert len(snapshots) == 101
    curve = sc.evaluate_loss_curve(snapshots)
    assert all(math.isfinite(v) for v in curve["loss"])
    assert sc.max_rise_over_running_min(curve["loss"], start=1) < 0.2
    assert curve["accuracy"][-1] > 0.95


@pytest.mark.slow
def test_original_procedure_spikes_over_the_rubrics_limit():
    """Single-threaded, as in the grader's kernel (the suite's processes run one thread,
    tests/conftest.py): measured on a 2-core AMD EPYC, the loss first climbs 0.375 over its
    running minimum at epoch 20 (0.46 at epoch 57), against the rubric's max_rise of 0.2. With
    two threads the same seeded run went back above the initial loss (a rise over 1.0): the
    float order changes the trajectory, not the verdict. The training stops at the first
    epoch that rises over 0.3 (a fifth of the 100 epochs here); all 100 if none does."""
    eval_set = sc.evaluation_set()
    losses = []

    def spiked(snapshots):
        losses.extend(sc.evaluate_loss_curve(snapshots[len(losses):], eval_set=eval_set)["loss"])
        return sc.max_rise_over_running_min(losses, start=1) > 0.3

    _, snapshots = sc.train_section8_original(stop=spiked)
    assert len(snapshots) < 101, f"no epoch of 100 rose 0.3 over its running minimum: {losses}"
    curve = sc.evaluate_loss_curve(snapshots)
    assert curve["loss"] == losses and sc.max_rise_over_running_min(curve["loss"], start=1) > 0.3


@pytest.mark.slow
def test_the_original_procedure_stops_where_asked():
    """A stop that holds at once ends the training after its first epoch."""
    _, snapshots = sc.train_section8_original(stop=lambda snaps: len(snaps) == 2)
    assert len(snapshots) == 2
