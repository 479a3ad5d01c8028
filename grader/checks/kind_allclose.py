"""`allclose`: the target's values equal the reference's on every case, within tolerances.

Also for exact answers (ints, tuples of ints such as conv_output_shape, param counts):
integers are compared exactly. Partial credit: the fraction of cases that pass.

`show_expected`: whether failing feedback quotes the expected values. Default: yes for
values compared within a tolerance, no for exact answers (quoting an exact answer gives
it away); never for hidden items.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from grader.checks import inputs as inp
from grader.checks.base import CheckKind, Part, combine, CheckResult
from grader.checks.cases import ReferenceCaseParams, fold_shadows, run_cases
from grader.checks.compare import compare_values
from grader.checks.registry import register


@register
class AllClose(CheckKind):
    name = "allclose"
    class Params(ReferenceCaseParams):
        rtol: Annotated[float, Field(ge=0)] | SkipJsonSchema[None] = Field(None, description="relative tolerance (default: numpy's, by dtype)")
        atol: Annotated[float, Field(ge=0)] | SkipJsonSchema[None] = Field(None, description="absolute tolerance (default: numpy's, by dtype)")
        exact: bool = Field(False, description="compare floats exactly too (integers always are)")
        all_or_nothing: bool = Field(False, description="no partial credit: any failing case scores 0")
        show_expected: bool | SkipJsonSchema[None] = Field(
            None, description="quote expected values in failing feedback (default: for toleranced values only; never for hidden items)")

    def run(self, ctx, item) -> CheckResult:
        if (msg := ctx.missing(item.target)):
            return CheckResult.failed(msg)
        p = self.params(item)
        for case in p.cases:
            if (err := inp.check_spec(case.args)):
                return CheckResult.error(f"rubric input spec: {err}")
        runs = run_cases(ctx, item, p, p.reference)
        show = False if item.visibility == "hidden" else p.show_expected
        per_parts, per_ev = [], []
        for r in runs:
            if isinstance(r.reference, Exception):
                return CheckResult.error(f"the reference failed on {r.label}: {r.reference!r}")
            if not r.outcome.ok:
                per_parts.append([Part(r.label, 1.0, False, f"raised {r.outcome.error}")])
                per_ev.append({"label": r.label, "inputs": r.describe_inputs(), "error": r.outcome.error})
                continue
            c = compare_values(r.outcome.value, r.reference, p.rtol, p.atol, p.exact, show)
            per_parts.append([Part(r.label, 1.0, c.ok, c.detail)])
            per_ev.append({"label": r.label, "inputs": r.describe_inputs(), "ok": c.ok, **c.evidence, "returned": r.outcome.meta})
        parts, cases_ev = fold_shadows(runs, per_parts, per_ev)  # fresh inputs: see grader/checks/cases.py
        res = combine(parts, {"cases": cases_ev})
        if p.all_or_nothing and res.status != "passed":
            return CheckResult.failed(res.feedback, 0.0, **res.evidence)
        return res
