"""What isolation the tests demand: the strongest this machine supports, and bubblewrap
wherever it works. With GRADER_REQUIRE_BWRAP=1 (set by .ci/run, whose install puts
bubblewrap on the machine) a machine without a working bwrap fails the suite instead of
quietly testing a weaker mode."""
from __future__ import annotations

import os
from functools import lru_cache


def bwrap_required() -> bool:
    return os.environ.get("GRADER_REQUIRE_BWRAP", "") not in ("", "0")


@lru_cache(maxsize=1)
def expected_mode() -> str:
    """The mode `--isolation auto` must pick here."""
    from grader.sandbox import detect_isolation

    mode = detect_isolation().mode
    if bwrap_required() and mode != "bwrap":
        raise AssertionError(f"GRADER_REQUIRE_BWRAP is set but the strongest isolation here is {mode!r}: "
                             f"{detect_isolation('bwrap').missing}")
    return mode


def assert_strongest_isolation(report: dict) -> None:
    got = report["environment"]["isolation"]["mode"]
    assert got == expected_mode(), f"graded under isolation {got!r}; this machine supports {expected_mode()!r}"
