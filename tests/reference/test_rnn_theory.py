"""The RNN theory answers: hand-written BPTT against autograd, the binary adder
exhaustively."""
import pytest
import torch

from reference import rnn_theory as rt


@pytest.mark.parametrize("K,n,m,seed", [(1, 1, 1, 0), (3, 2, 4, 1), (6, 5, 3, 2), (10, 3, 7, 3)])
def test_gated_rnn_dl_dWx_matches_autograd(K, n, m, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(K, n, dtype=torch.float64, generator=g)
    Wc = torch.randn(m, n, dtype=torch.float64, generator=g)
    Wh = torch.randn(m, m, dtype=torch.float64, generator=g)
    Wx = torch.randn(m, n, dtype=torch.float64, generator=g, requires_grad=True)
    dl_dh = torch.randn(K, m, dtype=torch.float64, generator=g)
    h = rt.gated_rnn_forward(x, Wc, Wh, Wx)
    assert h.shape == (K, m)
    (h * dl_dh).sum().backward()
    got = rt.gated_rnn_dl_dWx(x, Wc, Wh, Wx.detach(), dl_dh)
    assert got.shape == (m, n)
    assert torch.max(torch.abs(got - Wx.grad)) < 1e-10


# The differentiable forward the grader's gradient check uses; here it checks lstm_bptt.
from reference.rnn_theory import lstm_forward_autograd as _lstm_torch  # noqa: E402


@pytest.mark.parametrize("T,seed", [(1, 0), (2, 1), (5, 2), (12, 3)])
def test_lstm_bptt_matches_autograd(T, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, dtype=torch.float64, generator=g)
    dl_dh = torch.randn(T, dtype=torch.float64, generator=g)
    w = {k: torch.randn((), dtype=torch.float64, generator=g).requires_grad_(True)
         for k in rt.LSTM_KEYS}
    h = _lstm_torch(x, w)
    torch.testing.assert_close(rt.lstm_forward(x, w), h.detach(), rtol=0, atol=1e-12)
    (h * dl_dh).sum().backward()
    grads = rt.lstm_bptt(x, {k: v.item() for k, v in w.items()}, dl_dh)
    assert set(grads) == set(rt.LSTM_KEYS)
    for k in rt.LSTM_KEYS:
        assert abs(float(grads[k]) - w[k].grad.item()) < 1e-10, k


def _bits(value, width):
    return [(value >> i) & 1 for i in range(width)]


def test_binary_adder_adds_every_pair_of_8_bit_numbers():
    import numpy as np
    w = {k: np.asarray(v, dtype=float) for k, v in rt.binary_addition_rnn().items()}
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    a, b = a.ravel(), b.ravel()
    # All 65536 pairs at once, with the same semantics as simulate_binary_rnn.
    h = np.zeros((a.size, 3))
    total = np.zeros(a.size, dtype=int)
    for t in range(9):
        x = np.stack([(a >> t) & 1, (b >> t) & 1], axis=1).astype(float)
        h = (x @ w["Wxh"].T + h @ w["Whh"].T + w["bh"] > 0).astype(float)
        y = (h @ w["Why"].T).ravel() + w["by"] > 0
        total += y.astype(int) << t
    assert np.array_equal(total, a + b)
    # And the scalar simulator agrees on a sample of them.
    for a_, b_ in [(0, 0), (255, 255), (170, 85), (1, 255), (200, 56)]:
        assert rt.simulate_binary_rnn(rt.binary_addition_rnn(), _bits(a_, 9), _bits(b_, 9)) \
            == _bits(a_ + b_, 9)


def test_binary_adder_on_the_statements_example():
    # 0101101 + 0111010 = 1100111, LSB first.
    a, b = [1, 0, 1, 1, 0, 1, 0], [0, 1, 0, 1, 1, 1, 0]
    assert rt.simulate_binary_rnn(rt.binary_addition_rnn(), a, b) == [1, 1, 1, 0, 0, 1, 1]


def test_binary_adder_weights_have_the_documented_shapes():
    import numpy as np
    w = rt.binary_addition_rnn()
    assert np.shape(w["Wxh"]) == (3, 2) and np.shape(w["Whh"]) == (3, 3)
    assert np.shape(w["Why"]) == (1, 3) and np.shape(w["bh"]) == (3,)
    assert np.ndim(w["by"]) == 0


def test_a_missing_carry_is_caught_by_the_simulation():
    w = rt.binary_addition_rnn()
    w["Whh"] = [[0.0] * 3] * 3
    assert rt.simulate_binary_rnn(w, [1, 0], [1, 0]) != [0, 1]


def test_lstm_forward_autograd_agrees_with_lstm_forward():
    from reference.rnn_theory import LSTM_KEYS, lstm_forward, lstm_forward_autograd

    g = torch.Generator().manual_seed(3)
    x = torch.randn(9, dtype=torch.float64, generator=g)
    w = {k: float(v) for k, v in zip(LSTM_KEYS, torch.randn(8, dtype=torch.float64, generator=g))}
    assert torch.allclose(lstm_forward_autograd(x, w), lstm_forward(x, w), atol=1e-12)
