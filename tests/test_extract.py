"""Extraction by AST: targets, last definition wins, dependencies, IPython syntax, messages."""
from grader.extract import extract


CELLS = [
    "!pip install torch\n%matplotlib inline\nimport numpy as np\nimport torch\nfrom torch import nn",
    "N = 26\nSCALE = 2.0\n\ndef helper(x):\n    return x * SCALE",
    "def conv1d_dldW(x, W):\n    return helper(x) + 1  # first try",
    "for i in range(10**9):\n    pass  # a training loop: never extracted",
    "def conv1d_dldW(x, W):\n    return helper(x) + np.zeros(N).sum()\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return x",
    "def broken(:\n    pass",
]


def test_last_definition_wins_with_its_dependencies():
    ex = extract(CELLS)
    src = ex.module_for(["conv1d_dldW"])
    assert "np.zeros(N)" in src and "first try" not in src
    assert "def helper" in src and "SCALE = 2.0" in src and "N = 26" in src
    assert "import numpy as np" in src
    assert "range(10**9)" not in src and "pip" not in src and "matplotlib" not in src
    compile(src, "m", "exec")
    ns = {}
    exec(src, ns)
    assert ns["conv1d_dldW"](1.0, None) == 2.0


def test_class_pulls_its_base_import():
    src = extract(CELLS).module_for(["Net"])
    assert "from torch import nn" in src and "class Net" in src and "def helper" not in src


def test_syntax_error_cell_is_reported_not_fatal():
    ex = extract(CELLS)
    assert any("cell 5" in p and "syntax error" in p for p in ex.problems)
    assert ex.find("conv1d_dldW") is not None


def test_missing_target_suggests_the_renamed_one():
    ex = extract(["def conv1d_dLdW(x):\n    pass", "def conv1d_dfdw(x):\n    pass"])
    msg = ex.missing_message("conv1d_dldW", "hw2_cnn.ipynb")
    assert msg.startswith("no function or class `conv1d_dldW` in hw2_cnn.ipynb; found `conv1d_dLdW`")


def test_missing_target_without_near_names():
    msg = extract(["x = 1"]).missing_message("binary_addition_rnn", "hw2_rnn.ipynb")
    assert msg == "no function or class `binary_addition_rnn` in hw2_rnn.ipynb"


def test_decorated_function_keeps_decorator():
    ex = extract(["import functools\n@functools.lru_cache(None)\ndef f(x):\n    return x"])
    src = ex.module_for(["f"])
    assert "@functools.lru_cache" in src and "import functools" in src


def test_attribute_assignment_does_not_shadow_an_import():
    ex = extract(["import torch\nimport matplotlib.pyplot as plt", "torch.backends.cudnn.deterministic = True\nplt.rcParams['a'] = 1",
                  "def f(x):\n    return torch.zeros(1) + plt.gca is not None"])
    src = ex.module_for(["f"])
    assert "import torch" in src and "import matplotlib.pyplot as plt" in src and "deterministic" not in src


def test_tuple_targets_bind_each_name():
    ex = extract(["a, (b, *c) = 1, (2, 3, 4)", "def f():\n    return a + b + sum(c)"])
    ns = {}
    exec(ex.module_for(["f"]), ns)
    assert ns["f"]() == 10


def test_tamper_scan_flags_kernel_rewiring_and_ignores_honest_code():
    from grader.extract.tamper import scan

    hits = scan(["ip = get_ipython()\nip.run_cell_async = lambda *a, **k: None", "import sys\nsys.excepthook = print",
                 "get_ipython().input_transformers_cleanup.append(lambda lines: [])"])
    assert len(hits) == 3 and "rewires how the kernel runs cells" in hits[0]
    assert scan(["def run(model):\n    return model  # run_cell in a comment", "x = 1"]) == []


def test_a_nul_byte_in_a_cell_is_a_problem_not_a_crash():
    """Python < 3.11.4 (Debian 12's 3.11.2) raises ValueError, not SyntaxError, for a NUL
    byte in source: the cell is reported like any unparsable cell, on every version."""
    from grader.extract import extract

    ex = extract(["def f():\n    return 1\n", "x = 1\x00\n"])
    assert ex.find("f") is not None
    assert any("cell 1" in p for p in ex.problems), ex.problems


def test_an_expression_nested_past_the_recursion_limit_is_read_like_any_other():
    """The red team's long_sum_cell: a 600-term sum compiles and runs in the kernel; the
    extraction used to raise RecursionError, and the notebook scored 0 as unreadable."""
    long_sum = "counts = [1] * 600\ntotal = " + " + ".join(f"counts[{i}]" for i in range(600)) + "\n"
    deep = "_deep = " + "-" * 600 + "N\n"
    ex = extract([CELLS[1], long_sum, deep, "@staticmethod\ndef g(x):\n    return x + total + _deep"])
    assert ex.problems == []
    src = ex.module_for(["g"])
    assert "counts[599]" in src and "_deep = " in src and "N = 26" in src and "@staticmethod" in src
    compile(src, "m", "exec")
    ns = {}
    exec(src, ns)
    assert ns["total"] == 600 and ns["_deep"] == 26


def test_a_cell_nested_past_what_the_parser_takes_is_a_problem_not_a_crash():
    ex = extract(["x = " + "(" * 300 + "1" + ")" * 300, "def f():\n    return 1"])
    assert ex.module_for(["f"]) and len(ex.problems) == 1 and "cell 0" in ex.problems[0]


def test_a_definition_in_a_later_branch_comes_with_the_plain_one_as_in_the_kernel():
    """The red team's nested_def_override: the starter's stub at top level, then the working
    version under `if USE_MY_VERSION:`. The kernel ran the working one; the extraction
    graded the stub (0/3)."""
    stub = "def conv_output_shape(C, H):\n    raise NotImplementedError"
    mine = "USE_MY_VERSION = True\nif USE_MY_VERSION:\n    def conv_output_shape(C, H):\n        return (C, H)"
    ex = extract([stub, mine])
    src = ex.module_for(["conv_output_shape"])
    ns = {}
    exec(src, ns)
    assert ns["conv_output_shape"](1, 2) == (1, 2)
    assert ex.find("conv_output_shape").kind == "conditional"
    # a branch that does not run leaves the plain definition, as in the kernel
    ns = {}
    exec(extract([mine.replace("= True", "= False"), "def conv_output_shape(C, H):\n    return 'plain'",
                  "if USE_MY_VERSION:\n    def conv_output_shape(C, H):\n        return (C, H)"]).module_for(["conv_output_shape"]), ns)
    assert ns["conv_output_shape"](1, 2) == "plain"
    # a plain definition after the branch replaces it
    assert "raise NotImplementedError" in extract([mine, stub]).module_for(["conv_output_shape"])
    assert "USE_MY_VERSION" not in extract([mine, stub]).module_for(["conv_output_shape"])


def test_an_import_guarded_by_try_is_found():
    ex = extract(["try:\n    from math import tau\nexcept ImportError:\n    tau = 6.28", "def f():\n    return tau"])
    ns = {}
    exec(ex.module_for(["f"]), ns)
    assert round(ns["f"](), 2) == 6.28 and ex.problems == []
