"""`manual`: graded by a TA (theory PDF, free-text answers). Pending until a score is entered; with `plots_after` the grader lists the notebook's pictures per cell as evidence for the TA (never a score)."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from grader.checks.base import CheckKind, CheckParams, CheckResult
from grader.checks.registry import register


@register
class Manual(CheckKind):
    name = "manual"
    needs_target = False
    by_ta = True

    class Params(CheckParams):
        source: Literal["pdf", "notebook"] | SkipJsonSchema[None] = Field(
            None, description="where the TA finds the answer (the theory PDF or the notebook)")
        plots_after: str | SkipJsonSchema[None] = Field(
            None, min_length=1,
            description="a regex over markdown cells (e.g. '^#+\\s*8\\b' for the Section-8 heading): the item's "
                        "evidence lists the notebook's code cells with pictures (image/png outputs), counted by the "
                        "grader, and which come at or after that heading; evidence for the TA, never a score")

        @field_validator("plots_after")
        @classmethod
        def _regex(cls, v):
            if v is not None:
                try:
                    re.compile(v)
                except re.error as exc:
                    raise ValueError(f"not a valid regex: {exc}") from None
            return v

    def run(self, ctx, item) -> CheckResult:
        params = self.Params.of(item.params)
        evidence = {}
        if params.plots_after is not None and ctx is not None:
            from grader.checks.plot_evidence import plot_evidence

            run = getattr(ctx, "run", None)
            evidence["plots"] = plot_evidence(getattr(run, "executed_notebook", None),
                                              getattr(ctx, "submitted", None), params.plots_after)
        return CheckResult(0.0, "pending", "graded by a TA; pending", evidence)
