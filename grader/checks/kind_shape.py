"""`shape`: the target's outputs have the reference's shapes (and a float dtype) for several input sizes."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from grader.checks import inputs as inp
from grader.checks.base import CheckKind, CheckResult, Part, combine
from grader.checks.cases import ReferenceCaseParams, fold_shadows, run_cases
from grader.checks.compare import as_array, kind_of
from grader.checks.registry import register


@register
class Shape(CheckKind):
    name = "shape"
    class Params(ReferenceCaseParams):
        require_float: bool = Field(True, description="the outputs must also have a floating-point dtype")

    def run(self, ctx, item) -> CheckResult:
        if (msg := ctx.missing(item.target)):
            return CheckResult.failed(msg)
        p = self.params(item)
        for case in p.cases:
            if (err := inp.check_spec(case.args)):
                return CheckResult.error(f"rubric input spec: {err}")
        runs = run_cases(ctx, item, p, p.reference)
        per_parts, per_ev = [], []
        for r in runs:
            if isinstance(r.reference, Exception):
                return CheckResult.error(f"the reference failed on {r.label}: {r.reference!r}")
            want = list(np.asarray(r.reference).shape)
            if not r.outcome.ok:
                per_parts.append([Part(r.label, 1.0, False, f"raised {r.outcome.error}")])
                per_ev.append({"label": r.label, "expected_shape": want, "error": r.outcome.error})
                continue
            got = as_array(r.outcome.value)
            if got is None:
                per_parts.append([Part(r.label, 1.0, False, f"expected an array of shape {want}, got {kind_of(r.outcome.value)}")])
                per_ev.append(None)
                continue
            ok = list(got.shape) == want
            detail = f"expected shape {want}, got {list(got.shape)}"
            if ok and p.require_float and got.dtype.kind != "f":
                ok, detail = False, f"shape {want} is right but dtype is {got.dtype}; expected floating point"
            per_parts.append([Part(r.label, 1.0, ok, detail)])
            per_ev.append({"label": r.label, "inputs": r.describe_inputs(), "expected_shape": want, "got_shape": list(got.shape),
                           "got_dtype": str(got.dtype)})
        parts, ev = fold_shadows(runs, per_parts, per_ev)  # fresh inputs: see grader/checks/cases.py
        return combine(parts, {"cases": ev})
