"""The rubric's `gradescope:` block (assignment.yaml): what the Gradescope results add.

    gradescope:
      leaderboard:                       # optional; none: no leaderboard
        - name: "Section 8: final accuracy"
          item: 08-seq_classification.loss_curve
          value: final_accuracy          # a number in that item's evidence
          order: desc                    # higher is better (asc: lower is better)

Each entry puts one number the grader computed itself (a key of the item's evidence, e.g.
`final_accuracy` or `max_rise` of a loss_curve item, `accuracy` of a validation_accuracy
item) on Gradescope's leaderboard; a submission whose item produced no such number gets no
entry. Declared once here: the JSON schema the loader validates with is generated from this
model, and the loaded rubric holds it (Rubric.gradescope). The loader checks that each entry
names an automatic, visible item (a hidden item's numbers are never shown to students).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LeaderboardEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80, pattern=r"^[^\r\n]+$",
                      description="the leaderboard column's title, as students see it")
    item: str = Field(pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_.-]+$", description="the rubric item whose evidence holds the value")
    value: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_]+$",
                       description="the evidence key, e.g. final_accuracy (loss_curve) or accuracy (validation_accuracy)")
    order: Literal["asc", "desc"] = Field("desc", description="desc: higher is better; asc: lower is better")


class GradescopeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    leaderboard: tuple[LeaderboardEntry, ...] = Field((), max_length=10)


def json_schema() -> dict:
    """The block's JSON schema with its definitions inlined (it is embedded in the
    assignment file's schema, whose `$defs` are its own)."""
    raw = GradescopeSettings.model_json_schema(mode="validation")
    defs = raw.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(raw)


def load(raw: dict | None, items) -> tuple[GradescopeSettings, str | None]:
    """(settings, None), or (defaults, "<yaml path>: <why>") when an entry names an item that
    cannot feed a leaderboard. `raw` was already validated against json_schema()."""
    settings = GradescopeSettings.model_validate(raw or {})
    by_id = {i.id: i for i in items}
    for n, entry in enumerate(settings.leaderboard):
        item = by_id.get(entry.item)
        where = f"gradescope.leaderboard[{n}].item"
        if item is None:
            return GradescopeSettings(), f"{where}: bad value {entry.item!r}: no such item (ids: {', '.join(sorted(by_id))[:300]})"
        if item.by_ta:
            return GradescopeSettings(), f"{where}: bad value {entry.item!r}: a manual item has no computed value"
        if item.visibility == "hidden":
            return GradescopeSettings(), f"{where}: bad value {entry.item!r}: the item is hidden from students"
    return settings, None
