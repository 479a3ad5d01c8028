"""JSON schemas for the rubric YAML files (one assignment file, one file per notebook).

Unknown keys fail at load time (additionalProperties: false); each check kind's own
`params` schema comes from the check registry, so a typo in a parameter fails too.
"""

from grader.lms.deadlines import late_days_schema
from grader.rubric import lms

_SKIP_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["pattern", "reason"],
    "properties": {"pattern": {"type": "string", "minLength": 1}, "reason": {"type": "string"}},
}

# A line rewritten rather than skipped (e.g. forced CUDA -> CPU); applied after the skip
# rules, in the kernel and in the probes' extracted code.
_REWRITE_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["pattern", "replace", "reason"],
    "properties": {"pattern": {"type": "string", "minLength": 1}, "replace": {"type": "string"},
                   "reason": {"type": "string"}},
}

_ENVIRONMENT_ERROR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ename", "reason"],
    "properties": {"ename": {"type": "string", "minLength": 1}, "evalue": {"type": "string"},
                   "reason": {"type": "string", "minLength": 1},
                   "later_cells": {"enum": ["excused", "judged", "cascade"]}},
}

# Time budgets calibrated on the grading machine (grader.execute.budget); the limits the
# code can honour (max_s) are checked by the loader, which names the bound.
_CALIBRATION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["factor", "reference_s", "baseline_benchmark_s"],
    "properties": {
        "factor": {"type": "number", "exclusiveMinimum": 0},
        "reference_s": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": r"\.ipynb$"},
                        "additionalProperties": {"type": "number", "exclusiveMinimum": 0}},
        "baseline_benchmark_s": {"type": "number", "exclusiveMinimum": 0},
        "min_s": {"type": "number", "exclusiveMinimum": 0},
        "max_s": {"type": "number", "exclusiveMinimum": 0},
    },
}

EXECUTION = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "calibration": _CALIBRATION,
        "on_cut": {"enum": ["penalty", "ta"]},
        "cell_timeout_s": {"type": "number", "exclusiveMinimum": 0},
        "notebook_timeout_s": {"type": "number", "exclusiveMinimum": 0},
        "memory_mb": {"type": "integer", "minimum": 256},
        "max_output_kb": {"type": "integer", "minimum": 1},
        "disk_mb": {"type": "integer", "minimum": 16},
        "skip_cells": {"type": "array", "items": _SKIP_RULE},
        "rewrite_lines": {"type": "array", "items": _REWRITE_RULE},
    },
}

PERCENT = {"type": "number", "minimum": 0, "maximum": 100}


def _gradescope_schema() -> dict:
    from grader.rubric.gradescope import json_schema

    return json_schema()

# Data the course provides (grader/offline.py): mounted read-only where notebooks expect it.
_DATASET = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "source", "mount"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+$"},
        "source": {"type": "string", "minLength": 1},
        "mount": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "reason": {"type": "string"},
    },
}

# The students' Python environment (grader/studentenv.py): what the course's Colab had.
_REQS = {"type": "array", "items": {"type": "string", "minLength": 1}}
STUDENT_ENVIRONMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "packages"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+$"},
        "packages": _REQS,
        "optional": {"type": "array", "items": _REQS},
        "python": {"type": "string", "minLength": 1},
        "note": {"type": "string"},
    },
}

ASSIGNMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "assignment", "title", "deadline", "timezone", "files", "penalties"],
    "properties": {
        "schema": {"const": 1},
        "assignment": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+$"},
        "title": {"type": "string"},
        # which run of the course this rubric grades (e.g. "Fall 2021 (Homework 3)"), for people
        "semester": {"type": "string", "minLength": 1},
        # files of the extended rubric renamed (grader/rubric/extend.py), composed along the chain
        "rename": {"type": "object", "additionalProperties": {"type": "string", "pattern": r"^[^/\\]+$"}},
        "deadline": {"type": "string", "format": "date-time-local"},
        "timezone": {"type": "string"},
        "netid_pattern": {"type": "string"},
        "zip_name": {"type": "string", "pattern": r"\{netid\}"},
        "files": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "kind"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "kind": {"enum": ["pdf", "notebook"]},
                    "rubric": {"type": "string"},
                },
            },
        },
        "ignore": {"type": "array", "items": {"type": "string"}},
        "penalties": {
            "type": "object",
            "additionalProperties": False,
            "required": ["naming", "extra_files", "late", "not_executable"],
            "properties": {
                "naming": PERCENT,
                "extra_files": PERCENT,
                "not_executable": PERCENT,
                "late": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["percent", "grace_hours"],
                    "properties": {"percent": PERCENT, "grace_hours": {"type": "number", "minimum": 0}},
                },
            },
        },
        "execution": EXECUTION,
        "support_dir": {"type": "string"},
        "split": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
        "manual_items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
        # how the grade lands in the LMS gradebook (grader/rubric/lms.py declares it)
        "lms": lms.json_schema(),
        "environment_errors": {"type": "array", "items": _ENVIRONMENT_ERROR},
        "datasets": {"type": "array", "items": _DATASET},
        "environment": STUDENT_ENVIRONMENT,
        # late-day tokens (grader/lms/deadlines.py declares them)
        "late_days": late_days_schema(),
        # what Gradescope's results add, e.g. a leaderboard (grader/rubric/gradescope.py)
        "gradescope": _gradescope_schema(),
        # the most extra-credit points counted (items with `extra_credit: true`); none: their sum
        "extra_credit_cap": {"type": "number", "minimum": 0},
    },
}

ITEM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "title", "points", "kind"],
    "properties": {
        "id": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_.-]+$"},
        "title": {"type": "string", "minLength": 1},
        "points": {"type": "number", "minimum": 0},
        "kind": {"type": "string"},
        "target": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
        "params": {"type": "object"},
        "visibility": {"enum": ["visible", "hidden"]},
        "feedback": {"type": "string"},
        "part": {"type": "string"},
        "guide": {"type": "string"},
        # points above the maximum: never counted in max_score, never a loss when skipped
        "extra_credit": {"type": "boolean"},
    },
}

ASSIGNMENT["$defs"] = {"item": ITEM}

NOTEBOOK = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "notebook", "items"],
    "properties": {
        "schema": {"const": 1},
        "notebook": {"type": "string", "pattern": r"\.ipynb$"},
        "seed": {"type": "integer", "minimum": 0},
        "execution": EXECUTION,
        "items": {"type": "array", "items": ITEM},
    },
}
