"""The contract every check kind fulfils, and the data it returns.

A check kind is one module in grader/checks/ defining a subclass of CheckKind and
registering it with `@register`. Its `params_schema` is validated when the rubric loads,
so a typo fails at load time, not at grading time. `run()` executes in the trusted grader
process: it may ask the prober to run student code in a sandbox, but it only ever sees
plain data coming back, and it computes the verdict itself (fail closed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    from grader.checks.context import CheckContext
    from grader.rubric.model import ItemSpec


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict. `fraction` of the item's points; fail closed by default."""

    fraction: float = 0.0
    status: str = "failed"  # passed | failed | error | skipped | pending
    feedback: str = ""
    evidence: dict = field(default_factory=dict)

    @classmethod
    def passed(cls, feedback: str = "", **evidence: Any) -> "CheckResult":
        return cls(1.0, "passed", feedback, evidence)

    @classmethod
    def failed(cls, feedback: str, fraction: float = 0.0, **evidence: Any) -> "CheckResult":
        return cls(max(0.0, min(1.0, fraction)), "failed", feedback, evidence)

    @classmethod
    def error(cls, feedback: str, **evidence: Any) -> "CheckResult":
        return cls(0.0, "error", feedback, evidence)


@dataclass(frozen=True)
class Part:
    """One weighted sub-check of an item (partial credit is the weighted sum of parts)."""

    name: str
    weight: float
    ok: bool
    detail: str = ""


def combine(parts: list[Part], evidence: dict | None = None) -> CheckResult:
    total = sum(p.weight for p in parts) or 1.0
    got = sum(p.weight for p in parts if p.ok)
    fraction = got / total
    lines = [("ok   " if p.ok else "FAIL ") + p.name + (f": {p.detail}" if p.detail else "") for p in parts]
    ev = dict(evidence or {})
    ev["parts"] = [{"name": p.name, "weight": p.weight, "ok": p.ok, "detail": p.detail} for p in parts]
    status = "passed" if fraction >= 1.0 - 1e-12 else "failed"
    return CheckResult(fraction, status, "\n".join(lines), ev)


class CheckKind:
    name: ClassVar[str]
    params_schema: ClassVar[dict] = {"type": "object", "additionalProperties": False, "properties": {}}
    needs_target: ClassVar[bool] = True

    def run(self, ctx: "CheckContext", item: "ItemSpec") -> CheckResult:  # pragma: no cover - interface
        raise NotImplementedError

    def instrument(self, item: "ItemSpec") -> "Instrumentation | None":
        """Code this kind needs run in the student's kernel (e.g. exporting a trained model).

        The prologue runs before the first cell, the epilogue after the last one; both are
        grader code but run inside the sandbox, so whatever they write (under the work
        dir's `__grader_exports__/`) is untrusted data for `run()` to validate.
        """
        return None


@dataclass(frozen=True)
class Instrumentation:
    prologue: str = ""
    epilogue: str = ""
