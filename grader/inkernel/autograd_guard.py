"""Probe prelude of `gradient` (grader/checks/_integrity.py AUTOGRAD_GUARD).

`__grader_install_autograd_guard()` wraps torch's autograd entry points so that, while the
returned state's "on" is set, they raise and record the attempt. The caller adds the
one-line call that installs it before the first student line.

Grad mode: the hand-derived call runs the target with grad mode off (state
"set_grad_enabled", torch's own setter, kept before any student line), so no autograd
graph is built whatever engine object the code reaches; turning grad mode back on
(torch.enable_grad, set_grad_enabled, torch._C._set_grad_enabled) and starting a thread
(grad mode is per thread, on in a new one) are autograd attempts.
"""

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_install_autograd_guard():
    import importlib
    import torch as _torch
    state = {"on": False, "calls": []}

    class AutogradDisabled(RuntimeError):
        pass

    def wrap(owner, name, label):
        orig = getattr(owner, name, None)
        if orig is None:
            return
        orig = getattr(orig, "__grader_orig__", orig)  # installed before: guard the original with this state
        def guarded(*a, **k):
            if state["on"]:
                state["calls"].append(label)
                raise AutogradDisabled("%s is disabled while the grader checks a hand-derived answer" % label)
            return orig(*a, **k)
        guarded.__grader_guard__ = True
        guarded.__grader_orig__ = orig
        try:
            guarded.__name__ = getattr(orig, "__name__", name)
            guarded.__doc__ = getattr(orig, "__doc__", None)
        except Exception:
            pass
        try:
            setattr(owner, name, guarded)
        except Exception:
            pass

    import threading as _threading
    import _thread
    orig_set_grad = getattr(_torch._C._set_grad_enabled, "__grader_orig__", _torch._C._set_grad_enabled)
    state["set_grad_enabled"] = orig_set_grad

    def set_grad_enabled(mode, *a, **k):
        if state["on"] and mode:
            state["calls"].append("torch.enable_grad / set_grad_enabled(True)")
            raise AutogradDisabled("grad mode is off while the grader checks a hand-derived answer")
        return orig_set_grad(mode, *a, **k)
    set_grad_enabled.__grader_guard__ = True
    set_grad_enabled.__grader_orig__ = orig_set_grad
    _torch._C._set_grad_enabled = set_grad_enabled
    wrap(_threading.Thread, "start", "threading.Thread.start (grad mode is on in a new thread)")
    wrap(_thread, "start_new_thread", "_thread.start_new_thread (grad mode is on in a new thread)")
    import torch.autograd as _ag
    import torch.autograd.graph as _agg
    import torch.autograd.functional as _agf
    wrap(_ag, "grad", "torch.autograd.grad")
    wrap(_ag, "backward", "torch.autograd.backward")
    wrap(_ag, "_engine_run_backward", "the autograd engine")
    wrap(_agg, "_engine_run_backward", "the autograd engine")
    wrap(_torch.Tensor, "backward", "Tensor.backward")
    for n in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"):
        wrap(_agf, n, "torch.autograd.functional." + n)
    try:
        import torch.autograd.forward_ad as _fad
        for n in ("make_dual", "unpack_dual", "dual_level"):
            wrap(_fad, n, "torch.autograd.forward_ad." + n)
    except Exception:
        pass
    for modname in ("torch.func", "functorch"):
        try:
            mod = importlib.import_module(modname)
        except Exception:
            continue
        for n in ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "linearize"):
            wrap(mod, n, modname + "." + n)
    return state
