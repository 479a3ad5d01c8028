"""Building blocks for sample submissions: notebooks edited like a student would, a
theory PDF, and byte-reproducible zips. Used by scripts/build_samples.py and meant to
be reused by later sample sets (adversarial ones).
"""
import io
import zipfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_NAMES = ("hw2_cnn.ipynb", "hw2_rnn.ipynb", "08-seq_classification.ipynb")
PDF_NAME = "hw2_theory.pdf"
# Every entry gets this timestamp so a rebuild is byte-identical.
ZIP_DATE = (2026, 2, 27, 12, 0, 0)


# The cell-editing helpers live in the grader (its mutants use them too).
from grader.nbedit import EditError as SampleError  # noqa: E402,F401
from grader.nbedit import defined_names, edit_cell_source, find_cell, replace_cell_source  # noqa: E402,F401


# Notebooks --------------------------------------------------------------------------

def load_notebook(variant, name):
    """A fresh copy of reference/<variant>/<name> ("solution" or "starter")."""
    return nbformat.read(str(ROOT / "reference" / variant / name), as_version=4)


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
