"""`manual`: graded by a TA (theory PDF, free-text answers). Pending until a score is entered."""
from __future__ import annotations

from grader.checks.base import CheckKind, CheckResult
from grader.checks.registry import register


@register
class Manual(CheckKind):
    name = "manual"
    needs_target = False
    params_schema = {"type": "object", "additionalProperties": False,
                     "properties": {"source": {"enum": ["pdf", "notebook"]}}}

    def run(self, ctx, item) -> CheckResult:
        return CheckResult(0.0, "pending", "graded by a TA; pending")
