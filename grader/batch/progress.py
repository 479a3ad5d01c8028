"""Batch progress: a live bar on a terminal, one plain line per finished job otherwise."""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    def __init__(self, total: int, already_done: int = 0, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, tty: bool | None = None, width: int = 30):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = total
        self.skipped = already_done
        self.done = already_done
        self.failed = 0
        self.clock = clock
        self.t0 = clock()
        self.width = width

    def eta(self) -> str:
        graded_now = self.done - self.skipped
        left = self.total - self.done
        if left <= 0:
            return "0s"
        if graded_now <= 0:
            return "?"
        return _duration((self.clock() - self.t0) / graded_now * left)

    def status(self) -> str:
        return f"{self.done}/{self.total} done, {self.failed} failed, ETA {self.eta()}"

    def note(self, text: str) -> None:
        """A line before the batch starts (what the plan will do, and why)."""
        if text:
            self._line(text)

    def start(self) -> None:
        if self.skipped:
            self._line(f"{self.skipped} of {self.total} already graded (unchanged); grading {self.total - self.skipped}")
        self._bar()

    def job_done(self, netid: str, summary: str, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        if self.tty:
            if failed:
                self._line(f"FAILED {netid}: {summary}")
            self._bar()
        else:
            self._line(f"[{self.status()}] {netid}: {summary}")

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self._line(f"batch finished: {self.status().split(', ETA')[0]} in {_duration(self.clock() - self.t0)}")

    def _bar(self) -> None:
        if not self.tty:
            return
        frac = self.done / self.total if self.total else 1.0
        fill = int(frac * self.width)
        self.stream.write(f"\r\033[K[{'#' * fill}{'.' * (self.width - fill)}] {self.status()}")
        self.stream.flush()

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()
