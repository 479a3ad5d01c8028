"""`hand_derived` gradient items: the judges of autograd and finite differences
(grader/checks/_integrity.py), and exact answers not quoted in feedback. No kernels."""
import numpy as np
import pytest
import torch

from grader.checks import _integrity as integ
from grader.checks.compare import compare_values
from grader.checks.kind_gradient import autograd_expected
from reference import cnn_theory as C
from reference import rnn_theory as R

HAND = '''
import torch

def as_float_tensor(a, like=None):
    return torch.as_tensor(a, dtype=like.dtype if like is not None else torch.float64)

def conv1d_forward(x, W, stride):
    return torch.einsum("ick,cjk->ij", W, x.unfold(1, W.shape[2], stride))

def conv1d_dldW(x, W, stride, dl_df):
    J = dl_df  # a local named like the test code below: not that code
    return torch.einsum("ij,cjk->ick", J, x.unfold(1, W.shape[2], stride))

x = torch.randn(2, 7, dtype=torch.float64)
W = torch.randn(1, 2, 5, dtype=torch.float64, requires_grad=True)
J = torch.autograd.functional.jacobian(lambda w: conv1d_forward(x, w, 2), W.detach())
'''


def test_static_scan_follows_what_the_target_runs_not_the_notebooks_test_code():
    assert integ.autograd_signals(HAND, "conv1d_dldW") == []
    assert integ.autograd_signals(HAND)  # the module as a whole does use autograd


@pytest.mark.parametrize("body,what", [
    ("W = W.clone().requires_grad_(True)\n    (conv1d_forward(x, W, s) * g).sum().backward()\n    return W.grad", ".backward()"),
    ("return torch.autograd.grad((conv1d_forward(x, W, s) * g).sum(), W)[0]", "torch.autograd"),
    ("return jacobian(lambda w: conv1d_forward(x, w, s), W)", "torch.autograd.functional"),
    ("return helper(x, W, s, g)", "reads w.grad"),
    ("from torch.func import grad as gr\n    return gr(lambda w: (conv1d_forward(x, w, s) * g).sum())(W)", "torch.func"),
])
def test_static_scan_finds_autograd_in_the_target_and_its_helpers(body, what):
    src = ("import torch\nfrom torch.autograd.functional import jacobian\n"
           "def helper(x, W, s, g):\n    w = W.detach().requires_grad_()\n    (conv1d_forward(x, w, s) * g).sum().backward()\n    return w.grad\n"
           "def conv1d_forward(x, W, s):\n    return x\n"
           f"def conv1d_dldW(x, W, s, g):\n    {body}\n")
    hits = integ.autograd_signals(src, "conv1d_dldW")
    assert any(what in h for h in hits), hits


def _complex_step_dfdW(x, W, stride):
    """conv1d_dfdW by complex-step differentiation: no autograd, no subtraction, no call of
    conv1d_forward by its name; exact to rounding."""
    def fwd(x, W, s):
        k = W.shape[2]
        cols = np.stack([x[:, i * s:i * s + k] for i in range((x.shape[1] - k) // s + 1)], 1)
        return np.einsum("ick,cjk->ij", W, cols)
    W = np.asarray(W, dtype=np.complex128)
    out = fwd(np.asarray(x), W, stride)
    J = np.zeros(out.shape + W.shape)
    for idx in np.ndindex(*W.shape):
        v = W.copy()
        v[idx] += 1e-60j
        J[(...,) + idx] = fwd(np.asarray(x), v, stride).imag / 1e-60
    return J


def test_complex_step_gradients_are_exact_so_only_the_static_scan_tells_them():
    x, W = torch.randn(2, 9, dtype=torch.float64), torch.randn(3, 2, 4, dtype=torch.float64)
    got, want = _complex_step_dfdW(x.numpy(), W.numpy(), 2), C.conv1d_dfdW(x, W, 2).numpy()
    assert np.abs(got - want).max() < 1e-13
    assert integ.fd_signal(got, want, 1e-11) is None  # as exact as a derivation by hand


@pytest.mark.parametrize("body,what", [
    ("v = W.astype(complex)\n    return (f(x, v + 1e-60j, s)).imag / 1e-60", "a complex number"),
    ("return helper(x, W, s)", "uses np.complex128"),
    ("v = torch.as_tensor(W, dtype=torch.cdouble)\n    return v.imag", "uses torch.cdouble"),
    ("return np.asarray(W, dtype='complex128')", "a complex dtype"),
])
def test_static_scan_finds_complex_arithmetic_in_the_target_and_its_helpers(body, what):
    src = ("import numpy as np\nimport torch\n"
           "def helper(x, W, s):\n    return np.zeros(3, dtype=np.complex128)\n"
           "def f(x, W, s):\n    return x\n"
           f"def conv1d_dfdW(x, W, s):\n    {body}\n")
    hits = integ.complex_step_signals(src, "conv1d_dfdW")
    assert any(what in h for h in hits), hits


@pytest.mark.parametrize("module,target", [(C, "conv1d_dfdW"), (C, "conv1d_dfdx"), (C, "conv1d_dldW"),
                                           (R, "gated_rnn_dl_dWx"), (R, "lstm_bptt")])
def test_the_reference_derivations_use_no_complex_numbers(module, target):
    import inspect

    assert integ.complex_step_signals(inspect.getsource(module), target) == []
    assert integ.complex_step_signals(HAND, "conv1d_dldW") == []


def _fd_jacobian(f, v, h):
    v = torch.as_tensor(v)
    out = f(v)
    J = torch.zeros(out.shape + v.shape, dtype=torch.float64)
    for idx in np.ndindex(*v.shape):
        p, m = v.clone(), v.clone()
        p[idx] += h
        m[idx] -= h
        J[(...,) + idx] = (f(p) - f(m)) / (2 * h)
    return J.numpy()


def test_finite_differences_are_told_from_a_derivation_by_their_precision():
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal((2, 7)), rng.standard_normal((1, 2, 5))
    want = autograd_expected(C.conv1d_forward, [x, W, 2], "jacobian", 1, None)
    hand = C.conv1d_dfdW(torch.tensor(x), torch.tensor(W), 2).numpy()
    assert integ.fd_signal(hand, want, 1e-11) is None
    fd = _fd_jacobian(lambda w: C.conv1d_forward(torch.tensor(x), w, 2), W, 1e-6)
    assert compare_values(fd, want, 1e-6, 1e-8).ok  # within the item's tolerance...
    assert "finite differences" in integ.fd_signal(fd, want, 1e-11)  # ...but not exact
    # float32 arithmetic returned as float64 is not finite differences
    assert integ.fd_signal(hand.astype(np.float32).astype(np.float64) + 0.0, want, 1e-11) is None
    # a plainly wrong answer (a flipped sign) is not "finite differences": the tolerance judges it
    assert integ.fd_signal(-hand, want, 1e-11) is None


def test_hand_derived_recursions_are_exact_in_float64():
    rng = np.random.default_rng(1)
    xs, up = rng.standard_normal(12), rng.standard_normal(12)
    w = {k: float(rng.uniform(-2, 2)) for k in R.LSTM_KEYS}
    want = autograd_expected(R.lstm_forward_autograd, [xs, w, up], "vjp", 1, 2)
    got = {k: v.numpy() for k, v in R.lstm_bptt(torch.tensor(xs), w, torch.tensor(up)).items()}
    assert integ.fd_signal(got, want, 1e-11) is None
    a = [rng.standard_normal(s) for s in ((6, 2), (5, 2), (5, 5), (5, 2), (6, 5))]
    want = autograd_expected(R.gated_rnn_forward, a, "vjp", 3, 4)
    assert integ.fd_signal(R.gated_rnn_dl_dWx(*map(torch.tensor, a)).numpy(), want, 1e-11) is None


@pytest.fixture
def guarded():
    """The probe's guard, installed in this process and undone afterwards."""
    import importlib

    import torch.autograd.functional as agf
    import torch.autograd.graph as agg

    owners = [(torch.autograd, n) for n in ("grad", "backward", "_engine_run_backward")] + [(agg, "_engine_run_backward"), (torch.Tensor, "backward")]
    owners += [(agf, n) for n in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp")]
    for modname in ("torch.autograd.forward_ad", "torch.func", "functorch"):
        try:
            mod = importlib.import_module(modname)
        except Exception:
            continue
        owners += [(mod, n) for n in ("make_dual", "unpack_dual", "dual_level", "grad", "grad_and_value", "vjp", "jvp",
                                      "jacrev", "jacfwd", "hessian", "linearize") if hasattr(mod, n)]
    import _thread
    import threading

    owners += [(torch._C, "_set_grad_enabled"), (threading.Thread, "start"), (_thread, "start_new_thread")]
    saved = [(o, n, o.__dict__.get(n, getattr(o, n))) for o, n in owners if hasattr(o, n)]
    ns = {"__name__": "student"}
    try:
        exec(integ.AUTOGRAD_GUARD + HAND + integ.HAND_DERIVED_CALL, ns)
        yield ns
    finally:
        for o, n, v in saved:
            setattr(o, n, v)


def test_the_probe_guard_disables_autograd_and_counts_forward_calls(guarded):
    exec('''
def conv1d_dfdW(x, W, stride):
    return torch.autograd.functional.jacobian(lambda w: conv1d_forward(x, w, stride), W)

def numeric(x, W, stride):
    return [conv1d_forward(x, W, stride) for _ in range(5)][0]

_f = conv1d_forward  # an alias, bound before the graded call

def numeric_through_an_alias(x, W, stride):
    return [_f(x, W, stride) for _ in range(4)][0]

def unhook(x, W, stride):
    import sys
    sys.setprofile(None)
    return [_f(x, W, stride) for _ in range(4)][0]
''', guarded)
    x, W = torch.randn(2, 7, dtype=torch.float64), torch.randn(1, 2, 5, dtype=torch.float64)
    call = guarded["__grader_hand_derived_call"]
    r = call("conv1d_dfdW", (x, W, 2), {}, ["conv1d_forward"])
    assert r["value"] is None and "AutogradDisabled" in r["error"] and r["autograd"] == ["torch.autograd.functional.jacobian"]
    r = call("conv1d_dldW", (x, W, 2, torch.randn(1, 2, dtype=torch.float64)), {}, ["conv1d_forward"])
    assert r["error"] is None and r["autograd"] == [] and r["value"].shape == (1, 2, 5)
    r = call("numeric", (x, W, 2), {}, ["conv1d_forward"])
    assert r["forward_calls"] == {"conv1d_forward": 5}
    r = call("numeric_through_an_alias", (x, W, 2), {}, ["conv1d_forward"])
    assert r["forward_calls"] == {"conv1d_forward": 4}  # counted by its code, not its name
    r = call("unhook", (x, W, 2), {}, ["conv1d_forward"])
    assert r["autograd"] == ["sys.setprofile (the grader's call counter)"]
    # outside the graded call autograd works as usual (the notebook's own checks ran at load time)
    w = torch.ones(2, requires_grad=True)
    (w * 3).sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_the_target_runs_with_grad_mode_off_and_turning_it_on_is_autograd(guarded):
    """The red team's engine attack: leaves made to require grad by attribute, grad mode
    turned on, the gradient from the engine object no wrapper covers."""
    exec('''
import threading as _th

def engine(x, W, stride):
    W = W.detach().clone()
    W.requires_grad = True
    with torch.enable_grad():
        out = (conv1d_forward(x, W, stride)).sum()
    eng = getattr(getattr(torch, "auto" + "grad"), "vari" + "able").Variable._execution_engine
    return eng.run_backward((out,), (torch.ones_like(out),), False, False, (W,), True, False)[0]

def engine_without_grad_mode(x, W, stride):
    W = W.detach().clone()
    W.requires_grad = True
    out = (conv1d_forward(x, W, stride)).sum()
    eng = getattr(getattr(torch, "auto" + "grad"), "vari" + "able").Variable._execution_engine
    return eng.run_backward((out,), (torch.ones_like(out),), False, False, (W,), True, False)[0]

def in_a_thread(x, W, stride):
    box = []
    t = _th.Thread(target=lambda: box.append(torch.is_grad_enabled()))
    t.start()
    t.join()
    return box
''', guarded)
    x, W = torch.randn(2, 7, dtype=torch.float64), torch.randn(1, 2, 5, dtype=torch.float64)
    call = guarded["__grader_hand_derived_call"]
    r = call("engine", (x, W, 2), {}, [])
    assert r["value"] is None and "AutogradDisabled" in r["error"] and r["autograd"] == ["torch.enable_grad / set_grad_enabled(True)"]
    r = call("engine_without_grad_mode", (x, W, 2), {}, [])
    assert r["value"] is None and "does not require grad" in r["error"]  # no graph was built: nothing to differentiate
    r = call("in_a_thread", (x, W, 2), {}, [])
    assert r["value"] is None and r["autograd"] == ["threading.Thread.start (grad mode is on in a new thread)"]
    assert torch.is_grad_enabled()  # restored after the graded call
    r = call("conv1d_dldW", (x, W, 2, torch.randn(1, 2, dtype=torch.float64)), {}, [])
    assert r["error"] is None and r["autograd"] == []  # a derivation by hand needs none of it
    hits = integ.autograd_signals("import torch\ndef f(W):\n    W.requires_grad = True\n    with torch.enable_grad():\n"
                                  "        return torch.autograd.variable.Variable._execution_engine\n", "f")
    assert sorted(h.split(" (")[0] for h in hits) == [
        "line 3: sets W.requires_grad", "line 4: uses torch.enable_grad", "line 5: uses torch.autograd",
        "line 5: uses torch.autograd.variable.Variable._execution_engine"]


def test_exact_answers_are_not_quoted_unless_the_rubric_says_so():
    want = np.array([1, 4, 5])
    hidden = compare_values((1, 10, 11), want, None, None, exact=True, show_expected=None)
    assert not hidden.ok and "[1, 4, 5]" not in hidden.detail and "expected" not in hidden.evidence
    assert "[1, 10, 11]" in hidden.detail
    assert "207507816" not in compare_values(1000, 207507816, None, None, True, None).detail
    shown = compare_values((1, 10, 11), want, None, None, exact=True, show_expected=True)
    assert "[1, 4, 5]" in shown.detail
    # tolerance comparisons quote the expected value by default, not when told otherwise
    assert "expected 2" in compare_values(np.array([1.0]), np.array([2.0]), None, None, show_expected=None).detail
    assert "expected" not in compare_values(np.array([1.0]), np.array([2.0]), None, None, show_expected=False).detail
