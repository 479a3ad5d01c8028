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
   the notebook's extracted source (never from kernel bytes), loads the weights, sets the
   globals real solutions lean on (`model`, `device` = cpu) and calls the student's own
   `test_run` on grader-seeded random lowercase strings (lengths and delays exactly as
   test_model / test_variable_delay_model draw them). Only the produced strings come back.
3. The grader computes the delayed-echo accuracy itself and compares it with the
   threshold. A second probe call diagnoses interface deviations (forward taking integer
   indices, returning a tuple, extra arguments): they are reported, never penalised,
   because the notebook's own test only exercises test_run.

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
reported; any other required parameter makes the item fail with that reason. A variable-
delay model without an integer `max_delay` attribute (the notebook's test reads it)
loses `missing_max_delay_penalty` (default 0.2) of the points.

Scoring: full marks at accuracy >= threshold; `partial_credit` (default 0.3) when the
model rebuilds, runs and reaches `partial_min_accuracy` (default 0.5, far above the 1/27
chance level, so an untrained model scores 0); otherwise 0.
"""
from __future__ import annotations

import random
import string

from grader.checks import _exports as ex
from grader.checks.base import CheckKind, CheckResult, Instrumentation
from grader.checks.registry import register
from grader.probe import Call

EXCLUDE = {"model", "device", "optimizer", "criterion", "accuracy", "duration", "start_time", "end_time"}

_ECHO_SOURCE = ex.REBUILD_SOURCE + r'''
def __grader_test_run_extra(m, with_delay):
    import inspect as _inspect
    import torch as _torch
    try:
        params = list(_inspect.signature(m.test_run).parameters.values())
    except (TypeError, ValueError):
        return {}, []
    skip = 2 if with_delay else 1
    kw, notes = {}, []
    for p in params[skip:]:
        if p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name.lower() in ("device", "dev"):
            kw[p.name] = _torch.device("cpu")
        elif p.name.lower() in ("model", "net", "self_model"):
            kw[p.name] = m
        else:
            raise TypeError("test_run requires an extra argument %r, which the notebook's own test does not pass" % p.name)
        notes.append(p.name)
    return kw, notes


def __grader_echo(class_name, kwargs, names, strings, delays, seed):
    m = __grader_rebuild(class_name, kwargs, names, seed)
    extra, _ = __grader_test_run_extra(m, delays[0] is not None if delays else False)
    out, errors = [], 0
    for s, d in zip(strings, delays):
        if errors >= 5:
            out.append({"error": "skipped after 5 errors"})
            continue
        try:
            r = m.test_run(s, **extra) if d is None else m.test_run(s, d, **extra)
            if type(r) is str:
                out.append(r)
            elif type(r) in (list, tuple) and all(type(c) is str for c in r):
                out.append(list(r))
            else:
                out.append({"error": "test_run returned %s, not a string" % type(r).__name__})
                errors += 1
        except Exception as e:
            errors += 1
            out.append({"error": ("%s: %s" % (type(e).__name__, e))[:300]})
    return out


def __grader_echo_diag(class_name, kwargs, names, with_delay, seed):
    import torch as _torch
    m = __grader_rebuild(class_name, kwargs, names, seed)
    T = 7
    idx = _torch.randint(1, 27, (2, T))
    extra = (_torch.tensor([1, 2]),) if with_delay else ()
    info = {}
    def describe(r):
        if isinstance(r, _torch.Tensor):
            return {"type": "tensor", "shape": list(r.shape)}
        if isinstance(r, (tuple, list)):
            return {"type": type(r).__name__, "items": [describe(x) for x in r][:4]}
        return {"type": type(r).__name__}
    try:
        info["test_run_extra"] = __grader_test_run_extra(m, with_delay)[1]
    except Exception as e:
        info["test_run_extra_error"] = str(e)[:200]
    for label, x in (("onehot", _torch.nn.functional.one_hot(idx, 27).float()), ("indices", idx)):
        try:
            with _torch.no_grad():
                info[label] = {"ok": True, "out": describe(m(x, *extra))}
        except Exception as e:
            info[label] = {"ok": False, "error": ("%s: %s" % (type(e).__name__, e))[:200]}
    return info
'''


def make_strings(seed: int, n: int, length: tuple[int, int], delays: tuple[int, int] | None) -> tuple[list[str], list]:
    rng = random.Random(seed)
    strings, ds = [], []
    for _ in range(n):
        strings.append("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(*length))))
        ds.append(None if delays is None else rng.randint(*delays))
    return strings, ds


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


@register
class TrainedModel(CheckKind):
    name = "trained_model"
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "mode": {"enum": ["fixed_delay", "variable_delay"]},
            "variable": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            "threshold": {"type": "number", "minimum": 0, "maximum": 1},
            "n_strings": {"type": "integer", "minimum": 1, "maximum": 5000},
            "length": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 200}, "minItems": 2, "maxItems": 2},
            "delay": {"type": "integer", "minimum": 1, "maximum": 100},
            "max_delay": {"type": "integer", "minimum": 0, "maximum": 100},
            "partial_credit": {"type": "number", "minimum": 0, "maximum": 1},
            "partial_min_accuracy": {"type": "number", "minimum": 0, "maximum": 1},
            "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
            "max_params": {"type": "integer", "minimum": 1},
            "missing_max_delay_penalty": {"type": "number", "minimum": 0, "maximum": 1},
            "default_template": {"type": "string"},
            "templates": {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "signals"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "signals": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                    "min_signals": {"type": "integer", "minimum": 1},
                    "threshold": {"type": "number", "minimum": 0, "maximum": 1},
                    "max_delay": {"type": "integer", "minimum": 0, "maximum": 100},
                }}},
        },
    }

    def _p(self, item) -> dict:
        p = dict(item.params)
        variable = p.get("mode", "fixed_delay") == "variable_delay"
        p.setdefault("mode", "fixed_delay")
        p.setdefault("threshold", 0.99)
        p.setdefault("n_strings", 500)
        p.setdefault("length", [20, 20] if variable else [15, 25])
        p.setdefault("delay", 4)
        p.setdefault("partial_credit", 0.3)
        p.setdefault("partial_min_accuracy", 0.5)
        p.setdefault("timeout_s", 120)
        p.setdefault("max_params", 20_000_000)
        p.setdefault("missing_max_delay_penalty", 0.2)
        return p

    def _template(self, ctx, p: dict) -> dict:
        """Detect the notebook's template version; returns evidence and updates p."""
        import re

        templates = p.get("templates") or []
        if not templates or ctx.extraction is None:
            return {"name": p.get("default_template")} if p.get("default_template") else {}
        code = "\n".join(st.source for st in ctx.extraction.stmts)
        inconsistent = []
        for t in templates:
            hits = [sig for sig in t["signals"] if re.search(sig, code, re.M)]
            need = int(t.get("min_signals", len(t["signals"])))
            if len(hits) >= need:
                for k in ("threshold", "max_delay"):
                    if k in t:
                        p[k] = t[k]
                return {"name": t["name"], "signals_matched": hits}
            if hits:
                inconsistent.append({"name": t["name"], "signals_matched": hits, "needed": need})
        out = {"name": p.get("default_template", "the rubric's thresholds")}
        if inconsistent:
            out["inconsistent"] = inconsistent
        return out

    def instrument(self, item) -> Instrumentation:
        p = self._p(item)
        return ex.model_instrumentation(item, p.get("variable"), p["max_params"])

    def run(self, ctx, item) -> CheckResult:
        p = self._p(item)
        cls = item.target
        exp = ex.load_trained(ctx, item, p.get("variable"))
        if isinstance(exp, CheckResult):
            return exp
        meta = exp.meta
        template = self._template(ctx, p)
        variable = p["mode"] == "variable_delay"
        kw = ex.init_kwargs(meta)
        if isinstance(kw, str):
            return CheckResult.failed(kw, exported=_meta_ev(meta))
        kwargs, notes = kw
        attrs = meta.get("attrs") or {}
        missing_md = False
        if variable:
            md = p.get("max_delay")
            model_md = attrs.get("max_delay")
            missing_md = type(model_md) is not int
            if md is None:
                if type(model_md) is not int or not 0 <= model_md <= 100:
                    return CheckResult.failed(f"{cls} has no integer attribute `max_delay` (test_variable_delay_model reads model.max_delay)",
                                              exported=_meta_ev(meta))
                md = model_md
            elif model_md != md and not missing_md:
                notes.append(f"the model's max_delay is {model_md!r}; tested with the rubric's max_delay={md}")
            strings, delays = make_strings(ctx.seed_for(item, "strings"), p["n_strings"], tuple(p["length"]), (0, md))
        else:
            strings, ds = make_strings(ctx.seed_for(item, "strings"), p["n_strings"], tuple(p["length"]), None)
            delays = [p["delay"]] * len(strings)
        names = exp.names
        seed = ctx.seed_for(item, "init") % (2**31)
        calls = [
            Call("__grader_echo", (cls, kwargs, names, strings, delays if variable else [None] * len(strings), seed), {}, float(p["timeout_s"])),
            Call("__grader_echo_diag", (cls, kwargs, names, variable, seed), {}, 30.0),
        ]
        out, diag = ex.probe_module(ctx, [cls], calls, EXCLUDE - {cls}, _ECHO_SOURCE, files={"weights.npz": exp.npz})
        deviations = _deviations(meta, diag, variable)
        if missing_md:
            deviations.append("no integer attribute `max_delay` (test_variable_delay_model reads model.max_delay)")
        ev = {"template": template, "exported": _meta_ev(meta), "rebuild": notes, "deviations": deviations, "n_strings": len(strings),
              "lengths": p["length"], "delays": sorted(set(delays)), "threshold": p["threshold"]}
        if not out.ok:
            return CheckResult.failed(f"could not run your trained {cls}: {out.error}", traceback=out.traceback[-1500:], **ev)
        results = out.value if isinstance(out.value, list) else []
        if len(results) != len(strings):
            return CheckResult.failed(f"the probe returned {len(results)} results for {len(strings)} strings", **ev)
        errors = [r.get("error") for r in results if isinstance(r, dict)]
        acc, worst = echo_accuracy(strings, delays, results)
        ev.update(accuracy=round(acc, 5), **worst)
        if errors:
            ev["test_run_errors"] = errors[:5]
        lines = [f"{cls} (`{meta.get('variable')}`, rebuilt from your class and the weights trained in the notebook): "
                 f"accuracy {acc:.4f} on {len(strings)} random strings"
                 + (f" with delays 0..{max(delays)}" if variable else f" with delay {p['delay']}")
                 + f"; needed >= {p['threshold']}"]
        if template.get("name"):
            lines.insert(0, f"template: {template['name']}" + (f" (detected from {len(template['signals_matched'])} signal(s) in the given code)" if template.get("signals_matched") else ""))
        for bad in template.get("inconsistent", []):
            lines.append(f"note: template signals are inconsistent ({len(bad['signals_matched'])} of the {bad['needed']} needed for '{bad['name']}'); the rubric's thresholds apply")
        lines += [f"note: {n}" for n in notes]
        lines += [f"interface: {d}" for d in deviations]
        if errors:
            lines.append(f"test_run failed on {len(errors)} string(s), e.g. input {strings[[i for i, r in enumerate(results) if isinstance(r, dict)][0]]!r}: {errors[0]}")
        elif worst.get("worst_got") is not None and acc < p["threshold"]:
            lines.append(f"example: input {worst['worst_input']!r}, delay {worst['worst_delay']}: expected {worst['worst_expected']!r}, got {worst['worst_got']!r}")
        if acc >= p["threshold"] and not errors:
            if missing_md:
                lines.append(f"the model echoes well but has no `max_delay` attribute, which the notebook's test needs "
                             f"(-{p['missing_max_delay_penalty']:.0%} of the points)")
                return CheckResult.failed("\n".join(lines), 1.0 - p["missing_max_delay_penalty"], **ev)
            return CheckResult(1.0, "passed", "\n".join(lines), ev)
        if acc >= p["partial_min_accuracy"]:
            lines.append(f"partial credit: the model loads and runs but is below the threshold ({p['partial_credit']:.0%} of the points)")
            return CheckResult.failed("\n".join(lines), p["partial_credit"], **ev)
        return CheckResult.failed("\n".join(lines), 0.0, **ev)


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
