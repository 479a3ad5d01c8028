"""Probe helpers of `trained_model` for the echo RNN (grader/checks/kind_trained_model.py).

`__grader_echo` runs the model's test_run on the grader's strings, `__grader_echo_forward`
its forward pass on the grader's inputs in four layouts, `__grader_echo_diag` describes
what forward accepts. All rebuild the model first (rebuild, sent before this module).
"""
from grader.inkernel.rebuild import __grader_rebuild  # noqa: F401  (in the probe: sent before)

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_test_run_extra(m, with_delay):
    import inspect as _inspect
    import torch as _torch
    try:
        params = list(_inspect.signature(m.test_run).parameters.values())
    except (TypeError, ValueError):
        return {}, []
    skip = 2 if with_delay else 1
    kw, notes = {}, []
    for p in params[skip:]:
        if p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name.lower() in ("device", "dev"):
            kw[p.name] = _torch.device("cpu")
        elif p.name.lower() in ("model", "net", "self_model"):
            kw[p.name] = m
        else:
            raise TypeError("test_run requires an extra argument %r, which the notebook's own test does not pass" % p.name)
        notes.append(p.name)
    return kw, notes


def __grader_echo(class_name, kwargs, names, strings, delays, seed):
    m = __grader_rebuild(class_name, kwargs, names, seed)
    extra, _ = __grader_test_run_extra(m, delays[0] is not None if delays else False)
    out, errors = [], 0
    for s, d in zip(strings, delays):
        if errors >= 5:
            out.append({"error": "skipped after 5 errors"})
            continue
        try:
            r = m.test_run(s, **extra) if d is None else m.test_run(s, d, **extra)
            if type(r) is str:
                out.append(r)
            elif type(r) in (list, tuple) and all(type(c) is str for c in r):
                out.append(list(r))
            else:
                out.append({"error": "test_run returned %s, not a string" % type(r).__name__})
                errors += 1
        except Exception as e:
            errors += 1
            out.append({"error": ("%s: %s" % (type(e).__name__, e))[:300]})
    return out


def __grader_echo_forward(class_name, kwargs, names, groups, with_delay, seed, weights, max_groups):
    import torch as _torch
    m = __grader_rebuild(class_name, kwargs, names, seed, weights)
    out = {}
    for layout in ("onehot", "onehot_tb", "index", "index_tb"):
        res = []
        for g in groups[:max_groups]:
            x = g["onehot"] if layout.startswith("onehot") else g["index"]
            if layout.endswith("_tb"):
                x = x.transpose(0, 1).contiguous()
            extra = (g["delays"],) if with_delay else ()
            try:
                with _torch.no_grad():
                    y = m(x, *extra)
                if isinstance(y, (tuple, list)) and y and isinstance(y[0], _torch.Tensor):
                    y = y[0]
                if not isinstance(y, _torch.Tensor):
                    raise TypeError("forward returned %s, not a tensor" % type(y).__name__)
                res.append(y.detach().cpu().float().numpy())
            except Exception as e:
                res = {"error": ("%s: %s" % (type(e).__name__, e))[:200]}
                break
        out[layout] = res
    return out


def __grader_echo_diag(class_name, kwargs, names, with_delay, seed):
    import torch as _torch
    m = __grader_rebuild(class_name, kwargs, names, seed)
    T = 7
    idx = _torch.randint(1, 27, (2, T))
    extra = (_torch.tensor([1, 2]),) if with_delay else ()
    info = {}
    def describe(r):
        if isinstance(r, _torch.Tensor):
            return {"type": "tensor", "shape": list(r.shape)}
        if isinstance(r, (tuple, list)):
            return {"type": type(r).__name__, "items": [describe(x) for x in r][:4]}
        return {"type": type(r).__name__}
    try:
        info["test_run_extra"] = __grader_test_run_extra(m, with_delay)[1]
    except Exception as e:
        info["test_run_extra_error"] = str(e)[:200]
    for label, x in (("onehot", _torch.nn.functional.one_hot(idx, 27).float()), ("indices", idx)):
        try:
            with _torch.no_grad():
                info[label] = {"ok": True, "out": describe(m(x, *extra))}
        except Exception as e:
            info[label] = {"ok": False, "error": ("%s: %s" % (type(e).__name__, e))[:200]}
    return info
