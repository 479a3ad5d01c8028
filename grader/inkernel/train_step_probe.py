"""Probe helpers of `train_step` (grader/checks/kind_train_step.py, its docstring has the contracts).

`__grader_glc(W, b, x, y, reduction, fn_name)` calls the student's get_loss_and_correct
(named `fn_name`) on a grader-made Linear model; `__grader_step(..., lr, fn_name)` calls
the student's step(loss, optimizer) and records the order of zero_grad/backward/step.
"""

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_glc(W, b, x, y, reduction, fn_name="get_loss_and_correct"):
    import torch as _torch
    model = _torch.nn.Linear(W.shape[1], W.shape[0]).double()
    with _torch.no_grad():
        model.weight.copy_(W)
        model.bias.copy_(b)
    crit = _torch.nn.CrossEntropyLoss(reduction=reduction)
    globals()["model"] = model
    res = globals()[fn_name](model, [x, y], crit, _torch.device("cpu"))
    out = {"returned": type(res).__name__}
    if not isinstance(res, (tuple, list)) or len(res) != 2:
        out["error"] = "returned %s, expected a pair (loss, correct)" % type(res).__name__
        return out
    loss, correct = res
    out["loss_type"] = type(loss).__name__
    if isinstance(loss, _torch.Tensor):
        out["loss"] = float(loss.detach().double().reshape(-1)[0]) if loss.numel() == 1 else None
        out["loss_numel"] = int(loss.numel())
        out["has_graph"] = bool(loss.requires_grad)
        if loss.requires_grad and loss.numel() == 1:
            model.zero_grad()
            loss.backward()
            out["gW"] = model.weight.grad.detach().clone() if model.weight.grad is not None else None
            out["gb"] = model.bias.grad.detach().clone() if model.bias.grad is not None else None
    elif isinstance(loss, (int, float)):
        out["loss"] = float(loss)
    out["correct_type"] = type(correct).__name__
    if isinstance(correct, _torch.Tensor):
        out["correct_dtype"] = str(correct.dtype)
        out["correct"] = float(correct.detach().double().reshape(-1)[0]) if correct.numel() == 1 else None
    elif isinstance(correct, (int, float)) and not isinstance(correct, bool):
        out["correct"] = float(correct)
    return out


def __grader_step(W, b, x, y, stale_W, stale_b, lr, fn_name="step"):
    import torch as _torch
    events = []

    class _SGD(_torch.optim.SGD):
        def zero_grad(self, set_to_none=True):
            events.append("zero_grad")
            return super().zero_grad(set_to_none)

        def step(self, closure=None):
            events.append("step")
            return super().step(closure)

    model = _torch.nn.Linear(W.shape[1], W.shape[0]).double()
    with _torch.no_grad():
        model.weight.copy_(W)
        model.bias.copy_(b)
    model.weight.grad = stale_W.clone()
    model.bias.grad = stale_b.clone()
    def _hook(g):
        # runs before the gradient is accumulated: is the stale gradient still there?
        old = model.weight.grad
        cleared = old is None or bool((old == 0).all())
        events.append("backward" if cleared else "backward(stale gradient still present)")
        return g

    model.weight.register_hook(_hook)
    globals()["model"] = model
    opt = _SGD(model.parameters(), lr=lr)
    loss = _torch.nn.functional.cross_entropy(model(x), y)
    ret = globals()[fn_name](loss, opt)
    return {"W": model.weight.detach().clone(), "b": model.bias.detach().clone(), "events": events,
            "returned": type(ret).__name__}
