"""Probe helper of `gradient` (grader/checks/_integrity.py HAND_DERIVED_CALL).

`__grader_hand_derived_call(fn_name, args, kwargs, count_names)` calls the student's
function with the autograd guard on and grad mode off, counting calls of the named forward
functions.
"""
from typing import Any

__grader_autograd_state: Any = None  # in the probe: set by the autograd_guard prelude

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_hand_derived_call(fn_name, args, kwargs, count_names=()):
    import sys as _sys
    import torch as _torch
    st = __grader_autograd_state
    g = globals()
    counts = {}
    # calls are counted by the functions' code, not by their names: a call through an alias
    # (`_f = conv1d_forward`, bound before this call) is a call all the same
    codes = {}
    for n in count_names:
        code = getattr(g.get(n), "__code__", None)
        if code is not None and n != fn_name:
            codes[code] = n

    def counter(frame, event, arg):
        if event == "call":
            n = codes.get(frame.f_code)
            if n is not None:
                counts[n] = counts.get(n, 0) + 1
    st["calls"] = []
    grad_was = _torch.is_grad_enabled()
    profile_was = _sys.getprofile()
    st["set_grad_enabled"](False)
    st["on"] = True
    if codes:
        _sys.setprofile(counter)
    try:
        value = g[fn_name](*args, **kwargs)
        err = None
    except Exception as e:
        value, err = None, ("%s: %s" % (type(e).__name__, e))[:500]
    finally:
        if codes and _sys.getprofile() is not counter:
            st["calls"].append("sys.setprofile (the grader's call counter)")
        _sys.setprofile(profile_was)
        st["on"] = False
        st["set_grad_enabled"](grad_was)
    return {"value": value, "error": err, "autograd": sorted(set(str(c) for c in st["calls"]))[:10],
            "forward_calls": {str(k): int(v) for k, v in counts.items()}}
