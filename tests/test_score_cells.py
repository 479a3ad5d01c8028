"""Issue 12, without a kernel: every failing cell judged on its own, the one prepared source
(kernel and probes), content that breaks the executor is the notebook's, and the executor's
witness compared with the kernel's replies.

The end-to-end attacks are in tests/adversarial/test_execution_integrity.py."""
from pathlib import Path

import nbformat
import pytest

from factories import ROOT, notebook_node
from grader.model import CellOutcome, NotebookRun
from grader.score import environment_errors, execution_penalty, not_executable_reasons


def failing(*cells, status="cell_errors"):
    """A run whose failing cells are (index, ename, evalue)."""
    return NotebookRun("nb.ipynb", status, False, 1.0, 10, tuple(CellOutcome(i, "error", 0.1, e, v) for i, e, v in cells))


# ------------------------------------------------------------------------------------
# per-cell judgement


SHIELD = notebook_node("def bonus():\n    raise NotImplementedError\nrf = bonus()",  # 0
               "x = 1",  # 1
               "f3 = conv(x)\nprint(f3.shape[2])")  # 2


def test_an_early_not_implemented_no_longer_shields_a_later_genuine_failure():
    run = failing((0, "NotImplementedError", ""), (2, "IndexError", "tuple index out of range"))
    (reason,) = not_executable_reasons([run], None, {"nb.ipynb": SHIELD})
    assert "cell 2 raised IndexError" in reason
    # without the sources too (the legacy reading excuses NameErrors only)
    (reason,) = not_executable_reasons([run])
    assert "cell 2 raised IndexError" in reason


def test_answer_errors_excuse_only_their_consequences_transitively():
    nbs = {"nb.ipynb": notebook_node(
        "def bonus():\n    raise NotImplementedError\nrf = bonus()",  # 0: unfinished TODO, binds rf
        "print(rf)\nlength = len(rf)",  # 1: NameError rf (consequence), would bind length
        "print(length)",  # 2: NameError length (consequence of a consequence)
        "ratio = 0.2\nassert ratio > 1\nscale = ratio * 2",  # 3: failing assert, binds scale
        "print(scale)",  # 4: NameError scale (consequence)
        "print(undefined_elsewhere)",  # 5: NameError on a name no failed cell binds: judged
    )}
    run = failing((0, "NotImplementedError", ""), (1, "NameError", "name 'rf' is not defined"),
                  (2, "NameError", "name 'length' is not defined"), (3, "AssertionError", ""),
                  (4, "NameError", "name 'scale' is not defined"),
                  (5, "NameError", "name 'undefined_elsewhere' is not defined"))
    (reason,) = not_executable_reasons([run], None, nbs)
    assert "cell 5 raised NameError" in reason and "more failing" not in reason
    without_5 = failing(*[(c.index, c.ename, c.evalue) for c in run.cells if c.index != 5])
    assert not_executable_reasons([without_5], None, nbs) == []


def test_a_consequence_must_be_a_name_error_on_a_name_the_failed_cell_binds():
    nbs = {"nb.ipynb": notebook_node("def bonus():\n    raise NotImplementedError\nrf = bonus()", "print(rf[0] / 0)")}
    # a ZeroDivisionError after an unfinished TODO is not its consequence
    run = failing((0, "NotImplementedError", ""), (1, "ZeroDivisionError", "division by zero"))
    assert "cell 1 raised ZeroDivisionError" in not_executable_reasons([run], None, nbs)[0]


def test_a_failing_assert_never_shields_and_the_legacy_tests_hold():
    run = failing((3, "AssertionError", ""), (5, "ZeroDivisionError", "division by zero"))
    assert "cell 5 raised ZeroDivisionError" in not_executable_reasons([run])[0]
    assert not_executable_reasons([failing((3, "NotImplementedError", ""), (5, "NameError", ""))]) == []


def test_environment_rules_and_answer_errors_mix():
    from grader.rubric import load_rubric

    rubric = load_rubric(ROOT / "rubrics" / "hw2-original")
    nbs = {"hw2_cnn.ipynb": notebook_node("import torchvision\nfrom torchvision import transforms", "def todo():\n    raise NotImplementedError\nm = todo()",
                                  "print(m)", "1/0")}
    run = NotebookRun("hw2_cnn.ipynb", "cell_errors", False, 1.0, 4, (
        CellOutcome(0, "error", 0.1, "ModuleNotFoundError", "No module named 'torchvision'"),
        CellOutcome(1, "error", 0.1, "NotImplementedError", ""),
        CellOutcome(2, "error", 0.1, "NameError", "name 'm' is not defined"),
        CellOutcome(3, "error", 0.1, "ZeroDivisionError", "division by zero")))
    # the rubric's torchvision rule excuses every later cell (later_cells: excused): as before
    assert execution_penalty([run], rubric, notebooks=nbs) == []
    assert "torchvision" in environment_errors([run], rubric, nbs)[0]


def test_a_cell_the_witness_saw_fail_is_judged_like_any_failure():
    run = failing((6, "IndexError", "the kernel reported success; the grader's witness saw this cell raise IndexError"))
    (reason,) = not_executable_reasons([run], None, {"nb.ipynb": notebook_node(*["x = 1"] * 7)})
    assert "cell 6 raised IndexError" in reason


def test_invalid_content_is_penalised_with_its_message():
    run = NotebookRun("nb.ipynb", "invalid", False, 0.0, 3, (), message="nb.ipynb: the executor cannot run this notebook: code cell 1's source is a JSON number")
    (reason,) = not_executable_reasons([run])
    assert "code cell 1's source is a JSON number" in reason


def test_sources_that_are_not_text_do_not_break_scoring():
    bad = nbformat.from_dict({"cells": [{"cell_type": "code", "source": 5, "metadata": {}, "outputs": []},
                                        {"cell_type": "code", "source": ["print(", "x)"], "metadata": {}, "outputs": []},
                                        "not a cell"], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    run = failing((1, "NameError", "name 'x' is not defined"))
    assert "cell 1 raised NameError" in not_executable_reasons([run], None, {"nb.ipynb": bad})[0]


# ------------------------------------------------------------------------------------
# the one prepared source


def _rules():
    from grader.rubric import load_rubric

    return load_rubric(ROOT / "rubrics" / "hw2").notebook("hw2_cnn.ipynb").execution.skip_cells


SKIPPED_RETURN = """def conv_output_shape(C, H, W, K, P, S, D, F):
    return (F, H, W)  # (no drive.mount() needed here)
    raise NotImplementedError  # TODO"""


def test_a_line_neutralised_for_the_kernel_is_neutralised_for_the_probe():
    from grader.execute.prepare import prepare_notebook
    from grader.extract import extract

    p = prepare_notebook(notebook_node("import torch", SKIPPED_RETURN), _rules())
    assert p.valid and [n.index for n in p.notes] == [1] and "Google Drive" in p.notes[0].note
    kernel_source = p.nb.cells[1].source
    assert "return (F, H, W)" not in kernel_source and "raise NotImplementedError" in kernel_source
    probe = extract(p.code_cells()).module_for(["conv_output_shape"])
    assert "return (F, H, W)" not in probe and "raise NotImplementedError" in probe
    ns = {}
    exec(probe, ns)
    with pytest.raises(NotImplementedError):
        ns["conv_output_shape"](1, 10, 11, 3, 0, 2, 1, 1)


def test_rewrites_happen_once_for_the_kernel_and_the_probe():
    from types import SimpleNamespace

    from grader.checks import _exports
    from grader.execute.prepare import prepare_notebook
    from grader.extract import extract
    from grader.rubric import load_rubric

    rules = load_rubric(ROOT / "rubrics" / "hw2-original").notebook("hw2_rnn.ipynb").execution.skip_cells
    p = prepare_notebook(notebook_node("import torch\ndef f(x):\n    return x.cuda()"), rules)
    assert "x.cpu()" in p.nb.cells[0].source
    ex = extract(p.code_cells())
    calls = []

    class Prober:
        def run(self, source, calls_, **kw):
            calls.append(source)
            return []

    ctx = SimpleNamespace(extraction=ex, prober=Prober(), notebook=SimpleNamespace(execution=SimpleNamespace(skip_cells=rules)))
    _exports.probe_module(ctx, ["f"], [], set(), "")
    assert "x.cpu()" in calls[0] and "cuda" not in calls[0]


def test_a_magic_cell_that_runs_its_body_is_extracted_as_its_body():
    from grader.extract import extract, to_python

    ex = extract(["def f():\n    return 1", "%%time\ndef f():\n    return 2", "%%writefile x.py\ndef g():\n    return 3"])
    ns = {}
    exec(ex.module_for(["f"]), ns)
    assert ns["f"]() == 2 and ex.find("g") is None
    # an IPython line inside a definition stays (the kernel runs it when called); top level is dropped
    src = to_python("%matplotlib inline\ndef h():\n    %time x = 1\n    return 4")
    assert src.splitlines()[0] == "pass" and "get_ipython().run_line_magic('time'" in src.splitlines()[2]


def test_prepare_builds_the_notebook_from_plain_text():
    from grader.execute.prepare import prepare_notebook

    raw = nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5,
                              "metadata": {"kernelspec": "evil", "widgets": 5, "language_info": "x"},
                              "cells": [{"cell_type": "code", "id": "bad id", "metadata": {"tags": 5, "execution": 1},
                                         "outputs": [{"output_type": "stream"}], "execution_count": "x", "source": "x = 1"},
                                        {"cell_type": "markdown", "metadata": {}, "source": "hi", "attachments": {"a": 5}},
                                        {"cell_type": "weird", "metadata": {}, "source": "zz"}]})
    p = prepare_notebook(raw, ())
    assert p.valid
    assert [c.cell_type for c in p.nb.cells] == ["code", "markdown", "raw"]
    assert p.nb.metadata == {} or "kernelspec" not in p.nb.metadata
    code = p.nb.cells[0]
    assert code.source == "x = 1" and code.metadata == {} and code.outputs == [] and code.id == "cell-0"
    nbformat.validate(p.nb)  # the executor gets a valid notebook


@pytest.mark.parametrize("source, says", [(5, "a JSON number"), (None, "nothing (null)"), ({"a": 1}, "a JSON object"),
                                          ([1, "x"], "a JSON list")])
def test_a_code_cell_that_is_not_text_makes_the_notebook_invalid(source, says):
    from grader.execute.prepare import prepare_notebook

    raw = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
           "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": "x = 1"},
                     {"cell_type": "code", "metadata": {}, "outputs": [], "source": source}]}
    p = prepare_notebook(raw, ())
    assert not p.valid and f"code cell 1's source is {says}, not text" in p.problem and "save it again" in p.problem
    assert p.code_cells() == ["x = 1", ""]  # the other cells are still extracted


def test_an_invalid_prepared_notebook_is_not_run(tmp_path):
    from grader.execute import run_notebook
    from grader.execute.prepare import Prepared
    from grader.rubric import load_rubric

    spec = load_rubric(ROOT / "rubrics" / "hw2").notebook("hw2_cnn.ipynb")
    p = Prepared(notebook_node("x = 1"), (), "the executor cannot run this notebook: code cell 0's source is a JSON number")
    run = run_notebook(None, spec, tmp_path, None, "none", prepared=p)
    assert run.status == "invalid" and "JSON number" in run.message and list(tmp_path.iterdir()) == []


def test_the_pipeline_prepares_once_and_extracts_the_prepared_cells(tmp_path):
    import datetime as dt

    from grader import pipeline
    from grader.rubric import load_rubric

    rubric = load_rubric(ROOT / "rubrics" / "hw2")
    env = pipeline.Env(rubric=rubric, out_dir=tmp_path / "out", execute=False)
    raw = notebook_node("import torch", SKIPPED_RETURN)
    raw.cells[0].metadata["tags"] = 5
    state = pipeline.State(source=tmp_path / "x.zip", job_dir=tmp_path, isolation={"mode": "none"},
                           started=0.0, notebooks={"hw2_cnn.ipynb": raw})
    state = pipeline.stage_prepare(state, env)
    assert state.submitted_notebooks["hw2_cnn.ipynb"] is raw
    assert state.notebooks["hw2_cnn.ipynb"] is state.prepared["hw2_cnn.ipynb"].nb
    state = pipeline.stage_extract(state, env)
    src = state.extractions["hw2_cnn.ipynb"].module_for(["conv_output_shape"])
    assert "return (F, H, W)" not in src and "[grader] skipped" in src
    assert dt  # (imported for symmetry with the other pipeline tests)


# ------------------------------------------------------------------------------------
# the executor: dropped messages and the witness (pure parts, no kernel)


def _client():
    from grader.execute.executor import CappedClient

    nb = notebook_node("x")
    client = CappedClient(nb, max_output_bytes=10_000, record_timing=False)
    client.reset_execution_trackers()  # what nbclient does before running a notebook, and a cell:
    client.clear_before_next_output = False
    return client, nb.cells[0]


def _msg(kind, content):
    return {"msg_type": kind, "header": {"msg_type": kind, "msg_id": "m", "date": None}, "parent_header": {},
            "metadata": {}, "content": content}


def test_a_kernel_message_nbclient_cannot_process_is_dropped_and_noted():
    from nbclient.exceptions import CellExecutionComplete

    client, cell = _client()
    bad = _msg("display_data", {"data": {"text/plain": "x"}, "metadata": {}, "transient": {"display_id": ["bar"]}})
    assert client.process_message(bad, cell, 0) is None
    assert client.dropped == [{"cell": 0, "msg_type": "display_data", "error": "TypeError: unhashable type: 'list'"}]
    client.process_message(_msg("error", {"ename": 5}), cell, 0)  # malformed error output: dropped too
    assert len(client.dropped) == 2
    client.process_message(_msg("stream", {"name": "stdout", "text": "fine"}), cell, 0)
    assert cell.outputs[-1]["text"] == "fine"
    with pytest.raises(CellExecutionComplete):  # nbclient's own control flow is untouched
        client.process_message(_msg("status", {"execution_state": "idle"}), cell, 0)


def test_the_witness_answer_is_untrusted_data():
    from grader.execute.executor import WITNESS_MIME, witness_answer

    def out(payload):
        return {"output_type": "display_data", "data": {WITNESS_MIME: payload}, "metadata": {}}

    good = {"nonce": "n1", "n": 1, "records": [{"h": "a", "ok": True, "ename": ""}], "changes": []}
    assert witness_answer([out(good)], "n1")["n"] == 1
    assert "did not answer" in witness_answer([], "n1")
    assert "did not answer" in witness_answer([out(good)], "other")
    assert "2 answers" in witness_answer([out(good), out(good)], "n1")
    assert "malformed" in witness_answer([out({**good, "records": [{"h": 1}]})], "n1")
    assert witness_answer([out({"nonce": "n1", "unavailable": "old IPython"})], "n1") == {"unavailable": "old IPython"}


def test_the_witness_comparison():
    from grader.execute.executor import witness_compare

    sent = [{"kind": "prologue", "index": 9, "h": "p", "status": "ok"},
            {"kind": "cell", "index": 1, "h": "a", "status": "ok"},
            {"kind": "cell", "index": 2, "h": "b", "status": "ok"},
            {"kind": "cell", "index": 3, "h": "c", "status": "error"}]
    clean = {"n": 4, "records": [{"h": "p", "ok": True, "ename": ""}, {"h": "a", "ok": True, "ename": ""},
                                 {"h": "b", "ok": True, "ename": ""}, {"h": "c", "ok": False, "ename": "ValueError"}],
             "changes": []}
    assert witness_compare(sent, clean) == ([], [])
    # a hidden failure: the reply said ok, the witness saw IndexError
    hidden = {**clean, "records": [*clean["records"][:2], {"h": "b", "ok": False, "ename": "IndexError"}, clean["records"][3]]}
    evidence, corrected = witness_compare(sent, hidden)
    assert evidence == ["cell 2 failed (IndexError), but the kernel reported success"]
    assert corrected[0]["index"] == 2 and corrected[0]["ename"] == "IndexError"
    # a cell the witness never saw (the wrapper bypassed), and a machinery change after cell 1
    bypass = {"n": 3, "records": [clean["records"][0], clean["records"][1], clean["records"][3]],
              "changes": [{"what": "shell.run_cell_async", "after": 2}]}
    evidence, _ = witness_compare(sent, bypass)
    assert any("cell 2 ran with an `ok` reply, but the grader's witness never saw it" in e for e in evidence)
    assert any("shell.run_cell_async was replaced or altered (after cell 1)" in e for e in evidence)
    # the reply said error, the witness saw success: not a dodge, not reported
    louder = {**clean, "records": [*clean["records"][:3], {"h": "c", "ok": True, "ename": ""}]}
    assert witness_compare(sent, louder) == ([], [])


def test_witness_findings_become_kernel_tampering():
    from grader.pipeline import _witness_findings

    run = NotebookRun("nb.ipynb", "cell_errors", False, 1.0, 3, (), instrumentation=(
        {"kind": "witness", "item": None, "status": "ok", "verdict": "tampered", "evidence": ["cell 2 failed (IndexError), but the kernel reported success"]},))
    (f,) = _witness_findings(run)
    assert f.code == "kernel_tampering" and "cell 2 failed" in f.message
    clean = NotebookRun("nb.ipynb", "completed", True, 1.0, 3, (), instrumentation=(
        {"kind": "witness", "item": None, "status": "ok", "verdict": "clean", "evidence": []},))
    assert _witness_findings(clean) == []


def test_the_witness_code_compiles_and_names_its_limits():
    from grader.execute import executor

    compile(executor.witness_install_code("_grader_w_x"), "<witness>", "exec")
    compile(executor.witness_query_code("_grader_w_x", "abc"), "<query>", "exec")
    for limit in ("one process", "TARGETS", "ctypes", "not queried"):
        assert limit in executor.WITNESS_DOC
    assert Path(executor.__file__).read_text().count("WITNESS_DOC") >= 2
