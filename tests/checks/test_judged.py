"""The judge cache (grader/checks/_judged.py) and the Section-8 curve kept in it.

A regrade reuses what the trusted judging computed from the exports (the curve of every
snapshot evaluated by the reference model, the reference shapes and initial weights, the
plot) and applies the rubric's numbers to it anew: the verdict must be the one computed
without the cache, a hit must not compute again, and a corrupted, foreign or malformed
entry must be recomputed, never used.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from grader.checks import _judged
from grader.checks import kind_loss_curve as lc
from reference.seq_classification import SimpleLSTM

SIZES = [8, 12, 4]


class Counter:
    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def _entry(cache: _judged.JudgeCache) -> list:
    return sorted(cache.root.rglob("*.json"))


def test_values_round_trip_exactly_and_a_hit_does_not_compute(tmp_path):
    cache = _judged.JudgeCache(tmp_path)
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3) / 3, "i": np.array([1, -2], dtype=np.int64),
             "loss": [0.1 + 0.2, float("nan"), float("inf")], "shape": (3, 4), "n": 7}
    compute = Counter(value)
    first = _judged.cached(cache, "t", compute, params={"p": 1})
    second = _judged.cached(cache, "t", compute, params={"p": 1})
    assert compute.calls == 1 and len(_entry(cache)) == 1
    for got in (first, second):
        assert got["a"].dtype == np.float32 and got["a"].tobytes() == value["a"].tobytes()
        assert got["i"].dtype == np.int64 and got["i"].tolist() == [1, -2]
        assert got["loss"][0] == 0.1 + 0.2 and math.isnan(got["loss"][1]) and got["loss"][2] == math.inf
        assert got["shape"] == [3, 4] and got["n"] == 7  # the stored form, on a miss as on a hit


def test_without_a_cache_the_value_is_computed_as_is(tmp_path):
    compute = Counter({"shape": (3, 4)})
    assert _judged.cached(None, "t", compute) == {"shape": (3, 4)}
    assert _judged.cached(None, "t", compute) == {"shape": (3, 4)} and compute.calls == 2


def test_the_key_covers_params_arrays_code_and_libraries():
    a = np.zeros(3, dtype=np.float32)
    base = _judged.key("t", {"p": 1}, {"x": a}, ("grader.checks._judged",), ("numpy",))
    assert base == _judged.key("t", {"p": 1}, {"x": a.copy()}, ("grader.checks._judged",), ("numpy",))
    assert base != _judged.key("u", {"p": 1}, {"x": a}, ("grader.checks._judged",), ("numpy",))
    assert base != _judged.key("t", {"p": 2}, {"x": a}, ("grader.checks._judged",), ("numpy",))
    assert base != _judged.key("t", {"p": 1}, {"x": a + 1}, ("grader.checks._judged",), ("numpy",))
    assert base != _judged.key("t", {"p": 1}, {"x": a.astype(np.float64)}, ("grader.checks._judged",), ("numpy",))
    assert base != _judged.key("t", {"p": 1}, {"x": a.reshape(3, 1)}, ("grader.checks._judged",), ("numpy",))
    assert base != _judged.key("t", {"p": 1}, {"x": a}, ("grader.checks._judged", "grader.checks.base"), ("numpy",))
    assert base != _judged.key("t", {"p": 1}, {"x": a}, ("grader.checks._judged",), ("numpy", "torch"))


@pytest.mark.parametrize("damage", ["value", "key", "garbage", "malformed"])
def test_a_corrupted_foreign_or_malformed_entry_is_recomputed(tmp_path, damage):
    cache = _judged.JudgeCache(tmp_path)
    compute = Counter({"loss": [1.0, 0.5]})
    valid = lambda v: isinstance(v.get("loss"), list) and len(v["loss"]) == 2  # noqa: E731
    _judged.cached(cache, "t", compute, params=1, valid=valid)
    (path,) = _entry(cache)
    entry = json.loads(path.read_text())
    if damage == "value":  # edited after it was stored: the hash no longer matches
        entry["value"]["loss"][1] = 0.0
        path.write_text(json.dumps(entry))
    elif damage == "key":  # another computation's entry under this name
        other = _judged.key("t", 2)
        entry["key"] = other
        path.write_text(json.dumps(entry))
    elif damage == "garbage":
        path.write_bytes(b"\x00not json")
    else:  # hash and key fine, but not the shape the caller needs
        entry["value"] = {"loss": [1.0]}
        entry["sha256"] = __import__("hashlib").sha256(_judged._canonical(entry["value"])).hexdigest()
        path.write_text(json.dumps(entry))
    assert _judged.cached(cache, "t", compute, params=1, valid=valid) == {"loss": [1.0, 0.5]}
    assert compute.calls == 2
    assert json.loads(path.read_text())["value"] == {"loss": [1.0, 0.5]}  # stored again, verified
    assert _judged.cached(cache, "t", compute, params=1, valid=valid) == {"loss": [1.0, 0.5]} and compute.calls == 2


# -- the Section-8 curve ---------------------------------------------------------------

class Ctx:
    def __init__(self, cache):
        self.judge_cache, self.reference_cache = cache, {}

    def reference(self, key, compute):
        if key not in self.reference_cache:
            self.reference_cache[key] = compute()
        return self.reference_cache[key]


@pytest.fixture(scope="module")
def export():
    """A format-1 export (tests' hand-built format) of the seeded SimpleLSTM and 4 SGD steps."""
    torch.manual_seed(1)
    model = SimpleLSTM(*SIZES)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    g = torch.Generator().manual_seed(0)
    snaps = [{k: v.detach().numpy().copy() for k, v in model.state_dict().items()}]
    for _ in range(4):
        x, y = torch.randn(16, 6, SIZES[0], generator=g), torch.randint(0, SIZES[2], (16,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        snaps.append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    names = list(snaps[0])
    arrays = {f"s{i}": np.stack([s[n] for s in snaps]).astype(np.float32) for i, n in enumerate(names)}
    return {"names": names, "runs": [{"steps": 4}], "steps": 4, "at": [0, 1, 2, 3, 4]}, arrays


def _params(**kw):
    return {"sizes": SIZES, "seed": 1, "steps_per_snapshot": 1, "min_epochs": 0, "min_accuracy": 0.0, "plot": True, **kw}


def _verdict(res):
    return res.fraction, res.status, res.feedback, json.dumps(res.evidence, sort_keys=True, default=str)


@pytest.mark.parametrize("max_rise", [0.2, 0.0])  # the lab's threshold, and one no real curve meets
def test_the_curve_from_the_cache_gives_the_verdict_computed_without_it(tmp_path, export, monkeypatch, max_rise):
    meta, arrays = export
    cache = _judged.JudgeCache(tmp_path)
    fresh = lc.judge_export(meta, arrays, _params(max_rise=max_rise), Ctx(None), None)
    # the values were stored by a grading with another threshold (a rubric fix came since)
    first = lc.judge_export(meta, arrays, _params(max_rise=0.5), Ctx(cache), None)
    stored = len(_entry(cache))
    assert stored >= 3 and first.evidence["curve"]["loss"]  # curve, shapes, initial weights (+ plot)

    def refuse(*_a, **_k):
        raise AssertionError("computed again although it was cached")
    monkeypatch.setattr(lc, "evaluate_snapshots", refuse)
    monkeypatch.setattr(lc, "reference_shapes", refuse)
    monkeypatch.setattr(lc, "reference_init", refuse)
    regraded = lc.judge_export(meta, arrays, _params(max_rise=max_rise), Ctx(cache), None)
    assert _verdict(regraded) == _verdict(fresh)
    assert regraded.status == ("failed" if max_rise == 0.0 else fresh.status)


def test_other_snapshots_miss_the_cache(tmp_path, export, monkeypatch):
    meta, arrays = export
    cache = _judged.JudgeCache(tmp_path)
    lc.judge_export(meta, arrays, _params(plot=False), Ctx(cache), None)
    calls = []
    real = lc.evaluate_snapshots
    monkeypatch.setattr(lc, "evaluate_snapshots", lambda *a, **k: calls.append(1) or real(*a, **k))
    changed = {k: v.copy() for k, v in arrays.items()}
    changed["s0"][-1].flat[0] += 1e-3  # one weight of the last snapshot
    lc.judge_export(meta, changed, _params(plot=False), Ctx(cache), None)
    assert calls == [1]
    assert lc.judge_export(meta, changed, _params(plot=False), Ctx(None), None).evidence["curve"] == \
        lc.judge_export(meta, changed, _params(plot=False), Ctx(cache), None).evidence["curve"]
