"""The starter code kept in a batch's code cache (grader.batch.caches.starter_code): the
class stage of a regrade does not parse the starter notebooks again, and a changed starter,
a corrupted entry or an OUT that is not a batch's never gets a stale or broken value."""
from __future__ import annotations

import json

import pytest

from grader.batch import caches, similarity


@pytest.fixture
def starter(tmp_path, monkeypatch):
    d = tmp_path / "starter"
    d.mkdir()
    (d / "nb.ipynb").write_text("starter v1")
    calls = []

    def compute(rubric, starter_dir):
        calls.append(starter_dir)
        return {"nb.ipynb::f": f"code of {(starter_dir / 'nb.ipynb').read_text()}"}

    monkeypatch.setattr(similarity, "find_starter_dir", lambda rubric: d)
    monkeypatch.setattr(similarity, "targets_of", lambda rubric: {"nb.ipynb": ["f"]})
    monkeypatch.setattr(similarity, "starter_code", compute)
    out = tmp_path / "out"
    (out / ".batch").mkdir(parents=True)
    return d, out, calls


def test_the_starter_code_is_parsed_once_per_content(starter):
    d, out, calls = starter
    assert caches.starter_code(out, None) == {"nb.ipynb::f": "code of starter v1"}
    assert caches.starter_code(out, None) == {"nb.ipynb::f": "code of starter v1"}
    assert len(calls) == 1
    (d / "nb.ipynb").write_text("starter v2")  # a fixed starter is parsed again
    assert caches.starter_code(out, None) == {"nb.ipynb::f": "code of starter v2"} and len(calls) == 2


def test_a_corrupted_entry_is_computed_again(starter):
    _, out, calls = starter
    caches.starter_code(out, None)
    (entry,) = caches.code_dir(out).glob("starter-*.json")
    entry.write_text(json.dumps({"nb.ipynb::f": 3}))
    assert caches.starter_code(out, None) == {"nb.ipynb::f": "code of starter v1"} and len(calls) == 2
    entry.write_text("{not json")
    assert caches.starter_code(out, None) == {"nb.ipynb::f": "code of starter v1"} and len(calls) == 3


def test_an_out_that_is_not_a_batch_keeps_nothing(starter, tmp_path):
    _, _, calls = starter
    plain = tmp_path / "plain"
    plain.mkdir()
    assert caches.starter_code(plain, None) == {"nb.ipynb::f": "code of starter v1"}
    assert caches.starter_code(plain, None) == {"nb.ipynb::f": "code of starter v1"}
    assert len(calls) == 2 and not (plain / ".batch").exists()


def test_the_similarity_code_digest_follows_the_code(monkeypatch, tmp_path):
    base = caches.similarity_code_digest()
    assert base == caches.similarity_code_digest()
    fake = tmp_path / "similarity.py"
    fake.write_text("# another similarity\n")
    monkeypatch.setattr(similarity, "__file__", str(fake))
    assert caches.similarity_code_digest() != base
