"""Builds the adversarial submissions that attack the "cannot be executed" rule (suite "execution").

    python scripts/build_adversarial_exec.py [--out DIR] [--list]

Companion of scripts/build_adversarial.py and build_adversarial_checks.py (whose helpers,
zip layout and expected.json format it reuses). The course rule: a notebook that cannot be
executed costs 20 % (penalty `not_executable`); unfinished TODOs (NotImplementedError) and
failing asserts are answer errors the items already charge. These attacks try to dodge the
penalty, or to be graded on code the kernel never ran:

  - an early cell raising NotImplementedError that shields a later genuine failure;
  - notebook content that makes the executor itself fail (a "grader error", unpenalised);
  - kernel tampering whose names are built at run time (or hidden from any static scan);
  - a line that a rule neutralises in the kernel but not in the probe (or the reverse).

Each is graded end to end with the SHIPPED rubric (rubrics/hw2) by
tests/adversarial/test_execution_integrity.py, next to its honest twin: it must not gain a
point over the twin, and the not_executable penalty must apply where the twin's honest
version of the failure gets it. Notebooks are small (hw2_cnn's theory cells, no training).
Builds are byte-identical.

Besides build_adversarial.py's keys, expected.json has:
  suite              "execution"
  rubric             the rubric directory (relative to the repository) to grade with
  penalties_absent   penalty rules the report must NOT carry (honest notebooks: no false positives)
  findings_absent    finding codes the report must not carry
  before_fix         what the grader did with this submission before issue 12 was fixed
All are `slow` for tests/adversarial/test_attacks.py (which grades with its own rubric).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_adversarial as ba  # noqa: E402
import samples_lib as sl  # noqa: E402

ROOT = sl.ROOT
OUT = ba.OUT
CNN = ba.CNN
RUBRIC = "rubrics/hw2"
SUITE = "execution"
d = ba.d

# A genuine mistake of the student's own (not a TODO, not an assert): the output of
# conv1d_forward is 2-D, so shape[2] raises IndexError. The honest twin keeps it and is
# penalised; every attack below keeps it too and tries not to be.
GENUINE = '''
# my own extra check: a stride-3 convolution
f3 = conv1d_forward(torch.randn(2, 9, dtype=torch.float64), torch.randn(1, 2, 3, dtype=torch.float64), 3)
print("output length", f3.shape[2])
'''

# An optional bonus left unfinished (a TODO the starter raises NotImplementedError in).
UNFINISHED_BONUS = '''
def receptive_field(layers):
    """Bonus: receptive field of a stack of (kernel, stride) layers."""
    # TODO (optional)
    raise NotImplementedError

rf = receptive_field([(3, 1), (3, 2), (3, 2)])
'''

# Its consequences: a later cell uses the name the unfinished cell would have bound, and a
# failing assert's cell leaves `ratio` unbound for the next one.
BONUS_CONSEQUENCES = [
    'print("receptive field", rf)',
    '''
    out = conv_output_shape(3, 224, 224, 3, 1, 1, 1, 64)
    ratio = out[1] / 1000
    assert ratio > 1, "fewer than 1000 output rows"
    scale = ratio * 2
    ''',
    'print("scale", scale)',
]

# Kernel tampering, names built at run time: no name the regex scan knew appears as text.
RUNTIME_NAMES = '''
ip = get_ipython()
name = "_".join(["run", "cell", "async"])
orig = getattr(ip, name)

async def quiet(raw_cell, *args, **kwargs):
    res = await orig(raw_cell, *args, **kwargs)
    res.error_in_exec = None
    res.error_before_exec = None
    return res

setattr(ip, name, quiet)
setattr(ip, "show" + "traceback", lambda *a, **k: None)
'''

# The same wrapper in a helper module the notebook writes and imports: the code the kernel
# runs is hex digits in the notebook, so no static scan of the notebook can see it.
HIDDEN_MODULE_SOURCE = d('''
from IPython import get_ipython

ip = get_ipython()
orig = ip.run_cell_async

async def run_cell_async(raw_cell, *args, **kwargs):
    res = await orig(raw_cell, *args, **kwargs)
    res.error_in_exec = None
    res.error_before_exec = None
    return res

ip.run_cell_async = run_cell_async
ip.showtraceback = lambda *a, **k: None
''')


def hidden_module_cell() -> str:
    return (
        "# speed-ups for the plots (precompiled helper)\n"
        f"code = bytes.fromhex({HIDDEN_MODULE_SOURCE.encode().hex()!r}).decode()\n"
        "with open('plot_speedups.py', 'w') as fh:\n"
        "    fh.write(code)\n"
        "import plot_speedups"
    )


# conv_output_shape, finished in the probe's copy only: its return line carries a
# `drive.mount(` comment, so the Colab skip rule neutralises it in the kernel, and the
# unreachable `raise NotImplementedError` after it is what the kernel runs.
SKIPPED_RETURN = '''
def conv_output_shape(C, H, W, K, P, S, D, F):
    """Output shape (F, H_out, W_out)."""
    span = D * (K - 1) + 1
    H_out = (H + 2 * P - span) // S + 1
    W_out = (W + 2 * P - span) // S + 1
    return (int(F), int(H_out), int(W_out))  # (no drive.mount() needed here)
    raise NotImplementedError  # TODO
'''

UNFINISHED_SHAPE = '''
def conv_output_shape(C, H, W, K, P, S, D, F):
    """Output shape (F, H_out, W_out)."""
    # TODO: your code here
    raise NotImplementedError
'''

# conv1d_forward that flips the kernel (convolution, not the cross-correlation asked), and the notebook's own check of it (an assert).
WRONG_FORWARD = '''
def conv1d_forward(x, W, stride):
    """f_W(x) for x (C, L) and W (F, C, K): returns (F, L_out)."""
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    patches = x.unfold(1, W.shape[2], stride)
    return torch.einsum("ick,cjk->ij", W.flip(-1), patches)  # a true convolution: the kernel flipped
'''

WRONG_FORWARD_CHECK = '''
{forward}

# my check against PyTorch
x, W = torch.randn(2, 7, dtype=torch.float64), torch.randn(1, 2, 3, dtype=torch.float64)
assert torch.allclose(conv1d_forward(x, W, 2), torch.nn.functional.conv1d(x[None], W, stride=2)[0])
'''

# An honest notebook with the IPython lines course notebooks have: no tampering, no penalty.
HONEST_MAGICS = [
    "%matplotlib inline\n!pip install -q torch\n%config InlineBackend.figure_format = 'png'",
    '''
    %%time
    from IPython.display import display, Markdown
    display(Markdown("**CNN theory**: shapes and gradients"))
    h = display("working...", display_id=True)
    h.update("done")
    ''',
    '''
    %timeit -n 1 -r 1 conv1d_forward(torch.randn(2, 7), torch.randn(1, 2, 3), 2)
    print(get_ipython().__class__.__name__)
    ''',
]


def E(tries, before_fix, **kw):
    base = ba.E(tries, **kw)
    base.update(suite=SUITE, rubric=RUBRIC, slow=True, before_fix=d(before_fix),
                penalties_absent=kw.get("penalties_absent", []), findings_absent=kw.get("findings_absent", []))
    return base


def solution(start: str) -> str:
    """A code cell of the solution's hw2_cnn theory part, by its first line."""
    return next(c.source for c in ba.theory_notebook(CNN).cells if c.cell_type == "code" and c.source.lstrip().startswith(start))


# The notebooks are hw2_cnn's theory part cut down to what the attacks need (quick to run
# and to grade): imports, as_float_tensor, conv_output_shape and its sanity check,
# conv1d_forward. The other four items of the notebook fail as missing in every report.
IMPORTS, AS_FLOAT = "import math", "def as_float_tensor"
SHAPE, SHAPE_CHECK, FORWARD = "def conv_output_shape", "# Sanity checks from the theory", "def conv1d_forward"
ITEMS = ["hw2_cnn.conv_output_shape", "hw2_cnn.conv1d_forward"]


def notebook(shape: str | None = None, after_imports=(), append=(), shape_meta=None):
    cells = [solution(IMPORTS), *after_imports, solution(AS_FLOAT), shape or solution(SHAPE), solution(SHAPE_CHECK),
             solution(FORWARD), *append]
    nb = nb_of(*cells)
    if shape_meta:
        nb.cells[2 + len(after_imports)].metadata.update(shape_meta)
    return nb


def nb_of(*cells: str):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(d(c)) for c in cells]
    for i, c in enumerate(nb.cells):
        c["id"] = f"exe-{i:03d}"
    return nb


def with_raw_cell(nb, index: int, raw: dict) -> bytes:
    """The notebook's bytes with a hand-made cell (content nbformat would not write) inserted."""
    data = json.loads(sl.notebook_bytes(nb))
    data["cells"].insert(index, raw)
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def attacks() -> list[tuple[str, str, bytes, dict]]:
    A = []
    ok = {i: "passed" for i in ITEMS}
    nb_bytes = sl.notebook_bytes
    A.append(("exec_honest", "adv0201", nb_bytes(notebook()),
              E("Honest twin: hw2_cnn's theory cells (conv_output_shape, conv1d_forward), unchanged.",
                "completed, no penalty.", twin=None, notebook_status=["completed"], items=ok,
                penalties_absent=["not_executable"], findings_absent=["kernel_tampering"], max_seconds=45)))
    A.append(("exec_honest_failure", "adv0202", nb_bytes(notebook(append=[GENUINE])),
              E("Honest twin of the dodges: the same notebook plus a genuine mistake of the student's own (an "
                "IndexError in an extra check cell). Every TODO is done; the notebook cannot be executed: 20 %.",
                "cell_errors, the IndexError judged, not_executable applied.", twin=None, notebook_status=["cell_errors"],
                failing_ename=["IndexError"], items=ok, penalties=["not_executable"], max_seconds=45)))
    A.append(("nie_shield", "adv0203", nb_bytes(notebook(after_imports=[UNFINISHED_BONUS], append=[GENUINE])),
              E("An unfinished optional TODO (raises NotImplementedError) right after the imports, then the same "
                "genuine IndexError as the twin. The grader skipped judging a notebook whose FIRST failing cell "
                "raised NotImplementedError.",
                "cell_errors with NotImplementedError (cell 1) and IndexError (cell 7); no not_executable penalty "
                "(the twin had it).", twin="exec_honest_failure", notebook_status=["cell_errors"],
                failing_ename=["IndexError"], items=ok, penalties=["not_executable"], max_seconds=45)))
    A.append(("nie_consequences", "adv0204", nb_bytes(notebook(append=[UNFINISHED_BONUS, *BONUS_CONSEQUENCES])),
              E("Not a cheat: an unfinished optional TODO and a failing assert, each followed by a cell that fails "
                "only because the failed cell did not bind its name (NameError: rf, scale). Answer errors and their "
                "consequences: no penalty.", "no penalty (as now: the first failing cell was the NotImplementedError).",
                twin="exec_honest", notebook_status=["cell_errors"], failing_ename=["NameError"], items=ok,
                penalties_absent=["not_executable"], max_seconds=45)))
    A.append(("cell_tags_not_a_list", "adv0205", nb_bytes(notebook(append=[GENUINE], shape_meta={"tags": 5})),
              E("A cell's metadata holds `tags: 5` (not a list), and the same genuine IndexError as the twin. nbclient "
                "raised TypeError on the tags, the executor reported `executor_error` (the grader's fault, no "
                "penalty) and the probes graded the code as usual.",
                "executor_error (TypeError: argument of type 'int' is not iterable), no penalty, items passed (when "
                "graded before its twin: the execution cache keys on the code only, so a cache hit hid it).",
                twin="exec_honest_failure", notebook_status=["cell_errors"], failing_ename=["IndexError"],
                items=ok, penalties=["not_executable"], max_seconds=45)))
    A.append(("cell_source_not_text", "adv0206",
              with_raw_cell(notebook(append=[GENUINE]), 3, {"cell_type": "code", "execution_count": None, "id": "exe-num",
                                                             "metadata": {}, "outputs": [], "source": 5}),
              E("A code cell whose source is a JSON number (no editor writes that), and the same genuine IndexError. "
                "The grader's own preparation crashed on it and no report was written; the content is the student's "
                "notebook: `invalid`, the penalty, a message saying what to fix, the items still graded from the "
                "code cells that are text.",
                "grading crashed (TypeError: can only join an iterable): no report.",
                twin="exec_honest_failure", notebook_status=["invalid"], items=ok, penalties=["not_executable"],
                max_seconds=45)))
    A.append(("display_id_unhashable", "adv0207",
              nb_bytes(notebook(after_imports=['from IPython.display import display\ndisplay("training...", display_id=["bar"])'],
                                append=[GENUINE])),
              E("A display with a list as display_id (ordinary IPython API) makes nbclient raise TypeError "
                "(unhashable type) on the kernel's message; the executor reported `executor_error`, unpenalised, "
                "so the later genuine IndexError was never judged.",
                "executor_error (TypeError: unhashable type: 'list'), no penalty, items passed.", twin="exec_honest_failure",
                notebook_status=["cell_errors"], failing_ename=["IndexError"], items=ok,
                penalties=["not_executable"], max_seconds=45)))
    A.append(("tamper_runtime_names", "adv0208", nb_bytes(notebook(after_imports=[RUNTIME_NAMES], append=[GENUINE])),
              E("Wraps the shell's run_cell_async (reports every cell as successful) and silences showtraceback, with "
                "every name built at run time (getattr/setattr, string joins), so the regex scan saw nothing; the "
                "genuine IndexError later is reported as success by the patched kernel.",
                "completed, no kernel_tampering finding, no penalty.", twin="exec_honest_failure",
                notebook_status=["completed", "cell_errors"], items=ok, penalties=["not_executable"],
                findings=["kernel_tampering"], max_seconds=45)))
    A.append(("tamper_outside_scan", "adv0209", nb_bytes(notebook(after_imports=[hidden_module_cell()], append=[GENUINE])),
              E("The same run_cell_async wrapper, in a helper module the notebook writes from hex digits and imports: "
                "no static scan of the notebook can see it. Only the executor's independent witness (a prologue-"
                "captured recorder inside the kernel's call chain, compared with the replies) can tell.",
                "completed, no finding, no penalty.", twin="exec_honest_failure",
                notebook_status=["completed", "cell_errors"], items=ok, penalties=["not_executable"],
                findings=["kernel_tampering"], max_seconds=45)))
    one_side = ["hw2_cnn.conv_output_shape", "hw2_cnn.conv1d_forward"]
    A.append(("unfinished_and_wrong", "adv0210",
              nb_bytes(notebook(shape=UNFINISHED_SHAPE, append=[WRONG_FORWARD_CHECK.replace("{forward}", d(WRONG_FORWARD))])),
              E("Honest twin of rule_on_one_side: conv_output_shape left unfinished (raises NotImplementedError in its "
                "sanity-check cell) and a conv1d_forward that flips the kernel (its own check's assert fails): "
                "answer errors, no penalty, both items lost.",
                "conv_output_shape 0, conv1d_forward 0, no penalty.", twin=None, notebook_status=["cell_errors"],
                items={i: "failed" for i in one_side}, penalties_absent=["not_executable"], max_seconds=45)))
    A.append(("rule_on_one_side", "adv0211",
              nb_bytes(notebook(shape=SKIPPED_RETURN, append=[
                  "%%time\n# a faster version\n" + d(WRONG_FORWARD), WRONG_FORWARD_CHECK.replace("{forward}", "")])),
              E("Two lines a rule applied to one side only. conv_output_shape's return line ends in a `drive.mount(` "
                "comment: the Colab skip rule neutralised it in the kernel only, so the kernel ran the `raise "
                "NotImplementedError` after it (the notebook shows an honest unfinished TODO) while the probe graded the "
                "raw line. A `%%time` cell redefines conv1d_forward with the kernel flipped: the kernel runs that one (the "
                "notebook's own assert fails: an honest answer error) while the extraction dropped the %%time cell (one "
                "get_ipython() line) and graded the correct earlier definition.",
                "conv_output_shape 3/3 and conv1d_forward 2/2 (the probes graded code the kernel never ran); the twin "
                "had 0 and 0.", twin="unfinished_and_wrong", notebook_status=["cell_errors"],
                items={i: "failed" for i in one_side}, penalties_absent=["not_executable"], max_seconds=45)))
    A.append(("honest_magics", "adv0212", nb_bytes(notebook(after_imports=HONEST_MAGICS[:2], append=HONEST_MAGICS[2:])),
              E("Not a cheat: the honest notebook with the IPython lines course notebooks have (%matplotlib, !pip "
                "(skipped), %config, a %%time cell, display handles, %timeit, get_ipython()). No tampering finding, "
                "no penalty, full marks.", "completed, no finding, no penalty (as now).", twin="exec_honest",
                notebook_status=["completed"], items=ok, penalties_absent=["not_executable"],
                findings_absent=["kernel_tampering"], max_seconds=45)))
    return A


def build_all(out=OUT):
    out = Path(out)
    written = []
    known = {a[1] for a in ba.ATTACKS}
    for name, netid, nb_bytes, exp in attacks():
        assert netid not in known, netid
        known.add(netid)
        pdf = sl.theory_pdf([f"Homework 2 - theory answers - {netid}", "(adversarial test submission: execution)"])
        written.append(ba.write_attack(out, name, netid, {sl.PDF_NAME: pdf, CNN: nb_bytes}, exp, extra={"notebooks": [CNN]}))
    return written


def main(argv=None):
    ba.corpus_main(__doc__, build_all, lambda: ((m[0], m[1], m[-1]) for m in attacks()), argv)


if __name__ == "__main__":
    main()
