"""Plotting helpers of the lab notebooks, headless (matplotlib's Agg backend).

The grader runs notebooks without a display, so the backend is forced to Agg before
pyplot is imported; `plt.show()` is then a no-op and figures still reach the notebook
through the inline backend when one is active.
"""
import matplotlib

if "inline" not in str(matplotlib.get_backend()):
    # Inside a kernel the inline backend captures figures; anywhere else draw off-screen.
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def set_default(figsize=(10, 10), dpi=100):
    """Dark background, large figures: the lab's house style."""
    plt.style.use(["dark_background", "bmh"])
    plt.rc("axes", facecolor="k")
    plt.rc("figure", facecolor="k")
    plt.rc("figure", figsize=figsize, dpi=dpi)


def plot_data(X, y, d=0, auto=False, zoom=1):
    """Scatter of 2-D points X (N, 2) coloured by integer labels y (N,)."""
    X, y = _numpy(X), _numpy(y)
    plt.scatter(X[:, 0], X[:, 1], c=y, s=20, cmap=plt.cm.Spectral)
    plt.axis("square")
    plt.axis(np.array((-1.1, 1.1, -1.1, 1.1)) * zoom)
    if not auto:
        plt.axis("off")
    _ = plt.gca()


def plot_model(X, y, model):
    """Decision regions of a 2-D classifier `model` over the data's square."""
    model.cpu()
    mesh = np.arange(-1.1, 1.1, 0.01)
    xx, yy = np.meshgrid(mesh, mesh)
    with torch.no_grad():
        data = torch.from_numpy(np.vstack((xx.reshape(-1), yy.reshape(-1))).T).float()
        Z = model(data).detach()
    Z = np.argmax(Z.numpy(), axis=1).reshape(xx.shape)
    plt.contourf(xx, yy, Z, cmap=plt.cm.Spectral, alpha=0.3)
    plot_data(X, y)


def show_scatterplot(X, colors, title="", axis=True):
    """Scatter of 2-D points with given colours, on a fixed [-4, 4] square."""
    X = _numpy(X)
    plt.figure()
    plt.axis("equal")
    plt.scatter(X[:, 0], X[:, 1], c=colors, s=30)
    plt.title(title)
    if axis:
        plt.axis([-4, 4, -4, 4])
    plt.grid(True)


def plot_bases(bases, width=0.04):
    """Draws the two basis vectors bases (2, 2) as arrows from the origin."""
    bases = _numpy(bases)
    plt.arrow(0, 0, *bases[0], width=width, color=(1, 0, 0), zorder=10, alpha=1.0,
              length_includes_head=True)
    plt.arrow(0, 0, *bases[1], width=width, color=(0, 1, 0), zorder=10, alpha=1.0,
              length_includes_head=True)


def plot_state(data, state, b, decoder):
    """Prints sequence b of a batch with each symbol coloured by the hidden state.

    data: (B, T, n_symbols) one-hot inputs; state: (B, T, H) hidden states; decoder: the
    task generator (its decode_x turns one-hot rows into symbols).
    """
    data, state = _numpy(data), _numpy(state)
    sequence = decoder.decode_x(data[b])
    # Padding rows are dropped by decode_x: align the states with the real symbols.
    states = state[b][-len(sequence):]
    for h in range(states.shape[1]):
        line = "".join(_colour(states[t, h]) + sym for t, sym in enumerate(sequence))
        print(line + "\033[0m" + f"  h[{h}]")


def print_colourbar():
    """Prints the colour scale used by plot_state, from -1 to +1."""
    steps = np.linspace(-1, 1, 21)
    print("".join(_colour(v) + " " for v in steps) + "\033[0m")
    print("-1" + " " * 17 + "+1")


def _colour(value):
    """ANSI 256-colour background for a value in [-1, 1] (blue negative, red positive)."""
    value = float(np.clip(value, -1, 1))
    level = int(round(abs(value) * 5))
    code = 16 + (36 * level if value > 0 else level)
    return f"\033[48;5;{code}m"


def _numpy(a):
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.array(a)
