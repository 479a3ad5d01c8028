"""Grader code that runs INSIDE the student's kernel or probe process, kept as real modules.

The check kinds send this code as source text: the hidden prologue/epilogue cells the
executor runs in the kernel, and the helper functions appended to a probe's module. Here
it is ordinary Python, so linters, coverage and the unit tests (tests/test_inkernel.py)
see it like any other code.

Each module has two parts, split by the MARKER line:

- above it, for humans and tools only (never sent): the module docstring and the imports
  that give a linter, and an in-process test, the names the code finds at run time in the
  kernel (IPython's `get_ipython`) or in a helper sent before it (`__grader_rebuild`);
- below it, the source text that `source()` returns: self-contained definitions, no
  grader imports, no module-level side effects (the caller adds the one-line call that
  uses them, with its per-item values as arguments).

The names keep the `__grader_` prefix: they are defined in the student's namespace, and
the callers delete what they install.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

MARKER = "# ---- in-kernel source: everything below this line is sent as text ----"

MODULES = ("model_capture", "model_export", "loss_curve_hooks", "loss_curve_write", "autograd_guard",
           "hand_derived", "param_values", "cnn_verify", "cnn_trace", "train_step_probe", "rebuild",
           "echo_probe", "cnn_eval", "witness")


@lru_cache(maxsize=None)
def _one(name: str) -> str:
    if name not in MODULES:
        raise KeyError(f"no in-kernel module {name!r} (known: {', '.join(MODULES)})")
    text = resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")
    head, sep, body = text.partition("\n" + MARKER + "\n")
    if not sep or MARKER in body:
        raise ValueError(f"grader/inkernel/{name}.py must contain the marker line exactly once")
    return "\n" + body.strip("\n") + "\n"


def source(*names: str) -> str:
    """The in-kernel source text of the named modules, in order, joined."""
    return "".join(_one(n) for n in names)
