"""Property-based fuzzing of intake: whatever a student uploads, intake answers with data.

Properties:
  - grader.intake.intake never raises on any file, and always returns a Submission whose
    findings explain what was refused; nothing is written outside the job's unpack dir;
  - grader.intake.read_notebook never raises, and returns (NotebookNode | None, findings);
  - the extract stage never raises on whatever read_notebook accepted;
  - (slow) full grade() runs on mutated submissions always give a report.
Every example count is fixed (max_examples) and printed in the terminal summary.
"""
from __future__ import annotations

import io
import json
import random
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fuzzcount import COUNTS

ROOT = Path(__file__).resolve().parents[2]
MINI_RUBRIC = ROOT / "tests" / "fixtures" / "mini_rubric"
ZIP_TIME = (2026, 2, 27, 12, 0, 0)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def rubric():
    from grader.rubric import load_rubric

    return load_rubric(MINI_RUBRIC)


# ------------------------------------------------------------------------------------
# building blocks

def mini_nb(*sources, nbformat_version=4):
    if nbformat_version == 3:
        return {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                "worksheets": [{"cells": [{"cell_type": "code", "input": s, "language": "python", "outputs": []}
                                          for s in sources]}]}
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None,
                       "id": f"c{i}"} for i, s in enumerate(sources)]}


GOOD_NB = json.dumps(mini_nb("def add(a, b):\n    return a + b", "def count():\n    return 42")).encode()


def zip_bytes(entries: list[tuple[str, bytes]], mode: int = 0o100644) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                zf.writestr(info, data)
    return buf.getvalue()


def set_declared_size(data: bytes, size: int) -> bytes:
    """Rewrite every central-directory record's uncompressed size (the header lies)."""
    b = bytearray(data)
    i = b.find(b"PK\x01\x02")
    while i != -1:
        struct.pack_into("<I", b, i + 24, size & 0xFFFFFFFF)
        i = b.find(b"PK\x01\x02", i + 4)
    return bytes(b)


def rename_raw(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace an entry name in the local and central headers (same length): non-UTF-8 names."""
    assert len(old) == len(new)
    return data.replace(old, new)


def check_intake(tmp_path: Path, rubric, data: bytes, name: str = "ab1234.zip", counter: str = "intake"):
    from grader.intake import intake
    from grader.model import Submission

    COUNTS[counter] += 1
    case = tmp_path / f"case{COUNTS[counter]}"
    case.mkdir()
    z = case / name
    z.write_bytes(data)
    job = case / "job"
    job.mkdir()
    sub = intake(z, rubric, job)
    assert isinstance(sub, Submission)
    assert isinstance(sub.findings, tuple)
    if not sub.accepted:
        assert sub.rejection or sub.findings
    # nothing outside the job's unpack dir (and the zip itself)
    for p in case.rglob("*"):
        assert p == z or p == job or job / "unpacked" == p or (job / "unpacked") in p.parents, p
        assert not p.is_symlink(), p
    if sub.unpack_dir is not None:
        for f in sub.files.values():
            assert (sub.unpack_dir.resolve() in f.path.resolve().parents)
    # every located notebook can be read without an exception
    from grader.intake import read_notebook

    for spec in rubric.files:
        f = sub.files.get(spec.name)
        if f is not None and spec.kind == "notebook":
            nb, findings = read_notebook(f.path, f.name_in_zip)
            assert isinstance(findings, list)
    return sub


# ------------------------------------------------------------------------------------
# intake over random and mutated zips

names = st.one_of(
    st.sampled_from(["mini.ipynb", "other.ipynb", "mini_theory.pdf", "../mini.ipynb", "../../etc/passwd",
                     "/abs/mini.ipynb", "/etc/cron.d/x", "C:\\evil\\mini.ipynb", "a/../../b", "./mini.ipynb",
                     "dir/", "dir/mini.ipynb", "__MACOSX/._mini.ipynb", ".DS_Store", "x" * 300, "", ".",
                     "a//b", "mini.ipynb/", "ab1234/mini.ipynb", "ab1234/other.ipynb", "nested.zip",
                     "\u00e9t\u00e9.ipynb", "mini.IPYNB", "min.ipynb", "mini (1).ipynb"]),
    st.text(min_size=1, max_size=40),
)
payloads = st.one_of(st.just(GOOD_NB), st.binary(max_size=300), st.just(b"%PDF-1.4 garbage"),
                     st.just(b"{}"), st.just(b'{"nbformat": 4, "cells": "oops"}'))


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes(tmp_path, rubric, data):
    check_intake(tmp_path, rubric, data, counter="intake: random bytes")


LONG_NAME = ("grader.intake.unzip.unpack calls target.resolve() (and mkdir/open) outside its try block: an entry "
             "name longer than NAME_MAX (255 bytes) raises OSError ENAMETOOLONG out of intake(); the pipeline turns "
             "that into an internal_error and the submission scores 0. Fix: move the resolve()/mkdir into the "
             "per-entry try (and catch OSError there) so the entry is refused with a finding.")
ZLIB = ("grader.intake.unzip.unpack catches (BadZipFile, ValueError, OSError, EOFError, NotImplementedError, "
        "RuntimeError) per entry but not zlib.error, which zipfile raises for a corrupt deflate stream: one bad "
        "byte in an entry escapes intake() as zlib.error. Fix: add zlib.error to that except tuple (or catch "
        "Exception for the entry) and report entry_unreadable.")


@FUZZ
@given(entries=st.lists(st.tuples(names, payloads), max_size=8))
def test_random_entries(tmp_path, rubric, entries):
    data = zip_bytes(entries)
    check_intake(tmp_path, rubric, data, counter="intake: random entry names (../, absolute, duplicates)")


@FUZZ
@given(entries=st.lists(st.tuples(names, payloads), min_size=1, max_size=5), cut=st.floats(0, 1))
def test_truncated_zips(tmp_path, rubric, entries, cut):
    data = zip_bytes(entries)
    check_intake(tmp_path, rubric, data[: int(len(data) * cut)], counter="intake: truncated zips")


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), flips=st.integers(1, 40))
def test_mutated_zips(tmp_path, rubric, seed, flips):
    rnd = random.Random(seed)
    data = bytearray(zip_bytes([("mini.ipynb", GOOD_NB), ("other.ipynb", GOOD_NB), ("mini_theory.pdf", b"%PDF-1.4\n")]))
    for _ in range(flips):
        data[rnd.randrange(len(data))] = rnd.randrange(256)
    check_intake(tmp_path, rubric, bytes(data), counter="intake: byte-mutated zips")


@FUZZ
@given(size=st.sampled_from([0, 1, 2**20, 2**27 + 1, 2**31, 2**32 - 1]),
       mode=st.sampled_from([0o100644, 0o120777, 0o010644, 0o140777, 0o020644, 0o104755, 0]))
def test_lying_headers(tmp_path, rubric, size, mode):
    data = set_declared_size(zip_bytes([("mini.ipynb", GOOD_NB), ("other.ipynb", b"/etc/shadow")], mode=mode), size)
    check_intake(tmp_path, rubric, data, counter="intake: lying sizes and modes")


@FUZZ
@given(raw=st.binary(min_size=6, max_size=6))
def test_non_utf8_names(tmp_path, rubric, raw):
    data = zip_bytes([("AAAAAA.ipynb", GOOD_NB), ("mini.ipynb", GOOD_NB)])
    data = rename_raw(data, b"AAAAAA", raw.replace(b"/", b"_").replace(b"\0", b"_"))
    check_intake(tmp_path, rubric, data, counter="intake: non-UTF-8 names")


@FUZZ
@given(name=st.text(max_size=30))
def test_zip_file_names(tmp_path, rubric, name):
    safe = name.replace("/", "_").replace("\0", "_")
    if safe in ("", ".", "..") or len(safe.encode()) > 200:
        safe = "x"
    sub = check_intake(tmp_path, rubric, zip_bytes([("mini.ipynb", GOOD_NB)]), name=safe + ".zip",
                       counter="intake: odd zip file names")
    assert sub.netid and "/" not in sub.netid


def test_entry_name_longer_than_name_max_is_refused_with_a_finding(tmp_path, rubric):
    data = zip_bytes([("mini.ipynb", GOOD_NB), ("other.ipynb", GOOD_NB), ("x" * 300 + ".txt", b"junk")])
    sub = check_intake(tmp_path, rubric, data, counter="intake: regressions")
    assert sub.accepted and set(sub.files) >= {"mini.ipynb", "other.ipynb"}


def test_corrupt_deflate_stream_is_a_finding(tmp_path, rubric):
    data = bytearray(zip_bytes([("mini.ipynb", GOOD_NB * 20), ("other.ipynb", GOOD_NB)]))
    start = data.find(b"mini.ipynb") + len("mini.ipynb")
    for i in range(start + 10, start + 60, 3):  # garble the deflate stream, keep the headers
        data[i] ^= 0x5A
    sub = check_intake(tmp_path, rubric, bytes(data), counter="intake: regressions")
    assert "other.ipynb" in sub.files
    assert any(f.code == "entry_unreadable" for f in sub.findings)


# ------------------------------------------------------------------------------------
# read_notebook (and extract) over random JSON and odd notebooks

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
sources = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["def f(:\n", "%%bash\nls", "!pip install x", "%matplotlib inline\ndef add(a,b): return a+b",
                     "def add(a, b):\n    return a + b", "class count: pass", "import torch as add",
                     "add = lambda a, b: a + b", "x = 1\ndel x", "\x00\x01", "async def add(a, b): pass",
                     "@decorator\ndef add(a, b): return a", "get_ipython().run_line_magic('cd', '/')",
                     "def add(a, b):\n\treturn a +\\\n b", "if True:\n  def add(a,b): return 0"]),
)


def check_read(tmp_path: Path, raw: bytes, counter: str):
    from grader.extract import extract, notebook_code_cells
    from grader.intake import read_notebook

    COUNTS[counter] += 1
    p = tmp_path / f"nb{COUNTS[counter]}.ipynb"
    p.write_bytes(raw)
    nb, findings = read_notebook(p, p.name)
    assert isinstance(findings, list)
    assert nb is not None or findings
    if nb is not None:
        ex = extract(notebook_code_cells(nb))
        assert isinstance(ex.problems, list)
        ex.module_for(["add", "count"])
    return nb, findings


@FUZZ
@given(value=json_values)
def test_random_json_as_notebook(tmp_path, value):
    check_read(tmp_path, json.dumps(value).encode(), "read_notebook: random JSON")


@FUZZ
@given(value=json_values, version=st.one_of(st.integers(-2, 6), st.text(max_size=3), st.none()))
def test_random_json_with_nbformat(tmp_path, value, version):
    doc = {"nbformat": version, "nbformat_minor": 0, "cells": value if isinstance(value, list) else [value],
           "metadata": value if isinstance(value, dict) else {}}
    check_read(tmp_path, json.dumps(doc).encode(), "read_notebook: nbformat field fuzz")


@FUZZ
@given(srcs=st.lists(sources, max_size=6), version=st.sampled_from([3, 4]), as_list=st.booleans())
def test_random_cell_sources(tmp_path, srcs, version, as_list):
    doc = mini_nb(*srcs, nbformat_version=version)
    if as_list and version == 4:
        for c in doc["cells"]:
            c["source"] = c["source"].splitlines(True)
    nb, findings = check_read(tmp_path, json.dumps(doc).encode(), "read_notebook: random cell sources (v3/v4)")
    if version == 3 and nb is not None:
        assert any(f.code == "nbformat_converted" for f in findings)


@FUZZ
@given(md=st.lists(st.text(max_size=50), max_size=4))
def test_notebook_without_code_cells(tmp_path, md):
    doc = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
           "cells": [{"cell_type": "markdown", "source": m, "metadata": {}, "id": f"m{i}"} for i, m in enumerate(md)]}
    nb, findings = check_read(tmp_path, json.dumps(doc).encode(), "read_notebook: no code cells")
    assert any(f.code == "no_code_cells" for f in findings)


@FUZZ
@given(data=st.binary(max_size=500), bom=st.booleans(), cut=st.floats(0, 1))
def test_random_and_truncated_bytes_as_notebook(tmp_path, data, bom, cut):
    good = GOOD_NB[: int(len(GOOD_NB) * cut)]
    check_read(tmp_path, (b"\xef\xbb\xbf" if bom else b"") + good + data, "read_notebook: random/truncated bytes")


# ------------------------------------------------------------------------------------
# full grade() on mutated submissions (slow: real kernels)

@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["cells", "bytes", "json", "sources"]))
def test_grade_mutated_submissions(tmp_path, rubric, seed, kind):
    from grader.pipeline import Env, grade

    rnd = random.Random(seed)
    COUNTS["grade(): mutated submissions"] += 1
    mini = mini_nb("import math\n\ndef add(a, b):\n    return a + b", "def count():\n    return 42", "print(add(1, 2))")
    other = mini_nb("def count():\n    return 40 + 2")
    if kind == "cells":
        cells = mini["cells"]
        rnd.shuffle(cells)
        del cells[rnd.randrange(len(cells))]
        cells.append({"cell_type": rnd.choice(["code", "raw", "markdown", "bogus"]), "source": "1/0",
                      "metadata": {"tags": ["skip-execution"]}, "outputs": [], "execution_count": None, "id": "x"})
    elif kind == "sources":
        for c in mini["cells"]:
            s = c["source"]
            i = rnd.randrange(len(s) + 1)
            c["source"] = s[:i] + rnd.choice(["(", ":", "\n    return None", "\x00", "\\", "'''", "import os; os._exit(0)\n"]) + s[i:]
    nb_bytes = json.dumps(mini).encode()
    if kind == "json":
        nb_bytes = nb_bytes[: rnd.randrange(len(nb_bytes))]
    data = zip_bytes([("mini.ipynb", nb_bytes), ("other.ipynb", json.dumps(other).encode()),
                      ("mini_theory.pdf", b"%PDF-1.4\n%%EOF\n")])
    if kind == "bytes":
        data = bytearray(data)
        for _ in range(rnd.randint(1, 8)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        data = bytes(data)
    z = tmp_path / f"ab{seed % 10000}.zip"
    z.write_bytes(data)
    env = Env(rubric=rubric, out_dir=tmp_path / "out", scratch_root=tmp_path / "scratch")
    rep = grade(z, env).to_dict()
    assert rep["netid"] and 0 <= rep["score"] <= rep["max_score"]
    assert (tmp_path / "out" / rep["netid"] / "report.json").exists()
    assert not any(f["code"] == "internal_error" for f in rep["findings"]), rep["findings"]
