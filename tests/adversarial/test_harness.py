"""The attack harness itself: a grading that never returns fails the corpus naming it,
within the deadline, instead of hanging the test worker (daemon threads, no executor)."""
import threading
import time

import pytest

import harness as H


def test_a_hung_grading_fails_by_name_and_nothing_waits_for_it(monkeypatch):
    monkeypatch.setattr(H, "CORPUS_DEADLINE_S", 1.0)
    never = threading.Event()
    seen = []

    def one(name):
        if name == "hangs":
            never.wait()
        seen.append(name)
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match=r"grading \['hangs'\] did not return within 1 s"):
        H.run_all(one, ["a", "hangs", "b", "c"], workers=2)
    assert time.monotonic() - t0 < 5 and sorted(seen) == ["a", "b", "c"]


def test_every_name_runs_and_a_harness_error_is_raised(monkeypatch):
    seen = []
    H.run_all(seen.append, ["x", "y", "z"], workers=2)
    assert sorted(seen) == ["x", "y", "z"]
    with pytest.raises(AssertionError, match="the harness failed: y: KeyError"):
        H.run_all(lambda n: {}[n] if n == "y" else None, ["x", "y"], workers=1)
