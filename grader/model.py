"""Results: frozen data that flows between the stages and into the canonical report.

Specs (what the rubric asks) live in grader.rubric.model; presentation lives in
grader.report. Everything here converts to plain JSON with `to_dict()`, and a Report comes
back from that JSON (or from a report.json an older grader wrote) with `Report.from_dict()`.

Statuses are enums of strings (`ItemStatus`, `NotebookStatus`, `CellStatus`): a member
compares, hashes and formats as its value, so code and JSON may keep using the plain strings.
"""
from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Mapping


class _StrEnum(str, Enum):
    """A str whose value is the JSON text (like 3.11's StrEnum, also on 3.10)."""

    __str__ = str.__str__
    __format__ = str.__format__

    @classmethod
    def parse(cls, value: Any, default: "_StrEnum"):
        """The member named by `value`, or `default` for anything else (reports are untrusted)."""
        try:
            return cls(value)
        except ValueError:
            return default

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)


class ItemStatus(_StrEnum):
    """A rubric item's verdict."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the grader (or the reference solution) failed, not the student
    SKIPPED = "skipped"  # not graded: the submission was not accepted
    PENDING = "pending"  # graded by a TA, or left to one when the grader could not verify it


class NotebookStatus(_StrEnum):
    """How a notebook's execution ended."""

    COMPLETED = "completed"
    CELL_ERRORS = "cell_errors"
    TIMEOUT = "timeout"
    DEAD_KERNEL = "dead_kernel"
    EXECUTOR_CRASHED = "executor_crashed"
    EXECUTOR_ERROR = "executor_error"  # the grader could not start a kernel: its fault, never penalised
    INVALID = "invalid"
    MISSING = "missing"
    NOT_RUN = "not_run"


class CellStatus(_StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    DEAD = "dead"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"


STATUSES = ItemStatus.values()  # kept for older imports
FAILING_CELLS = (CellStatus.ERROR, CellStatus.TIMEOUT, CellStatus.DEAD)


class ReportError(ValueError):
    """A report dict that is not a report: what is missing or wrong, and where."""


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not f.name.startswith("_") and f.metadata.get("json", True)
                and not (f.metadata.get("omit_none") and getattr(obj, f.name) is None)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dt.datetime):
        return obj.isoformat()
    return obj


# -- loading plain dicts back into the dataclasses ------------------------------------------

_SCALARS = {"str": str, "float": float, "int": int, "bool": bool}


def _scalar(annotation: str, value: Any, where: str) -> Any:
    optional = annotation.endswith(" | None")
    base = annotation[: -len(" | None")] if optional else annotation
    if value is None and optional:
        return None
    conv = _SCALARS.get(base)
    if conv is None:
        return value
    if conv is bool:
        return bool(value)
    if conv is str:
        return "" if value is None else str(value)
    try:
        return conv(value)
    except (TypeError, ValueError):
        raise ReportError(f"{where}: {value!r} is not a {base}") from None


# What a report.json may lack and still load (older graders, hand-made reports): the
# fields not named here, and not defaulted by the dataclass itself, are required.
LOAD_DEFAULTS: dict[str, dict[str, Any]] = {
    "Report": {"assignment": "", "penalties": (), "notebooks": (), "findings": (), "submission": {},
               "environment": {}, "graded_at": "", "seconds": 0.0},  # raw_score: the score
    "ItemResult": {"title": "", "kind": "", "feedback": ""},
    "NotebookRun": {"executed": False, "seconds": 0.0, "n_cells": 0, "cells": ()},
    "CellOutcome": {},
    "Finding": {"code": "", "message": ""},
    "Penalty": {"reason": ""},
    "TaRecord": {"history": ()},
}


def _load(cls, data: Any, where: str, nested: Mapping[str, Any] | None = None):
    """cls(**data) for a dataclass: required fields must be there, optional ones default
    (the dataclass's default, or LOAD_DEFAULTS), scalars are converted, unknown keys (a
    newer grader's) are ignored."""
    if not isinstance(data, Mapping):
        raise ReportError(f"{where}: expected an object, got {type(data).__name__}")
    nested = nested or {}
    defaults = LOAD_DEFAULTS.get(cls.__name__, {})
    kw = {}
    for f in dataclasses.fields(cls):
        if not f.init or not f.metadata.get("json", True):
            continue
        if f.name not in data:
            if f.name in defaults:
                kw[f.name] = copy.copy(defaults[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ReportError(f"{where}.{f.name} is missing")
            continue
        value = data[f.name]
        conv = nested.get(f.name)
        kw[f.name] = conv(value, f"{where}.{f.name}") if conv else _scalar(str(f.type), value, f"{where}.{f.name}")
    return cls(**kw)


def _many(cls, **nested):
    def conv(value: Any, where: str) -> tuple:
        if not isinstance(value, (list, tuple)):
            raise ReportError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_load(cls, v, f"{where}[{k}]", nested) for k, v in enumerate(value))
    return conv


def _optional(cls, **nested):
    def conv(value: Any, where: str):
        return None if value is None else _load(cls, value, where, nested)
    return conv


def _path(value: Any, where: str) -> Path | None:
    return None if value in (None, "") else Path(str(value))


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, Mapping):
        raise ReportError(f"{where}: expected an object, got {type(value).__name__}")
    return dict(value)


def _records(value: Any, where: str) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else ()


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
    time_flag: str = ""  # why the time is not trustworthy ('' when it is: grader.lms.times)
    deadline: dt.datetime | None = None  # the deadline that applied (None: the rubric's)
    deadline_rule: str = ""  # how it was reached (extension, late days)


@dataclass(frozen=True)
class CellOutcome:
    index: int  # 0-based index among all cells of the notebook
    status: CellStatus  # ok | error | timeout | dead | skipped | not_run
    seconds: float = 0.0
    ename: str = ""
    evalue: str = ""
    note: str = ""  # e.g. why a cell (or line) was skipped

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", CellStatus.parse(self.status, CellStatus.ERROR))


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
    status: NotebookStatus
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", NotebookStatus.parse(self.status, NotebookStatus.EXECUTOR_ERROR))

    @property
    def failing_cells(self) -> tuple[CellOutcome, ...]:
        return tuple(c for c in self.cells if c.status in FAILING_CELLS)


@dataclass(frozen=True)
class TaDecision:
    """One TA decision on one item (grader/batch/ta_journal.py), kept in the item's history.

    kind: "score" (a manual item, or an automatic item the grader left pending), "override"
    (an automatic item's verified result replaced; `reason` required), "regrade" (the answer
    to a regrade request; `score` None keeps the score), "request" (a student's regrade
    request, its text in `request`; no score)."""

    id: str  # unique: the journal line's id, or a hash of the CSV cell
    kind: str
    ta: str
    at: str  # ISO 8601 UTC; the latest decision wins
    score: float | None = None
    comment: str = ""  # shown to the student as the item's feedback
    reason: str = ""  # why an automatic result was overridden
    request: str = ""  # the student's regrade request (kind "request", or the one a "regrade" answers)
    source: str = "review"  # "review" (grader review) | "csv:<file name>" (--manual-scores)
    applied: bool = True  # False: recorded, but not allowed to change the score (a score on a verified item)


@dataclass(frozen=True)
class TaRecord:
    """What TAs did to an item: the grader's own result as it was, and every decision in order."""

    automatic: dict  # {"score", "status", "feedback"} as the grader left it
    history: tuple[TaDecision, ...] = ()

    @property
    def current(self) -> TaDecision | None:
        """The decision that set the score (None: the grader's result stands)."""
        return next((d for d in reversed(self.history) if d.applied and d.score is not None), None)

    @property
    def overridden(self) -> bool:
        """A TA replaced a result the grader verified itself (not a pending item's score)."""
        c = self.current
        return c is not None and self.automatic.get("status") != "pending" and c.kind in ("override", "regrade")


@dataclass(frozen=True)
class ItemResult:
    id: str
    title: str
    kind: str
    score: float
    max_score: float
    status: ItemStatus
    feedback: str
    visibility: str = "visible"
    part: str = "code"
    evidence: dict = field(default_factory=dict)
    seconds: float = 0.0
    # points above the maximum: max_score is what it can add, never what it can cost
    extra_credit: bool = False
    ta: TaRecord | None = field(default=None, metadata={"omit_none": True})  # TA decisions (grader review, CSV)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ItemStatus.parse(self.status, ItemStatus.ERROR))

    @property
    def hidden(self) -> bool:
        return self.visibility == "hidden"

    @property
    def attempted(self) -> bool:
        """False for an extra-credit item that earned nothing and is not waiting for a TA:
        shown as "extra credit, not attempted", never as a loss."""
        return not (self.extra_credit and self.status in (ItemStatus.FAILED, ItemStatus.SKIPPED) and float(self.score) <= 0)


# -- artifacts: files the checks attach to an item (the loss-curve PNG) --------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_ARTIFACT_BYTES = 5 << 20
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]{64,}$")


def artifact_file(item_id: str, name: str) -> str:
    """The artifact's file name beside report.json: plain characters, the item's id first."""
    stem = name if name.startswith(item_id) else f"{item_id}.{name}"
    return _UNSAFE_FILE_CHARS.sub("_", stem)[:120].lstrip(".") or "artifact"


def media_type(data: bytes | None, file: str) -> str:
    """From the bytes where there are some (never from a name alone), else from the name."""
    if data is not None:
        return "image/png" if data.startswith(PNG_MAGIC) else "application/octet-stream"
    return "image/png" if file.lower().endswith(".png") else "application/octet-stream"


@dataclass(frozen=True)
class Artifact:
    """A file a check attached to an item: written beside report.json, listed in it.

    `data` is the content while the report is in memory (None once loaded from a
    report.json: the bytes are in `file`, beside it)."""

    item: str
    name: str
    media_type: str
    file: str
    data: bytes | None = field(default=None, compare=False, repr=False, metadata={"json": False})

    @property
    def is_image(self) -> bool:
        return self.media_type == "image/png"


def decode_artifact(item_id: str, name: str, value: Any) -> Artifact | None:
    """One evidence["artifacts"] entry as checks write it (base64, or a data: URI) or as an
    older report.json kept it (the file's name); None for anything else."""
    if not isinstance(value, str):
        return None
    data = None
    if value.startswith("data:") and ";base64," in value[:100]:
        payload = value.split(",", 1)[1]
    elif _BASE64.match(value):
        payload = value
    elif len(value) <= 200 and not _UNSAFE_FILE_CHARS.search(value) and not value.startswith("."):
        return Artifact(item_id, name, media_type(None, value), value)
    else:
        return None
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(data) > MAX_ARTIFACT_BYTES:
        return None
    file = artifact_file(item_id, name)
    return Artifact(item_id, name, media_type(data, file), file, data)


def artifacts_in(items: tuple[ItemResult, ...]) -> tuple[Artifact, ...]:
    """The typed artifacts of a report, from its items' evidence["artifacts"] (the one place
    the checks' base64 is read)."""
    out = []
    for item in items:
        arts = item.evidence.get("artifacts") if isinstance(item.evidence, dict) else None
        if isinstance(arts, Mapping):
            out += [a for name, value in arts.items() if (a := decode_artifact(item.id, str(name), value)) is not None]
    return tuple(out)


# -- the report -----------------------------------------------------------------------------

@dataclass(frozen=True)
class SubmissionInfo:
    """What the report says about the zip (Submission is the intake's full record)."""

    file: str = ""
    sha256: str | None = None
    submitted_at: str | None = None
    submitted_at_source: str = "unknown"
    deadline: str | None = None
    deadline_rule: str = ""  # how the deadline was reached (extension, late days: grader.lms.deadlines)
    time_flag: str = ""  # why the submission time is not trustworthy ('' when it is)
    accepted: bool = True
    rejection: str = ""
    files: dict = field(default_factory=dict)  # role -> {name_in_zip, exact_name}
    grader_crash: str = ""  # the traceback's tail when the grader failed on it
    # keys this version does not know (a newer grader's, another tool's): kept, written back
    other: dict = field(default_factory=dict, metadata={"json": False})

    @classmethod
    def load(cls, value: Any, where: str = "submission") -> "SubmissionInfo":
        if not isinstance(value, Mapping):
            raise ReportError(f"{where}: expected an object, got {type(value).__name__}")
        known = {f.name for f in dataclasses.fields(cls) if f.metadata.get("json", True)}
        info = _load(cls, {k: v for k, v in value.items() if k in known}, where, {"files": _mapping})
        other = {str(k): v for k, v in value.items() if k not in known}
        return dataclasses.replace(info, other=other) if other else info

    def to_dict(self) -> dict:
        return {**to_jsonable(self), **to_jsonable(self.other)}


CRASH_CODE = "grader_crash"
_CRASH_TAIL = ". This is a fault"  # how crash reports before `crash_reason` ended the reason


def _evidence(value: Any, where: str) -> dict:
    return dict(value) if isinstance(value, Mapping) else {"value": value}


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
    submission: SubmissionInfo
    environment: dict
    graded_at: str
    seconds: float
    artifacts: tuple[Artifact, ...] = ()  # filled from the items' evidence when not given
    crash_reason: str = ""  # why the grader could not grade it ("": graded)
    # extra credit: the points counted in raw_score/score above max_score (after the cap),
    # and the rubric's cap (None: the extra-credit items' sum). grader.score.total
    extra_credit: float = 0.0
    extra_credit_cap: float | None = None

    def __post_init__(self) -> None:
        for name in ("penalties", "items", "notebooks", "findings", "artifacts"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.submission, Mapping):
            object.__setattr__(self, "submission", SubmissionInfo.load(self.submission))
        derived = artifacts_in(self.items)  # bytes from the evidence win over a listed file
        have = {(a.item, a.name) for a in derived}
        object.__setattr__(self, "artifacts", derived + tuple(a for a in self.artifacts if (a.item, a.name) not in have))

    # -- derived facts every format uses ---------------------------------------------------

    @property
    def graded(self) -> bool:
        return not self.crash_reason

    @property
    def pending_items(self) -> tuple[ItemResult, ...]:
        return tuple(i for i in self.items if i.status is ItemStatus.PENDING)

    @property
    def pending_points(self) -> float:
        """Points of the maximum still waiting for a TA (extra credit apart: pending_extra_credit)."""
        return round(sum(i.max_score for i in self.pending_items if not i.extra_credit), 4)

    @property
    def pending_extra_credit(self) -> float:
        return round(sum(i.max_score for i in self.pending_items if i.extra_credit), 4)

    @property
    def extra_credit_items(self) -> tuple[ItemResult, ...]:
        return tuple(i for i in self.items if i.extra_credit)

    @property
    def extra_credit_max(self) -> float:
        """The most extra-credit points this rubric counts (the cap, or the items' sum)."""
        total = sum(float(i.max_score) for i in self.extra_credit_items)
        return round(total if self.extra_credit_cap is None else min(total, float(self.extra_credit_cap)), 4)

    @property
    def isolation_mode(self) -> str:
        iso = self.environment.get("isolation") if isinstance(self.environment, dict) else None
        return str(iso.get("mode", "?")) if isinstance(iso, dict) else "?"

    def artifacts_of(self, item_id: str) -> tuple[Artifact, ...]:
        return tuple(a for a in self.artifacts if a.item == item_id)

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self, *, artifact_files: bool = False) -> dict:
        """Plain, strict JSON data (grader.untrusted.report_safe): valid UTF-8, no NaN or
        infinity, bounded in size, whatever the submission put in the evidence.

        The checks' artifacts stay base64 in evidence["artifacts"] (what a batch worker
        sends); `artifact_files`: report.json's form, where that key holds each artifact's
        file name and the bytes are written beside it."""
        from grader.untrusted import report_safe

        data = to_jsonable(self)
        data["submission"] = self.submission.to_dict()
        if artifact_files:
            for item in data["items"]:
                ev = item.get("evidence")
                if isinstance(ev, dict) and "artifacts" in ev:
                    ev["artifacts"] = {a.name: a.file for a in self.artifacts_of(item["id"])}
        return report_safe(data)

    @classmethod
    def from_dict(cls, data: Any, *, safe: bool = False) -> "Report":
        """A Report from to_dict()'s output or any report.json, older ones included
        (missing optional fields take their defaults, unknown ones are ignored). Untrusted
        input goes through grader.untrusted.report_safe first unless `safe` says it did.
        Raises ReportError naming what is missing or malformed."""
        from grader.untrusted import report_safe

        if not isinstance(data, Mapping):
            raise ReportError(f"a report is a JSON object, not {type(data).__name__}")
        data = dict(data) if safe else report_safe(dict(data))
        data.setdefault("raw_score", data.get("score"))
        report = _load(cls, data, "report", {
            "penalties": _many(Penalty),
            "items": _many(ItemResult, evidence=_evidence,
                           ta=_optional(TaRecord, automatic=_mapping, history=_many(TaDecision))),
            "notebooks": _many(NotebookRun, cells=_many(CellOutcome), budget=_optional(ExecBudget),
                               cut=_optional(CellCut), executed_notebook=_path, exports_dir=_path,
                               instrumentation=_records),
            "findings": _many(Finding),
            "submission": SubmissionInfo.load,
            "environment": _mapping,
            "artifacts": _many(Artifact),
        })
        if not report.crash_reason:  # reports before the field: the reason led the crash finding
            crash = next((f for f in report.findings if f.code == CRASH_CODE), None)
            if crash is not None:
                report = dataclasses.replace(report, crash_reason=crash.message.split(_CRASH_TAIL)[0])
        return report


def as_report(report: "Report | Mapping") -> Report:
    """A Report from a Report or from its dict (the formats' public functions take both)."""
    return report if isinstance(report, Report) else Report.from_dict(report)
