"""Fast checks of what rubrics/hw2-original relies on: the rubric loads, Colab lines are
skipped, forced CUDA is rewritten (kernel and probe code alike), environment errors are
waived with their reason, template versions and alternative class names resolve."""

import nbformat
import pytest

from factories import ROOT

ORIGINAL = ROOT / "rubrics" / "hw2-original"


@pytest.fixture(scope="module")
def rubric():
    from grader.rubric import load_rubric

    return load_rubric(ORIGINAL)


def test_rubric_items_points_and_support_dir(rubric):
    ids = {i.id: i for i in rubric.items}
    for item_id in ("hw2_cnn.CNN", "hw2_cnn.get_loss_and_correct", "hw2_cnn.step", "hw2_cnn.validation_accuracy",
                    "hw2_rnn.GRUMemory", "hw2_rnn.VariableDelayGRUMemory", "08-seq_classification.section8"):
        assert item_id in ids
    assert rubric.max_score == 100 and dict(rubric.split) == {"theory": 50, "code": 50}
    assert ids["hw2_cnn.CNN"].params["input_sizes"] == [[256, 256]]
    assert ids["hw2_cnn.CNN"].params["alternative_targets"] == ["CNN_Solution"]
    assert ids["hw2_cnn.validation_accuracy"].kind == "manual"  # not measurable offline: pending for a TA
    assert rubric.support_dir.name == "res" and (rubric.support_dir / "sequential_tasks.py").is_file()
    assert (rubric.support_dir / "plot_lib.py").is_file()
    # same ids and points as the project's rubric where both have the item
    from grader.rubric import load_rubric

    project = {i.id: i.points for i in load_rubric(ROOT / "rubrics" / "hw2").items}
    for item_id in ("hw2_cnn.CNN", "hw2_cnn.get_loss_and_correct", "hw2_cnn.step", "hw2_rnn.GRUMemory",
                    "hw2_rnn.VariableDelayGRUMemory", "08-seq_classification.section8", "hw2_cnn.validation_accuracy"):
        assert ids[item_id].points == project[item_id]


COLAB = """from google.colab import drive
drive.mount('/content/drive')
!pip install -q torch
!wget -q https://x.example.org/data.zip
!unzip -q data.zip
%cd /content/drive/MyDrive/hw2
!git clone https://git.example.org/lab.git
x = 1"""

CUDA = """torch.set_default_tensor_type('torch.cuda.FloatTensor')
device = 'cuda'
dev = torch.device("cuda:0")
model = Net().cuda()
y = x.cuda(non_blocking=True).to('cuda')
z = torch.cuda.LongTensor([1])
print('cuda is fast')"""


def test_colab_lines_are_skipped_and_cuda_rewritten_in_prepare(rubric):
    from grader.execute.prepare import prepare

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(COLAB), nbformat.v4.new_code_cell(CUDA)]
    out, notes = prepare(nb, rubric.notebook("hw2_rnn.ipynb").execution.skip_cells)
    colab, cuda = out.cells[0].source.splitlines(), out.cells[1].source
    assert all(line.lstrip().startswith("pass  # [grader] skipped") for line in colab[:-1]) and colab[-1] == "x = 1"
    for what in ("drive.mount", "!pip", "!wget", "!unzip", "%cd", "!git clone", "google.colab"):
        assert what in notes[0].note
    assert "cuda" not in cuda.replace("'cuda is fast'", "")
    assert "torch.set_default_tensor_type('torch.FloatTensor')" in cuda and "device = 'cpu'" in cuda
    assert 'torch.device("cpu")' in cuda and "Net().cpu()" in cuda and "x.cpu().to('cpu')" in cuda
    assert "torch.LongTensor([1])" in cuda and "print('cuda is fast')" in cuda
    assert notes[1].note.count("rewrote") == 6 and "the grader runs on the CPU" in notes[1].note


def test_the_project_rubric_does_not_rewrite():
    from grader.execute.prepare import prepare
    from grader.rubric import load_rubric

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CUDA)]
    out, notes = prepare(nb, load_rubric(ROOT / "rubrics" / "hw2").notebook("hw2_rnn.ipynb").execution.skip_cells)
    assert out.cells[0].source == CUDA and notes == []


def test_probe_code_gets_the_same_cpu_rewrite(rubric):
    from types import SimpleNamespace

    from grader.checks._exports import cpu_rewrite

    ctx = SimpleNamespace(notebook=rubric.notebook("hw2_rnn.ipynb"))
    assert cpu_rewrite(ctx, "idx = idx.cuda()\nm = M().to('cuda')") == "idx = idx.cpu()\nm = M().to('cpu')"


def _run(*cells):
    from grader.model import CellOutcome, NotebookRun

    outs = tuple(CellOutcome(i, "error", 0.1, e, v) for i, e, v in cells)
    return NotebookRun("hw2_cnn.ipynb", "cell_errors", False, 1.0, 20, outs)


def test_environment_errors_are_waived_with_the_reason(rubric):
    from grader import score

    torchvision = _run((2, "ModuleNotFoundError", "No module named 'torchvision'"), (3, "NameError", "name 'transforms' is not defined"),
                       (5, "NameError", "name 'nn' is not defined"))
    assert score.not_executable_reasons([torchvision], rubric) == []
    assert score.execution_penalty([torchvision], rubric) == []
    (why,) = score.environment_errors([torchvision], rubric)
    assert "torchvision is not installed" in why and "2 later failing cell(s)" in why
    dataset = _run((4, "FileNotFoundError", "[Errno 2] No such file or directory: 'cats_and_dogs_filtered/train'"))
    assert score.not_executable_reasons([dataset], rubric) == []
    assert "dataset" in score.environment_errors([dataset], rubric)[0]
    # the template's undefined D is waived, but a later genuine error is still judged
    d_bug = _run((7, "NameError", "name 'D' is not defined"), (9, "TypeError", "forward() missing 1 required argument"))
    (reason,) = score.not_executable_reasons([d_bug], rubric)
    assert "cell 9 raised TypeError" in reason and "D" not in reason.split("TypeError")[0]
    assert "template" in score.environment_errors([d_bug], rubric)[0]
    # without the rubric's rules the same errors are penalised, as before
    assert score.not_executable_reasons([torchvision]) and score.not_executable_reasons([dataset])
    # a module the environment lacks is never a penalty: the report names it and a TA
    # decides when it was the student's own file
    fancy = _run((2, "ModuleNotFoundError", "No module named 'tqdm_fancy'"))
    assert score.not_executable_reasons([fancy], rubric) == []
    assert "tqdm_fancy" in score.environment_errors([fancy], rubric)[0] and "a TA decides" in score.environment_errors([fancy], rubric)[0]


def test_cnn_alternative_names_resolve():
    from types import SimpleNamespace

    from grader.checks._exports import resolve_target
    from grader.extract import extract

    item = SimpleNamespace(target="CNN")
    later = SimpleNamespace(extraction=extract(["import torch\nclass CNN_Solution(torch.nn.Module):\n    pass"]))
    assert resolve_target(later, item, ["CNN_Solution"]) == ("CNN_Solution", "graded class `CNN_Solution` (the rubric accepts `CNN` or `CNN_Solution`)")
    both = SimpleNamespace(extraction=extract(["class CNN:\n    pass\nclass CNN_Solution:\n    pass"]))
    name, note = resolve_target(both, item, ["CNN_Solution"])
    assert name == "CNN" and "also defined: `CNN_Solution`" in note


FALL2024 = '''
class VariableDelayEchoDataset(torch.utils.data.IterableDataset):
    def __init__(self, max_delay=12, seq_length=20, size=1000):
        pass

def train_model(model, dataloader):
    pass

accuracy = test_variable_delay_model(model)
assert accuracy > 0.95, 'accuracy is too low'
'''


@pytest.mark.parametrize("code,name,threshold,max_delay,inconsistent", [
    (FALL2024, "Fall 2024+", 0.95, 12, False),
    ("class VariableDelayEchoDataset:\n    def __init__(self, max_delay=8):\n        pass\nassert accuracy > 0.99", "Spring 2021", 0.99, 8, False),
    # one edited assert alone does not lower the bar
    ("class VariableDelayEchoDataset:\n    def __init__(self, max_delay=8):\n        pass\nassert accuracy > 0.95", "Spring 2021", 0.99, 8, True),
])
def test_template_versions_set_the_thresholds(rubric, code, name, threshold, max_delay, inconsistent):
    from types import SimpleNamespace

    from grader.checks import registry
    from grader.extract import extract

    item = next(i for i in rubric.items if i.id == "hw2_rnn.VariableDelayGRUMemory")
    kind = registry.get("trained_model")
    t, p = kind._template(SimpleNamespace(extraction=extract([code])), kind.params(item))
    assert t["name"].startswith(name) and p["threshold"] == threshold and p["max_delay"] == max_delay
    assert bool(t.get("inconsistent")) is inconsistent


def test_samples_are_rebuilt_byte_identical(tmp_path):
    import subprocess
    import sys

    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_original_samples.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True, cwd=ROOT)
    shipped = sorted((ROOT / "submissions" / "original").glob("*/*.zip"))
    assert len(shipped) == 10
    for z in shipped:
        assert (tmp_path / z.parent.name / z.name).read_bytes() == z.read_bytes(), z
