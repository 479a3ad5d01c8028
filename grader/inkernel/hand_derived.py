"""Probe helper of `gradient` (grader/checks/_integrity.py HAND_DERIVED_CALL).

`__grader_hand_derived_call(fn_name, args, kwargs, count_names)` calls the student's
function with the autograd guard on, counting calls of the named forward functions.
"""
from typing import Any

__grader_autograd_state: Any = None  # in the probe: set by the autograd_guard prelude

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_hand_derived_call(fn_name, args, kwargs, count_names=()):
    st = __grader_autograd_state
    g = globals()
    counts, saved = {}, {}
    for n in count_names:
        f = g.get(n)
        if callable(f) and n != fn_name:
            def counted(*a, __f=f, __n=n, **k):
                counts[__n] = counts.get(__n, 0) + 1
                return __f(*a, **k)
            saved[n] = f
            g[n] = counted
    st["calls"] = []
    st["on"] = True
    try:
        value = g[fn_name](*args, **kwargs)
        err = None
    except Exception as e:
        value, err = None, ("%s: %s" % (type(e).__name__, e))[:500]
    finally:
        st["on"] = False
        g.update(saved)
    return {"value": value, "error": err, "autograd": sorted(set(str(c) for c in st["calls"]))[:10],
            "forward_calls": {str(k): int(v) for k, v in counts.items()}}
