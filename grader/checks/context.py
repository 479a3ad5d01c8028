"""What a check kind may use while it runs (all in the trusted grader process)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader.extract import Extraction
from grader.model import NotebookRun
from grader.probe import Call, Outcome, Prober
from grader.rubric.model import ItemSpec, NotebookRubric


@dataclass
class CheckContext:
    notebook: NotebookRubric
    notebook_label: str  # the file name as submitted, for messages
    extraction: Extraction | None  # None when the notebook is missing or unreadable
    run: NotebookRun | None
    prober: Prober
    scratch: Path
    reference_cache: dict = field(default_factory=dict)
    submitted: Any = None  # the notebook as the student saved it (untrusted: outputs included), or None
    judge_cache: Any = None  # a batch's grader.checks._judged.JudgeCache, or None: compute every value

    def seed_for(self, item: ItemSpec, salt: str = "") -> int:
        """A per-item seed derived from the rubric seed: stable across runs and students."""
        h = hashlib.sha256(f"{self.notebook.seed}:{item.id}:{salt}".encode()).digest()
        return int.from_bytes(h[:4], "little")

    def module_for(self, *targets: str) -> str:
        assert self.extraction is not None
        return self.extraction.module_for(list(targets))

    def missing(self, target: str) -> str | None:
        """None if `target` is defined in the notebook, else a precise message."""
        if self.extraction is None:
            return f"{self.notebook.notebook} is missing or unreadable"
        if self.extraction.find(target) is None:
            return self.extraction.missing_message(target, self.notebook_label)
        return None

    def probe(self, targets: list[str], calls: list[Call], load_timeout_s: float = 60.0, *,
              extra_source: str = "", files: dict | None = None) -> list[Outcome]:
        """Call extracted student code in a sandbox. `extra_source` is grader-written helper code
        appended to the student's module (e.g. a recipe that loads exported weights and runs
        test_run); `files` are copied next to it."""
        source = self.module_for(*targets) + ("\n\n# --- grader helpers ---\n" + extra_source if extra_source else "")
        return self.prober.run(source, calls, load_timeout_s=load_timeout_s, files=files)

    def reference(self, key: str, compute: Callable[[], Any]) -> Any:
        """Reference outputs are computed once per (key) and reused across items and students."""
        if key not in self.reference_cache:
            self.reference_cache[key] = compute()
        return self.reference_cache[key]
