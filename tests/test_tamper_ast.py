"""The kernel-tampering scan on the AST (grader/extract/tamper.py): the former patterns,
names built at run time, and no false positive on any honest notebook of the project."""
import io
import json
import zipfile

import pytest

from factories import ROOT
from grader.extract.tamper import scan

FORMER = [  # what the regex scan caught: still caught
    "ip = get_ipython()\nip.run_cell_async = lambda *a, **k: None",
    "get_ipython().run_cell = None",
    "get_ipython().input_transformers_cleanup.append(lambda lines: [])",
    "get_ipython().ast_transformers.append(object())",
    "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None",
    "ip = get_ipython()\nip._showtraceback = print\nip.showsyntaxerror = print",
    "get_ipython().set_custom_exc((Exception,), print)",
    "import sys\nsys.excepthook = print",
    "k = get_ipython().kernel\nk.do_execute = None",
    "k = get_ipython().kernel\nk.session.send(k.iopub_socket, 'stream', {})",
    "get_ipython().events.register('post_run_cell', print)",
]

RUNTIME = [  # names built at run time, and other ways around the names
    "ip = get_ipython()\nname = '_'.join(['run', 'cell', 'async'])\nsetattr(ip, name, None)",
    "import IPython\nsh = IPython.get_ipython()\nfor k in ['a']:\n    setattr(sh, k, 1)",
    "def patch(shell, name, f):\n    setattr(shell, name, f)\npatch(get_ipython(), 'show' + 'traceback', print)",
    "getattr(get_ipython(), 'run_' + 'cell')",
    "delattr(get_ipython(), n)",
    "object.__setattr__(get_ipython(), name, f)",
    "get_ipython().__setattr__(name, f)",
    "vars(get_ipython())[k] = f",
    "get_ipython().__dict__[k] = f",
    "setattr(get_ipython(), 'showtraceback', print)",
    "vars(get_ipython())['run_cell'] = f",
    "fn = globals()['get_' + 'ipython']()",
    "g = globals()\nfn = g['get_' + 'ipython']",
    "import sys\nm = sys.modules[n]",
    "m = __import__('IP' + 'ython')",
    "import importlib\nm = importlib.import_module(name)",
    "import builtins\nf = getattr(builtins, 'ex' + 'ec')",
    "f = __builtins__['ex' + 'ec']",
    "import gc\nfor o in gc.get_objects():\n    if type(o).__name__ == 'ZMQInteractiveShell':\n        setattr(o, nm, f)",
    "import sys\nf = sys._getframe(0)\nf.f_globals[k]",
    "import base64\nexec(base64.b64decode('aW1wb3J0IG9z').decode())",
    "code = bytes.fromhex('6970')\nexec(code.decode())",
    "src = 'ip.run' + '_cell = None'\nexec(src)",
    "exec(compile('x' + '=1', 'f', 'exec'))",
    "exec('get_ipython().run_cell = None')",  # a constant is scanned like a cell
    "%time setattr(get_ipython(), 'show' + 'traceback', None)",  # so is a magic's code
    "%%time\nip = get_ipython()\nip.showtraceback = None",
    "import zmq\nsock = zmq.Context.instance()\nsetattr(sock, n, 1)",
    "from IPython.core.interactiveshell import InteractiveShell\nInteractiveShell.run_code = None",
    "from ipykernel.ipkernel import IPythonKernel\nsetattr(IPythonKernel, 'do_' + 'execute', f)",
]

HONEST = [
    "setattr(self, f'conv{i}', nn.Conv2d(1, 1, 1))\nact = getattr(nn, name)()",
    "for name, p in model.named_parameters():\n    setattr(holder, name.replace('.', '_'), p)",
    "import sys\nprint(sys.version)\nsys.path.append('res')\nprint(getattr(sys, 'frozen', False))",
    "from IPython.display import display, clear_output, Markdown\ndisplay(Markdown('**x**'))\nclear_output(wait=True)",
    "h = display('x', display_id=True)\nh.update('y')",
    "exec(open('helpers.py').read())",
    "x = eval(expr)",
    "%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n!pip install -q torch\n%cd /content",
    "%%time\nfor epoch in range(3):\n    train(model)",
    "%timeit -n 1 -r 1 f(3)",
    "print(get_ipython().__class__.__name__)",
    "import inspect\nprint(inspect.signature(f))",
    "cfg = {'lr': 1e-3}\nfor k, v in cfg.items():\n    setattr(args, k, v)",
    "def run(model):\n    return model  # run_cell in a comment\nprint('the run_cell_async docs')",
    "import gc, torch\ngc.collect()\ntorch.cuda.empty_cache()",
]


@pytest.mark.parametrize("code", FORMER)
def test_the_former_patterns_are_still_caught(code):
    assert scan([code]), code


@pytest.mark.parametrize("code", RUNTIME)
def test_names_built_at_run_time_are_caught(code):
    assert scan([code]), code


@pytest.mark.parametrize("code", HONEST)
def test_honest_code_is_not_flagged(code):
    assert scan([code]) == [], code


def test_messages_name_the_cell_and_line_once_per_line():
    hits = scan(["x = 1", "ip = get_ipython()\nsetattr(ip, 'run_' + 'cell_async', f); ip.showtraceback = None"])
    assert len(hits) == 1 and hits[0].startswith("code cell 2 ") and "setattr(ip" in hits[0]


def test_flow_crosses_cells_and_function_parameters():
    cells = ["shell = get_ipython()", "def install(target, attr):\n    setattr(target, attr, None)", "install(shell, n)"]
    assert any("code cell 2" in h and "built at run time" in h for h in scan(cells))
    # the same helper called with an ordinary object is not flagged
    assert scan(["class A: pass", "def install(target, attr):\n    setattr(target, attr, None)", "install(A(), n)"]) == []


def test_a_cell_that_cannot_be_parsed_is_scanned_as_text():
    (hit,) = scan(["ip.run_cell_async = f\nthis is ( not python"])
    assert "rewires how the kernel runs cells" in hit


def _project_notebooks():
    """Every notebook of the project that is not an attack: reference/, the samples (zips
    unpacked), the original-notebook samples, the test fixtures."""
    out = []
    for p in sorted([*ROOT.glob("reference/**/*.ipynb"), *ROOT.glob("submissions/**/*.ipynb"), *ROOT.glob("tests/**/*.ipynb")]):
        if "adversarial" not in p.parts:
            out.append((str(p.relative_to(ROOT)), p.read_bytes()))
    for z in sorted(ROOT.glob("submissions/**/*.zip")):
        if "adversarial" in z.parts:
            continue
        try:
            with zipfile.ZipFile(z) as zf:
                for n in zf.namelist():
                    if n.endswith(".ipynb") and "__MACOSX" not in n:
                        out.append((f"{z.relative_to(ROOT)}:{n}", zf.read(n)))
        except zipfile.BadZipFile:  # a sample of a corrupt zip
            continue
    return out


def _cells(data: bytes) -> list[str] | None:
    try:
        nb = json.load(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig"))
    except ValueError:
        return None
    cells = []
    for c in nb.get("cells", []) if isinstance(nb, dict) else []:
        src = c.get("source", "") if isinstance(c, dict) and c.get("cell_type") == "code" else None
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if isinstance(src, str):
            cells.append(src)
    return cells


def test_no_false_positive_on_any_honest_notebook_of_the_project():
    notebooks = cells = 0
    flagged = {}
    for name, data in _project_notebooks():
        got = _cells(data)
        if got is None:
            continue
        notebooks += 1
        cells += len(got)
        hits = scan(got)
        if hits:
            flagged[name] = hits
    print(f"\ntamper scan: {notebooks} honest notebooks, {cells} code cells, {len(flagged)} flagged")
    assert notebooks >= 40 and cells >= 500  # reference, samples, original samples: the corpus is really there
    assert flagged == {}
