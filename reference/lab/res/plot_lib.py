"""Plotting helpers of the course's lab notebooks (lab-faithful version).

Same public names, signatures and drawn/printed output as the course repository's
`res/plot_lib.py`. Like the course's module it reads a 512x512 RGB colour map at import
time (`zieger`, used by show_scatterplot); here that image is this project's own
stand-in, `ziegler.png` next to this file (regenerate it with `python _colour_map.py`).
It does not choose a matplotlib backend (the notebook's kernel does).

Used by 08-seq_classification.ipynb: set_default, print_colourbar and plot_state, which
prints a sequence as HTML with each symbol's background coloured by an LSTM state.
"""
import os

import numpy as np
import torch
from IPython.display import HTML, display
from matplotlib import pyplot as plt


def set_default(figsize=(10, 10), dpi=100):
    """The labs' house style: dark background, bmh colours, black axes, large figures."""
    plt.style.use(['dark_background', 'bmh'])
    plt.rcParams.update({'axes.facecolor': 'k', 'figure.facecolor': 'k'})
    plt.rc('figure', figsize=figsize, dpi=dpi)


def _origin_axes():
    """Thin dark lines through the origin, behind everything else."""
    plt.axvline(0, ymin=0, color='.15', lw=1, zorder=0)
    plt.axhline(0, xmin=0, color='.15', lw=1, zorder=0)


def plot_data(X, y, d=0, auto=False, zoom=1):
    """Scatter of 2-D points X (N, 2) coloured by labels y (N,) on the square
    [-1.1, 1.1]^2 scaled by zoom (auto=True: equal axes instead); no frame. `d` is
    unused."""
    points, labels = X.cpu(), y.cpu()
    xy = points.numpy()
    plt.scatter(xy[:, 0], xy[:, 1], c=labels, s=20, cmap=plt.cm.Spectral)
    plt.axis('square')
    plt.axis(np.array((-1.1, 1.1, -1.1, 1.1)) * zoom)
    if auto is True:
        plt.axis('equal')
    plt.axis('off')
    _origin_axes()


def plot_model(X, y, model):
    """Decision regions of a 2-D classifier (argmax of its outputs on a 0.01 grid over
    [-1.1, 1.1)^2), under the data. Moves the model to the CPU."""
    model.cpu()
    ticks = np.arange(-1.1, 1.1, 0.01)
    xx, yy = np.meshgrid(ticks, ticks)
    grid = np.vstack((xx.reshape(-1), yy.reshape(-1))).T
    with torch.no_grad():
        scores = model(torch.from_numpy(grid).float()).detach()
    regions = np.argmax(scores, axis=1).reshape(xx.shape)
    plt.contourf(xx, yy, regions, cmap=plt.cm.Spectral, alpha=0.3)
    plot_data(X, y)


def _read_colour_map():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ziegler.png')
    # The course's module reads res/ziegler.png relative to the working directory;
    # reading it next to this file also works when the notebook changed directory.
    return plt.imread(here if os.path.exists(here) else os.path.join('res', 'ziegler.png'))


zieger = _read_colour_map()


def show_scatterplot(X, colors, title='', axis=True):
    """Scatter of 2-D points X (N, 2) (a CPU tensor), point i coloured by the colour map
    pixel at colors[i] = (row, column), integers in 0..511; no frame; origin lines when
    `axis`."""
    point_colours = zieger[colors[:, 0], colors[:, 1]]
    xy = X.numpy()
    plt.axis('equal')
    plt.scatter(xy[:, 0], xy[:, 1], c=point_colours, s=30)
    plt.title(title)
    plt.axis('off')
    if axis:
        _origin_axes()


def plot_bases(bases, plotting=True, width=0.04):
    """bases (4, 2): two origins then two tips. Turns rows 2-3 into vectors (tips minus
    origins) IN PLACE, then (if plotting) draws them as a red and a green arrow, kept in
    plot_bases.a and plot_bases.b."""
    bases[2:] -= bases[:2]
    if plotting:
        for attr, start, vector, colour in (('a', 0, 2, 'r'), ('b', 1, 3, 'g')):
            arrow = plt.arrow(*bases[start], *bases[vector], width=width, color=colour,
                              zorder=10, alpha=1., length_includes_head=True)
            setattr(plot_bases, attr, arrow)


plot_bases.a = None
plot_bases.b = None


def show_mat(mat, vect, prod, threshold=-1):
    """A matrix A, a vector a^(i) and their product p side by side (shared rows), with
    colour bars; A and a^(i) on [-1, 1], p on [threshold, 1]."""
    fig, (ax_mat, ax_vect, ax_prod) = plt.subplots(
        1, 3, sharex=False, sharey=True, gridspec_kw={'width_ratios': [5, 1, 1]})
    img_mat = ax_mat.matshow(mat.numpy(), clim=(-1, 1))
    ax_vect.matshow(vect.numpy(), clim=(-1, 1))
    img_prod = ax_prod.matshow(prod.numpy(), clim=(threshold, 1))
    ax_mat.set_title(f'A: {mat.size(0)} \u00D7 {mat.size(1)}')
    ax_vect.set_title(f'a^(i): {vect.numel()}')
    ax_prod.set_title(f'p: {prod.numel()}')
    for ax in (ax_vect, ax_prod):
        ax.set_xticks(())
    fig.colorbar(img_mat, ax=ax_vect)
    fig.colorbar(img_prod, ax=ax_prod)
    ax_mat.set_ylim(bottom=max(len(prod), len(vect)) - 0.5)


# A qualitative palette (ColorBrewer "Set3") under friendly names.
colors = dict(
    aqua='#8dd3c7',
    yellow='#ffffb3',
    lavender='#bebada',
    red='#fb8072',
    blue='#80b1d3',
    orange='#fdb462',
    green='#b3de69',
    pink='#fccde5',
    grey='#d9d9d9',
    violet='#bc80bd',
    unk1='#ccebc5',
    unk2='#ffed6f',
)


# Coloured text (HTML) -----------------------------------------------------------------

# 20 background colours from blue (value 0) through white to red (value 1).
_SCALE = ('#85c2e1', '#89c4e2', '#95cae5', '#99cce6', '#a1d0e8',
          '#b2d9ec', '#baddee', '#c2e1f0', '#eff7fb', '#f9e8e8',
          '#f9e8e8', '#f9d4d4', '#f9bdbd', '#f8a8a8', '#f68f8f',
          '#f47676', '#f45f5f', '#f34343', '#f33b3b', '#f42e2e')


def _cstr(s, color='black'):
    """One HTML <text> element: s in black on the given background (a blank is drawn
    as a padded blank)."""
    if s == ' ':
        return f'<text style=color:#000;padding-left:10px;background-color:{color}> </text>'
    return f'<text style=color:#000;background-color:{color}>{s} </text>'


def _print_color(t):
    """Displays the (text, background colour) pairs of t as one line of HTML."""
    display(HTML(''.join(_cstr(text, color=colour) for text, colour in t)))


def _get_clr(value):
    """Background colour of a value in [0, 1]: 20 equal bins (1 falls in the last)."""
    bin_ = int((value * 100) / 5)
    if bin_ == len(_SCALE):
        bin_ -= 1
    return _SCALE[bin_]


def _visualise_values(output_values, result_list):
    """Displays result_list[i] on the colour of output_values[i], for every value."""
    _print_color([(result_list[i], _get_clr(output_values[i]))
                  for i in range(len(output_values))])


def print_colourbar():
    """Displays the colour scale as 20 labels from -2.50 to 2.50 (the value v is shown
    on the colour of (v + 2.5) / 5)."""
    ticks = torch.linspace(-2.5, 2.5, 20)
    _print_color([(f'{v:.2f}', _get_clr((v + 2.5) / 5)) for v in ticks])


def plot_state(data, state, b, decoder):
    """Displays sequence b of a batch once per state unit, each symbol on the colour of
    sigmoid(state) at its time step.

    data: (B, T, n_symbols) tensor on the CPU (one-hot, pre-padded); state: (T, B, H)
    tensor, e.g. the cell or hidden states returned by SimpleLSTM.get_states_across_time;
    b: the sequence; decoder: a function from one (T, n_symbols) numpy array to the
    sequence string (the notebook passes test_data_gen.decode_x). Only the last
    len(sequence) time steps (the real symbols, after the padding) are shown.
    """
    symbols = decoder(data[b, :, :].numpy())
    shown = len(symbols)
    steps = len(state)
    for unit in range(state.size(2)):
        activation = torch.sigmoid(state[:, b, unit])
        _visualise_values(activation[steps - shown:], list(symbols))
