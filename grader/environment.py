"""What a grade depends on besides the submission: versions, seeds, isolation in force."""
from __future__ import annotations

import functools
import platform
import sys
from importlib import metadata

from grader.rubric.model import Rubric


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=8)
def _isolation(prefer: str) -> tuple:
    try:
        from grader import sandbox
    except ImportError as exc:  # pragma: no cover - the sandbox package ships with the grader
        return ("none", None, (), (f"sandbox module unavailable: {exc}",))
    iso = sandbox.detect_isolation(prefer=None if prefer == "auto" else prefer)
    return (iso.mode, iso.uid, tuple(iso.features), tuple(iso.missing))


def isolation(prefer: str = "auto") -> dict:
    mode, uid, features, missing = _isolation(prefer)
    return {"mode": mode, "uid": uid, "features": list(features), "missing": list(missing)}


def describe(rubric: Rubric, iso: dict) -> dict:
    return {
        "grader_version": _version("dl-grader"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in ("torch", "numpy", "nbclient", "nbformat", "ipykernel")},
        "rubric": {"assignment": rubric.assignment, "directory": str(rubric.directory)},
        "seeds": {nb.notebook: nb.seed for nb in rubric.notebooks},
        "isolation": iso,
    }
