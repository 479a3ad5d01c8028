"""Rubric loading and validation: `load_rubric(path)` returns a frozen `Rubric`."""
from grader.rubric.load import load_rubric, load_yaml_validated
from grader.rubric.model import ItemSpec, NotebookRubric, Rubric

__all__ = ["load_rubric", "load_yaml_validated", "ItemSpec", "NotebookRubric", "Rubric"]
