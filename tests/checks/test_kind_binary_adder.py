"""`binary_adder` on the in-process fake prober: the kind's params reach the probe and the judge."""
from fake_prober import FakeContext, item
from grader.checks import registry

KIND = registry.get("binary_adder")
GOOD = {"Wxh": [[1, 1], [1, 1], [1, 1]], "Whh": [[0, 1, 0], [0, 1, 0], [0, 1, 0]],
        "bh": [-0.5, -1.5, -2.5], "Why": [[1, -1, 1]], "by": -0.5}


def test_defaults_and_params_reach_the_probe_and_judge():
    ctx = FakeContext({"weights": lambda: GOOD})
    res = KIND.run(ctx, item("binary_adder", "weights", {}))
    assert res.status == "passed" and res.evidence["n_bits"] == 8 and ctx.calls[0].timeout_s == 20.0
    ctx = FakeContext({"weights": lambda: GOOD})
    res = KIND.run(ctx, item("binary_adder", "weights", {"n_bits": 3, "timeout_s": 2}))
    assert res.evidence["pairs_checked"] == 64 and ctx.calls[0].timeout_s == 2.0


def test_a_raising_target_fails():
    def boom():
        raise RuntimeError("no weights")
    res = KIND.run(FakeContext({"weights": boom}), item("binary_adder", "weights", {}))
    assert res.status == "failed" and "RuntimeError: no weights" in res.feedback
