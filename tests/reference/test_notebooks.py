"""The built notebooks: in sync with their build script, tagged for the grader, and
executable with plain nbclient up to their training (the CNN solution)."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import build_notebooks  # scripts/ (pyproject's pytest pythonpath)
import nbsource

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["hw2_cnn.ipynb", "hw2_rnn.ipynb", "08-seq_classification.ipynb"]
SOLUTION = ROOT / "reference" / "solution"
STARTER = ROOT / "reference" / "starter"


def test_committed_notebooks_match_the_build(tmp_path):
    build_notebooks.write_all(tmp_path)
    for variant in ("starter", "solution"):
        for name in NAMES:
            built = (tmp_path / "reference" / variant / name).read_bytes()
            assert built == (ROOT / "reference" / variant / name).read_bytes(), \
                f"{variant}/{name} is stale: run python scripts/build_notebooks.py"


def test_res_links_point_to_the_support_files():
    for folder in (SOLUTION, STARTER):
        assert (folder / "res" / "sequential_tasks.py").is_file()


def _todo_names(path):
    nb = nbformat.read(str(path), as_version=4)
    return [c.metadata["grader"]["todo"] for c in nb.cells if "todo" in c.metadata.get("tags", [])]


def test_starter_and_solution_have_the_same_todo_cells():
    for name in NAMES:
        assert _todo_names(STARTER / name) == _todo_names(SOLUTION / name)
    assert "section8" in _todo_names(SOLUTION / "08-seq_classification.ipynb")


def test_stub_keeps_signature_and_docstring():
    from reference import echo
    text = nbsource.stub(echo.VariableDelayGRUMemory)
    assert "def __init__(self, hidden_size, max_delay):" in text
    assert "def test_run(self, s, delay):" in text
    assert "raise NotImplementedError" in text and "self.gru" not in text


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")


# With plain nbclient (no grader, no sandbox), the CNN solution runs up to its training:
# res/ is reachable from reference/solution and the theory cells' own sanity asserts pass.
# The training cells and their asserts run under the grader in tests/test_samples_e2e.py
# (the full-marks sample holds these notebooks; every notebook "completed") and with plain
# nbclient, whole and timed, in bench/bench.py (a), whose baseline they are.
@pytest.mark.slow
def test_cnn_solution_runs_with_plain_nbclient_up_to_its_training():
    nb = nbformat.read(str(SOLUTION / "hw2_cnn.ipynb"), as_version=4)
    first_training = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "train_cnn(" in c.source)
    nb.cells = nb.cells[:first_training]
    assert sum("assert " in c.source for c in nb.cells if c.cell_type == "code") >= 3
    assert any("from res." in c.source for c in nb.cells)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(SOLUTION)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "parameters:" in outputs


# Starters: tests/test_samples_e2e.py::test_blank_starter_scores_zero_on_every_todo runs them all.
