"""Value comparison in the trusted process: each outcome proven by a failing and a passing case."""
import numpy as np

from grader.checks.compare import compare_values
from grader.probe import Opaque


def test_close_values_pass_and_far_values_fail_with_worst_element():
    want = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert compare_values(want + 1e-12, want, None, None).ok
    got = want.copy()
    got[1, 2] += 0.5
    got[0, 1] -= 0.1
    c = compare_values(got, want, None, None)
    assert not c.ok and c.evidence["worst_index"] == [1, 2] and c.evidence["n_bad"] == 2
    assert "expected 5, got 5.5" in c.detail


def test_sign_flip_fails():
    want = np.array([1.0, -2.0, 3.0])
    assert not compare_values(-want, want, None, None).ok


def test_shape_mismatch_and_reshaped_values():
    want = np.arange(6.0).reshape(2, 3)
    c = compare_values(want.T.copy(), want, None, None)
    assert not c.ok and "wrong shape" in c.detail
    c = compare_values(want.reshape(3, 2), want, None, None)
    assert not c.ok and "right values but wrong shape" in c.detail


def test_integers_exact_and_tuples():
    assert compare_values((64, 4, 5), np.array([64, 4, 5]), None, None).ok
    c = compare_values((64, 5, 5), np.array([64, 4, 5]), None, None)
    assert not c.ok and "first difference at [1]" in c.detail
    assert compare_values(42, 42, None, None).ok
    assert not compare_values(41, 42, None, None).ok


def test_float32_gets_float32_tolerance():
    want = np.linspace(0, 1, 5, dtype=np.float32)
    assert compare_values(want + np.float32(1e-6), want, None, None).ok
    assert not compare_values(want.astype(np.float64) + 1e-6, want.astype(np.float64), None, None).ok


def test_objects_that_claim_equality_never_match():
    assert not compare_values(Opaque("AlwaysEqual", "<AlwaysEqual>"), np.array([1.0]), None, None).ok
    assert not compare_values([Opaque("X", "")], np.array([1.0]), None, None).ok
    assert Opaque("X", "") != Opaque("X", "")


def test_nan_fails():
    assert not compare_values(np.array([np.nan]), np.array([np.nan]), None, None).ok


def test_dicts_compare_per_key():
    want = {"a": np.array([1.0]), "b": np.array([2.0])}
    assert compare_values({"a": np.array([1.0]), "b": np.array([2.0]), "extra": 1}, want, None, None).ok
    c = compare_values({"a": np.array([1.0])}, want, None, None)
    assert not c.ok and "missing key(s) ['b']" in c.detail


def test_one_element_array_counts_as_a_scalar():
    assert compare_values(np.array([2.5]), np.array(2.5), None, None).ok
    assert not compare_values(np.array([2.5, 1.0]), np.array(2.5), None, None).ok
