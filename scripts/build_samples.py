"""Builds the sample submissions under submissions/<expected outcome>/<netid>.zip.

    python scripts/build_samples.py [--out DIR]

Each sample starts from the built solution (or starter) notebooks and applies the edits
a student would make. Rebuilding is byte-identical (see samples_lib.write_zip), so the
committed zips can be checked against a rebuild. Notebooks are left unexecuted.
"""
import argparse
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import samples_lib as sl  # noqa: E402
from build_notebooks import SECTION8_ORIGINAL  # noqa: E402

CNN, RNN, SEQ = sl.NOTEBOOK_NAMES


def theory_answers(netid):
    return [
        f"Homework 2 - theory answers - {netid}",
        "",
        "1.1 Output size: F x floor((H + 2P - D(K-1) - 1)/S + 1) x floor((W + 2P - D(K-1) - 1)/S + 1);",
        "    10x11 input, 3x3 kernel, stride 2, no padding -> 4x5 (5x5 kernel -> 3x4).",
        "1.2 f[j] = sum_{c,k} W[c,k] x[c, 2j+k]; df/dW[j,c,k] = x[c, 2j+k];",
        "    df/dx[j,c,l] = W[c, l-2j] where 0 <= l-2j < K; dl/dW = sum_j dl/df[j] x[c, 2j+k].",
        "2.1 c[t] has size m. dl/dWx = sum_t ((1 - c[t]) * g[t]) x[t]^T, where g[t] is the total",
        "    gradient reaching h[t] through the recurrence.",
        "2.2 Section 8 spikes: RMSprop steps of 1e-3 jump over sharp cliffs of the LSTM loss;",
        "    the model forgets and the loss exceeds ln 4 = 1.386. Fix: smaller lr and clipping.",
    ]


def notebooks(variant="solution"):
    return {name: sl.load_notebook(variant, name) for name in sl.NOTEBOOK_NAMES}


def entries(netid, nbs, pdf_name=sl.PDF_NAME, names=None, prefix=""):
    """Archive entries for a submission; `names` renames notebooks (misnamed files)."""
    names = names or {}
    out = {prefix + pdf_name: sl.theory_pdf(theory_answers(netid))}
    for name, nb in nbs.items():
        out[prefix + names.get(name, name)] = sl.notebook_bytes(nb)
    return out


# Samples, one function each: (expected outcome, netid) -> entries ------------------

def full_marks(netid):
    return entries(netid, notebooks("solution"))


def blank_starter(netid):
    return entries(netid, notebooks("starter"))


def partial(netid):
    """Three realistic mistakes, everything else right."""
    nbs = notebooks("solution")
    # dl/dW with the sign flipped (gradient ascent habits).
    nbs[CNN] = sl.edit_cell_source(nbs[CNN], "conv1d_dldW",
                                   'return torch.einsum("ij,cjk->ick", dl_df, patches)',
                                   'return -torch.einsum("ij,cjk->ick", dl_df, patches)')
    # The output-size formula without the dilation term.
    nbs[CNN] = sl.edit_cell_source(nbs[CNN], "conv_output_shape", "D * (K - 1)", "(K - 1)", 2)
    # A binary adder whose hidden units ignore the carry.
    nbs[RNN] = sl.edit_cell_source(nbs[RNN], "binary_addition_rnn",
                                   '"Whh": [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]',
                                   '"Whh": [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]')
    return entries(netid, nbs)


# The lab's Section 8 as handed out (the starter's cell, byte for byte: the section8_unfixed
# sample's lab notebook is then the starter's, and the test suite runs it once for both).
SECTION8_AS_HANDED_OUT = textwrap.dedent(SECTION8_ORIGINAL).strip("\n")


def section8_unfixed(netid):
    nbs = notebooks("solution")
    nbs[SEQ] = sl.replace_cell_source(nbs[SEQ], "section8", SECTION8_AS_HANDED_OUT)
    return entries(netid, nbs)


SMOOTHING = '''
    # Smooth the recorded curves with a 10-epoch moving average before reporting them.
    for history in (history_train, history_test):
        for metric in ("loss", "acc"):
            raw = history[metric]
            history[metric] = [sum(raw[max(0, i - 9):i + 1]) / len(raw[max(0, i - 9):i + 1])
                               for i in range(len(raw))]
    fig, axes = plt.subplots(ncols=2, figsize=(9, 4.5))'''


def section8_cosmetic_smoothing(netid):
    """The original (spiky) procedure, with only the recorded losses smoothed."""
    nbs = notebooks("solution")
    nbs[SEQ] = sl.replace_cell_source(nbs[SEQ], "section8", SECTION8_AS_HANDED_OUT)
    nbs[SEQ] = sl.edit_cell_source(nbs[SEQ], "train_and_test",
                                   "\n    fig, axes = plt.subplots(ncols=2, figsize=(9, 4.5))",
                                   SMOOTHING)
    return entries(netid, nbs)


def misnamed_files(netid):
    return entries(netid, notebooks("solution"), pdf_name="hm2_theory.pdf",
                   names={SEQ: "08_seq_classification.ipynb"})


APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 16


def macos_junk(netid):
    out = full_marks(netid)
    out["__MACOSX/"] = b""
    for name in list(out):
        if not name.startswith("__MACOSX"):
            out["__MACOSX/._" + name] = APPLEDOUBLE
    out[".DS_Store"] = b"\x00\x00\x00\x01Bud1" + b"\x00" * 24
    out[".ipynb_checkpoints/"] = b""
    out[".ipynb_checkpoints/hw2_cnn-checkpoint.ipynb"] = out[CNN]
    return out


def nested_folder(netid):
    out = entries(netid, notebooks("solution"), prefix=f"{netid}/")
    out[f"{netid}/"] = b""
    return out


SAMPLES = [
    ("full_marks", "ab1234", full_marks),
    ("blank_starter", "bs2001", blank_starter),
    ("partial", "pa3002", partial),
    ("section8_unfixed", "su4003", section8_unfixed),
    ("section8_cosmetic_smoothing", "cs5004", section8_cosmetic_smoothing),
    ("misnamed_files", "mf6005", misnamed_files),
    ("macos_junk", "mj7006", macos_junk),
    ("nested_folder", "nf8007", nested_folder),
]


def build_all(out_dir=sl.ROOT / "submissions"):
    paths = []
    for outcome, netid, make in SAMPLES:
        paths.append(sl.write_zip(Path(out_dir) / outcome / f"{netid}.zip", make(netid)))
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=sl.ROOT / "submissions",
                        help="folder to write <outcome>/<netid>.zip into")
    args = parser.parse_args(argv)
    for path in build_all(args.out):
        print("wrote", path)


if __name__ == "__main__":
    main()
