"""The parameter values the architecture probe loads (grader/checks/_integrity.py).

`__grader_param_values(seed, name, shape)`: deterministic float32 values the grader
recomputes itself (grader/checks/_integrity.param_values imports this very function).
"""

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_param_values(seed, name, shape):
    import zlib as _zlib
    import numpy as _np
    rs = _np.random.RandomState((int(seed) + _zlib.crc32(name.encode())) % (2 ** 31))
    shape = tuple(int(s) for s in shape)
    n = 1
    for s in shape:
        n *= s
    if len(shape) >= 2:
        fan_in = max(1, n // max(1, shape[0]))
        v = rs.standard_normal(n) / (fan_in ** 0.5)
    else:
        v = 0.1 * rs.standard_normal(n) + (1.0 if name.endswith("weight") else 0.0)
    return v.reshape(shape).astype(_np.float32)
