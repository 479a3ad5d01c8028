"""binary_adder judging in the grader process, on weights as a probe would return them."""
import numpy as np

from grader.checks.kind_binary_adder import judge

GOOD = {
    "Wxh": [[1, 1], [1, 1], [1, 1]],
    "Whh": [[0, 1, 0], [0, 1, 0], [0, 1, 0]],
    "bh": [-0.5, -1.5, -2.5],
    "Why": [[1, -1, 1]],
    "by": -0.5,
}


def test_known_design_adds_everything():
    r = judge(GOOD, 8)
    assert r.status == "passed" and r.fraction == 1.0
    assert r.evidence["pairs_checked"] == 65536 and r.evidence["pairs_wrong"] == 0


def test_missing_carry_fails_with_first_failing_pair():
    bad = dict(GOOD, Whh=np.zeros((3, 3)))
    r = judge(bad, 8)
    assert r.status == "failed" and r.fraction < 0.5
    ff = r.evidence["first_failure"]
    assert ff["a"] + ff["b"] == ff["expected"] and ff["got"] != ff["expected"]
    assert "pairs wrong; first:" in r.feedback


def test_transposed_layout_passes_and_is_named():
    t = {"Wxh": np.array(GOOD["Wxh"]).T, "Whh": np.array(GOOD["Whh"]).T, "Why": np.array(GOOD["Why"]).T, "bh": GOOD["bh"], "by": [GOOD["by"]]}
    r = judge(t, 8)
    assert r.status == "passed" and r.evidence["layout"].startswith("transposed")


def test_rescaled_and_permuted_design_passes():
    perm = [2, 0, 1]
    Wxh = 3 * np.array(GOOD["Wxh"], float)[perm]
    Whh = np.zeros((3, 3))
    Whh[:, perm.index(1)] = 3  # carry is unit 1 of the original, now at position perm.index(1)
    r = judge({"Wxh": Wxh, "Whh": Whh, "bh": 3 * np.array(GOOD["bh"])[perm], "Why": np.array([[1, -1, 1]])[:, perm] * 2, "by": -1.0}, 8)
    assert r.status == "passed", r.feedback


def test_threshold_exactly_on_zero_is_reported():
    edge = dict(GOOD, bh=[-0.0, -1.0, -2.0])  # h1 = [sum > 0] still right, but pre-activations hit 0 exactly
    r = judge(edge, 4)
    assert r.evidence["preactivation_on_threshold"] is True and "fragile" in r.feedback


def test_malformed_returns_fail_closed():
    assert judge({"Wxh": [[1, 1]]}, 4).fraction == 0
    assert judge([1, 2, 3], 4).fraction == 0
    assert judge(dict(GOOD, Wxh=[[np.nan, 1]] * 3), 4).fraction == 0
