"""`trained_model`: the trained echo model behaves as the notebook's own test demands.

Items: `hw2_rnn.GRUMemory` (mode `fixed_delay`) and `hw2_rnn.VariableDelayGRUMemory`
(mode `variable_delay`).

How it works, across the trust boundary:
1. instrument(): a prologue keeps, in the kernel's memory, the last state of a global
   instance of the target class seen after each cell (preferring `params.variable`,
   default `model`), with the constructor arguments it was built with; the epilogue
   writes it as .npz (numbers only) + JSON into `__grader_exports__/` (see _exports.py).
2. run(), in the grader: the export is validated (epilogue really ran, sizes, numeric
   arrays, allow_pickle=False), then a probe process rebuilds the student's class from
   the notebook's extracted source (never from kernel bytes), loads the weights and sets
   the globals real solutions lean on (`model`, `device` = cpu).
3. What is scored is the model's own behaviour, computed by the grader: the grader makes
   the inputs (seeded random lowercase strings, lengths and delays exactly as test_model /
   test_variable_delay_model draw them) as one-hot arrays (B, T, 27) and as integer
   indices, the probe only calls forward on them (batch-first and time-first layouts;
   forward(x, delays) for the variable delay) and returns the raw logits as arrays, and
   the grader takes the argmax itself (index 0 -> ' ') and computes the delayed-echo
   accuracy against the threshold. The layout that reads best is used and named.
   The student's own `test_run` is still called on the same strings, but its strings are
   a claim: they are shown (evidence `test_run_accuracy`) and never scored. When the
   grader cannot read predictions from forward at all (it fails on every layout, or its
   output is not (B, T, 27)), a passing test_run makes the item "needs a TA" (pending,
   no points), never points.
   `weights_control` (default off; on in rubrics/hw2 and hw2-original): the behaviour must
   be shown to come from the trained weights, by the grader, not by forward (student code
   can tell the grader's runs apart, e.g. a fingerprint of the weights that switches a
   hand-coded echo off for any control):
   a. recomputation (_integrity.verify_echo): the grader reads the parameter tree from the
      exported state_dict (names and shapes it validated, no claim of the probe's) as a
      standard layout - one-hot letters or an nn.Embedding -> one nn.GRU/nn.LSTM (layers,
      bidirectional) -> an nn.Linear read-out; for the variable delay one head of 27 per
      delay, or the delay as a one-hot next to the letter - runs that model itself (numpy,
      float64) on its own inputs and requires forward's argmax to agree with its own on
      >= 98 % of the characters (the reading that agrees best is named in the evidence,
      `recomputed`). Then the score is the grader's computation; forward's own accuracy
      is shown (`forward_accuracy`). State entries the recomputation does not read are
      listed.
   b. when no standard reading agrees (another architecture, a forward that does more
      than its modules, too large to recompute) and forward echoes above
      `partial_min_accuracy`: needs a TA (pending, the reason given), never points.
   c. forward is also run with the trained weights shuffled (each tensor's entries
      permuted by the grader). A model that still echoes above `partial_min_accuracy`
      does not owe its behaviour to its weights (an echo hand-coded in forward): needs a
      TA, no points. This control is forward's word too, so it can only withhold points.
   A second probe call diagnoses interface deviations (forward taking integer indices,
   returning a tuple, extra arguments): they are reported, never penalised.

Template versions (`templates`): the course changed the notebook over the semesters
(Fall 2024+: variable-delay threshold 0.95, max delay 12, `train_model(model, dataloader)`
functions). Each template lists regex `signals` over the notebook's code (the given code:
dataset defaults, the asserts, the function names) and how many must match
(`min_signals`); the first template that matches sets `threshold` / `max_delay` and is
named in the feedback and evidence ("template: ..."). Signals that match only partly are
reported as inconsistent and the rubric's own thresholds apply (a student cannot lower
the bar by editing one assert). Without a match the rubric's `default_template` name is
reported.

test_run's extra arguments: required parameters beyond (s[, delay]) are filled by name
where the meaning is unambiguous (`device` -> cpu, `model` -> the rebuilt model) and
reported; any other required parameter is reported as an interface deviation. A
variable-delay model without an integer `max_delay` attribute (the notebook's test reads
it) loses `missing_max_delay_penalty` (default 0.2) of the points.

Scoring: full marks at accuracy >= threshold; `partial_credit` (default 0.3) when the
model rebuilds, runs and reaches `partial_min_accuracy` (default 0.5, far above the 1/27
chance level, so an untrained model scores 0); otherwise 0.
"""
from __future__ import annotations

import random
import string

from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from grader import inkernel
from grader.checks import _exports as ex
from grader.checks import _integrity as integ
from grader.checks.base import IDENTIFIER, CheckKind, CheckParams, CheckResult, Instrumentation, timeout_field
from grader.checks.registry import register
from grader.probe import Call

EXCLUDE = {"model", "device", "optimizer", "criterion", "accuracy", "duration", "start_time", "end_time"}

_ECHO_SOURCE = inkernel.source("rebuild", "echo_probe")


def make_strings(seed: int, n: int, length: tuple[int, int], delays: tuple[int, int] | None) -> tuple[list[str], list]:
    rng = random.Random(seed)
    strings, ds = [], []
    for _ in range(n):
        strings.append("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(*length))))
        ds.append(None if delays is None else rng.randint(*delays))
    return strings, ds


LAYOUTS = {"onehot": "one-hot (B, T, 27)", "onehot_tb": "one-hot, time first (T, B, 27)",
           "index": "integer indices (B, T)", "index_tb": "integer indices, time first (T, B)"}
VOCAB = 27


def make_groups(strings: list[str], delays: list) -> tuple[list[dict], list[list[int]]]:
    """The grader's own inputs for forward: strings of equal length batched together, as
    one-hot float32 (B, T, 27) and int64 indices (B, T) (index 0 is the blank, 1..26 the
    letters), with the delays (B,) for the variable-delay model. Returns (groups to send,
    the string indices of each group)."""
    import torch

    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(strings):
        by_len.setdefault(len(s), []).append(i)
    groups, members = [], []
    for T in sorted(by_len):
        ids = by_len[T]
        for k in range(0, len(ids), 64):
            chunk = ids[k:k + 64]
            if len(chunk) == T and len(chunk) > 1:  # (B, T) vs (T, B) must be told apart by shape
                chunk, rest = chunk[:-1], chunk[-1:]
                members.append(rest)
            members.append(chunk)
    members.sort(key=lambda m: m[0])
    for chunk in members:
        idx = torch.tensor([[ord(c) - 96 for c in strings[i]] for i in chunk], dtype=torch.int64)
        g = {"index": idx, "onehot": torch.nn.functional.one_hot(idx, VOCAB).float()}
        if delays and delays[0] is not None:
            g["delays"] = torch.tensor([int(delays[i]) for i in chunk], dtype=torch.int64)
        groups.append(g)
    return groups, members


def read_predictions(out, layout: str, members: list[list[int]], strings: list[str]) -> tuple[dict | None, str]:
    """{string index: predicted string} from forward's raw outputs for one layout, the argmax
    taken here, in the grader; or (None, why the outputs cannot be read)."""
    if isinstance(out, dict):
        return None, f"forward fails on {LAYOUTS[layout]}: {out.get('error')}"
    if not isinstance(out, list) or len(out) != len(members) or not out:
        return None, f"no outputs for {LAYOUTS[layout]}"
    preds: dict[int, str] = {}
    for chunk, y in zip(members, out):
        B, T = len(chunk), len(strings[chunk[0]])
        if not isinstance(y, np.ndarray) or y.dtype.kind != "f":
            return None, f"forward's output on {LAYOUTS[layout]} is not a float tensor"
        if y.shape == (B, T, VOCAB):
            rows = [y[b] for b in range(B)]
        elif y.shape == (T, B, VOCAB):
            rows = [y[:, b] for b in range(B)]
        elif B == 1 and y.shape == (T, VOCAB):
            rows = [y]
        else:
            return None, f"forward returns shape {list(y.shape)} for {LAYOUTS[layout]} of B={B}, T={T}; expected (B, T, 27)"
        for i, r in zip(chunk, rows):
            r = np.where(np.isfinite(r), r, -np.inf)
            k = np.argmax(r, axis=-1)
            bad = ~np.isfinite(r).any(axis=-1)
            preds[i] = "".join("?" if b else (" " if j == 0 else chr(96 + int(j))) for j, b in zip(k, bad))
    return preds, ""


def best_layout(outs: dict, members, strings, delays) -> tuple[str | None, float, dict | None, list[str]]:
    """The layout whose predictions echo best: (layout, accuracy, predictions, reasons others failed)."""
    best, why = (None, -1.0, None), []
    for layout in LAYOUTS:
        preds, reason = read_predictions(outs.get(layout) if isinstance(outs, dict) else None, layout, members, strings)
        if preds is None:
            why.append(reason)
            continue
        ids = sorted(preds)
        acc, _ = echo_accuracy([strings[i] for i in ids], [delays[i] for i in ids], [preds[i] for i in ids])
        if acc > best[1]:
            best = (layout, acc, preds)
    return best[0], max(best[1], 0.0), best[2], why


def echo_accuracy(strings: list[str], delays: list[int], results: list) -> tuple[float, dict]:
    """The notebooks' own measure: characters of s echoed `d` steps later in the result,
    over sum(len(s) - d). Results that are not strings count as all wrong."""
    correct = total = 0
    worst = None
    for s, d, r in zip(strings, delays, results):
        n = len(s) - d
        total += max(n, 0)
        if isinstance(r, list):
            r = r if all(isinstance(c, str) for c in r) else None
        if not isinstance(r, (str, list)):
            c = 0
        else:
            src = s[:-d] if d > 0 else s
            c = sum(int(a == b) for a, b in zip(src, r[d:]))
        correct += c
        if n > 0 and (worst is None or c / n < worst[0]):
            worst = (c / n, s, d, r if isinstance(r, (str, list)) else None)
    ev = {}
    if worst is not None:
        ev = {"worst_input": worst[1], "worst_delay": worst[2],
              "worst_expected": " " * worst[2] + (worst[1][:-worst[2]] if worst[2] else worst[1]),
              "worst_got": worst[3] if isinstance(worst[3], str) else ("".join(worst[3]) if worst[3] else None),
              "worst_accuracy": round(worst[0], 4)}
    return (correct / total if total else 0.0), ev


class Template(CheckParams):
    """A version of the notebook's template: recognised by regex signals, with its own thresholds."""

    name: str = Field(min_length=1)
    signals: tuple[Annotated[str, Field(min_length=1)], ...] = Field(min_length=1, description="regexes over the notebook's code")
    min_signals: Annotated[int, Field(ge=1)] | SkipJsonSchema[None] = Field(None, description="signals that must match (default: all)")
    threshold: Annotated[float, Field(ge=0, le=1)] | SkipJsonSchema[None] = None
    max_delay: Annotated[int, Field(ge=0, le=100)] | SkipJsonSchema[None] = None


@register
class TrainedModel(CheckKind):
    name = "trained_model"

    class Params(CheckParams):
        # the strings' lengths when the rubric gives none, by mode
        LENGTHS: ClassVar[dict] = {"fixed_delay": (15, 25), "variable_delay": (20, 20)}

        mode: Literal["fixed_delay", "variable_delay"] = Field("fixed_delay", description="the echo task: a fixed delay, or a delay given per string")
        variable: Annotated[str, Field(pattern=IDENTIFIER)] | SkipJsonSchema[None] = Field(None, description="the notebook variable holding the trained model (default: the last instance seen)")
        threshold: float = Field(0.99, ge=0, le=1, description="accuracy for full credit")
        n_strings: int = Field(500, ge=1, le=5000, description="random strings the grader evaluates")
        length: tuple[Annotated[int, Field(ge=1, le=200)], Annotated[int, Field(ge=1, le=200)]] | SkipJsonSchema[None] = Field(
            None, description="(min, max) string length (default: " + ", ".join(f"{v} for {k}" for k, v in LENGTHS.items()) + ")")
        delay: int = Field(4, ge=1, le=100, description="fixed_delay: the delay")
        max_delay: Annotated[int, Field(ge=0, le=100)] | SkipJsonSchema[None] = Field(None, description="variable_delay: delays drawn in 0..max_delay (default: the model's `max_delay`)")
        partial_credit: float = Field(0.3, ge=0, le=1, description="fraction of the points below the threshold")
        partial_min_accuracy: float = Field(0.5, ge=0, le=1, description="accuracy needed for partial credit")
        timeout_s: float = timeout_field(120.0)
        max_params: int = Field(20_000_000, ge=1, description="larger models are not exported")
        missing_max_delay_penalty: float = Field(0.2, ge=0, le=1, description="variable_delay: deduction when the model has no `max_delay`")
        weights_control: bool = Field(False, description="also run the model with shuffled weights: still echoing needs a TA")
        control_strings: int = Field(100, ge=10, le=5000, description="weights_control: characters of strings in the control run, at least")
        default_template: str | SkipJsonSchema[None] = Field(None, description="the template's name when no `templates` entry matches")
        templates: tuple[Template, ...] = Field((), description="notebook template versions, recognised by regex signals, with their own thresholds")

        @property
        def lengths(self) -> tuple[int, int]:
            return tuple(self.length) if self.length is not None else self.LENGTHS[self.mode]

    def _template(self, ctx, p: "TrainedModel.Params") -> tuple[dict, "TrainedModel.Params"]:
        """Detect the notebook's template version: its evidence, and p with its thresholds."""
        import re

        templates = p.templates
        if not templates or ctx.extraction is None:
            return ({"name": p.default_template} if p.default_template else {}), p
        code = "\n".join(st.source for st in ctx.extraction.stmts)
        inconsistent = []
        for t in templates:
            hits = [sig for sig in t.signals if re.search(sig, code, re.M)]
            need = t.min_signals if t.min_signals is not None else len(t.signals)
            if len(hits) >= need:
                update = {k: getattr(t, k) for k in ("threshold", "max_delay") if getattr(t, k) is not None}
                return {"name": t.name, "signals_matched": hits}, p.model_copy(update=update)
            if hits:
                inconsistent.append({"name": t.name, "signals_matched": hits, "needed": need})
        out = {"name": p.default_template or "the rubric's thresholds"}
        if inconsistent:
            out["inconsistent"] = inconsistent
        return out, p

    def instrument(self, item) -> Instrumentation:
        p = self.params(item)
        return ex.model_instrumentation(item, p.variable, p.max_params)

    def run(self, ctx, item) -> CheckResult:
        p = self.params(item)
        cls = item.target
        exp = ex.load_trained(ctx, item, p.variable, p.max_params)
        if isinstance(exp, CheckResult):
            return exp
        meta = exp.meta
        template, p = self._template(ctx, p)
        variable = p.mode == "variable_delay"
        kw = ex.init_kwargs(meta)
        if isinstance(kw, str):
            return CheckResult.failed(kw, exported=_meta_ev(meta))
        kwargs, notes = kw
        attrs = meta.get("attrs") or {}
        missing_md = False
        if variable:
            md = p.max_delay
            model_md = attrs.get("max_delay")
            missing_md = type(model_md) is not int
            if md is None:
                if type(model_md) is not int or not 0 <= model_md <= 100:
                    return CheckResult.failed(f"{cls} has no integer attribute `max_delay` (test_variable_delay_model reads model.max_delay)",
                                              exported=_meta_ev(meta))
                md = model_md
            elif model_md != md and not missing_md:
                notes.append(f"the model's max_delay is {model_md!r}; tested with the rubric's max_delay={md}")
            strings, delays = make_strings(ctx.seed_for(item, "strings"), p.n_strings, p.lengths, (0, md))
        else:
            strings, ds = make_strings(ctx.seed_for(item, "strings"), p.n_strings, p.lengths, None)
            delays = [p.delay] * len(strings)
        names = exp.names
        seed = ctx.seed_for(item, "init") % (2**31)
        run_delays = delays if variable else [None] * len(strings)
        groups, members = make_groups(strings, run_delays)
        files = {"weights.npz": exp.npz}
        n_control = 0
        if p.weights_control:
            control = exp.npz.with_name(exp.npz.stem + "-control.npz")
            ex.shuffled_weights(exp.arrays, names, ctx.seed_for(item, "control"), control)
            files["control.npz"] = control
            while n_control < len(members) and sum(len(m) for m in members[:n_control]) < p.control_strings:
                n_control += 1
        calls = [
            Call("__grader_echo", (cls, kwargs, names, strings, run_delays, seed), {}, float(p.timeout_s)),
            Call("__grader_echo_diag", (cls, kwargs, names, variable, seed), {}, 30.0),
            Call("__grader_echo_forward", (cls, kwargs, names, groups, variable, seed, "weights.npz", len(groups)), {}, float(p.timeout_s)),
        ]
        if n_control:
            calls.append(Call("__grader_echo_forward", (cls, kwargs, names, groups, variable, seed, "control.npz", n_control), {}, float(p.timeout_s)))
        outs = ex.probe_module(ctx, [cls], calls, EXCLUDE - {cls}, _ECHO_SOURCE, files=files)
        out, diag, fwd = outs[0], outs[1], outs[2]
        deviations = _deviations(meta, diag, variable)
        if missing_md:
            deviations.append("no integer attribute `max_delay` (test_variable_delay_model reads model.max_delay)")
        ev = {"template": template, "exported": _meta_ev(meta), "rebuild": notes, "deviations": deviations, "n_strings": len(strings),
              "lengths": list(p.lengths), "delays": sorted(set(delays)), "threshold": p.threshold}

        # the student's test_run: a claim, shown, never scored
        t_acc, t_errors = None, []
        if out.ok and isinstance(out.value, list) and len(out.value) == len(strings):
            t_errors = [r.get("error") for r in out.value if isinstance(r, dict)]
            t_acc, _ = echo_accuracy(strings, delays, out.value)
            ev["test_run_accuracy"] = round(t_acc, 5)
        elif not out.ok:
            t_errors = [out.error]
        if t_errors:
            ev["test_run_errors"] = [str(e)[:300] for e in t_errors[:5]]

        # what is scored: the grader's argmax over forward's logits on its own inputs
        if not fwd.ok:
            layout, acc, preds, why = None, 0.0, None, [f"could not run forward: {fwd.error}"]
            if fwd.traceback:
                ev["traceback"] = fwd.traceback[-1500:]
        else:
            layout, acc, preds, why = best_layout(fwd.value, members, strings, delays)
        head = (f"{cls} (`{meta.get('variable')}`, rebuilt from your class and the weights trained in the notebook): ")
        lines = []
        if template.get("name"):
            lines.append(f"template: {template['name']}" + (f" (detected from {len(template['signals_matched'])} signal(s) in the given code)" if template.get("signals_matched") else ""))
        delay_txt = f" with delays 0..{max(delays)}" if variable else f" with delay {p.delay}"

        def tail(lines):
            for bad in template.get("inconsistent", []):
                lines.append(f"note: template signals are inconsistent ({len(bad['signals_matched'])} of the {bad['needed']} needed for '{bad['name']}'); the rubric's thresholds apply")
            lines += [f"note: {n}" for n in notes]
            lines += [f"interface: {d}" for d in deviations]
            if t_errors:
                bad_i = next((i for i, r in enumerate(out.value) if isinstance(r, dict)), None) if out.ok and isinstance(out.value, list) else None
                lines.append("interface: test_run failed" + (f" on {len(t_errors)} string(s), e.g. input {strings[bad_i]!r}" if bad_i is not None else "")
                             + f": {t_errors[0]}")
            return "\n".join(lines)

        if layout is None:
            ev["forward_unreadable"] = why
            lines.insert(0 if not lines else 1, head + "the grader could not read predictions from forward on its own inputs: " + "; ".join(why))
            if t_acc is not None and t_acc >= p.partial_min_accuracy:
                lines.append(f"needs a TA: your test_run reports accuracy {t_acc:.4f}{delay_txt}, but its strings are not evidence "
                             "the grader can verify (it scores the model's own outputs); no points until a TA has looked")
                return CheckResult(0.0, "pending", tail(lines), ev)
            if not out.ok:
                lines.append(f"could not run your trained {cls}: {out.error}")
            return CheckResult.failed(tail(lines), 0.0, **ev)

        ids = list(range(len(strings)))
        fwd_acc = acc
        ver = None
        if p.weights_control:
            # forward is student code and can tell the grader's runs apart: the grader recomputes
            # the model from its weights and scores its own computation, if forward agrees with it
            model_md = attrs.get("max_delay") if type(attrs.get("max_delay")) is int else (md if variable else None)
            ver = integ.verify_echo(exp.arrays, [(g["index"].numpy(), g["delays"].numpy() if "delays" in g else None) for g in groups],
                                    members, preds, variable, model_md)
            ev["recomputed"] = {"verified": ver.ok, "layout": ver.layout or None, "agreement": ver.agreement,
                                "reason": ver.reason or None, "unused_state": ver.unused[:20], "tried": ver.tried[:8]}
            if ver.ok:
                preds = ver.preds
        acc, worst = echo_accuracy(strings, delays, [preds[i] for i in ids])
        ev.update(accuracy=round(acc, 5), layout=layout, **worst)
        if ver is not None:
            ev["forward_accuracy"] = round(fwd_acc, 5)
        if ver is not None and ver.ok:
            lines.append(head + f"accuracy {acc:.4f} on {len(strings)} random strings{delay_txt}; needed >= {p.threshold} "
                         f"(computed by the grader from your weights as {ver.layout}; your forward, on the grader's "
                         f"{LAYOUTS[layout]} inputs, agrees on {ver.agreement:.1%} of the characters)")
            if ver.unused:
                lines.append("note: state entries the recomputation does not read: " + ", ".join(ver.unused[:8]))
        else:
            lines.append(head + f"accuracy {acc:.4f} on {len(strings)} random strings{delay_txt}; needed >= {p.threshold} "
                         f"(the grader's argmax of forward's logits on its own {LAYOUTS[layout]} inputs)")
        pending = False
        if ver is not None and not ver.ok and acc >= p.partial_min_accuracy:
            pending = True
            lines.append("needs a TA: the grader could not verify that this behaviour comes from the trained weights "
                         f"(it recomputes standard GRU/LSTM + Linear models from their weights): {ver.reason}; "
                         "no points until a TA has looked")
            if ver.unused:
                lines.append("note: state entries the recomputation does not read: " + ", ".join(ver.unused[:8]))
        if t_acc is not None and abs(t_acc - acc) > 0.02:
            lines.append(f"note: your test_run's strings echo with accuracy {t_acc:.4f}, which is not what your model predicts; "
                         "the grade uses the model's own outputs")
        if worst.get("worst_got") is not None and acc < p.threshold:
            lines.append(f"example: input {worst['worst_input']!r}, delay {worst['worst_delay']}: expected {worst['worst_expected']!r}, got {worst['worst_got']!r}")

        if acc >= p.partial_min_accuracy and n_control:
            # forward's word as well: it can only withhold points (a fingerprint of the weights defeats it)
            ctl = outs[3]
            c_acc = None
            if ctl.ok:
                c_preds, _ = read_predictions(ctl.value.get(layout) if isinstance(ctl.value, dict) else None, layout, members[:n_control], strings)
                if c_preds:
                    cid = sorted(c_preds)
                    c_acc, _ = echo_accuracy([strings[i] for i in cid], [delays[i] for i in cid], [c_preds[i] for i in cid])
            ev["control_accuracy"] = None if c_acc is None else round(c_acc, 5)
            if c_acc is None or c_acc >= p.partial_min_accuracy:
                pending = True
                lines.append("needs a TA: " + ("with its trained weights shuffled by the grader, the model still echoes "
                                               f"(accuracy {c_acc:.4f}): its behaviour does not come from its weights (an echo hand-coded in forward?)"
                                               if c_acc is not None else "the grader could not run the model with its weights shuffled (the control)")
                             + "; no points until a TA has looked")
        if pending:
            return CheckResult(0.0, "pending", tail(lines), ev)
        if acc >= p.threshold:
            if missing_md:
                lines.append(f"the model echoes well but has no `max_delay` attribute, which the notebook's test needs "
                             f"(-{p.missing_max_delay_penalty:.0%} of the points)")
                return CheckResult.failed(tail(lines), 1.0 - p.missing_max_delay_penalty, **ev)
            return CheckResult(1.0, "passed", tail(lines), ev)
        if acc >= p.partial_min_accuracy:
            lines.append(f"partial credit: the model loads and runs but is below the threshold ({p.partial_credit:.0%} of the points)")
            return CheckResult.failed(tail(lines), p.partial_credit, **ev)
        return CheckResult.failed(tail(lines), 0.0, **ev)


def _meta_ev(meta: dict) -> dict:
    return {k: meta.get(k) for k in ("class", "variable", "candidates", "init_args", "attrs", "numel", "execution_count", "training")}


def _deviations(meta: dict, diag, variable: bool) -> list[str]:
    out = []
    sigs = meta.get("signatures") or {}
    want = {"__init__": ["self", "hidden_size"] + (["max_delay"] if variable else []),
            "forward": ["self", "x"] + (["delays"] if variable else []),
            "test_run": ["self", "s"] + (["delay"] if variable else [])}
    for m, names in want.items():
        s = sigs.get(m)
        if not isinstance(s, list):
            if m != "__init__":
                out.append(f"no method {m}")
            continue
        got = [str(x[0]) for x in s if isinstance(x, list) and x]
        if len(got) > len(names):
            extra = [f"{x[0]}{'' if x[2] else ' (required)'}" for x in s[len(names):] if isinstance(x, list) and len(x) == 3]
            out.append(f"{m} takes extra argument(s) {', '.join(extra)} beyond ({', '.join(names[1:])})")
        elif len(got) < len(names):
            out.append(f"{m} takes ({', '.join(got[1:])}); the interface is ({', '.join(names[1:])})")
    if diag is not None and diag.ok and isinstance(diag.value, dict):
        if diag.value.get("test_run_extra"):
            out.append("test_run requires extra argument(s) " + ", ".join(map(str, diag.value["test_run_extra"]))
                       + " beyond the interface; the grader passed them (device = cpu / the model)")
        if diag.value.get("test_run_extra_error"):
            out.append(str(diag.value["test_run_extra_error"]))
        oh, ix = diag.value.get("onehot") or {}, diag.value.get("indices") or {}
        if isinstance(oh, dict) and not oh.get("ok") and isinstance(ix, dict) and ix.get("ok"):
            out.append("forward takes integer indices, not one-hot vectors (B, T, 27)")
        elif isinstance(oh, dict) and not oh.get("ok"):
            out.append(f"forward fails on one-hot input (B, T, 27): {oh.get('error')}")
        res = (oh if isinstance(oh, dict) and oh.get("ok") else ix if isinstance(ix, dict) else {}).get("out") if isinstance(oh, dict) else None
        if isinstance(res, dict):
            if res.get("type") in ("tuple", "list"):
                out.append("forward returns a tuple (e.g. (output, hidden)) instead of the logits")
            elif res.get("type") == "tensor" and res.get("shape") not in ([2, 7, 27],):
                out.append(f"forward returns shape {res.get('shape')}; the interface is (B, T, 27)")
    return out
