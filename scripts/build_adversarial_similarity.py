"""Builds the adversarial corpus of the cohort similarity view (suite "similarity").

    python scripts/build_adversarial_similarity.py [--out DIR] [--list]

Realistic hw2_rnn.ipynb submissions of the echo part (GRUMemory, VariableDelayGRUMemory,
their test_run and training code): the starter notebook with the four echo TODO cells
filled in by a "student"; the theory TODOs are left as given (identical to the starter,
so the similarity ignores them). Same zip layout and expected.json format as
scripts/build_adversarial.py (its write_attack); every manifest has "slow": true, so that
tests/adversarial/test_attacks.py leaves them out: nothing here is graded or run. They are
read by tests/batch/test_similarity_winnowing.py through submission_code + similar_pairs
(AST only, no kernel), with the shipped rubric rubrics/hw2 and its starter notebook.

Members:
  similarity_original        a student's own solution (the twin of the copies)
  similarity_renamed_copy    the attack of issue 12: the original with every variable,
                             parameter, helper and attribute renamed (self.gru ->
                             self.recurrent, ...), reformatted, methods and helper
                             functions reordered, comments/docstrings/messages rewritten
  similarity_padded_copy     a renamed copy plus a third more code of its own (validation,
                             logging, extra helpers): Jaccard drops, containment does not
  similarity_partial_copy    VariableDelayGRUMemory and its training copied (renamed), a
                             GRUMemory of its own: the pair is reported, the per-target
                             detail says which target
  similarity_honest_*        four independent solutions of the same targets (nn.GRUCell
                             loop, nn.Embedding + 2-layer GRU, the course's nn.GRU +
                             per-delay heads, a hand-written GRU): none may be paired

Keys besides build_adversarial.py's (see its docstring):
  suite                "similarity"
  rubric               the rubric whose targets are compared (rubrics/hw2)
  similarity_threshold the `threshold` given to similar_pairs
  paired_with          {member: minimum similarity}: the pair must be reported with at least this
  targets_min          {member: {target: minimum per-target similarity}} (optional)
  targets_max          {member: {target: maximum per-target similarity}} (optional)
  not_paired_with      members this one must NOT be paired with
  not_paired_max       and their similarity (similar_pairs at threshold 0) must stay below this
  jaccard_max          {member: maximum overall Jaccard}: the pair is found by containment only (optional)
  before_fix           what the similarity did with this member before the winnowing rewrite
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_adversarial as ba  # noqa: E402
import samples_lib as sl  # noqa: E402

ROOT = sl.ROOT
OUT = ba.OUT
RNN = ba.RNN
RUBRIC = "rubrics/hw2"
THRESHOLD = 0.8  # the `grader batch` / `grader report` default (--similarity-threshold)
NOT_PAIRED_MAX = 0.5  # a margin: members that must not be paired stay well below the threshold
d = ba.d

# The starter's driver lines of the two training cells (given code, kept by every student).
DRIVER_FIXED = '''
start_time = time.time()
model = GRUMemory(hidden_size=64).to(device)
model = train_gru_memory(model, DATASET_SIZE)
end_time = time.time()
duration = end_time - start_time
accuracy = test_model(model)
print(f"accuracy {accuracy:.4f} after {duration:.1f} s")
assert duration < 600, f"execution took {duration:.2f} seconds, longer than 10 mins"
assert accuracy > 0.99, f"accuracy is too low, got {accuracy}, need 0.99"
print("tests passed")
'''

DRIVER_VARIABLE = '''
start_time = time.time()
model = VariableDelayGRUMemory(hidden_size=128, max_delay=MAX_DELAY).to(device)
model = train_variable_delay_gru_memory(model, VARIABLE_DELAY_DATASET_SIZE)
end_time = time.time()
duration = end_time - start_time
accuracy = test_variable_delay_model(model)
print(f"accuracy {accuracy:.4f} after {duration:.1f} s")
assert duration < 600, f"execution took {duration:.2f} seconds, longer than 10 mins"
assert accuracy > 0.99, f"accuracy is too low, got {accuracy}, need 0.99"
print("tests passed")
'''


# ----------------------------------------------------------------------------------
# the original: nn.GRU + dropout + linear read-out, string helpers, its own batches;
# variable delay: the delay one-hot appended to every time step of a 2-layer GRU

ORIGINAL = {
    "GRUMemory": '''
def encode_string(s):
    """'abc' -> tensor([1, 2, 3]) (0 is the blank, never produced here)."""
    return torch.tensor([ord(ch) - ord('a') + 1 for ch in s], dtype=torch.int64)


def decode_indices(indices):
    """Model output indices -> string, 0 becomes a space."""
    chars = []
    for i in indices.tolist():
        if i == 0:
            chars.append(' ')
        else:
            chars.append(chr(i - 1 + ord('a')))
    return ''.join(chars)


class GRUMemory(torch.nn.Module):
    """A GRU followed by a linear read-out; learns to output the letter seen DELAY steps ago."""

    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = torch.nn.GRU(input_size=N + 1, hidden_size=hidden_size, num_layers=1, batch_first=True)
        self.dropout = torch.nn.Dropout(0.1)
        self.linear = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        # x: (B, T, N + 1) one-hot letters
        out, hidden = self.gru(x)
        out = self.dropout(out)
        logits = self.linear(out)
        return logits

    @torch.no_grad()
    def test_run(self, s):
        self.eval()
        encoded = encode_string(s)
        onehot = idx_to_onehot(encoded).unsqueeze(0).to(next(self.parameters()).device)
        logits = self.forward(onehot)
        predicted = logits.argmax(dim=-1).squeeze(0).cpu()
        return decode_indices(predicted)
''',
    "train_gru_memory": '''
def random_batch(batch_size, seq_length, delay):
    """A batch of random letter sequences and the same sequences delayed by `delay`."""
    seq = torch.randint(1, N + 1, (batch_size, seq_length))
    target = torch.zeros_like(seq)
    target[:, delay:] = seq[:, :seq_length - delay]
    return seq, target


def train_gru_memory(model, dataset_size, batch_size=64, lr=5e-3, log_every=200):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    n_batches = dataset_size // batch_size
    model.train()
    running = 0.0
    for step in range(n_batches):
        # vary the length so the model does not depend on it
        seq, target = random_batch(batch_size, random.randint(15, 25), DELAY)
        seq, target = seq.to(device), target.to(device)
        logits = model(idx_to_onehot(seq))
        loss = loss_fn(logits.view(-1, N + 1), target.view(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running += loss.item()
        if (step + 1) % log_every == 0:
            print(f"step {step + 1}/{n_batches}: loss {running / log_every:.4f}")
            running = 0.0
    model.eval()
    return model
''' + DRIVER_FIXED,
    "VariableDelayGRUMemory": '''
class VariableDelayGRUMemory(torch.nn.Module):
    """GRU whose input at every step is the letter AND the delay (both one-hot)."""

    def __init__(self, hidden_size, max_delay):
        super().__init__()
        self.hidden_size = hidden_size
        self.max_delay = max_delay
        self.gru = torch.nn.GRU(N + 1 + max_delay + 1, hidden_size, num_layers=2, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, N + 1)

    def with_delay(self, x, delays):
        # append the delay (one-hot) to every time step
        delays = torch.as_tensor(delays, device=x.device).long().view(-1)
        d = torch.nn.functional.one_hot(delays, self.max_delay + 1).float()
        d = d.unsqueeze(1).expand(-1, x.shape[1], -1)
        return torch.cat([x, d], dim=-1)

    def forward(self, x, delays):
        out, _ = self.gru(self.with_delay(x, delays))
        return self.linear(out)

    @torch.no_grad()
    def test_run(self, s, delay):
        self.eval()
        dev = next(self.parameters()).device
        onehot = idx_to_onehot(encode_string(s)).unsqueeze(0).to(dev)
        logits = self.forward(onehot, torch.tensor([delay], device=dev))
        return decode_indices(logits.argmax(dim=-1).squeeze(0).cpu())
''',
    "train_variable_delay_gru_memory": '''
def random_variable_batch(batch_size, seq_length, max_delay):
    seq = torch.randint(1, N + 1, (batch_size, seq_length))
    delays = torch.randint(0, max_delay + 1, (batch_size,))
    target = torch.zeros_like(seq)
    for b in range(batch_size):
        shift = int(delays[b])
        target[b, shift:] = seq[b, :seq_length - shift]
    return seq, delays, target


def train_variable_delay_gru_memory(model, dataset_size, batch_size=128, lr=5e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=500, gamma=0.5)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for step in range(dataset_size // batch_size):
        seq, delays, target = random_variable_batch(batch_size, SEQ_LENGTH, model.max_delay)
        logits = model(idx_to_onehot(seq.to(device)), delays.to(device))
        loss = loss_fn(logits.reshape(-1, N + 1), target.to(device).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 250 == 0:
            print(step, round(loss.item(), 4))
    model.eval()
    return model
''' + DRIVER_VARIABLE,
}


# ----------------------------------------------------------------------------------
# the renamed copy: every name the student chose renamed (variables, parameters, helper
# functions, methods, attributes), reformatted, methods and helpers reordered, comments,
# docstrings and printed messages rewritten. Same program.

RENAMED_COPY = {
    "GRUMemory": '''
class GRUMemory(torch.nn.Module):
    # Echo model: recurrent layer + output projection

    @torch.no_grad()
    def test_run(self, s):
        self.eval()
        ids = str_to_ids(s)
        inp = idx_to_onehot(ids).unsqueeze(0).to(
            next(self.parameters()).device
        )
        scores = self.forward(inp)
        best = scores.argmax(dim=-1).squeeze(0).cpu()
        return ids_to_str(best)

    def forward(self, x):
        h_seq, h_last = self.recurrent(x)
        h_seq = self.drop(h_seq)
        scores = self.readout(h_seq)
        return scores

    def __init__(self, hidden_size):  # (the notebook calls GRUMemory(hidden_size=64))
        super().__init__()
        self.n_hidden = hidden_size
        self.recurrent = torch.nn.GRU(
            input_size=N + 1,
            hidden_size=hidden_size,
            num_layers=1,
            batch_first=True,
        )
        self.drop = torch.nn.Dropout(0.1)
        self.readout = torch.nn.Linear(hidden_size, N + 1)


def ids_to_str(ids):
    letters = []
    for k in ids.tolist():
        if k == 0:
            letters.append(" ")
        else:
            letters.append(chr(k - 1 + ord("a")))
    return "".join(letters)


def str_to_ids(text):
    # map a..z to 1..26
    return torch.tensor([ord(letter) - ord("a") + 1 for letter in text], dtype=torch.int64)
''',
    "train_gru_memory": '''
def train_gru_memory(net, dataset_size, bs=64, learning_rate=5e-3, print_freq=200):
    """Training loop for the fixed delay model."""
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    criterion = torch.nn.CrossEntropyLoss()
    num_iters = dataset_size // bs
    net.train()
    acc_loss = 0.0
    for it in range(num_iters):
        inputs, labels = make_echo_batch(bs, random.randint(15, 25), DELAY)
        inputs, labels = inputs.to(device), labels.to(device)
        scores = net(idx_to_onehot(inputs))
        loss = criterion(scores.view(-1, N + 1), labels.view(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        acc_loss += loss.item()
        if (it + 1) % print_freq == 0:
            print(f"iter {it + 1} of {num_iters}, avg loss = {acc_loss / print_freq:.3f}")
            acc_loss = 0.0
    net.eval()
    return net


def make_echo_batch(n, length, shift):
    x = torch.randint(1, N + 1, (n, length))
    y = torch.zeros_like(x)
    y[:, shift:] = x[:, :length - shift]
    return x, y
''' + DRIVER_FIXED,
    "VariableDelayGRUMemory": '''
class VariableDelayGRUMemory(torch.nn.Module):

    def forward(self, x, delays):
        h_seq, _ = self.recurrent(self.add_delay_channels(x, delays))
        return self.readout(h_seq)

    @torch.no_grad()
    def test_run(self, s, delay):
        self.eval()
        where = next(self.parameters()).device
        inp = idx_to_onehot(str_to_ids(s)).unsqueeze(0).to(where)
        scores = self.forward(inp, torch.tensor([delay], device=where))
        return ids_to_str(scores.argmax(dim=-1).squeeze(0).cpu())

    def add_delay_channels(self, x, delays):
        delays = torch.as_tensor(delays, device=x.device).long().view(-1)
        extra = torch.nn.functional.one_hot(delays, self.max_delay + 1).float()
        extra = extra.unsqueeze(1).expand(-1, x.shape[1], -1)
        return torch.cat([x, extra], dim=-1)

    def __init__(self, hidden_size, max_delay):
        super().__init__()
        self.n_hidden = hidden_size
        self.max_delay = max_delay
        self.recurrent = torch.nn.GRU(N + 1 + max_delay + 1, hidden_size,
                                      num_layers=2, batch_first=True)
        self.readout = torch.nn.Linear(hidden_size, N + 1)
''',
    "train_variable_delay_gru_memory": '''
def train_variable_delay_gru_memory(net, dataset_size, bs=128, learning_rate=5e-3):
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=500, gamma=0.5)
    criterion = torch.nn.CrossEntropyLoss()
    net.train()
    for it in range(dataset_size // bs):
        inputs, shifts, labels = make_variable_echo_batch(bs, SEQ_LENGTH, net.max_delay)
        scores = net(idx_to_onehot(inputs.to(device)), shifts.to(device))
        loss = criterion(scores.reshape(-1, N + 1), labels.to(device).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if it % 250 == 0:
            print("it", it, "loss", round(loss.item(), 4))
    net.eval()
    return net


def make_variable_echo_batch(n, length, max_shift):
    x = torch.randint(1, N + 1, (n, length))
    shifts = torch.randint(0, max_shift + 1, (n,))
    y = torch.zeros_like(x)
    for row in range(n):
        k = int(shifts[row])
        y[row, k:] = x[row, :length - k]
    return x, shifts, y
''' + DRIVER_VARIABLE,
}


# ----------------------------------------------------------------------------------
# the padded copy: renamed differently, plus code of its own (a validation pass, a loss
# history, a parameter count, gradient-norm logging)

PADDED_COPY = {
    "GRUMemory": '''
def to_indices(word):
    return torch.tensor([ord(c) - ord('a') + 1 for c in word], dtype=torch.int64)


def to_text(idx):
    out = []
    for j in idx.tolist():
        if j == 0:
            out.append(' ')
        else:
            out.append(chr(j - 1 + ord('a')))
    return ''.join(out)


def count_parameters(module):
    """Number of trainable parameters (for the write-up)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.rnn = torch.nn.GRU(input_size=N + 1, hidden_size=hidden_size, num_layers=1, batch_first=True)
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        states, last = self.rnn(x)
        states = self.dropout(states)
        return self.head(states)

    @torch.no_grad()
    def test_run(self, s):
        self.eval()
        idx = to_indices(s)
        x = idx_to_onehot(idx).unsqueeze(0).to(next(self.parameters()).device)
        logits = self.forward(x)
        guess = logits.argmax(dim=-1).squeeze(0).cpu()
        return to_text(guess)

    def describe(self):
        n = count_parameters(self)
        print(f"GRUMemory with hidden size {self.hidden_size}: {n} parameters")
        return n
''',
    "train_gru_memory": '''
def sample_batch(bsz, length, delay):
    seqs = torch.randint(1, N + 1, (bsz, length))
    tgt = torch.zeros_like(seqs)
    tgt[:, delay:] = seqs[:, :length - delay]
    return seqs, tgt


@torch.no_grad()
def validation_accuracy(model, n=256, length=20):
    model.eval()
    seqs, tgt = sample_batch(n, length, DELAY)
    pred = model(idx_to_onehot(seqs.to(device))).argmax(dim=-1)
    model.train()
    return (pred[:, DELAY:] == tgt[:, DELAY:].to(device)).float().mean().item()


def train_gru_memory(model, dataset_size, bsz=64, lr=5e-3, every=200):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = torch.nn.CrossEntropyLoss()
    steps = dataset_size // bsz
    history = {"loss": [], "val_acc": [], "grad_norm": []}
    model.train()
    total = 0.0
    for step in range(steps):
        seqs, tgt = sample_batch(bsz, random.randint(15, 25), DELAY)
        seqs, tgt = seqs.to(device), tgt.to(device)
        logits = model(idx_to_onehot(seqs))
        loss = criterion(logits.view(-1, N + 1), tgt.view(-1))
        optimizer.zero_grad()
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        total += loss.item()
        history["grad_norm"].append(float(gn))
        if (step + 1) % every == 0:
            history["loss"].append(total / every)
            history["val_acc"].append(validation_accuracy(model))
            print(f"[{step + 1}/{steps}] loss={total / every:.4f} val_acc={history['val_acc'][-1]:.3f}")
            total = 0.0
            if history["val_acc"][-1] > 0.999 and step > steps // 2:
                print("early stop")
                break
    model.eval()
    model.history = history
    return model
''' + DRIVER_FIXED,
    "VariableDelayGRUMemory": '''
class VariableDelayGRUMemory(torch.nn.Module):
    def __init__(self, hidden_size, max_delay):
        super().__init__()
        self.hidden_size = hidden_size
        self.max_delay = max_delay
        self.rnn = torch.nn.GRU(N + 1 + max_delay + 1, hidden_size, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(hidden_size, N + 1)

    def concat_delay(self, x, delays):
        delays = torch.as_tensor(delays, device=x.device).long().view(-1)
        dd = torch.nn.functional.one_hot(delays, self.max_delay + 1).float()
        dd = dd.unsqueeze(1).expand(-1, x.shape[1], -1)
        return torch.cat([x, dd], dim=-1)

    def forward(self, x, delays):
        states, _ = self.rnn(self.concat_delay(x, delays))
        return self.head(states)

    @torch.no_grad()
    def test_run(self, s, delay):
        self.eval()
        where = next(self.parameters()).device
        x = idx_to_onehot(to_indices(s)).unsqueeze(0).to(where)
        logits = self.forward(x, torch.tensor([delay], device=where))
        return to_text(logits.argmax(dim=-1).squeeze(0).cpu())

    @torch.no_grad()
    def accuracy_per_delay(self, n=128):
        """Accuracy for each delay separately (to see which delays are hard)."""
        self.eval()
        accs = []
        for delay in range(self.max_delay + 1):
            seqs = torch.randint(1, N + 1, (n, SEQ_LENGTH))
            pred = self.forward(idx_to_onehot(seqs), torch.full((n,), delay)).argmax(dim=-1)
            accs.append((pred[:, delay:] == seqs[:, :SEQ_LENGTH - delay]).float().mean().item())
        return accs
''',
    "train_variable_delay_gru_memory": '''
def sample_variable_batch(bsz, length, max_delay):
    seqs = torch.randint(1, N + 1, (bsz, length))
    delays = torch.randint(0, max_delay + 1, (bsz,))
    tgt = torch.zeros_like(seqs)
    for i in range(bsz):
        dl = int(delays[i])
        tgt[i, dl:] = seqs[i, :length - dl]
    return seqs, delays, tgt


def train_variable_delay_gru_memory(model, dataset_size, bsz=128, lr=5e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=500, gamma=0.5)
    criterion = torch.nn.CrossEntropyLoss()
    losses = []
    model.train()
    for step in range(dataset_size // bsz):
        seqs, delays, tgt = sample_variable_batch(bsz, SEQ_LENGTH, model.max_delay)
        logits = model(idx_to_onehot(seqs.to(device)), delays.to(device))
        loss = criterion(logits.reshape(-1, N + 1), tgt.to(device).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if step % 250 == 0:
            print(step, round(loss.item(), 4), "per delay:", [round(a, 2) for a in model.accuracy_per_delay(32)])
            model.train()
    model.eval()
    print("final loss", sum(losses[-50:]) / max(1, len(losses[-50:])))
    return model
''' + DRIVER_VARIABLE,
}


# ----------------------------------------------------------------------------------
# the partial copy: a GRUMemory of its own (2-layer GRU with layer norm, SGD with momentum
# over the given EchoDataset), VariableDelayGRUMemory and its training copied and renamed

PARTIAL_COPY = {
    "GRUMemory": '''
def letters_to_tensor(word):
    return torch.tensor([string.ascii_lowercase.index(ch) + 1 for ch in word])


def tensor_to_letters(t):
    return "".join(" " if v == 0 else string.ascii_lowercase[v - 1] for v in t.tolist())


class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.layers = torch.nn.GRU(N + 1, hidden_size, num_layers=2, batch_first=True)
        self.norm = torch.nn.LayerNorm(hidden_size)
        self.classifier = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        seq_out = self.layers(x)[0]
        return self.classifier(self.norm(seq_out))

    @torch.no_grad()
    def test_run(self, s):
        logits = self(idx_to_onehot(letters_to_tensor(s)).unsqueeze(0))
        return tensor_to_letters(logits[0].argmax(1))
''',
    "train_gru_memory": '''
def train_gru_memory(model, dataset_size):
    loader = DataLoader(EchoDataset(delay=DELAY, seq_length=18, size=dataset_size), batch_size=32)
    sgd = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, nesterov=True)
    for i, (seq, result) in enumerate(loader):
        out = model(idx_to_onehot(seq))
        err = torch.nn.functional.cross_entropy(out.permute(0, 2, 1), result)
        sgd.zero_grad()
        err.backward()
        sgd.step()
        if i % 500 == 0:
            print("batch", i, "error", err.item())
    return model
''' + DRIVER_FIXED,
    "VariableDelayGRUMemory": '''
def as_text(ids):
    chars = []
    for v in ids.tolist():
        if v == 0:
            chars.append(" ")
        else:
            chars.append(chr(v - 1 + ord("a")))
    return "".join(chars)


def as_ids(word):
    return torch.tensor([ord(ch) - ord("a") + 1 for ch in word], dtype=torch.int64)


class VariableDelayGRUMemory(torch.nn.Module):
    def __init__(self, hidden_size, max_delay):
        super().__init__()
        self.width = hidden_size
        self.max_delay = max_delay
        self.core = torch.nn.GRU(N + 1 + max_delay + 1, hidden_size, num_layers=2, batch_first=True)
        self.proj = torch.nn.Linear(hidden_size, N + 1)

    @torch.no_grad()
    def test_run(self, s, delay):
        self.eval()
        dv = next(self.parameters()).device
        inp = idx_to_onehot(as_ids(s)).unsqueeze(0).to(dv)
        out = self.forward(inp, torch.tensor([delay], device=dv))
        return as_text(out.argmax(dim=-1).squeeze(0).cpu())

    def forward(self, x, delays):
        seq_out, _ = self.core(self.join_delay(x, delays))
        return self.proj(seq_out)

    def join_delay(self, x, delays):
        delays = torch.as_tensor(delays, device=x.device).long().view(-1)
        oh = torch.nn.functional.one_hot(delays, self.max_delay + 1).float()
        oh = oh.unsqueeze(1).expand(-1, x.shape[1], -1)
        return torch.cat([x, oh], dim=-1)
''',
    "train_variable_delay_gru_memory": '''
def variable_batch(count, length, top):
    xs = torch.randint(1, N + 1, (count, length))
    ds = torch.randint(0, top + 1, (count,))
    ys = torch.zeros_like(xs)
    for r in range(count):
        sh = int(ds[r])
        ys[r, sh:] = xs[r, :length - sh]
    return xs, ds, ys


def train_variable_delay_gru_memory(m, dataset_size, batch=128, rate=5e-3):
    adam = torch.optim.Adam(m.parameters(), lr=rate)
    sch = torch.optim.lr_scheduler.StepLR(adam, step_size=500, gamma=0.5)
    ce = torch.nn.CrossEntropyLoss()
    m.train()
    for k in range(dataset_size // batch):
        xs, ds, ys = variable_batch(batch, SEQ_LENGTH, m.max_delay)
        out = m(idx_to_onehot(xs.to(device)), ds.to(device))
        loss = ce(out.reshape(-1, N + 1), ys.to(device).reshape(-1))
        adam.zero_grad()
        loss.backward()
        adam.step()
        sch.step()
        if k % 250 == 0:
            print(k, round(loss.item(), 4))
    m.eval()
    return m
''' + DRIVER_VARIABLE,
}


# ----------------------------------------------------------------------------------
# four independent honest solutions

HONEST_GRU_CELL = {  # nn.GRUCell unrolled by hand over a projected input; a delay embedding
    "GRUMemory": '''
LETTERS = string.ascii_lowercase


class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.proj = torch.nn.Linear(N + 1, hidden_size)
        self.cell = torch.nn.GRUCell(hidden_size, hidden_size)
        self.out = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        batch, steps, _ = x.shape
        h = x.new_zeros(batch, self.hidden_size)
        emb = torch.relu(self.proj(x))
        outputs = []
        for t in range(steps):
            h = self.cell(emb[:, t], h)
            outputs.append(self.out(h))
        return torch.stack(outputs, dim=1)

    @torch.no_grad()
    def test_run(self, s):
        ids = torch.tensor([LETTERS.index(c) + 1 for c in s])
        best = self(idx_to_onehot(ids)[None])[0].argmax(-1)
        return "".join(" " if k == 0 else LETTERS[k - 1] for k in best.tolist())
''',
    "train_gru_memory": '''
def train_gru_memory(model, dataset_size, epochs=1):
    loader = DataLoader(EchoDataset(delay=DELAY, seq_length=20, size=dataset_size), batch_size=100)
    opt = torch.optim.RMSprop(model.parameters(), lr=3e-3)
    for epoch in range(epochs):
        total_loss, n = 0.0, 0
        for seq, result in loader:
            pred = model(idx_to_onehot(seq))
            loss = torch.nn.functional.cross_entropy(pred.transpose(1, 2), result)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += loss.item()
            n += 1
        print("epoch", epoch, "mean loss", total_loss / n)
    return model
''' + DRIVER_FIXED,
    "VariableDelayGRUMemory": '''
class VariableDelayGRUMemory(torch.nn.Module):
    def __init__(self, hidden_size, max_delay):
        super().__init__()
        self.max_delay = max_delay
        self.hidden_size = hidden_size
        self.delay_emb = torch.nn.Embedding(max_delay + 1, 16)
        self.cell = torch.nn.GRUCell(N + 1 + 16, hidden_size)
        self.out = torch.nn.Sequential(torch.nn.Linear(hidden_size, hidden_size), torch.nn.ReLU(),
                                       torch.nn.Linear(hidden_size, N + 1))

    def forward(self, x, delays):
        d = self.delay_emb(torch.as_tensor(delays).long().reshape(-1))
        h = torch.zeros(x.shape[0], self.hidden_size)
        logits = []
        for t in range(x.shape[1]):
            h = self.cell(torch.cat([x[:, t], d], 1), h)
            logits.append(self.out(h))
        return torch.stack(logits, 1)

    @torch.no_grad()
    def test_run(self, s, delay):
        ids = torch.tensor([LETTERS.index(c) + 1 for c in s])
        best = self(idx_to_onehot(ids)[None], torch.tensor([delay]))[0].argmax(-1)
        return "".join(" " if k == 0 else LETTERS[k - 1] for k in best.tolist())
''',
    "train_variable_delay_gru_memory": '''
def train_variable_delay_gru_memory(model, dataset_size, epochs=1):
    loader = DataLoader(VariableDelayEchoDataset(max_delay=model.max_delay, seq_length=SEQ_LENGTH,
                                                 size=dataset_size), batch_size=200)
    opt = torch.optim.RMSprop(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=len(loader) * epochs)
    for epoch in range(epochs):
        for seq, delay, result in loader:
            pred = model(idx_to_onehot(seq), delay)
            loss = torch.nn.functional.cross_entropy(pred.transpose(1, 2), result)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model
''' + DRIVER_VARIABLE,
}

HONEST_EMBEDDING = {  # one-hot -> argmax -> nn.Embedding -> 2-layer GRU; the delay sets h0
    "GRUMemory": '''
CHAR_TO_ID = {c: i + 1 for i, c in enumerate(string.ascii_lowercase)}
ID_TO_CHAR = {i: c for c, i in CHAR_TO_ID.items()}
ID_TO_CHAR[0] = " "


class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size, emb_dim=32):
        super().__init__()
        self.embedding = torch.nn.Embedding(N + 1, emb_dim)
        self.rnn = torch.nn.GRU(emb_dim, hidden_size, num_layers=2, batch_first=True)
        self.fc = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        ids = x.argmax(dim=2)  # one-hot back to letter ids
        h, _ = self.rnn(self.embedding(ids))
        return self.fc(h)

    def test_run(self, s):
        with torch.no_grad():
            x = idx_to_onehot(torch.LongTensor([[CHAR_TO_ID[c] for c in s]]))
            ids = self.forward(x).argmax(dim=2)[0]
        return "".join(ID_TO_CHAR[int(i)] for i in ids)
''',
    "train_gru_memory": '''
def make_echo_data(n, length, delay):
    xs, ys = [], []
    for _ in range(n):
        letters = [random.randint(1, N) for _ in range(length)]
        xs.append(letters)
        ys.append([0] * delay + letters[:length - delay])
    return torch.LongTensor(xs), torch.LongTensor(ys)


def train_gru_memory(model, dataset_size):
    X, Y = make_echo_data(dataset_size, 16, DELAY)
    optim = torch.optim.Adam(model.parameters(), lr=0.005)
    crit = torch.nn.CrossEntropyLoss()
    bs = 128
    for step, i in enumerate(range(0, dataset_size, bs)):
        if step == 300:
            for g in optim.param_groups:
                g["lr"] = 0.001
        out = model(idx_to_onehot(X[i:i + bs]))
        loss = crit(out.reshape(-1, out.shape[-1]), Y[i:i + bs].flatten())
        optim.zero_grad()
        loss.backward()
        optim.step()
    return model
''' + DRIVER_FIXED,
    "VariableDelayGRUMemory": '''
class VariableDelayGRUMemory(torch.nn.Module):
    def __init__(self, hidden_size, max_delay, emb_dim=32):
        super().__init__()
        self.max_delay = max_delay
        self.embedding = torch.nn.Embedding(N + 1, emb_dim)
        self.delay_to_state = torch.nn.Embedding(max_delay + 1, 2 * hidden_size)
        self.rnn = torch.nn.GRU(emb_dim, hidden_size, num_layers=2, batch_first=True)
        self.fc = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x, delays):
        ids = x.argmax(dim=2)
        delays = torch.as_tensor(delays, dtype=torch.long).flatten()
        h0 = torch.tanh(self.delay_to_state(delays))
        h0 = h0.view(len(delays), 2, -1).transpose(0, 1).contiguous()
        h, _ = self.rnn(self.embedding(ids), h0)
        return self.fc(h)

    def test_run(self, s, delay):
        with torch.no_grad():
            x = idx_to_onehot(torch.LongTensor([[CHAR_TO_ID[c] for c in s]]))
            ids = self.forward(x, [delay]).argmax(dim=2)[0]
        return "".join(ID_TO_CHAR[int(i)] for i in ids)
''',
    "train_variable_delay_gru_memory": '''
def make_variable_echo_data(n, length, max_delay):
    xs, ds, ys = [], [], []
    for _ in range(n):
        letters = [random.randint(1, N) for _ in range(length)]
        d = random.randint(0, max_delay)
        xs.append(letters)
        ds.append(d)
        ys.append([0] * d + letters[:length - d])
    return torch.LongTensor(xs), torch.LongTensor(ds), torch.LongTensor(ys)


def train_variable_delay_gru_memory(model, dataset_size):
    X, D, Y = make_variable_echo_data(dataset_size, SEQ_LENGTH, model.max_delay)
    optim = torch.optim.Adam(model.parameters(), lr=0.005)
    crit = torch.nn.CrossEntropyLoss()
    bs = 256
    for step, i in enumerate(range(0, dataset_size, bs)):
        if step == 400:
            for g in optim.param_groups:
                g["lr"] = 0.001
        out = model(idx_to_onehot(X[i:i + bs]), D[i:i + bs])
        loss = crit(out.reshape(-1, out.shape[-1]), Y[i:i + bs].flatten())
        optim.zero_grad()
        loss.backward()
        optim.step()
    return model
''' + DRIVER_VARIABLE,
}

HONEST_STANDARD = {  # the design most of a class writes: nn.GRU + linear; per-delay heads
    "GRUMemory": '''
class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.linear(out)

    @torch.no_grad()
    def test_run(self, s):
        idx = torch.tensor([ord(c) - 96 for c in s])
        out = self.forward(idx_to_onehot(idx).unsqueeze(0))
        return ''.join(' ' if i == 0 else chr(i + 96) for i in out.argmax(-1)[0].tolist())
''',
    "train_gru_memory": '''
def fit(model, loader, lr, total_steps):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 - k / (total_steps + 1))
    lossf = torch.nn.CrossEntropyLoss()
    model.train()
    for batch in loader:
        inputs = idx_to_onehot(batch[0])
        target = batch[-1]
        logits = model(inputs) if len(batch) == 2 else model(inputs, batch[1])
        loss = lossf(logits.flatten(0, 1), target.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    return model


def train_gru_memory(model, dataset_size):
    loader = DataLoader(EchoDataset(delay=DELAY, size=dataset_size), batch_size=64)
    return fit(model, loader, 1e-2, len(loader))
''' + DRIVER_FIXED,
    "VariableDelayGRUMemory": '''
class VariableDelayGRUMemory(torch.nn.Module):
    def __init__(self, hidden_size, max_delay):
        super().__init__()
        self.max_delay = max_delay
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.heads = torch.nn.ModuleList([torch.nn.Linear(hidden_size, N + 1) for _ in range(max_delay + 1)])

    def forward(self, x, delays):
        out, _ = self.gru(x)
        every = torch.stack([head(out) for head in self.heads], dim=1)  # (B, D + 1, T, N + 1)
        delays = torch.as_tensor(delays).long().view(-1)
        return every[torch.arange(x.shape[0]), delays]

    @torch.no_grad()
    def test_run(self, s, delay):
        idx = torch.tensor([ord(c) - 96 for c in s])
        out = self.forward(idx_to_onehot(idx).unsqueeze(0), torch.tensor([delay]))
        return ''.join(' ' if i == 0 else chr(i + 96) for i in out.argmax(-1)[0].tolist())
''',
    "train_variable_delay_gru_memory": '''
def train_variable_delay_gru_memory(model, dataset_size):
    loader = DataLoader(VariableDelayEchoDataset(max_delay=model.max_delay, size=dataset_size), batch_size=128)
    return fit(model, loader, 2e-2, len(loader))
''' + DRIVER_VARIABLE,
}

HONEST_MANUAL = {  # a GRU written by hand (gates as nn.Linear); the variable one subclasses it
    "GRUMemory": '''
class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size, extra_inputs=0):
        super().__init__()
        self.H = hidden_size
        n_in = N + 1 + extra_inputs + hidden_size
        self.W_z = torch.nn.Linear(n_in, hidden_size)
        self.W_r = torch.nn.Linear(n_in, hidden_size)
        self.W_h = torch.nn.Linear(n_in, hidden_size)
        self.W_y = torch.nn.Linear(hidden_size, N + 1)

    def step(self, x_t, h):
        xh = torch.cat((x_t, h), dim=1)
        z = torch.sigmoid(self.W_z(xh))
        r = torch.sigmoid(self.W_r(xh))
        h_hat = torch.tanh(self.W_h(torch.cat((x_t, r * h), dim=1)))
        return (1 - z) * h + z * h_hat

    def run(self, x):
        h = torch.zeros(x.size(0), self.H, device=x.device)
        ys = []
        for t in range(x.size(1)):
            h = self.step(x[:, t, :], h)
            ys.append(self.W_y(h))
        return torch.stack(ys, dim=1)

    def forward(self, x):
        return self.run(x)

    def decode(self, y):
        out = ""
        for k in y.argmax(dim=1).tolist():
            out += " " if k == 0 else string.ascii_lowercase[k - 1]
        return out

    def test_run(self, s):
        self.eval()
        with torch.no_grad():
            codes = torch.tensor([string.ascii_lowercase.find(ch) + 1 for ch in s])
            return self.decode(self.forward(idx_to_onehot(codes).unsqueeze(0)).squeeze(0))
''',
    "train_gru_memory": '''
def train_gru_memory(model, dataset_size):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    seen = 0
    for seq, result in DataLoader(EchoDataset(delay=DELAY, size=dataset_size), batch_size=32):
        logits = model(idx_to_onehot(seq))
        loss = torch.nn.functional.nll_loss(torch.log_softmax(logits, -1).permute(0, 2, 1), result)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += seq.shape[0]
        if seen % 16000 == 0:
            print(seen, loss.item())
    return model
''' + DRIVER_FIXED,
    "VariableDelayGRUMemory": '''
class VariableDelayGRUMemory(GRUMemory):
    def __init__(self, hidden_size, max_delay):
        super().__init__(hidden_size, extra_inputs=max_delay + 1)
        self.max_delay = max_delay

    def forward(self, x, delays):
        delays = torch.as_tensor(delays).long().view(-1)
        onehot_delay = torch.zeros(x.size(0), x.size(1), self.max_delay + 1, device=x.device)
        onehot_delay[torch.arange(x.size(0)), :, delays] = 1.0
        return self.run(torch.cat((x, onehot_delay), dim=2))

    def test_run(self, s, delay):
        self.eval()
        with torch.no_grad():
            codes = torch.tensor([string.ascii_lowercase.find(ch) + 1 for ch in s])
            y = self.forward(idx_to_onehot(codes).unsqueeze(0), torch.tensor([delay]))
            return self.decode(y.squeeze(0))
''',
    "train_variable_delay_gru_memory": '''
def train_variable_delay_gru_memory(model, dataset_size):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    data = DataLoader(VariableDelayEchoDataset(max_delay=model.max_delay, size=dataset_size), batch_size=64)
    for i, (seq, delay, result) in enumerate(data):
        logits = model(idx_to_onehot(seq), delay)
        loss = torch.nn.functional.nll_loss(torch.log_softmax(logits, -1).permute(0, 2, 1), result)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i % 500 == 0:
            print(i, loss.item())
    return model
''' + DRIVER_VARIABLE,
}


# ----------------------------------------------------------------------------------
# members

TARGETS = [f"{RNN}::GRUMemory", f"{RNN}::VariableDelayGRUMemory"]
HONEST = ["similarity_honest_gru_cell", "similarity_honest_embedding", "similarity_honest_standard",
          "similarity_honest_manual_gru"]
COPIES = ["similarity_renamed_copy", "similarity_padded_copy", "similarity_partial_copy"]
EVERYONE = ["similarity_original", *COPIES, *HONEST]


def notebook(cells: dict[str, str]):
    """The starter notebook with the echo TODO cells replaced by `cells` {name the starter cell defines: source}."""
    nb = sl.load_notebook("starter", RNN)
    for name, src in cells.items():
        sl.find_cell(nb, name).source = d(src)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def member(tries, before_fix, paired_with=None, not_paired_with=(), twin=None, **kw):
    exp = ba.E(tries, notebook=RNN, twin=twin, slow=True, max_seconds=60, notebook_status=None)
    exp.update(suite="similarity", rubric=RUBRIC, similarity_threshold=THRESHOLD, before_fix=before_fix,
               paired_with=dict(paired_with or {}), not_paired_with=sorted(not_paired_with),
               not_paired_max=NOT_PAIRED_MAX, targets_min=kw.pop("targets_min", {}),
               targets_max=kw.pop("targets_max", {}), jaccard_max=kw.pop("jaccard_max", {}))
    assert not kw, kw
    return exp


def others(me, *paired):
    return [m for m in EVERYONE if m != me and m not in paired]


MEMBERS: list[tuple[str, str, dict, dict]] = [
    ("similarity_original", "sim0001", ORIGINAL, member(
        "A student's own echo solution: nn.GRU + dropout + linear read-out with string helpers and its own "
        "batches; for the variable delay, the delay one-hot appended to every time step of a 2-layer GRU. "
        "The twin of the three copies.",
        "Paired with nothing (threshold 0.8): its renamed copy scored 0.372, its padded copy 0.449, its partial "
        "copy 0.396 (VariableDelayGRUMemory 0.465), while independent pairs reached 0.254.",
        paired_with={"similarity_renamed_copy": THRESHOLD, "similarity_padded_copy": THRESHOLD,
                     "similarity_partial_copy": THRESHOLD},
        not_paired_with=others("similarity_original", *COPIES))),
    ("similarity_renamed_copy", "sim0002", RENAMED_COPY, member(
        "The original with every name the student chose renamed (variables, parameters, helpers, methods, "
        "attributes: self.gru -> self.recurrent, self.linear -> self.readout, ...), reformatted, methods and "
        "helper functions reordered (test_run first, __init__ last; helpers after their users), comments, "
        "docstrings and printed messages rewritten. The same program.",
        "Not paired with its original: similarity 0.372 (threshold 0.8; GRUMemory 0.392, VariableDelayGRUMemory "
        "0.356), hardly above independent pairs (up to 0.254): renaming by first use (v0, v1, ...) numbered "
        "everything differently once methods and helpers were reordered.",
        twin="similarity_original", paired_with={"similarity_original": THRESHOLD},
        not_paired_with=others("similarity_renamed_copy", "similarity_original", "similarity_padded_copy",
                               "similarity_partial_copy"),
        targets_min={"similarity_original": {t: THRESHOLD for t in TARGETS}})),
    ("similarity_padded_copy", "sim0003", PADDED_COPY, member(
        "A renamed copy of the original (other names than the first copy) plus a third more code of its own: "
        "a parameter count, a validation accuracy with early stopping, a loss/gradient-norm history, an "
        "accuracy per delay. Jaccard similarity drops below the threshold; containment does not.",
        "Not paired with its original: similarity 0.449 (GRUMemory 0.490, VariableDelayGRUMemory 0.419).",
        twin="similarity_original", paired_with={"similarity_original": THRESHOLD},
        not_paired_with=others("similarity_padded_copy", "similarity_original", "similarity_renamed_copy",
                               "similarity_partial_copy"),
        jaccard_max={"similarity_original": 0.75})),
    ("similarity_partial_copy", "sim0004", PARTIAL_COPY, member(
        "GRUMemory and its training of its own (2-layer GRU with layer norm, SGD over the given EchoDataset); "
        "VariableDelayGRUMemory, its helpers and its training copied from the original and renamed, "
        "reordered, reformatted. The pair must be reported, with VariableDelayGRUMemory above the threshold "
        "and GRUMemory below it in the per-target detail.",
        "Not paired with the original: similarity 0.396; VariableDelayGRUMemory, copied whole, 0.465.",
        twin="similarity_original", paired_with={"similarity_original": THRESHOLD},
        not_paired_with=others("similarity_partial_copy", "similarity_original", "similarity_renamed_copy",
                               "similarity_padded_copy"),
        targets_min={"similarity_original": {f"{RNN}::VariableDelayGRUMemory": THRESHOLD}},
        targets_max={"similarity_original": {f"{RNN}::GRUMemory": 0.5}})),
    ("similarity_honest_gru_cell", "sim0011", HONEST_GRU_CELL, member(
        "Independent: nn.GRUCell unrolled over a ReLU input projection, string.ascii_lowercase lookups, "
        "RMSprop over the given datasets; the delay as a learned embedding concatenated to every step.",
        "Not paired (independent pairs scored 0.254 at most, the renamed copy 0.372).",
        not_paired_with=others("similarity_honest_gru_cell"))),
    ("similarity_honest_embedding", "sim0012", HONEST_EMBEDDING, member(
        "Independent: one-hot turned back into ids for an nn.Embedding and a 2-layer GRU, dictionaries for "
        "the letters, the data generated up front as lists; the delay sets the initial hidden state.",
        "Not paired (independent pairs scored 0.254 at most, the renamed copy 0.372).",
        not_paired_with=others("similarity_honest_embedding"))),
    ("similarity_honest_standard", "sim0013", HONEST_STANDARD, member(
        "Independent, in the design most of a class writes (and close to the original's GRUMemory): nn.GRU + "
        "nn.Linear, a shared fit() with a linear learning-rate decay over the given datasets; one linear head "
        "per delay, picked by indexing.",
        "Not paired (independent pairs scored 0.254 at most, the renamed copy 0.372).",
        not_paired_with=others("similarity_honest_standard"))),
    ("similarity_honest_manual_gru", "sim0014", HONEST_MANUAL, member(
        "Independent: a GRU written by hand (update/reset gates as nn.Linear, a Python loop over time); "
        "VariableDelayGRUMemory subclasses it with the delay one-hot as extra inputs; NLL of log-softmax.",
        "Not paired (independent pairs scored 0.254 at most, the renamed copy 0.372).",
        not_paired_with=others("similarity_honest_manual_gru"))),
]


def entries_for(netid: str, cells: dict[str, str]) -> dict[str, bytes]:
    pdf = sl.theory_pdf([f"Homework 2 - theory answers - {netid}", "(similarity test submission)"])
    return {sl.PDF_NAME: pdf, RNN: sl.notebook_bytes(notebook(cells))}


def build_all(out=OUT):
    out = Path(out)
    netids = [m[1] for m in MEMBERS]
    assert len(set(netids)) == len(netids), "netids must be distinct"
    return [ba.write_attack(out, name, netid, entries_for(netid, cells), exp) for name, netid, cells, exp in MEMBERS]


def main(argv=None):
    ba.corpus_main(__doc__, build_all, lambda: ((m[0], m[1], m[-1]) for m in MEMBERS), argv)


if __name__ == "__main__":
    main()
