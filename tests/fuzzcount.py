"""Shared fuzz-case counter (printed by tests/fuzz/conftest.py)."""
import collections

COUNTS = collections.Counter()
