"""The unverified dataflow trace of earlier `cnn_architecture` versions.

Kept for the unit tests of kind_cnn_architecture.analyse (tests/checks/test_judges.py):
`__grader_cnn_trace(class_name, sizes, batch, seed)` runs the class on random images of
each size and traces the first forward pass.
"""

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_cnn_trace(class_name, sizes, batch, seed):
    import torch as _torch
    from torch.overrides import TorchFunctionMode as _Mode
    _torch.manual_seed(seed)
    m = globals()[class_name]()
    modules = [[n, type(mm).__name__] for n, mm in m.named_modules()][:500]
    n_params = sum(p.numel() for p in m.parameters())
    m.eval()
    nodes = []
    keep = []
    where = {}
    params = {id(p) for p in m.parameters()} | {id(b) for b in m.buffers()}

    def tensors(obj, out, depth=0):
        if depth > 3:
            return out
        if isinstance(obj, _torch.Tensor):
            out.append(obj)
        elif isinstance(obj, (list, tuple)):
            for o in obj:
                tensors(o, out, depth + 1)
        elif isinstance(obj, dict):
            for o in obj.values():
                tensors(o, out, depth + 1)
        return out

    class Trace(_Mode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            try:
                name = getattr(func, "__name__", None) or str(func)
                ins = []
                weights = []
                for t in tensors(list(args) + list(kwargs.values()), []):
                    if id(t) in params:
                        weights.append(id(t))
                    elif id(t) in where:
                        ins.append(where[id(t)])
                if len(nodes) < 5000 and name not in ("__get__", "size", "dim", "__len__", "numel", "__repr__", "__format__"):
                    outs = tensors(out, [])
                    if outs:
                        idx = len(nodes)
                        nodes.append({"op": name, "in": sorted(set(ins)), "w": [str(w) for w in weights][:4]})
                        for t in outs:
                            keep.append(t)
                            where[id(t)] = idx
            except Exception:
                pass
            return out

    g = _torch.Generator().manual_seed(seed)
    shapes = []
    trace_error = None
    for i, (h, w) in enumerate(sizes):
        x = _torch.rand(batch, 3, h, w, generator=g)
        try:
            if i == 0:
                nodes.append({"op": "<input>", "in": [], "w": []})
                keep.append(x)
                where[id(x)] = 0
                with _torch.no_grad(), Trace():
                    y = m(x)
            else:
                with _torch.no_grad():
                    y = m(x)
            if isinstance(y, (tuple, list)) and y and isinstance(y[0], _torch.Tensor):
                shapes.append({"size": [h, w], "tuple": True, "shape": list(y[0].shape), "dtype": str(y[0].dtype),
                               "finite": bool(_torch.isfinite(y[0]).all()), "min": float(y[0].min()), "max": float(y[0].max()),
                               "rowsum_exp": float(y[0].exp().sum(-1).mean()) if y[0].dim() == 2 else None,
                               "rowsum": float(y[0].float().sum(-1).mean()) if y[0].dim() == 2 else None})
            elif isinstance(y, _torch.Tensor):
                shapes.append({"size": [h, w], "tuple": False, "shape": list(y.shape), "dtype": str(y.dtype),
                               "finite": bool(_torch.isfinite(y).all()) if y.is_floating_point() else True,
                               "min": float(y.min()) if y.numel() else None, "max": float(y.max()) if y.numel() else None,
                               "rowsum_exp": float(y.float().exp().sum(-1).mean()) if y.dim() == 2 else None,
                               "rowsum": float(y.float().sum(-1).mean()) if y.dim() == 2 else None})
            else:
                shapes.append({"size": [h, w], "error": "forward returned %s" % type(y).__name__})
        except Exception as e:
            shapes.append({"size": [h, w], "error": ("%s: %s" % (type(e).__name__, e))[:300]})
            if i == 0:
                trace_error = shapes[-1]["error"]
    return {"modules": modules, "n_params": int(n_params), "nodes": nodes, "outputs": shapes, "trace_error": trace_error}
