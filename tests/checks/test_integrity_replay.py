"""cnn_architecture's evidence: a traced forward pass counts only as replayed by the grader
(grader/checks/_integrity.py). The probe side runs here in-process on small models; what
crosses the boundary is made plain data first, as the probe would."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from grader.checks import _integrity as integ
from grader.checks import kind_cnn_architecture as arch

SEED = 7


def _plain(v):
    """Numbers, strings, lists and dicts as JSON carries them; arrays stay arrays."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, torch.Tensor):
        return v.detach().numpy()
    if isinstance(v, np.ndarray):
        return v
    return json.loads(json.dumps(v))


def verify(cls, sizes=((32, 32),), tamper=None):
    ns = {"M": cls}
    exec(integ.CNN_VERIFY_SOURCE, ns)
    g = torch.Generator().manual_seed(0)
    xs = [torch.rand(2, 3, h, w, generator=g) for h, w in sizes]
    info = _plain(ns["__grader_cnn_verify"]("M", xs, SEED, 10**7, 3000))
    if tamper:
        tamper(info)
    reps = [integ.verified_trace(info, t, x.numpy(), SEED, 10**7) for t, x in zip(info["traces"], xs)]
    return info, reps


def facts(info, rep):
    assert rep.ok, rep.reason
    return arch.analyse({"nodes": rep.nodes, "modules": info["modules"]})


class Res(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        x = torch.relu(self.bn(self.c1(x)))
        x = x + torch.relu(self.c2(x))
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(x.mean((2, 3)))


class Decorative(nn.Module):
    """One linear layer that really answers; convolutions with weights made on the fly,
    and a residual 'branch' multiplied by zero."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        w = torch.ones(8, 3, 3, 3)
        y = nn.functional.conv2d(x, w, padding=1)            # not a parameter
        z = nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)  # a parameter, but dead
        return self.fc(x.mean((2, 3))) + 0.0 * (y.mean() + z.mean())


class NoisyForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x.mean((2, 3))) + torch.randn(2, 2)


class Forger(nn.Module):
    """A single linear layer whose forward writes a CNN into the tracer's record."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        import sys
        f = sys._getframe(1)
        while f is not None:
            nodes = f.f_locals.get("nodes")
            if isinstance(nodes, list) and nodes and isinstance(nodes[0], dict) and nodes[0].get("op") == "<input>":
                nodes.append({"op": "conv2d", "ns": "F", "args": [{"n": [0, 0]}, {"p": "fc.weight"}], "kw": {}, "nout": 1})
                break
            f = f.f_back
        return self.fc(x.mean((2, 3)))


def test_a_real_cnn_is_verified_with_every_part():
    info, (r32, r64) = verify(Res, ((32, 32), (64, 64)))
    f = facts(info, r32)
    assert f["n_conv_weights"] == 2 and f["batch_norm"] == 1 and f["activations"] == ["relu"]
    assert f["pooling"] == ["max_pool2d"] and f["linear"] == 1 and f["residual"]["convs_on_branches"] == [0, 1]
    assert r64.ok and r64.output.shape == (2, 2) and r32.notes == []


def test_the_reference_solution_is_verified():
    from reference.cnn import CNN

    info, (rep,) = verify(CNN)
    f = facts(info, rep)
    assert f["n_conv_weights"] == 5 and f["residual"]["convs_on_branches"] == [0, 2] and f["linear"] == 1


def test_decorative_convolutions_and_dead_branches_do_not_count():
    info, (rep,) = verify(Decorative)
    f = facts(info, rep)
    assert f["n_conv_weights"] == 0 and not f["pooling"] and not f["activations"] and f["residual"] is None
    assert f["linear"] == 1
    assert any("not a parameter" in n for n in rep.notes) or any("no gradient" in n for n in rep.notes)


def test_a_record_written_by_the_forward_does_not_verify():
    info, (rep,) = verify(Forger)
    assert not rep.ok and "replay" in rep.reason


def test_a_record_that_does_not_reproduce_the_output_does_not_verify():
    def tamper(info):
        info["traces"][0]["out"] = info["traces"][0]["out"] + 1.0  # the claimed output is not what the record computes

    info, (rep,) = verify(Res, tamper=tamper)
    assert not rep.ok and "does not reproduce" in rep.reason


def test_randomness_and_unknown_calls_are_unverifiable_not_replayed():
    _, (rep,) = verify(NoisyForward)
    assert not rep.ok and "randn" in rep.reason

    def tamper(info):
        info["traces"][0]["nodes"][1]["op"] = "from_file"
        info["traces"][0]["nodes"][1]["ns"] = "torch"

    _, (rep,) = verify(Res, tamper=tamper)
    assert not rep.ok and "from_file" in rep.reason
    assert integ.resolve("torch", "save") is None and integ.resolve("Tensor", "backward") is None
    assert integ.resolve("Tensor", "numpy") is None and integ.resolve("F", "conv2d") is torch.nn.functional.conv2d


def test_sizes_that_would_blow_up_the_replay_are_refused():
    with pytest.raises(integ._Unverifiable):
        integ._guard_sizes([[100000, 100000, 100]])
    with pytest.raises(integ._Unverifiable):
        integ._guard_sizes([10**12])
    integ._guard_sizes([[2, 8, 32, 32], 3, 1.5])


def test_parameter_values_are_the_graders_own_and_reproducible():
    a = integ.param_values(3, "conv.weight", (4, 3, 3, 3))
    assert a.dtype == np.float32 and np.array_equal(a, integ.param_values(3, "conv.weight", (4, 3, 3, 3)))
    assert not np.array_equal(a, integ.param_values(4, "conv.weight", (4, 3, 3, 3)))
    assert abs(float(integ.param_values(3, "bn.weight", (64,)).mean()) - 1.0) < 0.1  # scale-like vectors near 1
