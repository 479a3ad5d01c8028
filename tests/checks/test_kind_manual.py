"""`manual`: pending until a TA enters a score, whatever the context."""
from fake_prober import FakeContext, item
from grader.checks import registry


def test_manual_is_pending_and_needs_no_target():
    kind = registry.get("manual")
    assert kind.needs_target is False
    res = kind.run(FakeContext({}), item("manual", None, {"source": "pdf"}))
    assert res.status == "pending" and res.fraction == 0.0
