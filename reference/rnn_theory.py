"""Reference answers to the RNN theory questions, written as code.

The functions are also TODO cells of hw2_rnn.ipynb (copied with inspect.getsource), so
they only use `torch`, `math` and the helper `as_float_tensor` of the notebook's given
cell. Derivatives are written by hand (no autograd): the tests compare them with autograd.
"""
import math

import torch


def as_float_tensor(a, like=None):
    """Turns a tensor, numpy array or nested list into a floating tensor (the dtype of
    `like` when given; float32/float64 tensors are kept as they are)."""
    t = torch.as_tensor(a)
    if like is not None:
        return t.to(like.dtype)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t


# ---------------------------------------------------------------------------------------
# Gated RNN: c[t] = sigmoid(Wc x[t] + Wh h[t-1]); h[t] = c[t]*h[t-1] + (1-c[t])*(Wx x[t])


def gated_rnn_forward(x, Wc, Wh, Wx):
    """x (K, n) holds x[1..K] as rows; returns h (K, m) with h[0] = 0 implied."""
    x = as_float_tensor(x)
    Wc, Wh, Wx = (as_float_tensor(w, like=x) for w in (Wc, Wh, Wx))
    h = torch.zeros(Wh.shape[0], dtype=x.dtype)
    hs = []
    for x_t in x:
        c = torch.sigmoid(Wc @ x_t + Wh @ h)
        h = c * h + (1 - c) * (Wx @ x_t)
        hs.append(h)
    return torch.stack(hs)


def gated_rnn_dl_dWx(x, Wc, Wh, Wx, dl_dh):
    """Total derivative dl/dWx (m, n) of l = sum_t dl_dh[t] . h[t], through time.

    Backward recursion, with a[t] = Wc x[t] + Wh h[t-1] and u[t] = Wx x[t]:
      g[t] = dl_dh[t] + (dh[t+1]/dh[t])^T g[t+1]        (total gradient reaching h[t])
      dh[t+1]/dh[t] = diag(c[t+1]) + diag((h[t] - u[t+1]) * c'[t+1]) Wh
      dl/dWx = sum_t ((1 - c[t]) * g[t]) x[t]^T         (Wx only enters through u[t])
    """
    x = as_float_tensor(x)
    Wc, Wh, Wx, dl_dh = (as_float_tensor(w, like=x) for w in (Wc, Wh, Wx, dl_dh))
    K = x.shape[0]
    m = Wh.shape[0]
    # Forward pass, keeping what the backward pass needs.
    h_prev = [torch.zeros(m, dtype=x.dtype)]
    cs, us = [], []
    for x_t in x:
        c = torch.sigmoid(Wc @ x_t + Wh @ h_prev[-1])
        u = Wx @ x_t
        cs.append(c)
        us.append(u)
        h_prev.append(c * h_prev[-1] + (1 - c) * u)
    # Backward pass.
    dWx = torch.zeros_like(Wx)
    g_next = torch.zeros(m, dtype=x.dtype)  # (dh[t+1]/dh[t])^T g[t+1]
    for t in reversed(range(K)):
        g = dl_dh[t] + g_next
        dWx += torch.outer((1 - cs[t]) * g, x[t])
        # Push g back to h[t-1] = h_prev[t]: directly through c*h, and through c via a.
        da = g * (h_prev[t] - us[t]) * cs[t] * (1 - cs[t])
        g_next = cs[t] * g + Wh.T @ da
    return dWx


# ---------------------------------------------------------------------------------------
# Binary addition with hard-threshold units


def binary_addition_rnn():
    """Weights of a 2-3-1 threshold RNN adding two binary numbers fed LSB first.

    Every hidden unit sees s = a[t] + b[t] + carry, where carry = h2[t-1]:
      h1 = [s >= 1], h2 = [s >= 2] (the carry out), h3 = [s == 3]
    and the sum bit is s mod 2 = h1 - h2 + h3, so y = step(h1 - h2 + h3 - 0.5).
    """
    return {
        "Wxh": [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
        "Whh": [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
        "bh": [-0.5, -1.5, -2.5],
        "Why": [[1.0, -1.0, 1.0]],
        "by": -0.5,
    }


def simulate_binary_rnn(weights, a_bits, b_bits):
    """Runs the threshold RNN on bit sequences (LSB first); returns the output bits.

    h[t] = step(Wxh x[t] + Whh h[t-1] + bh), y[t] = step(Why h[t] + by),
    step(z) = 1 if z > 0 else 0, h[0] = 0, x[t] = (a[t], b[t]).
    """
    import numpy as np

    Wxh = np.asarray(weights["Wxh"], dtype=float).reshape(3, 2)
    Whh = np.asarray(weights["Whh"], dtype=float).reshape(3, 3)
    Why = np.asarray(weights["Why"], dtype=float).reshape(1, 3)
    bh = np.asarray(weights["bh"], dtype=float).reshape(3)
    by = float(np.asarray(weights["by"], dtype=float).reshape(-1)[0])
    h = np.zeros(3)
    out = []
    for a, b in zip(a_bits, b_bits):
        h = (Wxh @ np.array([a, b], dtype=float) + Whh @ h + bh > 0).astype(float)
        out.append(int((Why @ h)[0] + by > 0))
    return out


# ---------------------------------------------------------------------------------------
# Univariate LSTM without biases


LSTM_KEYS = ("xi", "hi", "xf", "hf", "xo", "ho", "xg", "hg")


def _as_float(v):
    """A Python float from a number or a one-element tensor/array (detached, full
    precision: torch.as_tensor would round a Python float to float32)."""
    if isinstance(v, torch.Tensor):
        return v.detach().double().item()
    return float(v)


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def _lstm_steps(x, w):
    """Forward pass in Python floats; returns one dict of gate values per time step."""
    w = {k: _as_float(w[k]) for k in LSTM_KEYS}
    h, c = 0.0, 0.0
    steps = []
    for x_t in [_as_float(v) for v in x]:
        i = _sigmoid(w["xi"] * x_t + w["hi"] * h)
        f = _sigmoid(w["xf"] * x_t + w["hf"] * h)
        o = _sigmoid(w["xo"] * x_t + w["ho"] * h)
        g = math.tanh(w["xg"] * x_t + w["hg"] * h)
        c_new = f * c + i * g
        h_new = o * math.tanh(c_new)
        steps.append(dict(x=x_t, h_prev=h, c_prev=c, i=i, f=f, o=o, g=g, c=c_new, h=h_new))
        h, c = h_new, c_new
    return steps


def lstm_forward(x, w):
    """h(1..T) of the LSTM for inputs x (T,) and weights w (dict of 8 numbers)."""
    x = as_float_tensor(x)
    return torch.tensor([s["h"] for s in _lstm_steps(x, w)], dtype=x.dtype)


def lstm_forward_autograd(x, w):
    """The same LSTM forward in torch operations, differentiable in x and in each weight
    (a dict of numbers or 0-d tensors): the grader's gradient check differentiates this
    with autograd, so the expected dl/dw never comes from a hand-written derivative."""
    x = torch.as_tensor(x, dtype=torch.float64) if not torch.is_tensor(x) else x
    h = torch.zeros((), dtype=x.dtype)
    c = torch.zeros((), dtype=x.dtype)
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


def lstm_bptt(x, w, dl_dh):
    """dl/dw for the 8 weights, l = sum_t dl_dh[t] h(t), by backpropagation through time.

    Per step, going backwards with dh = dl_dh[t] + (gradient from step t+1) and
    dc = dh * o * (1 - tanh(c)^2) + (gradient from c(t+1) = f(t+1) * dc(t+1)):
    the gate pre-activations get dz_i = dc*g*i(1-i), dz_f = dc*c(t-1)*f(1-f),
    dz_o = dh*tanh(c)*o(1-o), dz_g = dc*i*(1-g^2); each w_x* gains dz*x(t), each w_h*
    gains dz*h(t-1), and h(t-1) receives sum over gates of dz * w_h*.
    """
    x = as_float_tensor(x)
    dl_dh = [_as_float(v) for v in as_float_tensor(dl_dh, like=x)]
    wf = {k: _as_float(w[k]) for k in LSTM_KEYS}
    steps = _lstm_steps(x, w)
    grads = {k: 0.0 for k in LSTM_KEYS}
    dh_next, dc_next = 0.0, 0.0
    for t in reversed(range(len(steps))):
        s = steps[t]
        tanh_c = math.tanh(s["c"])
        dh = dl_dh[t] + dh_next
        dc = dh * s["o"] * (1 - tanh_c ** 2) + dc_next
        dz = {
            "i": dc * s["g"] * s["i"] * (1 - s["i"]),
            "f": dc * s["c_prev"] * s["f"] * (1 - s["f"]),
            "o": dh * tanh_c * s["o"] * (1 - s["o"]),
            "g": dc * s["i"] * (1 - s["g"] ** 2),
        }
        for gate, d in dz.items():
            grads["x" + gate] += d * s["x"]
            grads["h" + gate] += d * s["h_prev"]
        dh_next = sum(d * wf["h" + gate] for gate, d in dz.items())
        dc_next = dc * s["f"]
    return {k: torch.tensor(v, dtype=x.dtype) for k, v in grads.items()}
