"""Cells for small hw2_rnn notebooks: 'perfect' echo models built by shifting the input
(behaviourally what a well-trained GRU does), an untrained GRU, and interface deviations."""

HEAD = '''import random, string, time
import torch
random.seed(0); torch.manual_seed(0)
device = torch.device("cpu")
N = 26
DELAY = 4
MAX_DELAY = 8

def idx_to_onehot(x, k=N + 1):
    ones = torch.sparse.torch.eye(k).to(x.device)
    shape = x.shape
    res = ones.index_select(0, x.view(-1).type(torch.int64))
    return res.view(*shape, res.shape[-1])
'''

SHIFT_GRU = '''class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        out, _ = self.gru(x)
        shifted = torch.zeros_like(x)
        shifted[:, DELAY:] = x[:, :-DELAY]
        shifted[:, :DELAY, 0] = 1
        return 0.0 * self.linear(out) + 10 * shifted

    @torch.no_grad()
    def test_run(self, s):
        idx = torch.tensor([ord(c) - ord("a") + 1 for c in s])
        pred = self.forward(idx_to_onehot(idx).unsqueeze(0)).argmax(-1).squeeze(0).tolist()
        return "".join(" " if i == 0 else chr(ord("a") + i - 1) for i in pred)
'''

# deviations: forward takes integer indices and returns (output, hidden); an extra
# constructor argument with a default; test_run reads the globals `model` and `device`;
# the letter 'z' is echoed as 'a' (accuracy about 0.96: partial credit)
DEVIANT_VAR = '''class VariableDelayGRUMemory(torch.nn.Module):
    def __init__(self, hidden_size, max_delay, dropout=0.0, wrong_z=False):
        super().__init__()
        self.hidden_size = hidden_size
        self.max_delay = max_delay
        self.wrong_z = wrong_z
        self.emb = torch.nn.Embedding(N + 1, hidden_size)

    def forward(self, idx, delays):
        x = idx_to_onehot(idx)
        B, T, _ = x.shape
        out = torch.zeros_like(x)
        for b in range(B):
            d = int(delays[b])
            out[b, :d, 0] = 1
            out[b, d:] = x[b, :T - d]
        if self.wrong_z:
            out[..., 1] += out[..., 26] * 2
        return 10 * out + 0.0 * self.emb(idx).sum(), None

    @torch.no_grad()
    def test_run(self, s, delay, verbose=False):
        idx = torch.tensor([ord(c) - ord("a") + 1 for c in s], device=device)
        logits, _ = model(idx.unsqueeze(0), torch.tensor([delay]))
        pred = logits.argmax(-1).squeeze(0).tolist()
        return "".join(" " if i == 0 else chr(ord("a") + i - 1) for i in pred)
'''

REAL_GRU = '''class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.linear(out)

    @torch.no_grad()
    def test_run(self, s):
        idx = torch.tensor([ord(c) - ord("a") + 1 for c in s])
        pred = self.forward(idx_to_onehot(idx).unsqueeze(0)).argmax(-1).squeeze(0).tolist()
        return "".join(" " if i == 0 else chr(ord("a") + i - 1) for i in pred)
'''

BLANK_GRU = '''class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size):
        # TODO: your code here
        raise NotImplementedError

    def forward(self, x):
        raise NotImplementedError

    @torch.no_grad()
    def test_run(self, s):
        raise NotImplementedError
'''

BLANK_VAR = BLANK_GRU.replace("GRUMemory", "VariableDelayGRUMemory").replace("hidden_size)", "hidden_size, max_delay)")

TRAIN_FIXED = '''def train_gru_memory(model, dataset_size):
    return model  # the shift model needs no training; the real one is left untrained

model = GRUMemory(hidden_size=16).to(device)
model = train_gru_memory(model, 100)
'''

TRAIN_VAR = '''model = VariableDelayGRUMemory(16, MAX_DELAY{extra}).to(device)
'''

# a student cell that forges the export files: must have no effect
FORGE = '''import os, json, numpy as np
os.makedirs("__grader_exports__", exist_ok=True)
for f in os.listdir("__grader_exports__"):
    pass
json.dump({"format": 1, "found": True, "names": []}, open("__grader_exports__/x-hw2_rnn.GRUMemory.json", "w"))
np.savez("__grader_exports__/x-hw2_rnn.GRUMemory.npz")
'''
