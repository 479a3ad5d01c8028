"""Builds the adversarial submissions that attack Section 8's loss-curve check (suite "section8").

    python scripts/build_adversarial_section8.py [--out DIR] [--list]

The `loss_curve` check (grader/checks/kind_loss_curve.py) judges the weight snapshots its
in-kernel optimizer hooks record. Before this suite it graded the most recently STARTED
run of a SimpleLSTM and only noted when the global `model` was another object, took the
live weights as the last snapshot whatever had changed them, and asked for no number of
epochs. Each attack below makes the graded run one that did not produce the live `model`
(or a run shorter than the lab's 100 epochs) and passed that check; the honest twin is
the lab's fixed procedure (reference/solution: RMSprop lr 4e-4, gradient norm clipped at
0.1, 100 epochs), which must still pass.

The attacks' notebooks hold only what the check needs: the lab's imports and given code,
then the Section-8 cell; they train for 16-25 epochs (3-6 s of CPU each). The twin hands in
the lab solution's notebook unchanged (the full_marks sample's), the only one that trains
the full 100 epochs: the suite's shared execution cache runs it once for both.
tests/adversarial/test_section8_integrity.py grades them with the SHIPPED rubric rubrics/hw2
(one shared execution cache).

Same layout and expectation keys as scripts/build_adversarial.py (built with its
helpers, "slow": true so that tests/adversarial/test_attacks.py's shared corpus leaves
them out), plus:

  suite           "section8"
  rubric          the rubric directory (relative to the repository) to grade with
  before_fix      what the grader did with the submission before the fix (measured)
  feedback_contains  {item id: [substrings the item's feedback must contain]}
  graded_runs     the runs (in the order they started) the check must grade: those whose last
                  optimizer step produced the live `model`
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_adversarial as ba  # noqa: E402
import samples_lib as sl  # noqa: E402

ROOT = sl.ROOT
OUT = ba.OUT
SEQ = "08-seq_classification.ipynb"
RUBRIC = "rubrics/hw2"
ITEM = "08-seq_classification.section8"
d = ba.d


def solution_cells() -> dict[str, str]:
    """The lab solution's code cells this suite reuses: imports, given code, EASY demo, Section 8."""
    cells = [c.source for c in sl.load_notebook("solution", SEQ).cells if c.cell_type == "code"]
    pick = {
        "imports": lambda s: s.lstrip().startswith("import numpy"),
        "given": lambda s: s.lstrip().startswith("class SimpleLSTM"),
        "easy": lambda s: "DifficultyLevel.EASY, 32" in s,
        "section8": lambda s: s.lstrip().startswith("# Section 8"),
    }
    out = {}
    for key, match in pick.items():
        found = [s for s in cells if match(s)]
        assert len(found) == 1, (key, len(found))
        out[key] = found[0]
    return out


def nb_of(*cells: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(d(c).strip("\n")) for c in cells]
    for i, c in enumerate(nb.cells):
        c["id"] = f"s8-{i:03d}"
    return nb


# What every attack keeps of Section 8: the seed, the data, the model, the criterion.
SETUP = '''
# Section 8: do not change the seed, the data or the model; change the procedure.
import copy
torch.manual_seed(1)
difficulty = QRSU.DifficultyLevel.MODERATE
batch_size = 32
train_data_gen = QRSU.get_predefined_generator(difficulty, batch_size)
test_data_gen = QRSU.get_predefined_generator(difficulty, batch_size)
input_size, hidden_size, output_size = train_data_gen.n_symbols, 12, train_data_gen.n_classes
model = SimpleLSTM(input_size, hidden_size, output_size)
criterion = torch.nn.CrossEntropyLoss()
'''

# A fast procedure that learns in ~16 epochs and spikes on the way (Adam, lr 5e-3): the
# grader's curve rises ~0.4 over its running minimum around epoch 7.
SPIKY = '''
fast = torch.optim.Adam({who}.parameters(), lr=5e-3)
for epoch in range(16):
    train({who}, train_data_gen, criterion, fast, device, clip_grad_norm=0.1)
'''

# An optimizer "step" that lands on another model's weights: SGD(lr=1) on grad = p - q.
JUMP = '''
{who}(torch.zeros(1, 1, input_size))  # one forward: the grader learns the model's class from it
jump = torch.optim.SGD({who}.parameters(), lr=1.0)
for p, q in zip({who}.parameters(), {to}.parameters()):
    p.grad = (p - q).detach()
jump.step()
'''


def decoy_after_spiky() -> str:
    return (SETUP + "seeded_init = copy.deepcopy(model.state_dict())\n" + SPIKY.format(who="model") + '''
# The decoy, started last: a second SimpleLSTM at the seeded init, "trained" by one step
# that lands on the spiky model's weights. `model` stays the spiky one.
decoy = SimpleLSTM(input_size, hidden_size, output_size)
decoy.load_state_dict(seeded_init)
''' + JUMP.format(who="decoy", to="model"))


def live_weights_loaded() -> str:
    return (SETUP + "spiky = copy.deepcopy(model)\n" + SPIKY.format(who="spiky") + '''
# "The procedure": five gentle steps on model (a smooth curve), then the spiky run's weights
# are loaded into it. The live model was produced by the spiky run.
optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-4)
model.train()
for batch_idx in range(5):
    data, target = train_data_gen[batch_idx]
    data = torch.from_numpy(data).float()
    target = torch.from_numpy(target).long().argmax(dim=1)
    optimizer.zero_grad()
    criterion(model(data), target).backward()
    optimizer.step()
model.load_state_dict(spiky.state_dict())
''')


def fewer_epochs(section8: str) -> str:
    src = section8.replace("torch.optim.RMSprop(model.parameters(), lr=0.0004)", "torch.optim.Adam(model.parameters(), lr=0.001)")
    src = src.replace("max_epochs = 100", "max_epochs = 25  # smooth so far: the spikes come later")
    assert src.count("Adam") == 1 and "max_epochs = 25" in src, "the solution's Section-8 cell changed"
    return src


def rollback_two_optimizers() -> str:
    return SETUP + '''
# Two optimizers on the same model. Every epoch: 30 fast steps; if the loss on a held-back
# batch got worse, the best weights are loaded back; then the epoch's 31st step is a step
# of an lr = 0 optimizer, so the grader's per-epoch snapshot sees the rolled-back weights.
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
settle = torch.optim.SGD(model.parameters(), lr=0.0)
val_x, val_y = test_data_gen[0]
val_x, val_y = torch.from_numpy(val_x).float(), torch.from_numpy(val_y).long().argmax(dim=1)
best, best_loss = copy.deepcopy(model.state_dict()), float("inf")
for epoch in range(20):
    model.train()
    for batch_idx in range(30):
        data, target = train_data_gen[batch_idx]
        data = torch.from_numpy(data).float()
        target = torch.from_numpy(target).long().argmax(dim=1)
        optimizer.zero_grad()
        criterion(model(data), target).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()
    with torch.no_grad():
        val_loss = criterion(model(val_x), val_y).item()
    if val_loss < best_loss:
        best, best_loss = copy.deepcopy(model.state_dict()), val_loss
    elif val_loss > best_loss + 0.05:
        model.load_state_dict(best)
    settle.step()
'''


def steps_on_a_copy() -> str:
    return (SETUP + "work = copy.deepcopy(model)\n" + SPIKY.format(who="work") + '''
# The training happened on a copy. model: one step onto the copy's weights, then 3099
# tiny steps (1e-7 each), so that its run has the procedure's 100 x 31 steps, all of
# them changing the weights, and a flat curve.
''' + JUMP.format(who="model", to="work") + '''
for p in model.parameters():
    p.grad.fill_(1e-7)
for step in range(99 * 31 + 30):
    jump.step()
''')


def E(tries, before_fix, **kw):
    base = ba.E(tries, notebook=SEQ, **kw)
    base.update(suite="section8", rubric=RUBRIC, slow=True, before_fix=d(before_fix).strip(),
                feedback_contains=kw.get("feedback_contains", {}))
    return base


def attacks() -> list[tuple[str, str, dict, dict]]:
    s = solution_cells()
    head = (s["imports"], s["given"])
    A = []
    # the twin hands in the lab solution's notebook as it is, the full_marks sample's: the
    # suite's shared execution cache runs its 100 epochs once for both
    A.append(("s8_honest_fixed", "ads0801", {SEQ: sl.load_notebook("solution", SEQ)},
              E("Honest twin: the lab solution's notebook (imports, given code, the EASY demo run, Section 8 "
                "with the reference fix: RMSprop lr 4e-4, gradient norm clipped at 0.1, 100 epochs).",
                "passed (8/8).", twin=None, notebook_status=["completed"], items={ITEM: "passed"},
                feedback_contains={ITEM: ["Graded: run #1", "run #0 (hidden size 4"]}, graded_runs=[1], max_seconds=240)))
    A.append(("s8_decoy_after_spiky", "ads0802", {SEQ: nb_of(*head, decoy_after_spiky())},
              E("`model` trained by a fast, spiky procedure (Adam lr 5e-3, 16 epochs); then a second SimpleLSTM "
                "at the seeded init takes one SGD step onto model's weights. The grader graded the most recently "
                "started run: two snapshots (initial, trained), no room for a spike.",
                "passed (8/8): the decoy's run was graded (2 snapshots, final accuracy 0.996), `model` only got a note.", twin="s8_honest_fixed",
                notebook_status=["completed"], items={ITEM: "failed"},
                feedback_contains={ITEM: ["does not end in the live `model`", "FAIL no spike"]}, graded_runs=[0], max_seconds=120)))
    A.append(("s8_live_weights_loaded", "ads0803", {SEQ: nb_of(*head, live_weights_loaded())},
              E("A spiky run on a copy of the model (Adam lr 5e-3, 16 epochs); `model` itself takes five gentle "
                "RMSprop steps, then load_state_dict copies the spiky run's weights into it. The grader took the "
                "live weights as the run's last snapshot (the epilogue appended them).",
                "passed (8/8): model's 5-step run was graded, curve = [initial, the loaded weights] (final accuracy 0.996).", twin="s8_honest_fixed",
                notebook_status=["completed"], items={ITEM: "failed"},
                feedback_contains={ITEM: ["changed after this run's last optimizer step", "FAIL no spike"]}, graded_runs=[0], max_seconds=120)))
    A.append(("s8_fewer_epochs", "ads0804", {SEQ: nb_of(*head, fewer_epochs(s["section8"]))},
              E("The lab's Section-8 cell with Adam lr 1e-3 and max_epochs = 25 instead of 100: smooth so far, "
                "above 60 % accuracy (the same procedure spikes by epoch 40). The grader asked for no number of epochs.",
                "passed (8/8) with 25 epochs (max rise 0.160, final accuracy 0.770).", twin="s8_honest_fixed", notebook_status=["completed"],
                items={ITEM: "failed"}, feedback_contains={ITEM: ["FAIL at least 100 epochs"]}, graded_runs=[0], max_seconds=120)))
    A.append(("s8_rollback_two_optimizers", "ads0805", {SEQ: nb_of(*head, rollback_two_optimizers())},
              E("Two optimizers interleaved on the same model: 30 fast Adam steps (lr 3e-3) per epoch, the best weights loaded "
                "back when a held-back batch got worse, then one step of an lr = 0 SGD as the epoch's 31st step, so "
                "every per-epoch snapshot sees rolled-back weights.",
                "passed (8/8): a curve of rolled-back weights (max rise 0.107, final accuracy 0.979).", twin="s8_honest_fixed",
                notebook_status=["completed"], items={ITEM: "failed"},
                feedback_contains={ITEM: ["changed outside an optimizer step", "FAIL at least 100 epochs"]},
                graded_runs=[0], max_seconds=120)))
    A.append(("s8_steps_on_a_copy", "ads0806", {SEQ: nb_of(*head, steps_on_a_copy())},
              E("Spiky training on a deepcopy of the model; `model` takes one SGD step onto the copy's weights "
                "and then 3099 tiny steps (1e-7), so that its run has 100 x 31 steps that all change the weights.",
                "passed (8/8): model's run (3100 steps, a flat curve after step 1, final accuracy 0.996) was graded.",
                twin="s8_honest_fixed", notebook_status=["completed"], items={ITEM: "pending"},
                feedback_contains={ITEM: ["needs a TA", "more than 1"]}, graded_runs=[1], max_seconds=120)))
    return A


def build_all(out=OUT):
    return ba.write_notebook_attacks(out, attacks(), "section 8")


def main(argv=None):
    ba.corpus_main(__doc__, build_all, lambda: ((m[0], m[1], m[-1]) for m in attacks()), argv)


if __name__ == "__main__":
    main()
