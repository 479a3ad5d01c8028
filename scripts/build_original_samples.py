"""Builds sample submissions in the course's ORIGINAL notebook format (Colab habits and
all) under submissions/original/<quirk>/<netid>.zip, for rubrics/hw2-original.

    python scripts/build_original_samples.py [--out DIR]

The notebooks are written here, following the structure of the original notebooks
(ASSIGNMENT.md section 3); none is a copy of course material. Given code comes from the
project's `reference` package; the "student" parts are written below, small enough to
train on 2 CPU cores in seconds (the echo GRUs genuinely reach the thresholds).
Rebuilding is byte-identical (samples_lib.write_zip). Notebooks are left unexecuted.
Samples share notebooks where their quirk is elsewhere, so the grader's execution cache
runs each distinct notebook once.
"""
import argparse
import inspect
import sys
import textwrap
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import samples_lib as sl  # noqa: E402

from reference import echo  # noqa: E402

ROOT = sl.ROOT
CNN, RNN, SEQ = sl.NOTEBOOK_NAMES


def nb_of(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, text in cells:
        text = textwrap.dedent(text).strip("\n")
        nb.cells.append(nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["colab"] = {"provenance": []}
    return nb


def md(t):
    return ("md", t)


def code(t):
    return ("code", t)


def src(*objs):
    return "\n\n".join(textwrap.dedent(inspect.getsource(o)).strip("\n") for o in objs)


# hw2_cnn.ipynb (cats vs dogs) ---------------------------------------------------------

COLAB_DATA = code("""
from google.colab import drive
drive.mount('/content/drive')
!wget -q https://datasets.example.org/cats_and_dogs_filtered.zip
!unzip -q cats_and_dogs_filtered.zip
""")

CNN_IMPORTS = code("""
import torch
import torchvision
from torchvision import datasets, transforms
from torch import nn
import matplotlib.pyplot as plt

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
""")

# The course's data has 1000 validation images (split 500/500); the samples run on the
# project's small stand-in (reference/lab/data), so they split what is there in halves and
# train 2 epochs: a CPU trains on 256x256 images at ~6 s per batch of 64.
CNN_DATA = code("""
train_transform = transforms.Compose([
    transforms.Resize((256, 256)),
    transforms.RandomHorizontalFlip(),
    transforms.ColorJitter(0.2, 0.2),
    transforms.RandomRotation(10),
    transforms.ToTensor(),
])
test_transform = transforms.Compose([transforms.Resize((256, 256)), transforms.ToTensor()])
train_dataset = datasets.ImageFolder('cats_and_dogs_filtered/train', transform=train_transform)
val_full = datasets.ImageFolder('cats_and_dogs_filtered/validation', transform=test_transform)
validation_dataset, test_dataset = torch.utils.data.random_split(
    val_full, [len(val_full) // 2, len(val_full) - len(val_full) // 2], generator=torch.Generator().manual_seed(42))
""")

CNN_CLASS = """
class {name}(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(4)
        self.fc = nn.Linear(16 * 16 * 16, 2)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))  # (B, 16, 64, 64)
        y = torch.relu(self.bn2(self.conv2(x)))
        x = self.pool(x + y)  # residual connection, then (B, 16, 16, 16)
        return self.fc(x.flatten(1))  # (B, 2) logits
"""

CNN_HELPERS = code("""
def get_loss_and_correct(model, batch, criterion, device):
    data, target = batch
    data, target = data.to(device), target.to(device)
    output = model(data)
    loss = criterion(output, target)
    correct = (output.argmax(dim=1) == target).sum()
    return loss, correct


def step(loss, optimizer):
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
""")

CNN_TRAIN = """
N_EPOCHS = 2
BATCH_SIZE = 64
train_dataloader = torch.utils.data.DataLoader(train_dataset, batch_size=BATCH_SIZE, shuffle=True)
validation_dataloader = torch.utils.data.DataLoader(validation_dataset, batch_size=BATCH_SIZE)
model = {name}(){to}
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(N_EPOCHS):
    model.train()
    for batch in train_dataloader:
        loss, correct = get_loss_and_correct(model, batch, criterion, device)
        step(loss, optimizer)
    model.eval()
    total = 0
    with torch.no_grad():
        for batch in validation_dataloader:
            total += get_loss_and_correct(model, batch, criterion, device)[1].item()
    print(epoch, total / len(validation_dataset))
"""

CNN_TEST = code("""
test_dataloader = torch.utils.data.DataLoader(test_dataset, batch_size=BATCH_SIZE)
with torch.no_grad():
    test_accuracy = sum(get_loss_and_correct(model, b, criterion, device)[1].item()
                        for b in test_dataloader) / len(test_dataset)
print('test accuracy', test_accuracy)
""")

CNN_ANSWERS = md("""
**Does your model overfit?** The training accuracy keeps rising after epoch 6 while the
validation accuracy stays flat, so it starts to overfit slightly.

**What can you say about the filters?** The first-layer filters look like edge and colour
detectors.
""")


def cnn_nb(name="CNN", cuda=False, loader="torchvision", data_root="cats_and_dogs_filtered", extra_cells=()):
    head = [md("# Homework 2, part 1: a CNN for cats vs dogs"), COLAB_DATA]
    if loader == "torchvision":
        data = [CNN_IMPORTS, CNN_DATA]
    else:  # no torchvision: reads the images by hand (the dataset is still missing)
        data = [code("""
        import os
        import torch
        from torch import nn
        from PIL import Image
        import numpy as np

        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
        """), code("""
        def load_folder(root):
            images, labels = [], []
            for label, cls in enumerate(sorted(os.listdir(root))):
                for f in sorted(os.listdir(os.path.join(root, cls))):
                    img = Image.open(os.path.join(root, cls, f)).convert('RGB').resize((256, 256))
                    images.append(torch.from_numpy(np.asarray(img)).permute(2, 0, 1).float() / 255)
                    labels.append(label)
            return torch.utils.data.TensorDataset(torch.stack(images), torch.tensor(labels))

        train_dataset = load_folder('DATA_ROOT/train')
        val_full = load_folder('DATA_ROOT/validation')
        validation_dataset, test_dataset = torch.utils.data.random_split(
            val_full, [len(val_full) // 2, len(val_full) - len(val_full) // 2], generator=torch.Generator().manual_seed(42))
        """)]
    data = [(kind, text.replace("DATA_ROOT", data_root)) for kind, text in data]
    if cuda:  # after the imports
        data.insert(1, code("torch.set_default_tensor_type('torch.cuda.FloatTensor')\ndevice = 'cuda'"))
    data += list(extra_cells)
    cells = head + data + [
        md(f"## TODO: implement `{name}`"), code(CNN_CLASS.format(name=name)),
        md("## TODO: training helpers"), CNN_HELPERS,
        code(CNN_TRAIN.format(name=name, to=".cuda()" if cuda else ".to(device)")), CNN_TEST, CNN_ANSWERS,
    ]
    return nb_of(*cells)


# hw2_rnn.ipynb (echo) ----------------------------------------------------------------

RNN_IMPORTS = code("""
!pip install -q torch
import random
import string
import time

import torch
from torch.utils.data import DataLoader

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
""")


def given_echo(max_delay=8, dataset_size=200000):
    ds = src(echo.VariableDelayEchoDataset).replace("max_delay=8", f"max_delay={max_delay}")
    return {
        "data": code(f"""
# Max value of the generated integer. 26 is chosen because it's the number of letters in English alphabet.
N = 26

{src(echo.idx_to_onehot, echo.EchoDataset)}

DELAY = 4
DATASET_SIZE = {dataset_size}
ds = EchoDataset(delay=DELAY)
"""),
        # The course template's test_model refers to `D`, which is never defined.
        "test": code("""
def test_model(model, sequence_length=15):
    total = 0
    correct = 0
    for i in range(500):
        s = ''.join([random.choice(string.ascii_lowercase) for i in range(random.randint(15, 25))])
        result = model.test_run(s)
        for c1, c2 in zip(s[:-D], result[D:]):
            correct += int(c1 == c2)
        total += len(s) - D
    return correct / total
"""),
        "vdata": code(ds),
        "vtest": code(src(echo.test_variable_delay_model)),
    }


# The student's fast training: batches drawn with torch ops (shared by several samples).
FAST_TRAIN = code("""
def make_batch(batch_size, seq_length, delay=None, max_delay=None):
    seq = torch.randint(1, N + 1, (batch_size, seq_length))
    if delay is not None:
        delays = torch.full((batch_size,), delay)
    else:
        delays = torch.randint(0, max_delay + 1, (batch_size,))
    t = torch.arange(seq_length).unsqueeze(0)
    src = (t - delays.unsqueeze(1)).clamp(min=0)
    result = torch.gather(seq, 1, src) * (t >= delays.unsqueeze(1))
    return seq, delays, result


def train_echo(model, steps, batch_size, lr, seq_length=20, delay=None, max_delay=None, indices=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: max(0.05, 1 - i / steps))
    model.train()
    for i in range(steps):
        seq, delays, result = make_batch(batch_size, seq_length, delay, max_delay)
        x = seq if indices else idx_to_onehot(seq)
        out = model(x) if delay is not None else model(x, delays)
        if isinstance(out, tuple):
            out = out[0]
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, N + 1), result.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    return model
""")

GRU_STANDARD = """
class GRUMemory(torch.nn.Module):

    def __init__(self, hidden_size):
        super().__init__()
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, N + 1)

    def forward(self, x):
        # inputs: x - input tensor of shape (batch_size, seq_length, N+1)
        # returns: logits (without softmax) of shape (batch_size, seq_length, N + 1)
        out, _ = self.gru(x)
        return self.linear(out)

    @torch.no_grad()
    def test_run(self, s):
        # This function accepts one string s containing lowercase characters a-z.
        idx = torch.tensor([ord(c) - ord('a') + 1 for c in s]){to}
        pred = self.forward(idx_to_onehot(idx).unsqueeze(0){to}).argmax(-1).squeeze(0).tolist()
        return ''.join(' ' if i == 0 else chr(ord('a') + i - 1) for i in pred)
"""

VGRU_STANDARD = """
class VariableDelayGRUMemory(torch.nn.Module):

    def __init__(self, hidden_size, max_delay):
        super().__init__()
        self.max_delay = max_delay
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.heads = torch.nn.Linear(hidden_size, (max_delay + 1) * (N + 1))

    def forward(self, x, delays):
        # inputs:
        # x - tensor of shape (batch size, seq length, N + 1)
        # delays - tensor of shape (batch size)
        # returns:
        # logits (without softmax) of shape (batch size, seq length, N + 1)
        B, T, _ = x.shape
        out, _ = self.gru(x)
        heads = self.heads(out).view(B, T, self.max_delay + 1, N + 1)
        pick = delays.long().view(B, 1, 1, 1).expand(-1, T, 1, N + 1)
        return heads.gather(2, pick).squeeze(2){ret}

    @torch.no_grad()
    def test_run(self, s, delay{extra}):
        idx = torch.tensor([ord(c) - ord('a') + 1 for c in s])
        out = self.forward(idx_to_onehot(idx).unsqueeze(0), torch.tensor([delay]))
        if isinstance(out, tuple):
            out = out[0]
        pred = out.argmax(-1).squeeze(0).tolist()
        return ''.join(' ' if i == 0 else chr(ord('a') + i - 1) for i in pred)
"""

TODO_VGRU = code("""
class VariableDelayGRUMemory(torch.nn.Module):

    def __init__(self, hidden_size, max_delay):
        super().__init__()
        # TODO

    def forward(self, x, delays):
        # TODO
        raise NotImplementedError()

    def test_run(self, s, delay):
        # TODO
        raise NotImplementedError()
""")

TODO_VTRAIN = code("""
def run_variable_delay_training():
    # TODO
    raise NotImplementedError()

start_time = time.time()
model = run_variable_delay_training()
""")


def fixed_train(to="", steps=800, extra=""):
    return code(f"""
torch.manual_seed(0)
start_time = time.time()
model = GRUMemory(hidden_size=64){to}
train_echo(model, steps={steps}, batch_size=64, lr=1e-2, delay=DELAY{extra})
end_time = time.time()
duration = end_time - start_time
accuracy = test_model(model)
assert duration < 600, 'execution took f{{duration:.2f}} seconds, which longer than 10 mins'
assert accuracy > 0.99, f'accuracy is too low, got {{accuracy}}, need 0.99'
print('tests passed')
""")


def var_train(max_delay=8, steps=900, threshold="0.99"):
    return code(f"""
torch.manual_seed(0)
start_time = time.time()
model = VariableDelayGRUMemory(hidden_size=128, max_delay={max_delay})
train_echo(model, steps={steps}, batch_size=128, lr=2e-2, max_delay={max_delay})
end_time = time.time()
assert end_time - start_time < 600, 'executing took longer than 10 mins'
assert test_variable_delay_model(model) > {threshold}, 'accuracy is too low'
print('tests passed')
""")


def rnn_nb(gru=None, fixed=None, vgru=None, vtrain=None, given=None, extra_cells=()):
    g = given or given_echo()
    return nb_of(
        md("# Homework 2, part 2: echo with GRUs"), RNN_IMPORTS, g["data"],
        md("## TODO: GRUMemory"), gru if isinstance(gru, tuple) else code(gru or GRU_STANDARD.format(to="")), g["test"], *extra_cells,
        FAST_TRAIN, fixed or fixed_train(),
        md("## Variable delay"), g["vdata"], vgru or code(VGRU_STANDARD.format(ret="", extra="")), g["vtest"],
        vtrain or var_train(),
    )


GRU_QUIRKY = code("""
class GRUMemory(torch.nn.Module):

    def __init__(self, hidden_size, vocab_size, num_layers=1):
        super().__init__()
        self.gru = torch.nn.GRU(vocab_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, vocab_size)
        self.vocab_size = vocab_size

    def forward(self, idx, hidden=None):
        # takes integer indices (B, T) and returns (logits, hidden)
        x = torch.nn.functional.one_hot(idx, self.vocab_size).float()
        out, hidden = self.gru(x, hidden)
        return self.linear(out), hidden

    @torch.no_grad()
    def test_run(self, s):
        idx = torch.tensor([[ord(c) - ord('a') + 1 for c in s]]).to(device)
        logits, _ = model(idx)  # the global model
        pred = logits.argmax(-1).squeeze(0).tolist()
        return ''.join(' ' if i == 0 else chr(ord('a') + i - 1) for i in pred)
""")

QUIRKY_TRAIN = code("""
torch.manual_seed(0)
start_time = time.time()
model = GRUMemory(64, N + 1, 1).to(device)
train_echo(model, steps=800, batch_size=64, lr=1e-2, delay=DELAY, indices=True)
end_time = time.time()
duration = end_time - start_time
accuracy = test_model(model)
assert accuracy > 0.99, f'accuracy is too low, got {accuracy}, need 0.99'
""")

LOOP_TRAIN = code("""
D = DELAY  # test_model needs D
torch.manual_seed(0)
model = GRUMemory(hidden_size=64)
start_time = time.time()
accuracy = 0.0
rounds = 0
while accuracy <= 0.99:  # keep training until the test passes
    train_echo(model, steps=200, batch_size=64, lr=1e-2, delay=DELAY)
    accuracy = test_model(model)
    rounds += 1
    print(rounds, accuracy)
duration = time.time() - start_time
assert duration < 600
assert accuracy > 0.99
print('tests passed')
""")


def fall2024_given():
    g = given_echo(max_delay=12)
    return g


FALL2024_TRAIN_FIXED = code("""
def train_model(model, dataloader):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    steps = len(dataloader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: max(0.05, 1 - i / steps))
    model.train()
    for batch in dataloader:
        seq, result = batch[0], batch[-1]
        extra = batch[1:-1]
        out = model(idx_to_onehot(seq), *extra)
        if isinstance(out, tuple):
            out = out[0]
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, N + 1), result.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    return model

random.seed(0)
torch.manual_seed(0)
start_time = time.time()
model = GRUMemory(hidden_size=64)
dataloader = DataLoader(EchoDataset(delay=DELAY, seq_length=20, size=800 * 64), batch_size=64)
model = train_model(model, dataloader)
end_time = time.time()
duration = end_time - start_time
accuracy = test_model(model)
assert duration < 600, 'execution took f{duration:.2f} seconds, which longer than 10 mins'
assert accuracy > 0.99, f'accuracy is too low, got {accuracy}, need 0.99'
""")

FALL2024_TRAIN_VAR = code("""
def train_variable_delay_model(model, dataloader=None):
    # fresh batches drawn with torch ops are faster than the dataloader
    return train_echo(model, steps=1100, batch_size=128, lr=2e-2, max_delay=model.max_delay)

torch.manual_seed(0)
start_time = time.time()
model = VariableDelayGRUMemory(hidden_size=128, max_delay=12)
model = train_variable_delay_model(model)
end_time = time.time()
assert end_time - start_time < 600, 'executing took longer than 10 mins'
accuracy = test_variable_delay_model(model)
assert accuracy > 0.95, f'accuracy is too low, got {accuracy}, need 0.95'
print('tests passed')
""")


# 08-seq_classification.ipynb (the lab) ------------------------------------------------
# The course's lab notebook as students hand it in: its given cells (rewritten here from
# the lab's behaviour, not copied), run against the lab-faithful res/ (reference/lab/res:
# `res.sequential_tasks`, `res.plot_lib`, plot_state(..., decoder=test_data_gen.decode_x)),
# and the student's Section-8 fix. Same cell order and the same calls as the lab, so the
# seeded random streams (torch and numpy) are the ones students saw.

def _seq_device(cuda):
    """The lab picks the GPU when there is one; a `cuda` student forces it."""
    return "torch.device('cuda')" if cuda else "torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')"


def _seq_easy_run(model_class, max_epochs, verbose):
    """One of the lab's EASY-level demonstration cells (sections 5 and 6)."""
    flag = "" if verbose else ", verbose=False"
    return code(f"""
    # Training and test data: EASY sequences, batches of 32 (both generators seed numpy)
    difficulty     = QRSU.DifficultyLevel.EASY
    batch_size     = 32
    train_data_gen = QRSU.get_predefined_generator(difficulty, batch_size)
    test_data_gen  = QRSU.get_predefined_generator(difficulty, batch_size)

    # Network and optimisation settings
    input_size  = train_data_gen.n_symbols
    hidden_size = 4
    output_size = train_data_gen.n_classes
    model       = {model_class}(input_size, hidden_size, output_size)
    criterion   = torch.nn.CrossEntropyLoss()
    optimizer   = torch.optim.RMSprop(model.parameters(), lr=0.001)
    max_epochs  = {max_epochs}

    model = train_and_test(model, train_data_gen, test_data_gen, criterion, optimizer, max_epochs{flag})
    """)


def _seq_given_cells(cuda):
    """Sections 1-7 of the lab: data, models, loops, the EASY runs, the evaluation."""
    device = _seq_device(cuda)
    return [
        md("""
        # Many-to-one: classifying whole sequences

        The "temporal order" problem from Hochreiter & Schmidhuber's 1997 LSTM paper. Every
        input sequence opens with `B` and closes with `E`; in between come random
        distractors from `{a, b, c, d}`, except at two positions `t1` < `t2`, which hold a
        relevant symbol, `X` or `Y`. The network must tell the order of the two relevant
        symbols, i.e. pick one of four classes:

        ```
        X ... X -> Q
        X ... Y -> R
        Y ... X -> S
        Y ... Y -> U
        ```

        On `DifficultyLevel.HARD` (the paper's setting) sequences are 100 to 110 symbols
        long, `t1` lies in 10..20 and `t2` in 50..60; the easier levels are shorter.
        """),
        md("## 1. Looking at the data"),
        code("from res.sequential_tasks import TemporalOrderExp6aSequence as QRSU"),
        code("""
        # A generator of EASY sequences; indexing it draws a new batch
        example_generator = QRSU.get_predefined_generator(
            difficulty_level=QRSU.DifficultyLevel.EASY,
            batch_size=32,
        )

        example_batch = example_generator[1]
        print(f'Indexing returns a {type(example_batch)} of {len(example_batch)} items.')
        print(f'Item 0, the sequences, has shape {example_batch[0].shape}.')
        print(f'The first sequence, one one-hot row per step:\\n {example_batch[0][0, :, :]}')
        print(f'Item 1, the class labels, has shape {example_batch[1].shape}.')
        print(f'The label of the first sequence:\\n {example_batch[1][0, :]}')
        """),
        code("""
        # Back from one-hot rows to symbols
        sequence_decoded = example_generator.decode_x(example_batch[0][0, :, :])
        print(f'The sequence is: {sequence_decoded}')

        # ... and from the one-hot label to its class letter
        class_label_decoded = example_generator.decode_y(example_batch[1][0])
        print(f'The class label is: {class_label_decoded}')
        """),
        md("## 2. Two models"),
        code("""
        import torch
        import torch.nn as nn

        # Same initial weights on every run
        torch.manual_seed(1)

        class SimpleRNN(nn.Module):
            def __init__(self, input_size, hidden_size, output_size):
                super().__init__()
                # Sub-modules assigned as attributes register their parameters
                self.rnn = torch.nn.RNN(input_size, hidden_size, nonlinearity='relu', batch_first=True)
                self.linear = torch.nn.Linear(hidden_size, output_size)

            def forward(self, x):
                # All hidden states (B, T, hidden); the initial state defaults to zeros
                h = self.rnn(x)[0]
                # A prediction at every time step (B, T, output)
                x = self.linear(h)
                return x

        class SimpleLSTM(nn.Module):
            def __init__(self, input_size, hidden_size, output_size):
                super().__init__()
                self.lstm = torch.nn.LSTM(input_size, hidden_size, batch_first=True)
                self.linear = torch.nn.Linear(hidden_size, output_size)

            def forward(self, x):
                h = self.lstm(x)[0]
                x = self.linear(h)
                return x

            def get_states_across_time(self, x):
                # Feeds the sequence one step at a time and keeps hidden and cell states
                h_c = None
                h_list, c_list = list(), list()
                with torch.no_grad():
                    for t in range(x.size(1)):
                        h_c = self.lstm(x[:, [t], :], h_c)[1]
                        h_list.append(h_c[0])
                        c_list.append(h_c[1])
                    h = torch.cat(h_list)
                    c = torch.cat(c_list)
                return h, c
        """),
        md("## 3. The training loop"),
        code("""
        def train(model, train_data_gen, criterion, optimizer, device):
            # Training mode (matters for dropout, batch norm, ...)
            model.train()

            # Sequences classified correctly during this epoch
            num_correct = 0

            # len(train_data_gen) batches make about 1000 sequences
            for batch_idx in range(len(train_data_gen)):

                # A fresh batch as float inputs and integer labels on the device
                data, target = train_data_gen[batch_idx]
                data, target = torch.from_numpy(data).float().to(device), torch.from_numpy(target).long().to(device)

                # 1. forward pass
                output = model(data)

                # Sequences are pre-padded, so the last step is where the answer is
                output = output[:, -1, :]

                # CrossEntropyLoss wants class indices, not one-hot rows
                target = target.argmax(dim=1)

                # 2. loss
                loss = criterion(output, target)

                # 3. forget the previous batch's gradients
                optimizer.zero_grad()

                # 4. backward pass
                loss.backward()

                # 5. update
                optimizer.step()

                y_pred = output.argmax(dim=1)
                num_correct += (y_pred == target).sum().item()

            return num_correct, loss.item()
        """),
        md("## 4. The test loop"),
        code("""
        def test(model, test_data_gen, criterion, device):
            # Evaluation mode
            model.eval()

            num_correct = 0

            # No gradients needed when only predicting
            with torch.no_grad():
                for batch_idx in range(len(test_data_gen)):
                    data, target = test_data_gen[batch_idx]
                    data, target = torch.from_numpy(data).float().to(device), torch.from_numpy(target).long().to(device)

                    output = model(data)
                    # the last step's prediction (the input is pre-padded)
                    output = output[:, -1, :]

                    target = target.argmax(dim=1)
                    loss = criterion(output, target)

                    y_pred = output.argmax(dim=1)
                    num_correct += (y_pred == target).sum().item()

            return num_correct, loss.item()
        """),
        md("## 5. Training and testing together"),
        code("""
        import matplotlib.pyplot as plt
        from res.plot_lib import set_default, plot_state, print_colourbar
        """),
        code("set_default()"),
        code(f"""
        def train_and_test(model, train_data_gen, test_data_gen, criterion, optimizer, max_epochs, verbose=True):
            # GPU if there is one
            device = {device}

            # Train and test on that device
            model.to(device)

            # Loss and accuracy after every epoch
            history_train = {{'loss': [], 'acc': []}}
            history_test = {{'loss': [], 'acc': []}}

            for epoch in range(max_epochs):
                # One training epoch; accuracy in % of the len(gen) * batch_size sequences seen
                num_correct, loss = train(model, train_data_gen, criterion, optimizer, device)
                accuracy = float(num_correct) / (len(train_data_gen) * train_data_gen.batch_size) * 100
                history_train['loss'].append(loss)
                history_train['acc'].append(accuracy)

                # Then one pass over fresh test batches
                num_correct, loss = test(model, test_data_gen, criterion, device)
                accuracy = float(num_correct) / (len(test_data_gen) * test_data_gen.batch_size) * 100
                history_test['loss'].append(loss)
                history_test['acc'].append(accuracy)

                if verbose or epoch + 1 == max_epochs:
                    print(f'[Epoch {{epoch + 1}}/{{max_epochs}}]'
                          f" loss: {{history_train['loss'][-1]:.4f}}, acc: {{history_train['acc'][-1]:2.2f}}%"
                          f" - test_loss: {{history_test['loss'][-1]:.4f}}, test_acc: {{history_test['acc'][-1]:2.2f}}%")

            # Loss and accuracy curves, train vs test
            fig, axes = plt.subplots(ncols=2, figsize=(9, 4.5))
            for ax, metric in zip(axes, ['loss', 'acc']):
                ax.plot(history_train[metric])
                ax.plot(history_test[metric])
                ax.set_xlabel('epoch', fontsize=12)
                ax.set_ylabel(metric, fontsize=12)
                ax.legend(['Train', 'Test'], loc='best')
            plt.show()

            return model
        """),
        md("## 5. A simple RNN, 10 epochs"),
        _seq_easy_run("SimpleRNN", 10, True),
        code("""
        for parameter_group in list(model.parameters()):
            print(parameter_group.size())
        """),
        md("## 5. A simple LSTM, 10 epochs"),
        _seq_easy_run("SimpleLSTM", 10, True),
        code("""
        for parameter_group in list(model.parameters()):
            print(parameter_group.size())
        """),
        md("## 6. The RNN for 100 epochs"),
        _seq_easy_run("SimpleRNN", 100, False),
        md("## The LSTM for 100 epochs"),
        _seq_easy_run("SimpleLSTM", 100, False),
        md("## 7. Evaluating the model"),
        code(f"""
        import collections
        import random

        def evaluate_model(model, difficulty, seed=9001, verbose=False):
            # Class index -> letter
            class_idx_to_label = {{0: 'Q', 1: 'R', 2: 'S', 3: 'U'}}

            # A new generator (re-seeds numpy); it is used for decoding below
            data_generator = QRSU.get_predefined_generator(difficulty, seed=seed)

            # How often each class occurs
            count_classes = collections.Counter()

            # (sequence, truth, prediction) of right and wrong answers
            correct = []
            incorrect = []

            device = {device}

            model.eval()

            with torch.no_grad():
                for batch_idx in range(len(data_generator)):
                    data, target = test_data_gen[batch_idx]
                    data, target = torch.from_numpy(data).float().to(device), torch.from_numpy(target).long().to(device)

                    data_decoded = data_generator.decode_x_batch(data.cpu().numpy())
                    target_decoded = data_generator.decode_y_batch(target.cpu().numpy())

                    output = model(data)
                    output = output[:, -1, :]

                    target = target.argmax(dim=1)
                    y_pred = output.argmax(dim=1)
                    y_pred_decoded = [class_idx_to_label[y.item()] for y in y_pred]

                    count_classes.update(target_decoded)
                    for i, (truth, prediction) in enumerate(zip(target_decoded, y_pred_decoded)):
                        if truth == prediction:
                            correct.append((data_decoded[i], truth, prediction))
                        else:
                            incorrect.append((data_decoded[i], truth, prediction))

            num_sequences = sum(count_classes.values())
            accuracy = float(len(correct)) / num_sequences * 100
            print(f'The accuracy of the model is measured to be {{accuracy:.2f}}%.\\n')

            # Per-class accuracy
            for label in sorted(count_classes):
                num_correct = sum(1 for _, truth, _ in correct if truth == label)
                print(f'{{label}}: {{num_correct}} / {{count_classes[label]}} correct')

            # A few correctly classified sequences
            print('\\nHere are some example sequences:')
            for i in range(10):
                sequence, truth, prediction = correct[random.randrange(0, 10)]
                print(f'{{sequence}} -> {{truth}} was labelled {{prediction}}')

            # The mistakes, on request
            if incorrect and verbose:
                print('\\nThe following sequences were misclassified:')
                for sequence, truth, prediction in incorrect:
                    print(f'{{sequence}} -> {{truth}} was labelled {{prediction}}')
            else:
                print('\\nThere were no misclassified sequences.')
        """),
        code("evaluate_model(model, difficulty)"),
    ]


def _seq_section8_cells(cuda):
    """Section 8 with the student's fix, then the lab's LSTM-state visualisation.

    The fix (graded on the lab-faithful res/ by tests/original/test_original_samples.py): Adam
    with lr 5e-4 and the gradient norm clipped to 0.05 at every step; the grader's curve
    rises 0.07-0.11 over its running minimum and ends at 97.7-99.8 % accuracy (0.09 and
    97.9 % on a 2-core AMD EPYC). The lab's
    RMSprop(lr=0.001) comes back above its initial loss (rise 1.67).
    """
    to = ".cuda()" if cuda else ""
    return [
        md("""
        ## 8. Visualize LSTM
        Difficulty `MODERATE`, `hidden_size` 12.

        **My fix.** With `RMSprop(lr=0.001)` the curves spike: the loss climbs back above
        its starting value (ln 4, chance level) and the accuracy drops to 25 % again. The
        updates are too large for the LSTM on 60-80 step sequences, where the gradient
        sometimes explodes. I keep the seed, the data and the model, and change the
        procedure: Adam with a smaller learning rate, and the gradient norm clipped at every
        step (`train` below is the lab's loop plus one clipping line).
        """),
        code("""
        def train(model, train_data_gen, criterion, optimizer, device, max_grad_norm=0.05):
            model.train()
            num_correct = 0
            for batch_idx in range(len(train_data_gen)):
                data, target = train_data_gen[batch_idx]
                data, target = torch.from_numpy(data).float().to(device), torch.from_numpy(target).long().to(device)
                output = model(data)[:, -1, :]
                target = target.argmax(dim=1)
                loss = criterion(output, target)
                optimizer.zero_grad()
                loss.backward()
                # my change: no single batch may move the weights far
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
                num_correct += (output.argmax(dim=1) == target).sum().item()
            return num_correct, loss.item()
        """),
        code(f"""
        # Reproducible results
        torch.manual_seed(1)

        # Training and test data: MODERATE sequences, batches of 32
        difficulty     = QRSU.DifficultyLevel.MODERATE
        batch_size     = 32
        train_data_gen = QRSU.get_predefined_generator(difficulty, batch_size)
        test_data_gen  = QRSU.get_predefined_generator(difficulty, batch_size)

        # Network and optimisation settings
        input_size  = train_data_gen.n_symbols
        hidden_size = 12
        output_size = train_data_gen.n_classes
        model       = SimpleLSTM(input_size, hidden_size, output_size){to}
        criterion   = torch.nn.CrossEntropyLoss()
        # optimizer = torch.optim.RMSprop(model.parameters(), lr=0.001)  # spiky
        optimizer   = torch.optim.Adam(model.parameters(), lr=0.0005)
        max_epochs  = 100

        model = train_and_test(model, train_data_gen, test_data_gen, criterion, optimizer, max_epochs, verbose=False)
        """),
        code(f"""
        # Hidden (H) and cell (C) states at every step for one test batch (X)
        device = {_seq_device(cuda)}
        model.eval()
        with torch.no_grad():
            data = test_data_gen[0][0]
            X = torch.from_numpy(data).float().to(device)
            H_t, C_t = model.get_states_across_time(X)
        """),
        code("""
        print("Color range is as follows:")
        print_colourbar()
        """),
        code("plot_state(X.cpu(), C_t, b=9, decoder=test_data_gen.decode_x)  # also try b = 3 or 6"),
        code("plot_state(X.cpu(), H_t, b=9, decoder=test_data_gen.decode_x)"),
    ]


def seq_nb(cuda=False):
    """The original lab notebook 08-seq_classification.ipynb with the student's Section-8
    fix, opened in Colab from a clone of the course repository (`!git clone`, `%cd`).
    cuda=True: a student who forces the GPU (device 'cuda', `.cuda()` on the model)."""
    clone = code("!git clone -q https://git.example.org/course/lab-notebooks.git\n%cd lab-notebooks")
    cells = _seq_given_cells(cuda) + _seq_section8_cells(cuda)
    return nb_of(cells[0], clone, *cells[1:])


# Samples ---------------------------------------------------------------------------

def theory(netid):
    return sl.theory_pdf([f"Homework 2 - theory - {netid}", "",
                          "1.1 10x11 input, 3x3 kernel, stride 2: 4x5. General: F x floor((H+2P-D(K-1)-1)/S+1) x ...",
                          "3. Section 8 spikes: RMSprop lr 1e-3 is too large for the LSTM; lower it and clip."])


def nb_bytes(nb):
    """Notebook bytes with deterministic cell ids (nbformat draws random ones)."""
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    return sl.notebook_bytes(nb)


def entries(netid, cnn, rnn, seq, prefix=""):
    return {prefix + "hw2_theory.pdf": theory(netid), prefix + CNN: nb_bytes(cnn),
            prefix + RNN: nb_bytes(rnn), prefix + SEQ: nb_bytes(seq)}


def colab_cells(netid):
    """Everything right, written in Colab: drive.mount, !pip, !wget, !unzip, %cd, !git clone;
    torchvision imports; the template's test_model with the undefined D."""
    return entries(netid, cnn_nb(), rnn_nb(), seq_nb(), prefix=netid + "/")


def cnn_solution_name(netid):
    """A later semester's template: the class is CNN_Solution."""
    return entries(netid, cnn_nb(name="CNN_Solution"), rnn_nb(), seq_nb())


def dataset_missing(netid):
    """Reads the images by hand (PIL) from the student's own Google Drive copy, a path the
    grader cannot provide (the course's data is mounted where the notebook downloads it)."""
    return entries(netid, cnn_nb(loader="pil", data_root="/content/drive/MyDrive/hw2/cats_and_dogs_filtered"), rnn_nb(), seq_nb())


def cuda_forced(netid):
    """Forces CUDA everywhere (set_default_tensor_type, .cuda(), device = 'cuda');
    did not finish the variable-delay part. Its lab notebook is section8_unfixed's
    (lab_wget_cuda_unfixed)."""
    rnn = rnn_nb(gru=GRU_STANDARD.format(to=".cuda()"), fixed=fixed_train(to=".cuda()"),
                 vgru=TODO_VGRU, vtrain=TODO_VTRAIN)
    rnn.cells.insert(2, nbformat.v4.new_code_cell("torch.set_default_tensor_type('torch.cuda.FloatTensor')\ndevice = 'cuda'"))
    return entries(netid, cnn_nb(cuda=True, loader="pil"), rnn, lab_wget_cuda_unfixed())


def interface_quirks(netid):
    """GRUMemory breaks the interface: forward takes integer indices and returns
    (logits, hidden), an extra required constructor argument, test_run reads the global
    `model` and `device`; the variable-delay part is unfinished."""
    rnn = rnn_nb(gru=GRU_QUIRKY, fixed=QUIRKY_TRAIN, vgru=TODO_VGRU, vtrain=TODO_VTRAIN)
    return entries(netid, cnn_nb(), rnn, seq_nb())


def train_until_pass(netid):
    """Defines D itself and trains until its own test passes; variable part unfinished."""
    rnn = rnn_nb(fixed=LOOP_TRAIN, vgru=TODO_VGRU, vtrain=TODO_VTRAIN)
    return entries(netid, cnn_nb(), rnn, seq_nb())


# That template's test_variable_delay_model zips s[:-delay] with result[delay:]: empty at
# delay 0, so its accuracy is low and the training cell's own assert fails (an error of the
# template's, which costs nothing).
VTEST_2024 = ("""        if d > 0:
            z = zip(s[:-d], result[d:])
        else:
            z = zip(s, result)""", """        z = zip(s[:-d], result[d:])""")


def template_fall2024(netid):
    """The Fall 2024 template (max delay 12, threshold 0.95, train_model(model, dataloader),
    its test's delay-0 bug); the variable-delay model's test_run takes an extra argument and
    forward returns a tuple. The hw2-fall2024-original full-marks sample hands in the same
    echo notebook (scripts/build_semester_samples.py)."""
    g = fall2024_given()
    rnn = rnn_nb(given=g, fixed=FALL2024_TRAIN_FIXED,
                 vgru=code(VGRU_STANDARD.format(ret=", None", extra=", device")), vtrain=FALL2024_TRAIN_VAR)
    # the student's own test call passes the device too
    rnn = sl.edit_cell_source(rnn, "test_variable_delay_model", "model.test_run(s, d)", "model.test_run(s, d, device)")
    rnn = sl.edit_cell_source(rnn, "test_variable_delay_model", *VTEST_2024)
    return entries(netid, cnn_nb(name="CNN_Solution"), rnn, seq_nb())


# What real submissions ran into in the grader's environment (each seen in several) --------

CNN_TRAIN_TQDM = CNN_TRAIN.replace("N_EPOCHS = 2", "from tqdm.notebook import tqdm\nimport six\n\nN_EPOCHS = 2").replace(
    "    for batch in train_dataloader:", "    for batch in tqdm(train_dataloader, desc=six.text_type(epoch)):")

RNN_IMPORTS_COLAB = code("""
!pip install -q torch tqdm
import random
import string
import time

import numpy as np
import six
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
""")

# numpy-1-only names: np.unicode_ (removed in NumPy 2.0) and np.float (removed in 1.24).
NUMPY1_CHECK = code("""
letters = np.array(list(string.ascii_lowercase), dtype=np.unicode_)
sample = ''.join(np.random.RandomState(0).choice(letters, 20))
echoed = model.test_run(sample)
acc = np.float(sum(a == b for a, b in zip(sample[:-DELAY], echoed[DELAY:]))) / (len(sample) - DELAY)
for _ in tqdm(range(3), desc='sanity'):
    pass
print(sample, echoed, round(acc, 2), six.PY3)
""")

TORCH_HUB = code("""
# For comparison: a pretrained ResNet-18 (downloads its weights)
pretrained = torch.hub.load('pytorch/vision:v0.10.0', 'resnet18', pretrained=True)
pretrained.fc = nn.Linear(512, 2)
""")


def seq_top_level_helpers(nb):
    """The lab's helpers fetched with !wget into the working directory and imported as
    top-level modules (`sequential_tasks`, `plot_lib`) instead of from res/."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = (cell.source.replace("from res.sequential_tasks import", "from sequential_tasks import")
                           .replace("from res.plot_lib import", "from plot_lib import")
                           .replace("import res.plot_lib", "import plot_lib"))
    nb.cells.insert(1, nbformat.v4.new_code_cell(
        "!wget -q https://raw.githubusercontent.com/course/lab/master/res/sequential_tasks.py\n"
        "!wget -q https://raw.githubusercontent.com/course/lab/master/res/plot_lib.py"))
    return nb


def colab_packages(netid):
    """Complete and right, written against Colab's packages: tqdm (also tqdm.notebook), six,
    numpy-1-only names (np.unicode_, np.float), torchvision with the course's dataset, and
    the lab's plot_state given the decoder function (top-level helper imports: cuda_forced).
    Its echo training runs 4x the steps of the other samples: about 2x the per-cell limit a
    fixed-limit rubric scaled to these samples would give (real echo trainings written for a
    Colab GPU take longer than the old fixed 300 s on a 2-core CPU); calibrated budgets let
    it finish."""
    cnn = cnn_nb()
    cnn = sl.edit_cell_source(cnn, "N_EPOCHS", CNN_TRAIN.format(name="CNN", to=".to(device)").strip("\n"),
                              CNN_TRAIN_TQDM.format(name="CNN", to=".to(device)").strip("\n"))
    rnn = rnn_nb(fixed=fixed_train(steps=3200))
    rnn.cells[1] = nbformat.v4.new_code_cell(RNN_IMPORTS_COLAB[1].strip("\n"))
    fixed_at = next(i for i, c in enumerate(rnn.cells) if "model = GRUMemory(" in c.source)
    rnn.cells.insert(fixed_at + 1, nbformat.v4.new_code_cell(NUMPY1_CHECK[1].strip("\n")))
    return entries(netid, cnn, rnn, seq_nb())


def torch_hub(netid):
    """Tries a pretrained ResNet-18 from torch.hub first (needs the network), then does the
    homework's own CNN; everything else right."""
    return entries(netid, cnn_nb(extra_cells=(TORCH_HUB,)), rnn_nb(), seq_nb())


def seq_unfixed(cuda=False):
    """The lab's Section 8 as handed out: RMSprop(lr=0.001), the lab's own train loop."""
    nb = seq_nb(cuda)
    at = next(i for i, c in enumerate(nb.cells) if "max_grad_norm" in c.source and "def train" in c.source)
    del nb.cells[at - 1:at + 1]  # the student's explanation and the clipped train loop
    cell = next(c for c in nb.cells if "torch.optim.Adam(model.parameters(), lr=0.0005)" in c.source)
    lines = [ln for ln in cell.source.split("\n") if "# spiky" not in ln]
    cell.source = "\n".join(lines).replace("torch.optim.Adam(model.parameters(), lr=0.0005)",
                                           "torch.optim.RMSprop(model.parameters(), lr=0.001)")
    return nb


def lab_wget_cuda_unfixed():
    """One lab notebook for three quirks (each distinct lab notebook costs the test suite
    two to four minutes of a core, most of it the lab's own EASY demonstrations): the lab's
    helpers `!wget`-ed and imported as top-level modules, the GPU forced, and Section 8 left
    as the lab hands it out. section8_unfixed and cuda_forced both hand it in."""
    return seq_top_level_helpers(seq_unfixed(cuda=True))


def section8_unfixed(netid):
    """Section 8 left as the lab hands it out (the spiky procedure), in the lab notebook that
    also fetches its helpers with !wget and forces the GPU; everything else right."""
    return entries(netid, cnn_nb(), rnn_nb(), lab_wget_cuda_unfixed())


SAMPLES = {
    "colab_cells": ("cc1101", colab_cells),
    "cnn_solution_name": ("cn1102", cnn_solution_name),
    "dataset_missing": ("dm1103", dataset_missing),
    "cuda_forced": ("cf1104", cuda_forced),
    "interface_quirks": ("iq1105", interface_quirks),
    "train_until_pass": ("tp1106", train_until_pass),
    "template_fall2024": ("tf1107", template_fall2024),
    "colab_packages": ("cp1108", colab_packages),
    "torch_hub": ("th1109", torch_hub),
    "section8_unfixed": ("su1111", section8_unfixed),
}


def build(out_dir):
    out_dir = Path(out_dir)
    paths = []
    for quirk, (netid, make) in SAMPLES.items():
        paths.append(sl.write_zip(out_dir / quirk / f"{netid}.zip", make(netid)))
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "submissions" / "original"))
    args = ap.parse_args(argv)
    for p in build(args.out):
        print(p)


if __name__ == "__main__":
    main()
