"""Rubric specs: frozen, validated data. Results live in grader.model, not here."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from grader.defaults import SANDBOX_DISK_MB


@dataclass(frozen=True)
class SkipRule:
    """Cells matching `pattern` (a regex over a stripped source line) are not executed."""

    pattern: str
    reason: str
    # When set, the line is not neutralized but rewritten with re.sub(pattern, replace, line)
    # (e.g. `.cuda()` -> `.cpu()`), in the kernel and in the probes' extracted code alike.
    replace: str | None = None

    def matches(self, source: str) -> bool:
        rx = re.compile(self.pattern)
        return any(rx.search(line) for line in source.splitlines())


@dataclass(frozen=True)
class EnvironmentError_:
    """A cell error caused by the grading environment, not by the student (a package the
    grader cannot install, a dataset it cannot download, a known bug of the template).
    It does not trigger the not-executable penalty; the report says why.

    `later_cells`: "excused" when every later failure is presumed to be a consequence
    (nothing can run without the data), "judged" when later cells are judged as usual,
    "cascade" when only the later NameErrors on names the failed cell (or such a
    consequence) would have bound are excused (grader.score._cascade)."""

    ename: str  # regex over the exception class name
    evalue: str  # regex over the exception message
    reason: str
    later_cells: str = "judged"

    def matches(self, ename: str, evalue: str) -> bool:
        return bool(re.search(self.ename, ename or "")) and bool(re.search(self.evalue, evalue or ""))


@dataclass(frozen=True)
class Calibration:
    """`execution.calibration`: time budgets scaled to the grading machine's speed
    (grader.execute.budget). budget = clamp(factor x reference_s[notebook] x speed,
    min_s, max_s), speed = this machine's benchmark / baseline_benchmark_s."""

    factor: float
    reference_s: Mapping[str, float]  # notebook file name -> the reference solution's time
    baseline_benchmark_s: float  # the calibration workload's time where reference_s was measured
    min_s: float = 120.0
    max_s: float = 3600.0
    file: Path | None = field(default=None, compare=False)  # where it was declared, for messages


@dataclass(frozen=True)
class Dataset:
    """`datasets:` in the assignment YAML: data the course provides (the cats-vs-dogs
    folders a notebook downloads in Colab), mounted where the notebooks expect it
    (grader/offline.py). `source` is the grader-side folder, never visible to student code
    except through the mounts; `mount` paths are relative to the notebook's work dir, or
    absolute inside the sandbox (bwrap only), e.g. /content/cats_and_dogs_filtered."""

    name: str
    source: Path
    mount: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True)
class Execution:
    cell_timeout_s: float
    notebook_timeout_s: float
    memory_mb: int
    max_output_kb: int
    skip_cells: tuple[SkipRule, ...]
    # the work dir's size cap (a tmpfs quota where the machine allows it)
    disk_mb: int = SANDBOX_DISK_MB
    # None: the fixed limits above; else budgets calibrated on the grading machine
    calibration: Calibration | None = None
    # A notebook still running at its budget: "penalty" (it cannot be executed) or "ta"
    # (its training was written for the course's GPU: the model so far is graded and a TA
    # decides, e.g. the cats-vs-dogs CNN, which needs minutes per epoch on a CPU)
    on_cut: str = "penalty"


@dataclass(frozen=True)
class ItemSpec:
    id: str
    title: str
    points: float
    kind: str
    target: str | None
    # the kind's frozen parameter model (grader.checks.base.CheckParams; Kind.Params),
    # validated with its defaults filled in at load time
    params: Any
    visibility: str  # "visible" | "hidden"
    feedback: str
    part: str  # which part of the course split the points count towards
    guide: str = ""  # for manual items: how a TA grades it
    extra_credit: bool = False  # points above the maximum (Rubric.extra_credit_cap); skipping costs nothing

    @property
    def notebook_stem(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def by_ta(self) -> bool:
        """Scored by a TA, never by the grader (its kind's `by_ta`: the `manual` kind)."""
        from grader.checks.registry import graded_by_ta

        return graded_by_ta(self.kind)


@dataclass(frozen=True)
class NotebookRubric:
    file: Path  # the YAML file, for messages
    notebook: str  # expected file name in the zip, e.g. hw2_cnn.ipynb
    seed: int
    execution: Execution
    items: tuple[ItemSpec, ...]

    @property
    def stem(self) -> str:
        return Path(self.notebook).stem

    @property
    def max_score(self) -> float:
        return sum(i.points for i in self.items if not i.extra_credit)


@dataclass(frozen=True)
class FileSpec:
    name: str
    kind: str  # "pdf" | "notebook"
    rubric: str | None = None


@dataclass(frozen=True)
class Penalties:
    naming_percent: float
    extra_files_percent: float
    late_percent: float
    late_grace_hours: float
    not_executable_percent: float


@dataclass(frozen=True)
class Rubric:
    """One assignment: the files it expects, the course rules and a rubric per notebook."""

    directory: Path
    assignment: str
    title: str
    deadline: dt.datetime  # timezone-aware
    timezone: str
    netid_pattern: str
    zip_pattern: str  # e.g. "{netid}.zip"
    files: tuple[FileSpec, ...]
    ignore: tuple[str, ...]
    penalties: Penalties
    support_dir: Path | None  # copied next to each notebook as res/ etc.
    split: Mapping[str, float]
    notebooks: tuple[NotebookRubric, ...]
    manual: tuple[ItemSpec, ...]
    environment_errors: tuple[EnvironmentError_, ...] = ()
    # the students' Python environment (grader.studentenv.EnvSpec); None: the grader's own
    environment: Any = None
    # instructor-provided data mounted for the notebooks (grader/offline.py)
    datasets: tuple[Dataset, ...] = ()
    # the `lms:` block (grader.rubric.lms.LmsSettings); None: not given
    lms: Any = None
    # `late_days:` tokens (grader.lms.deadlines.LateDays); None: none
    late_days: Any = None
    # the rubric directories this one `extends` (nearest first): hidden from students too
    bases: tuple[Path, ...] = ()
    # which run of the course it grades (assignment.yaml `semester:`), "" when not said
    semester: str = ""
    # `gradescope:` (grader.rubric.gradescope.GradescopeSettings); None: nothing beyond the defaults
    gradescope: Any = None
    # the most extra-credit points counted above max_score; None: the extra-credit items' sum
    extra_credit_cap: float | None = None

    @property
    def items(self) -> tuple[ItemSpec, ...]:
        return tuple(i for nb in self.notebooks for i in nb.items) + self.manual

    @property
    def max_score(self) -> float:
        """The maximum without extra credit (100 % of the assignment)."""
        return sum(i.points for i in self.items if not i.extra_credit)

    @property
    def extra_credit_max(self) -> float:
        """The most extra-credit points a student can earn (capped)."""
        total = sum(i.points for i in self.items if i.extra_credit)
        return total if self.extra_credit_cap is None else min(total, self.extra_credit_cap)

    def notebook(self, name: str) -> NotebookRubric:
        for nb in self.notebooks:
            if nb.notebook == name:
                return nb
        raise KeyError(name)
