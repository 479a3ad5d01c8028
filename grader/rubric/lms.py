"""The rubric's `lms:` block (assignment.yaml): how the grade lands in the LMS's gradebook.

    lms:
      brightspace_grade_item: "Homework 2"   # the grade item's name in Brightspace
      canvas_assignment: "Homework 2"        # the assignment's name in Canvas
      canvas_assignment_id: 4411             # its Canvas id (the number in its URL)
      pending: withhold                      # TA points pending: leave the grade blank (or: partial)
      cap_at_max: false                      # extra credit may take the total above the maximum

Declared once here: the JSON schema the loader validates with is generated from this model,
and the loaded rubric holds the model (Rubric.lms). The command line overrides the names
(`--lms-grade-item`, `--lms-assignment`, `--lms-assignment-id`); see grader/lms/gradebooks.py.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_NAME = dict(min_length=1, max_length=200, pattern=r"^[^\r\n]+$")


class LmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    brightspace_grade_item: str | None = Field(
        None, **_NAME, description="the Brightspace grade item (default: the assignment's id, e.g. hw2)")
    canvas_assignment: str | None = Field(
        None, **_NAME, description="the Canvas assignment's name (default: the assignment's id, e.g. hw2)")
    canvas_assignment_id: int | None = Field(
        None, ge=1, description="the Canvas assignment's id; without it Canvas creates a new assignment on import")
    pending: Literal["withhold", "partial"] = Field(
        "withhold", description="a student with TA points pending: leave the LMS grade blank, or write the score so far")
    cap_at_max: bool = Field(False, description="write at most the maximum score (extra credit cut off)")


def json_schema() -> dict:
    return LmsSettings.model_json_schema(mode="validation")
