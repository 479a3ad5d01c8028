"""What a grade depends on besides the submission: versions, seeds, isolation in force."""
from __future__ import annotations

import functools
import platform
import sys
from importlib import metadata

from grader import offline
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


def describe(rubric: Rubric, iso: dict, student_env=None) -> dict:
    """`packages` are the grader's own; `student_environment` is where the notebooks and
    probes ran (grader/studentenv.py), or the grader's own interpreter when it says so."""
    if student_env is not None:
        senv = student_env.describe()
    else:
        spec = rubric.environment
        senv = {"name": "grader's own", "python": sys.version.split()[0],
                "declared": spec.name if spec is not None else None}
    return {
        "student_environment": senv,
        "grader_version": _version("dl-grader"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in ("torch", "numpy", "nbclient", "nbformat", "ipykernel")},
        "rubric": {"assignment": rubric.assignment, "directory": str(rubric.directory)},
        "seeds": {nb.notebook: nb.seed for nb in rubric.notebooks},
        "isolation": iso,
        # the course data the notebooks were given, and how (grader/offline.py)
        "datasets": offline.describe(rubric.datasets, iso.get("mode", "none")),
    }
