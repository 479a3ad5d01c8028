"""The reference models honour the notebooks' interfaces (fast checks, no training)."""
import random

import torch

from reference import cnn, echo
from reference import seq_classification as sc


def test_cnn_gives_two_logits_for_both_image_sizes():
    model = cnn.CNN().eval()
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 2)
    assert model(torch.rand(1, 3, 256, 256)).shape == (1, 2)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_get_loss_and_correct_and_step():
    model = cnn.CNN()
    batch = (torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 0, 1]))
    loss, correct = cnn.get_loss_and_correct(model, batch, cnn.make_criterion(), "cpu")
    assert loss.ndim == 0 and isinstance(correct, torch.Tensor) and 0 <= correct.item() <= 4
    before = [p.detach().clone() for p in model.parameters()]
    cnn.step(loss, cnn.make_optimizer(model))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_echo_datasets_delay_the_sequence():
    seq, result = next(iter(echo.EchoDataset(delay=4, seq_length=15, size=1)))
    assert seq.dtype == torch.int64 and seq.shape == (15,)
    assert torch.equal(result[:4], torch.zeros(4, dtype=torch.int64))
    assert torch.equal(result[4:], seq[:11])
    seq, delay, result = next(iter(echo.VariableDelayEchoDataset(max_delay=8, size=1)))
    assert 0 <= delay <= 8 and torch.equal(result[delay:], seq[:20 - delay])


def test_echo_models_interfaces():
    gru = echo.GRUMemory(16)
    assert gru(torch.zeros(2, 15, 27)).shape == (2, 15, 27)
    assert len(gru.test_run("hello")) == 5
    var = echo.VariableDelayGRUMemory(16, 8)
    assert var.max_delay == 8
    assert var(torch.zeros(3, 20, 27), torch.tensor([0, 4, 8])).shape == (3, 20, 27)
    assert len(var.test_run("abcdef", 3)) == 6


def test_test_model_scores_a_perfect_echo_as_one():
    class PerfectEcho:
        max_delay = 8

        def test_run(self, s, delay=echo.DELAY):
            return " " * delay + s[:len(s) - delay]
    random.seed(0)
    assert echo.test_model(PerfectEcho()) == 1.0
    assert echo.test_variable_delay_model(PerfectEcho()) == 1.0


def test_simple_lstm_has_the_labs_1108_parameters():
    model = sc.SimpleLSTM(8, 12, 4)
    assert sum(p.numel() for p in model.parameters()) == 1108
    assert model(torch.zeros(5, 80, 8)).shape == (5, 4)


def test_evaluate_loss_curve_starts_near_ln4_and_is_reproducible():
    torch.manual_seed(1)
    snapshots = [sc.SimpleLSTM(8, 12, 4).state_dict()]
    curve = sc.evaluate_loss_curve(snapshots)
    assert abs(curve["loss"][0] - 1.386) < 0.1
    assert curve == sc.evaluate_loss_curve(snapshots)
    x, y = sc.evaluation_set()
    assert x.shape == (512, 80, 8) and y.shape == (512,)


def test_max_rise_over_running_min():
    assert abs(sc.max_rise_over_running_min([1.4, 1.0, 0.5, 0.9, 0.2]) - 0.4) < 1e-12
    assert abs(sc.max_rise_over_running_min([1.4, 2.0, 1.0], start=1) - 0.6) < 1e-12
    assert sc.max_rise_over_running_min([1.0, 0.9, 0.8]) == 0.0
