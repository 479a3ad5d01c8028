"""Probe helper of `validation_accuracy` (grader/checks/kind_validation_accuracy.py).

`__grader_cnn_eval(class_name, kwargs, names, image_sets, batch, seed, weights)` rebuilds
the trained model (or, with the control's weights file, the model with its weights shuffled
by the grader) and returns its outputs on each image set, batch by batch.
"""
from grader.inkernel.rebuild import __grader_rebuild  # noqa: F401  (in the probe: sent before)

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_cnn_eval(class_name, kwargs, names, image_sets, batch, seed, weights="weights.npz"):
    """Outputs on each image set, and the names of the rebuilt model's parameters."""
    import torch as _torch
    m = __grader_rebuild(class_name, kwargs, names, seed, weights)
    params = [n for n, _ in _torch.nn.Module.named_parameters(m)]
    outs = []
    for images in image_sets:
        res = []
        with _torch.no_grad():
            for i in range(0, images.shape[0], batch):
                y = m(images[i:i + batch].float())
                if isinstance(y, (tuple, list)):
                    y = y[0]
                res.append(y.detach().double().cpu())
        outs.append(_torch.cat(res))
    return {"outputs": outs, "params": params}
