"""The CNN theory answers against PyTorch (autograd, nn.Conv2d) in float64."""
import pytest
import torch

from reference import cnn_theory as ct

CASES = [(1, 1, 5, 3, 2), (2, 1, 7, 5, 2), (3, 2, 9, 3, 1), (2, 3, 12, 4, 3), (1, 2, 6, 6, 1)]


def _inputs(C, F, L, K, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(C, L, dtype=torch.float64, generator=g)
    W = torch.randn(F, C, K, dtype=torch.float64, generator=g)
    return x, W


@pytest.mark.parametrize("C,F,L,K,stride", CASES)
def test_conv1d_forward_matches_torch(C, F, L, K, stride):
    x, W = _inputs(C, F, L, K, 0)
    expected = torch.nn.functional.conv1d(x[None], W, stride=stride)[0]
    torch.testing.assert_close(ct.conv1d_forward(x, W, stride), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("C,F,L,K,stride", CASES)
def test_conv1d_jacobians_match_autograd(C, F, L, K, stride):
    x, W = _inputs(C, F, L, K, 1)
    jac_W = torch.autograd.functional.jacobian(lambda w: ct.conv1d_forward(x, w, stride), W)
    jac_x = torch.autograd.functional.jacobian(lambda v: ct.conv1d_forward(v, W, stride), x)
    dfdW, dfdx = ct.conv1d_dfdW(x, W, stride), ct.conv1d_dfdx(x, W, stride)
    assert dfdW.shape == jac_W.shape and dfdx.shape == jac_x.shape
    assert torch.max(torch.abs(dfdW - jac_W)) < 1e-10
    assert torch.max(torch.abs(dfdx - jac_x)) < 1e-10


@pytest.mark.parametrize("C,F,L,K,stride", CASES)
def test_conv1d_dldW_matches_autograd(C, F, L, K, stride):
    x, W = _inputs(C, F, L, K, 2)
    W.requires_grad_(True)
    f = torch.nn.functional.conv1d(x[None], W, stride=stride)[0]
    dl_df = torch.randn_like(f)
    f.backward(dl_df)
    got = ct.conv1d_dldW(x, W.detach(), stride, dl_df)
    assert got.shape == W.shape
    assert torch.max(torch.abs(got - W.grad)) < 1e-10


def test_dtype_is_kept_and_numpy_is_accepted():
    x, W = _inputs(2, 1, 7, 5, 3)
    assert ct.conv1d_forward(x.float(), W.float(), 2).dtype == torch.float32
    assert ct.conv1d_dldW(x.float(), W.float(), 2, torch.ones(1, 2)).dtype == torch.float32
    from_numpy = ct.conv1d_dfdx(x.numpy(), W.numpy(), 2)
    torch.testing.assert_close(from_numpy, ct.conv1d_dfdx(x, W, 2))


def test_conv_output_shape_on_the_assignments_examples():
    assert ct.conv_output_shape(1, 10, 11, 3, 0, 2, 1, 1) == (1, 4, 5)
    assert ct.conv_output_shape(1, 10, 11, 5, 0, 2, 1, 1) == (1, 3, 4)
    assert all(type(v) is int for v in ct.conv_output_shape(3, 10, 11, 3, 0, 2, 1, 8))


@pytest.mark.parametrize("C,H,W,K,P,S,D,F", [
    (3, 10, 11, 3, 0, 2, 1, 4), (2, 17, 9, 3, 1, 1, 2, 5), (1, 32, 31, 5, 2, 3, 1, 2),
    (4, 8, 8, 2, 0, 2, 3, 1), (3, 224, 224, 7, 3, 2, 1, 64), (1, 13, 20, 4, 1, 2, 2, 3),
])
def test_conv_output_shape_matches_conv2d(C, H, W, K, P, S, D, F):
    conv = torch.nn.Conv2d(C, F, K, stride=S, padding=P, dilation=D)
    with torch.no_grad():
        expected = tuple(conv(torch.zeros(1, C, H, W)).shape[1:])
    assert ct.conv_output_shape(C, H, W, K, P, S, D, F) == expected


def test_conv_net_param_count_matches_the_network_built_in_torch():
    def conv(c_in, c_out):
        return torch.nn.Conv2d(c_in, c_out, 3, padding=1, device="meta")
    net = torch.nn.Sequential(
        conv(3, 64), torch.nn.MaxPool2d(2), conv(64, 128), torch.nn.MaxPool2d(2),
        conv(128, 256), conv(256, 256), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(28 * 28 * 256, 1024, device="meta"),
        torch.nn.Linear(1024, 1000, device="meta"))
    out = net(torch.zeros(1, 3, 224, 224, device="meta"))
    assert out.shape == (1, 1000)  # the flattened size really is 28*28*256
    assert ct.conv_net_param_count() == sum(p.numel() for p in net.parameters())
    assert isinstance(ct.conv_net_param_count(), int)
