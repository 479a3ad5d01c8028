"""The in-process fake prober (fake_prober.py) extended to the kinds that probe the student's
module with grader helper code and read what the kernel exported: cnn_architecture,
train_step, trained_model, validation_accuracy, loss_curve (and gradient's guarded probe).

- `ModuleContext.prober.run(source, calls, files=...)` (and `.probe`): the grader's text (every line of
  `source`: helpers, guards; the "student module" part is only comment lines here) is
  exec'd in a copy of the student's namespace (a dict of the test's classes and functions),
  in a fresh work dir holding `files`; arguments and results cross as they do between the
  grader and a real probe (grader.probe's encoder -> the worker's decoder; the worker's
  encoder -> grader.probe.decode, the untrusted-data door), so a kind sees the same plain
  data (numpy arrays, Opaque for objects) as from a sandbox. `probe_errors` makes the calls
  of a function fail as a killed or timed-out probe reports it, without running them.
- `FakeKernel.run(kind, item, *cells)`: a kind's instrument() prologue and epilogue, as
  text, around "cells" (callables on the user namespace) in a work dir, with a stand-in
  IPython shell (post_run_cell callbacks, execution_count); returns the NotebookRun the
  executor would record (instrumentation records, exports dir).

Everything exec'd here is the grader's own code; the "student" code is the test's.
"""
from __future__ import annotations

import io
import os
import shutil
import tempfile
import traceback
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fake_prober import FakeContext
from grader.model import NotebookRun
from grader.probe import Call, Outcome, _call_spec, decode
from grader.probe import worker


@contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def cross(value):
    """A value as the grader reads it back from a probe: encoded by the worker, decoded by
    grader.probe.decode (arrays as numpy, custom objects as Opaque)."""
    import torch

    enc = worker.Encoder()
    tree = enc.encode(value, torch)
    buf = io.BytesIO()
    np.savez(buf, **enc.arrays)
    return decode(tree, buf.getvalue())


class FakeProber:
    def __init__(self, ctx: "ModuleContext"):
        self.ctx = ctx

    def run(self, module_source: str, calls: list[Call], load_timeout_s: float = 60.0, files: dict | None = None) -> list[Outcome]:
        import torch

        self.ctx.sources.append(module_source)
        spec, inputs = _call_spec(calls, load_timeout_s)
        work = Path(tempfile.mkdtemp(prefix="probe-", dir=self.ctx.scratch))
        for name, data in (files or {}).items():
            if isinstance(data, (bytes, bytearray)):
                (work / name).write_bytes(data)
            else:
                shutil.copyfile(data, work / name)
        ns = {**self.ctx.ns, "__name__": "student"}
        out = []
        with _cwd(work):
            try:
                exec(compile(module_source, "<probe module>", "exec"), ns)
            except Exception as exc:  # as the worker reports a load failure
                err = f"could not load the extracted code: {type(exc).__name__}: {exc}"
                return [Outcome(False, error=err) for _ in calls]
            for call, c in zip(spec["calls"], calls):
                self.ctx.calls.append(c)
                if c.fn in self.ctx.probe_errors:  # the probe itself failed (killed, timed out, refused)
                    out.append(Outcome(False, error=self.ctx.probe_errors[c.fn]))
                    continue
                try:
                    args = [worker.decode(a, inputs.arrays, torch) for a in call["args"]]
                    kwargs = {k: worker.decode(v, inputs.arrays, torch) for k, v in call["kwargs"].items()}
                    value = ns[call["fn"]](*args, **kwargs)
                except Exception as exc:
                    out.append(Outcome(False, error=f"{type(exc).__name__}: {str(exc)[:500]}",
                                       traceback=traceback.format_exc()[-3000:]))
                    continue
                out.append(Outcome(True, cross(value)))
        return out


class _Extraction:
    """The extraction's view used by _exports.probe_module: comment lines per target (the
    student's definitions are already in the probe's namespace)."""

    def __init__(self, ctx: "ModuleContext"):
        self.ctx = ctx
        self.stmts: list = []

    def module_for(self, targets, exclude=()) -> str:
        return self.ctx.module_for(*targets)

    def find(self, name):
        return name if name in self.ctx.ns else None


class ModuleContext(FakeContext):
    """FakeContext plus `prober`, `extraction`, `scratch` and the notebook's `run`."""

    def __init__(self, namespace: dict, scratch: Path, run: NotebookRun | None = None, seed: int = 7):
        super().__init__(namespace, seed)
        self.scratch = Path(scratch)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.run = run
        self.prober = FakeProber(self)
        self.extraction = _Extraction(self)
        self.sources: list[str] = []  # the module text of every probe, in order
        self.probe_errors: dict[str, str] = {}  # function name -> the error its probe call reports, uncalled

    def probe(self, targets, calls, load_timeout_s: float = 60.0, *, extra_source: str = "", files=None) -> list[Outcome]:
        source = self.module_for(*targets) + ("\n\n# --- grader helpers ---\n" + extra_source if extra_source else "")
        return self.prober.run(source, calls, load_timeout_s, files)


class _Events:
    def __init__(self):
        self.callbacks = []

    def register(self, event, fn):
        assert event == "post_run_cell", event
        self.callbacks.append(fn)


class FakeKernel:
    """A kind's prologue and epilogue run as text around the test's cells, in `workdir`."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.user_ns: dict = {}
        self.events = _Events()
        self.execution_count = 0

    def run(self, kind, item, *cells, epilogue: bool = True) -> NotebookRun:
        ins = kind.instrument(item)
        assert ins is not None, f"{kind.name} has no instrumentation"
        ns = self.user_ns
        ns["get_ipython"] = lambda: self
        records = []
        with _cwd(self.workdir):
            try:
                exec(compile(ins.prologue, "<prologue>", "exec"), ns)
                records.append({"kind": "prologue", "item": ins.key, "status": "ok"})
                for cell in cells:
                    self.execution_count += 1
                    cell(ns)
                    for cb in list(self.events.callbacks):
                        cb()
                if epilogue:
                    exec(compile(ins.epilogue, "<epilogue>", "exec"), ns)
                    records.append({"kind": "epilogue", "item": ins.key, "status": "ok"})
            finally:
                for v in list(ns.values()):  # global torch hooks (loss_curve) must not outlive the test
                    if isinstance(v, dict) and isinstance(v.get("handles"), list):
                        for h in v["handles"]:
                            h.remove()
        return NotebookRun("fake.ipynb", "completed", True, 1.0, len(cells), (), exports_dir=self.workdir / "__grader_exports__",
                           instrumentation=tuple(records))
