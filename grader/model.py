"""Results: frozen data that flows between the stages and into the canonical report.

Specs (what the rubric asks) live in grader.rubric.model; presentation lives in
grader.report. Everything here converts to plain JSON with `to_dict()`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("passed", "failed", "error", "skipped", "pending")


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if not f.name.startswith("_")}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dt.datetime):
        return obj.isoformat()
    return obj


@dataclass(frozen=True)
class Finding:
    """Something intake or execution noticed, shown to the instructor (and the student)."""

    code: str  # machine-readable, e.g. "junk_ignored", "misnamed", "pdf_unreadable"
    message: str
    severity: str = "info"  # info | warning | error


@dataclass(frozen=True)
class Penalty:
    rule: str  # naming | extra_files | late | not_executable | too_late
    percent: float
    reason: str


@dataclass(frozen=True)
class FoundFile:
    role: str  # the expected name, e.g. "hw2_rnn.ipynb"
    path: Path  # where intake put it (inside the job's unpack dir)
    name_in_zip: str
    exact: bool  # False when found by a fuzzy match (a naming penalty applies)


@dataclass(frozen=True)
class Submission:
    netid: str
    source: Path
    sha256: str
    unpack_dir: Path | None
    files: dict[str, FoundFile]
    findings: tuple[Finding, ...]
    penalties: tuple[Penalty, ...]
    submitted_at: dt.datetime | None
    submitted_at_source: str  # "--submitted-at" | "newest file time in the zip (set by the student's machine)" | "unknown"
    accepted: bool  # False: too late, or the zip could not be read at all
    rejection: str = ""


@dataclass(frozen=True)
class CellOutcome:
    index: int  # 0-based index among all cells of the notebook
    status: str  # ok | error | timeout | dead | skipped | not_run
    seconds: float = 0.0
    ename: str = ""
    evalue: str = ""
    note: str = ""  # e.g. why a cell (or line) was skipped


@dataclass(frozen=True)
class ExecBudget:
    """The time a notebook was given and how it was derived (grader.execute.budget)."""

    notebook_s: float  # the whole notebook's budget
    cell_s: float  # the per-cell limit (under calibration: the notebook's budget)
    source: str  # "calibrated" | "fixed"
    derivation: str  # e.g. "900 s = 10 x the reference solution's 60 s on this machine (speed x1.5)"
    factor: float | None = None
    reference_s: float | None = None  # the reference solution's time where the rubric was calibrated
    reference_here_s: float | None = None  # reference_s x speed: its expected time on this machine
    speed: float | None = None  # this machine's benchmark / baseline_benchmark_s (> 1: slower)
    benchmark_s: float | None = None  # the calibration workload's time on this machine
    baseline_benchmark_s: float | None = None
    benchmark_source: str | None = None  # measured | cache file | environment
    clamped: str | None = None  # "min_s" | "max_s" when the rubric's bound applied


@dataclass(frozen=True)
class CellCut:
    """A cell stopped at its time limit (grader/execute/executor.py)."""

    cell: int  # index among all cells
    ran_s: float  # how long the cell had run when it was cut
    limit_s: float  # the limit that cut it
    which: str  # "cell" (per-cell limit) | "notebook" (what was left of the notebook's budget)
    interrupted: bool  # the kernel stopped after the interrupt (False: it ignored it or died)
    exports: str  # ran | failed | not_run (kernel still busy) | none (no exports for this notebook)
    note: str = ""


@dataclass(frozen=True)
class NotebookRun:
    notebook: str  # expected file name
    status: str  # completed | cell_errors | timeout | dead_kernel | executor_crashed | invalid | missing | not_run
    executed: bool  # ran top to bottom without an error
    seconds: float
    n_cells: int
    cells: tuple[CellOutcome, ...]  # only the notable ones: errors, timeouts, skips
    message: str = ""
    output_truncated: bool = False
    peak_memory_mb: float | None = None
    executed_notebook: Path | None = None  # trusted copy written by the executor
    exports_dir: Path | None = None  # plain-data exports from the kernel (untrusted data)
    instrumentation: tuple = ()  # outcomes of the grader's prologue/epilogue code in the kernel
    cached: bool = False  # the same prepared notebook was executed before (grader/execute/cache.py)
    budget: ExecBudget | None = None  # the time it was given, and how that was derived
    cut: CellCut | None = None  # the cell stopped at its time limit, if any

    @property
    def failing_cells(self) -> tuple[CellOutcome, ...]:
        return tuple(c for c in self.cells if c.status in ("error", "timeout", "dead"))


@dataclass(frozen=True)
class ItemResult:
    id: str
    title: str
    kind: str
    score: float
    max_score: float
    status: str
    feedback: str
    visibility: str = "visible"
    part: str = "code"
    evidence: dict = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class Report:
    netid: str
    assignment: str
    score: float
    max_score: float
    raw_score: float  # before penalties
    penalties: tuple[Penalty, ...]
    items: tuple[ItemResult, ...]
    notebooks: tuple[NotebookRun, ...]
    findings: tuple[Finding, ...]
    submission: dict
    environment: dict
    graded_at: str
    seconds: float

    def to_dict(self) -> dict:
        """Plain, strict JSON data (grader.untrusted.report_safe): valid UTF-8, no NaN or
        infinity, bounded in size, whatever the submission put in the evidence."""
        from grader.untrusted import report_safe

        return report_safe(to_jsonable(self))
