"""The echo items score the grader's own argmax of forward's logits; validation accuracy is
measured on images only the grader can draw. Judges only: no kernels, no probes."""
import numpy as np

from grader.checks import _exports as ex
from grader.checks import _integrity as integ
from grader.checks import kind_trained_model as tm
from grader.checks import kind_validation_accuracy as va


def _echo_logits(strings, delays, members, time_first=False, scale=10.0):
    """What a perfect model's forward returns for the grader's groups."""
    out = []
    for chunk in members:
        T = len(strings[chunk[0]])
        y = np.zeros((len(chunk), T, 27), dtype=np.float32)
        for b, i in enumerate(chunk):
            s, d = strings[i], delays[i]
            for t in range(T):
                y[b, t, 0 if t < d else ord(s[t - d]) - 96] = scale
        out.append(y.transpose(1, 0, 2).copy() if time_first else y)
    return out


def test_groups_are_the_graders_own_one_hot_inputs():
    strings, _ = tm.make_strings(3, 40, (15, 25), None)
    groups, members = tm.make_groups(strings, [None] * len(strings))
    assert sorted(i for m in members for i in m) == list(range(40))
    for g, m in zip(groups, members):
        assert g["onehot"].shape == (len(m), len(strings[m[0]]), 27) and "delays" not in g
        assert all(len(strings[i]) == len(strings[m[0]]) for i in m)
        assert g["index"][0].tolist() == [ord(c) - 96 for c in strings[m[0]]]
        assert len(m) != len(strings[m[0]]) or len(m) == 1  # (B, T) and (T, B) can be told apart


def test_perfect_logits_echo_in_any_layout_and_test_run_is_not_needed():
    strings, delays = tm.make_strings(4, 60, (20, 20), (0, 8))
    groups, members = tm.make_groups(strings, delays)
    for time_first in (False, True):
        outs = {"onehot": {"error": "TypeError: nope"}, "index": _echo_logits(strings, delays, members, time_first)}
        layout, acc, preds, why = tm.best_layout(outs, members, strings, delays)
        assert layout == "index" and acc == 1.0 and "forward fails on one-hot (B, T, 27): TypeError: nope" in why
        assert preds[0] == " " * delays[0] + strings[0][:len(strings[0]) - delays[0]]


def test_unreadable_outputs_are_reported_not_guessed():
    strings, _ = tm.make_strings(5, 10, (15, 15), None)
    delays = [4] * 10
    _, members = tm.make_groups(strings, [None] * 10)
    bad = [np.zeros((len(m), 15, 26), dtype=np.float32) for m in members]
    preds, why = tm.read_predictions(bad, "onehot", members, strings)
    assert preds is None and "expected (B, T, 27)" in why
    preds, why = tm.read_predictions(bad[:0], "onehot", members, strings)
    assert preds is None
    nan = _echo_logits(strings, delays, members)
    nan[0][0, 5] = np.nan
    preds, _ = tm.read_predictions(nan, "onehot", members, strings)
    assert preds[members[0][0]][5] == "?"  # a NaN row is never the right letter


def test_the_weights_control_keeps_values_and_loses_structure(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"gru.weight": rng.standard_normal((6, 4)), "linear.bias": rng.standard_normal(3), "count": np.array(7)}
    ex.shuffled_weights(arrays, list(arrays), 11, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as z:
        w = z["p0"]
        assert w.shape == (6, 4) and not np.array_equal(w, arrays["gru.weight"])
        assert np.array_equal(np.sort(w, axis=None), np.sort(arrays["gru.weight"], axis=None))
        assert int(z["p2"]) == 7


def test_private_seed_is_keyed_by_the_graders_secret(monkeypatch):
    monkeypatch.setattr(integ, "_SECRET", None)
    monkeypatch.setenv("DL_GRADER_SECRET", "one")
    a = integ.private_seed("validation_accuracy", 2026, "hw2_cnn.validation_accuracy")
    assert a == integ.private_seed("validation_accuracy", 2026, "hw2_cnn.validation_accuracy")
    assert a != integ.private_seed("validation_accuracy", 2026, "other")
    monkeypatch.setattr(integ, "_SECRET", None)
    monkeypatch.setenv("DL_GRADER_SECRET", "two")
    assert a != integ.private_seed("validation_accuracy", 2026, "hw2_cnn.validation_accuracy")
    monkeypatch.setattr(integ, "_SECRET", None)


def test_secret_file_is_private_and_reused(monkeypatch, tmp_path):
    import os
    import stat

    monkeypatch.setattr(integ, "_SECRET", None)
    monkeypatch.delenv("DL_GRADER_SECRET", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    key = integ.grader_secret()
    path = integ.secret_file()
    assert path.read_bytes() == key and len(key) == 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    monkeypatch.setattr(integ, "_SECRET", None)
    assert integ.grader_secret() == key
    monkeypatch.setattr(integ, "_SECRET", None)


def test_private_images_are_not_the_split_the_notebook_loads():
    x, y = va.private_images(12345, 50, 32)
    kx, ky = va.dataset(0, "validation", 32)
    assert x.shape == (50, 3, 32, 32) and set(np.unique(y)) <= {0, 1}
    d = ((x[:, None] - kx[None]) ** 2).reshape(50, len(kx), -1).mean(-1)
    assert d.min() > 1e-3  # no image of the private split is one the notebook could have stored
