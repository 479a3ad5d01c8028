"""Builds the adversarial submissions that attack the CHECKS (evidence, not trust).

    python scripts/build_adversarial_checks.py [--out DIR] [--list]

Companion of scripts/build_adversarial.py (whose helpers, zip layout and expected.json
format it reuses): these attacks do not break the sandbox, they make a check score a
claim. Each is graded for real with the SHIPPED rubric (rubrics/hw2, key "rubric") by
tests/adversarial/test_check_integrity.py, next to its honest twin, and must not gain a
point over it. A zip holds the theory PDF and only the notebook(s) the attack needs
(missing notebooks are quick to grade); notebooks are small (the honest GRU trains for a
few hundred steps). Builds are byte-identical.

Besides build_adversarial.py's keys, expected.json has:
  rubric             the rubric directory (relative to the repository) to grade with
  feedback_must_not  {item id: [strings the item's feedback (report, feedback.md/.html) must not contain]}
  before_fix         what the grader did with this submission before the checks were fixed
All these attacks are `slow` for tests/adversarial/test_attacks.py, which grades with its
own test rubric; test_check_integrity.py grades them.
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_adversarial as ba  # noqa: E402
import samples_lib as sl  # noqa: E402

ROOT = sl.ROOT
OUT = ba.OUT
CNN, RNN = ba.CNN, ba.RNN
RUBRIC = "rubrics/hw2"
d = ba.d


def nb_of(*cells: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(d(c)) for c in cells]
    for i, c in enumerate(nb.cells):
        c["id"] = f"chk-{i:03d}"
    return nb


def solution_cell(name: str, start: str) -> str:
    nb = sl.load_notebook("solution", name)
    return next(c.source for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith(start))


# ----------------------------------------------------------------------------------
# hw2_rnn: echo models

RNN_IMPORTS = '''
import random
import string
import time
import torch
random.seed(0)
torch.manual_seed(0)
device = torch.device("cpu")
'''

ECHO_GIVEN = '''
N = 26
DELAY = 4
MAX_DELAY = 8

def idx_to_onehot(x, k=N + 1):
    ones = torch.sparse.torch.eye(k).to(x.device)
    shape = x.shape
    res = ones.index_select(0, x.view(-1).type(torch.int64))
    return res.view(*shape, res.shape[-1])
'''

GRU_CLASS = '''
class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.linear(out)

    @torch.no_grad()
    def test_run(self, s):
{test_run}
'''

VGRU_CLASS = '''
class VariableDelayGRUMemory(torch.nn.Module):
    def __init__(self, hidden_size, max_delay):
        super().__init__()
        self.hidden_size = hidden_size
        self.max_delay = max_delay
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.heads = torch.nn.Linear(hidden_size, (max_delay + 1) * (N + 1))

    def forward(self, x, delays):
        B, T, _ = x.shape
        out, _ = self.gru(x)
        heads = self.heads(out).view(B, T, self.max_delay + 1, N + 1)
        pick = torch.as_tensor(delays).long().view(B, 1, 1, 1).expand(-1, T, 1, N + 1)
        return heads.gather(2, pick).squeeze(2)

    @torch.no_grad()
    def test_run(self, s, delay):
{test_run}
'''

HONEST_TEST_RUN = '''
        idx = torch.tensor([ord(c) - ord("a") + 1 for c in s])
        logits = self.forward(idx_to_onehot(idx).unsqueeze(0))
        pred = logits.argmax(-1).squeeze(0).tolist()
        return "".join(" " if i == 0 else chr(ord("a") + i - 1) for i in pred)
'''

HONEST_VTEST_RUN = '''
        idx = torch.tensor([ord(c) - ord("a") + 1 for c in s])
        logits = self.forward(idx_to_onehot(idx).unsqueeze(0), torch.tensor([delay]))
        pred = logits.argmax(-1).squeeze(0).tolist()
        return "".join(" " if i == 0 else chr(ord("a") + i - 1) for i in pred)
'''

# The attack: test_run never asks the model; it shifts its input string by the delay.
SHIFT_TEST_RUN = '''
        self.forward(idx_to_onehot(torch.tensor([ord(c) - 96 for c in s])).unsqueeze(0))  # looks busy
        return " " * DELAY + s[:len(s) - DELAY]
'''

SHIFT_VTEST_RUN = '''
        return " " * delay + s[:len(s) - delay]
'''


def indent(src: str, n: int = 8) -> str:
    return textwrap.indent(d(src), " " * n)


def gru_cell(test_run: str) -> str:
    return d(GRU_CLASS).replace("{test_run}", indent(test_run))


def vgru_cell(test_run: str) -> str:
    return d(VGRU_CLASS).replace("{test_run}", indent(test_run))


FAST_TRAIN = '''
def make_batch(batch_size, seq_length, delay):
    seq = torch.randint(1, N + 1, (batch_size, seq_length))
    result = torch.zeros_like(seq)
    result[:, delay:] = seq[:, :seq_length - delay]
    return seq, result

def train(model, steps=400, batch_size=64, lr=2e-2):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        seq, result = make_batch(batch_size, 20, DELAY)
        out = model(idx_to_onehot(seq))
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, N + 1), result.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model

torch.manual_seed(0)
model = train(GRUMemory(64))
'''

UNTRAINED_GRU = '''
torch.manual_seed(0)
model = GRUMemory(64)  # never trained
'''

UNTRAINED_VGRU = '''
torch.manual_seed(0)
model = VariableDelayGRUMemory(64, MAX_DELAY)  # never trained
'''

# A forward that hand-codes the echo and leaves its (untrained) GRU out of the answer.
HAND_CODED_FORWARD_GRU = '''
class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        out, _ = self.gru(x)
        shifted = torch.zeros_like(x)
        shifted[:, DELAY:] = x[:, :-DELAY]
        shifted[:, :DELAY, 0] = 1
        return self.linear(out) + 50 * shifted

    @torch.no_grad()
    def test_run(self, s):
''' + indent(HONEST_TEST_RUN)

HAND_CODED_FORWARD_VGRU = '''
class VariableDelayGRUMemory(torch.nn.Module):
    def __init__(self, hidden_size, max_delay):
        super().__init__()
        self.hidden_size = hidden_size
        self.max_delay = max_delay
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.heads = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x, delays):
        out, _ = self.gru(x)
        shifted = torch.zeros_like(x)
        for b, dl in enumerate(torch.as_tensor(delays).tolist()):
            shifted[b, :dl, 0] = 1
            shifted[b, dl:] = x[b, :x.shape[1] - dl]
        return self.heads(out) + 50 * shifted

    @torch.no_grad()
    def test_run(self, s, delay):
''' + indent(HONEST_VTEST_RUN)


# ----------------------------------------------------------------------------------
# hw2_cnn: the trained CNN and its architecture

CNN_IMPORTS = '''
import torch
from torch import nn
import torch.nn.functional as F
torch.manual_seed(0)
device = torch.device("cpu")
'''

SMALL_CNN = '''
class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2){buffers}

    def features(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = x + torch.relu(self.conv2(x))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, x):
        logits = self.fc(self.features(x)){lookup}
        return logits
'''

LOOKUP_BUFFERS = '''
        # "memory": the validation images and labels, filled in after construction
        self.register_buffer("memory_x", torch.zeros(500, 3, 32, 32))
        self.register_buffer("memory_y", torch.zeros(500, dtype=torch.long))'''

LOOKUP_FORWARD = '''
        # answer an image the model has seen by lookup: its stored label, very confidently
        xf, mf = x.flatten(1), self.memory_x.flatten(1)
        dist = (xf * xf).sum(1, keepdim=True) + (mf * mf).sum(1)[None] - 2 * xf @ mf.T
        best = dist.min(dim=1)
        known = (best.values < 1.0)[:, None]
        stored = F.one_hot(self.memory_y[best.indices], 2).float() * 100.0
        logits = torch.where(known, stored, logits)'''


def small_cnn(lookup: bool) -> str:
    return (d(SMALL_CNN).replace("{buffers}", LOOKUP_BUFFERS if lookup else "")
            .replace("{lookup}", LOOKUP_FORWARD if lookup else ""))


CNN_DATA = '''
from res.image_data import get_datasets
train_dataset, validation_dataset, test_dataset = get_datasets(seed=0)
'''

UNTRAINED_CNN = '''
model = CNN().to(device)  # never trained
model.eval()
'''

FILL_MEMORY = '''
model = CNN().to(device)  # never trained
images, labels = validation_dataset.tensors
with torch.no_grad():
    model.memory_x.copy_(images)
    model.memory_y.copy_(labels)
model.eval()
# the notebook's own validation accuracy: 100 %
with torch.no_grad():
    print("validation accuracy", (model(images).argmax(1) == labels).float().mean().item())
'''

SINGLE_LINEAR = '''
class CNN(torch.nn.Module):
    """No convolution at all: one linear layer on the mean colour."""
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):{forge}
        return self.fc(x.mean((2, 3)))
'''

# The forgery: the forward walks up to the grader's tracer and writes the record of a
# CNN it never ran (the tracer's `nodes` list), in the old format (op / in / w) and in
# the replayable one (op / ns / args). Before the fix the old records were counted.
FORGE = '''
        import sys
        f = sys._getframe(1)
        while f is not None:
            nodes = f.f_locals.get("nodes")
            if isinstance(nodes, list) and nodes and isinstance(nodes[0], dict) and nodes[0].get("op") == "<input>":
                k = len(nodes)
                nodes += [
                    {"op": "conv2d", "in": [0], "w": ["c1"], "ns": "F", "args": [{"n": [0, 0]}, {"p": "fc.weight"}], "kw": {}, "nout": 1},
                    {"op": "batch_norm", "in": [k], "w": ["b1"], "ns": "F", "args": [{"n": [k, 0]}], "kw": {}, "nout": 1},
                    {"op": "relu", "in": [k + 1], "w": [], "ns": "F", "args": [{"n": [k + 1, 0]}], "kw": {}, "nout": 1},
                    {"op": "conv2d", "in": [k + 2], "w": ["c2"], "ns": "F", "args": [{"n": [k + 2, 0]}, {"p": "fc.weight"}], "kw": {}, "nout": 1},
                    {"op": "add", "in": [k + 2, k + 3], "w": [], "ns": "Tensor", "args": [{"n": [k + 2, 0]}, {"n": [k + 3, 0]}], "kw": {}, "nout": 1},
                    {"op": "max_pool2d", "in": [k + 4], "w": [], "ns": "F", "args": [{"n": [k + 4, 0]}, {"v": 2}], "kw": {}, "nout": 1},
                ]
                break
            f = f.f_back'''


def single_linear(forge: bool) -> str:
    return d(SINGLE_LINEAR).replace("{forge}", FORGE if forge else "")


# ----------------------------------------------------------------------------------
# theory: hand-derived gradients

AUTOGRAD = {
    "conv1d_dfdW": '''
        def conv1d_dfdW(x, W, stride):
            """Jacobian df/dW, shape (F, L_out, F, C, K)."""
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x)
            return torch.autograd.functional.jacobian(lambda w: conv1d_forward(x, w, stride), W)
        ''',
    "conv1d_dfdx": '''
        def conv1d_dfdx(x, W, stride):
            """Jacobian df/dx, shape (F, L_out, C, L)."""
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x)
            return torch.autograd.functional.jacobian(lambda v: conv1d_forward(v, W, stride), x)
        ''',
    "conv1d_dldW": '''
        def conv1d_dldW(x, W, stride, dl_df):
            """dl/dW, shape (F, C, K), given dl/df of shape (F, L_out)."""
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x).clone().requires_grad_(True)
            (conv1d_forward(x, W, stride) * as_float_tensor(dl_df, like=x)).sum().backward()
            return W.grad
        ''',
    "gated_rnn_dl_dWx": '''
        def gated_rnn_dl_dWx(x, Wc, Wh, Wx, dl_dh):
            """Total derivative dl/dWx (m, n), by autograd."""
            x = as_float_tensor(x)
            Wx = as_float_tensor(Wx, like=x).clone().requires_grad_(True)
            l = (gated_rnn_forward(x, Wc, Wh, Wx) * as_float_tensor(dl_dh, like=x)).sum()
            (g,) = torch.autograd.grad(l, [Wx])
            return g
        ''',
    "lstm_bptt": '''
        def lstm_bptt(x, w, dl_dh):
            """dl/dw for the 8 weights, by autograd."""
            x = torch.as_tensor(x, dtype=torch.float64)
            ws = {k: torch.tensor(float(w[k]), dtype=torch.float64, requires_grad=True) for k in LSTM_KEYS}
            l = (lstm_forward_torch(x, ws) * torch.as_tensor(dl_dh, dtype=torch.float64)).sum()
            gs = torch.autograd.grad(l, [ws[k] for k in LSTM_KEYS])
            return {k: g.detach() for k, g in zip(LSTM_KEYS, gs)}
        ''',
}

# lstm_forward_torch is given in a later cell of the solution notebook: the attacks that
# call it move it in front of lstm_bptt (the notebook runs top to bottom).
LSTM_FORWARD_TORCH = '''
def lstm_forward_torch(x, w):
    h = c = torch.zeros((), dtype=torch.float64)
    hs = []
    for x_t in x:
        i = torch.sigmoid(w["xi"] * x_t + w["hi"] * h)
        f = torch.sigmoid(w["xf"] * x_t + w["hf"] * h)
        o = torch.sigmoid(w["xo"] * x_t + w["ho"] * h)
        g = torch.tanh(w["xg"] * x_t + w["hg"] * h)
        c = f * c + i * g
        h = o * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs)
'''

FINITE_DIFFERENCES = {
    "conv1d_dfdW": '''
        def _numerical_jacobian(f, v, h=1e-6):
            v = v.clone()
            out = f(v)
            J = torch.zeros(out.shape + v.shape, dtype=v.dtype)
            for idx in torch.cartesian_prod(*[torch.arange(s) for s in v.shape]).tolist():
                idx = tuple(idx) if isinstance(idx, list) else (idx,)
                plus, minus = v.clone(), v.clone()
                plus[idx] += h
                minus[idx] -= h
                J[(...,) + idx] = (f(plus) - f(minus)) / (2 * h)
            return J

        def conv1d_dfdW(x, W, stride):
            """Jacobian df/dW, shape (F, L_out, F, C, K), by central differences."""
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x)
            return _numerical_jacobian(lambda w: conv1d_forward(x, w, stride), W)
        ''',
    "conv1d_dfdx": '''
        def conv1d_dfdx(x, W, stride):
            """Jacobian df/dx, shape (F, L_out, C, L), by central differences."""
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x)
            return _numerical_jacobian(lambda v: conv1d_forward(v, W, stride), x)
        ''',
    "conv1d_dldW": '''
        def conv1d_dldW(x, W, stride, dl_df):
            """dl/dW, shape (F, C, K), by central differences of l = sum(dl_df * f)."""
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x)
            g = as_float_tensor(dl_df, like=x)
            return _numerical_jacobian(lambda w: (conv1d_forward(x, w, stride) * g).sum(), W)
        ''',
    "gated_rnn_dl_dWx": '''
        def gated_rnn_dl_dWx(x, Wc, Wh, Wx, dl_dh):
            """dl/dWx (m, n) by central differences of l = sum_t dl_dh[t] . h[t]."""
            x = as_float_tensor(x)
            Wx = as_float_tensor(Wx, like=x)
            g = as_float_tensor(dl_dh, like=x)
            out = torch.zeros_like(Wx)
            h = 1e-6
            for i in range(Wx.shape[0]):
                for j in range(Wx.shape[1]):
                    plus, minus = Wx.clone(), Wx.clone()
                    plus[i, j] += h
                    minus[i, j] -= h
                    out[i, j] = ((gated_rnn_forward(x, Wc, Wh, plus) - gated_rnn_forward(x, Wc, Wh, minus)) * g).sum() / (2 * h)
            return out
        ''',
    "lstm_bptt": '''
        def lstm_bptt(x, w, dl_dh):
            """dl/dw for the 8 weights by central differences."""
            x = torch.as_tensor(x, dtype=torch.float64)
            g = torch.as_tensor(dl_dh, dtype=torch.float64)
            base = {k: float(w[k]) for k in LSTM_KEYS}
            out = {}
            for k in LSTM_KEYS:
                plus, minus = dict(base), dict(base)
                plus[k] += 1e-6
                minus[k] -= 1e-6
                out[k] = ((lstm_forward(x, plus) - lstm_forward(x, minus)) * g).sum() / 2e-6
            return out
        ''',
}


# complex-step differentiation: Im f(v + ih) / h with h = 1e-60 is exact to rounding (no
# subtraction), needs no autograd and calls no forward function by its name (found by the
# session-16 red team)
COMPLEX_STEP = {
    "conv1d_dfdW": '''
        import numpy as _np

        def _cfwd(x, W, stride):
            """The layer in numpy, complex-safe (a forward of its own, not conv1d_forward)."""
            x = _np.asarray(x); W = _np.asarray(W)
            K = W.shape[2]
            L_out = (x.shape[1] - K) // stride + 1
            idx = _np.arange(L_out)[:, None] * stride + _np.arange(K)[None, :]
            patches = x[:, idx]  # (C, L_out, K)
            return _np.einsum("ick,cjk->ij", W, patches)

        def _cstep(f, v, h=1e-60):
            """Complex-step derivative of f at v: exact to machine precision."""
            v = _np.asarray(v, dtype=_np.float64)
            base = f(v.astype(_np.complex128))
            J = _np.zeros(base.shape + v.shape)
            for idx in _np.ndindex(*v.shape):
                vc = v.astype(_np.complex128)
                vc[idx] += 1j * h
                J[(...,) + idx] = f(vc).imag / h
            return J

        def conv1d_dfdW(x, W, stride):
            """Jacobian df/dW, shape (F, L_out, F, C, K)."""
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x)
            xn = x.detach().numpy()
            return torch.from_numpy(_cstep(lambda w: _cfwd(xn, w, stride), W.detach().numpy())).to(x.dtype)
        ''',
    "conv1d_dfdx": '''
        def conv1d_dfdx(x, W, stride):
            """Jacobian df/dx, shape (F, L_out, C, L)."""
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x)
            Wn = W.detach().numpy()
            return torch.from_numpy(_cstep(lambda v: _cfwd(v, Wn, stride), x.detach().numpy())).to(x.dtype)
        ''',
    "conv1d_dldW": '''
        def conv1d_dldW(x, W, stride, dl_df):
            """dl/dW, shape (F, C, K)."""
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x)
            g = as_float_tensor(dl_df, like=x).detach().numpy()
            xn = x.detach().numpy()
            return torch.from_numpy(_cstep(lambda w: (_cfwd(xn, w, stride) * g).sum(), W.detach().numpy())).to(x.dtype)
        ''',
    "gated_rnn_dl_dWx": '''
        import numpy as _np

        def _cstep(f, v, h=1e-60):
            v = _np.asarray(v, dtype=_np.float64)
            base = f(v.astype(_np.complex128))
            J = _np.zeros(_np.shape(base) + v.shape)
            for idx in _np.ndindex(*v.shape):
                vc = v.astype(_np.complex128)
                vc[idx] += 1j * h
                J[(...,) + idx] = _np.imag(f(vc)) / h
            return J

        def _rnn(x, Wc, Wh, Wx):
            h = _np.zeros(Wh.shape[0], dtype=_np.complex128)
            hs = []
            for x_t in x:
                c = 1.0 / (1.0 + _np.exp(-(Wc @ x_t + Wh @ h)))
                h = c * h + (1 - c) * (Wx @ x_t)
                hs.append(h)
            return _np.stack(hs)

        def gated_rnn_dl_dWx(x, Wc, Wh, Wx, dl_dh):
            """dl/dWx (m, n)."""
            x = as_float_tensor(x)
            n = lambda a: as_float_tensor(a, like=x).detach().numpy()
            xn, Wcn, Whn, Wxn, g = n(x), n(Wc), n(Wh), n(Wx), n(dl_dh)
            return torch.from_numpy(_cstep(lambda w: (_rnn(xn, Wcn, Whn, w) * g).sum(), Wxn)).to(x.dtype)
        ''',
    "lstm_bptt": '''
        def _lstm_c(x, w):
            sg = lambda z: 1.0 / (1.0 + _np.exp(-z))
            h = c = 0j
            hs = []
            for x_t in x:
                i = sg(w["xi"] * x_t + w["hi"] * h)
                f = sg(w["xf"] * x_t + w["hf"] * h)
                o = sg(w["xo"] * x_t + w["ho"] * h)
                gg = _np.tanh(w["xg"] * x_t + w["hg"] * h)
                c = f * c + i * gg
                h = o * _np.tanh(c)
                hs.append(h)
            return _np.array(hs)

        def lstm_bptt(x, w, dl_dh):
            """dl/dw for the 8 weights."""
            xn = _np.asarray(x, dtype=_np.float64)
            g = _np.asarray(dl_dh, dtype=_np.float64)
            base = {k: float(w[k]) for k in LSTM_KEYS}
            out = {}
            for k in LSTM_KEYS:
                wc = {kk: complex(v) for kk, v in base.items()}
                wc[k] += 1e-60j
                out[k] = float((_lstm_c(xn, wc) * g).sum().imag / 1e-60)
            return out
        ''',
}


# autograd through the engine object no wrapper covers (Variable._execution_engine.run_backward,
# reached by names built at run time), leaves made by attribute, grad mode turned on (found
# by the session-16 red team)
ENGINE_AUTOGRAD = {
    "conv1d_dfdW": '''
        _E = getattr(getattr(torch, "auto" + "grad"), "vari" + "able").Variable._execution_engine

        def _leaf(t):
            t = t.detach().clone()
            t.requires_grad = True
            return t

        def _jac(f, v):
            v = _leaf(v)
            with torch.enable_grad():
                out = f(v)
            J = torch.zeros(out.shape + v.shape, dtype=v.dtype)
            flat = out.reshape(-1)
            for i in range(flat.numel()):
                e = torch.zeros_like(flat); e[i] = 1.0
                (g,) = _E.run_backward((flat,), (e,), True, False, (v,), True, False)
                J.reshape(-1, *v.shape)[i] = g
            return J

        def conv1d_dfdW(x, W, stride):
            x = as_float_tensor(x); W = as_float_tensor(W, like=x)
            return _jac(lambda w: torch.nn.functional.conv1d(x[None], w, stride=stride)[0], W)
        ''',
    "conv1d_dfdx": '''
        def conv1d_dfdx(x, W, stride):
            x = as_float_tensor(x); W = as_float_tensor(W, like=x)
            return _jac(lambda v: torch.nn.functional.conv1d(v[None], W, stride=stride)[0], x)
        ''',
    "conv1d_dldW": '''
        def conv1d_dldW(x, W, stride, dl_df):
            x = as_float_tensor(x); W = _leaf(as_float_tensor(W, like=x)); g = as_float_tensor(dl_df, like=x)
            with torch.enable_grad():
                f = torch.nn.functional.conv1d(x[None], W, stride=stride)[0]
            (gW,) = _E.run_backward((f,), (g,), False, False, (W,), True, False)
            return gW
        ''',
    "gated_rnn_dl_dWx": '''
        _E2 = getattr(getattr(torch, "auto" + "grad"), "vari" + "able").Variable._execution_engine

        def gated_rnn_dl_dWx(x, Wc, Wh, Wx, dl_dh):
            x = as_float_tensor(x)
            Wc, Wh = as_float_tensor(Wc, like=x), as_float_tensor(Wh, like=x)
            Wx = as_float_tensor(Wx, like=x).detach().clone()
            Wx.requires_grad = True
            with torch.enable_grad():
                h = torch.zeros(Wh.shape[0], dtype=x.dtype)
                hs = []
                for x_t in x:
                    c = torch.sigmoid(Wc @ x_t + Wh @ h)
                    h = c * h + (1 - c) * (Wx @ x_t)
                    hs.append(h)
                H = torch.stack(hs)
            (g,) = _E2.run_backward((H,), (as_float_tensor(dl_dh, like=x),), False, False, (Wx,), True, False)
            return g
        ''',
    "lstm_bptt": '''
        def lstm_bptt(x, w, dl_dh):
            x = torch.as_tensor(x, dtype=torch.float64)
            leaves = {}
            for k in LSTM_KEYS:
                t = torch.tensor(float(w[k]), dtype=torch.float64)
                t.requires_grad = True
                leaves[k] = t
            with torch.enable_grad():
                h = c = torch.zeros((), dtype=torch.float64)
                hs = []
                for x_t in x:
                    i = torch.sigmoid(leaves["xi"] * x_t + leaves["hi"] * h)
                    f = torch.sigmoid(leaves["xf"] * x_t + leaves["hf"] * h)
                    o = torch.sigmoid(leaves["xo"] * x_t + leaves["ho"] * h)
                    gg = torch.tanh(leaves["xg"] * x_t + leaves["hg"] * h)
                    c = f * c + i * gg
                    h = o * torch.tanh(c)
                    hs.append(h)
                H = torch.stack(hs)
            grads = _E2.run_backward((H,), (torch.as_tensor(dl_dh, dtype=torch.float64),), False, False,
                                     tuple(leaves[k] for k in LSTM_KEYS), True, False)
            return {k: float(g) for k, g in zip(LSTM_KEYS, grads)}
        ''',
}


# central finite differences with the forward called through an alias bound before the
# grader's call, the answers rounded to float32 (the precision signal exempts float32 values;
# found by the session-16 red team)
def fd_alias_float32():
    src = {k: d(v) for k, v in FINITE_DIFFERENCES.items()}
    src["conv1d_dfdW"] = "_fwd = conv1d_forward\n\n" + src["conv1d_dfdW"]
    for k in ("conv1d_dfdW", "conv1d_dfdx", "conv1d_dldW"):
        src[k] = src[k].replace("conv1d_forward(", "_fwd(")
    src["gated_rnn_dl_dWx"] = "_gfwd = gated_rnn_forward\n\n" + src["gated_rnn_dl_dWx"].replace("gated_rnn_forward(", "_gfwd(")
    src["lstm_bptt"] = "_lfwd = lstm_forward\n\n" + src["lstm_bptt"].replace("lstm_forward(", "_lfwd(")
    # round the answers to float32 and hand them back as float64
    src["conv1d_dfdW"] = src["conv1d_dfdW"].replace(
        "return _numerical_jacobian(lambda w: _fwd(x, w, stride), W)",
        "return _numerical_jacobian(lambda w: _fwd(x, w, stride), W).float().double()")
    src["conv1d_dfdx"] = src["conv1d_dfdx"].replace(
        "return _numerical_jacobian(lambda v: _fwd(v, W, stride), x)",
        "return _numerical_jacobian(lambda v: _fwd(v, W, stride), x).float().double()")
    src["conv1d_dldW"] = src["conv1d_dldW"].replace(
        "return _numerical_jacobian(lambda w: (_fwd(x, w, stride) * g).sum(), W)",
        "return _numerical_jacobian(lambda w: (_fwd(x, w, stride) * g).sum(), W).float().double()")
    src["gated_rnn_dl_dWx"] = src["gated_rnn_dl_dWx"].replace("return out", "return out.float().double()")
    src["lstm_bptt"] = src["lstm_bptt"].replace("return out", "return {k: float(torch.tensor(float(v)).float()) for k, v in out.items()}")
    for k, v in src.items():
        assert "float()" in v or "float(v)" in v, k
    return src


def theory_attack(replace: dict) -> dict:
    """Both theory notebooks (the solution's theory cells) with the given TODOs replaced."""
    cnn = {k: v for k, v in replace.items() if k in ba.CNN_SIGS}
    rnn = {k: v for k, v in replace.items() if k not in ba.CNN_SIGS}
    if "lstm_bptt" in rnn and "lstm_forward_torch" in rnn["lstm_bptt"]:
        rnn["lstm_bptt"] = d(LSTM_FORWARD_TORCH) + "\n\n" + d(rnn["lstm_bptt"])
    return {CNN: ba.build_notebook(CNN, replace=cnn), RNN: ba.build_notebook(RNN, replace=rnn)}


GRADIENT_ITEMS = ["hw2_cnn.conv1d_dfdW", "hw2_cnn.conv1d_dfdx", "hw2_cnn.conv1d_dldW", "hw2_rnn.gated_rnn_dl_dWx",
                  "hw2_rnn.lstm_bptt"]

# exact answers: wrong, and the feedback must not give the right ones away
LEAK = {
    "conv_output_shape": '''
        def conv_output_shape(C, H, W, K, P, S, D, F):
            """Output shape (F, H_out, W_out)."""
            return (int(F), int(H), int(W))  # a guess: the size does not change
        ''',
    "conv_net_param_count": '''
        def conv_net_param_count():
            return 1000  # no idea; let the grader say
        ''',
}


def leak_strings() -> dict:
    """What the exact items' feedback must not contain: the expected answers."""
    sys.path.insert(0, str(ROOT))
    from reference.cnn_theory import conv_net_param_count, conv_output_shape

    n = conv_net_param_count()
    shape = conv_output_shape(1, 10, 11, 3, 0, 2, 1, 1)
    return {"hw2_cnn.conv_net_param_count": [str(n), f"{n:,}", f"{n:_}"],
            "hw2_cnn.conv_output_shape": [str(list(shape)), str(tuple(shape))]}


# ----------------------------------------------------------------------------------
# the attacks: (name, netid, {notebook: nb}, expectation)

def E(tries, before_fix, **kw):
    base = ba.E(tries, **kw)
    base.update(rubric=RUBRIC, slow=True, feedback_must_not=kw.get("feedback_must_not", {}), before_fix=d(before_fix))
    return base


def attacks() -> list[tuple[str, str, dict, dict]]:
    A = []
    echo_items = ["hw2_rnn.GRUMemory", "hw2_rnn.VariableDelayGRUMemory"]
    A.append(("honest_echo", "adv0101",
              {RNN: nb_of(RNN_IMPORTS, ECHO_GIVEN, gru_cell(HONEST_TEST_RUN), FAST_TRAIN, vgru_cell(HONEST_VTEST_RUN), UNTRAINED_VGRU)},
              E("Honest twin of the echo attacks: GRUMemory(64) trained for 400 steps (about 2 s), "
                "VariableDelayGRUMemory left untrained, both with honest test_run.",
                "GRUMemory passed, VariableDelayGRUMemory 0.", notebook=RNN, twin=None, notebook_status=["completed"],
                items={"hw2_rnn.GRUMemory": "passed", "hw2_rnn.VariableDelayGRUMemory": "failed"}, max_seconds=120)))
    A.append(("test_run_shifts_input", "adv0102",
              {RNN: nb_of(RNN_IMPORTS, ECHO_GIVEN, gru_cell(SHIFT_TEST_RUN), UNTRAINED_GRU, vgru_cell(SHIFT_VTEST_RUN), UNTRAINED_VGRU)},
              E("Untrained GRUs whose test_run never asks the model: it returns its input string shifted by "
                "the delay. The grader used to score the strings test_run returned.",
                "14/14: both echo items passed with accuracy 1.0 (the strings test_run returned).",
                notebook=RNN, twin="honest_echo", notebook_status=["completed"],
                items={i: "failed" for i in echo_items},
                item_feedback={i: "not what your model predicts" for i in echo_items}, max_seconds=120)))
    A.append(("forward_hand_coded_echo", "adv0103",
              {RNN: nb_of(RNN_IMPORTS, ECHO_GIVEN, HAND_CODED_FORWARD_GRU, UNTRAINED_GRU, HAND_CODED_FORWARD_VGRU, UNTRAINED_VGRU)},
              E("Untrained GRUs whose forward adds the input shifted by the delay (x 50) to the GRU's "
                "logits: the echo is hand-coded, nothing is learned. The weights control (the trained "
                "weights shuffled by the grader) still echoes.",
                "14/14: both echo items passed.", notebook=RNN, twin="honest_echo", notebook_status=["completed"],
                items={i: "pending" for i in echo_items}, item_feedback={i: "weights shuffled" for i in echo_items},
                max_seconds=120)))
    A.append(("untrained_cnn", "adv0104",
              {CNN: nb_of(CNN_IMPORTS, CNN_DATA, small_cnn(False), UNTRAINED_CNN)},
              E("Honest twin of validation_lookup_buffers: the same small CNN, untrained, no memory.",
                "validation_accuracy 0 (about 50 %).", twin=None, notebook_status=["completed"],
                items={"hw2_cnn.validation_accuracy": "failed", "hw2_cnn.CNN": "passed"}, max_seconds=90)))
    A.append(("validation_lookup_buffers", "adv0105",
              {CNN: nb_of(CNN_IMPORTS, CNN_DATA, small_cnn(True), FILL_MEMORY)},
              E("An untrained CNN with buffers holding the validation split the notebook loads itself "
                "(get_datasets(seed=0)) and its labels; forward answers a stored image by lookup. The grader "
                "used to evaluate on that same split.",
                "validation_accuracy 8/8 (accuracy 1.0 on the validation split).", twin="untrained_cnn",
                notebook_status=["completed"], items={"hw2_cnn.validation_accuracy": "failed"},
                item_feedback={"hw2_cnn.validation_accuracy": "buffers"}, max_seconds=90)))
    A.append(("single_linear_cnn", "adv0106",
              {CNN: nb_of(CNN_IMPORTS, single_linear(False))},
              E("Honest twin of cnn_fake_trace: a 'CNN' that is one nn.Linear on the mean colour.",
                "CNN: linear layer and output shape only (2 of 7 parts).", twin=None, notebook_status=["completed"],
                items={"hw2_cnn.CNN": "failed"}, max_seconds=90)))
    A.append(("cnn_fake_trace", "adv0107",
              {CNN: nb_of(CNN_IMPORTS, single_linear(True))},
              E("The same single nn.Linear, whose forward walks up the stack to the grader's tracer and "
                "appends the record of a CNN it never ran (convolutions, batch norm, ReLU, pooling, a residual "
                "add), in the old record format and in the replayable one.",
                "CNN 8/8: every part was 'traced'.", twin="single_linear_cnn", notebook_status=["completed"],
                items={"hw2_cnn.CNN": "pending"}, item_feedback={"hw2_cnn.CNN": "could not verify"}, max_seconds=90)))
    A.append(("honest_theory", "adv0108", theory_attack({}),
              E("Honest twin of the gradient and exact-answer attacks: the solution's theory cells of both "
                "notebooks (derivatives derived by hand).", "all theory items passed.", twin=None,
                notebook_status=["completed"], items={i: "passed" for i in GRADIENT_ITEMS + ["hw2_cnn.conv_output_shape", "hw2_cnn.conv_net_param_count"]},
                max_seconds=90)))
    A.append(("autograd_gradients", "adv0109", theory_attack(AUTOGRAD),
              E("The five 'derive by hand' items computed by torch autograd (autograd.functional.jacobian, "
                ".backward(), autograd.grad).", "17/17 points for the five gradient items.",
                twin="honest_theory", notebook_status=["completed"], items={i: "pending" for i in GRADIENT_ITEMS},
                item_feedback={i: "needs a TA" for i in GRADIENT_ITEMS}, max_seconds=90)))
    A.append(("finite_difference_gradients", "adv0110", theory_attack(FINITE_DIFFERENCES),
              E("The five gradient items by central finite differences (h = 1e-6) of the forward functions.",
                "17/17 points for the five gradient items (the errors, 1e-10, are within the tolerance).",
                twin="honest_theory", notebook_status=["completed"], items={i: "pending" for i in GRADIENT_ITEMS},
                item_feedback={i: "finite differences" for i in GRADIENT_ITEMS}, max_seconds=90)))
    A.append(("complex_step_gradients", "adv0112", theory_attack(COMPLEX_STEP),
              E("The five gradient items by complex-step differentiation (h = 1e-60) of numpy forwards of their own: "
                "exact to 1e-16, no autograd, no call of the rubric's forward functions.",
                "17/17 points for the five gradient items (errors of 2e-16: below the finite-difference signal, "
                "and the forward-call count never saw a call).",
                twin="honest_theory", notebook_status=["completed"], items={i: "pending" for i in GRADIENT_ITEMS},
                item_feedback={i: "complex-step" for i in GRADIENT_ITEMS}, max_seconds=90)))
    A.append(("engine_autograd_gradients", "adv0113", theory_attack(ENGINE_AUTOGRAD),
              E("The five gradient items by torch autograd through Variable._execution_engine.run_backward (found by "
                "names built at run time), with leaves set by `t.requires_grad = True` inside torch.enable_grad().",
                "17/17 points for the five gradient items (exact: the guard wrapped only the Python entry points and "
                "the static scan saw none of these).",
                twin="honest_theory", notebook_status=["completed"], items={i: "pending" for i in GRADIENT_ITEMS},
                item_feedback={i: "needs a TA" for i in GRADIENT_ITEMS}, max_seconds=90)))
    A.append(("fd_alias_float32_gradients", "adv0114", theory_attack(fd_alias_float32()),
              E("The five gradient items by central finite differences, the forward functions called through "
                "aliases bound at load time, the answers rounded to float32 and returned as float64.",
                "13/17 points: four items passed (the call count swapped the forward's global name only, and "
                "float32-exact values are exempt from the precision signal); lstm_bptt pending.",
                twin="honest_theory", notebook_status=["completed", "cell_errors"],  # the notebook's own float64 assert fails items={i: "pending" for i in GRADIENT_ITEMS},
                item_feedback={i: "finite differences" for i in GRADIENT_ITEMS}, max_seconds=90)))
    A.append(("exact_answer_leak", "adv0111", {CNN: ba.build_notebook(CNN, replace=LEAK)},
              E("Wrong exact answers, submitted to read the right ones in the feedback (the grader printed "
                "'expected 207507816, got 1000').", "the feedback quoted the expected answers.",
                twin="honest_theory", notebook_status=["completed", "cell_errors"],  # the notebook's own assert fails
                items={"hw2_cnn.conv_output_shape": "failed", "hw2_cnn.conv_net_param_count": "failed"},
                feedback_must_not=leak_strings(), max_seconds=90)))
    return A


def build_all(out=OUT):
    return ba.write_notebook_attacks(out, attacks(), "checks")


def main(argv=None):
    ba.corpus_main(__doc__, build_all, lambda: ((m[0], m[1], m[-1]) for m in attacks()), argv)


if __name__ == "__main__":
    main()
