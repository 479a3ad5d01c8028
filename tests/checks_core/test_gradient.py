"""autograd_expected and diagnose: the expected derivatives come from autograd on a forward."""
import numpy as np
import torch

from grader.checks.kind_gradient import autograd_expected, diagnose


def lin(x, W):
    return W @ x


def test_jacobian_and_vjp_of_a_linear_map():
    x = torch.randn(3, dtype=torch.float64)
    W = torch.randn(2, 3, dtype=torch.float64)
    J = autograd_expected(lin, [x, W], "jacobian", 1, None)
    assert J.shape == (2, 2, 3)
    assert np.allclose(J[1, 1], x.numpy()) and np.allclose(J[0, 1], 0)
    up = torch.randn(2, dtype=torch.float64)
    g = autograd_expected(lin, [x, W, up], "vjp", 1, 2)
    assert np.allclose(g, np.outer(up.numpy(), x.numpy()))


def test_dict_weights_vjp():
    def f(x, w):
        return torch.tanh(w["a"] * x) * w["b"]

    x = torch.randn(4, dtype=torch.float64)
    up = torch.randn(4, dtype=torch.float64)
    g = autograd_expected(f, [x, {"a": 0.3, "b": -1.2}, up], "vjp", 1, 2)
    a = 0.3
    want_b = float((up * torch.tanh(a * x)).sum())
    assert set(g) == {"a", "b"} and np.isclose(g["b"], want_b)


def test_diagnose_names_common_slips():
    w = np.arange(1.0, 7.0).reshape(2, 3)
    assert diagnose(-w, w) == "the sign is flipped"
    assert diagnose(w.T.copy(), w) == "the result is transposed"
    assert "constant factor 2" in diagnose(2 * w, w)
    assert diagnose(np.zeros_like(w), w) == "every value is 0"  # not "off by a constant factor 0" (red team, session 16)
    assert diagnose(w + np.random.default_rng(0).normal(size=w.shape), w) == ""
