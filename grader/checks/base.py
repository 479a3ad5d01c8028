"""The contract every check kind fulfils, and the data it returns.

A check kind is one module in grader/checks/ defining a subclass of CheckKind and
registering it with `@register`. Its parameters are one typed, frozen model (`Params`, a
subclass of `CheckParams`): each field's type, default, bounds and help text are declared
once there, and the rubric's JSON schema (`params_schema`), the loader's validation and the
README's table of kinds are generated from it, so a typo or an out-of-range value fails at
load time, not at grading time. `run()` executes in the trusted grader process: it may ask
the prober to run student code in a sandbox, but it only ever sees plain data coming back,
and it computes the verdict itself (fail closed).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # pragma: no cover
    from grader.checks.context import CheckContext
    from grader.rubric.model import ItemSpec


def _probe_wall_s() -> float:
    """The longest a probe may run (grader.probe.Prober's `max_wall_s`): a call's timeout
    above it cannot be honoured, so rubric timeouts are bounded by it at load time."""
    from grader import probe

    const = getattr(probe, "MAX_WALL_S", None)
    if const is not None:
        return float(const)
    return float(inspect.signature(probe.Prober.__init__).parameters["max_wall_s"].default)


PROBE_WALL_S = _probe_wall_s()

# Identifier-shaped rubric strings (a notebook's class, function or variable name).
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


def timeout_field(default: float, what: str = "each call") -> Any:
    """A probe call's time limit: > 0 and at most what the prober can honour."""
    return Field(default, gt=0, le=PROBE_WALL_S,
                 description=f"seconds {what} of the target may run (the probe's wall limit is {PROBE_WALL_S:g} s)")


class CheckParams(BaseModel):
    """Base of every kind's parameter model: unknown keys are errors, values are frozen.

    Attribute access is the typed view. `params["name"]` reads a value as the rubric's
    YAML would write it (lists, not tuples), for code that compares with the rubric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __getitem__(self, name: str) -> Any:
        if name not in type(self).model_fields:
            raise KeyError(name)
        return self.model_dump(mode="json", include={name})[name]

    @classmethod
    def of(cls, params: "CheckParams | Mapping[str, Any] | None"):
        """The typed parameters from a model or from a rubric mapping (validated)."""
        if isinstance(params, cls):
            return params
        if isinstance(params, CheckParams):
            params = dict(params)
        return cls.model_validate(dict(params or {}))


class NoParams(CheckParams):
    """A kind without parameters."""


def json_schema(model: type[CheckParams]) -> dict:
    """The JSON schema (Draft 2020-12) of a parameter model, as the rubric loader uses it."""
    return model.model_json_schema(mode="validation")


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
    # The kind's parameters; `params_schema` is generated from it at registration.
    Params: ClassVar[type[CheckParams]] = NoParams
    params_schema: ClassVar[dict]
    needs_target: ClassVar[bool] = True
    # Scored by a person, never by the grader: the item stays `pending` until a TA's score
    # (the TA sheet, the review page) and takes one whatever the grader judged.
    by_ta: ClassVar[bool] = False

    def params(self, item: "ItemSpec") -> CheckParams:
        """The item's typed parameters (the loader stores the model; tests may pass a dict)."""
        return self.Params.of(item.params)

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
    # What is recorded (grader/checks/_exports.recording_key): the hidden cells' id in the
    # executor's records and the exports' file stem. Never the item's id: the prologue is
    # part of the execution's cache key, and items that record the same thing share it.
    key: str = ""
