"""Prints how many fuzz cases ran, in the terminal summary."""
from __future__ import annotations

from fuzzcount import COUNTS


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if COUNTS:
        terminalreporter.write_sep("-", "fuzz cases run")
        for name, n in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{name}: {n}")
        terminalreporter.write_line(f"total: {sum(COUNTS.values())}")
