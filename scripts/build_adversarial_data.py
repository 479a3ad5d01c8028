"""Builds the adversarial submissions that attack the grader's handling of untrusted DATA.

    python scripts/build_adversarial_data.py [--out DIR] [--list]

scripts/build_adversarial.py attacks the sandbox and the checks; these attack what comes
back out of the sandbox into the grader process (DESIGN.md rule 7: one door, budgets
checked before reading): a probe's result tree and its .npz, the strings in it, the
notebook's stored outputs, the notebook's own text, and the probe fork server that
every probe of a submission is forked from. Each one, unfixed, stopped more than the
student's own grade: a lone surrogate that made every report writer raise (and with
it `grader batch` and `grader report` for the whole class), NaN tokens in report.json,
a 200 KB result decoded to gigabytes in the grader, a 30 MB report.json, 128 MB of
stored outputs against a 256 KB cap, a probe reading its server's memory.

Same layout and expectation keys as scripts/build_adversarial.py (see its docstring),
built with its helpers; the twin is the existing honest_cnn. Every manifest has
"slow": true so that tests/adversarial/test_attacks.py's shared corpus leaves these out:
tests/adversarial/test_untrusted_data.py grades them (one `grader batch` over all of them
and the twin, watched for memory), and adds the keys below:

  suite               "untrusted_data"
  max_report_bytes    bound on the size of the student's report.json
  feedback_contains   {item id: [substrings the item's feedback must contain]}
  feedback_must_not   {item id: [substrings it must not contain]}

The functions attack only where they run as a probe (the probe's work dir holds
calls.json); in the kernel they are the solution's, so the notebook runs like the twin's
and every point lost is lost by the attack itself.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_adversarial as ba  # noqa: E402
import samples_lib as sl  # noqa: E402

OUT = ba.OUT
CNN = ba.CNN
SURROGATE_MARK = "ADV_LONE_SURROGATE"  # replaced by the JSON escape \ud800 in the notebook file itself


def probe_only(todo: str, attack: str) -> str:
    """The solution's `todo` (renamed) plus a `todo` that runs `attack` when called by a probe
    (the attack's last statement decides what it returns) and the solution otherwise."""
    src = sl.find_cell(ba.theory_notebook(CNN), todo).source
    honest = src.replace(f"def {todo}(", f"def _solution_{todo}(", 1)
    sig = ba.CNN_SIGS[todo]
    body = ba.d(attack)
    body = "\n".join("        " + line if line.strip() else "" for line in body.splitlines())
    return (honest + f"\n\n\ndef {todo}({sig}):\n    import os\n    if os.path.exists('calls.json'):  # a probe\n"
            + body + f"\n    return _solution_{todo}({sig})\n")


ATTACKS: list[tuple[str, str, dict, dict]] = []


def attack(name, netid, **build):
    def deco(fn):
        exp = fn()
        exp.update(suite="untrusted_data", slow=True)
        exp.setdefault("max_report_bytes", 1 << 20)
        exp.setdefault("feedback_contains", {})
        exp.setdefault("feedback_must_not", {})
        ATTACKS.append((name, netid, build, exp))
        return fn
    return deco


# ----------------------------------------------------------------------------------
# strings


@attack("surrogate_in_error_text", "adu0001",
        replace={"conv1d_forward": probe_only("conv1d_forward", r'''
            raise ValueError("bad \ud800 input \udfff (a lone surrogate is not UTF-8)")
        '''), "conv_output_shape": probe_only("conv_output_shape", r'''
            import json
            real = json.dumps
            def dumps(obj, *a, **k):  # (type() itself refuses such a class name: the result is forged)
                if isinstance(obj, dict) and "index" in obj and "seconds" in obj:
                    obj = dict(obj, ok=True, value={"t": "object", "type": "Shape\ud83d", "repr": "<\udcff>"})
                return real(obj, *a, **k)
            json.dumps = dumps
            return None
        ''')},
        append=[r'''
            print("a lone surrogate on stdout: \ud800")
            raise RuntimeError("and one in an error \udcff of the notebook")
        '''])
def _():
    return ba.E("Lone UTF-16 surrogates (\\ud800, \\udfff, half an emoji) in a probe's exception text, in the class "
                "name of a returned object (forged: half an emoji), printed by a cell and in a cell's error: the report writers encode "
                "UTF-8 and raised on them, for this student's feedback and for every class file after it.",
                max_below_twin=5.0, notebook_status=["cell_errors"], penalties=["not_executable"],
                items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv_output_shape": "failed"},
                feedback_contains={"hw2_cnn.conv1d_forward": ["bad \ufffd input \ufffd"],
                                   "hw2_cnn.conv_output_shape": ["Shape\ufffd"]})


@attack("surrogate_in_notebook_source", "adu0002",
        append=[f"# {SURROGATE_MARK} in a comment\nprint(history_from_a_deleted_cell)"])
def _():
    return ba.E("The notebook's JSON holds a lone surrogate escape (\\ud800) in a comment, next to a cell that fails in "
                "every run (NameError). The grader could not write such a notebook for its executor: the run "
                "became 'executor_error', the grader's own fault, which is never penalised, so the failing cell "
                "dodged the not-executable penalty while the probes still graded every function.",
                max_below_twin=1.0, notebook_status=["cell_errors"], failing_ename=["NameError"],
                penalties=["not_executable"], items={f"hw2_cnn.{k}": "passed" for k in ba.CNN_SIGS})


@attack("huge_probe_string", "adu0003",
        replace={"conv1d_forward": probe_only("conv1d_forward", '''
            return type("X" * 3_000_000, (), {})()  # its class name crosses as the 'type' of an opaque object
        '''), "conv_output_shape": probe_only("conv_output_shape", '''
            import json
            real = json.dumps
            def dumps(obj, *a, **k):  # the worker's encoding of its result, forged: 7 MB of type information
                if isinstance(obj, dict) and "index" in obj and "seconds" in obj:
                    obj = dict(obj, ok=True, value={"t": "tuple", "v": [], "dtype": "D" * 1_500_000,
                                                    "type": "T" * 1_000_000, "shape": [7] * 200_000})
                return real(obj, *a, **k)
            json.dumps = dumps
            return (F, 0, 0)
        '''), "conv_net_param_count": probe_only("conv_net_param_count", '''
            raise type("E" * 3_000_000, (Exception,), {})("an exception whose class name is 3 MB")
        ''')})
def _():
    return ba.E("Probe results carrying megabytes of text: a returned object whose class name is 3 MB, a forged "
                "result whose dtype/type/shape metadata is 3 MB, an exception class named with 3 MB. Each ended up "
                "in the item's feedback and evidence, once per case: report.json grew to tens of MB.",
                max_below_twin=5.0, notebook_status=["completed"],
                items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv_output_shape": "failed",
                       "hw2_cnn.conv_net_param_count": "failed"},
                feedback_contains={"hw2_cnn.conv1d_forward": ["[truncated"]})


# ----------------------------------------------------------------------------------
# numbers and arrays


@attack("nan_and_inf_returns", "adu0004",
        replace={"conv_output_shape": probe_only("conv_output_shape", '''
            return (F, float("nan"), float("inf"))
        '''), "conv1d_forward": probe_only("conv1d_forward", '''
            import torch
            return torch.full((W.shape[0], (x.shape[1] - W.shape[2]) // stride + 1), float("nan"), dtype=torch.float64)
        '''), "conv1d_dfdW": probe_only("conv1d_dfdW", '''
            return [float("nan"), float("inf"), float("-inf")]
        '''), "conv_net_param_count": probe_only("conv_net_param_count", '''
            return float("-inf")
        ''')})
def _():
    return ba.E("TODO functions return NaN and +-Infinity (in a tuple, a tensor, a list, a bare float). The values "
                "were copied into the report's evidence and report.json held NaN/Infinity tokens, which strict "
                "JSON parsers (LMS imports, jq, JavaScript) reject.",
                max_below_twin=9.0, notebook_status=["completed"],
                items={"hw2_cnn.conv_output_shape": "failed", "hw2_cnn.conv1d_forward": "failed",
                       "hw2_cnn.conv1d_dfdW": "failed", "hw2_cnn.conv_net_param_count": "failed"})


@attack("npz_expansion_bomb", "adu0005",
        replace={"conv1d_forward": probe_only("conv1d_forward", '''
            import json
            import numpy as np
            real = json.dumps
            n = 1 << 20  # 8 MB of zeros: ~8 KB compressed
            def dumps(obj, *a, **k):  # one array, referenced 60 times by the result tree
                if isinstance(obj, dict) and "index" in obj and "seconds" in obj:
                    ref = {"t": "tensor", "key": "a0", "dtype": "float64", "shape": [n]}
                    obj = dict(obj, ok=True, value={"t": "list", "v": [ref] * 60})
                return real(obj, *a, **k)
            def savez(fh, **arrays):
                np.savez_compressed(fh, a0=np.zeros(n))
            json.dumps, np.savez = dumps, savez
            return None
        '''), "conv1d_dfdW": probe_only("conv1d_dfdW", '''
            import json
            import numpy as np
            real = json.dumps
            m, n = 4200, 1024  # 4200 members of 8 KB of zeros: one zip directory entry each
            def dumps(obj, *a, **k):
                if isinstance(obj, dict) and "index" in obj and "seconds" in obj:
                    refs = [{"t": "tensor", "key": f"a{i}", "dtype": "float64", "shape": [n]} for i in range(m)]
                    obj = dict(obj, ok=True, value={"t": "list", "v": refs})
                return real(obj, *a, **k)
            def savez(fh, **arrays):
                z = np.zeros(n)
                np.savez_compressed(fh, **{f"a{i}": z for i in range(m)})
            json.dumps, np.savez = dumps, savez
            return None
        ''')})
def _():
    return ba.E("Inside the probe, the TODO functions replace the worker's result encoding with compressed .npz "
                "bombs: one 8 MB array of zeros referenced 60 times by the result tree (~10 KB on disk, decoded once "
                "per reference: 480 MB per case, 1.9 GB for the item), and 4200 members (zipfile builds an object per "
                "directory entry before anything is read: a 64 MB file holds over a million).",
                max_below_twin=5.0, notebook_status=["completed"],
                items={"hw2_cnn.conv1d_forward": "failed", "hw2_cnn.conv1d_dfdW": "failed"},
                feedback_contains={"hw2_cnn.conv1d_forward": ["too large"], "hw2_cnn.conv1d_dfdW": ["too many arrays"]})


# ----------------------------------------------------------------------------------
# stored outputs


@attack("display_update_flood", "adu0006",
        append=['''
            from IPython.display import display
            # 64 tiny outputs sharing one display id: each is counted against the output cap...
            for i in range(64):
                display({"text/plain": "."}, raw=True, display_id="adv-flood")
            # ...then one update rewrites all of them with 2 MB each (update_display_data is not an output)
            display({"text/plain": "Z" * (2 << 20)}, raw=True, display_id="adv-flood", update=True)
            print("flooded")
        '''])
def _():
    exp = ba.E("A cell shows 64 tiny outputs under one display_id, then sends one update_display_data of 2 MB for "
               "that id: nbclient rewrites every output with that id, outside the executor's output cap, so the "
               "stored notebook (and the execution cache) held 128 MB against the rubric's 256 KB.",
               notebook_status=["completed"], items={f"hw2_cnn.{k}": "passed" for k in ba.CNN_SIGS})
    exp["max_stored_notebook_bytes"] = 2 << 20
    return exp


# ----------------------------------------------------------------------------------
# the probe fork server


PTRACE = '''
import ctypes, json, os
server = os.getppid()  # a probe is forked from the submission's probe server
seen = {"server_cmdline": ""}
try:
    seen["server_cmdline"] = open(f"/proc/{server}/cmdline", "rb").read().replace(b"\\0", b" ").decode()[:80]
except OSError as exc:
    seen["server_cmdline"] = "denied:" + type(exc).__name__
start = None
try:
    with open(f"/proc/{server}/maps") as fh:
        for line in fh:
            if line.split()[1].startswith("r"):
                start = int(line.split("-")[0], 16)
                break
    seen["maps"] = "read"
except OSError as exc:
    seen["maps"] = "denied:" + type(exc).__name__
try:
    fd = os.open(f"/proc/{server}/mem", os.O_RDWR)
    try:
        data = os.pread(fd, 16, start or 0x400000)
        seen["mem"] = "read %d bytes" % len(data)
        os.pwrite(fd, data, start or 0x400000)  # the same bytes back: harmless, but it could patch the server
        seen["mem_write"] = "written"
    except OSError as exc:
        seen.setdefault("mem", "opened, read failed:" + type(exc).__name__)
        seen.setdefault("mem_write", "failed:" + type(exc).__name__)
    finally:
        os.close(fd)
except OSError as exc:
    seen["mem"] = "denied:" + type(exc).__name__
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
if libc.ptrace(16, server, None, None) == 0:  # PTRACE_ATTACH
    seen["attach"] = "attached"
    try:
        os.waitpid(server, 0x40000000)  # __WALL: wait for the stop, then let it go
    except OSError:
        pass
    libc.ptrace(17, server, None, None)  # PTRACE_DETACH
else:
    seen["attach"] = "denied:errno %d" % ctypes.get_errno()
try:
    seen["environ"] = "read %d bytes" % len(open(f"/proc/{server}/environ", "rb").read())
except OSError as exc:
    seen["environ"] = "denied:" + type(exc).__name__
raise RuntimeError("PTRACE-PROBE " + json.dumps(seen, sort_keys=True))
'''


@attack("ptrace_fork_server", "adu0007",
        replace={"conv_output_shape": probe_only("conv_output_shape", PTRACE)})
def _():
    return ba.E("A probe (same uid as its fork server, in the same sandbox) reads the server's /proc/<pid>/maps, "
                "reads and writes its /proc/<pid>/mem, PTRACE_ATTACHes to it and reads its environ: with any of "
                "these it could patch the server that forks every later probe of the submission.",
                max_below_twin=3.0, notebook_status=["completed"], only_bwrap=True,
                items={"hw2_cnn.conv_output_shape": "failed"},
                feedback_contains={"hw2_cnn.conv_output_shape": ["PTRACE-PROBE", '"attach": "denied', '"maps": "denied',
                                                                 '"mem": "denied', '"environ": "denied']},
                feedback_must_not={"hw2_cnn.conv_output_shape": ["attached", '"maps": "read', '"mem": "read', "written",
                                                                  '"environ": "read']})


# ----------------------------------------------------------------------------------


def notebook_bytes(nb) -> bytes:
    raw = sl.notebook_bytes(nb)
    return raw.replace(SURROGATE_MARK.encode(), b"\\ud800")  # a JSON escape: the file itself is valid UTF-8


def build_all(out=OUT):
    out = Path(out)
    written = []
    netids = [a[1] for a in ATTACKS]
    assert len(set(netids)) == len(netids), "netids must be distinct"
    assert not set(netids) & {a[1] for a in ba.ATTACKS}, "netids clash with scripts/build_adversarial.py"
    for name, netid, build, exp in ATTACKS:
        pdf = sl.theory_pdf([f"Homework 2 - theory answers - {netid}", "(adversarial test submission)"])
        nb = ba.build_notebook(CNN, **build)
        written.append(ba.write_attack(out, name, netid, {sl.PDF_NAME: pdf, CNN: notebook_bytes(nb)}, exp))
    return written


def main(argv=None):
    ba.corpus_main(__doc__, build_all, lambda: ((m[0], m[1], m[-1]) for m in ATTACKS), argv)


if __name__ == "__main__":
    main()
