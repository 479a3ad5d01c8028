"""Similar TODO code: a renamed copy is found, independent solutions and starter code are not."""
import pytest

from factories import make_nb, make_zip, mini_files
from grader.batch.similarity import normalize_code, similar_pairs, submission_code

ORIGINAL = '''
def conv1d(x, w, stride=1):
    """My convolution."""
    n = x.shape[0]
    k = w.shape[0]
    out_len = (n - k) // stride + 1
    out = np.zeros(out_len)
    for i in range(out_len):
        start = i * stride
        out[i] = np.sum(x[start:start + k] * w)
    return out

def gru_step(h, x, Wz, Wr, Wh):
    z = sigmoid(Wz @ np.concatenate([h, x]))
    r = sigmoid(Wr @ np.concatenate([h, x]))
    h_tilde = np.tanh(Wh @ np.concatenate([r * h, x]))
    return (1 - z) * h + z * h_tilde
'''

RENAMED_COPY = '''
def conv1d(signal, kernel, s=1):
    # slide the kernel over the signal
    total = signal.shape[0]
    kw = kernel.shape[0]
    length = (total - kw) // s + 1   # output size
    result = np.zeros(length)
    for idx in range(length):
        begin = idx * s
        result[idx] = np.sum(signal[begin:begin + kw] * kernel)
    return result

def gru_step(state, inp, A, B, C):
    """GRU cell (my own work!)"""
    gate = sigmoid(A @ np.concatenate([state, inp]))
    reset = sigmoid(B @ np.concatenate([state, inp]))
    cand = np.tanh(C @ np.concatenate([reset * state, inp]))
    return (1 - gate) * state + gate * cand
'''

INDEPENDENT_1 = '''
def conv1d(x, w, stride=1):
    windows = np.lib.stride_tricks.sliding_window_view(x, len(w))[::stride]
    return windows @ w

def gru_step(h, x, Wz, Wr, Wh):
    hx = np.concatenate((h, x))
    update = 1 / (1 + np.exp(-(Wz.dot(hx))))
    reset = 1 / (1 + np.exp(-(Wr.dot(hx))))
    cand = np.tanh(Wh.dot(np.concatenate((reset * h, x))))
    return h + update * (cand - h)
'''

INDEPENDENT_2 = '''
def conv1d(x, w, stride=1):
    K = len(w)
    return np.array([np.dot(x[j:j + K], w) for j in range(0, len(x) - K + 1, stride)])

def gru_step(h, x, Wz, Wr, Wh):
    inp = np.hstack([h, x])
    z, r = sigmoid(Wz @ inp), sigmoid(Wr @ inp)
    hh = np.tanh(Wh @ np.hstack([r * h, x]))
    return z * hh + (1 - z) * h
'''


def codes_of(**sources):
    import ast

    out = {}
    for netid, src in sources.items():
        tree = ast.parse(src)
        out[netid] = {f"hw.ipynb::{f.name}": normalize_code(ast.unparse(f)) for f in tree.body}
    return out


def test_normalization_ignores_names_comments_docstrings_and_layout():
    a = normalize_code("def f(x, y):\n    '''doc'''\n    total = x + y  # sum\n    return total\n")
    b = normalize_code("def g(p,\n      q):\n    s = p + q\n\n    return s")
    # role tokens, not v0, v1, ... by first use (which reordering changed): _f function, _p parameter, _v local
    assert a == b == "def _f(_p, _p):\n    _v = _p + _p\n    return _v"
    assert normalize_code("def f(x):\n    return x - 1") != normalize_code("def f(x):\n    return x + 1")
    assert normalize_code("def (") == ""


def test_a_renamed_copy_is_found_and_independent_solutions_are_not():
    codes = codes_of(ab1111=ORIGINAL, cd2222=RENAMED_COPY, ef3333=INDEPENDENT_1, gh4444=INDEPENDENT_2)
    pairs = similar_pairs(codes, threshold=0.8)
    assert [(p["a"], p["b"], p["similarity"]) for p in pairs] == [("ab1111", "cd2222", 1.0)]
    assert set(pairs[0]["targets"]) == {"hw.ipynb::conv1d", "hw.ipynb::gru_step"}
    everything = {(p["a"], p["b"]): p["similarity"] for p in similar_pairs(codes, threshold=0.0)}
    assert max(v for k, v in everything.items() if k != ("ab1111", "cd2222")) < 0.5


STARTER = '''
def train(model, data, epochs=3):
    """Train the model. TODO: compute the loss."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = []
    for epoch in range(epochs):
        for xb, yb in data:
            opt.zero_grad()
            out = model(xb)
            loss = None  # TODO
            loss.backward()
            opt.step()
        history.append(loss.item())
    return history
'''


def test_code_given_in_the_starter_is_not_evidence():
    x = STARTER.replace("loss = None  # TODO", "loss = F.cross_entropy(out, yb)")
    y = STARTER.replace("loss = None  # TODO", "loss = ((out - yb) ** 2).mean()")
    codes = codes_of(ab1111=x, cd2222=y, ef3333=STARTER, gh4444=STARTER)
    starter = codes_of(s=STARTER)["s"]
    flagged = {(p["a"], p["b"]) for p in similar_pairs(codes, threshold=0.7)}
    assert {("ab1111", "cd2222"), ("ef3333", "gh4444")} <= flagged  # without the starter: the skeleton looks copied
    assert similar_pairs(codes, starter, threshold=0.7) == []  # two untouched starters and the skeleton do not count


def test_submission_code_reads_the_targets_from_the_zip_without_running_it(tmp_path, mini_rubric):
    nb = make_nb("import torch\n\ndef add(first, second):\n    '''sum'''\n    return first + second\n\nraise SystemExit('never run')")
    z = make_zip(tmp_path / "ab1234.zip", mini_files(mini__ipynb=nb))
    code = submission_code(z, mini_rubric, tmp_path / "scratch")
    # (numbers other than 0, 1, 2 are hyper-parameters, blanked to _n)
    assert code == {"mini.ipynb::add": "def _f(_p, _p):\n    return _p + _p", "other.ipynb::count": "def _f():\n    return _n + 2"}


@pytest.mark.parametrize("n", [12])
def test_idioms_most_of_a_large_class_wrote_are_discounted(n):
    common = "def f(a, b):\n    c = a + b\n    d = c * 2\n    e = d - 1\n    return e\n"
    codes = {f"s{k:02d}": {"nb::f": normalize_code(common)} for k in range(n)}
    assert similar_pairs(codes, threshold=0.5) == []
