"""Kernel prologue of the trained-model kinds (grader/checks/_exports.py capture_prologue).

`__grader_capture_install(key, class_name, prefer, max_numel)` registers an IPython
post_run_cell callback that keeps, in memory, the last global instance of `class_name`
(preferring the globals named in `prefer`): a copy of its state_dict and plain metadata
(constructor arguments recorded by a wrapper around the class's __init__, simple
attributes, method signatures). Returns the store the epilogue (model_export) writes.
"""
from IPython import get_ipython  # noqa: F401  (in the kernel: IPython's builtin)

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_capture_install(key, class_name, prefer, max_numel):
    import sys
    import inspect
    import functools
    store = {"snap": None, "error": "", "patched": []}

    def simple(v):
        return v is None or type(v) in (bool, int, float, str) and (type(v) is not str or len(v) < 200)

    def sig(fn):
        try:
            out = []
            for p in inspect.signature(fn).parameters.values():
                out.append([p.name, str(p.kind).split(".")[-1], p.default is not inspect.Parameter.empty])
            return out
        except Exception:
            return None

    def patch(cls):
        if getattr(cls, "__grader_patched__", False) or "__init__" not in cls.__dict__:
            return
        orig = cls.__dict__["__init__"]
        try:
            s = inspect.signature(orig)
        except Exception:
            return

        @functools.wraps(orig)
        def __init__(self, *a, **k):
            orig(self, *a, **k)
            try:
                b = s.bind(self, *a, **k)
                rec = {}
                for n, v in list(b.arguments.items())[1:]:
                    p = s.parameters[n]
                    if p.kind == p.VAR_KEYWORD and type(v) is dict:
                        rec.update({kk: vv for kk, vv in v.items() if simple(vv)})
                    elif p.kind == p.VAR_POSITIONAL:
                        rec["*" + n] = [vv for vv in v] if all(simple(vv) for vv in v) else None
                    else:
                        rec[n] = v if simple(v) else {"unsupported": type(v).__name__}
                object.__setattr__(self, "__grader_init_args__", rec)
            except Exception:
                pass
        cls.__init__ = __init__
        cls.__grader_patched__ = True

    def snapshot(*_a, **_k):
        try:
            torch = sys.modules.get("torch")
            ip = get_ipython()
            ns = ip.user_ns
            cls = ns.get(class_name)
            if isinstance(cls, type):
                patch(cls)
            if torch is None:
                return
            cands = sorted(n for n, o in list(ns.items())
                           if not n.startswith("_") and isinstance(o, torch.nn.Module) and type(o).__name__ == class_name)
            if not cands:
                return
            name = next((p for p in prefer if p in cands), cands[0])
            obj = ns[name]
            sd = obj.state_dict()
            numel = sum(int(v.numel()) for v in sd.values() if hasattr(v, "numel"))
            arrays, names = [], []
            if numel <= max_numel:
                for k, v in sd.items():
                    if not hasattr(v, "detach"):
                        continue
                    t = v.detach().cpu()
                    if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
                        t = t.float()
                    names.append(str(k))
                    arrays.append(t.clone().numpy())
            attrs = {}
            for k, v in list(vars(obj).items()):
                if not k.startswith("_") and k != "training" and simple(v):
                    attrs[k] = v
            t = type(obj)
            store["snap"] = {
                "format": 1, "class": class_name, "variable": name, "candidates": cands,
                "names": names, "numel": numel, "too_large": numel > max_numel,
                "init_args": getattr(obj, "__grader_init_args__", None),
                "attrs": attrs, "training": bool(obj.training),
                "execution_count": getattr(ip, "execution_count", None),
                "signatures": {m: sig(getattr(t, m)) for m in ("__init__", "forward", "test_run") if hasattr(t, m)},
                "_arrays": arrays,
            }
        except Exception as exc:
            store["error"] = (type(exc).__name__ + ": " + str(exc))[:300]

    store["snapshot"] = snapshot
    get_ipython().events.register("post_run_cell", snapshot)
    return store
