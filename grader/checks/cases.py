"""Shared machinery for check kinds that call a target on cases and compare with a reference.

Fresh inputs (evidence, not trust): a rubric case's inputs follow from the rubric's seed and
the item id, both public, and the reference is in the grader's source, so a notebook can
hold a table of the exact answers to the exact inputs. Every case whose inputs are drawn at
random therefore gets a private twin: the same spec drawn with a seed from the grader's
secret and the submitted code (grader/checks/_integrity.private_seed; a table written
for it changes the code, hence the inputs). `fold_shadows` lets a case pass only when its
private twin passes too; the twins' inputs are never shown (only their verdicts)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from grader.checks import inputs as inp
from grader.checks.base import CheckParams, timeout_field
from grader.checks.compare import load_reference, ref_to_numpy
from grader.probe import Call, Outcome

DTYPES = ("float64", "float32")
Dtype = Literal[DTYPES]
# "module:function", a function of the grader's reference code (grader.checks.compare.load_reference)
REFERENCE_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class Case(CheckParams):
    """One call of the target: inputs as specs (grader.checks.inputs), drawn per case."""

    args: list[Any] = Field(description="positional argument specs (grader/checks/inputs.py)")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword argument specs")
    dtype: Dtype | SkipJsonSchema[None] = Field(None, description="this case's float dtype (default: the item's `dtype`)")
    label: str | SkipJsonSchema[None] = Field(None, description="the case's name in feedback (default: 'case N')")

    def spec(self) -> dict:
        """The case as the rubric wrote it (the reference cache's key)."""
        return self.model_dump(mode="json", exclude_unset=True)


class CaseParams(CheckParams):
    """Parameters shared by the kinds that call a target on cases."""

    cases: tuple[Case, ...] = Field(min_length=1, description="the calls to make (each random case gets a private twin)")
    dtype: Dtype = Field("float64", description="float dtype of the drawn inputs")
    timeout_s: float = timeout_field(20.0)


class ReferenceCaseParams(CaseParams):
    reference: str = Field(pattern=REFERENCE_PATTERN, description="the reference implementation, `module:function`")


@dataclass
class CaseRun:
    label: str
    args: list
    kwargs: dict
    outcome: Outcome
    reference: Any  # numpy tree, or an Exception if the reference itself failed
    seed: int = 0  # the seed its inputs were drawn with
    shadow_of: int | None = None  # a private twin: the index of the public case it checks

    def describe_inputs(self) -> dict:
        return {"args": inp.describe(self.args), "kwargs": inp.describe(self.kwargs)}


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


RANDOM_GENERATORS = ("randn", "rand", "randint", "uniform")
SHADOW_NOTE = ("right on the rubric's published inputs but wrong on fresh inputs of the same shapes that the grader "
               "drew itself: answers that fit only the grader's known inputs are not a solution")


def is_random(spec: Any) -> bool:
    if isinstance(spec, dict):
        return any(k in RANDOM_GENERATORS or is_random(v) for k, v in spec.items())
    if isinstance(spec, list):
        return any(is_random(x) for x in spec)
    return False


def _shadow_seed(ctx, item, i: int) -> int:
    from grader.checks._integrity import private_seed

    try:
        code = hashlib.sha256(ctx.module_for(item.target).encode("utf-8", "replace")).hexdigest()
    except Exception:  # no extraction: the seed still does not follow from the rubric
        code = ""
    return private_seed("fresh-inputs", ctx.notebook.seed, item.id, i, code)


def run_cases(ctx, item, params: CaseParams, reference: str | None, shadows: bool = True) -> list[CaseRun]:
    """The public cases, then (`shadows`) a private twin of each case with random inputs;
    `reference` ("module:function") computes each case's expected value, None for none."""
    cases = params.cases
    ref_fn = load_reference(reference) if reference else None
    built = []
    for i, case in enumerate(cases):
        dtype = case.dtype or params.dtype
        seed = ctx.seed_for(item, f"case{i}")
        rng = np.random.default_rng(seed)
        args = inp.build(case.args, rng, dtype)
        kwargs = {k: inp.build(v, rng, dtype) for k, v in case.kwargs.items()}
        built.append((case.label if case.label is not None else f"case {i + 1}", args, kwargs, dtype, i, seed, None))
    if shadows:
        for i, case in enumerate(cases):
            if not (is_random(case.args) or is_random(case.kwargs)):
                continue
            dtype = case.dtype or params.dtype
            seed = _shadow_seed(ctx, item, i)
            rng = np.random.default_rng(seed)
            args = inp.build(case.args, rng, dtype)
            kwargs = {k: inp.build(v, rng, dtype) for k, v in case.kwargs.items()}
            built.append((f"{case.label if case.label is not None else f'case {i + 1}'} (fresh inputs)", args, kwargs, dtype, i, seed, i))
    timeout = params.timeout_s
    outcomes = ctx.probe([item.target], [Call(item.target, tuple(b[1]), b[2], timeout) for b in built])
    runs = []
    for (label, args, kwargs, dtype, i, seed, shadow_of), outcome in zip(built, outcomes):
        ref: Any = None
        if ref_fn is not None:
            key = _key(reference, cases[i].spec(), dtype, seed)

            def compute(args=args, kwargs=kwargs):
                try:
                    return ref_to_numpy(ref_fn(*_clone(args), **_clone(kwargs)))
                except Exception as exc:  # a reference failure is the grader's bug: shown as error
                    return exc

            ref = ctx.reference(key, compute)
        runs.append(CaseRun(label, args, kwargs, outcome, ref, seed, shadow_of))
    return runs


def fold_shadows(runs: list[CaseRun], per_run_parts: list[list], per_run_ev: list[dict | None]) -> tuple[list, list]:
    """(parts, evidence) of the public cases: a public case that passes while its private
    twin fails fails, with the reason; the twins' own parts are not scored (the item's
    weights stay the rubric's) and their evidence is their verdict only."""
    from grader.checks.base import Part

    shadow_ok: dict[int, bool] = {}
    for r, parts in zip(runs, per_run_parts):
        if r.shadow_of is not None:
            shadow_ok[r.shadow_of] = shadow_ok.get(r.shadow_of, True) and all(p.ok for p in parts)
    parts_out, ev_out = [], []
    for k, (r, parts, ev) in enumerate(zip(runs, per_run_parts, per_run_ev)):
        if r.shadow_of is not None:
            ev_out.append({"label": r.label, "private": True, "ok": all(p.ok for p in parts)})
            continue
        if parts and all(p.ok for p in parts) and shadow_ok.get(k) is False:
            parts = [Part(p.name, p.weight, False, (p.detail + "; " if p.detail else "") + SHADOW_NOTE) for p in parts]
            if isinstance(ev, dict):
                ev = {**ev, "ok": False, "fresh_inputs_ok": False}
        parts_out.extend(parts)
        if ev is not None:
            ev_out.append(ev)
    return parts_out, ev_out


def _clone(v):
    import torch

    if isinstance(v, torch.Tensor):
        return v.clone()
    if isinstance(v, list):
        return [_clone(x) for x in v]
    if isinstance(v, dict):
        return {k: _clone(x) for k, x in v.items()}
    return v
