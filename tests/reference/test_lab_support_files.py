"""reference/lab/res: the LAB-FAITHFUL support files for the original 08 lab notebook.

Real submissions of 08-seq_classification.ipynb import `res.sequential_tasks` and
`res.plot_lib` and seed numpy's global generator through get_predefined_generator; the
grader must give them batches bit-identical to the course's module, or a student's
seeded Section-8 training is not the one they ran.

The golden values below were computed on 2026-12-01 by running the COURSE'S OWN
res/sequential_tasks.py (Atcold/NYU-DLSP20 at 3049c832, numpy 2.4.6) from a scratch
directory outside this repository (its `six` import satisfied by a one-line shim
`string_types = (str,)`), with exactly tests/factories.array_digest. Nothing of the
course's code is in this repository.
"""
import ast
import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from factories import array_digest as digest, odd_generator_cases

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[2]
RES = ROOT / "reference" / "lab" / "res"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_lab_res_{name}", RES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


st = _load("sequential_tasks")
pl = _load("plot_lib")
QRSU = st.TemporalOrderExp6aSequence


def facts(gen, x, y, k=4):
    """(length, t1, t2, class) of the first k sequences of a batch."""
    out = []
    for s, c in zip(gen.decode_x_batch(x[:k]), gen.decode_y_batch(y[:k])):
        pos = [i for i, ch in enumerate(s) if ch in "XY"]
        out.append((len(s), pos[0], pos[1], c))
    return out


# 1. The random stream ------------------------------------------------------------------

def test_seeded_moderate_stream_is_the_labs():
    gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.MODERATE, batch_size=32, seed=8382)
    batches = [gen[i] for i in range(3)]
    assert batches[0][0].dtype == np.int32 and batches[0][0].shape == (32, 81, 8)
    assert batches[0][1].dtype == np.float32 and batches[0][1].shape == (32, 4)
    assert facts(gen, *batches[0]) == [(63, 13, 51, "Q"), (67, 11, 49, "S"), (61, 12, 46, "S"), (80, 20, 47, "R")]
    assert digest([a for xy in batches for a in xy]) == "2053f29f919e63fa6368182de0ae24321b0865e969e03a1ecd744cd51cefa904"
    # the same number of draws was consumed: the next global draw is the lab's
    assert np.random.random() == 0.3355989336049985


def test_unseeded_generator_draws_from_the_global_stream():
    np.random.seed(1)
    gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.MODERATE, batch_size=32, seed=None)
    batches = [gen[i] for i in range(3)]
    assert facts(gen, *batches[0]) == [(65, 18, 54, "U"), (72, 20, 49, "S"), (64, 17, 52, "Q"), (67, 10, 54, "R")]
    assert digest([a for xy in batches for a in xy]) == "83c40db4d5dc17578b6fb4ac3e881a4aed95bf2dd3be3d8afdcebdc11f184c4d"
    assert np.random.random() == 0.7468152137320594


def test_section8_pattern_two_generators_share_one_stream():
    """Section 8 makes the train and the test generator one after the other (both seed
    8382), then an epoch draws 31 train batches and 31 test batches."""
    train = QRSU.get_predefined_generator(QRSU.DifficultyLevel.MODERATE, 32)
    test = QRSU.get_predefined_generator(QRSU.DifficultyLevel.MODERATE, 32)
    assert len(train) == len(test) == 31
    arrays = []
    for gen in (train, test):
        for i in range(len(gen)):
            arrays.extend(gen[i])
    assert digest(arrays) == "0f9b0a8c63436e03f3daf44c0b9aa9a15d54470b9648cebe1afb326bb9819f94"
    assert np.random.random() == 0.7902762988693784


class _General(QRSU):
    """A subclass: goes through the lab's general path (strings, one-hot per symbol)."""


def _batches(gen, n):
    return [a for i in range(n) for a in gen[i]]


@pytest.mark.parametrize("path", ["fast", "general"])
def test_both_batch_paths_give_the_golden_section8_stream(path):
    """The fast path (reference/lab/res/sequential_tasks._draw_batch) and the lab's general
    one draw the same golden batches and leave the global stream where the course's does."""
    cls = QRSU if path == "fast" else _General
    np.random.seed(8382)
    train = cls(*QRSU._LEVEL_RANGES[2][1], 32)
    np.random.seed(8382)
    test = cls(*QRSU._LEVEL_RANGES[2][1], 32)
    assert st._plain(train) is (path == "fast")
    assert digest(_batches(train, 31) + _batches(test, 31)) == "0f9b0a8c63436e03f3daf44c0b9aa9a15d54470b9648cebe1afb326bb9819f94"
    assert np.random.random() == 0.7902762988693784


def test_fast_path_equals_the_general_one_on_odd_ranges():
    for length, t1, t2, size, seed in odd_generator_cases():
        out = []
        for cls in (QRSU, _General):
            np.random.seed(seed)
            gen = cls(length, t1, t2, batch_size=size)
            try:
                out.append((digest(_batches(gen, 2)), np.random.random()))
            except IndexError as exc:  # t1 or t2 past the end: both paths fail alike
                out.append((str(exc), np.random.random()))
        assert out[0] == out[1], (length, t1, t2)


def test_a_changed_generator_takes_the_general_path():
    gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.EASY)
    assert st._plain(gen)
    gen.distraction_symbols = ['a', 'b']
    assert not st._plain(gen)
    gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.EASY)
    gen.generate_pair = lambda: ("BXYE", "Q")
    assert not st._plain(gen) and gen.decode_x_batch(gen[0][0])[0] == "BXYE"


def test_predefined_levels_and_defaults():
    L = QRSU.DifficultyLevel
    assert (L.EASY, L.NORMAL, L.MODERATE, L.HARD, L.NIGHTMARE) == (0, 1, 2, 3, 4)
    expected = {0: ((7, 9), (1, 3), (4, 6)), 1: ((30, 41), (2, 6), (20, 28)), 2: ((60, 81), (10, 21), (45, 55)),
                3: ((100, 111), (10, 21), (50, 61)), 4: ((300, 501), (10, 81), (250, 291)),
                "anything else": ((300, 501), (10, 81), (250, 291))}
    for level, ranges in expected.items():
        g = QRSU.get_predefined_generator(level, batch_size=5, seed=None)
        assert (g.length_range, g.t1_range, g.t2_range, g.batch_size) == ranges + (5,)
    assert inspect.signature(QRSU.get_predefined_generator).parameters["seed"].default == 8382
    g = QRSU()
    assert (g.length_range, g.t1_range, g.t2_range, g.batch_size) == ((100, 111), (10, 21), (50, 61), 32)


# 2. API ----------------------------------------------------------------------------------

# inspect.signature of every function and method of the course's two modules.
LAB_SIGNATURES = {
    "sequential_tasks.EchoData.__init__": "(self, series_length=40000, batch_size=32, echo_step=3, truncated_length=10, seed=None)",
    "sequential_tasks.EchoData.__getitem__": "(self, index)",
    "sequential_tasks.EchoData.__len__": "(self)",
    "sequential_tasks.EchoData.generate_new_series": "(self)",
    "sequential_tasks.EchoData.prepare_batches": "(self)",
    "sequential_tasks.TemporalOrderExp6aSequence.__init__": "(self, length_range=(100, 111), t1_range=(10, 21), t2_range=(50, 61), batch_size=32, seed=None)",
    "sequential_tasks.TemporalOrderExp6aSequence.__getitem__": "(self, index)",
    "sequential_tasks.TemporalOrderExp6aSequence.__len__": "(self)",
    "sequential_tasks.TemporalOrderExp6aSequence.decode_x": "(self, x)",
    "sequential_tasks.TemporalOrderExp6aSequence.decode_x_batch": "(self, x_batch)",
    "sequential_tasks.TemporalOrderExp6aSequence.decode_y": "(self, y)",
    "sequential_tasks.TemporalOrderExp6aSequence.decode_y_batch": "(self, y_batch)",
    "sequential_tasks.TemporalOrderExp6aSequence.encode_x": "(self, x)",
    "sequential_tasks.TemporalOrderExp6aSequence.encode_x_batch": "(self, x_batch)",
    "sequential_tasks.TemporalOrderExp6aSequence.encode_y": "(self, y)",
    "sequential_tasks.TemporalOrderExp6aSequence.encode_y_batch": "(self, y_batch)",
    "sequential_tasks.TemporalOrderExp6aSequence.generate_pair": "(self)",
    "sequential_tasks.TemporalOrderExp6aSequence.get_predefined_generator": "(difficulty_level, batch_size=32, seed=8382)",
    "sequential_tasks.pad_sequences": "(sequences, maxlen=None, dtype='int32', padding='pre', truncating='pre', value=0.0)",
    "sequential_tasks.to_categorical": "(y, num_classes=None, dtype='float32')",
    "plot_lib._cstr": "(s, color='black')",
    "plot_lib._get_clr": "(value)",
    "plot_lib._print_color": "(t)",
    "plot_lib._visualise_values": "(output_values, result_list)",
    "plot_lib.plot_bases": "(bases, plotting=True, width=0.04)",
    "plot_lib.plot_data": "(X, y, d=0, auto=False, zoom=1)",
    "plot_lib.plot_model": "(X, y, model)",
    "plot_lib.plot_state": "(data, state, b, decoder)",
    "plot_lib.print_colourbar": "()",
    "plot_lib.set_default": "(figsize=(10, 10), dpi=100)",
    "plot_lib.show_mat": "(mat, vect, prod, threshold=-1)",
    "plot_lib.show_scatterplot": "(X, colors, title='', axis=True)",
}


def test_every_lab_function_exists_with_the_labs_signature():
    modules = {"sequential_tasks": st, "plot_lib": pl}
    for path, sig in LAB_SIGNATURES.items():
        obj = modules[path.split(".")[0]]
        for part in path.split(".")[1:]:
            obj = getattr(obj, part)
        assert str(inspect.signature(obj)) == sig, path
    assert isinstance(inspect.getattr_static(QRSU, "get_predefined_generator"), staticmethod)
    assert pl.plot_bases.a is None and pl.plot_bases.b is None
    assert pl.zieger.shape == (512, 512, 3) and pl.zieger.dtype == np.float32
    assert pl.colors["aqua"] == "#8dd3c7" and len(pl.colors) == 12


def test_encode_decode_len_and_indexing():
    gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.EASY, batch_size=4, seed=3)
    assert len(gen) == 250 and len(QRSU(batch_size=32)) == 31
    assert (gen.n_symbols, gen.n_classes) == (8, 4)
    assert gen.s_to_idx == {"X": 0, "Y": 1, "a": 2, "b": 3, "c": 4, "d": 5, "B": 6, "E": 7}
    onehot = gen.encode_x("BXaYE")
    assert onehot.dtype == np.float32 and onehot.shape == (5, 8)
    assert onehot.argmax(axis=1).tolist() == [6, 0, 2, 1, 7]
    assert gen.decode_x(np.vstack([np.zeros((3, 8)), onehot])) == "BXaYE"  # padding dropped
    y = gen.encode_y("S")
    assert y.dtype == np.float32 and y.tolist() == [0, 0, 1, 0] and gen.decode_y(y) == "S"
    x, y = gen[1234]  # any index, even past len(): a freshly drawn batch
    assert x.shape == (4, 9, 8) and y.shape == (4, 4)
    assert not all(np.array_equal(x, gen[0][0]) for _ in range(3))
    for s, c in zip(gen.decode_x_batch(x), gen.decode_y_batch(y)):
        pair = "".join(ch for ch in s if ch in "XY")
        assert s[0] == "B" and s[-1] == "E" and 7 <= len(s) <= 8
        assert c == {"XX": "Q", "XY": "R", "YX": "S", "YY": "U"}[pair]
    # pre-padding: the last row always holds E, the first row is padding (length <= 8 < 9)
    assert np.all(x[:, -1, 7] == 1) and np.all(x[:, 0].sum(axis=1) == 0)
    s, c = gen.generate_pair()
    assert isinstance(s, str) and c in "QRSU"


def test_array_helpers_behave_like_keras():
    assert st.pad_sequences([[1, 2, 3], [4]]).tolist() == [[1, 2, 3], [0, 0, 4]]
    assert st.pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post", truncating="post").tolist() == [[1, 2], [4, 0]]
    assert st.pad_sequences([[1.7], []], maxlen=2, value=-1).tolist() == [[-1, 1], [-1, -1]]
    with pytest.raises(ValueError, match="not understood"):
        st.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="dtype=object"):
        st.pad_sequences([[1]], value="x")
    assert st.to_categorical([[1], [0]]).tolist() == [[0, 1], [1, 0]]
    assert st.to_categorical(2, 3).shape == (3,)


def test_echo_data_is_seeded_and_chunked():
    a = st.EchoData(series_length=100, batch_size=3, echo_step=2, truncated_length=10, seed=7)
    assert len(a) == 10
    x, y = a[3]
    assert x.shape == (3, 10, 1) and y.shape == (3, 10, 1)
    assert np.array_equal(a.y_batch[:, 2:], a.x_batch[:, :-2]) and not a.y_batch[:, :2].any()
    b = st.EchoData(series_length=100, batch_size=3, echo_step=2, truncated_length=10, seed=7)
    assert np.array_equal(a.x_batch, b.x_batch)


class _LabLSTM(torch.nn.Module):
    """The notebook's SimpleLSTM, enough for its get_states_across_time."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(8, 3, batch_first=True)

    def states(self, x):
        h_c, hs, cs = None, [], []
        with torch.no_grad():
            for t in range(x.size(1)):
                h_c = self.lstm(x[:, [t], :], h_c)[1]
                hs.append(h_c[0])
                cs.append(h_c[1])
        return torch.cat(hs), torch.cat(cs)


def test_plot_state_takes_a_decoder_function_and_displays_html(monkeypatch):
    shown = []
    monkeypatch.setattr(pl, "display", lambda obj: shown.append(obj.data))
    test_data_gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.MODERATE, batch_size=16, seed=4)
    X = torch.from_numpy(test_data_gen[0][0]).float()
    torch.manual_seed(0)
    H_t, C_t = _LabLSTM().states(X)
    assert C_t.shape == (81, 16, 3)
    pl.print_colourbar()
    assert shown[0].startswith("<text style=color:#000;background-color:#85c2e1>-2.50 </text>")
    assert shown[0].endswith("<text style=color:#000;background-color:#f42e2e>2.50 </text>")
    pl.plot_state(X.cpu(), C_t, b=9, decoder=test_data_gen.decode_x)
    pl.plot_state(X, H_t, 9, test_data_gen.decode_x)
    assert len(shown) == 1 + 3 + 3
    sequence = test_data_gen.decode_x(X[9].numpy())
    assert shown[1].count("<text") == len(sequence) and shown[1].startswith("<text style=color:#000;background-color:#")
    assert "".join(t.split(">")[1][0] for t in shown[1].split("</text>")[:-1]) == sequence
    # the colour of a value: 20 bins of [0, 1], 1 in the last one
    assert pl._get_clr(torch.tensor(0.0)) == "#85c2e1" and pl._get_clr(1.0) == "#f42e2e" and pl._get_clr(0.5) == "#f9e8e8"
    assert pl._cstr(" ", "red") == "<text style=color:#000;padding-left:10px;background-color:red> </text>"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # tensors handed to numpy, as in the lab
def test_set_default_and_drawing_helpers_run_headless():
    import matplotlib.pyplot as plt

    with matplotlib.rc_context():
        pl.set_default(figsize=(3, 2), dpi=40)
        assert list(plt.rcParams["figure.figsize"]) == [3, 2] and plt.rcParams["figure.dpi"] == 40
        assert plt.rcParams["axes.facecolor"] == "k" and plt.rcParams["figure.facecolor"] == "k"
        assert plt.rcParams["text.color"] == "white"  # dark_background
        fig = plt.figure()
        pl.plot_data(torch.rand(6, 2), torch.arange(6) % 2)
        pl.show_scatterplot(torch.rand(6, 2), torch.randint(0, 512, (6, 2)), title="x")
        bases = torch.tensor([[0.0, 0], [0, 0], [1, 0], [0, 1]])
        pl.plot_bases(bases)
        assert pl.plot_bases.a is not None
        pl.show_mat(torch.rand(3, 4), torch.rand(4, 1), torch.rand(3, 1))
        pl.plot_model(torch.rand(5, 2), torch.arange(5) % 3, torch.nn.Linear(2, 3))
        plt.close("all")
    pl.plot_bases.a = pl.plot_bases.b = None
    del fig


# 3. Packaging ---------------------------------------------------------------------------

ALLOWED_IMPORTS = {"numpy", "torch", "matplotlib", "IPython", "os", "sys", "struct", "zlib"}


def test_modules_import_only_the_kernel_safe_set():
    for path in RES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= ALLOWED_IMPORTS, (path.name, roots)  # no six, no reference.*


def test_the_colour_map_png_is_the_generated_one():
    import matplotlib.pyplot as plt

    cm = _load("_colour_map")
    image = plt.imread(RES / "ziegler.png")
    assert image.shape == (512, 512, 3)
    assert np.array_equal(np.round(image * 255).astype(np.uint8), cm.colour_map())
    assert (RES / "ziegler.png").stat().st_size < 64 << 10


def test_imports_as_res_package_and_as_top_level_modules(tmp_path):
    shutil.copytree(RES, tmp_path / "res", ignore=shutil.ignore_patterns("__pycache__"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = textwrap.dedent("""
        import os, sys
        import numpy as np
        sys.path.insert(0, os.getcwd())
        from res.sequential_tasks import TemporalOrderExp6aSequence as QRSU
        from res.plot_lib import set_default, plot_state, print_colourbar
        import res.plot_lib
        sys.path.insert(0, os.path.join(os.getcwd(), "res"))
        import sequential_tasks, plot_lib
        assert sequential_tasks is not sys.modules["res.sequential_tasks"]
        a = QRSU.get_predefined_generator(QRSU.DifficultyLevel.MODERATE)[0][0]
        b = sequential_tasks.TemporalOrderExp6aSequence.get_predefined_generator(2)[0][0]
        assert np.array_equal(a, b) and a.shape == (32, 81, 8)
        assert plot_lib.zieger.shape == res.plot_lib.zieger.shape == (512, 512, 3)
        os.chdir("elsewhere")  # the colour map is found next to the module too
        import importlib; importlib.reload(plot_lib)
        print("ok", res.plot_lib.__file__)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok " + str(tmp_path / "res"))
