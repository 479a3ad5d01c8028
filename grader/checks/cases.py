"""Shared machinery for check kinds that call a target on cases and compare with a reference."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.checks import inputs as inp
from grader.checks.compare import load_reference, ref_to_numpy
from grader.probe import Call, Outcome

CASES_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["args"],
        "properties": {
            "args": {"type": "array"},
            "kwargs": {"type": "object"},
            "dtype": {"enum": ["float64", "float32"]},
            "label": {"type": "string"},
        },
    },
}

COMMON_PROPS = {
    "reference": {"type": "string", "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"},
    "cases": CASES_SCHEMA,
    "dtype": {"enum": ["float64", "float32"]},
    "timeout_s": {"type": "number", "exclusiveMinimum": 0},
}


@dataclass
class CaseRun:
    label: str
    args: list
    kwargs: dict
    outcome: Outcome
    reference: Any  # numpy tree, or an Exception if the reference itself failed

    def describe_inputs(self) -> dict:
        return {"args": inp.describe(self.args), "kwargs": inp.describe(self.kwargs)}


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def run_cases(ctx, item, params: dict) -> list[CaseRun]:
    cases = params["cases"]
    ref_fn = load_reference(params["reference"]) if params.get("reference") else None
    built = []
    for i, case in enumerate(cases):
        dtype = case.get("dtype", params.get("dtype", "float64"))
        rng = np.random.default_rng(ctx.seed_for(item, f"case{i}"))
        args = inp.build(case["args"], rng, dtype)
        kwargs = {k: inp.build(v, rng, dtype) for k, v in case.get("kwargs", {}).items()}
        built.append((case.get("label", f"case {i + 1}"), args, kwargs, dtype, i))
    timeout = float(params.get("timeout_s", 20))
    outcomes = ctx.probe([item.target], [Call(item.target, tuple(a), k, timeout) for _, a, k, _, _ in built])
    runs = []
    for (label, args, kwargs, dtype, i), outcome in zip(built, outcomes):
        ref: Any = None
        if ref_fn is not None:
            key = _key(params["reference"], cases[i], dtype, ctx.seed_for(item, f"case{i}"))

            def compute(args=args, kwargs=kwargs):
                try:
                    return ref_to_numpy(ref_fn(*_clone(args), **_clone(kwargs)))
                except Exception as exc:  # a reference failure is the grader's bug: shown as error
                    return exc

            ref = ctx.reference(key, compute)
        runs.append(CaseRun(label, args, kwargs, outcome, ref))
    return runs


def _clone(v):
    import torch

    if isinstance(v, torch.Tensor):
        return v.clone()
    if isinstance(v, list):
        return [_clone(x) for x in v]
    if isinstance(v, dict):
        return {k: _clone(x) for k, x in v.items()}
    return v
