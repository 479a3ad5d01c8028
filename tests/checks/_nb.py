"""Helpers for the check-kind tests: notebooks built from the project's solution notebooks
(the notebook and zip factories are tests/factories.py's)."""
from __future__ import annotations

from pathlib import Path

import nbformat

from factories import make_nb as notebook, make_zip  # noqa: F401  (re-exported for the check tests)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SOLUTION = ROOT / "reference" / "solution"


def code_cells(name: str) -> list[str]:
    nb = nbformat.read(SOLUTION / name, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]




def grade(zip_path: Path, rubric_dir: Path, out: Path, **env_kw) -> dict:
    from grader.pipeline import Env, grade as _grade
    from grader.rubric import load_rubric

    env = Env(rubric=load_rubric(rubric_dir), out_dir=out, **env_kw)
    return _grade(zip_path, env).to_dict()


def items(report: dict) -> dict:
    return {i["id"]: i for i in report["items"]}
