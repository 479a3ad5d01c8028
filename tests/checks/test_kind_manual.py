"""`manual`: pending until a TA enters a score, whatever the context."""
from fake_prober import FakeContext, item
from grader.checks import registry


def test_manual_is_pending_and_needs_no_target():
    kind = registry.get("manual")
    assert kind.needs_target is False
    res = kind.run(FakeContext({}), item("manual", None, {"source": "pdf"}))
    assert res.status == "pending" and res.fraction == 0.0


def test_who_scores_an_item_is_asked_of_its_kind_not_spelled():
    """`manual` is a check kind whose class says a TA scores it (CheckKind.by_ta): no code
    under grader/ compares a kind with the string "manual"."""
    import re
    from pathlib import Path

    from grader.checks.registry import graded_by_ta

    assert graded_by_ta("manual") and not graded_by_ta("allclose") and not graded_by_ta("no-such-kind")
    root = Path(__file__).resolve().parents[1] / "grader"
    rx = re.compile(r"""[!=]=\s*["']manual["']|["']manual["']\s*[!=]=""")
    assert [str(p.relative_to(root)) for p in root.rglob("*.py") if rx.search(p.read_text())] == []
