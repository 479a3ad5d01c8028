"""Probe helper of `cnn_architecture` (grader/checks/_integrity.py CNN_VERIFY_SOURCE).

`__grader_cnn_verify(class_name, inputs, seed, max_numel, max_nodes)` builds the class,
loads the grader's parameter values (param_values, sent before this module) and records
each torch call of one forward pass per input, with its arguments as plain data, for the
grader's replay (_integrity.replay).
"""
from grader.inkernel.param_values import __grader_param_values  # noqa: F401  (in the probe: sent before)

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_cnn_verify(class_name, inputs, seed, max_numel, max_nodes):
    import torch as _torch
    from torch.overrides import TorchFunctionMode as _Mode
    import torch.nn.functional as _F
    _torch.manual_seed(seed)
    m = globals()[class_name]()
    modules = [[n, type(mm).__name__] for n, mm in m.named_modules()][:500]
    params = list(m.named_parameters())
    buffers = list(m.named_buffers())
    info = {"modules": modules,
            "params": [[n, list(p.shape), str(p.dtype).replace("torch.", "")] for n, p in params][:2000],
            "buffers": [[n, list(b.shape), str(b.dtype).replace("torch.", "")] for n, b in buffers][:2000],
            "n_params": int(sum(p.numel() for _, p in params))}
    if info["n_params"] > max_numel:
        info["too_large"] = True
        return info
    with _torch.no_grad():
        for n, p in params:
            if p.is_floating_point():
                p.copy_(_torch.from_numpy(__grader_param_values(seed, n, tuple(p.shape))).to(p.dtype))
    info["buffer_values"] = {n: b.detach().cpu().numpy().copy() for n, b in buffers if b.numel() <= 100000}
    m.eval()
    pid = {id(p): n for n, p in params}
    bid = {id(b): n for n, b in buffers}

    def flat(obj, out, depth=0):
        if depth > 4:
            return out
        if isinstance(obj, _torch.Tensor):
            out.append(obj)
        elif isinstance(obj, (list, tuple)):
            for o in obj:
                flat(o, out, depth + 1)
        return out

    def trace_one(x):
        nodes = [{"op": "<input>"}]
        keep = [x]
        where = {id(x): (0, 0)}

        def enc(a, depth=0):
            if depth > 6:
                return {"x": "too deep"}
            if isinstance(a, _torch.Tensor):
                i = id(a)
                if i in pid:
                    return {"p": pid[i]}
                if i in bid:
                    return {"b": bid[i]}
                if i in where:
                    return {"n": list(where[i])}
                if a.numel() <= 4096:
                    return {"c": a.detach().cpu().clone().numpy()}
                return {"x": "a constant tensor of shape %s" % list(a.shape)}
            if a is None or type(a) in (bool, int, float, str):
                return {"v": a}
            if isinstance(a, _torch.Size):
                return {"t": [int(s) for s in a]}
            if type(a) in (list, tuple):
                return {("l" if type(a) is list else "t"): [enc(v, depth + 1) for v in a][:10000]}
            if isinstance(a, slice):
                return {"s": [enc(a.start, depth + 1), enc(a.stop, depth + 1), enc(a.step, depth + 1)]}
            if a is Ellipsis:
                return {"e": 1}
            if isinstance(a, _torch.dtype):
                return {"dt": str(a).replace("torch.", "")}
            if isinstance(a, _torch.device):
                return {"dev": str(a)}
            if isinstance(a, _torch.memory_format):
                return {"mf": str(a).replace("torch.", "")}
            return {"x": type(a).__name__}

        class Trace(_Mode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                try:
                    name = getattr(func, "__name__", None) or ""
                    outs = flat(out, [])
                    setitem = name == "__setitem__" and args and isinstance(args[0], _torch.Tensor)
                    if (outs or setitem) and len(nodes) < max_nodes:
                        if getattr(_F, name, None) is func:
                            ns = "F"
                        elif getattr(_torch, name, None) is func:
                            ns = "torch"
                        elif getattr(_torch.Tensor, name, None) is func:
                            ns = "Tensor"
                        elif name == "__get__":
                            ns = "prop"
                            name = str(getattr(getattr(func, "__self__", None), "__name__", "?"))
                        else:
                            ns = "?"
                        idx = len(nodes)
                        nodes.append({"op": name, "ns": ns, "args": [enc(a) for a in args],
                                      "kw": {str(k): enc(v) for k, v in kwargs.items()},
                                      "nout": 1 if setitem else len(outs)})
                        if setitem:
                            outs = [args[0]]
                        for k, t in enumerate(outs):
                            keep.append(t)
                            where[id(t)] = (idx, k)
                    elif outs or setitem:
                        nodes.append(None)
                except Exception:
                    nodes.append(None)
                return out

        res = {"size": list(x.shape[2:])}
        try:
            with _torch.no_grad(), Trace():
                y = m(x)
            if isinstance(y, (tuple, list)) and y and isinstance(y[0], _torch.Tensor):
                res["tuple"] = True
                y = y[0]
            if not isinstance(y, _torch.Tensor):
                res["error"] = "forward returned %s" % type(y).__name__
            else:
                res["out_ref"] = list(where[id(y)]) if id(y) in where else None
                res["out"] = y.detach().cpu().clone().numpy()
        except Exception as e:
            res["error"] = ("%s: %s" % (type(e).__name__, e))[:300]
        res["truncated"] = len(nodes) >= max_nodes or any(n is None for n in nodes)
        res["nodes"] = [n for n in nodes if n is not None]
        return res

    info["traces"] = [trace_one(x.float()) for x in inputs]
    return info
