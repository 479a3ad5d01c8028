"""`loss_curve`: the Section-8 training procedure learns without spikes (DESIGN.md's rule).

The grader never reads the losses a notebook recorded or plotted (students smooth them).

1. instrument(): the prologue registers, inside the kernel, a global module forward
   pre-hook (to learn which objects are instances of `model_class`, default SimpleLSTM)
   and global optimizer step pre/post hooks (torch.optim.optimizer.register_optimizer_
   step_{pre,post}_hook). One "run" is kept per model instance; every optimizer step on
   its parameters (whichever optimizer, however many) is a step of that run:
   - before the first step the initial weights are copied (in memory); after EVERY step
     the post-step weights are kept as the run's "last" weights, and after every
     `steps_per_snapshot` steps (default 31 = one epoch of 31 batches) they are also
     appended to the run's snapshots;
   - a step that changed no weight (lr = 0, no gradients) is counted apart: only steps
     that changed the weights count as training (`effective` steps);
   - before each step the weights are compared with the run's last post-step weights:
     a difference means they were changed outside an optimizer step (load_state_dict,
     copy_, an in-place edit) -- counted as an `edit`, with the step it preceded;
   - the largest change of one weight in one step is kept (`max_step_change`).
   The epilogue, after the last cell, deletes any file of the same name and writes, as
   stacked numeric arrays (`numpy.savez`, no pickle) plus plain JSON metadata: every run's
   counts, optimizers and whether its model is the global `model`; the live global
   `model`'s weights; and, for the runs whose last post-step weights equal the live
   weights (and the run of the live object itself, for the diagnosis), their snapshots
   (the last post-step weights appended when the step count is not a multiple of
   `steps_per_snapshot`) and their last post-step weights in their own dtype.
2. run(), in the trusted grader: the files are used only if the trusted executor says the
   prologue and epilogue completed; they are size-capped, loaded with
   allow_pickle=False and validated against SimpleLSTM(*sizes) (names and shapes: a
   changed hidden size fails with that reason). Then:
   - which runs are graded: every run of `model_class` whose LAST optimizer step produced
     the live weights of the global `model`, i.e. whose last post-step weights equal the
     exported live weights bit for bit (same dtype, same shape, same bits), re-checked
     here. Other runs are listed, with why they were not graded (the lab's EASY demo run,
     a decoy started later, a run on a copy). Weights changed after the last step
     (load_state_dict from another run, an in-place copy, restoring a "best" checkpoint)
     cannot be claimed by a run: if no run ends in the live weights, the item fails and
     says why (the live `model` was changed after its last optimizer step / was never
     stepped / is missing). Failed, not pending: the bit-for-bit comparison is
     unambiguous, and the curve of the procedure that produced the graded model does not
     exist. Every graded run must pass; the feedback names the graded run(s);
   - seed: each graded run's first snapshot must equal the weights of
     `torch.manual_seed(seed)` + SimpleLSTM(*sizes) built by the grader;
   - length: at least `min_epochs` (rubric; default 100, the lab's max_epochs) x
     `steps_per_snapshot` steps that changed the weights (padding with lr = 0 steps, or
     stopping before the later spikes, is not the procedure);
   - every snapshot is evaluated by the grader's reference SimpleLSTM on a fixed
     evaluation set (reference.seq_classification.evaluation_set: 512 MODERATE
     sequences from their own RandomState), giving a loss/accuracy curve;
   - judged: all finite; no rise above `max_rise` (default 0.2) over the running minimum
     after the first `ignore_epochs` (default 1) snapshots; never back above the
     initial loss once it was `learned_margin` (default 0.1) below it; final accuracy at
     least `min_accuracy` (default 0.6: clearly above chance, 0.25 for 4 balanced
     classes), so lr = 0 or a too-small lr that never leaves ln 4 fails, while a smooth
     procedure that learns more slowly than the reference (the homework asks for curves
     without spikes, not for a speed) passes;
   - a graded run that passes all of this goes to a TA (`pending`, no points) when its
     weights were changed between its optimizer steps (a rollback to the best weights
     between the per-epoch snapshots looks like a smooth curve; a legitimate weight
     constraint looks the same to the grader), or when one step moved a weight by more
     than `max_step_change` (default 1.0; the lab's RMSprop procedures move a weight by at
     most ~10 x lr = 0.01 per step): a jump onto weights trained elsewhere. An error of
     the grader's own hooks in the kernel (its record may be incomplete) also sends a
     verdict that is not a curve failure to a TA.
   The curve (per-snapshot loss and accuracy) is in the evidence, and a PNG plot of it is
   in evidence["artifacts"]["<item id>.loss_curve.png"] (base64).

Defence against forged snapshot files in __grader_exports__ and its limits: files are
written only by the epilogue (after every student cell), which first deletes what is
there, and are read only if the executor recorded a successful prologue and epilogue;
a student cell writing fake files therefore achieves nothing. What remains possible
is an attack that targets the grader from inside the same kernel process (finding the
hooks' closures, patching numpy.savez, or a background thread rewriting the files after
the epilogue): the kernel is one process and cannot be protected from itself. And an
optimizer step is student code: a custom optimizer (or crafted .grad values) can walk the
weights along any path, e.g. from the seeded init to the weights of a spiky run in 3100
small steps along a straight line. The hooks see real optimizer steps there; such a
forgery needs a grader-aware student and still a well-trained model, and it is not
detected (a single large jump is: `max_step_change`).
"""
from __future__ import annotations

import base64
import io
import math
from pathlib import Path

from typing import Annotated

import numpy as np
from pydantic import Field

from grader import inkernel
from grader.checks import _exports as ex
from grader.checks.base import IDENTIFIER, CheckKind, CheckParams, CheckResult, Instrumentation, Part, combine
from grader.checks.registry import register

MAX_RUNS = 50  # runs of the model class followed in the kernel (the lab has two)
MAX_EXPORTED_RUNS = 4  # runs whose snapshots are exported (those ending in the live weights first)

_PROLOGUE = inkernel.source("loss_curve_hooks")

_EPILOGUE = inkernel.source("loss_curve_write")


def _var(key: str) -> str:
    return "__grader_lc_" + "".join(c if c.isalnum() else "_" for c in key)


@register
class LossCurve(CheckKind):
    name = "loss_curve"
    needs_target = False

    class Params(CheckParams):
        model_class: str = Field("SimpleLSTM", pattern=IDENTIFIER, description="the class whose training runs are recorded")
        sizes: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = Field(
            (8, 12, 4), description="(input, hidden, output) sizes of the reference model that evaluates the snapshots")
        seed: int | None = Field(1, ge=0, description="the initial weights must be those of torch.manual_seed(seed) (null: not checked)")
        steps_per_snapshot: int = Field(31, ge=1, description="optimizer steps per snapshot (the lab's batches per epoch)")
        max_snapshots: int = Field(1000, ge=2, le=5000, description="snapshots recorded per run at most")
        # the lab's Section 8 trains for max_epochs = 100 (see the rubrics' comments)
        min_epochs: int = Field(100, ge=0, description="the graded run has at least min_epochs x steps_per_snapshot weight-changing steps")
        max_step_change: float | None = Field(1.0, gt=0, description="a larger change of the weights in one step (or edited weights): needs a TA; null: unchecked")
        max_rise: float = Field(0.2, ge=0, description="largest allowed rise of the loss over its running minimum")
        ignore_epochs: int = Field(1, ge=0, description="epochs at the start not judged for spikes")
        learned_margin: float = Field(0.1, ge=0, description="the loss must fall this far below the initial loss")
        min_accuracy: float = Field(0.6, ge=0, le=1, description="final accuracy needed")
        partial_credit: float = Field(0.0, ge=0, le=1, description="fraction of the points when the curve fails but the run is genuine")
        plot: bool = Field(True, description="attach a PNG of the curve to the report")

    @staticmethod
    def _key(p) -> str:
        return ex.recording_key("loss_curve", model_class=p.model_class, every=p.steps_per_snapshot,
                                max_snapshots=p.max_snapshots)

    def instrument(self, item) -> Instrumentation:
        p = self.params(item)
        key = self._key(p)
        var = _var(key)
        pro = (_PROLOGUE + f"\n{var} = __grader_lc_install({p.model_class!r}, {p.steps_per_snapshot}, "
               f"{p.max_snapshots}, {MAX_RUNS})\ndel __grader_lc_install\n")
        epi = (_EPILOGUE + f"\ntry:\n    {var}\nexcept NameError:\n    pass\nelse:\n"
               f"    __grader_lc_write({key!r}, {var}, {MAX_EXPORTED_RUNS}, get_ipython().user_ns.get('model'))\n"
               "del __grader_lc_write\n")
        return Instrumentation(pro, epi, key)

    def run(self, ctx, item) -> CheckResult:
        p = self.params(item)
        key = self._key(p)
        why = ex.instrumentation_ok(ctx.run, key)
        if why:
            return CheckResult.failed(f"the training curve could not be recorded: {why}")
        d = Path(ctx.run.exports_dir)
        meta = ex.read_json(d / f"{key}.json")
        if isinstance(meta, str):
            return CheckResult.failed(f"the training curve could not be recorded: {meta}")
        if meta.get("format") != 2:
            return CheckResult.failed("the training curve could not be recorded: the export is not in the grader's format")
        if not meta.get("found"):
            err = str(meta.get("error") or "")
            return CheckResult.failed(f"no optimizer step on a {p.model_class} was observed during the notebook's run: "
                                      "train the model with a torch.optim optimizer" + (f" (grader hook error: {err[:200]})" if err else ""))
        arrays = ex.read_npz(d / f"{key}.npz", 512 << 20)
        if isinstance(arrays, str):
            return CheckResult.failed(f"the training curve could not be recorded: {arrays}")
        return judge_export(meta, arrays, p, ctx, item)


# ---------------------------------------------------------------------------------------
# trusted judging (also used directly by the tests)


def reference_shapes(sizes) -> dict[str, tuple]:
    from reference.seq_classification import SimpleLSTM
    import torch

    with torch.random.fork_rng():
        m = SimpleLSTM(*sizes)
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}


def reference_init(seed: int, sizes) -> dict[str, np.ndarray]:
    from reference.seq_classification import SimpleLSTM
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        m = SimpleLSTM(*sizes)
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


def evaluate_snapshots(snaps: list[dict], sizes, eval_set=None) -> dict:
    from reference.seq_classification import SimpleLSTM, evaluation_set
    import torch

    x, y = evaluation_set() if eval_set is None else eval_set
    model = SimpleLSTM(*sizes)
    model.eval()
    losses, accs = [], []
    with torch.no_grad():
        for s in snaps:
            model.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in s.items()})
            out = model(x)
            losses.append(float(torch.nn.functional.cross_entropy(out, y)))
            accs.append(float((out.argmax(dim=1) == y).float().mean()))
    return {"loss": losses, "accuracy": accs}


def judge_curve(losses: list[float], accs: list[float], p: "LossCurve.Params | dict") -> tuple[list[Part], dict]:
    """Parts and evidence for one curve (index 0 = initial weights, i = after snapshot i)."""
    p = LossCurve.Params.of(p)
    ev: dict = {}
    finite = all(math.isfinite(v) for v in losses)
    parts = [Part("finite loss at every snapshot", 1.0, finite, "" if finite else
                  f"NaN/inf at snapshot {next(i for i, v in enumerate(losses) if not math.isfinite(v))}")]
    if not finite:
        return parts, ev
    start = max(1, int(p.ignore_epochs) + 1)
    worst, at, run_min, min_at = 0.0, None, min(losses[:start]), None
    run_min_idx = int(np.argmin(losses[:start]))
    for i in range(start, len(losses)):
        rise = losses[i] - run_min
        if rise > worst:
            worst, at, min_at = rise, i, run_min_idx
        if losses[i] < run_min:
            run_min, run_min_idx = losses[i], i
    ev["max_rise"] = round(worst, 4)
    ok = worst <= p.max_rise
    parts.append(Part(f"no spike: rise over the running minimum <= {p.max_rise}", 1.0, ok,
                      f"max rise {worst:.3f}" + (f" at epoch {at} (loss {losses[at]:.3f} after a minimum of {losses[min_at]:.3f} at epoch {min_at})"
                                                 if not ok and at is not None else "")))
    init = losses[0]
    learned_at = next((i for i, v in enumerate(losses) if v < init - p.learned_margin), None)
    back = None
    if learned_at is not None:
        back = next((i for i in range(learned_at, len(losses)) if losses[i] > init), None)
    parts.append(Part("never back above the initial loss once learned", 1.0, back is None,
                      f"initial loss {init:.3f}" + (f"; back to {losses[back]:.3f} at epoch {back} (learned by epoch {learned_at})" if back is not None else "")))
    final = accs[-1]
    ev["final_accuracy"] = round(final, 4)
    parts.append(Part(f"still learns: final accuracy >= {p.min_accuracy}", 1.0, final >= p.min_accuracy,
                      f"final accuracy {final:.3f}, final loss {losses[-1]:.3f}" + (
                          " (near chance: a learning rate of 0 or a too small one does not fix the spikes)" if final < p.min_accuracy else "")))
    return parts, ev


# -- which runs are graded -------------------------------------------------------------


def _int(v, default=None):
    return v if type(v) is int else default


def _num(v, default=None):
    return float(v) if type(v) in (int, float) else default


def _names(v) -> list[str] | None:
    if isinstance(v, list) and 0 < len(v) <= 100 and all(isinstance(n, str) for n in v):
        return v
    return None


def _from_format1(meta: dict, arrays: dict) -> tuple[dict, dict]:
    """A format-1 export (one run's snapshots, `final<i>` = the global `model` when
    `model_global_is_graded_run`), as built by hand by tests, in format 2. The kernel's
    epilogue writes format 2 only, and run() accepts nothing else. Without `final<i>`
    the run's own last snapshot stands for the live weights (that format named none)."""
    names = _names(meta.get("names")) or []
    runs = [r for r in (meta.get("runs") or [{}]) if isinstance(r, dict)] or [{}]
    j = len(runs) - 1
    info = [{"index": i, "steps": _int(r.get("steps"), 0), "effective": _int(r.get("steps"), 0), "edits": 0,
             "hidden_size": r.get("hidden_size"), "optimizers": r.get("optimizers") or [], "is_live_object": False,
             "exported": False} for i, r in enumerate(runs)]
    steps = _int(meta.get("steps"), info[j]["steps"])
    at = meta.get("at") if isinstance(meta.get("at"), list) else None
    out = {}
    for i in range(len(names)):
        s = arrays.get(f"s{i}")
        if s is None or s.ndim < 1 or not len(s):
            names = []
            break
        out[f"r{j}_s{i}"] = s
        out[f"r{j}_last{i}"] = s[-1]
    if names:
        n = len(out[f"r{j}_s0"])
        out[f"r{j}_at"] = np.asarray(at if at is not None and len(at) == n else [31 * k for k in range(n)], dtype=np.int64)
        finals = [arrays.get(f"final{i}") for i in range(len(names))]
        global_is_run = bool(meta.get("model_global_is_graded_run"))
        for i in range(len(names)):
            out[f"live{i}"] = finals[i] if global_is_run and all(f is not None for f in finals) else out[f"r{j}_last{i}"]
        info[j].update(steps=steps, effective=steps, is_live_object=True, exported=True, names=names)
    meta2 = {"format": 2, "every": meta.get("every"), "found": True, "runs": info,
             "live": {"present": True, "class": meta.get("model_global_class") or "SimpleLSTM", "names": names or None}}
    return meta2, out


def _load_run(r: dict, arrays: dict) -> dict | str:
    """The exported snapshots of run r: {"names", "stacked": {name: (n, ...)}, "last": {name: array}, "at"}."""
    j = r["index"]
    names = _names(r.get("names"))
    if names is None:
        return "its names are malformed"
    stacked, last = {}, {}
    for i, n in enumerate(names):
        s, lst = arrays.get(f"r{j}_s{i}"), arrays.get(f"r{j}_last{i}")
        if s is None or lst is None or s.ndim < 1:
            return "its snapshots are incomplete"
        stacked[n], last[n] = s, lst
    at = arrays.get(f"r{j}_at")
    counts = {a.shape[0] for a in stacked.values()}
    if len(counts) != 1 or at is None or at.ndim != 1 or len(at) != next(iter(counts)):
        return "its snapshots are inconsistent"
    # the last snapshot (float32, what is evaluated) is the last post-step weights
    for n in names:
        if last[n].shape != stacked[n].shape[1:] or not np.array_equal(stacked[n][-1], np.asarray(last[n]).astype(stacked[n].dtype)):
            return "its last snapshot is not its last post-step weights"
    return {"names": names, "stacked": stacked, "last": last, "at": [int(a) for a in at]}


def _live(meta: dict, arrays: dict) -> dict | None:
    live = meta.get("live") if isinstance(meta.get("live"), dict) else {}
    names = _names(live.get("names"))
    if names is None:
        return None
    out = {}
    for i, n in enumerate(names):
        a = arrays.get(f"live{i}")
        if a is None:
            return None
        out[n] = a
    return out


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def ends_in_live(loaded: dict, live: dict | None) -> bool:
    """True if the run's last post-step weights are the live weights, bit for bit."""
    if live is None or list(live) != loaded["names"]:
        return False
    return all(_bits_equal(loaded["last"][n], live[n]) for n in loaded["names"])


def _describe(r: dict) -> str:
    opts = r.get("optimizers") if isinstance(r.get("optimizers"), list) else []
    o = ", ".join(f"{x.get('type')} lr {x.get('defaults', {}).get('lr')}" for x in opts[:2] if isinstance(x, dict)
                  and isinstance(x.get("defaults"), dict))
    h = r.get("hidden_size")
    return (f"run #{r['index']} (hidden size {h if h is not None else '?'}, {_int(r.get('steps'), 0)} optimizer steps"
            + (f", {o}" if o else "") + ")")


def select_runs(meta: dict, arrays: dict) -> tuple[list[tuple[dict, dict]], list[dict], str]:
    """(graded [(run info, loaded)], every run's summary with `graded` and `why`, the
    reason when none is graded). A run is graded when its last optimizer step produced
    the live global `model`: its last post-step weights equal the exported live weights
    bit for bit."""
    infos = []
    for k, r in enumerate(meta.get("runs") if isinstance(meta.get("runs"), list) else []):
        if isinstance(r, dict) and len(infos) < MAX_RUNS:
            infos.append(dict(r, index=_int(r.get("index"), k)))
    live = _live(meta, arrays)
    graded, seen = [], []
    for r in infos:
        s = {"run": r["index"], "steps": _int(r.get("steps")), "effective_steps": _int(r.get("effective")),
             "edits": _int(r.get("edits")), "max_step_change": _num(r.get("max_step_change")),
             "hidden_size": r.get("hidden_size") if type(r.get("hidden_size")) is int else None,
             "optimizers": (r.get("optimizers") or [])[:3] if isinstance(r.get("optimizers"), list) else [],
             "is_live_object": bool(r.get("is_live_object")), "graded": False}
        if s["max_step_change"] is not None:
            s["max_step_change"] = round(s["max_step_change"], 6) if math.isfinite(s["max_step_change"]) else "inf"
        loaded = _load_run(r, arrays) if r.get("exported") else None
        if isinstance(loaded, dict) and ends_in_live(loaded, live):
            graded.append((r, loaded))
            s.update(graded=True, why="its last optimizer step produced the live `model` (bit for bit)")
        elif isinstance(loaded, str):
            s["why"] = f"not graded: the grader could not read it ({loaded})"
        elif r.get("is_live_object"):
            s["why"] = ("not graded: this is the global `model`, but its weights were changed after this run's last "
                        "optimizer step (load_state_dict, copy_, an in-place edit, a restored checkpoint)")
        elif r.get("ends_in_live"):
            s["why"] = "not graded: too many runs to export"
        else:
            s["why"] = "not graded: its last optimizer step does not end in the live `model`"
        seen.append(s)
    why = ""
    if not graded:
        lv = meta.get("live") if isinstance(meta.get("live"), dict) else {}
        on_live = next((r for r in infos if r.get("is_live_object")), None)
        if not lv.get("present"):
            why = "there is no global `model` at the end of the notebook (Section 8's trained model must be `model`)"
        elif live is None and lv.get("class") == meta.get("class") and lv.get("names"):
            why = "the weights of the global `model` are missing from the grader's export"
        elif live is None:
            why = f"the global `model` at the end is a {str(lv.get('class'))[:60]}, not a {meta.get('class') or 'SimpleLSTM'}"
        elif on_live is not None:
            why = (f"the global `model` was trained by {_describe(on_live)}, but its weights were changed after that "
                   "run's last optimizer step (load_state_dict, copy_, an in-place edit, a restored checkpoint): "
                   "no run's last optimizer step produced the live weights")
        elif infos:
            why = ("no optimizer step produced the weights of the global `model`: they were copied from another "
                   "model, or it was trained as another object (its optimizer steps are what is graded)")
        else:
            why = "no run of the model was recorded"
    return graded, seen, why


def _runs_text(seen: list[dict], infos_by_index: dict) -> str:
    lines = []
    for s in seen[:10]:
        r = infos_by_index.get(s["run"], {"index": s["run"]})
        lines.append(f"  {_describe(r)}: " + ("GRADED: " if s["graded"] else "") + s.get("why", ""))
    if len(seen) > 10:
        lines.append(f"  ... {len(seen) - 10} more runs")
    return "\n".join(lines)


def judge_run(r: dict, loaded: dict, p: "LossCurve.Params | dict", meta: dict, ctx=None, item=None) -> CheckResult:
    """The verdict on one graded run (its snapshots end in the live weights)."""
    p = LossCurve.Params.of(p)
    sizes = list(p.sizes)
    cls = p.model_class
    names, stacked = loaded["names"], loaded["stacked"]
    want = _cached(ctx, f"lc-shapes:{sizes}", lambda: {k: tuple(v) for k, v in _stored(
        ctx, "reference_shapes", lambda: reference_shapes(sizes), {"sizes": sizes}, valid=_shapes_ok).items()})
    steps, effective = _int(r.get("steps"), 0), _int(r.get("effective"), 0)
    ev = {"graded_run": r["index"], "steps": steps, "effective_steps": effective, "snapshot_steps": loaded["at"][:2000]}
    if sorted(stacked) != sorted(want):
        return CheckResult.failed(f"the trained model is not {cls}{tuple(sizes)}: its parameters are {sorted(stacked)}", **ev)
    bad = {n: (list(stacked[n].shape[1:]), list(want[n])) for n in names if tuple(stacked[n].shape[1:]) != want[n]}
    if bad:
        msg = f"the model's sizes changed: {cls}{tuple(sizes)} is required (do not change the model)"
        hh = stacked.get("lstm.weight_hh_l0")
        if hh is not None and hh.ndim == 3:
            msg += f"; your hidden size is {hh.shape[2]}, expected {sizes[1]}"
        ih = stacked.get("lstm.weight_ih_l0")
        if ih is not None and ih.ndim == 3 and ih.shape[2] != sizes[0]:
            msg += f"; your input size is {ih.shape[2]}, expected {sizes[0]}"
        return CheckResult.failed(msg, shapes={n: {"got": g, "expected": w} for n, (g, w) in list(bad.items())[:6]}, **ev)
    n = next(iter(stacked.values())).shape[0]
    if n < 2:
        return CheckResult.failed("fewer than two weight snapshots were recorded (did the model train at all?)", **ev)
    snaps = [{k: v[j] for k, v in stacked.items()} for j in range(n)]
    gate: list[Part] = []
    if p.seed is not None:
        init = _cached(ctx, f"lc-init:{p.seed}:{sizes}", lambda: _stored(
            ctx, "reference_init", lambda: reference_init(int(p.seed), sizes), {"seed": int(p.seed), "sizes": sizes},
            valid=lambda v: isinstance(v, dict) and all(isinstance(a, np.ndarray) for a in v.values())))
        same = all(np.array_equal(snaps[0][k].astype(np.float32), init[k].astype(np.float32)) for k in init)
        gate.append(Part(f"initial weights are those of torch.manual_seed({p.seed}) + {cls}{tuple(sizes)}", 1.0, same,
                         "" if same else "the seed or the model's initialisation was changed (change only the training procedure)"))
    gate.append(Part("the last snapshot is the trained `model`", 1.0, True,
                     f"run #{r['index']}'s last optimizer step (step {steps}) produced the live weights, bit for bit"))
    spe = int(p.steps_per_snapshot)
    min_epochs = p.min_epochs
    if min_epochs > 0:
        need = min_epochs * spe
        ok = effective >= need
        gate.append(Part(f"at least {min_epochs} epochs: {need} optimizer steps that changed the weights", 1.0, ok,
                         f"{effective} of {steps} steps changed the weights" + ("" if ok else
                         f" (the procedure is {min_epochs} epochs of {spe} steps; stopping early hides the later "
                         "spikes, and steps that change nothing are not training)")))
    # a pure function of the snapshots and the reference code: kept by a batch (a regrade
    # after a threshold change evaluates nothing again); judged below with the rubric's numbers
    curve = _stored(ctx, "evaluate_snapshots", lambda: evaluate_snapshots(snaps, sizes, _cached(ctx, "lc-evalset", _eval_set)),
                    {"sizes": sizes}, arrays=stacked, valid=lambda v: _curve_ok(v, n))
    losses, accs = curve["loss"], curve["accuracy"]
    parts, cev = judge_curve(losses, accs, p)
    ev.update(cev)
    at = loaded["at"]
    ev["curve"] = {"snapshot_step": at[:n], "loss": [round(v, 4) for v in losses], "accuracy": [round(v, 4) for v in accs]}
    opts = r.get("optimizers") if isinstance(r.get("optimizers"), list) else []
    if opts:
        ev["optimizer"] = opts[0]
    edits, first_edit = _int(r.get("edits"), 0), _int(r.get("first_edit"))
    change = _num(r.get("max_step_change"))
    ev["integrity"] = {"edits": edits, "first_edit_before_step": first_edit,
                       "max_step_change": (round(change, 6) if change is not None and math.isfinite(change) else
                                           None if change is None else "inf")}
    flags = []
    if edits:
        flags.append(f"the weights were changed outside an optimizer step {edits} time(s), first before step "
                     f"{first_edit} (load_state_dict, copy_ or in-place edits between steps: a rollback to earlier "
                     "weights between the per-epoch snapshots makes a curve the optimizer did not produce; a weight "
                     "constraint looks the same to the grader)")
    limit = p.max_step_change
    if limit is not None and change is not None and not change <= float(limit):
        flags.append(f"one optimizer step moved a weight by {change:.3g}, more than {float(limit):g} (a jump onto "
                     "weights trained elsewhere looks like this; the lab's procedures move a weight by ~0.01 per step)")
    if p.plot:
        try:
            png = _stored(ctx, "plot_png", lambda: base64.b64encode(plot_png(losses, accs, p)).decode(),
                          {"loss": losses, "accuracy": accs, "max_rise": p.max_rise, "min_accuracy": p.min_accuracy},
                          libs=("matplotlib", "numpy", "pillow"), valid=lambda v: isinstance(v, str))
            ev["artifacts"] = {f"{item.id if item else 'loss_curve'}.loss_curve.png": png}
        except Exception as exc:  # a plot is a nicety, never a verdict
            ev["plot_error"] = f"{type(exc).__name__}: {exc}"
    res = combine(gate + parts, ev)
    every = meta.get("every") if type(meta.get("every")) is int else p.steps_per_snapshot
    header = (f"{cls} curve of run #{r['index']} over {n} snapshots (initial + every {every} optimizer steps), "
              "evaluated by the grader on a fixed set of sequences")
    fb = header + "\n" + res.feedback
    if res.status != "passed":
        frac = p.partial_credit if all(g.ok for g in gate) else 0.0
        if flags:
            fb += "\nalso: " + "; ".join(flags)
        return CheckResult.failed(fb, frac, **res.evidence)
    if flags:
        res.evidence["needs_ta"] = flags
        return CheckResult(0.0, "pending", "needs a TA: " + "; ".join(flags) + "\n" + fb, res.evidence)
    return CheckResult(1.0, "passed", fb, res.evidence)


def judge_export(meta: dict, arrays: dict, p: "LossCurve.Params | dict", ctx=None, item=None) -> CheckResult:
    p = LossCurve.Params.of(p)
    if meta.get("format", 1) == 1:
        meta, arrays = _from_format1(meta, arrays)
    graded, seen, why = select_runs(meta, arrays)
    infos = {r["index"]: r for r in (dict(x, index=_int(x.get("index"), k)) for k, x in
                                      enumerate(meta.get("runs") if isinstance(meta.get("runs"), list) else [])
                                      if isinstance(x, dict))}
    ev_runs = {"runs_seen": seen[:10], "graded_runs": [r["index"] for r, _ in graded]}
    dropped = _int(meta.get("dropped_runs"), 0)
    listing = f"Runs of {p.model_class} seen, in the order they started:\n" + _runs_text(seen, infos)
    if dropped:
        listing += f"\n  ({dropped} more models were not followed: too many runs)"
    err = str(meta.get("error") or "")[:300]
    if err:  # the grader's own recording failed somewhere: its counts cannot be trusted either way
        ev_runs["hook_error"] = err
    hook_note = f"needs a TA: the grader's hooks reported an error in the kernel ({err}); its record may be incomplete\n"
    if not graded:
        fb = ("FAIL the last snapshot is the trained `model`: " + why + "\n" + listing
              + "\nThe graded run is the one whose last optimizer step produced the weights of the global `model`; "
              "its curve must pass.")
        if err:
            return CheckResult(0.0, "pending", hook_note + fb, {"graded_run": None, "reason": why, **ev_runs})
        return CheckResult.failed(fb, graded_run=None, reason=why, **ev_runs)
    results = [(r, judge_run(r, loaded, p, meta, ctx, item)) for r, loaded in graded]
    rank = {"failed": 0, "pending": 1, "passed": 2}
    # the verdict: every graded run must pass; the worst one is shown first
    results.sort(key=lambda t: (rank.get(t[1].status, 0), not t[0].get("is_live_object"), -_int(t[0].get("last_seq"), 0)))
    worst = results[0][1]
    ev = dict(worst.evidence)
    ev.update(ev_runs)
    if len(results) > 1:
        ev["other_graded_runs"] = [{"run": r["index"], "status": res.status, "parts": res.evidence.get("parts", [])}
                                   for r, res in results[1:]]
    if "shapes" in ev:  # the global `model` may be another model than Section 8's (e.g. the EASY demo's)
        fits = [x for x in seen if not x["graded"] and x["hidden_size"] == list(p.sizes)[1]]
        if fits:
            ev["hint"] = (f"run #{fits[-1]['run']} has the required sizes but is not the global `model`: keep "
                          "Section 8's trained model in `model`")
            worst = CheckResult(worst.fraction, worst.status, worst.feedback + "\n" + ev["hint"], worst.evidence)
    names = ", ".join(f"#{r['index']}" for r, _ in sorted(results, key=lambda t: t[0]["index"]))
    intro = (f"Graded: run{'s' if len(results) > 1 else ''} {names} (the run{'s' if len(results) > 1 else ''} whose "
             "last optimizer step produced the live `model`" + ("; each must pass" if len(results) > 1 else "") + ").")
    fb = "\n".join([worst.feedback] + [res.feedback for _, res in results[1:]] + [intro, listing])
    if worst.status == "failed":
        return CheckResult.failed(fb, min(res.fraction for _, res in results), **ev)
    if worst.status == "pending":
        return CheckResult(0.0, "pending", fb, ev)
    if err:
        return CheckResult(0.0, "pending", hook_note + fb, ev)
    return CheckResult(1.0, "passed", fb, ev)


def _eval_set():
    from reference.seq_classification import evaluation_set

    return evaluation_set()


def _cached(ctx, key, compute):
    if ctx is None or key is None:
        return compute()
    return ctx.reference(key, compute)


# what the values kept in a batch's judge cache depend on besides their inputs
_CODE = (__name__, "reference.seq_classification", "reference.res.sequential_tasks")


def _stored(ctx, name, compute, params, arrays=None, libs=("torch", "numpy"), valid=None):
    """compute(), through the grading's judge cache when it has one (grader/checks/_judged.py)."""
    from grader.checks import _judged

    return _judged.cached(getattr(ctx, "judge_cache", None), f"loss_curve.{name}", compute, params=params,
                          arrays=arrays, code=_CODE, libs=libs, valid=valid)


def _shapes_ok(v) -> bool:
    return isinstance(v, dict) and all(isinstance(s, (list, tuple)) and all(type(d) is int for d in s) for s in v.values())


def _curve_ok(v, n: int) -> bool:
    return (isinstance(v, dict) and all(isinstance(v.get(k), list) and len(v[k]) == n
                                        and all(type(x) is float for x in v[k]) for k in ("loss", "accuracy")))


def plot_png(losses, accs, p) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3), dpi=70)
    FigureCanvasAgg(fig)
    a1, a2 = fig.subplots(1, 2)
    a1.plot(losses, lw=1.2)
    run_min = np.minimum.accumulate(losses)
    a1.plot(run_min + p.max_rise, ls="--", lw=0.8, label=f"running min + {p.max_rise}")
    a1.set_xlabel("epoch (snapshot)")
    a1.set_ylabel("loss (grader's evaluation)")
    a1.legend(fontsize=7)
    a2.plot(accs, lw=1.2)
    a2.axhline(p.min_accuracy, ls="--", lw=0.8)
    a2.set_xlabel("epoch (snapshot)")
    a2.set_ylabel("accuracy")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
