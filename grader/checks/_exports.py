"""Shared machinery for check kinds that grade *trained* objects from the student's kernel.

Kernel side (grader code that runs INSIDE the sandboxed kernel, see `capture_prologue`):
an IPython `post_run_cell` callback that, after every cell, looks for a global instance of
the target class (preferring the variable named in the rubric, default `model`) and keeps,
in memory, a copy of its state_dict plus plain metadata (constructor arguments recorded by
a thin wrapper around the class's `__init__`, simple attributes, method signatures). It
keeps the *last* state seen per class, so a `model` that a later cell rebinds to another
class (hw2_rnn does this) is still graded. Nothing is written while student cells run:
the epilogue deletes any file of the same name (a student could have forged one) and then
writes `<key>.npz` (numeric arrays, `numpy.savez`, no pickle) and `<key>.json`.

Grader side (`load_export`): the files are untrusted data. They are read only when the
trusted executor recorded that the grader's prologue AND epilogue cells completed, and
through grader/untrusted.py: the JSON is size-capped, its strings made valid UTF-8, and
validated field by field; the arrays are never unpickled, must be numeric, and their
count and decoded size are checked from the zip directory and the .npy headers before any
data is decompressed. The validated arrays are
rewritten by the grader into a fresh .npz for the probe, so the probe sees exactly what
was validated.

Limits (stated in the report): the kernel is one process, so student code that *targets*
the grader (walks IPython's callbacks, patches numpy.savez, or runs a thread that
rewrites the files after the epilogue) can still forge what is exported. The checks that
use these exports therefore re-verify behaviour in a separate probe process, and the
loss-curve check cross-checks the snapshots against the seeded initial weights and the
live final model.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader import inkernel, untrusted

MAX_JSON_BYTES = 2 << 20
MAX_ARRAYS = 2000
SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,120}$")


def recording_key(what: str, **params) -> str:
    """The name of one recording in the kernel: the id of its hidden prologue and epilogue
    cells (the executor's instrumentation records) and the stem of its export files.

    It is derived from what is recorded (the kind of recording and its parameters), never
    from an item's id or its notebook's name: an execution is cached under its prologue
    (grader/execute/cache.py), so renaming an item, or grading the same notebook under a
    semester's other file names (hw3_rnn.ipynb, hw2_rnn.ipynb), reuses the execution; and
    two items that record the same thing share one recording."""
    blob = json.dumps(params, sort_keys=True, default=str)
    return f"x-{re.sub(r'[^A-Za-z0-9_]', '_', what)[:40]}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def model_key(target: str, variable: str | None, max_params: int) -> str:
    """The recording of the last trained `target` instance (grader/inkernel/model_capture.py)."""
    return recording_key("model", target=target, prefer=[variable or "model"], max_params=int(max_params))


# --------------------------------------------------------------------------------------
# kernel side: code text (real modules in grader/inkernel, sent as source)


_CAPTURE = inkernel.source("model_capture")


def capture_prologue(key: str, class_name: str, prefer: list[str], max_numel: int) -> str:
    var = f"__grader_store_{re.sub(r'[^A-Za-z0-9_]', '_', key)}"
    return (_CAPTURE + f"\n{var} = __grader_capture_install({key!r}, {class_name!r}, {list(prefer)!r}, {int(max_numel)})\n"
            "del __grader_capture_install\n")


_WRITE = inkernel.source("model_export")


def capture_epilogue(key: str) -> str:
    var = f"__grader_store_{re.sub(r'[^A-Za-z0-9_]', '_', key)}"
    return (_WRITE + f"\ntry:\n    __grader_write_export({key!r}, {var})\nexcept NameError:\n    pass\n"
            "del __grader_write_export\n")


# --------------------------------------------------------------------------------------
# grader side


@dataclass
class ModelExport:
    meta: dict
    names: list[str]
    arrays: dict[str, np.ndarray]  # name -> array
    npz: Path | None = None  # grader-written copy of the validated arrays, for probes
    notes: list[str] = field(default_factory=list)


def instrumentation_ok(run, key: str | None = None) -> str | None:
    """None if the grader's prologue and epilogue (this recording's, when given: its
    recording_key) both ran to completion in the kernel."""
    if run is None:
        return "the notebook was not executed"
    cut = getattr(run, "cut", None)
    if run.status == "timeout" and cut is not None and cut.exports != "ran":
        # a cell cut at its time limit: the exports run only if the kernel stopped when interrupted
        why = ("the cut cell did not stop when interrupted" + (f" ({cut.note})" if cut.note else "")
               if cut.exports == "not_run" else "the grader's exports failed after the cut")
        return f"cell {cut.cell} was cut at its time limit of {cut.limit_s:g} s and {why}, so nothing could be exported from it"
    # after a cut whose exports ran, the model trained so far is graded on its own merits
    if not run.executed and run.status not in ("cell_errors",) and not (run.status == "timeout" and cut is not None):
        return f"the notebook did not run to the end ({run.status}{': ' + run.message[:200] if run.message else ''}), so nothing could be exported from it"
    kinds = {str(h.get("kind")): h for h in (run.instrumentation or ())
             if isinstance(h, dict) and (key is None or h.get("item") in (None, key))}
    for k in ("prologue", "epilogue"):
        h = kinds.get(k)
        if h is None:
            return f"the grader's {k} did not run in the kernel"
        if h.get("status") != "ok":
            return f"the grader's {k} failed in the kernel ({h.get('ename', '')}: {str(h.get('evalue', ''))[:200]})"
    if run.exports_dir is None or not Path(run.exports_dir).is_dir():
        return "no exports directory"
    return None


def read_json(path: Path, limit: int = MAX_JSON_BYTES) -> dict | str:
    if not path.exists() or path.is_symlink() or not path.is_file():
        return f"{path.name} was not written"
    if path.stat().st_size > limit:
        return f"{path.name} is too large"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except Exception as exc:
        return f"{path.name} is not valid JSON ({type(exc).__name__})"
    if not isinstance(data, dict):
        return f"{path.name} is malformed"
    return untrusted.clean_tree(data, untrusted.MAX_STRING)


def read_npz(path: Path, max_bytes: int) -> dict[str, np.ndarray] | str:
    """The numeric arrays of an exported .npz, at most `max_bytes` of them once decoded (as
    checked from the headers before reading), or a message saying why not."""
    import os
    import stat

    if not path.exists() or path.is_symlink() or not path.is_file():
        return f"{path.name} was not written"
    if path.stat().st_size > max_bytes:
        return f"{path.name} is larger than the limit of {max_bytes >> 20} MB"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return f"{path.name} could not be opened ({type(exc).__name__})"
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return f"{path.name} was not written"
        try:
            return untrusted.read_npz(fh, max_bytes, kinds=untrusted.NUMERIC_KINDS, max_members=MAX_ARRAYS,
                                      label=path.name)
        except untrusted.Refused as exc:
            return f"{path.name} could not be read as plain arrays: {exc}"
        except Exception as exc:
            return f"{path.name} could not be read as plain arrays ({type(exc).__name__})"


def load_export(ctx, key: str, max_mb: int = 256) -> ModelExport | str:
    """The validated model export of the recording `key` (model_key), or a message saying
    why there is none."""
    why = instrumentation_ok(ctx.run, key)
    if why:
        return why
    d = Path(ctx.run.exports_dir)
    meta = read_json(d / f"{key}.json")
    if isinstance(meta, str):
        return meta
    if not meta.get("found"):
        err = str(meta.get("error") or "")[:300]
        return "no trained model found in the notebook" + (f" (grader capture error: {err})" if err else "")
    names = meta.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) and 0 < len(n) <= 200 for n in names) or len(names) > MAX_ARRAYS:
        return "the exported model description is malformed"
    if meta.get("too_large"):
        return f"the model has {meta.get('numel')} parameters, more than the grader exports"
    arrays = read_npz(d / f"{key}.npz", max_mb << 20)
    if isinstance(arrays, str):
        return arrays
    if sorted(arrays) != sorted(f"p{i}" for i in range(len(names))):
        return "the exported weights do not match their description"
    by_name = {n: arrays[f"p{i}"] for i, n in enumerate(names)}
    exp = ModelExport(meta=meta, names=names, arrays=by_name)
    out = Path(ctx.scratch) / "exports-validated"
    out.mkdir(parents=True, exist_ok=True)
    exp.npz = out / f"{key}.npz"
    np.savez(exp.npz, **{f"p{i}": by_name[n] for i, n in enumerate(names)})
    return exp


def init_kwargs(meta: dict, infer: dict | None = None) -> tuple[dict, list[str]] | str:
    """Constructor keyword arguments to rebuild the exported object, with notes.

    Recorded call arguments win; otherwise every required parameter of __init__ must be
    a simple attribute of the same name (self.hidden_size = hidden_size) or inferable.
    """
    notes: list[str] = []
    sig = (meta.get("signatures") or {}).get("__init__")
    rec = meta.get("init_args")
    params = []
    if isinstance(sig, list):
        params = [p for p in sig[1:] if isinstance(p, list) and len(p) == 3]
    extra = [p[0] for p in params if p[2]]
    if extra:
        notes.append("__init__ has optional argument(s) " + ", ".join(map(str, extra)))
    if isinstance(rec, dict):
        bad = [k for k, v in rec.items() if isinstance(v, dict) or v is None and k.startswith("*")]
        if not bad and not any(k.startswith("*") for k in rec):
            return {str(k): v for k, v in rec.items()}, notes + [f"rebuilt with the constructor arguments your notebook used: {_fmt_kw(rec) or 'none'}"]
        notes.append("the recorded constructor arguments could not all be reused; rebuilding from attributes")
    attrs = meta.get("attrs") if isinstance(meta.get("attrs"), dict) else {}
    kw = {}
    for name, kind, has_default in params:
        if kind in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            continue
        if name in attrs:
            kw[name] = attrs[name]
        elif infer and name in infer:
            kw[name] = infer[name]
        elif not has_default:
            return f"cannot rebuild your model: __init__ needs `{name}`, which is neither recorded nor stored as `self.{name}`"
    return kw, notes + [f"rebuilt with {_fmt_kw(kw) or 'no arguments'}"]


def _fmt_kw(kw: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kw.items())


# --------------------------------------------------------------------------------------
# probe modules


def module_excluding(extraction, targets: list[str], exclude: set[str]) -> str:
    """Extraction.module_for without pulling in statements that bind `exclude` names."""
    return extraction.module_for(targets, exclude=exclude)


def shuffled_weights(arrays: dict, names: list[str], seed: int, path) -> None:
    """The weights control of the trained-model kinds: every floating tensor's entries permuted
    (the same values, no learned structure), written as the probe's p0, p1, ... .npz."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, n in enumerate(names):
        a = np.asarray(arrays[n])
        if a.dtype.kind == "f" and a.size > 1:
            a = rng.permutation(a.reshape(-1)).reshape(a.shape)
        out[f"p{i}"] = a
    np.savez(path, **out)


def probe_module(ctx, targets: list[str], calls, exclude: set[str], extra_source: str, files: dict | None = None,
                 load_timeout_s: float = 60.0):
    """Run `calls` against the targets' module (minus `exclude`) plus grader helper code.

    The extraction reads the pipeline's prepared cells (grader/execute/prepare.py): the
    rubric's skipped lines and rewrites (execution.rewrite_lines, e.g. forced CUDA -> CPU)
    are already in the student's code exactly as the kernel ran it, and are not applied
    a second time here."""
    student = module_excluding(ctx.extraction, targets, exclude)
    source = student + "\n\n# --- grader helpers ---\n" + extra_source
    return ctx.prober.run(source, calls, load_timeout_s=load_timeout_s, files=files)


def cpu_rewrite(ctx, source: str) -> str:
    """The rubric's rewrite rules applied to one source. Probes no longer call this: they get
    the prepared cells, rewritten once for the kernel and the probes alike."""
    from grader.execute.prepare import rewrite_source

    rules = getattr(getattr(getattr(ctx, "notebook", None), "execution", None), "skip_cells", ())
    return rewrite_source(source, rules)


def resolve_target(ctx, item, alternatives=()) -> tuple[str, str]:
    """The class/function name to grade: the item's target, else the first of the rubric's
    alternative names the notebook defines (e.g. `CNN`, renamed `CNN_Solution` in later
    semesters). Returns (name, a note for the report, "" when the target itself is used)."""
    names = [item.target] + [a for a in alternatives if a != item.target]
    if ctx.extraction is None or not alternatives:
        return item.target, ""
    found = [n for n in names if ctx.extraction.find(n) is not None]
    if not found:
        return item.target, ""
    name = found[0]
    note = f"graded class `{name}` (the rubric accepts {' or '.join(f'`{n}`' for n in names)})"
    if len(found) > 1:
        note += f"; also defined: {', '.join(f'`{n}`' for n in found[1:])} (not graded)"
    return name, note


REBUILD_SOURCE = inkernel.source("rebuild")


# --- shared by the kinds that grade an exported trained model --------------------------

def model_instrumentation(item, variable: str | None, max_params: int):
    """Prologue/epilogue capturing the last trained instance of `item.target` (preferring
    the global named `variable`, default `model`) and exporting it as plain data."""
    from grader.checks.base import Instrumentation

    key = model_key(item.target, variable, max_params)
    return Instrumentation(capture_prologue(key, item.target, [variable or "model"], max_params), capture_epilogue(key), key)


def load_trained(ctx, item, variable: str | None, max_params: int):
    """The exported model of `item.target` (recorded by model_instrumentation with the same
    variable and max_params), or a failed CheckResult saying what is missing."""
    from grader.checks.base import CheckResult

    cls = item.target
    if (msg := ctx.missing(cls)):
        return CheckResult.failed(msg)
    exp = load_export(ctx, model_key(cls, variable, max_params))
    if isinstance(exp, str):
        return CheckResult.failed(f"{cls}: {exp}; a trained `{variable or 'model'}` of class {cls} is needed at the end of the notebook")
    return exp
