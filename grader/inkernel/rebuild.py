"""Probe helper shared by the trained-model kinds (grader/checks/_exports.py REBUILD_SOURCE).

`__grader_rebuild(class_name, kwargs, names, seed, weights)` builds the student's class with
the recorded constructor arguments and loads the grader-validated weights from `weights`
(weights.npz; the grader's shuffled control weights for a control run); it becomes the
probe's global `model` (on the CPU `device`).
"""

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_rebuild(class_name, kwargs, names, seed=0, weights="weights.npz"):
    import numpy as _np
    import torch as _torch
    cls = globals()[class_name]
    _torch.manual_seed(seed)
    m = cls(**kwargs)
    with _np.load(weights, allow_pickle=False) as z:
        sd = {n: _torch.from_numpy(_np.array(z["p%d" % i])) for i, n in enumerate(names)}
    res = m.load_state_dict(sd, strict=False)
    if res.missing_keys or res.unexpected_keys:
        raise RuntimeError("the exported weights do not fit your class as rebuilt: missing %s, unexpected %s"
                           % (list(res.missing_keys)[:8], list(res.unexpected_keys)[:8]))
    m.eval()
    g = globals()
    g["model"] = m
    g["device"] = _torch.device("cpu")
    return m
