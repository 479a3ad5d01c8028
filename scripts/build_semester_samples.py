"""Builds the semesters' sample submissions: submissions/semesters/<rubric>/<outcome>/<netid>.zip.

    python scripts/build_semester_samples.py [--out DIR]

For every shipped semester variant (rubrics/<rubric>) a full-marks, a blank and a
typical-mistake submission, named as that semester's class hands them in:
- the project's notebooks (rubrics/hw2-spring2021, rubrics/hw3-fall2021): the semester's
  reference solution and starter (reference/{solution,starter}/<semester>, built by
  scripts/build_notebooks.py), the mistake a sign error in dl/dW;
- the course's notebooks (rubrics/hw2-spring2021-original, rubrics/hw3-fall2021-original,
  rubrics/hw2-fall2024-original): built like scripts/build_original_samples.py's (whose
  cells they reuse), the blank one the template's TODOs.
Rebuilding is byte-identical (samples_lib.write_zip); notebooks are left unexecuted. The
course-notebook variants' full-marks and blank notebooks are also written to
reference/original/<rubric>/{solution,starter}/ (what `grader validate` runs).
Where two semesters' notebooks differ only in their names (Spring and Fall 2021), the
bytes are identical.
"""
import argparse
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_original_samples as bos  # noqa: E402
import samples_lib as sl  # noqa: E402
from build_notebooks import SEMESTERS  # noqa: E402

OUT = sl.ROOT / "submissions" / "semesters"
OUTCOMES = ("full_marks", "blank", "typical_mistake")


def pdf(title, netid, lines):
    return sl.theory_pdf([f"{title} - theory answers - {netid}", "", *lines])


THEORY_2021 = [
    "1.1 (a) 10x11 input, 3x3 kernel, stride 2, no padding -> 4x5.",
    "    (b) F x floor((H + 2P - D(K-1) - 1)/S + 1) x floor((W + 2P - D(K-1) - 1)/S + 1).",
    "    (c) length 5, 2 channels, kernel 3, stride 2: f[j] = sum_{c,k} W[c,k] x[c, 2j+k], j = 0, 1;",
    "        df/dW[j,c,k] = x[c, 2j+k]; df/dx[j,c,l] = W[c, l-2j]; dl/dW = sum_j dl/df[j] x[c, 2j+k].",
    "1.2 (b) c[t] has size m. (c) dl/dWx = sum_t ((1 - c[t]) * g[t]) x[t]^T, g[t] through the recurrence.",
    "    (d) vanishing: products of gates in (0, 1) over many steps.",
]


# The project's notebooks -------------------------------------------------------------

DLDW_SIGN = ('return torch.einsum("ij,cjk->ick", dl_df, patches)', 'return -torch.einsum("ij,cjk->ick", dl_df, patches)')


def project_entries(semester, variant, netid, mistake=False):
    sem = SEMESTERS[semester]
    out = {}
    for base, name in sem.names.items():
        nb = nbformat.read(str(sl.ROOT / "reference" / variant / semester / name), as_version=4)
        if mistake and base == "hw2_cnn.ipynb":
            nb = sl.edit_cell_source(nb, "conv1d_dldW", *DLDW_SIGN)
        out[name] = sl.notebook_bytes(nb)
    out[_pdf_names(sem.rubric)[0]] = pdf(sem.rubric, netid, THEORY_2021)
    return out


def _pdf_names(rubric):
    from grader.rubric import load_rubric

    return [f.name for f in load_rubric(sl.ROOT / "rubrics" / rubric).files if f.kind == "pdf"]


def project(semester):
    return {
        "full_marks": lambda netid: project_entries(semester, "solution", netid),
        "blank": lambda netid: project_entries(semester, "starter", netid),
        "typical_mistake": lambda netid: project_entries(semester, "solution", netid, mistake=True),
    }


# The course's notebooks ----------------------------------------------------------------

TODO_GRU = bos.code("""
class GRUMemory(torch.nn.Module):

    def __init__(self, hidden_size):
        super().__init__()
        # TODO

    def forward(self, x):
        # TODO
        raise NotImplementedError()

    def test_run(self, s):
        # TODO
        raise NotImplementedError()
""")

TODO_FIXED = bos.code("""
def run_fixed_delay_training():
    # TODO
    raise NotImplementedError()

start_time = time.time()
model = run_fixed_delay_training()
end_time = time.time()
duration = end_time - start_time
accuracy = test_model(model)
assert duration < 600, 'execution took f{duration:.2f} seconds, which longer than 10 mins'
assert accuracy > 0.99, f'accuracy is too low, got {accuracy}, need 0.99'
""")

TODO_CNN = """
class {name}(nn.Module):
    def __init__(self):
        super().__init__()
        # TODO

    def forward(self, x):
        # TODO
        raise NotImplementedError()
"""

TODO_HELPERS = """
def get_loss_and_correct(model, batch, criterion, device):
    # TODO
    raise NotImplementedError()


def step(loss, optimizer):
    # TODO
    raise NotImplementedError()
"""


def blank_cnn(name="CNN"):
    """The cats-vs-dogs template as handed out: TODO class, helpers, criterion and optimizer."""
    nb = bos.cnn_nb(name=name)
    nb = sl.replace_cell_source(nb, name, TODO_CNN.format(name=name).strip("\n"))
    nb = sl.replace_cell_source(nb, "get_loss_and_correct", TODO_HELPERS.strip("\n"))
    nb = sl.edit_cell_source(nb, "N_EPOCHS", "criterion = nn.CrossEntropyLoss()", "criterion = None  # TODO")
    return sl.edit_cell_source(nb, "N_EPOCHS", "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)", "optimizer = None  # TODO")


def blank_rnn(given=None):
    return bos.rnn_nb(gru=TODO_GRU, fixed=TODO_FIXED, vgru=bos.TODO_VGRU, vtrain=bos.TODO_VTRAIN, given=given)


def original_2021(pdf_name, cnn, rnn):
    """The Spring/Fall 2021 course notebooks: the two notebooks, no lab."""
    def entries(netid, unfinished_variable_delay=False, blank=False):
        if blank:
            c, r = blank_cnn(), blank_rnn()
        elif unfinished_variable_delay:
            c, r = bos.cnn_nb(), bos.rnn_nb(vgru=bos.TODO_VGRU, vtrain=bos.TODO_VTRAIN)
        else:
            c, r = bos.cnn_nb(), bos.rnn_nb()
        return {pdf_name: pdf(pdf_name.split("_")[0], netid, THEORY_2021), cnn: bos.nb_bytes(c), rnn: bos.nb_bytes(r)}

    return {
        "full_marks": lambda netid: entries(netid),
        "blank": lambda netid: entries(netid, blank=True),
        # the variable-delay part left unfinished (its class and training still TODO)
        "typical_mistake": lambda netid: entries(netid, unfinished_variable_delay=True),
    }


# Fall 2024+: the later template -----------------------------------------------------------

SEQ_2024 = "seq_classification.ipynb"


def fall2024_rnn(max_delay=12):
    """template_fall2024's echo notebook (test_run with a device argument, forward returning
    a tuple, the template's own test_variable_delay_model with its s[:-delay] bug): the
    full-marks sample's is that original sample's, byte for byte, so one execution serves both."""
    nb = nbformat.reads(bos.template_fall2024("x")[bos.RNN].decode(), as_version=4)
    if max_delay != 12:  # the typical mistake: trained for the old template's delays
        nb = sl.edit_cell_source(nb, "train_variable_delay_model", "max_delay=12)", f"max_delay={max_delay})")
    return nb


def fall2024_seq(unfixed=False):
    """The lab as seq_classification.ipynb with the task generator pasted in (not imported)."""
    nb = bos.seq_unfixed() if unfixed else bos.seq_nb()
    generator = (sl.ROOT / "reference" / "lab" / "res" / "sequential_tasks.py").read_text(encoding="utf-8")
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source == "from res.sequential_tasks import TemporalOrderExp6aSequence as QRSU":
            cell.source = generator.strip("\n") + "\n\nQRSU = TemporalOrderExp6aSequence"
            break
    else:
        raise sl.SampleError("the lab notebook no longer imports the generator as expected")
    return nb


def fall2024():
    def entries(netid, cnn, rnn, seq):
        return {"hw2_theory.pdf": bos.theory(netid), bos.CNN: bos.nb_bytes(cnn), bos.RNN: bos.nb_bytes(rnn),
                SEQ_2024: bos.nb_bytes(seq)}

    return {
        "full_marks": lambda netid: entries(netid, bos.cnn_nb(name="CNN_Solution"), fall2024_rnn(), fall2024_seq()),
        "blank": lambda netid: entries(netid, blank_cnn("CNN_Solution"), blank_rnn(bos.fall2024_given()), fall2024_seq(unfixed=True)),
        # the variable-delay model trained with the old template's max delay 8
        "typical_mistake": lambda netid: entries(netid, bos.cnn_nb(name="CNN_Solution"), fall2024_rnn(max_delay=8), fall2024_seq()),
    }


# rubric -> (netid prefix, outcome -> builder)
VARIANTS = {
    "hw2-spring2021": ("sp", project("spring2021")),
    "hw3-fall2021": ("fa", project("fall2021")),
    "hw2-spring2021-original": ("so", original_2021("hw2_theory.pdf", "hw2_cnn.ipynb", "hw2_rnn.ipynb")),
    "hw3-fall2021-original": ("fo", original_2021("hw3_theory.pdf", "hw3_cnn.ipynb", "hw3_rnn.ipynb")),
    "hw2-fall2024-original": ("ft", fall2024()),
}


def netid(rubric, outcome):
    return f"{VARIANTS[rubric][0]}{21 if '2021' in rubric else 24}{OUTCOMES.index(outcome) + 1:02d}"


def sample_path(rubric, outcome, root=OUT):
    return Path(root) / rubric / outcome / f"{netid(rubric, outcome)}.zip"


# The course-notebook variants' reference solution and starter for `grader validate`
# (rubrics/<rubric>/mutants.yaml): the full-marks and blank samples' notebooks, byte for byte.
REFERENCE = sl.ROOT / "reference" / "original"


def write_references(root=REFERENCE):
    paths = []
    for rubric, (_, makers) in VARIANTS.items():
        if not rubric.endswith("-original"):
            continue
        for outcome, folder in (("full_marks", "solution"), ("blank", "starter")):
            for name, data in makers[outcome](netid(rubric, outcome)).items():
                if name.endswith(".ipynb"):
                    path = Path(root) / rubric / folder / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                    paths.append(path)
    return paths


def build(out_dir=OUT, reference_dir=REFERENCE):
    paths = []
    for rubric, (_, makers) in VARIANTS.items():
        for outcome in OUTCOMES:
            paths.append(sl.write_zip(sample_path(rubric, outcome, out_dir), makers[outcome](netid(rubric, outcome))))
    return paths + write_references(reference_dir)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--reference-out", default=str(REFERENCE), help="the course-notebook variants' solution/starter folders")
    args = ap.parse_args(argv)
    for p in build(args.out, args.reference_out):
        print(p)


if __name__ == "__main__":
    main()
