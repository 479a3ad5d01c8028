"""`loss_curve`: the Section-8 training procedure learns without spikes (DESIGN.md's rule).

The grader never reads the losses a notebook recorded or plotted (students smooth them).

1. instrument(): the prologue registers, inside the kernel, a global module forward
   pre-hook (to learn which objects are instances of `model_class`, default SimpleLSTM)
   and global optimizer step pre/post hooks (torch.optim.optimizer.register_optimizer_
   step_{pre,post}_hook). Whenever an optimizer steps the parameters of such a model,
   the weights are copied *in memory*: once before the first step (the initial weights)
   and after every `steps_per_snapshot` steps (default 31 = one epoch of 31 batches).
   One "run" is kept per model instance; the most recently started run is graded (the
   lab's earlier EASY demo trains another SimpleLSTM first). The epilogue, after the last
   cell, deletes any file of the same name and writes the snapshots as stacked numeric
   arrays (`numpy.savez`, no pickle) plus plain JSON metadata (names, shapes, step
   counts, optimizer type and hyper-parameters, every run seen), and the live global
   `model`'s weights for a cross-check.
2. run(), in the trusted grader: the files are used only if the trusted executor says the
   prologue and epilogue completed; they are size-capped, loaded with
   allow_pickle=False and validated against SimpleLSTM(*sizes) (names and shapes: a
   changed hidden size fails with that reason). Then:
   - seed: the first snapshot must equal the weights of `torch.manual_seed(seed)` +
     SimpleLSTM(*sizes) built by the grader (the seed and the model are unchanged);
   - the last snapshot must equal the exported final `model` when that is the same
     object (cross-check against a forged snapshot list);
   - every snapshot is evaluated by the grader's reference SimpleLSTM on a fixed
     evaluation set (reference.seq_classification.evaluation_set: 512 MODERATE
     sequences from their own RandomState), giving a loss/accuracy curve;
   - judged: all finite; no rise above `max_rise` (default 0.2) over the running minimum
     after the first `ignore_epochs` (default 1) snapshots; never back above the
     initial loss once it was `learned_margin` (default 0.1) below it; final accuracy at
     least `min_accuracy` (default 0.6: clearly above chance, 0.25 for 4 balanced
     classes), so lr = 0 or a too-small lr that never leaves ln 4 fails, while a smooth
     procedure that learns more slowly than the reference (the homework asks for curves
     without spikes, not for a speed) passes.
   The curve (per-snapshot loss and accuracy) is in the evidence, and a PNG plot of it is
   in evidence["artifacts"]["<item id>.loss_curve.png"] (base64).

Defence against forged snapshot files in __grader_exports__ and its limits: files are
written only by the epilogue (after every student cell), which first deletes what is
there, and are read only if the executor recorded a successful prologue and epilogue;
a student cell writing fake files therefore achieves nothing. The snapshots must start
at the seeded initialisation and end at the live model's weights. What remains possible
is an attack that targets the grader from inside the same kernel process (finding the
hooks' closures, patching numpy.savez, or a background thread rewriting the files after
the epilogue): the kernel is one process and cannot be protected from itself. Forging a
smooth curve that starts at the seeded init and ends at a >95 % model still requires a
well-trained model, i.e. largely doing the exercise.
"""
from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np

from grader.checks import _exports as ex
from grader.checks.base import CheckKind, CheckResult, Instrumentation, Part, combine
from grader.checks.registry import register

_PROLOGUE = r'''
def __grader_lc_install(class_name, every, max_snaps):
    import torch
    from torch.optim.optimizer import register_optimizer_step_pre_hook, register_optimizer_step_post_hook
    st = {"models": [], "runs": [], "owner": [], "error": "", "class_name": class_name, "every": every}

    def fwd_pre(mod, args):
        if type(mod).__name__ == class_name and not any(m is mod for m in st["models"]):
            st["models"].append(mod)

    def snap(m):
        sd = m.state_dict()
        return [str(k) for k in sd], [v.detach().cpu().clone().float().numpy() if v.is_floating_point()
                                      else v.detach().cpu().clone().numpy() for v in sd.values()]

    def run_for(opt):
        for o, r in st["owner"]:
            if o is opt:
                return r
        pids = {id(p) for g in opt.param_groups for p in g["params"]}
        model = None
        for m in reversed(st["models"]):
            if any(id(p) in pids for p in m.parameters()):
                model = m
                break
        run = None
        if model is not None:
            run = next((r for r in st["runs"] if r["model"] is model), None)
            if run is None:
                names, arrays = snap(model)
                run = {"model": model, "steps": 0, "names": names, "snaps": [arrays], "at": [0], "optimizers": []}
                st["runs"].append(run)
            d = {k: v for k, v in opt.defaults.items() if v is None or type(v) in (bool, int, float, str)}
            run["optimizers"].append({"type": type(opt).__name__, "defaults": d})
        st["owner"].append((opt, run))
        return run

    def pre(opt, args, kwargs):
        try:
            run_for(opt)
        except Exception as exc:
            st["error"] = (type(exc).__name__ + ": " + str(exc))[:300]

    def post(opt, args, kwargs):
        try:
            run = run_for(opt)
            if run is None:
                return
            run["steps"] += 1
            if run["steps"] % every == 0 and len(run["snaps"]) < max_snaps:
                run["snaps"].append(snap(run["model"])[1])
                run["at"].append(run["steps"])
        except Exception as exc:
            st["error"] = (type(exc).__name__ + ": " + str(exc))[:300]

    st["handles"] = [torch.nn.modules.module.register_module_forward_pre_hook(fwd_pre),
                     register_optimizer_step_pre_hook(pre), register_optimizer_step_post_hook(post)]
    return st
'''

_EPILOGUE = r'''
def __grader_lc_write(key, st):
    import os, json
    import numpy as np
    d = "__grader_exports__"
    os.makedirs(d, exist_ok=True)
    for ext in (".json", ".npz"):
        p = os.path.join(d, key + ext)
        if os.path.lexists(p):
            os.remove(p)
    for h in st.get("handles", []):
        h.remove()
    meta = {"format": 1, "found": False, "error": st.get("error", ""), "class": st["class_name"], "every": st["every"]}
    runs = st["runs"]
    def hidden(m):
        return getattr(getattr(m, "lstm", None), "hidden_size", None)
    meta["runs"] = [{"steps": r["steps"], "snapshots": len(r["snaps"]), "hidden_size": hidden(r["model"]),
                     "optimizers": r["optimizers"][:5]} for r in runs]
    if runs:
        r = runs[-1]
        m = r["model"]
        names, last = None, None
        sd = m.state_dict()
        names = [str(k) for k in sd]
        if r["steps"] != r["at"][-1]:
            r["snaps"].append([v.detach().cpu().clone().float().numpy() if v.is_floating_point() else v.detach().cpu().numpy() for v in sd.values()])
            r["at"].append(r["steps"])
        arrays = {}
        if names == r["names"] and all(len(s) == len(names) for s in r["snaps"]):
            for i in range(len(names)):
                arrays["s%d" % i] = np.stack([s[i] for s in r["snaps"]])
        glob = get_ipython().user_ns.get("model")
        same = glob is m
        meta.update(found=True, names=r["names"], steps=r["steps"], at=r["at"], n_snapshots=len(r["snaps"]),
                    model_global_is_graded_run=same, model_global_class=type(glob).__name__ if glob is not None else None,
                    consistent=bool(arrays))
        if glob is not None and hasattr(glob, "state_dict") and type(glob).__name__ == st["class_name"]:
            gsd = glob.state_dict()
            if [str(k) for k in gsd] == r["names"]:
                for i, v in enumerate(gsd.values()):
                    arrays["final%d" % i] = v.detach().cpu().float().numpy() if v.is_floating_point() else v.detach().cpu().numpy()
        arrays["at"] = np.asarray(r["at"], dtype=np.int64)
        np.savez(os.path.join(d, key + ".npz"), **arrays)
    with open(os.path.join(d, key + ".json"), "w") as fh:
        json.dump(meta, fh, default=str)
'''


def _var(key: str) -> str:
    return "__grader_lc_" + "".join(c if c.isalnum() else "_" for c in key)


@register
class LossCurve(CheckKind):
    name = "loss_curve"
    needs_target = False
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "model_class": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            "sizes": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 3, "maxItems": 3},
            "seed": {"type": ["integer", "null"], "minimum": 0},
            "steps_per_snapshot": {"type": "integer", "minimum": 1},
            "max_snapshots": {"type": "integer", "minimum": 2, "maximum": 5000},
            "max_rise": {"type": "number", "minimum": 0},
            "ignore_epochs": {"type": "integer", "minimum": 0},
            "learned_margin": {"type": "number", "minimum": 0},
            "min_accuracy": {"type": "number", "minimum": 0, "maximum": 1},
            "partial_credit": {"type": "number", "minimum": 0, "maximum": 1},
            "plot": {"type": "boolean"},
        },
    }

    def _p(self, item) -> dict:
        p = dict(item.params)
        p.setdefault("model_class", "SimpleLSTM")
        p.setdefault("sizes", [8, 12, 4])
        p.setdefault("seed", 1)
        p.setdefault("steps_per_snapshot", 31)
        p.setdefault("max_snapshots", 1000)
        p.setdefault("max_rise", 0.2)
        p.setdefault("ignore_epochs", 1)
        p.setdefault("learned_margin", 0.1)
        p.setdefault("min_accuracy", 0.6)
        p.setdefault("partial_credit", 0.0)
        p.setdefault("plot", True)
        return p

    def instrument(self, item) -> Instrumentation:
        p = self._p(item)
        key = ex.export_key(item.id)
        var = _var(key)
        pro = (_PROLOGUE + f"\n{var} = __grader_lc_install({p['model_class']!r}, {int(p['steps_per_snapshot'])}, "
               f"{int(p['max_snapshots'])})\ndel __grader_lc_install\n")
        epi = _EPILOGUE + f"\ntry:\n    __grader_lc_write({key!r}, {var})\nexcept NameError:\n    pass\ndel __grader_lc_write\n"
        return Instrumentation(pro, epi)

    def run(self, ctx, item) -> CheckResult:
        p = self._p(item)
        why = ex.instrumentation_ok(ctx.run, item.id)
        if why:
            return CheckResult.failed(f"the training curve could not be recorded: {why}")
        key = ex.export_key(item.id)
        d = Path(ctx.run.exports_dir)
        meta = ex.read_json(d / f"{key}.json")
        if isinstance(meta, str):
            return CheckResult.failed(f"the training curve could not be recorded: {meta}")
        if not meta.get("found"):
            err = str(meta.get("error") or "")
            return CheckResult.failed(f"no optimizer step on a {p['model_class']} was observed during the notebook's run: "
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


def judge_curve(losses: list[float], accs: list[float], p: dict) -> tuple[list[Part], dict]:
    """Parts and evidence for one curve (index 0 = initial weights, i = after snapshot i)."""
    ev: dict = {}
    finite = all(math.isfinite(v) for v in losses)
    parts = [Part("finite loss at every snapshot", 1.0, finite, "" if finite else
                  f"NaN/inf at snapshot {next(i for i, v in enumerate(losses) if not math.isfinite(v))}")]
    if not finite:
        return parts, ev
    start = max(1, int(p["ignore_epochs"]) + 1)
    worst, at, run_min, min_at = 0.0, None, min(losses[:start]), None
    run_min_idx = int(np.argmin(losses[:start]))
    for i in range(start, len(losses)):
        rise = losses[i] - run_min
        if rise > worst:
            worst, at, min_at = rise, i, run_min_idx
        if losses[i] < run_min:
            run_min, run_min_idx = losses[i], i
    ev["max_rise"] = round(worst, 4)
    ok = worst <= p["max_rise"]
    parts.append(Part(f"no spike: rise over the running minimum <= {p['max_rise']}", 1.0, ok,
                      f"max rise {worst:.3f}" + (f" at epoch {at} (loss {losses[at]:.3f} after a minimum of {losses[min_at]:.3f} at epoch {min_at})"
                                                 if not ok and at is not None else "")))
    init = losses[0]
    learned_at = next((i for i, v in enumerate(losses) if v < init - p["learned_margin"]), None)
    back = None
    if learned_at is not None:
        back = next((i for i in range(learned_at, len(losses)) if losses[i] > init), None)
    parts.append(Part("never back above the initial loss once learned", 1.0, back is None,
                      f"initial loss {init:.3f}" + (f"; back to {losses[back]:.3f} at epoch {back} (learned by epoch {learned_at})" if back is not None else "")))
    final = accs[-1]
    ev["final_accuracy"] = round(final, 4)
    parts.append(Part(f"still learns: final accuracy >= {p['min_accuracy']}", 1.0, final >= p["min_accuracy"],
                      f"final accuracy {final:.3f}, final loss {losses[-1]:.3f}" + (
                          " (near chance: a learning rate of 0 or a too small one does not fix the spikes)" if final < p["min_accuracy"] else "")))
    return parts, ev


def judge_export(meta: dict, arrays: dict, p: dict, ctx=None, item=None) -> CheckResult:
    sizes = list(p["sizes"])
    cls = p["model_class"]
    names = meta.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(names) > 100:
        return CheckResult.failed("the recorded snapshots are malformed")
    want = _cached(ctx, f"lc-shapes:{sizes}", lambda: reference_shapes(sizes))
    runs_ev = meta.get("runs") if isinstance(meta.get("runs"), list) else []
    ev = {"runs_seen": runs_ev[:10], "graded_run": len(runs_ev) - 1 if runs_ev else None, "steps": meta.get("steps"),
          "snapshot_steps": (meta.get("at") or [])[:2000] if isinstance(meta.get("at"), list) else None}
    stacked = {}
    for i, n in enumerate(names):
        a = arrays.get(f"s{i}")
        if a is None:
            return CheckResult.failed("the recorded snapshots are incomplete", **ev)
        stacked[n] = a
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
    n_snap = {a.shape[0] for a in stacked.values()}
    if len(n_snap) != 1 or next(iter(n_snap)) < 2:
        return CheckResult.failed("fewer than two weight snapshots were recorded (did the model train at all?)", **ev)
    n = next(iter(n_snap))
    snaps = [{k: v[j] for k, v in stacked.items()} for j in range(n)]
    gate: list[Part] = []
    if p.get("seed") is not None:
        init = _cached(ctx, f"lc-init:{p['seed']}:{sizes}", lambda: reference_init(int(p["seed"]), sizes))
        same = all(np.array_equal(snaps[0][k].astype(np.float32), init[k].astype(np.float32)) for k in init)
        gate.append(Part(f"initial weights are those of torch.manual_seed({p['seed']}) + {cls}{tuple(sizes)}", 1.0, same,
                         "" if same else "the seed or the model's initialisation was changed (change only the training procedure)"))
    finals = {n_: arrays.get(f"final{i}") for i, n_ in enumerate(names)}
    if meta.get("model_global_is_graded_run") and all(v is not None for v in finals.values()):
        same = all(np.array_equal(np.asarray(finals[k], dtype=np.float32), snaps[-1][k].astype(np.float32)) for k in names)
        gate.append(Part("the last snapshot is the trained `model`", 1.0, same, "" if same else
                         "the recorded weights do not end at the weights of the trained model"))
    elif meta.get("model_global_class") is not None and not meta.get("model_global_is_graded_run"):
        ev["note"] = "the global `model` at the end is not the last trained " + cls
    curve = _cached(ctx, None, lambda: evaluate_snapshots(snaps, sizes, _cached(ctx, "lc-evalset", _eval_set)))
    losses, accs = curve["loss"], curve["accuracy"]
    parts, cev = judge_curve(losses, accs, p)
    ev.update(cev)
    ev["curve"] = {"snapshot_step": [int(s) for s in (meta.get("at") or range(n))][:n] if isinstance(meta.get("at"), list) else list(range(n)),
                   "loss": [round(v, 4) for v in losses], "accuracy": [round(v, 4) for v in accs]}
    opt = (runs_ev[-1].get("optimizers") if runs_ev and isinstance(runs_ev[-1], dict) else None) or []
    if opt:
        ev["optimizer"] = opt[0]
    if p.get("plot", True):
        try:
            ev["artifacts"] = {f"{item.id if item else 'loss_curve'}.loss_curve.png": base64.b64encode(plot_png(losses, accs, p)).decode()}
        except Exception as exc:  # a plot is a nicety, never a verdict
            ev["plot_error"] = f"{type(exc).__name__}: {exc}"
    res = combine(gate + parts, ev)
    header = f"{cls} curve over {n} snapshots (initial + every {meta.get('every', p['steps_per_snapshot'])} optimizer steps), evaluated by the grader on a fixed set of sequences"
    fb = header + "\n" + res.feedback
    if res.status == "passed":
        return CheckResult(1.0, "passed", fb, res.evidence)
    frac = p["partial_credit"] if all(g.ok for g in gate) else 0.0
    return CheckResult.failed(fb, frac, **res.evidence)


def _eval_set():
    from reference.seq_classification import evaluation_set

    return evaluation_set()


def _cached(ctx, key, compute):
    if ctx is None or key is None:
        return compute()
    return ctx.reference(key, compute)


def plot_png(losses, accs, p) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3), dpi=70)
    FigureCanvasAgg(fig)
    a1, a2 = fig.subplots(1, 2)
    a1.plot(losses, lw=1.2)
    run_min = np.minimum.accumulate(losses)
    a1.plot(run_min + p["max_rise"], ls="--", lw=0.8, label=f"running min + {p['max_rise']}")
    a1.set_xlabel("epoch (snapshot)")
    a1.set_ylabel("loss (grader's evaluation)")
    a1.legend(fontsize=7)
    a2.plot(accs, lw=1.2)
    a2.axhline(p["min_accuracy"], ls="--", lw=0.8)
    a2.set_xlabel("epoch (snapshot)")
    a2.set_ylabel("accuracy")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
