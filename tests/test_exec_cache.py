"""The content-hash caches a batch keeps (grader/execute/cache.py, grader/probe/cache.py):
keys change with what determines a result, entries are verified on read, corrupted or
foreign entries are deleted and recomputed, timeouts and crashes are never cached, and a
cached probe result is decoded through the same boundary as a fresh one.

The execution key is tested as run_notebook computes it (a cache stub records the key and
stops before anything runs): limits, instrumentation, skip rules and support files change
it, the job dir and bytecode do not."""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from factories import notebook_node
from grader.execute import cache as ec
from grader.probe import Call, Prober
from grader.probe import cache as pc

SETTINGS = {"cell_timeout_s": 300, "deadline_s": 600, "max_output_bytes": 1 << 20, "memory_bytes": 1 << 30,
            "disk_bytes": 1 << 29, "isolation": "none", "prologue": [], "epilogue": [], "student_env": None, "datasets": ""}
RUN = {"status": "completed", "n_cells": 1, "cells": [{"index": 0, "status": "ok", "seconds": 0.1}]}


def _nb(src="x = 1"):
    return notebook_node(src)


def test_the_execution_key_changes_with_what_determines_an_execution(tmp_path):
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "helpers.py").write_text("A = 1\n")
    base = ec.key(_nb(), SETTINGS, ec.tree_digest(tmp_path / "res"))
    assert base == ec.key(_nb(), dict(SETTINGS), ec.tree_digest(tmp_path / "res"))
    assert base != ec.key(_nb("x = 2"), SETTINGS, ec.tree_digest(tmp_path / "res"))
    for k, v in [("deadline_s", 660), ("cell_timeout_s", 10), ("memory_bytes", 1 << 31),
                 ("epilogue", [["item", "export()"]]), ("prologue", [["item", "import x"]]), ("student_env", "py3.10"),
                 ("isolation", "bwrap")]:
        assert ec.key(_nb(), {**SETTINGS, k: v}, ec.tree_digest(tmp_path / "res")) != base, k
    (tmp_path / "res" / "helpers.py").write_text("A = 2\n")
    assert ec.key(_nb(), SETTINGS, ec.tree_digest(tmp_path / "res")) != base


def test_the_instrumentation_holds_what_is_recorded_not_item_ids_or_notebook_names():
    """hw3-fall2021-original's hw3_rnn.ipynb is rubrics/hw2-original's hw2_rnn.ipynb under
    other names (items hw3_rnn.*): the same prologue, so one execution serves both; a
    renamed item keeps it too, a changed recording parameter does not, and two items that
    record the same model share one recording."""
    import dataclasses as dc

    from grader.pipeline import _instrumentation
    from grader.rubric import load_rubric

    root = Path(__file__).resolve().parents[1] / "rubrics"
    hw2 = next(n for n in load_rubric(root / "hw2-original").notebooks if n.notebook == "hw2_rnn.ipynb")
    hw3 = next(n for n in load_rubric(root / "hw3-fall2021-original").notebooks if n.notebook == "hw3_rnn.ipynb")
    assert {i.id.split(".")[0] for i in hw3.items} == {"hw3_rnn"} and _instrumentation(hw3) == _instrumentation(hw2)
    pro, epi = _instrumentation(hw2)
    assert len(pro) == len(epi) == 2 and not any("hw2_rnn" in k or "GRUMemory." in k for k, _ in pro + epi)
    renamed = dc.replace(hw2, items=tuple(dc.replace(i, id=i.id.replace("hw2_rnn.", "echo.")) for i in hw2.items))
    assert _instrumentation(renamed) == (pro, epi)
    gru = next(i for i in hw2.items if i.id == "hw2_rnn.GRUMemory")
    twice = dc.replace(hw2, items=(gru, dc.replace(gru, id="hw2_rnn.again")))
    assert len(_instrumentation(twice)[0]) == 1
    bigger = dc.replace(gru, params=gru.params.model_copy(update={"max_params": gru.params.max_params + 1}))
    assert _instrumentation(dc.replace(hw2, items=(bigger,)))[0][0][0] != _instrumentation(dc.replace(hw2, items=(gru,)))[0][0][0]


def _entry(tmp_path, run=RUN):
    (tmp_path / "exports").mkdir(exist_ok=True)
    (tmp_path / "exports" / "w.npz").write_bytes(b"weights")
    (tmp_path / "executed.ipynb").write_text("{}")
    cache = ec.ExecCache(tmp_path / "cache")
    cache.put("k1", run, tmp_path / "executed.ipynb", tmp_path / "exports")
    return cache


def test_an_entry_is_verified_on_read_and_a_corrupted_one_is_deleted(tmp_path):
    cache = _entry(tmp_path)
    hit = cache.get("k1")
    assert hit is not None and (hit / "exports" / "w.npz").read_bytes() == b"weights"
    (hit / "exports" / "w.npz").write_bytes(b"tampered")
    assert cache.get("k1") is None and not (tmp_path / "cache" / "k1").exists()
    cache.put("k1", RUN, tmp_path / "executed.ipynb", tmp_path / "exports")  # recomputed, stored again
    assert cache.get("k1") is not None


@pytest.mark.parametrize("damage", ["run.json", "extra file", "missing entry", "foreign"])
def test_damaged_or_foreign_entries_are_ignored(tmp_path, damage):
    cache = _entry(tmp_path)
    d = tmp_path / "cache" / "k1"
    if damage == "run.json":
        (d / "run.json").write_text(json.dumps({**RUN, "status": "cell_errors"}))
    elif damage == "extra file":
        (d / "exports" / "planted.py").write_text("print('hi')")
    elif damage == "missing entry":
        (d / ec.ENTRY_FILE).unlink()
    else:  # another key's entry copied under this key
        shutil.copytree(d, tmp_path / "cache" / "k2")
        assert cache.get("k2") is None and not (tmp_path / "cache" / "k2").exists()
        return
    assert cache.get("k1") is None and not d.exists()


@pytest.mark.parametrize("run", [
    {**RUN, "status": "timeout"}, {**RUN, "status": "dead_kernel"}, {**RUN, "status": "executor_error"},
    {**RUN, "cut": {"cell": 0, "limit_s": 1.0}},
    {**RUN, "status": "cell_errors", "cells": [{"index": 0, "status": "timeout", "seconds": 300}]},
])
def test_timeouts_cuts_and_crashes_are_never_cached(tmp_path, run):
    cache = _entry(tmp_path, run)
    assert cache.get("k1") is None


SRC = "import numpy as np\ndef f(x):\n    return np.asarray(x) * 2\ndef slow(x):\n    import time\n    time.sleep(30)\n"


def _prober(tmp_path, name, cache_dir):
    return Prober(tmp_path / name, isolation="none", use_server=False, cache_dir=cache_dir)


@pytest.mark.slow  # real probe processes (about 10 s each on a loaded machine)
def test_probe_results_are_cached_by_their_inputs_and_verified(tmp_path):
    cache_dir = tmp_path / "pc"
    p = _prober(tmp_path, "a", cache_dir)
    (fresh,) = p.run(SRC, [Call("f", (np.arange(3.0),))])
    assert fresh.ok and p.stats["process_probes"] == 1
    q = _prober(tmp_path, "b", cache_dir)
    (again,) = q.run(SRC, [Call("f", (np.arange(3.0),))])
    assert q.stats["process_probes"] == 0 and q.stats["cached_probes"] == 1
    np.testing.assert_array_equal(again.value, fresh.value)
    # other inputs, other source: probed
    q.run(SRC, [Call("f", (np.arange(4.0),))])
    q.run(SRC + "\n", [Call("f", (np.arange(3.0),))])
    assert q.stats["process_probes"] == 2
    # a corrupted entry is deleted and the probe runs again
    (entry,) = [d for d in cache_dir.glob("*/*") if d.is_dir() and (d / "out-0.npz").exists()
                and pc.key(SRC, *_spec([Call("f", (np.arange(3.0),))]), None, "none", q.python, q.memory_bytes) == d.name]
    (entry / "out-0.npz").write_bytes(b"PK garbage")
    r = _prober(tmp_path, "c", cache_dir)
    (third,) = r.run(SRC, [Call("f", (np.arange(3.0),))])
    assert third.ok and r.stats["process_probes"] == 1
    np.testing.assert_array_equal(third.value, fresh.value)


def _spec(calls):
    from grader.probe import _call_spec

    spec, inputs = _call_spec(calls, 60.0)
    return spec, inputs.arrays


def test_a_cached_result_goes_through_the_untrusted_decoder(tmp_path):
    """A forged entry with valid digests (e.g. written by someone with access to OUT) is
    still student data: an array reference that does not exist is decoded as the decoder
    decodes it from a fresh probe (an Opaque), never trusted as a value."""
    cache_dir = tmp_path / "pc"
    p = _prober(tmp_path, "a", cache_dir)
    calls = [Call("f", (np.arange(3.0),))]
    k = pc.key(SRC, *_spec(calls), None, "none", p.python, p.memory_bytes)
    pc.ProbeCache(cache_dir).put(k, {"out-0.json": json.dumps({"ok": True, "value": {"t": "ndarray", "key": "nope"}}).encode()})
    (out,) = p.run(SRC, calls)
    from grader.probe import Opaque

    assert p.stats["cached_probes"] == 1 and isinstance(out.value, Opaque) and out.value.type == "missing-array"


@pytest.mark.slow  # a real probe process, killed at its time limit
def test_a_timed_out_call_is_not_cached(tmp_path):
    cache_dir = tmp_path / "pc"
    p = _prober(tmp_path, "a", cache_dir)
    (out,) = p.run(SRC, [Call("slow", (1,), timeout_s=1.0)])
    assert not out.ok
    assert not [d for d in cache_dir.glob("*/*") if d.is_dir()]


def test_similarity_code_is_parsed_once_per_zip_and_targets(tmp_path):
    """A regrade does not re-extract the code for the cohort view; a corrupt entry is
    recomputed, and another zip (other bytes) is its own entry."""
    from grader.batch.worker import _cached_code
    from grader.rubric import load_rubric

    root = Path(__file__).resolve().parent.parent
    rubric = load_rubric(root / "rubrics" / "hw2")
    z1, z2 = tmp_path / "ab1234.zip", tmp_path / "cd5678.zip"
    z1.write_bytes(b"one")
    z2.write_bytes(b"two")
    calls = []

    def compute(value):
        def f():
            calls.append(value)
            return {"hw2_cnn.ipynb::conv1d_forward": value}
        return f

    cache = tmp_path / "code-cache"
    assert _cached_code(str(cache), z1, rubric, compute("a")) == {"hw2_cnn.ipynb::conv1d_forward": "a"}
    assert _cached_code(str(cache), z1, rubric, compute("b")) == {"hw2_cnn.ipynb::conv1d_forward": "a"}
    assert _cached_code(str(cache), z2, rubric, compute("c")) == {"hw2_cnn.ipynb::conv1d_forward": "c"}
    assert calls == ["a", "c"]
    for f in cache.glob("*.json"):
        f.write_text("{not json")
    assert _cached_code(str(cache), z1, rubric, compute("d")) == {"hw2_cnn.ipynb::conv1d_forward": "d"}
    assert _cached_code(None, z1, rubric, compute("e"))["hw2_cnn.ipynb::conv1d_forward"] == "e"


# -- the key run_notebook really computes (not a hand-written settings dict) ----------------
# The cache stub records the key and stops run_notebook before anything executes, so these
# tests see exactly what a grading would look up: milliseconds, no kernel.

class _Stop(Exception):
    pass


class _KeyRecorder:
    def __init__(self):
        self.key = None

    def claim(self, k, wait_s):  # run_notebook's one way into the cache: lock, then look up
        self.key = k
        raise _Stop


def _exec_key(tmp_path, spec, nb=None, support=None, isolation="none", prologue=(), epilogue=()) -> str:
    from grader.execute import run_notebook

    rec = _KeyRecorder()
    job = Path(tempfile.mkdtemp(prefix="job", dir=tmp_path))  # the job dir itself is not part of the key
    with pytest.raises(_Stop):
        run_notebook(nb if nb is not None else _nb(), spec, job, support, isolation,
                     prologue=list(prologue), epilogue=list(epilogue), cache=rec)
    assert isinstance(rec.key, str) and len(rec.key) == 64
    return rec.key


@pytest.fixture
def mini_spec(mini_rubric):
    return mini_rubric.notebook("mini.ipynb")


def _limits(spec, **kw):
    return dataclasses.replace(spec, execution=dataclasses.replace(spec.execution, **kw))


def test_run_notebooks_key_changes_with_each_limit_and_not_with_the_job_dir(tmp_path, mini_spec):
    base = _exec_key(tmp_path, mini_spec)
    assert _exec_key(tmp_path, mini_spec) == base  # another job dir, same execution: a hit
    ex = mini_spec.execution
    for field, value in [("cell_timeout_s", ex.cell_timeout_s + 1), ("notebook_timeout_s", ex.notebook_timeout_s + 1),
                         ("memory_mb", ex.memory_mb * 2), ("max_output_kb", ex.max_output_kb + 1),
                         ("disk_mb", ex.disk_mb + 1)]:
        assert _exec_key(tmp_path, _limits(mini_spec, **{field: value})) != base, field
    assert _exec_key(tmp_path, mini_spec, isolation="rlimits") != base
    assert _exec_key(tmp_path, mini_spec, nb=_nb("x = 2")) != base


def test_run_notebooks_key_changes_with_the_skip_rules_that_change_the_prepared_cells(tmp_path, mini_spec):
    from grader.rubric.model import SkipRule

    nb = _nb("x = 1\nprint('keep')")
    base = _exec_key(tmp_path, mini_spec, nb=nb)
    unused = (SkipRule(pattern=r"^never_matches_anything$", reason="not in this notebook"),)
    assert _exec_key(tmp_path, _limits(mini_spec, skip_cells=unused), nb=nb) == base  # same prepared cells
    used = (SkipRule(pattern=r"^print\('keep'\)$", reason="skip the print"),)
    assert _exec_key(tmp_path, _limits(mini_spec, skip_cells=used), nb=nb) != base


def test_run_notebooks_key_changes_with_the_instrumentation(tmp_path, mini_spec):
    base = _exec_key(tmp_path, mini_spec)
    assert _exec_key(tmp_path, mini_spec, prologue=[("mini.add", "x = 0")]) != base
    assert _exec_key(tmp_path, mini_spec, epilogue=[("mini.add", "x = 0")]) != base
    assert (_exec_key(tmp_path, mini_spec, prologue=[("mini.add", "x = 0")])
            != _exec_key(tmp_path, mini_spec, prologue=[("mini.add", "x = 1")]))
    assert (_exec_key(tmp_path, mini_spec, prologue=[("a", "x = 0")])
            != _exec_key(tmp_path, mini_spec, prologue=[("b", "x = 0")]))  # which item's cell: its own record


def test_an_items_parameters_change_the_key_only_through_what_its_instrumentation_runs(tmp_path, mini_spec):
    """A loss_curve item's snapshot interval is in the kernel code; its accuracy goal is judged
    afterwards: a rubric change to the goal reuses the execution, a change to the interval does not."""
    from grader.checks import registry
    from grader.pipeline import _instrumentation
    from grader.rubric.model import ItemSpec

    def key_with(**params):
        item = ItemSpec(id="mini.curve", title="curve", points=1.0, kind="loss_curve", target=None,
                        params=registry.get("loss_curve").Params.of(params), visibility="visible", feedback="", part="code")
        pro, epi = _instrumentation(dataclasses.replace(mini_spec, items=(item,)))
        assert pro and epi
        return _exec_key(tmp_path, mini_spec, prologue=pro, epilogue=epi)

    base = key_with()
    assert key_with(min_accuracy=0.9, max_rise=0.5) == base
    assert key_with(steps_per_snapshot=7) != base
    assert key_with(model_class="OtherLSTM") != base


def test_run_notebooks_key_changes_with_the_support_files_and_not_their_bytecode(tmp_path, mini_spec):
    res = tmp_path / "res"
    res.mkdir()
    (res / "helpers.py").write_text("A = 1\n")
    base = _exec_key(tmp_path, mini_spec, support=res)
    assert _exec_key(tmp_path, mini_spec) != base  # no support dir at all
    (res / "__pycache__").mkdir()
    (res / "__pycache__" / "helpers.cpython-311.pyc").write_bytes(b"bytecode")
    assert _exec_key(tmp_path, mini_spec, support=res) == base
    (res / "helpers.py").write_text("A = 2\n")
    changed = _exec_key(tmp_path, mini_spec, support=res)
    assert changed != base
    (res / "data.txt").write_text("more")
    assert _exec_key(tmp_path, mini_spec, support=res) != changed
    (res / "data.txt").unlink()
    (res / "renamed.py").write_text((res / "helpers.py").read_text())
    (res / "helpers.py").unlink()
    assert _exec_key(tmp_path, mini_spec, support=res) != changed  # same bytes under another name


def test_the_key_changes_with_the_graders_executor_and_version(monkeypatch):
    from importlib import metadata

    base = ec.key(_nb(), SETTINGS, "none")
    monkeypatch.setattr(ec, "_executor_digest", lambda: "another executor")
    assert ec.key(_nb(), SETTINGS, "none") != base
    monkeypatch.undo()
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "999.0" if name == "dl-grader" else real(name))
    assert ec.key(_nb(), SETTINGS, "none") != base


def test_the_executor_digest_covers_the_sandbox_the_child_env_and_torch(monkeypatch):
    """An entry made by another sandbox, child environment or torch is not reused: each
    listed file is hashed (dropping one changes the digest), and so is torch's version."""
    from importlib import metadata

    package = Path(ec.__file__).resolve().parent.parent
    for pattern in ec.EXECUTION_CODE:
        assert list(package.glob(pattern)), f"{pattern} matches nothing: renamed?"
    base = ec._executor_digest()
    for pattern in ("sandbox/*.py", "childenv.py", "execute/executor.py"):
        monkeypatch.setattr(ec, "EXECUTION_CODE", tuple(p for p in ec.EXECUTION_CODE if p != pattern))
        assert ec._executor_digest() != base, pattern
        monkeypatch.undo()
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "0.1" if name == "torch" else real(name))
    assert ec._executor_digest() != base
    monkeypatch.undo()
    assert ec._executor_digest() == base


@pytest.mark.parametrize("run", [
    {**RUN, "status": "executor_crashed"}, {**RUN, "status": "invalid"},
    {**RUN, "status": "cell_errors", "cells": [{"index": 0, "status": "dead", "seconds": 1.0}]},
])
def test_other_failures_of_the_machine_are_not_cached_either(tmp_path, run):
    assert not ec.cacheable(run)
    cache = _entry(tmp_path, run)
    assert cache.get("k1") is None and not (tmp_path / "cache" / "k1").exists()


def test_what_can_be_cached_is_cached(tmp_path):
    """The other side of the cases above: completed runs and the student's own cell errors."""
    for status in ("completed", "cell_errors"):
        run = {**RUN, "status": status}
        assert ec.cacheable(run)
        (tmp_path / status).mkdir()
        cache = _entry(tmp_path / status, run)
        assert cache.get("k1") is not None


@pytest.mark.parametrize("damage", ["entry.json not JSON", "entry.json a list", "entry without run.json",
                                    "symlinked export", "entry dir is a symlink"])
def test_more_damaged_entries_are_ignored(tmp_path, damage):
    cache = _entry(tmp_path)
    d = tmp_path / "cache" / "k1"
    if damage == "entry.json not JSON":
        (d / ec.ENTRY_FILE).write_text("{truncated")
    elif damage == "entry.json a list":
        (d / ec.ENTRY_FILE).write_text("[]")
    elif damage == "entry without run.json":
        entry = json.loads((d / ec.ENTRY_FILE).read_text())
        (d / "run.json").unlink()
        entry["files"].pop("run.json")
        (d / ec.ENTRY_FILE).write_text(json.dumps(entry))
    elif damage == "symlinked export":
        (d / "exports" / "w.npz").unlink()
        (d / "exports" / "w.npz").symlink_to(tmp_path / "exports" / "w.npz")  # same bytes, not a regular file
    else:
        real = tmp_path / "elsewhere"
        d.rename(real)
        d.symlink_to(real, target_is_directory=True)
        assert cache.get("k1") is None
        return
    assert cache.get("k1") is None and not d.exists()


# -- single flight: graders that miss on the same key at the same time run it once ----------

def test_a_waiter_takes_the_entry_its_lock_holder_stored(tmp_path):
    import threading
    import time

    cache = ec.ExecCache(tmp_path / "cache")
    (tmp_path / "exports").mkdir()
    held, got = threading.Event(), {}

    def holder():
        with cache.claim("k1", wait_s=5) as hit:
            assert hit is None
            held.set()
            time.sleep(0.8)  # "executing"
            cache.put("k1", RUN, tmp_path / "none.ipynb", tmp_path / "exports")

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    t0 = time.monotonic()
    with cache.claim("k1", wait_s=10, poll_s=0.05) as hit:
        got["hit"], got["waited"] = hit, time.monotonic() - t0
    t.join()
    assert got["hit"] is not None and json.loads((got["hit"] / "run.json").read_text()) == RUN
    assert got["waited"] >= 0.5  # it waited for the holder instead of running the notebook too


def test_a_holder_that_stores_nothing_or_hangs_does_not_stop_the_waiter(tmp_path):
    import time

    cache = ec.ExecCache(tmp_path / "cache")
    with cache.claim("k1", wait_s=5) as hit:
        assert hit is None
    with cache.claim("k1", wait_s=5) as hit:  # released, nothing stored (a timeout is not cached): run it
        assert hit is None
        t0 = time.monotonic()
        with cache.claim("k1", wait_s=0.3, poll_s=0.05) as inner:  # the holder "hangs": give up waiting
            assert inner is None
        assert 0.3 <= time.monotonic() - t0 < 3


def test_a_dead_holders_lock_is_released(tmp_path):
    import subprocess
    import sys
    import time

    cache = ec.ExecCache(tmp_path / "cache")
    lock = tmp_path / "cache" / ".locks" / "k1"
    lock.parent.mkdir()
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    proc.kill()
    proc.wait()
    t0 = time.monotonic()
    with cache.claim("k1", wait_s=30, poll_s=0.05) as hit:
        assert hit is None
    assert time.monotonic() - t0 < 5


def test_two_gradings_of_the_same_notebook_at_once_execute_it_once(tmp_path, mini_spec):
    """Two run_notebook calls on one cache at the same time (a batch's workers, the suite's
    processes): the notebook runs once, the second takes the first's entry. The notebook
    counts its own executions in a file outside the sandbox (isolation none)."""
    import threading

    from grader.execute import run_notebook

    counter = tmp_path / "executions.txt"
    nb = _nb(f"import time\nwith open({str(counter)!r}, 'a') as f:\n    f.write('x')\ntime.sleep(3)")
    cache = ec.ExecCache(tmp_path / "cache")
    runs = {}

    def grade(name):
        job = tmp_path / name
        job.mkdir()
        runs[name] = run_notebook(nb, mini_spec, job, None, "none", cache=cache)

    threads = [threading.Thread(target=grade, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status for r in runs.values()} == {"completed"}, runs
    assert counter.read_text() == "x"  # without the lock: "xx"
