"""Helpers for the check-kind tests: notebooks built from the project's solution notebooks."""
from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SOLUTION = ROOT / "reference" / "solution"


def code_cells(name: str) -> list[str]:
    nb = nbformat.read(SOLUTION / name, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def notebook(*cells: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def grade(zip_path: Path, rubric_dir: Path, out: Path, **env_kw) -> dict:
    from grader.pipeline import Env, grade as _grade
    from grader.rubric import load_rubric

    env = Env(rubric=load_rubric(rubric_dir), out_dir=out, **env_kw)
    return _grade(zip_path, env).to_dict()


def items(report: dict) -> dict:
    return {i["id"]: i for i in report["items"]}


def make_zip(path: Path, files: dict) -> Path:
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2026, 2, 27, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            data = files[name]
            zf.writestr(info, data.encode() if isinstance(data, str) else data)
    return path
