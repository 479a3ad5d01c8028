"""Grader-chosen inputs, generated from a small spec language in the rubric and a seed.

    3, 2.5, "abc", [2, 3]      literals (lists are decoded element by element)
    {randn: [2, 5]}            a tensor of standard normals of that shape
    {rand: [4]}                uniform [0, 1)
    {randint: [low, high, [shape]]}   an int64 tensor
    {uniform: [low, high]}     a plain Python float
    {tensor: [[1, 2], [3, 4]]} a literal tensor
    {dict: {key: spec, ...}}   a dict of decoded values
The dtype of float tensors is the case's dtype (float64 unless the rubric says otherwise).
"""
from __future__ import annotations

from typing import Any

import numpy as np

INPUT_SPEC_SCHEMA: dict = {}  # any JSON value; validated by `check_spec` at rubric load

_DTYPES = {"float64": np.float64, "float32": np.float32}


def check_spec(spec: Any) -> str | None:
    if isinstance(spec, dict):
        if len(spec) != 1:
            return f"an input generator has exactly one key, got {sorted(spec)}"
        (k, v), = spec.items()
        if k not in ("randn", "rand", "randint", "tensor", "dict", "uniform"):
            return f"unknown input generator {k!r}; use randn, rand, randint, uniform, tensor or dict"
        if k == "dict":
            for x in v.values():
                if (err := check_spec(x)):
                    return err
    elif isinstance(spec, list):
        for x in spec:
            if (err := check_spec(x)):
                return err
    return None


def build(spec: Any, rng: np.random.Generator, dtype: str = "float64"):
    import torch

    if isinstance(spec, dict):
        (k, v), = spec.items()
        if k == "randn":
            return torch.from_numpy(rng.standard_normal(tuple(v)).astype(_DTYPES[dtype]))
        if k == "rand":
            return torch.from_numpy(rng.random(tuple(v)).astype(_DTYPES[dtype]))
        if k == "randint":
            low, high, shape = v
            return torch.from_numpy(rng.integers(low, high, size=tuple(shape)).astype(np.int64))
        if k == "uniform":
            return float(rng.uniform(v[0], v[1]))
        if k == "tensor":
            arr = np.asarray(v)
            return torch.from_numpy(arr.astype(_DTYPES[dtype]) if arr.dtype.kind == "f" else arr)
        if k == "dict":
            return {str(key): build(x, rng, dtype) for key, x in v.items()}
    if isinstance(spec, list):
        return [build(x, rng, dtype) for x in spec]
    return spec


def describe(value: Any) -> Any:
    """A short, JSON-able description of an input for evidence (shapes, not data dumps)."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.numel() <= 12:
            return {"tensor": value.tolist(), "dtype": str(value.dtype).replace("torch.", "")}
        return {"tensor_shape": list(value.shape), "dtype": str(value.dtype).replace("torch.", "")}
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    return value
