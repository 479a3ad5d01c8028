"""Builds the project's starter and solution notebooks from one description.

    python scripts/build_notebooks.py

writes reference/starter/*.ipynb and reference/solution/*.ipynb (unexecuted) and the
`res` symlinks beside them. Solution TODO cells are the `reference` package's source;
starter TODO cells are stubs of the same source (see scripts/nbsource.py).

The other semesters' forms of the same notebooks (SEMESTERS: what each changes) go to
reference/starter/<semester>/ and reference/solution/<semester>/, graded by
rubrics/<rubric>. Semesters whose notebooks differ only in their file names get
byte-identical notebooks, so the grader's execution cache runs them once.
"""
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbsource import SOLUTION, STARTER, build, code, given, md, todo  # noqa: E402

from reference import cnn, cnn_theory, echo, rnn_theory  # noqa: E402
from reference import seq_classification as sc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIRS = {STARTER: ROOT / "reference" / "starter", SOLUTION: ROOT / "reference" / "solution"}


@dataclass(frozen=True)
class Semester:
    """What a semester's form of the notebooks changes (ASSIGNMENT.md section 1)."""

    title: str = "Homework 2: "  # before "Convolutional ..." / "Recurrent ..."
    # the theory's examples: conv output sizes asserted (args -> shape), the 1-D layer's (C, L, K)
    conv_examples: tuple = (((1, 10, 11, 3, 0, 2, 1, 1), (1, 4, 5)), ((1, 10, 11, 5, 0, 2, 1, 1), (1, 3, 4)))
    conv1d_example: tuple = (2, 7, 5)
    other_course: bool = True  # the other course's problems (parameter count, binary adder, LSTM BPTT)
    # base name -> this semester's file name (a notebook not named is left out); the
    # default form is written by write_all itself
    names: dict = field(default_factory=dict)
    rubric: str = "hw2"

    def extra(self, *cells):
        """The other course's cells, where this semester asks them."""
        return list(cells) if self.other_course else []


SPRING2022 = Semester()
_FORM_2021 = dict(title="", conv_examples=SPRING2022.conv_examples[:1], conv1d_example=(2, 5, 3), other_course=False)
# Spring 2021 (Homework 2) and Fall 2021 (Homework 3): the same notebooks, without
# 08-seq_classification, with the 3x3-kernel and length-5 examples; no homework number in
# the titles, so both semesters' notebooks are byte-identical.
SEMESTERS = {
    "spring2021": Semester(**_FORM_2021, names={"hw2_cnn.ipynb": "hw2_cnn.ipynb", "hw2_rnn.ipynb": "hw2_rnn.ipynb"},
                           rubric="hw2-spring2021"),
    "fall2021": Semester(**_FORM_2021, names={"hw2_cnn.ipynb": "hw3_cnn.ipynb", "hw2_rnn.ipynb": "hw3_rnn.ipynb"},
                         rubric="hw3-fall2021"),
}


# hw2_cnn.ipynb ----------------------------------------------------------------------

def cnn_notebook(sem=SPRING2022):
    C, L, K = sem.conv1d_example
    examples = "\n".join(f"assert conv_output_shape{args} == {shape}" for args, shape in sem.conv_examples)
    return [
        md(f"""
        # {sem.title}Convolutional Neural Networks

        Part 1 turns the theory questions into code: your functions are graded on
        shapes, values and derivatives. Part 2 trains a CNN on a small synthetic image
        dataset (discs vs squares) that runs offline on a CPU in about a minute.

        Fill in every cell marked `TODO`. Do not rename functions, classes or variables.
        """),
        code("""
        import math
        import random
        import time

        import numpy as np
        import torch
        import matplotlib.pyplot as plt
        from torch import nn

        random.seed(0)
        torch.manual_seed(0)
        device = torch.device("cpu")
        """),
        md("""
        ## Part 1: convolutions in theory

        The helper below turns tensors, numpy arrays and lists into floating tensors.
        Your functions must accept float32 and float64 tensors and return tensors of
        the same dtype (or Python ints where stated).
        """),
        given(cnn_theory.as_float_tensor),
        md("""
        ### 1.1 Output shape

        For an input of size C x H x W, a K x K kernel with padding P, stride S,
        dilation D and F filters, return `(F, H_out, W_out)` as Python ints.
        """),
        todo("conv_output_shape", cnn_theory.conv_output_shape),
        code("# Sanity checks from the theory questions.\n" + examples + '\nprint("conv_output_shape: ok")'),
        md("""
        ### 1.2 A 1-D cross-correlation layer

        `f_W(x)[i, j] = sum_{c, k} W[i, c, k] * x[c, j * stride + k]` for x of shape
        (C, L) and W of shape (F, C, K): no padding, no dilation, no bias. Implement the
        layer, its Jacobians with respect to W and x, and dl/dW given dl/df. Write the
        derivatives by hand (no autograd inside your functions).
        """),
        todo("conv1d_forward", cnn_theory.conv1d_forward),
        todo("conv1d_dfdW", cnn_theory.conv1d_dfdW),
        todo("conv1d_dfdx", cnn_theory.conv1d_dfdx),
        todo("conv1d_dldW", cnn_theory.conv1d_dldW),
        code(f"""
        # Sanity checks against PyTorch (the grader uses more sizes and strides).
        x = torch.randn({C}, {L}, dtype=torch.float64)
        W = torch.randn(1, {C}, {K}, dtype=torch.float64, requires_grad=True)
        f = conv1d_forward(x, W.detach(), 2)
        assert torch.allclose(f, torch.nn.functional.conv1d(x[None], W.detach(), stride=2)[0])
        J = torch.autograd.functional.jacobian(lambda w: conv1d_forward(x, w, 2), W.detach())
        assert torch.allclose(conv1d_dfdW(x, W.detach(), 2), J)
        Jx = torch.autograd.functional.jacobian(lambda v: conv1d_forward(v, W.detach(), 2), x)
        assert torch.allclose(conv1d_dfdx(x, W.detach(), 2), Jx)
        dl_df = torch.randn_like(f)
        torch.nn.functional.conv1d(x[None], W, stride=2)[0].backward(dl_df)
        assert torch.allclose(conv1d_dldW(x, W.detach(), 2, dl_df), W.grad)
        print("conv1d: ok")
        """),
        *sem.extra(md("""
        ### 1.3 Counting parameters

        Input 224x224x3; Conv3-64, MaxPool, Conv3-128, MaxPool, Conv3-256, Conv3-256,
        MaxPool, FC-1024, FC-1000 (3x3 convolutions with padding 1, 2x2 max pools with
        stride 2). Return the number of parameters, biases included, as an int, and
        show your arithmetic in a comment.
        """),
        todo("conv_net_param_count", cnn_theory.conv_net_param_count),
        code("""
        assert isinstance(conv_net_param_count(), int)
        print("parameters:", conv_net_param_count())
        """)),
        md("""
        ## Part 2: training a CNN

        The dataset is generated from a seed (no download): 3x32x32 images of a disc
        (class 0) or a square (class 1), 2000 for training, 500 for validation and 500
        for testing.
        """),
        code("""
        from res.image_data import CLASSES, get_datasets

        train_dataset, validation_dataset, test_dataset = get_datasets(seed=0)

        fig, axes = plt.subplots(1, 8, figsize=(12, 2))
        for ax, (image, label) in zip(axes, train_dataset):
            ax.imshow(image.permute(1, 2, 0).numpy())
            ax.set_title(CLASSES[label])
            ax.axis("off")
        plt.show()
        """),
        md("""
        ### 2.1 The model

        Your CNN takes float images (B, 3, H, W) and must contain at least two
        convolutional layers, batch normalisation, a non-linearity, pooling, a residual
        connection and a fully connected layer.
        """),
        todo("CNN", cnn.CNN),
        code("""
        assert CNN()(torch.randn(4, 3, 32, 32)).shape[0] == 4
        """),
        md("""
        ### 2.2 Training

        `get_loss_and_correct` returns the loss of a batch and the number of correct
        predictions (both tensors); `step` performs one optimisation step.
        """),
        todo("get_loss_and_correct", cnn.get_loss_and_correct),
        todo("step", cnn.step),
        todo("N_EPOCHS", starter="""
             N_EPOCHS = None  # TODO
             BATCH_SIZE = None  # TODO
             """, solution=f"""
             N_EPOCHS = {cnn.N_EPOCHS}
             BATCH_SIZE = {cnn.BATCH_SIZE}
             """),
        given(cnn.evaluate, cnn.train_cnn, before="""
        train_dataloader = torch.utils.data.DataLoader(train_dataset, batch_size=BATCH_SIZE,
                                                       shuffle=True)
        validation_dataloader = torch.utils.data.DataLoader(validation_dataset, batch_size=256)
        test_dataloader = torch.utils.data.DataLoader(test_dataset, batch_size=256)
        """),
        code("""
        model = CNN().to(device)
        """),
        todo("criterion", starter="""
             criterion = None  # TODO
             optimizer = None  # TODO
             """, solution=f"""
             criterion = torch.nn.CrossEntropyLoss()
             optimizer = torch.optim.Adam(model.parameters(), lr={cnn.LEARNING_RATE})
             """),
        code("""
        start = time.time()
        history = train_cnn(model, train_dataloader, validation_dataloader, criterion,
                            optimizer, N_EPOCHS, device)
        print(f"training took {time.time() - start:.1f} s")

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        axes[0].plot(history["train_loss"], label="train")
        axes[0].plot(history["val_loss"], label="validation")
        axes[0].set_title("loss")
        axes[1].plot(history["train_acc"], label="train")
        axes[1].plot(history["val_acc"], label="validation")
        axes[1].set_title("accuracy")
        axes[0].legend()
        plt.show()

        # Goal: at least 75 % accuracy on the validation set.
        assert history["val_acc"][-1] >= 0.75, history["val_acc"][-1]
        """),
        md("### 2.3 Test accuracy\n\nCompute the accuracy (a number in 0..1) of your "
           "trained `model` on the test split."),
        todo("test_accuracy", starter="""
             test_accuracy = None  # TODO
             print("test accuracy:", test_accuracy)
             """, solution="""
             _, test_accuracy = evaluate(model, test_dataloader, criterion, device)
             print("test accuracy:", test_accuracy)
             """),
        md("""
        ### 2.4 Questions (answer in your PDF)

        Does your model overfit? What can you say about the learned filters of the first
        layer?
        """),
    ]


# hw2_rnn.ipynb ----------------------------------------------------------------------

def rnn_notebook(sem=SPRING2022):
    part1 = ("(a gated RNN and its gradient, a\n        hand-designed binary adder, backpropagation through time in an LSTM)"
             if sem.other_course else "(a gated RNN and its gradient)")
    return [
        md(f"""
        # {sem.title}Recurrent Neural Networks

        Part 1 turns the theory questions into code {part1}. Part 2
        trains GRUs to echo a sequence of letters with a fixed, then a variable, delay.

        Fill in every cell marked `TODO`. Do not rename functions, classes or variables.
        """),
        code("""
        import math
        import random
        import string
        import time

        import numpy as np
        import torch
        from torch.utils.data import DataLoader

        random.seed(0)
        torch.manual_seed(0)
        device = torch.device("cpu")
        """),
        given(rnn_theory.as_float_tensor),
        md("""
        ## Part 1.1: a gated RNN

        c[t] = sigmoid(Wc x[t] + Wh h[t-1]), h[t] = c[t] * h[t-1] + (1 - c[t]) * (Wx x[t]),
        h[0] = 0, with x[t] in R^n and h[t] in R^m. `x` has shape (K, n) and holds
        x[1..K] as rows; return h[1..K] as a (K, m) tensor.
        """),
        todo("gated_rnn_forward", rnn_theory.gated_rnn_forward),
        md("""
        Given dl/dh[t] for t = 1..K (a (K, m) tensor; the loss is
        l = sum_t dl_dh[t] . h[t]), return the total derivative dl/dWx (m x n) through
        the recurrence, computed by hand (no autograd).
        """),
        todo("gated_rnn_dl_dWx", rnn_theory.gated_rnn_dl_dWx),
        code("""
        x = torch.randn(5, 3, dtype=torch.float64)
        Wc, Wh = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
        Wx = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
        dl_dh = torch.randn(5, 4, dtype=torch.float64)
        (gated_rnn_forward(x, Wc, Wh, Wx) * dl_dh).sum().backward()
        assert torch.allclose(gated_rnn_dl_dWx(x, Wc, Wh, Wx.detach(), dl_dh), Wx.grad)
        print("gated RNN: ok")
        """),
        *sem.extra(md("""
        ## Part 1.2: binary addition

        Design an RNN with 2 inputs, 3 hidden units and 1 output, all hard-threshold
        units: h[t] = step(Wxh x[t] + Whh h[t-1] + bh), y[t] = step(Why h[t] + by),
        step(z) = 1 if z > 0 else 0, h[0] = 0. It reads two binary numbers least
        significant bit first (padded with a trailing zero) and outputs their sum.
        """),
        todo("binary_addition_rnn", rnn_theory.binary_addition_rnn),
        given(rnn_theory.simulate_binary_rnn, after="""
        # 0101101 + 0111010 = 1100111, fed least significant bit first.
        a, b = [1, 0, 1, 1, 0, 1, 0], [0, 1, 0, 1, 1, 1, 0]
        assert simulate_binary_rnn(binary_addition_rnn(), a, b) == [1, 1, 1, 0, 0, 1, 1]
        print("binary adder: ok")
        """),
        md("""
        ## Part 1.3: backpropagation through time in an LSTM

        A univariate LSTM without biases: i(t) = sigmoid(w_xi x(t) + w_hi h(t-1)), f(t)
        and o(t) likewise, g(t) = tanh(w_xg x(t) + w_hg h(t-1)),
        c(t) = f(t) c(t-1) + i(t) g(t), h(t) = o(t) tanh(c(t)), h(0) = c(0) = 0.
        The forward pass is given. Return dl/dw for the eight weights, where
        l = sum_t dl_dh[t] h(t).
        """),
        given(rnn_theory._as_float, rnn_theory._sigmoid, rnn_theory._lstm_steps, rnn_theory.lstm_forward,
              before='LSTM_KEYS = ("xi", "hi", "xf", "hf", "xo", "ho", "xg", "hg")'),
        todo("lstm_bptt", rnn_theory.lstm_bptt),
        code("""
        def lstm_forward_torch(x, w):
            h = c = torch.zeros((), dtype=torch.float64)
            hs = []
            for x_t in x:
                i = torch.sigmoid(w["xi"] * x_t + w["hi"] * h)
                f = torch.sigmoid(w["xf"] * x_t + w["hf"] * h)
                o = torch.sigmoid(w["xo"] * x_t + w["ho"] * h)
                g = torch.tanh(w["xg"] * x_t + w["hg"] * h)
                c = f * c + i * g
                h = o * torch.tanh(c)
                hs.append(h)
            return torch.stack(hs)

        x, dl_dh = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
        w = {k: torch.randn((), dtype=torch.float64, requires_grad=True) for k in LSTM_KEYS}
        (lstm_forward_torch(x, w) * dl_dh).sum().backward()
        grads = lstm_bptt(x, {k: v.item() for k, v in w.items()}, dl_dh)
        assert all(abs(float(grads[k]) - w[k].grad.item()) < 1e-8 for k in LSTM_KEYS)
        print("LSTM BPTT: ok")
        """)),
        md("""
        ## Part 2: echo

        Each sequence is a string of letters (1..26 = a..z). The model must output, at
        every step, the letter it saw `DELAY` steps earlier (0, shown as a space, for the
        first `DELAY` steps).
        """),
        given(echo.idx_to_onehot, echo.EchoDataset, before="""
        # Max value of the generated integer; 26 is the number of letters in the alphabet.
        N = 26
        """, after=f"""
        DELAY = {echo.DELAY}
        # Sized for a CPU: one pass over this many sequences is enough for a good model.
        DATASET_SIZE = {echo.DATASET_SIZE}
        ds = EchoDataset(delay=DELAY)
        """),
        md("""
        Implement `GRUMemory`: `forward(x)` takes one-hot inputs (B, T, 27) and returns
        logits (B, T, 27); `test_run(s)` takes a lowercase string and returns the
        model's output string of the same length (index 0 becomes a space).
        """),
        todo("GRUMemory", echo.GRUMemory),
        given(echo.test_model),
        md("Train your model: it must reach accuracy > 0.99 within 10 minutes."),
        todo("train_gru_memory", echo.train_echo_model, echo.train_gru_memory, starter="""
             # TODO: write your training code here.
             def train_gru_memory(model, dataset_size):
                 raise NotImplementedError
             """, after="""
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
             """),
        md("""
        ## Part 2.2: variable delay

        Now the delay changes from sequence to sequence (0..max_delay) and is given to
        the model: `forward(x, delays)` with x (B, T, 27) and delays (B,) returns logits
        (B, T, 27); `test_run(s, delay)` returns a string. Keep the attribute
        `max_delay`: the test reads it.
        """),
        given(echo.VariableDelayEchoDataset, after=f"""
        MAX_DELAY = {echo.MAX_DELAY}
        SEQ_LENGTH = {echo.SEQ_LENGTH}
        VARIABLE_DELAY_DATASET_SIZE = {echo.VARIABLE_DELAY_DATASET_SIZE}
        """),
        todo("VariableDelayGRUMemory", echo.VariableDelayGRUMemory),
        given(echo.test_variable_delay_model),
        todo("train_variable_delay_gru_memory", echo.train_variable_delay_gru_memory,
             starter="""
             # TODO: write your training code here.
             def train_variable_delay_gru_memory(model, dataset_size):
                 raise NotImplementedError
             """, after="""
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
             """),
    ]


# 08-seq_classification.ipynb --------------------------------------------------------

def section8_source(optimizer_line, train_call_extra=""):
    return f"""
    # Section 8: do not change the seed, the data or the model; change the procedure.
    torch.manual_seed(1)

    # Setup the training and test data generators
    difficulty = QRSU.DifficultyLevel.MODERATE
    batch_size = 32
    train_data_gen = QRSU.get_predefined_generator(difficulty, batch_size)
    test_data_gen = QRSU.get_predefined_generator(difficulty, batch_size)

    # Setup the RNN and training settings
    input_size = train_data_gen.n_symbols
    hidden_size = 12
    output_size = train_data_gen.n_classes
    model = SimpleLSTM(input_size, hidden_size, output_size)
    criterion = torch.nn.CrossEntropyLoss()
    {optimizer_line}
    max_epochs = 100

    # Train the model
    model = train_and_test(model, train_data_gen, test_data_gen, criterion, optimizer,
                           max_epochs, verbose=False{train_call_extra})
    """


SECTION8_ORIGINAL = section8_source(
    "optimizer = torch.optim.RMSprop(model.parameters(), lr=0.001)")
# The fix, from the reference's constants: a smaller step and gradient-norm clipping.
SECTION8_FIXED = section8_source(
    f"optimizer = torch.optim.RMSprop(model.parameters(), lr={sc.FIXED_LR})",
    f", clip_grad_norm={sc.FIXED_CLIP}")


def seq_notebook():
    return [
        md("""
        # Sequence classification

        A recurrent network classifies sequences by the order of two relevant symbols
        hidden among distractors (the "temporal order" task, experiment 6a of
        Hochreiter and Schmidhuber's LSTM paper).
        """),
        code("""
        import numpy as np
        import torch
        import matplotlib.pyplot as plt

        from res.sequential_tasks import TemporalOrderExp6aSequence as QRSU
        from res.plot_lib import set_default, plot_state, print_colourbar

        set_default(figsize=(6, 4))
        device = torch.device("cpu")
        """),
        md("""
        ## 1. The task

        Symbols X and Y are relevant, a, b, c, d are distractors, B and E mark the start
        and the end: 8 one-hot inputs. The classes Q, R, S, U stand for XX, XY, YX, YY.
        Each "epoch" of a generator is 31 freshly drawn batches.
        """),
        code("""
        example_generator = QRSU.get_predefined_generator(QRSU.DifficultyLevel.EASY, 4)
        example_x, example_y = example_generator[0]
        print("batch shapes:", example_x.shape, example_y.shape, "batches:", len(example_generator))
        for x, y in zip(example_generator.decode_x_batch(example_x),
                        example_generator.decode_y_batch(example_y)):
            print(x, "->", y)
        """),
        md("## 2. The model and the training loop"),
        given(sc.SimpleLSTM, sc.train, sc.test, sc.train_and_test),
        md("## 3. An easy version of the task"),
        code("""
        torch.manual_seed(1)
        train_data_gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.EASY, 32)
        test_data_gen = QRSU.get_predefined_generator(QRSU.DifficultyLevel.EASY, 32)
        model = SimpleLSTM(train_data_gen.n_symbols, 4, train_data_gen.n_classes)
        criterion = torch.nn.CrossEntropyLoss()
        optimizer = torch.optim.RMSprop(model.parameters(), lr=0.01)
        model = train_and_test(model, train_data_gen, test_data_gen, criterion, optimizer,
                               max_epochs=10, verbose=False)
        """),
        md("## 4. What the hidden units see"),
        code("""
        with torch.no_grad():
            x, _ = test_data_gen[0]
            states, _ = model.lstm(torch.from_numpy(x).float())
        print_colourbar()
        plot_state(x, states, 0, test_data_gen)
        """),
        md("""
        ## 8. Debugging the loss curves

        Training on the MODERATE level with the settings below produces spiky curves:
        the loss climbs back above its initial value, ln 4 = 1.386, and the accuracy
        falls to chance. Change **only the training procedure** (not the seed, the data
        or the model) so that the curves have no spikes, and explain why in your PDF.
        """),
        todo_section8(),
    ]


def todo_section8():
    return todo("section8", starter=SECTION8_ORIGINAL, solution=SECTION8_FIXED,
                tags=("section8",))


NOTEBOOKS = {
    "hw2_cnn.ipynb": cnn_notebook,
    "hw2_rnn.ipynb": rnn_notebook,
    "08-seq_classification.ipynb": seq_notebook,
}


def write_all(root=ROOT):
    written = []
    for variant in (STARTER, SOLUTION):
        out = Path(root) / "reference" / variant
        out.mkdir(parents=True, exist_ok=True)
        for name, make in NOTEBOOKS.items():
            path = out / name
            nbformat.write(build(make(), variant), str(path))
            written.append(path)
        link = out / "res"
        if not link.is_symlink():
            os.symlink("../res", link)
        written += write_semesters(out, variant)
    return written


def write_semesters(out, variant):
    """reference/<variant>/<semester>/: each semester's notebooks under its file names."""
    written = []
    for key, sem in SEMESTERS.items():
        folder = out / key
        folder.mkdir(exist_ok=True)
        for base, name in sem.names.items():
            path = folder / name
            nbformat.write(build(NOTEBOOKS[base](sem), variant), str(path))
            written.append(path)
        link = folder / "res"
        if not link.is_symlink():
            os.symlink("../../res", link)
    return written


if __name__ == "__main__":
    for path in write_all():
        print("wrote", path.relative_to(ROOT))
