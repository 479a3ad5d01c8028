"""Kernel prologue of `loss_curve` (grader/checks/kind_loss_curve.py, its docstring has the rules).

`__grader_lc_install(class_name, every, max_snaps, max_runs)` registers a global module
forward pre-hook (which objects are `class_name` instances) and global optimizer step
pre/post hooks, and returns the state they fill: one run per model instance, with its
snapshots every `every` steps, its last post-step weights, edits between steps and the
largest change of one weight in one step.
"""

# ---- in-kernel source: everything below this line is sent as text ----


def __grader_lc_install(class_name, every, max_snaps, max_runs):
    import torch
    from torch.optim.optimizer import register_optimizer_step_pre_hook, register_optimizer_step_post_hook
    st = {"models": [], "runs": [], "owner": {}, "error": "", "class_name": class_name, "every": every,
          "seq": 0, "dropped": 0}

    def fwd_pre(mod, args):
        if type(mod).__name__ == class_name and not any(m is mod for m in st["models"]):
            st["models"].append(mod)

    def current(m):
        sd = m.state_dict()
        return [str(k) for k in sd], [v.detach() for v in sd.values()]

    def to_np(ts):
        return [t.detach().cpu().float().numpy() if t.is_floating_point() else t.detach().cpu().numpy() for t in ts]

    def same(a, b):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.device != b.device:
            b = b.to(a.device)
        if torch.equal(a, b):
            return True
        return bool(a.is_floating_point() and ((a == b) | (a.isnan() & b.isnan())).all())

    def new_run(model):
        names, ts = current(model)
        ts = [t.clone() for t in ts]
        run = {"model": model, "names": names, "steps": 0, "effective": 0, "edits": 0, "first_edit": None,
               "max_change": 0.0, "snaps": [to_np(ts)], "at": [0], "last": ts, "optimizers": [], "opt_ids": [],
               "last_seq": 0}
        st["runs"].append(run)
        return run

    def runs_for(opt):
        n = len(st["models"])
        entry = st["owner"].get(id(opt))  # the entry holds opt: its id is not reused meanwhile
        if entry is not None and entry[0] is opt and entry[1] == n:
            return entry[2]
        pids = {id(p) for g in opt.param_groups for p in g["params"]}
        out = []
        for m in st["models"]:
            if not any(id(p) in pids for p in m.parameters()):
                continue
            run = next((r for r in st["runs"] if r["model"] is m), None)
            if run is None:
                if len(st["runs"]) >= max_runs:
                    st["dropped"] += 1
                    continue
                run = new_run(m)
            if not any(o is opt for o in run["opt_ids"]):
                run["opt_ids"].append(opt)
                if len(run["optimizers"]) < 5:
                    d = {k: v for k, v in opt.defaults.items() if v is None or type(v) in (bool, int, float, str)}
                    run["optimizers"].append({"type": type(opt).__name__, "defaults": d})
            out.append(run)
        st["owner"][id(opt)] = (opt, n, out)
        return out

    def pre(opt, args, kwargs):
        try:
            for run in runs_for(opt):
                names, cur = current(run["model"])
                if names != run["names"] or not all(same(a, b) for a, b in zip(cur, run["last"])):
                    run["edits"] += 1
                    if run["first_edit"] is None:
                        run["first_edit"] = run["steps"] + 1
                    run["names"], run["last"] = names, [t.clone() for t in cur]
        except Exception as exc:
            st["error"] = (type(exc).__name__ + ": " + str(exc))[:300]

    def post(opt, args, kwargs):
        try:
            st["seq"] += 1
            for run in runs_for(opt):
                names, cur = current(run["model"])
                cur = [t.clone() for t in cur]
                changed, change = names != run["names"], 0.0
                for a, b in zip(cur, run["last"]):
                    if same(a, b):
                        continue
                    changed = True
                    if a.is_floating_point() and a.shape == b.shape and a.numel():
                        dd = float((a - b.to(a.device)).abs().max())
                        change = max(change, dd) if dd == dd else float("inf")
                run["steps"] += 1
                run["effective"] += 1 if changed else 0
                run["max_change"] = max(run["max_change"], change)
                run["names"], run["last"], run["last_seq"] = names, cur, st["seq"]
                if run["steps"] % every == 0 and len(run["snaps"]) < max_snaps:
                    run["snaps"].append(to_np(cur))
                    run["at"].append(run["steps"])
        except Exception as exc:
            st["error"] = (type(exc).__name__ + ": " + str(exc))[:300]

    st["same"], st["to_np"] = same, to_np
    st["handles"] = [torch.nn.modules.module.register_module_forward_pre_hook(fwd_pre),
                     register_optimizer_step_pre_hook(pre), register_optimizer_step_post_hook(post)]
    return st
