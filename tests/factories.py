"""Shared test factories: in-memory notebooks, deterministic zips, paths. Import as
`from factories import ...` from any test directory (pyproject's pytest `pythonpath`
puts tests/, tests/batch, tests/fixtures and scripts/ on the import path)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINI_RUBRIC = FIXTURES / "mini_rubric"
HW2_RUBRIC = ROOT / "rubrics" / "hw2"
SAMPLES = ROOT / "submissions"
ZIP_TIME = (2026, 2, 27, 12, 0, 0)


def notebook_node(*cells: str, markdown: str | None = None) -> nbformat.NotebookNode:
    """A notebook of code cells (after one markdown cell, if given), with a python3 kernelspec."""
    nb = nbformat.v4.new_notebook()
    if markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def make_nb(*cells: str, markdown: str | None = None) -> str:
    """notebook_node's notebook as .ipynb text."""
    return nbformat.writes(notebook_node(*cells, markdown=markdown))


_PDF: bytes | None = None


def pdf_bytes() -> bytes:
    global _PDF
    if _PDF is None:
        from grader.validate import small_pdf

        _PDF = small_pdf("theory answers")
    return _PDF


def make_zip(path: Path, files: dict[str, bytes | str], date_time=ZIP_TIME) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            data = files[name]
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data.encode() if isinstance(data, str) else data)
    return path


GOOD_MINI = make_nb("import torch\n\ndef add(a, b):\n    return a + b", "def count():\n    return 42", "print(add(1, 2))")
GOOD_OTHER = make_nb("def count():\n    return 40 + 2")


def mini_files(**override) -> dict:
    files = {"mini_theory.pdf": pdf_bytes(), "mini.ipynb": GOOD_MINI, "other.ipynb": GOOD_OTHER}
    for k, v in override.items():
        k = k.replace("__", ".")
        if v is None:
            files.pop(k, None)
        else:
            files[k] = v
    return files


def copy_hw2_rubric(tmp_path: Path, mutant_ids) -> Path:
    """rubrics/hw2 copied for `grader validate`, with only the named mutants."""
    import shutil

    import yaml

    d = tmp_path / "hw2"
    shutil.copytree(HW2_RUBRIC, d)
    data = yaml.safe_load((d / "mutants.yaml").read_text())
    data["reference"] = str(ROOT / "reference" / "solution")
    data["starter"] = str(ROOT / "reference" / "starter")
    data["mutants"] = [m for m in data["mutants"] if m["id"] in mutant_ids]
    (d / "mutants.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    a = yaml.safe_load((d / "assignment.yaml").read_text())
    a["support_dir"] = str(ROOT / "reference" / "res")
    (d / "assignment.yaml").write_text(yaml.safe_dump(a, sort_keys=False))
    return d


# The samples of the session's shared graded class (tests/conftest.py graded_class).
GRADED_CLASS = {"full_marks": "ab1234", "partial": "pa3002", "blank_starter": "bs2001"}


def share_cache_entries(src: Path, dst: Path) -> None:
    """Copy the cache entries (directories named by their key) of `src` missing from `dst`,
    each whole: copied under a temporary name, then renamed (readers never see half)."""
    import os
    import shutil

    if not src.is_dir():
        return
    dst.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        if entry.is_dir() and not entry.name.startswith(".") and not (dst / entry.name).exists():
            tmp = dst / f".tmp-{os.getpid()}-{entry.name}"
            shutil.copytree(entry, tmp)
            try:
                os.rename(tmp, dst / entry.name)
            except OSError:  # another process shared it first
                shutil.rmtree(tmp, ignore_errors=True)


def restore_autograd_attrs(monkeypatch) -> None:
    """Every torch attribute the grader's autograd guard (grader/inkernel/autograd_guard.py)
    wraps is put back by `monkeypatch` after the test."""
    import torch.autograd.forward_ad
    import torch.autograd.functional
    import torch.autograd.graph
    import torch.func

    owners = [(torch.autograd, ("grad", "backward", "_engine_run_backward")),
              (torch.autograd.graph, ("_engine_run_backward",)), (torch.Tensor, ("backward",)),
              (torch.autograd.functional, ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp")),
              (torch.autograd.forward_ad, ("make_dual", "unpack_dual", "dual_level")),
              (torch.func, ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "linearize"))]
    for owner, names in owners:
        for n in names:
            if n in vars(owner):
                monkeypatch.setattr(owner, n, vars(owner)[n])


# -- the lab's task generators (tests/reference: both paths of reference/res and reference/lab/res)

def array_digest(arrays) -> str:
    """sha256 over each array's dtype, shape and bytes: the golden values of the generators'
    streams were computed with exactly this function."""
    import hashlib

    import numpy as np

    m = hashlib.sha256()
    for a in arrays:
        m.update(f"{a.dtype.str}{a.shape}".encode())
        m.update(np.ascontiguousarray(a).tobytes())
    return m.hexdigest()


def odd_generator_cases(n: int = 40):
    """n (length range, t1 range, t2 range, batch size, seed) with short sequences and t1/t2
    ranges that reach below 0 and past the end (the general and the fast batch paths must
    then raise alike, after the same draws)."""
    import numpy as np

    pick = np.random.RandomState(0)
    for _ in range(n):
        lo = int(pick.randint(1, 30))
        ranges = ((lo, lo + int(pick.randint(1, 20))), (int(pick.randint(-3, 3)), int(pick.randint(3, 6))),
                  (int(pick.randint(-2, 1)), int(pick.randint(1, lo + 1))))
        yield (*ranges, int(pick.randint(1, 9)), int(pick.randint(0, 10 ** 6)))
