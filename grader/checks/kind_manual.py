"""`manual`: graded by a TA (theory PDF, free-text answers). Pending until a score is entered."""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from grader.checks.base import CheckKind, CheckParams, CheckResult
from grader.checks.registry import register


@register
class Manual(CheckKind):
    name = "manual"
    needs_target = False

    class Params(CheckParams):
        source: Literal["pdf", "notebook"] | SkipJsonSchema[None] = Field(
            None, description="where the TA finds the answer (the theory PDF or the notebook)")

    def run(self, ctx, item) -> CheckResult:
        return CheckResult(0.0, "pending", "graded by a TA; pending")
