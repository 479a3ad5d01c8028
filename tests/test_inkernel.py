"""grader/inkernel: the code the grader sends into the student's kernel and probes, as modules.

Two halves. The loader: every module has its marker, its sent text is self-contained
(definitions only, no grader import, nothing runs at module level), every global name its
functions use exists when the module is imported (a typo would only show in a kernel), and
the kinds send exactly that text. The code itself: imported and run in this process the
way the kernel or the probe runs it (a fake IPython shell where one is needed), and what it
writes is read back through the grader's own readers (grader/checks/_exports.py).
"""
from __future__ import annotations

import ast
import builtins
import importlib
import symtable
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import inkernel
from grader.checks import _exports as ex
from grader.checks import _integrity as integ
from grader.checks import kind_train_step as ts

PKG = Path(inkernel.__file__).parent


def mod(name):
    return importlib.import_module(f"grader.inkernel.{name}")


# --------------------------------------------------------------------------------------
# the loader and the shape of the sent text


def test_every_module_file_is_listed_and_every_listed_module_exists():
    files = sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")
    assert files == sorted(inkernel.MODULES)


def test_unknown_names_are_errors():
    with pytest.raises(KeyError):
        inkernel.source("no_such_module")
    with pytest.raises(KeyError):
        inkernel.source("__init__")


@pytest.mark.parametrize("name", inkernel.MODULES)
def test_sent_text_is_self_contained_definitions(name):
    text = inkernel.source(name)
    full = (PKG / f"{name}.py").read_text()
    assert full.count(inkernel.MARKER) == 1
    assert text.strip() == full.split(inkernel.MARKER, 1)[1].strip()  # nothing above the marker is sent
    tree = ast.parse(text)
    assert tree.body and all(isinstance(s, ast.FunctionDef) and s.name.startswith("__grader_") for s in tree.body), \
        "the sent text defines __grader_ functions and runs nothing at module level"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("grader"), "the kernel and the probe have no grader package"
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("grader") for a in node.names)


def _globals_used(table: symtable.SymbolTable) -> set[str]:
    out = set()
    for sym in table.get_symbols():
        if sym.is_global() and sym.is_referenced():
            out.add(sym.get_name())
    for child in table.get_children():
        out |= _globals_used(child)
    return out


@pytest.mark.parametrize("name", inkernel.MODULES)
def test_every_global_name_resolves_when_imported(name):
    """The part a linter would do: a misspelt global fails here, not in a student's kernel."""
    m = mod(name)
    table = symtable.symtable(inkernel.source(name), f"{name}.py", "exec")
    missing = sorted(n for n in _globals_used(table) if not hasattr(m, n) and not hasattr(builtins, n))
    assert not missing


def test_the_global_check_can_fail():
    table = symtable.symtable("def __grader_f():\n    return undefined_name + len([])\n", "x", "exec")
    assert _globals_used(table) == {"undefined_name", "len"}


def test_kinds_send_the_modules_text():
    from grader.checks import kind_cnn_architecture as arch
    from grader.checks import kind_loss_curve as lc
    from grader.checks import kind_trained_model as tm
    from grader.checks import kind_validation_accuracy as va

    assert lc._PROLOGUE == inkernel.source("loss_curve_hooks")
    assert lc._EPILOGUE == inkernel.source("loss_curve_write")
    assert ex.REBUILD_SOURCE == inkernel.source("rebuild")
    assert tm._ECHO_SOURCE == inkernel.source("rebuild") + inkernel.source("echo_probe")
    assert va._SOURCE.startswith(ex.REBUILD_SOURCE) and "def __grader_cnn_eval(" in va._SOURCE
    assert integ.CNN_VERIFY_SOURCE == inkernel.source("param_values") + inkernel.source("cnn_verify")
    assert integ.AUTOGRAD_GUARD.startswith(inkernel.source("autograd_guard"))
    assert arch._TRACE_SOURCE == inkernel.source("cnn_trace")
    pro = ex.capture_prologue("x-a.b", "Net", ["model"], 100)
    assert pro.startswith(inkernel.source("model_capture"))
    assert "__grader_store_x_a_b = __grader_capture_install('x-a.b', 'Net', ['model'], 100)" in pro
    ns: dict = {}
    exec(compile(ex.capture_epilogue("x-a.b"), "epilogue", "exec"), ns)  # no store: the NameError is swallowed
    assert "__grader_write_export" not in ns


# --------------------------------------------------------------------------------------
# trained-model capture (prologue) and export (epilogue), with a fake IPython shell


class FakeEvents:
    def __init__(self):
        self.callbacks = []

    def register(self, event, fn):
        assert event == "post_run_cell"
        self.callbacks.append(fn)


class FakeShell:
    def __init__(self):
        self.user_ns: dict = {}
        self.events = FakeEvents()
        self.execution_count = 7

    def run_cell(self, fn):  # what a cell does, then IPython's post_run_cell callbacks
        fn(self.user_ns)
        for cb in self.events.callbacks:
            cb()


class Net(torch.nn.Module):
    def __init__(self, n_in, hidden=5, *, scale=1.0):
        super().__init__()
        self.hidden = hidden
        self.lin = torch.nn.Linear(n_in, hidden)

    def forward(self, x):
        return self.lin(x)


def test_capture_and_export_write_what_the_grader_reads(tmp_path, monkeypatch):
    cap, exp = mod("model_capture"), mod("model_export")
    shell = FakeShell()
    monkeypatch.setattr(cap, "get_ipython", lambda: shell)
    monkeypatch.chdir(tmp_path)
    store = cap.__grader_capture_install("x-k", "Net", ["model"], 10**6)
    assert len(shell.events.callbacks) == 1

    class Local(Net):  # a fresh class: the capture patches its __init__ (and only once)
        pass
    Local.__name__ = "Net"
    Local.__init__ = lambda self, n_in, hidden=5, *, scale=1.0: Net.__init__(self, n_in, hidden, scale=scale)
    shell.run_cell(lambda ns: ns.update(Net=Local))  # the class is defined: patched after this cell
    assert Local.__dict__.get("__grader_patched__") is True
    shell.run_cell(lambda ns: ns.update(other=Local(2), model=Local(3, hidden=4, scale=2.0)))
    snap = store["snap"]
    assert snap["variable"] == "model" and snap["candidates"] == ["model", "other"]
    assert snap["init_args"] == {"n_in": 3, "hidden": 4, "scale": 2.0}
    assert snap["attrs"] == {"hidden": 4} and snap["execution_count"] == 7

    d = tmp_path / "__grader_exports__"
    d.mkdir()
    (d / "x-k.json").write_text('{"forged": true}')  # a file a student cell planted
    with torch.no_grad():
        shell.user_ns["model"].lin.weight.fill_(0.5)  # trained after the last cell's snapshot
    exp.__grader_write_export("x-k", store)
    meta = ex.read_json(d / "x-k.json")
    arrays = ex.read_npz(d / "x-k.npz", 1 << 20)
    assert isinstance(meta, dict) and isinstance(arrays, dict)
    assert "forged" not in meta and meta["found"] is True and meta["error"] == ""
    assert meta["names"] == ["lin.weight", "lin.bias"]
    assert np.all(arrays["p0"] == 0.5) and arrays["p0"].shape == (4, 3)  # the epilogue's own last snapshot
    kw, notes = ex.init_kwargs(meta)
    assert kw == {"n_in": 3, "hidden": 4, "scale": 2.0}


def test_export_without_a_model_says_so(tmp_path, monkeypatch):
    cap, exp = mod("model_capture"), mod("model_export")
    shell = FakeShell()
    monkeypatch.setattr(cap, "get_ipython", lambda: shell)
    monkeypatch.chdir(tmp_path)
    store = cap.__grader_capture_install("x-k", "Net", ["model"], 10**6)
    shell.run_cell(lambda ns: ns.update(model=torch.nn.Linear(2, 2)))  # not a Net
    exp.__grader_write_export("x-k", store)
    meta = ex.read_json(tmp_path / "__grader_exports__" / "x-k.json")
    assert meta["found"] is False
    assert not (tmp_path / "__grader_exports__" / "x-k.npz").exists()


# --------------------------------------------------------------------------------------
# probe helpers that rebuild the exported model


def _weights(tmp_path, model):
    sd = model.state_dict()
    np.savez(tmp_path / "weights.npz", **{f"p{i}": v.numpy() for i, v in enumerate(sd.values())})
    return list(sd)


def test_rebuild_and_cnn_eval_use_the_exported_weights(tmp_path, monkeypatch):
    rb, ev = mod("rebuild"), mod("cnn_eval")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(rb, "Net", Net, raising=False)  # the probe's globals hold the student's class
    monkeypatch.setattr(rb, "model", None, raising=False)
    monkeypatch.setattr(rb, "device", None, raising=False)
    torch.manual_seed(3)
    trained = Net(3, hidden=2)
    names = _weights(tmp_path, trained)
    images = torch.randn(5, 3, dtype=torch.float64)
    out = ev.__grader_cnn_eval("Net", {"n_in": 3, "hidden": 2}, names, [images], 2, seed=0)
    assert out["params"] == ["lin.weight", "lin.bias"]
    with torch.no_grad():
        want = trained(images.float()).double()
    assert out["outputs"][0].dtype == torch.float64 and torch.allclose(out["outputs"][0], want, atol=1e-6)
    assert rb.model is not trained and not rb.model.training and str(rb.device) == "cpu"
    with pytest.raises(RuntimeError, match="do not fit"):
        rb.__grader_rebuild("Net", {"n_in": 3, "hidden": 2}, ["lin.weight", "other"], 0)


class Echo(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)

    def forward(self, x, *extra):
        return x

    def test_run(self, s, device):
        if s == "bad":
            return 3
        return s[::-1]


def test_echo_probe_runs_test_run_with_the_arguments_it_needs(tmp_path, monkeypatch):
    rb, echo = mod("rebuild"), mod("echo_probe")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(rb, "Echo", Echo, raising=False)
    monkeypatch.setattr(rb, "model", None, raising=False)
    monkeypatch.setattr(rb, "device", None, raising=False)
    names = _weights(tmp_path, Echo())
    out = echo.__grader_echo("Echo", {}, names, ["abc", "bad", "xy"], [None, None, None], 0)
    assert out[0] == "cba" and out[2] == "yx"
    assert "not a string" in out[1]["error"]
    diag = echo.__grader_echo_diag("Echo", {}, names, False, 0)
    assert diag["test_run_extra"] == ["device"] and diag["indices"]["ok"] is True


# --------------------------------------------------------------------------------------
# architecture: the verify probe and the grader's parameter values


class TinyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        x = torch.relu(self.conv(x)).mean((2, 3))
        return self.fc(x)


def test_cnn_verify_loads_the_graders_values_and_records_a_replayable_forward(monkeypatch):
    cv = mod("cnn_verify")
    monkeypatch.setattr(cv, "TinyCNN", TinyCNN, raising=False)
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    info = cv.__grader_cnn_verify("TinyCNN", [x], 5, 10**6, 500)
    assert info["n_params"] == sum(p.numel() for p in TinyCNN().parameters())
    tr = info["traces"][0]
    assert "error" not in tr and tr["out"].shape == (2, 2) and not tr["truncated"]
    assert any(n["op"] == "conv2d" for n in tr["nodes"])
    # the output is that of the grader's own parameter values
    ref = TinyCNN()
    with torch.no_grad():
        for n, p in ref.named_parameters():
            p.copy_(torch.from_numpy(integ.param_values(5, n, tuple(p.shape))))
        assert np.allclose(tr["out"], ref(x).numpy(), atol=1e-6)
    # and the grader's replay reproduces it
    plain = {k: v for k, v in info.items()}
    rep = integ.verified_trace(plain, tr, x.numpy(), 5, 10**6)
    assert rep.ok, rep.reason
    small = cv.__grader_cnn_verify("TinyCNN", [x], 5, 10, 500)
    assert small.get("too_large") is True and "traces" not in small


def test_param_values_are_deterministic_and_fan_in_scaled():
    pv = mod("param_values").__grader_param_values
    a, b = pv(1, "conv.weight", (8, 3, 3, 3)), pv(1, "conv.weight", (8, 3, 3, 3))
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, pv(2, "conv.weight", (8, 3, 3, 3)))
    assert 0.1 < a.std() * 27 ** 0.5 < 3
    assert abs(pv(1, "bn.weight", (100,)).mean() - 1.0) < 0.1


def test_cnn_trace_records_the_first_forward(monkeypatch):
    tr = mod("cnn_trace")
    monkeypatch.setattr(tr, "TinyCNN", TinyCNN, raising=False)
    d = tr.__grader_cnn_trace("TinyCNN", [[8, 8], [10, 12]], 2, 0)
    assert d["trace_error"] is None and [o["shape"] for o in d["outputs"]] == [[2, 2], [2, 2]]
    assert d["nodes"][0]["op"] == "<input>" and any(n["op"] == "conv2d" for n in d["nodes"])


# --------------------------------------------------------------------------------------
# train_step probes


def glc_ok(model, batch, criterion, device):
    x, y = batch
    out = model(x)
    return criterion(out, y), (out.argmax(1) == y).sum()


def step_ok(loss, opt):
    opt.zero_grad()
    loss.backward()
    opt.step()


def step_no_zero(loss, opt):
    loss.backward()
    opt.step()


def test_train_step_probes_call_the_named_function(monkeypatch):
    tsp = mod("train_step_probe")
    for n, f in (("my_glc", glc_ok), ("my_step", step_ok), ("bad_step", step_no_zero)):
        monkeypatch.setattr(tsp, n, f, raising=False)
    monkeypatch.setattr(tsp, "model", None, raising=False)
    W, b, x, y = ts._inputs(0)
    T = torch.from_numpy
    got = tsp.__grader_glc(T(W), T(b), T(x), T(y), "sum", "my_glc")
    ref = ts.reference_glc(W, b, x, y, "sum")
    assert got["has_graph"] and np.isclose(got["loss"], ref["loss"]) and got["correct"] == ref["correct"]
    assert np.allclose(got["gW"].numpy(), ref["gW"])
    rng = np.random.default_rng(1)
    sW, sb = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
    outcomes = ts.reference_step_outcomes(W, b, x, y, sW, sb, 0.5)
    good = tsp.__grader_step(T(W), T(b), T(x), T(y), T(sW), T(sb), 0.5, "my_step")
    assert good["events"] == ["zero_grad", "backward", "step"]
    assert np.allclose(good["W"].numpy(), outcomes["correct"][0])
    bad = tsp.__grader_step(T(W), T(b), T(x), T(y), T(sW), T(sb), 0.5, "bad_step")
    assert bad["events"] == ["backward(stale gradient still present)", "step"]
    assert np.allclose(bad["W"].numpy(), outcomes["no zero_grad (the stale gradient of the previous batch is added)"][0])


# --------------------------------------------------------------------------------------
# gradient: the autograd guard and the hand-derived call


@pytest.fixture
def guarded(monkeypatch):
    """The guard installed in this process, and every attribute it wraps restored after."""
    from factories import restore_autograd_attrs

    restore_autograd_attrs(monkeypatch)
    state = mod("autograd_guard").__grader_install_autograd_guard()
    hd = mod("hand_derived")
    monkeypatch.setattr(hd, "__grader_autograd_state", state)
    return hd, state


def by_hand(x):
    return 2 * x


def by_autograd(x):
    t = torch.tensor(float(x), requires_grad=True)
    (g,) = torch.autograd.grad(t * t, t)
    return float(g)


def by_backward(x):
    t = torch.tensor(float(x), requires_grad=True)
    helper(t)
    (t * t).backward()
    return float(t.grad)


def helper(t):
    return t


def test_hand_derived_call_blocks_and_records_autograd(guarded, monkeypatch):
    hd, state = guarded
    monkeypatch.setattr(hd, "torch", torch, raising=False)
    for f in (by_hand, by_autograd, by_backward, helper):  # defined in the probe's one namespace, as there
        monkeypatch.setattr(hd, f.__name__, types.FunctionType(f.__code__, vars(hd), f.__name__), raising=False)
    ok = hd.__grader_hand_derived_call("by_hand", (3.0,), {})
    assert ok == {"value": 6.0, "error": None, "autograd": [], "forward_calls": {}}
    bad = hd.__grader_hand_derived_call("by_autograd", (3.0,), {})
    assert bad["value"] is None and bad["autograd"] == ["torch.autograd.grad"] and "disabled" in bad["error"]
    bw = hd.__grader_hand_derived_call("by_backward", (3.0,), {}, count_names=("helper",))
    assert bw["autograd"] == ["Tensor.backward"] and bw["forward_calls"] == {"helper": 1}
    assert hd.helper.__code__ is helper.__code__  # the counting wrapper is removed again
    assert state["on"] is False
    assert by_autograd(3.0) == 6.0  # off: autograd works as before


# --------------------------------------------------------------------------------------
# loss curve: the hooks record runs, the writer exports what kind_loss_curve reads


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x)


def test_loss_curve_hooks_record_runs_and_the_writer_exports_them(tmp_path, monkeypatch):
    hooks, write = mod("loss_curve_hooks"), mod("loss_curve_write")
    monkeypatch.chdir(tmp_path)
    st = hooks.__grader_lc_install("Tiny", 2, 100, 5)
    try:
        torch.manual_seed(0)
        model, decoy = Tiny(), Tiny()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
        decoy(x)  # seen, never stepped: no run
        for k in range(5):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            if k == 2:
                with torch.no_grad():
                    model.lin.bias.add_(1.0)  # an edit between two steps
        frozen = torch.optim.SGD(model.parameters(), lr=0.0)
        frozen.step()  # a step that changes nothing
    finally:
        for h in st["handles"]:
            h.remove()
    assert st["error"] == "" and len(st["runs"]) == 1
    run = st["runs"][0]
    assert (run["steps"], run["effective"], run["edits"], run["first_edit"]) == (6, 5, 1, 4)
    assert run["at"] == [0, 2, 4, 6] and run["max_change"] > 0
    write.__grader_lc_write("k", st, 4, model)
    d = tmp_path / "__grader_exports__"
    meta, arrays = ex.read_json(d / "k.json"), ex.read_npz(d / "k.npz", 1 << 20)
    assert isinstance(meta, dict) and isinstance(arrays, dict)
    r = meta["runs"][0]
    assert meta["format"] == 2 and meta["found"] and r["ends_in_live"] and r["exported"] and r["is_live_object"]
    assert arrays["r0_at"].tolist() == [0, 2, 4, 6]
    assert np.array_equal(arrays["live0"], model.lin.weight.detach().numpy())
    assert np.array_equal(arrays["r0_s0"][-1], model.lin.weight.detach().numpy())
