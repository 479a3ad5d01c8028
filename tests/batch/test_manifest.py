"""The content-hash manifest: atomic records, torn lines, keys, the OUT lock."""
import json

import pytest

from grader.batch.manifest import BatchError, Manifest, job_key, rubric_hash


def test_a_recorded_job_is_done_and_loads_back(tmp_path):
    m = Manifest(tmp_path)
    m.record("k1", "graded", "ab1234", "ab1234.zip", {"report": {"score": 3}})
    assert m.load_done(m.latest().get("k1")) == {"report": {"score": 3}}
    assert m.load_done(m.latest().get("nope")) is None


def test_torn_last_line_is_ignored_and_the_next_record_starts_on_its_own_line(tmp_path):
    m = Manifest(tmp_path)
    m.record("k1", "graded", "ab1234", "ab1234.zip", {"report": 1})
    with open(m.path, "ab") as fh:
        fh.write(b'{"v": 1, "key": "k2", "sta')  # SIGKILL in the middle of an append
    assert set(m.latest()) == {"k1"}
    m.record("k3", "graded", "cd5678", "cd5678.zip", {"report": 3})
    assert set(m.latest()) == {"k1", "k3"}
    assert all(json.loads(line)["key"] in ("k1", "k3") for line in m.path.read_text().splitlines()[::2])


def test_a_crash_or_a_damaged_cache_is_not_done(tmp_path):
    m = Manifest(tmp_path)
    m.record("k1", "crashed", "ab1234", "ab1234.zip", {"report": 0})
    assert m.load_done(m.latest()["k1"]) is None
    e = m.record("k2", "graded", "cd5678", "cd5678.zip", {"report": 2})
    (m.dir / e.cache).write_text('{"report": 2')  # truncated behind our back
    assert m.load_done(m.latest()["k2"]) is None
    (m.dir / e.cache).unlink()
    assert m.load_done(m.latest()["k2"]) is None


def test_the_latest_record_of_a_key_wins(tmp_path):
    m = Manifest(tmp_path)
    m.record("k1", "crashed", "ab1234", "ab1234.zip", {"report": 0})
    m.record("k1", "graded", "ab1234", "ab1234.zip", {"report": 1})
    assert m.load_done(m.latest()["k1"]) == {"report": 1}


def test_the_key_changes_with_zip_name_rubric_version_and_isolation():
    base = job_key("a" * 64, "ab1234.zip", "r", "1.0", "auto")
    assert base == job_key("a" * 64, "ab1234.zip", "r", "1.0", "auto")
    variants = [job_key("b" * 64, "ab1234.zip", "r", "1.0", "auto"), job_key("a" * 64, "hw2_ab1234.zip", "r", "1.0", "auto"),
                job_key("a" * 64, "ab1234.zip", "r2", "1.0", "auto"), job_key("a" * 64, "ab1234.zip", "r", "1.1", "auto"),
                job_key("a" * 64, "ab1234.zip", "r", "1.0", "none")]
    assert len({base, *variants}) == 6


def test_rubric_hash_follows_file_contents(tmp_path):
    class R:
        directory = tmp_path
        support_dir = None

    (tmp_path / "a.yaml").write_text("x: 1")
    h1 = rubric_hash(R)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "m.pyc").write_bytes(b"junk")
    assert rubric_hash(R) == h1
    (tmp_path / "a.yaml").write_text("x: 2")
    assert rubric_hash(R) != h1


def test_two_batches_cannot_share_an_output_folder(tmp_path):
    a, b = Manifest(tmp_path), Manifest(tmp_path)
    a.lock()
    try:
        with pytest.raises(BatchError, match="another `grader batch`"):
            b.lock()
    finally:
        a.unlock()
    b.lock()
    b.unlock()
