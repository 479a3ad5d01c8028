"""res/ support files: self-contained, deterministic, shaped like the lab expects."""
import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from factories import array_digest as _digest, odd_generator_cases
from reference.res import image_data
from reference.res import sequential_tasks as st
from reference.res.sequential_tasks import TemporalOrderExp6aSequence as QRSU

RES = Path(image_data.__file__).parent


def test_res_modules_import_only_stdlib_numpy_torch_matplotlib():
    allowed = {"numpy", "torch", "matplotlib", "enum", "os", "math", "random"}
    for path in RES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, (path.name, roots)


def test_moderate_generator_matches_the_lab():
    gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.MODERATE, 32)
    assert len(gen) == 31 and gen.n_symbols == 8 and gen.n_classes == 4
    x, y = gen[0]
    assert x.shape == (32, 80, 8) and y.shape == (32, 4)
    for seq, label in zip(gen.decode_x_batch(x), gen.decode_y_batch(y)):
        assert 60 <= len(seq) <= 79 and seq[0] == "B" and seq[-1] == "E"
        relevant = [(i, s) for i, s in enumerate(seq) if s in "XY"]
        assert len(relevant) == 2
        (t1, s1), (t2, s2) = relevant
        assert 10 <= t1 <= 19 and 45 <= t2 <= 53
        assert label == {"XX": "Q", "XY": "R", "YX": "S", "YY": "U"}[s1 + s2]
    # Pre-padding: the real sequence ends at the last row.
    assert np.all(x[:, -1].sum(axis=1) == 1)


def test_generators_are_seeded_and_draw_fresh_batches():
    a = QRSU.get_predefined_generator(QRSU.DifficultyLevel.MODERATE, 32)
    first, second = a[0][0], a[0][0]
    b = QRSU.get_predefined_generator(QRSU.DifficultyLevel.MODERATE, 32)
    assert np.array_equal(first, b[0][0]) and not np.array_equal(first, second)


def test_explicit_rng_leaves_the_global_stream_alone():
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    QRSU.get_predefined_generator(QRSU.DifficultyLevel.EASY, 8, rng=np.random.RandomState(1))[0]
    assert np.random.rand() == expected


class _General(QRSU):
    """A subclass: goes through generate_pair and the per-symbol encoding."""


def _predefined(cls, level, batch_size, rng=None):
    gen = QRSU.get_predefined_generator(level, batch_size, rng=rng)
    gen.__class__ = cls
    return gen


@pytest.mark.parametrize("cls", [QRSU, _General], ids=["fast", "general"])
def test_both_batch_paths_draw_the_pinned_stream(cls):
    """Golden values measured on the generator before its fast path existed (2026-12-03,
    per-pair strings, numpy 2.x): Section 8's two generators on the global stream, and an
    EASY generator on its own RandomState; both paths must keep them, next draws included."""
    train = _predefined(cls, QRSU.DifficultyLevel.MODERATE, 32)
    test = _predefined(cls, QRSU.DifficultyLevel.MODERATE, 32)
    assert st._plain(train) is (cls is QRSU)
    arrays = [a for g in (train, test) for i in range(len(g)) for a in g[i]]
    assert _digest(arrays) == "d3af727e01ea28c671e2ce2ebc2e173ca3665cda98e40134a8a3e07a2e7916e3"
    assert np.random.random() == 0.7304110206687338
    own = _predefined(cls, QRSU.DifficultyLevel.EASY, 8, rng=np.random.RandomState(3))
    assert _digest([a for i in range(5) for a in own[i]]) == "9c94d4b3e84e76d4b74d3cad63abc9ea1fced8bbbd0504dce83bc031d4735e29"
    assert own.rng.random_sample() == 0.8389034121342953


def test_fast_path_equals_the_general_one_on_odd_ranges():
    for length, t1, t2, size, seed in odd_generator_cases():
        out = []
        for cls in (QRSU, _General):
            gen = cls(["X", "Y"], ["a", "b", "c", "d"], "B", "E", length, t1, t2, batch_size=size, rng=np.random.RandomState(seed))
            try:
                out.append((_digest([a for i in range(2) for a in gen[i]]), gen.rng.random_sample()))
            except IndexError:  # t1 or t2 past the end: both paths fail alike, after the same draws
                out.append(("IndexError", gen.rng.random_sample()))
        assert out[0] == out[1], (length, t1, t2)


def test_a_changed_generator_takes_the_general_path():
    gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.EASY, 4)
    assert st._plain(gen)
    gen.padded_length = 5  # shorter than a sequence: the general path's error, not a wrapped row
    assert not st._plain(gen)
    gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.EASY, 4)
    gen.generate_pair = lambda: ("BXYE", "R")
    assert not st._plain(gen) and gen.decode_x_batch(gen[0][0])[0] == "BXYE"


def test_image_data_is_deterministic_and_balanced():
    train, val, test = image_data.get_datasets(seed=0, n_train=200, n_val=50, n_test=50)
    again, _, _ = image_data.get_datasets(seed=0, n_train=200, n_val=50, n_test=50)
    assert torch.equal(train.tensors[0], again.tensors[0])
    images, labels = train.tensors
    assert images.shape == (200, 3, 32, 32) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and 0.3 < labels.float().mean() < 0.7
    assert not torch.equal(val.tensors[0], test.tensors[0])


def test_plot_lib_runs_headless(capsys):
    from reference.res import plot_lib
    gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.EASY, 2)
    x, _ = gen[0]
    plot_lib.print_colourbar()
    plot_lib.plot_state(x, np.zeros((2, x.shape[1], 3)), 0, gen)
    assert "h[2]" in capsys.readouterr().out
