"""Cohort similarity by winnowed fingerprints (grader/batch/similarity.py; issue 12).

Issue 12: two submissions whose echo-model code differed only by renamed variables and
attributes, reformatting and reordered methods/helpers were not paired (similarity 0.372,
threshold 0.8): identifiers were numbered v0, v1, ... in order of first use, so reordering
renumbered everything. Now names become order-free role tokens, code is put in a canonical
order, token k-grams are winnowed (MOSS), starter code and class-wide idioms are removed,
and pairs are judged by Jaccard and containment (module docstring).

Unit tests: what normalisation forgets and what it keeps, idempotency, the winnowing
guarantee (a shared run of w + k - 1 tokens is always found, one shorter than k never), the
pairing rule. End to end: the corpus of scripts/build_adversarial_similarity.py (suite
"similarity": a renamed copy, a padded copy, a partial copy, their original and four
independent solutions) read through submission_code (AST only, no kernel) and judged by
similar_pairs exactly as `grader batch` does; each expected.json says what must (not) pair.
"""
from __future__ import annotations

import ast
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from grader.batch import similarity as S
from grader.batch.similarity import normalize_code, similar_pairs

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "submissions" / "adversarial"
SCRIPT = ROOT / "scripts" / "build_adversarial_similarity.py"


def fp(source: str) -> set[int]:
    return S.fingerprints(normalize_code(source))


def jaccard(a: str, b: str) -> float:
    fa, fb = fp(a), fp(b)
    return len(fa & fb) / len(fa | fb)


# ----------------------------------------------------------------------------------
# normalisation

MODEL = '''
import torch
from torch import nn

N = 26

def encode(word):
    """letters -> ids"""
    return torch.tensor([ord(ch) - ord('a') + 1 for ch in word])

class Echo(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.gru = nn.GRU(N + 1, hidden_size, batch_first=True)
        self.linear = nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        out, _ = self.gru(x)  # (B, T, H)
        return self.linear(out)

    def predict(self, s):
        logits = self.forward(encode(s))
        return self.decode(logits.argmax(-1))

    def decode(self, ids):
        return "".join(chr(i + 96) for i in ids.tolist())

def train(model, steps, lr=1e-2):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(steps):
        x, y = batch(64)
        loss = loss_fn(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step}: {loss.item():.3f}")
    return model
'''

# Every name the student chose renamed, other formatting, comments, docstring, message and
# hyper-parameters changed, import alias changed, methods, functions and independent
# statements reordered.
MODEL_DISGUISED = '''
import torch.nn as tnn
import torch

def fit(net, n_iter, learning_rate=3e-3):
    criterion = tnn.CrossEntropyLoss()   # swapped with the next line
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    for it in range(n_iter):
        inp, tgt = batch(128)
        l = criterion(net(inp).flatten(0, 1),
                      tgt.flatten())
        optimizer.zero_grad()
        l.backward()
        optimizer.step()
        if it % 100 == 0:
            print(f"iteration {it} loss {l.item()}")
    return net

class Parrot(tnn.Module):
    def to_text(self, idx):
        return ''.join(chr(k + 96) for k in idx.tolist())

    def predict(self, text):
        # run and decode
        scores = self.forward(str_to_ids(text))
        return self.to_text(scores.argmax(-1))

    def forward(self, x):
        seq, _ = self.rnn(x)
        return self.head(seq)

    def __init__(self, hidden_size):
        super().__init__()
        self.head = tnn.Linear(hidden_size, N + 1)
        self.rnn = tnn.GRU(N + 1, hidden_size, batch_first=True)

def str_to_ids(text):
    return torch.tensor([ord(c) - ord("a") + 1 for c in text])

N = 26
'''


def test_renaming_reformatting_reordering_and_aliases_change_nothing():
    assert normalize_code(MODEL) == normalize_code(MODEL_DISGUISED)
    assert jaccard(MODEL, MODEL_DISGUISED) == 1.0


def test_the_canonical_text_names_roles_not_orders():
    text = normalize_code(MODEL)
    assert "self._a = torch.nn.GRU(_g + 1, _p, batch_first=True)" in text  # attribute, module-level, parameter
    assert "def _f(self, _p):" in text and "class _c(torch.nn.Module):" in text
    assert "def forward(self, _p):" in text and "super().__init__()" in text  # the names torch and Python call
    assert "self._f(" in text  # a method called on self
    assert "print('')" in text and "_n" in text  # messages and hyper-parameters blanked
    assert "import" not in text and '"""' not in text and "#" not in text
    assert not any(f"v{i}" in text.split() for i in range(5))


@pytest.mark.parametrize("a,b", [
    ("def f(x):\n    return x - 1", "def f(x):\n    return x + 1"),                 # an operator
    ("def f(x):\n    return x.sum(0)", "def f(x):\n    return x.mean(0)"),         # a library call
    ("def f(x):\n    return x[1:]", "def f(x):\n    return x[:1]"),                 # a slice
    ("def f(x):\n    y = x\n    return y", "def f(x):\n    global y\n    y = x\n    return y"),  # a scope
    ("def f(x):\n    for i in x:\n        g(i)", "def f(x):\n    while x:\n        g(x)"),  # control flow
])
def test_what_the_code_does_is_kept(a, b):
    assert normalize_code(a) != normalize_code(b)


def test_roles_follow_scope_whatever_the_names():
    src = "G = 1\n\ndef f(a):\n    b = a + G\n    return b\n\ndef g(b):\n    a = [b for b in range(b)]\n    return a\n"
    text = normalize_code(src)
    assert "_v = _p + _g" in text and "_v = [_v for _v in range(_p)]" in text
    # a builtin the student rebinds is the student's name; one they do not stays
    assert normalize_code("def f(input):\n    return len(input)") == "def _f(_p):\n    return len(_p)"


def test_independent_statements_are_sorted_dependent_ones_keep_their_order():
    indep_a = "def f(a):\n    first = torch.zeros(3)\n    second = a + 1\n    return first, second\n"
    indep_b = "def f(a):\n    second = a + 1\n    first = torch.zeros(3)\n    return first, second\n"
    assert normalize_code(indep_a) == normalize_code(indep_b)
    dep = normalize_code("def f(a):\n    first = torch.zeros(3)\n    second = first + a\n    return second\n")
    # '_v = _v + _p' sorts before '_v = torch...', but it reads what the first statement wrote
    assert dep.index("torch.zeros") < dep.index("_v = _v + _p")
    swapped = "def f(m):\n    m.a = 1\n    m.b = 2\n    m.b.c = m.a\n"
    assert normalize_code(swapped).splitlines()[-1].strip().startswith("_p._a._a = ")


def _texts_for_idempotency() -> dict[str, str]:
    out = {"MODEL": MODEL, "MODEL_DISGUISED": MODEL_DISGUISED}
    for rel in ("reference/echo.py", "reference/rnn_theory.py", "grader/batch/similarity.py", "grader/extract/__init__.py"):
        out[rel] = (ROOT / rel).read_text()
    import build_adversarial_similarity as B

    for name, _, cells, _ in B.MEMBERS:
        out[name] = "\n\n".join(cells.values())
    return out


IDEMPOTENCY = _texts_for_idempotency()


@pytest.mark.parametrize("name", list(IDEMPOTENCY))
def test_normalisation_is_idempotent_and_recognised(name):
    src = IDEMPOTENCY[name]
    once = normalize_code(src)
    assert once and normalize_code(once) == once
    assert S._looks_normalized(ast.parse(once))  # similar_pairs does not normalise it again
    assert not S._looks_normalized(ast.parse(src))


def test_code_stored_by_the_old_version_is_normalised_again():
    old = "def v0(v1, v2):\n    v3 = v1 + v2\n    return v3"  # what submission_code stored before
    assert not S._looks_normalized(ast.parse(old))
    assert normalize_code(old) == normalize_code("def f(a, b):\n    c = a + b\n    return c")


def test_unparsable_empty_and_emptied_code():
    assert normalize_code("def (") == "" and normalize_code("") == ""
    assert normalize_code("import typing\nif typing.TYPE_CHECKING:\n    import numpy\n") == "if typing.TYPE_CHECKING:\n    pass"
    assert S.tokens("") == [] and S.tokens("x = 1\nif x:\n    y") == ["x", "=", "1", ";", "if", "x", ":", ";", "{", "y", ";", "}"]


# ----------------------------------------------------------------------------------
# winnowing

def _disjoint_docs(rnd: random.Random, shared_len: int, pre: int, post: int):
    """Two token streams from disjoint vocabularies except one shared run of shared_len tokens."""
    run = [f"s{rnd.randrange(10**9)}" for _ in range(shared_len)]
    a = [f"a{rnd.randrange(50)}" for _ in range(pre)] + run + [f"a{rnd.randrange(50)}" for _ in range(post)]
    b = [f"b{rnd.randrange(50)}" for _ in range(post)] + run + [f"b{rnd.randrange(50)}" for _ in range(pre)]
    return a, b


@settings(max_examples=300, deadline=None)
@given(k=st.integers(1, 15), w=st.integers(1, 10), pre=st.integers(0, 60), post=st.integers(0, 60),
       seed=st.integers(0, 2**32), extra=st.integers(0, 5))
def test_any_shared_run_of_w_plus_k_minus_1_tokens_is_detected(k, w, pre, post, seed, extra):
    a, b = _disjoint_docs(random.Random(seed), w + k - 1 + extra, pre, post)
    fa, fb = S.winnow(S.kgram_hashes(a, k), w), S.winnow(S.kgram_hashes(b, k), w)
    assert fa & fb


@settings(max_examples=150, deadline=None)
@given(k=st.integers(2, 15), w=st.integers(1, 10), pre=st.integers(0, 60), post=st.integers(0, 60),
       seed=st.integers(0, 2**32))
def test_a_shared_run_shorter_than_k_is_never_detected(k, w, pre, post, seed):
    a, b = _disjoint_docs(random.Random(seed), k - 1, pre, post)
    assert not S.winnow(S.kgram_hashes(a, k), w) & S.winnow(S.kgram_hashes(b, k), w)


def test_the_defaults_and_the_density():
    assert S.W + S.K - 1 == 15  # the guarantee quoted in the module docstring
    rnd = random.Random(7)
    toks = [f"t{rnd.randrange(10**6)}" for _ in range(5000)]
    hashes = S.kgram_hashes(toks)
    assert len(hashes) == len(toks) - S.K + 1 and hashes == S.kgram_hashes(toks)
    density = len(S.winnow(hashes)) / len(hashes)
    assert 0.2 < density < 0.4  # about 2 / (w + 1) of the k-grams are kept


def test_fingerprints_do_not_depend_on_the_process():
    code = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom grader.batch.similarity import fingerprints, normalize_code\n"
            f"print(sorted(fingerprints(normalize_code({MODEL!r}))))")
    runs = {subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert runs == {str(sorted(fp(MODEL))) + "\n"}


# ----------------------------------------------------------------------------------
# the pairing rule

def test_a_few_standard_lines_inside_a_long_solution_are_no_copy():
    short = "def train(model, x, y):\n    loss = F.cross_entropy(model(x), y)\n    loss.backward()\n    return loss\n"
    long = short.replace("    return loss\n", "") + "".join(
        f"    h{i} = torch.tanh(model.layer{i}(x) * {i} + y.sum({i % 3}))\n" for i in range(12)) + "    return loss\n"
    codes = {"ab1111": {"nb::train": normalize_code(short)}, "cd2222": {"nb::train": normalize_code(long)}}
    p = similar_pairs(codes, threshold=0.0)[0]
    assert p["target_detail"]["nb::train"]["shared"] < 12  # fewer than min_shared: containment does not count
    assert p["rule"] == "jaccard" and p["similarity"] < 0.5
    assert similar_pairs(codes) == []


def test_extra_code_lowers_jaccard_not_containment():
    extra = "".join(f"\ndef extra{i}(model, data):\n    out = [model.eval_step{i}(d) for d in data if d is not None]\n"
                    f"    return sum(o.sum() for o in out) / max(len(out), {i + 3})\n" for i in range(5))
    codes = {"ab1111": {"nb::m": normalize_code(MODEL)}, "cd2222": {"nb::m": normalize_code(MODEL_DISGUISED + extra)}}
    p = similar_pairs(codes, threshold=0.8)[0]
    assert p["jaccard"] < 0.8 <= p["containment"] == p["similarity"]
    assert p["rule"] in ("containment", "target nb::m")


# ----------------------------------------------------------------------------------
# what a target's code is

def test_a_target_comes_with_the_code_that_builds_and_trains_it():
    from grader.extract import extract

    cells = [
        "import torch\nN = 26",
        "class GRUMemory(torch.nn.Module):\n    def __init__(self, h):\n        super().__init__()\n"
        "        self.gru = torch.nn.GRU(N, h)\n    def forward(self, x):\n        return self.gru(x)[0]",
        "def make_batch(n):\n    return torch.randint(0, N, (n, 5))\n\n"
        "def train_it(model, steps):\n    for _ in range(steps):\n        model(make_batch(8)).sum().backward()\n    return model",
        "model = GRUMemory(64)\nmodel = train_it(model, 10)\nacc = evaluate(model)\nprint(acc)",
        "class Other(torch.nn.Module):\n    pass\n\ndef train_other(model):\n    return model\n\n"
        "model = Other()\nmodel = train_other(model)",
    ]
    src = S.target_source(extract(cells), "GRUMemory")
    for piece in ("class GRUMemory", "def train_it", "def make_batch", "model = train_it(model, 10)", "print(acc)", "N = 26"):
        assert piece in src, piece
    assert "Other" not in src and "train_other" not in src  # `model = Other()` binds model anew


# ----------------------------------------------------------------------------------
# end to end: the corpus

def _manifests() -> dict[str, dict]:
    if not (CORPUS / "similarity_original" / "expected.json").exists():
        subprocess.run([sys.executable, str(SCRIPT)], check=True, stdout=subprocess.DEVNULL)
    out = {}
    for f in sorted(CORPUS.glob("*/expected.json")):
        m = json.loads(f.read_text())
        if m.get("suite") == "similarity":
            m["zip_path"] = f.parent / m["zip"]
            out[m["attack"]] = m
    return out


MANIFESTS = _manifests()


@pytest.fixture(scope="module")
def corpus():
    from grader.rubric import load_rubric

    rubrics = {m["rubric"] for m in MANIFESTS.values()}
    assert len(rubrics) == 1
    rubric = load_rubric(ROOT / rubrics.pop())
    starter = S.starter_code(rubric, S.find_starter_dir(rubric))
    codes = {}
    with tempfile.TemporaryDirectory(prefix="sim-") as tmp:
        for _name, m in MANIFESTS.items():
            codes[m["netid"]] = S.submission_code(m["zip_path"], rubric, Path(tmp) / m["netid"])
    threshold = {m["similarity_threshold"] for m in MANIFESTS.values()}.pop()
    every = {(p["a"], p["b"]): p for p in similar_pairs(codes, starter, threshold=0.0)}
    reported = {(p["a"], p["b"]): p for p in similar_pairs(codes, starter, threshold=threshold)}
    return {"codes": codes, "starter": starter, "every": every, "reported": reported, "threshold": threshold}


def _pair(table: dict, x: str, y: str) -> dict | None:
    a, b = sorted((MANIFESTS[x]["netid"], MANIFESTS[y]["netid"]))
    return table.get((a, b))


def test_the_corpus_is_there_and_is_what_the_script_builds(tmp_path):
    assert len(MANIFESTS) == 8
    assert sum(1 for m in MANIFESTS.values() if m["twin"]) == 3
    assert all(m["slow"] for m in MANIFESTS.values())  # tests/adversarial/test_attacks.py leaves them out
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], check=True, stdout=subprocess.DEVNULL)
    for name, m in MANIFESTS.items():
        assert (tmp_path / name / m["zip"]).read_bytes() == m["zip_path"].read_bytes(), f"rebuild {name}"
        assert (tmp_path / name / "expected.json").read_bytes() == (CORPUS / name / "expected.json").read_bytes()


def test_every_member_has_its_echo_targets_and_only_those_count(corpus):
    for name, m in MANIFESTS.items():
        code = corpus["codes"][m["netid"]]
        assert {"hw2_rnn.ipynb::GRUMemory", "hw2_rnn.ipynb::VariableDelayGRUMemory"} <= set(code), name
        # the theory TODOs are left as given: identical to the starter's, never compared
        for t in ("gated_rnn_forward", "lstm_bptt"):
            assert code[f"hw2_rnn.ipynb::{t}"] == corpus["starter"][f"hw2_rnn.ipynb::{t}"]
    for p in corpus["every"].values():
        assert set(p["targets"]) <= {"hw2_rnn.ipynb::GRUMemory", "hw2_rnn.ipynb::VariableDelayGRUMemory"}


@pytest.mark.parametrize("name", [n for n, m in MANIFESTS.items() if m["paired_with"]])
def test_copies_are_paired(corpus, name):
    m = MANIFESTS[name]
    for other, minimum in m["paired_with"].items():
        p = _pair(corpus["reported"], name, other)
        assert p is not None, f"{name} and {other} not paired: {_pair(corpus['every'], name, other)}"
        assert p["similarity"] >= minimum, p
        for target, low in m["targets_min"].get(other, {}).items():
            assert p["targets"][target] >= low, (target, p["target_detail"])
        for target, high in m["targets_max"].get(other, {}).items():
            assert p["targets"][target] < high, (target, p["target_detail"])
        if other in m["jaccard_max"]:
            assert p["jaccard"] < m["jaccard_max"][other] and p["rule"] != "jaccard", p


@pytest.mark.parametrize("name", list(MANIFESTS))
def test_independent_solutions_are_not_paired(corpus, name):
    m = MANIFESTS[name]
    for other in m["not_paired_with"]:
        assert _pair(corpus["reported"], name, other) is None, _pair(corpus["reported"], name, other)
        p = _pair(corpus["every"], name, other)
        assert p is None or p["similarity"] < m["not_paired_max"], p


def test_the_renamed_copy_of_issue_12_is_identical_after_normalisation(corpus):
    a, b = MANIFESTS["similarity_original"]["netid"], MANIFESTS["similarity_renamed_copy"]["netid"]
    assert corpus["codes"][a]["hw2_rnn.ipynb::GRUMemory"] == corpus["codes"][b]["hw2_rnn.ipynb::GRUMemory"]
    p = _pair(corpus["reported"], "similarity_original", "similarity_renamed_copy")
    assert p["similarity"] == 1.0 and p["jaccard"] > 0.95  # (one print call's arguments differ)


def test_the_partial_copy_shows_which_target_in_the_class_view(corpus):
    from grader.report.cohort import build_cohort, cohort_markdown

    from batch_helpers import make_report

    p = _pair(corpus["reported"], "similarity_original", "similarity_partial_copy")
    assert p["rule"] == "target hw2_rnn.ipynb::VariableDelayGRUMemory"
    assert p["containment"] < corpus["threshold"] and p["jaccard"] < corpus["threshold"]  # overall: not a full copy
    netids = [MANIFESTS[n]["netid"] for n in ("similarity_original", "similarity_partial_copy")]
    c = build_cohort([make_report(n) for n in netids], [p], threshold=corpus["threshold"], note=S.NOTE)
    md = cohort_markdown(c)
    row = next(line for line in md.splitlines() if line.startswith(f"| {netids[0]} | {netids[1]} |"))
    assert "VariableDelayGRUMemory 1.00" in row and "GRUMemory 0." in row, row
    json.dumps(c, allow_nan=False)


def test_the_whole_class_view_stays_fast(corpus):
    import time

    # each text made unique (trailing `pass` lines) so that nothing is served from similar_pairs' cache
    big = {f"s{i:03d}": {t: code + "\npass" * (i // len(MANIFESTS)) for t, code in corpus["codes"][m["netid"]].items()}
           for i, m in enumerate(list(MANIFESTS.values()) * 5)}
    member = {f"s{i:03d}": name for i, name in enumerate(list(MANIFESTS) * 5)}
    t0 = time.process_time()  # (CPU time: the suite runs beside other workers)
    pairs = similar_pairs(big, corpus["starter"])
    assert time.process_time() - t0 < 5
    # 40 submissions (the common-idiom filter is on): the 5 copies of a member pair up, and the
    # original with its copies; no independent solution with anything else
    copied = {"similarity_original", "similarity_renamed_copy", "similarity_padded_copy", "similarity_partial_copy"}
    seen = {frozenset((member[p["a"]], member[p["b"]])) for p in pairs}
    assert {frozenset([n]) for n in MANIFESTS} <= seen
    assert all(len(s) == 1 or s <= copied for s in seen), seen
