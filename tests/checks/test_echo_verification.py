"""The echo items score what the grader computes from the model's weights, not what the
student's forward says (issue 12, attack echo_control_fingerprint): the grader reads a
standard layout from the exported state_dict, runs it itself (_integrity.verify_echo) and
requires forward to agree. Judges only: no kernels, no probe processes (the probe is
replaced by an in-process stand-in that runs a torch module as the student's forward)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from grader.checks import _exports as ex
from grader.checks import _integrity as integ
from grader.checks import kind_trained_model as tm

F = torch.nn.functional


class Echo(torch.nn.Module):
    """A configurable standard echo model (what the grader must recompute exactly)."""

    def __init__(self, H=16, mode="GRU", layers=1, bidir=False, emb=False, var=False, D=8, delay_in=False, bias=True):
        super().__init__()
        self.emb = torch.nn.Embedding(30, 12) if emb else None
        n_in = (12 if emb else 27) + (D + 1 if delay_in else 0)
        self.rnn = getattr(torch.nn, mode)(n_in, H, num_layers=layers, bidirectional=bidir, batch_first=True, bias=bias)
        self.D, self.var, self.delay_in = D, var, delay_in
        self.head = torch.nn.Linear(H * (2 if bidir else 1), 27 * (D + 1 if var and not delay_in else 1))

    def forward(self, idx, delays=None):
        x = self.emb(idx) if self.emb is not None else F.one_hot(idx, 27).float()
        B, T = idx.shape
        if self.delay_in:
            x = torch.cat([x, F.one_hot(delays, self.D + 1).float()[:, None].expand(B, T, -1)], -1)
        y = self.head(self.rnn(x)[0])
        if self.var and not self.delay_in:
            y = y.view(B, T, self.D + 1, 27).gather(2, delays.view(B, 1, 1, 1).expand(-1, T, 1, 27)).squeeze(2)
        return y


def _inputs(n=60, variable=False, seed=1):
    strings, delays = tm.make_strings(seed, n, (10, 14), (0, 8) if variable else None)
    if not variable:
        delays = [2] * n
    groups, members = tm.make_groups(strings, delays if variable else [None] * n)
    return strings, delays, groups, members


def _np_groups(groups):
    return [(g["index"].numpy(), g["delays"].numpy() if "delays" in g else None) for g in groups]


def _arrays(m):
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("kw", [{}, {"mode": "LSTM"}, {"layers": 2}, {"bidir": True}, {"emb": True}, {"bias": False},
                                {"var": True}, {"var": True, "delay_in": True}],
                         ids=["gru", "lstm", "two_layers", "bidirectional", "embedding", "no_bias", "delay_heads", "delay_input"])
def test_the_graders_recomputation_is_the_modules_own(kw):
    torch.manual_seed(0)
    m = Echo(**kw).eval()
    var = kw.get("var", False)
    strings, delays, groups, members = _inputs(variable=var)
    layouts, unused, why = integ.echo_layouts(_arrays(m), var, 8)
    assert layouts and not unused and not why
    ok = False
    for lay in layouts:  # one reading reproduces forward's logits (float32 vs the grader's float64)
        diffs = []
        for g, (ix, dl) in zip(groups, _np_groups(groups)):
            with torch.no_grad():
                want = m(g["index"], g.get("delays")).numpy()
            diffs.append(np.abs(integ.echo_recompute(lay, _arrays(m), ix, dl) - want).max())
        ok |= max(diffs) < 1e-4
    assert ok


def _fwd_preds(m, groups, members, echo=False, strings=None, delays=None):
    out = {}
    for g, chunk in zip(groups, members):
        with torch.no_grad():
            y = m(g["index"], g.get("delays")).numpy()
        for b, i in enumerate(chunk):
            out[i] = (" " * delays[i] + strings[i][:len(strings[i]) - delays[i]]) if echo else integ.echo_decode(y[b])
    return out


def test_forward_that_agrees_is_verified_and_one_that_echoes_on_its_own_is_not():
    torch.manual_seed(0)
    m = Echo().eval()
    strings, delays, groups, members = _inputs()
    honest = integ.verify_echo(_arrays(m), _np_groups(groups), members, _fwd_preds(m, groups, members), False, None)
    assert honest.ok and honest.agreement == 1.0 and "nn.GRU `rnn`" in honest.layout
    assert honest.preds == _fwd_preds(m, groups, members)
    # the same untrained weights, a forward claiming a perfect echo: the grader's own GRU does not echo
    claim = _fwd_preds(m, groups, members, echo=True, strings=strings, delays=delays)
    v = integ.verify_echo(_arrays(m), _np_groups(groups), members, claim, False, None)
    assert not v.ok and v.agreement < 0.2 and "not what the model's own weights compute" in v.reason
    acc, _ = tm.echo_accuracy(strings, delays, [v.preds[i] for i in range(len(strings))])
    assert acc < 0.2  # what the weights compute: chance


def test_layouts_the_grader_cannot_read_are_named():
    torch.manual_seed(0)
    two_step_head = {**{k: v for k, v in _arrays(Echo()).items() if not k.startswith("head.")},
                     "fc1.weight": np.zeros((32, 16), np.float32), "fc1.bias": np.zeros(32, np.float32),
                     "fc2.weight": np.zeros((27, 32), np.float32), "fc2.bias": np.zeros(27, np.float32)}
    layouts, _, why = integ.echo_layouts(two_step_head, False, None)
    assert not layouts and "no nn.Linear read-out from the 16 features" in why[0]
    proj = _arrays(torch.nn.LSTM(27, 16, proj_size=8))
    assert "proj_size" in integ.echo_layouts(proj, False, None)[2][0]
    odd = {**_arrays(Echo()), "rnn.weight_ih_l1": np.zeros((48, 16), np.float32)}  # a layer without its other weights
    assert "not those of an nn.GRU" in integ.echo_layouts(odd, False, None)[2][0]
    two = {**{"a." + k: v for k, v in _arrays(torch.nn.GRU(27, 16)).items()},
           **{"b." + k: v for k, v in _arrays(torch.nn.GRU(27, 16)).items()}, "h.weight": np.zeros((27, 16)), "h.bias": np.zeros(27)}
    assert "2 recurrent modules" in integ.echo_layouts(two, False, None)[2][0]
    # a variable-delay model must read the delay where the grader can see it
    fixed = _arrays(Echo())
    assert not integ.echo_layouts(fixed, True, 8)[0] and integ.echo_layouts(fixed, False, None)[0]
    # a state entry no reading uses is listed, not silently accepted
    with_buffer = {**fixed, "calib": np.array([0.5], np.float32)}
    assert integ.echo_layouts(with_buffer, False, None)[1] == ["calib"]
    # too large to recompute within the budget: unverified, not guessed
    strings, delays, groups, members = _inputs()
    m = Echo().eval()
    big = integ.verify_echo(_arrays(m), _np_groups(groups), members, _fwd_preds(m, groups, members), False, None, max_flops=10)
    assert not big.ok and "too large" in big.reason


# --------------------------------------------------------------------------------------
# the kind end to end, with an in-process stand-in for the probe


class Fingerprint(torch.nn.Module):
    """The attack: an untrained GRU whose forward hand-codes the echo while a one-number
    buffer matches weight_ih_l0[0, 0] (the grader's shuffle leaves one-entry tensors alone)."""
    DELAY = 2

    def __init__(self, H=16):
        super().__init__()
        self.gru = torch.nn.GRU(27, H, batch_first=True)
        self.linear = torch.nn.Linear(H, 27)
        self.register_buffer("calib", self.gru.weight_ih_l0.detach()[0, :1].clone())

    def forward(self, x):
        logits = self.linear(self.gru(x)[0])
        if torch.equal(self.gru.weight_ih_l0.detach()[0, :1], self.calib):
            shifted = torch.zeros_like(x)
            shifted[:, self.DELAY:] = x[:, :-self.DELAY]
            shifted[:, :self.DELAY, 0] = 1
            logits = logits + 50 * shifted
        return logits


class Plain(torch.nn.Module):
    def __init__(self, H=16):
        super().__init__()
        self.gru = torch.nn.GRU(27, H, batch_first=True)
        self.linear = torch.nn.Linear(H, 27)

    def forward(self, x):
        return self.linear(self.gru(x)[0])


class TwoStepHead(Fingerprint):
    """A read-out the grader does not recompute (Linear -> Linear), with a hand-coded echo."""

    def __init__(self, H=16):
        super().__init__(H)
        del self.linear
        self.fc1, self.fc2 = torch.nn.Linear(H, 32), torch.nn.Linear(32, 27)
        self.linear = lambda h: self.fc2(self.fc1(h))


@pytest.fixture(scope="module")
def trained():
    """GRU(27, 32) + Linear trained to echo with delay 2 (about 2 s on one thread)."""
    torch.manual_seed(0)
    m = Plain(32)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for step in range(600):
        idx = torch.randint(1, 27, (64, 12))
        tgt = torch.zeros_like(idx)
        tgt[:, 2:] = idx[:, :-2]
        out = m(F.one_hot(idx, 27).float())
        loss = F.cross_entropy(out.reshape(-1, 27), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 49 and (out.argmax(-1) == tgt).float().mean() == 1.0:
            break
    return m.eval()


def _grade(monkeypatch, tmp_path, model, control=True):
    """Run TrainedModel.run on `model` as if the notebook had trained and exported it."""
    names = list(model.state_dict())
    arrays = _arrays(model)
    npz = tmp_path / "weights.npz"
    np.savez(npz, **{f"p{i}": arrays[n] for i, n in enumerate(names)})
    meta = {"class": "GRUMemory", "variable": "model", "init_args": {"hidden_size": 16}, "attrs": {},
            "signatures": {"__init__": [["self", "POSITIONAL_OR_KEYWORD", False], ["hidden_size", "POSITIONAL_OR_KEYWORD", False]]}}
    monkeypatch.setattr(ex, "load_trained", lambda ctx, item, var, max_params: ex.ModelExport(meta=meta, names=names, arrays=arrays, npz=npz))

    def forward_with(weights_file, groups, n):
        m = model
        if weights_file != "weights.npz":
            import copy
            m = copy.deepcopy(model)
            with np.load(weights_file) as z:
                m.load_state_dict({k: torch.from_numpy(np.array(z[f"p{i}"])) for i, k in enumerate(names)})
        with torch.no_grad():
            res = [m(g["onehot"]).numpy() for g in groups[:n]]
        return {"onehot": res, "onehot_tb": {"error": "x"}, "index": {"error": "x"}, "index_tb": {"error": "x"}}

    def probe(ctx, targets, calls, exclude, source, files=None):
        out = []
        for c in calls:
            if c.fn == "__grader_echo":  # test_run's strings: a claim (here a perfect echo)
                strings = c.args[3]
                out.append(SimpleNamespace(ok=True, value=["  " + s[:-2] for s in strings], error=None, traceback=None))
            elif c.fn == "__grader_echo_diag":
                out.append(SimpleNamespace(ok=True, value={}, error=None, traceback=None))
            else:
                groups, wfile, n = c.args[3], c.args[6], c.args[7]
                path = wfile if wfile == "weights.npz" else files["control.npz"]
                out.append(SimpleNamespace(ok=True, value=forward_with(path, groups, n), error=None, traceback=None))
        return out

    monkeypatch.setattr(ex, "probe_module", probe)
    ctx = SimpleNamespace(seed_for=lambda item, salt="": 1234 + len(salt), extraction=None)
    item = SimpleNamespace(id="hw2_rnn.GRUMemory", target="GRUMemory",
                           params={"mode": "fixed_delay", "delay": 2, "length": [10, 14], "n_strings": 200, "weights_control": control})
    return tm.TrainedModel().run(ctx, item)


def test_fingerprinted_forward_is_pending_not_points(monkeypatch, tmp_path):
    torch.manual_seed(0)
    r = _grade(monkeypatch, tmp_path, Fingerprint().eval())
    assert r.status == "pending" and r.fraction == 0, r.feedback
    assert "not what the model's own weights compute" in r.feedback and "calib" in r.feedback
    ev = r.evidence
    assert ev["forward_accuracy"] == 1.0 and ev["recomputed"]["verified"] is False and ev["recomputed"]["agreement"] < 0.2
    assert ev["recomputed"]["unused_state"] == ["calib"]


def test_the_old_control_alone_is_fooled_by_the_fingerprint(monkeypatch, tmp_path):
    """Why recomputation is needed: the shuffled-weights control sees the untrained GRU."""
    torch.manual_seed(0)
    m = Fingerprint().eval()
    # recomputation switched off: "verified" with forward's own predictions (argument 3)
    monkeypatch.setattr(integ, "verify_echo", lambda *a, **k: integ.EchoVerification(True, layout="(off)", agreement=1.0, preds=a[3]))
    r = _grade(monkeypatch, tmp_path, m)
    assert r.status == "passed" and r.fraction == 1.0 and r.evidence["control_accuracy"] < 0.2


def test_an_unreadable_layout_that_echoes_is_pending(monkeypatch, tmp_path):
    torch.manual_seed(0)
    r = _grade(monkeypatch, tmp_path, TwoStepHead().eval())
    assert r.status == "pending" and r.fraction == 0
    assert "no nn.Linear read-out" in r.feedback and r.evidence["recomputed"]["verified"] is False


def test_untrained_fails_and_trained_passes_on_the_graders_computation(monkeypatch, tmp_path, trained):
    torch.manual_seed(0)
    r = _grade(monkeypatch, tmp_path, Plain().eval())
    assert r.status == "failed" and r.fraction == 0 and r.evidence["recomputed"]["verified"] is True
    assert r.evidence["accuracy"] < 0.2 and r.evidence["test_run_accuracy"] == 1.0  # test_run's claim is not scored
    r = _grade(monkeypatch, tmp_path, trained)
    assert r.status == "passed" and r.fraction == 1.0, r.feedback
    ev = r.evidence
    assert ev["recomputed"]["verified"] and ev["recomputed"]["agreement"] >= 0.99 and ev["accuracy"] >= 0.99
    assert "computed by the grader from your weights as one-hot letters (27) -> nn.GRU `gru` (hidden 32)" in r.feedback
