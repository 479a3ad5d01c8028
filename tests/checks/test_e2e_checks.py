"""End to end: small notebooks graded through grader.pipeline.grade with the test rubrics
under tests/checks/fixtures/ (real kernels, instrumentation, probes)."""
import pytest

import rnn_cells as rc
from _nb import FIXTURES, code_cells, grade, items, make_zip, notebook
from reference import seq_classification as sc

pytestmark = pytest.mark.slow


def _grade(tmp_path, rubric, name, cells):
    z = make_zip(tmp_path / "ab1234.zip", {name: notebook(*cells)})
    return grade(z, FIXTURES / rubric, tmp_path / "out")


# ---- hw2_rnn ------------------------------------------------------------------------------

def test_echo_models_pass_with_interface_deviations_reported(tmp_path):
    r = _grade(tmp_path, "rubric_rnn", "hw2_rnn.ipynb",
               [rc.HEAD, rc.SHIFT_GRU, rc.TRAIN_FIXED, rc.DEVIANT_VAR, rc.TRAIN_VAR.format(extra="")])
    its = items(r)
    fixed, var = its["hw2_rnn.GRUMemory"], its["hw2_rnn.VariableDelayGRUMemory"]
    assert fixed["status"] == "passed" and fixed["evidence"]["accuracy"] == 1.0, fixed["feedback"]
    assert var["status"] == "passed", var["feedback"]
    assert "forward takes integer indices" in var["feedback"] and "returns a tuple" in var["feedback"]
    assert "test_run takes extra argument(s) verbose" in var["feedback"]
    assert var["evidence"]["delays"] == list(range(9))


def test_untrained_model_scores_zero_partial_model_some_and_forged_exports_are_ignored(tmp_path):
    r = _grade(tmp_path, "rubric_rnn", "hw2_rnn.ipynb",
               [rc.HEAD, rc.REAL_GRU, rc.TRAIN_FIXED, rc.FORGE, rc.DEVIANT_VAR, rc.TRAIN_VAR.format(extra=", wrong_z=True")])
    its = items(r)
    fixed, var = its["hw2_rnn.GRUMemory"], its["hw2_rnn.VariableDelayGRUMemory"]
    assert fixed["status"] == "failed" and fixed["score"] == 0 and fixed["evidence"]["accuracy"] < 0.2
    assert "expected '    " in fixed["feedback"]  # an example input with expected vs got
    assert var["status"] == "failed" and var["score"] == pytest.approx(3.0)
    assert 0.9 < var["evidence"]["accuracy"] < 0.99


def test_blank_starter_scores_zero(tmp_path):
    r = _grade(tmp_path, "rubric_rnn", "hw2_rnn.ipynb",
               [rc.HEAD, rc.BLANK_GRU, rc.TRAIN_FIXED, rc.BLANK_VAR, rc.TRAIN_VAR.format(extra="")])
    for it in items(r).values():
        assert it["score"] == 0 and "no trained model found" in it["feedback"]


# ---- hw2_cnn ------------------------------------------------------------------------------

def _cnn_cells(**replace):
    cs = code_cells("hw2_cnn.ipynb")

    def find(prefix):
        return next(c for c in cs if c.lstrip().startswith(prefix))

    cells = {"imports": cs[0], "data": find("from res.image_data"), "cnn": find("class CNN"),
             "glc": find("def get_loss_and_correct"), "step": find("def step"), "consts": find("N_EPOCHS"),
             "loaders": find("train_dataloader ="), "model": find("model = CNN()"), "opt": find("criterion ="),
             "train": find("start = time.time()")}
    cells.update(replace)
    return list(cells.values())


def test_reference_cnn_solution_scores_full_marks(tmp_path):
    r = _grade(tmp_path, "rubric_cnn", "hw2_cnn.ipynb", _cnn_cells())
    its = items(r)
    for k in ("hw2_cnn.CNN", "hw2_cnn.get_loss_and_correct", "hw2_cnn.step", "hw2_cnn.validation_accuracy"):
        assert its[k]["status"] == "passed", (k, its[k]["feedback"])
    assert its["hw2_cnn.validation_accuracy"]["evidence"]["accuracy"] >= 0.75


NO_RES_CNN = '''class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        x = torch.relu(self.bn(self.c1(x)))
        x = torch.relu(self.c2(x))
        return self.fc(x.mean((2, 3)))
'''

BAD_GLC = '''def get_loss_and_correct(model, batch, criterion, device):
    data, target = batch
    output = model(data)
    loss = torch.nn.functional.cross_entropy(output, target)
    return loss, (output.argmax(dim=1) == target).sum().item()
'''

BAD_STEP = '''def step(loss, optimizer):
    loss.backward()
    optimizer.step()
'''


def test_cnn_typical_mistakes_lose_the_right_points(tmp_path):
    cells = _cnn_cells(cnn=NO_RES_CNN, glc=BAD_GLC, step=BAD_STEP, consts="N_EPOCHS = 1\nBATCH_SIZE = 64",
                       opt="criterion = torch.nn.CrossEntropyLoss()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.0)")
    r = _grade(tmp_path, "rubric_cnn", "hw2_cnn.ipynb", cells)
    its = items(r)
    cnn = its["hw2_cnn.CNN"]
    assert cnn["status"] == "failed" and cnn["score"] == pytest.approx(5.0), cnn["feedback"]  # 5 of 7 parts
    assert "FAIL a residual connection" in cnn["feedback"] and "FAIL pooling: no pooling found" in cnn["feedback"]
    glc = its["hw2_cnn.get_loss_and_correct"]
    assert glc["status"] == "failed" and "the criterion passed in was not used" in glc["feedback"]
    assert "expected a tensor" in glc["feedback"]
    st = its["hw2_cnn.step"]
    assert st["status"] == "failed" and "no zero_grad" in st["feedback"]
    acc = its["hw2_cnn.validation_accuracy"]
    assert acc["status"] == "failed" and acc["score"] == 0 and acc["evidence"]["accuracy"] < 0.6


# ---- 08-seq_classification ----------------------------------------------------------------

def _seq_cells(epochs=None, lr=None, hidden=None, clip=None, smooth=False):
    cs = code_cells("08-seq_classification.ipynb")
    given = next(c for c in cs if c.lstrip().startswith("class SimpleLSTM"))
    easy = next(c for c in cs if "DifficultyLevel.EASY, 32" in c)
    sec8 = next(c for c in cs if "Section 8" in c)
    if smooth:  # cosmetic: the recorded losses are smoothed, the training is not
        given = given.replace('history_train["loss"].append(loss)',
                              'history_train["loss"].append(loss if not history_train["loss"] else 0.9 * history_train["loss"][-1] + 0.1 * min(loss, 1.4))')
    if epochs is not None:
        sec8 = sec8.replace("max_epochs = 100", f"max_epochs = {epochs}")
    if lr is not None:
        import re

        sec8 = re.sub(r"RMSprop\(model.parameters\(\), lr=[0-9.e-]+\)", f"RMSprop(model.parameters(), lr={lr})", sec8)
    if clip is not None:
        sec8 = sec8.replace(f"clip_grad_norm={sc.FIXED_CLIP}", f"clip_grad_norm={clip}")
    if hidden is not None:
        sec8 = sec8.replace("hidden_size = 12", f"hidden_size = {hidden}")
    return [cs[0], given, easy, sec8]


# The reference fix passing (100 epochs) is proven on the real full-marks sample:
# tests/test_samples_e2e.py::test_section8_fix_passes_on_the_full_marks_sample.


@pytest.mark.parametrize("variant,reason", [
    ({"epochs": 30, "lr": 0.001, "clip": "None"}, "FAIL no spike"),
    ({"epochs": 30, "lr": 0.001, "clip": "None", "smooth": True}, "FAIL no spike"),
])
def test_spiky_procedures_fail_even_when_the_recorded_losses_are_smoothed(tmp_path, variant, reason):
    r = _grade(tmp_path, "rubric_seq", "08-seq_classification.ipynb", _seq_cells(**variant))
    it = items(r)["08-seq_classification.section8"]
    assert it["status"] == "failed" and it["score"] == 0 and reason in it["feedback"], it["feedback"]
    # above the rubric's max_rise (0.2); how far above depends on the CPU's float arithmetic
    # (over 0.5 on the Intel machine of earlier sessions, 0.37 on an AMD EPYC, same seeded run)
    assert it["evidence"]["max_rise"] > 0.2


def test_lr_zero_and_changed_hidden_size_fail(tmp_path):
    r = _grade(tmp_path / "a", "rubric_seq", "08-seq_classification.ipynb", _seq_cells(epochs=4, lr=0.0))
    it = items(r)["08-seq_classification.section8"]
    assert it["status"] == "failed" and "FAIL still learns" in it["feedback"] and "ok   no spike" in it["feedback"]
    r = _grade(tmp_path / "b", "rubric_seq", "08-seq_classification.ipynb", _seq_cells(epochs=2, hidden=16))
    it = items(r)["08-seq_classification.section8"]
    assert it["status"] == "failed" and "hidden size is 16, expected 12" in it["feedback"]
