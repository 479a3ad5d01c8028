"""Building blocks for sample submissions: notebooks edited like a student would, a
theory PDF, and byte-reproducible zips. Used by scripts/build_samples.py and meant to
be reused by later sample sets (adversarial ones).
"""
import ast
import copy
import io
import zipfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_NAMES = ("hw2_cnn.ipynb", "hw2_rnn.ipynb", "08-seq_classification.ipynb")
PDF_NAME = "hw2_theory.pdf"
# Every entry gets this timestamp so a rebuild is byte-identical.
ZIP_DATE = (2026, 2, 27, 12, 0, 0)


class SampleError(Exception):
    """A sample could not be built as described (e.g. an edit found nothing to edit)."""


# Notebooks --------------------------------------------------------------------------

def load_notebook(variant, name):
    """A fresh copy of reference/<variant>/<name> ("solution" or "starter")."""
    return nbformat.read(str(ROOT / "reference" / variant / name), as_version=4)


def defined_names(source):
    """Top-level names a cell's source defines (functions, classes, assignments)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def find_cell(nb, name):
    """The code cell defining `name`, or the TODO cell tagged with that name."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.metadata.get("grader", {}).get("todo") == name or name in defined_names(cell.source):
            return cell
    raise SampleError(f"no cell defines {name!r}")


def replace_cell_source(nb, name, source):
    """Returns a copy of nb whose cell defining `name` has the new source."""
    nb = copy.deepcopy(nb)
    find_cell(nb, name).source = source
    return nb


def edit_cell_source(nb, name, old, new, count=1):
    """Returns a copy of nb with `old` replaced by `new` in the cell defining `name`;
    fails loudly when `old` is not there, so a stale edit cannot pass silently."""
    nb = copy.deepcopy(nb)
    cell = find_cell(nb, name)
    if cell.source.count(old) < count:
        raise SampleError(f"cell defining {name!r} does not contain {old!r}")
    cell.source = cell.source.replace(old, new, count)
    return nb


def notebook_bytes(nb):
    return (nbformat.writes(nb) + "\n").encode("utf-8")


# Theory PDF -------------------------------------------------------------------------

def theory_pdf(lines):
    """A one-page PDF holding the given text lines, byte-identical on every build.

    The 14 core PDF fonts keep the file small and its text extractable; no creation date
    is written so the bytes do not depend on the clock.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"pdf.use14corefonts": True, "font.family": "sans-serif",
                                "font.sans-serif": ["Helvetica"], "font.weight": "medium",
                                "pdf.compression": 6}):
        fig = plt.figure(figsize=(8.27, 11.69))
        for i, line in enumerate(lines):
            fig.text(0.08, 0.95 - i * 0.025, line, fontsize=10, va="top")
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf", metadata={"CreationDate": None, "Creator": None,
                                                 "Producer": None})
        plt.close(fig)
    return buf.getvalue()


# Zips ------------------------------------------------------------------------------

def write_zip(path, entries):
    """Writes {archive name: bytes} to path deterministically: sorted names, fixed
    timestamps and permissions. Names ending in "/" become directory entries."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.create_system = 3  # unix, so the permission bits below are honoured
            if name.endswith("/"):
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, entries[name])
    path.write_bytes(buf.getvalue())
    return path
