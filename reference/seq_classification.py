"""Reference code of the sequence classification lab (08-seq_classification.ipynb) and
the reference fix of its Section 8, plus the tools to judge a Section-8 loss curve.

SimpleLSTM, train, test and train_and_test are given code of the notebook (copied with
inspect.getsource). The section-8 functions mirror the notebook's Section-8 cell; the
curve tools are for the grader and the tests (they never run in a student's kernel).
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from reference.res.sequential_tasks import TemporalOrderExp6aSequence as QRSU

device = torch.device("cpu")


class SimpleLSTM(torch.nn.Module):
    """An LSTM (batch_first) whose last time step feeds a linear classifier."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.lstm = torch.nn.LSTM(input_size, hidden_size, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, output_size)

    def forward(self, x):
        h_t, _ = self.lstm(x)  # (B, T, hidden_size)
        return self.linear(h_t[:, -1, :])  # (B, output_size): logits


def train(model, train_data_gen, criterion, optimizer, device, clip_grad_norm=None):
    """One epoch over the generator's batches; returns (num_correct, loss of the last
    batch). With clip_grad_norm, gradients are rescaled to at most that norm."""
    model.train()
    num_correct = 0
    for batch_idx in range(len(train_data_gen)):
        data, target = train_data_gen[batch_idx]
        data = torch.from_numpy(data).float().to(device)
        target = torch.from_numpy(target).long().to(device).argmax(dim=1)
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, target)
        loss.backward()
        if clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        num_correct += (output.argmax(dim=1) == target).sum().item()
    return num_correct, loss.item()


def test(model, test_data_gen, criterion, device):
    """One pass over the generator without gradients; returns (num_correct, loss of the
    last batch)."""
    model.eval()
    num_correct = 0
    with torch.no_grad():
        for batch_idx in range(len(test_data_gen)):
            data, target = test_data_gen[batch_idx]
            data = torch.from_numpy(data).float().to(device)
            target = torch.from_numpy(target).long().to(device).argmax(dim=1)
            output = model(data)
            loss = criterion(output, target)
            num_correct += (output.argmax(dim=1) == target).sum().item()
    return num_correct, loss.item()


def train_and_test(model, train_data_gen, test_data_gen, criterion, optimizer, max_epochs,
                   verbose=True, clip_grad_norm=None, on_epoch_end=None):
    """Trains for max_epochs, tests after each epoch, plots the loss and accuracy curves
    and returns the model. on_epoch_end(epoch, model), if given, runs after each epoch."""
    history_train = {"loss": [], "acc": []}
    history_test = {"loss": [], "acc": []}
    n_sequences = len(train_data_gen) * train_data_gen.batch_size
    for epoch in range(max_epochs):
        num_correct, loss = train(model, train_data_gen, criterion, optimizer, device,
                                  clip_grad_norm)
        history_train["loss"].append(loss)
        history_train["acc"].append(100.0 * num_correct / n_sequences)
        num_correct, loss = test(model, test_data_gen, criterion, device)
        history_test["loss"].append(loss)
        history_test["acc"].append(100.0 * num_correct / n_sequences)
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
        if verbose or epoch + 1 == max_epochs:
            print(f"[Epoch {epoch + 1}/{max_epochs}] "
                  f"loss: {history_train['loss'][-1]:.4f}, acc: {history_train['acc'][-1]:2.2f}% - "
                  f"test_loss: {history_test['loss'][-1]:.4f}, "
                  f"test_acc: {history_test['acc'][-1]:2.2f}%")
    fig, axes = plt.subplots(ncols=2, figsize=(9, 4.5))
    for ax, metric in zip(axes, ("loss", "acc")):
        ax.plot(history_train[metric], label="train")
        ax.plot(history_test[metric], label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    plt.show()
    return model


# Section 8 --------------------------------------------------------------------------


def _section8_setup():
    """What Section 8 fixes: seed, data, model, criterion (shared by both procedures)."""
    torch.manual_seed(1)
    difficulty = QRSU.DifficultyLevel.MODERATE
    batch_size = 32
    train_data_gen = QRSU.get_predefined_generator(difficulty, batch_size)
    test_data_gen = QRSU.get_predefined_generator(difficulty, batch_size)
    model = SimpleLSTM(train_data_gen.n_symbols, 12, train_data_gen.n_classes)
    criterion = torch.nn.CrossEntropyLoss()
    return train_data_gen, test_data_gen, model, criterion


def _snapshotting(snapshots):
    """An on_epoch_end callback appending a detached copy of the weights to snapshots."""
    def on_epoch_end(epoch, model):
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return on_epoch_end


class _Stopped(Exception):
    pass


def train_section8_original(max_epochs=100, verbose=False, stop=None):
    """The lab's Section 8 as written: RMSprop(lr=1e-3). Spiky.

    Returns (model, snapshots): snapshots[0] is the initial weights, snapshots[e] the
    weights after epoch e. `stop(snapshots)`, if given, is asked after every epoch and ends
    the training early when it returns True (the epochs run are the same ones: the seeded
    data and steps do not depend on max_epochs).
    """
    train_data_gen, test_data_gen, model, criterion = _section8_setup()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.001)
    snapshots = []
    _snapshotting(snapshots)(-1, model)
    keep = _snapshotting(snapshots)

    def on_epoch_end(epoch, m):
        keep(epoch, m)
        if stop is not None and stop(snapshots):
            raise _Stopped

    try:
        model = train_and_test(model, train_data_gen, test_data_gen, criterion, optimizer,
                               max_epochs, verbose, on_epoch_end=on_epoch_end)
    except _Stopped:
        pass  # the model was trained in place
    return model, snapshots


# The fix: same model, seed and data. The spikes come from RMSprop's steps being large
# relative to the sharp, exploding-gradient cliffs of the LSTM's loss on long sequences;
# a smaller step and a cap on the gradient norm keep each update small. See the notebook.
# Measured single-threaded (as in the grader's kernel) on a 2-core AMD EPYC: clipping at
# 0.25 rose 0.197 above the running minimum (at epoch 82; 0.210 with two threads), at the
# rubric's max_rise of 0.2; clipping at 0.1 rises 0.063 and ends at 98.4 % accuracy.
FIXED_LR = 4e-4
FIXED_CLIP = 0.1


def train_section8_fixed(max_epochs=100, verbose=False):
    """The reference fix of Section 8 (same model, seed, data, criterion, epochs).

    Returns (model, snapshots) like train_section8_original.
    """
    train_data_gen, test_data_gen, model, criterion = _section8_setup()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=FIXED_LR)
    snapshots = []
    _snapshotting(snapshots)(-1, model)
    model = train_and_test(model, train_data_gen, test_data_gen, criterion, optimizer,
                           max_epochs, verbose, clip_grad_norm=FIXED_CLIP,
                           on_epoch_end=_snapshotting(snapshots))
    return model, snapshots


# Judging a curve --------------------------------------------------------------------

EVAL_SET_SIZE = 512
EVAL_SET_SEED = 20260227


def evaluation_set(n=EVAL_SET_SIZE, seed=EVAL_SET_SEED):
    """A fixed set of n MODERATE sequences (inputs float32 (n, 80, 8), labels int64 (n,)),
    drawn from its own RandomState so it never disturbs numpy's global generator."""
    gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.MODERATE, batch_size=n,
                                        rng=np.random.RandomState(seed))
    x, y = gen[0]
    return torch.from_numpy(x).float(), torch.from_numpy(y).argmax(dim=1)


def evaluate_loss_curve(state_dicts, input_size=8, hidden_size=12, output_size=4,
                        eval_set=None):
    """Cross-entropy loss and accuracy of SimpleLSTM with each state dict on the fixed
    evaluation set: {"loss": [float], "accuracy": [float in 0..1]} in snapshot order."""
    x, y = evaluation_set() if eval_set is None else eval_set
    model = SimpleLSTM(input_size, hidden_size, output_size)
    model.eval()
    losses, accuracies = [], []
    with torch.no_grad():
        for state in state_dicts:
            model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
            out = model(x)
            losses.append(torch.nn.functional.cross_entropy(out, y).item())
            accuracies.append((out.argmax(dim=1) == y).float().mean().item())
    return {"loss": losses, "accuracy": accuracies}


def max_rise_over_running_min(losses, start=1):
    """The largest amount by which losses[i] (i >= start) exceeds min(losses[:i])."""
    worst = 0.0
    running_min = min(losses[:start]) if start > 0 else float("inf")
    for value in losses[start:]:
        worst = max(worst, value - running_min)
        running_min = min(running_min, value)
    return worst
