"""Check kinds: a registry of modules, each grading one kind of rubric item."""
from grader.checks import registry
from grader.checks.base import CheckKind, CheckResult, Part, combine

__all__ = ["registry", "CheckKind", "CheckResult", "Part", "combine"]
