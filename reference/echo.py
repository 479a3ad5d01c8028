"""Reference solution of the echo part of hw2_rnn.ipynb.

Given code of the notebook (N, idx_to_onehot, the datasets, the test functions) and the
TODO solutions (GRUMemory, VariableDelayGRUMemory, their training) live here; the notebook
build copies each object's source, so everything only uses torch, random, string, time
and the names defined in earlier cells of the notebook.
"""
import random
import string

import torch
from torch.utils.data import DataLoader

# Given -------------------------------------------------------------------------------

# Max value of the generated integer; 26 is the number of letters in the alphabet.
N = 26


def idx_to_onehot(x, k=N + 1):
    """Converts integer indices (any shape) to one-hot vectors of size k (last axis).
    Index 0 is the blank/padding symbol, 1..26 are the letters a..z."""
    ones = torch.sparse.torch.eye(k).to(x.device)
    shape = x.shape
    res = ones.index_select(0, x.view(-1).type(torch.int64))
    return res.view(*shape, res.shape[-1])


class EchoDataset(torch.utils.data.IterableDataset):
    """Yields (seq, result): seq int64 (seq_length,) of letters 1..N, and result = the
    same sequence delayed by `delay` steps (the first `delay` targets are 0)."""

    def __init__(self, delay=4, seq_length=15, size=1000):
        self.delay = delay
        self.seq_length = seq_length
        self.size = size

    def __len__(self):
        return self.size

    def __iter__(self):
        for _ in range(self.size):
            seq = torch.tensor([random.choice(range(1, N + 1)) for _ in range(self.seq_length)],
                               dtype=torch.int64)
            result = torch.cat((torch.zeros(self.delay),
                                seq[:self.seq_length - self.delay])).type(torch.int64)
            yield seq, result


class VariableDelayEchoDataset(torch.utils.data.IterableDataset):
    """Yields (seq, delay, result) with a random delay in 0..max_delay per sequence."""

    def __init__(self, max_delay=8, seq_length=20, size=1000):
        self.max_delay = max_delay
        self.seq_length = seq_length
        self.size = size

    def __len__(self):
        return self.size

    def __iter__(self):
        for _ in range(self.size):
            seq = torch.tensor([random.choice(range(1, N + 1)) for _ in range(self.seq_length)],
                               dtype=torch.int64)
            delay = random.randint(0, self.max_delay)
            result = torch.cat((torch.zeros(delay),
                                seq[:self.seq_length - delay])).type(torch.int64)
            yield seq, delay, result


DELAY = 4
# Sized for the project's 2-core CPU budget (the course's GPU notebook used 200000);
# the reference GRUMemory(64) reaches > 0.99 after one pass over this many sequences.
DATASET_SIZE = 80000
# The variable-delay task needs more data: the reference model sees this many, in 900
# batches of 128. Measured single-threaded on a 2-core AMD EPYC (seeds 0 and 1, three
# 500-string tests each): accuracy 0.9966-0.9990 in 52-55 s; 200000 sequences in batches of
# 256 (sessions 1-11) reached 0.9965-0.9987 in 79 s, and 700 batches of 128 0.9948-0.9967.
VARIABLE_DELAY_DATASET_SIZE = 115200
MAX_DELAY = 8
SEQ_LENGTH = 20


def test_model(model, sequence_length=15):
    """Runs 500 random strings of length 15-25 through model.test_run and returns the
    fraction of characters echoed correctly DELAY steps later.

    (The course template referred to an undefined `D` here; this version uses DELAY.)
    """
    total = 0
    correct = 0
    for _ in range(500):
        s = "".join([random.choice(string.ascii_lowercase)
                     for _ in range(random.randint(15, 25))])
        result = model.test_run(s)
        assert DELAY > 0, "s[:-DELAY] won't work for DELAY=0"
        for c1, c2 in zip(s[:-DELAY], result[DELAY:]):
            correct += int(c1 == c2)
        total += len(s) - DELAY
    return correct / total


def test_variable_delay_model(model, seq_length=20):
    """Runs 500 random strings with random delays in 0..model.max_delay through
    model.test_run and returns the fraction of characters echoed correctly."""
    total = 0
    correct = 0
    for _ in range(500):
        s = "".join([random.choice(string.ascii_lowercase) for _ in range(seq_length)])
        d = random.randint(0, model.max_delay)
        result = model.test_run(s, d)
        if d > 0:
            z = zip(s[:-d], result[d:])
        else:
            z = zip(s, result)
        for c1, c2 in z:
            correct += int(c1 == c2)
        total += len(s) - d
    return correct / total


# TODO solutions ---------------------------------------------------------------------


class GRUMemory(torch.nn.Module):
    """Echoes its input DELAY steps later: forward(x) maps one-hot x (B, T, N + 1) to
    logits (B, T, N + 1).

    Reference design: a GRU reading the one-hot letters and a linear read-out predicting,
    at every step, the letter seen DELAY steps before (or the blank 0).
    """

    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        # x: float (B, T, N + 1) one-hot -> logits (B, T, N + 1)
        out, _ = self.gru(x)
        return self.linear(out)

    @torch.no_grad()
    def test_run(self, s):
        """A lowercase string -> the model's output string of the same length
        (index 0 becomes ' ')."""
        device = next(self.parameters()).device
        idx = torch.tensor([ord(c) - ord("a") + 1 for c in s], device=device)
        logits = self.forward(idx_to_onehot(idx).unsqueeze(0))
        pred = logits.argmax(dim=-1).squeeze(0).tolist()
        return "".join(" " if i == 0 else chr(ord("a") + i - 1) for i in pred)


class VariableDelayGRUMemory(torch.nn.Module):
    """Like GRUMemory, but the delay (0..max_delay) is given with each sequence:
    forward(x, delays) with delays (B,) -> logits (B, T, N + 1).

    Reference design: the GRU learns a delay-independent memory of the last max_delay + 1 letters, and a
    read-out with one linear head per delay picks the letter `delay` steps back. (Feeding
    the delay into the GRU as well learns much more slowly on a CPU budget.)
    """

    def __init__(self, hidden_size, max_delay):
        super().__init__()
        self.hidden_size = hidden_size
        self.max_delay = max_delay
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.heads = torch.nn.Linear(hidden_size, (max_delay + 1) * (N + 1))

    def forward(self, x, delays):
        # x: float (B, T, N + 1) one-hot, delays: int (B,) -> logits (B, T, N + 1)
        B, T, _ = x.shape
        delays = torch.as_tensor(delays, device=x.device).view(-1).long()
        out, _ = self.gru(x)
        all_heads = self.heads(out).view(B, T, self.max_delay + 1, N + 1)
        pick = delays.view(B, 1, 1, 1).expand(-1, T, 1, N + 1)
        return all_heads.gather(2, pick).squeeze(2)

    @torch.no_grad()
    def test_run(self, s, delay):
        """A lowercase string and a delay -> the model's output string."""
        device = next(self.parameters()).device
        idx = torch.tensor([ord(c) - ord("a") + 1 for c in s], device=device)
        logits = self.forward(idx_to_onehot(idx).unsqueeze(0),
                              torch.tensor([delay], device=device))
        pred = logits.argmax(dim=-1).squeeze(0).tolist()
        return "".join(" " if i == 0 else chr(ord("a") + i - 1) for i in pred)


def train_echo_model(model, loader, n_steps, lr):
    """Adam with per-step cross-entropy on batches from `loader`; the learning rate
    decays linearly to 5 % over the n_steps batches (the last steps polish the
    accuracy from ~0.97 to > 0.99). Returns the model in eval mode.

    Batches are (seq, result) or (seq, delay, result); the delay goes to forward.
    """
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: max(0.05, 1 - i / n_steps))
    criterion = torch.nn.CrossEntropyLoss()
    model.train()
    for batch in loader:
        seq, result = batch[0].to(device), batch[-1].to(device)
        extra = [b.to(device) for b in batch[1:-1]]
        logits = model(idx_to_onehot(seq), *extra)
        loss = criterion(logits.reshape(-1, N + 1), result.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    return model


def train_gru_memory(model, dataset_size, batch_size=64, lr=1e-2):
    """One pass over a fresh EchoDataset of `dataset_size` sequences."""
    loader = DataLoader(EchoDataset(delay=DELAY, size=dataset_size), batch_size=batch_size)
    return train_echo_model(model, loader, len(loader), lr)


def train_variable_delay_gru_memory(model, dataset_size, batch_size=128, lr=2e-2):
    """One pass over a fresh VariableDelayEchoDataset of `dataset_size` sequences."""
    loader = DataLoader(VariableDelayEchoDataset(max_delay=model.max_delay, size=dataset_size),
                        batch_size=batch_size)
    return train_echo_model(model, loader, len(loader), lr)
