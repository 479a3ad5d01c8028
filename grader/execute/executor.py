"""The executor: a trusted child process that runs ONE notebook with nbclient.

It is started by grader.execute.run_notebook, which watches it from outside (deadline,
memory limit); it starts the student's kernel inside the sandbox, runs the cells one by
one, caps what it stores, and writes:
  - progress lines (JSON) on stdout, for the live progress display;
  - the executed notebook (outputs capped) and result.json, in a directory the sandbox
    cannot see, so student code can neither read nor forge them.

Whose fault a failure is. The notebook it gets is the pipeline's prepared copy (plain
cells, grader-built: grader/execute/prepare.py), so nothing but the cells' code reaches
nbclient. A kernel message nbclient cannot process (a display with an unhashable
display_id, a malformed output sent through the kernel's session) is dropped and noted,
and the run goes on, so a later genuine failure is still judged. An exception while the
kernel starts or while the grader's own prologue runs is the grader's: `executor_error`
(unpenalised). An exception while a student cell runs comes from what that cell contains
or produced: the notebook is `invalid` (the course's not-executable penalty), the message
names the cell. After the student cells, the grader's exports failing costs only the
items that read them.

The witness (an independent record of each cell's outcome, see WITNESS_DOC below) is
installed before the grader's prologue and queried after the last student cell; its
disagreements with the kernel's replies are reported as kernel tampering.
Usage: python -m grader.execute.executor JOB.json
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async

from grader.defaults import SANDBOX_DISK_MB

TRUNC_NOTE = "\n[grader] output truncated: the notebook printed more than the stored limit\n"
MAX_WIRE_MSG = 32 << 20  # zmq drops bigger messages before they reach our memory
MAX_DROPPED = 20  # dropped kernel messages noted per run


def _size(out) -> int:
    try:
        return len(json.dumps(out, default=str))
    except Exception:
        return 1 << 20


class CappedClient(NotebookClient):
    """NotebookClient that never stores more than `max_output_bytes` of outputs in total.

    Every way nbclient stores what the kernel sends is counted: new outputs (output()),
    and the outputs an update_display_data (or a display with a display_id already shown)
    rewrites in place (_update_display_id), once per output rewritten, since each is
    written out in full. Widget state and the Output widget's capture are not kept at all
    (they were held in memory, uncapped): what an Output widget shows lands in the cell's
    outputs, under the cap."""

    def __init__(self, *args, max_output_bytes: int, cut_wait_s: float = 0.0, cut_resend_s: float = 5.0, **kwargs):
        kwargs["store_widget_state"] = False
        super().__init__(*args, **kwargs)
        self.comm_open_handlers = {}
        self.max_output_bytes = max_output_bytes
        self.stored_bytes = 0
        self.truncated = False
        self._noted_cells: set[int] = set()
        self.cut_wait_s = cut_wait_s  # 0: a timeout raises CellTimeoutError at once (nbclient's way)
        self.cut_resend_s = cut_resend_s
        self.cut: dict | None = None  # set when the running cell reached its time limit
        self.dropped: list[dict] = []  # kernel messages nbclient could not process (dropped; the first MAX_DROPPED)
        self.dropped_count = 0
        self.uncapped_index: int | None = None  # the grader's witness answer: never capped

    def process_message(self, msg, cell, cell_index):
        """nbclient's, except that a message it cannot process is dropped and noted rather
        than ending the run (the kernel runs student code: its messages are untrusted)."""
        try:
            return super().process_message(msg, cell, cell_index)
        except CellExecutionComplete:
            raise
        except Exception as exc:
            kind = msg.get("msg_type") if isinstance(msg, dict) else None
            self.dropped_count += 1
            if len(self.dropped) < MAX_DROPPED:
                self.dropped.append({"cell": cell_index, "msg_type": str(kind)[:40],
                                     "error": f"{type(exc).__name__}: {exc}"[:200]})
            return None

    async def _async_handle_timeout(self, timeout, cell=None):
        """A cell reached its time limit: interrupt the kernel (an interrupt message in the
        sandbox; resent every cut_resend_s, for loops that swallow one KeyboardInterrupt)
        and wait, at most cut_wait_s, for the cell's execute_reply. The reply is returned
        to nbclient, which then finishes the cell as usual (outputs, the traceback) and the
        kernel is idle: the grader's epilogue can still export what was trained. A kernel
        that does not stop (SIGINT ignored) or dies raises CellTimeoutError, as before."""
        t0 = time.monotonic()
        self.cut = {"at": t0, "interrupted": False, "interrupts": 0, "stop_s": None, "error": ""}
        next_send = t0
        while self.cut_wait_s > 0 and time.monotonic() - t0 < self.cut_wait_s:
            if time.monotonic() >= next_send:
                try:
                    await ensure_async(self.km.interrupt_kernel())
                    self.cut["interrupts"] += 1
                except Exception as exc:
                    self.cut["error"] = f"the interrupt could not be sent ({type(exc).__name__}: {exc})"[:300]
                    break
                next_send = time.monotonic() + self.cut_resend_s
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=0.5))
            except Empty:
                if not await ensure_async(self.kc.is_alive()):
                    self.cut["error"] = "the kernel died after the interrupt"
                    break
                continue
            if isinstance(msg, dict) and msg.get("msg_type") == "execute_reply":
                self.cut.update(interrupted=True, stop_s=round(time.monotonic() - t0, 3))
                return msg
        if self.cut_wait_s > 0 and not self.cut["error"]:
            self.cut["error"] = f"the kernel was still busy {self.cut_wait_s:g} s after the interrupt (the cell ignores it)"
        raise CellTimeoutError.error_from_timeout_and_cell("Cell execution timed out", timeout, cell)

    def _update_display_id(self, display_id, msg):
        targets = [(cell_idx, k) for cell_idx, ks in self._display_id_map.get(display_id, {}).items() for k in ks]
        if not targets:
            return super()._update_display_id(display_id, msg)
        content = msg.get("content") or {}
        new = _size({"data": content.get("data"), "metadata": content.get("metadata")})
        delta = 0
        for cell_idx, k in targets:
            try:
                old = self.nb["cells"][cell_idx]["outputs"][k]
                delta += new - _size({"data": old.get("data"), "metadata": old.get("metadata")})
            except (IndexError, KeyError, TypeError, AttributeError):
                delta += new
        if self.stored_bytes + delta > self.max_output_bytes:
            self.truncated = True  # the outputs keep what they showed before the update
            return None
        self.stored_bytes += max(0, delta)
        return super()._update_display_id(display_id, msg)

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        if out is None or not outs or outs[-1] is not out or cell_index == self.uncapped_index:
            return out
        size = _size(out)
        if self.stored_bytes + size > self.max_output_bytes:
            outs.pop()
            self.truncated = True
            if cell_index not in self._noted_cells:
                self._noted_cells.add(cell_index)
                note = nbformat.v4.new_output("stream", name="stderr", text=TRUNC_NOTE)
                outs.append(note)
            return None
        self.stored_bytes += size
        return out


# --------------------------------------------------------------------------------------
# The witness: an outcome record the kernel's reporting machinery does not produce

WITNESS_DOC = """
Why. The executor learns whether a cell failed from the kernel's execute_reply (and its
iopub messages). Student code runs in that kernel and can rewire how it reports: wrap the
shell's run_cell_async so every result looks successful, patch do_execute or the session's
send, register input/AST transformers, silence showtraceback. The static scan
(grader/extract/tamper.py) sees such code when it is written in the notebook; it cannot
see code the notebook decodes, downloads or writes to a module and imports.

What. Before the grader's prologue and before any student code, a hidden grader cell
installs a recorder INSIDE the kernel's call chain: an instance-level wrapper of the
shell's run_cell_async around the original method captured at that moment. For every
top-level cell it records a digest of the code it was given and whether the ORIGINAL
method's result failed (result.success, and ipykernel's displayhook-error flag), read the
moment the original returns: before any wrapper the student installs later sees or mutates
the result, and before post_run_cell callbacks run (ipykernel triggers them after
run_cell_async returns). At each cell boundary it also compares, by identity, the
machinery that decides a cell's outcome and carries it to the executor with what it was at
install time: the shell's run and transform methods (instance and class level, through
inspect.getattr_static captured at install), the compile and input-transformer objects and
the contents of their transformer lists, the AST transformers, the kernel's do_execute /
execute_request / dispatch_shell and its execute_request handler, the session object and
its send / serialize / sign. How errors are DISPLAYED (showtraceback and friends, custom
exception handlers) is not in that list: it does not decide the reply's status, and
libraries an honest notebook may use replace it (rich's traceback, sympy's auto-symbols);
the static scan still reports notebook code that patches it. The record lives in the recorder's
closure, reachable from the notebook's namespace only through a module registered under a
random name. After the last student cell the executor runs a second hidden cell with a
fresh random nonce; the recorder publishes its record through the display publisher it
captured at install (not sys.stdout, so a redirected stdout or the output cap cannot lose
it), and the executor, outside the kernel, compares it with its own log of what it sent
and what each reply said:
  - a cell whose reply said `ok` while the recorder saw it fail: kernel tampering, and
    the cell is recorded as failing with the error the recorder saw;
  - a cell the executor sent with an `ok` reply that the recorder never saw (the wrapper
    was bypassed), or code the recorder saw that differs from what was sent: tampering;
  - any change of the outcome machinery: tampering, named, with the cell after which it
    was first seen;
  - no answer, a malformed one, or more than one answer carrying the nonce: tampering
    (something in the notebook changed how the kernel runs or reports code).
A reply that says `error` where the recorder saw success is not a dodge (the cell is
judged as failing anyway) and is not reported.

Limits (stated honestly). The kernel is one process: code that TARGETS this recorder (finds
the random module, walks its closure with gc, restores every patched attribute before the
next cell boundary, or forges an answer after reading the nonce from the query cell's
source) can still fool it; so can C-level tampering (ctypes). What it closes is the generic
patching of the kernel's reporting, however the code that does it got into the kernel.
Whatever it detects sends the notebook to the not-executable penalty, never to a clean
record. A notebook cut at its time limit or whose kernel died is not queried (it is already
not executable, or goes to a TA by the rubric's rule).
"""

WITNESS_MIME = "application/x-grader-witness+json"
WITNESS_QUERY_S = 20.0  # the query's own time, even when the notebook used its whole budget (within the watchdog's grace)
WITNESS_MAX_RECORDS = 20000



def witness_install_code(modname: str) -> str:
    """The hidden cell that installs the recorder (grader/inkernel/witness.py), then
    deletes the installing function from the student's namespace."""
    from grader.inkernel import source

    return (source("witness") + f"__grader_witness_install({modname!r}, {WITNESS_MIME!r}, {WITNESS_MAX_RECORDS})\n"
            "del __grader_witness_install\n")


def witness_query_code(modname: str, nonce: str) -> str:
    return f"__import__({modname!r}).answer({nonce!r})\n"


def digest(code: str) -> str:
    import hashlib

    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def witness_answer(outputs, nonce: str) -> dict | str:
    """The witness's answer among a query cell's outputs (untrusted data), or why there is none."""
    found = []
    for out in outputs or ():
        data = out.get("data") if isinstance(out, dict) else None
        payload = data.get(WITNESS_MIME) if isinstance(data, dict) else None
        if isinstance(payload, dict) and payload.get("nonce") == nonce:
            found.append(payload)
    if not found:
        return "the grader's witness did not answer after the last cell (something in the notebook changed how the kernel runs or reports code)"
    if len(found) > 1:
        return f"{len(found)} answers claimed to be the grader's witness (a forged answer)"
    a = found[0]
    if "unavailable" in a:
        return {"unavailable": str(a.get("unavailable"))[:300]}
    recs, changes = a.get("records"), a.get("changes")
    if not isinstance(recs, list) or not isinstance(changes, list) or not isinstance(a.get("n"), int):
        return "the grader's witness answered in a malformed way (its answer was altered)"
    ok_rec = all(isinstance(r, dict) and isinstance(r.get("h"), str) and isinstance(r.get("ok"), bool)
                 and isinstance(r.get("ename", ""), str) for r in recs)
    ok_chg = all(isinstance(c, dict) and isinstance(c.get("what"), str) and isinstance(c.get("after"), int) for c in changes)
    if not (ok_rec and ok_chg):
        return "the grader's witness answered in a malformed way (its answer was altered)"
    return {"n": a["n"], "records": recs, "changes": changes}


def witness_compare(sent: list[dict], answer: dict) -> tuple[list[str], list[dict]]:
    """(tampering evidence, corrected cell outcomes) from the executor's log of what it sent
    since the witness was installed ({kind, index, h, status}) and the witness's record.

    Records are matched to sent cells in order by code digest; extra records (code the
    kernel ran that the executor did not send at top level, e.g. from a thread) are skipped."""
    evidence: list[str] = []
    corrected: list[dict] = []
    recs = answer["records"]
    offset = answer["n"] - len(recs)  # records dropped at the front (over the cap)
    where: dict[int, dict] = {}  # record position -> sent entry
    j = 0
    for e in sent:
        k = j
        while k < len(recs) and recs[k]["h"] != e["h"]:
            k += 1
        if k == len(recs):
            if e["status"] == "ok" and offset == 0:
                evidence.append(f"{_label(e)} ran with an `ok` reply, but the grader's witness never saw it run "
                                "(the kernel's run_cell_async was bypassed)")
            continue
        r = recs[k]
        where[offset + k] = e
        j = k + 1
        if e["status"] == "ok" and not r["ok"]:
            evidence.append(f"{_label(e)} failed ({r.get('ename') or 'an error'}), but the kernel reported success")
            if e["kind"] == "cell":
                corrected.append({"index": e["index"], "status": "error", "seconds": 0.0,
                                  "ename": (r.get("ename") or "Error")[:200],
                                  "evalue": "the kernel reported success; the grader's witness saw this cell raise "
                                            f"{r.get('ename') or 'an error'} (the kernel's machinery was altered)"})
    for c in answer["changes"]:
        before = [e for pos, e in where.items() if pos < c["after"]]
        when = f"after {_label(before[-1])}" if before else "before the first cell"
        evidence.append(f"the kernel's {c['what'][:80]} was replaced or altered ({when})")
    return evidence, corrected


def _label(e: dict) -> str:
    return f"cell {e['index']}" if e.get("kind") == "cell" else f"the grader's {e.get('kind')} cell"


def _pieces(spec) -> list:
    """Instrumentation as [(item id, code)]; a plain string is one anonymous piece."""
    if not spec:
        return []
    if isinstance(spec, str):
        return [(None, spec)]
    return [(str(i), str(c)) for i, c in spec]


def _emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _make_kernel_manager(job: dict):
    """A kernel manager for the isolation mode the parent chose; (km, sandbox|None)."""
    workdir = Path(job["workdir"])
    mode = job.get("isolation", "none")
    if mode != "none":
        from grader import sandbox as sbx

        limits = sbx.Limits(memory_bytes=int(job["memory_bytes"]), cpu_seconds=None,
                            disk_bytes=int(job.get("disk_bytes", SANDBOX_DISK_MB << 20)))
        iso = sbx.detect_isolation(prefer=mode)
        binds = [(Path(src), Path(dest)) for src, dest in job.get("readonly_binds", [])]
        sb = sbx.Sandbox(workdir, limits, iso, name=job.get("name", "nb"), hide=[Path(h) for h in job.get("hide", [])],
                         readonly_binds=binds)
        return sbx.SandboxedKernelManager(sandbox=sb, python=job.get("python"), extra_env=job.get("kernel_env")), sb
    # nbclient needs an async manager: with a blocking client its timeouts never fire.
    from grader.sandbox.kernel import PythonKernelManager

    km = PythonKernelManager(python=job.get("python"), kernel_name="python3")
    return km, None


def _plain_env(workdir: Path) -> dict:
    import os

    from grader.childenv import single_threaded_env

    home = workdir / ".home"
    home.mkdir(exist_ok=True)
    return single_threaded_env({k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH")},
                               HOME=str(home), TMPDIR=str(home), IPYTHONDIR=str(home / ".ipython"),
                               MPLCONFIGDIR=str(home / ".mpl"), MPLBACKEND="Agg")


def _lift_address_space_cap() -> None:
    """An unsandboxed kernel must not inherit the executor's own 3 GiB address-space cap
    (a CUDA build of torch reserves more than that at import)."""
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):  # not root: keep the inherited cap
        pass


def run(job: dict) -> dict:
    import zmq

    nb = nbformat.read(job["notebook_in"], as_version=4)
    workdir = Path(job["workdir"])
    cells = nb.cells
    code_idx = [i for i, c in enumerate(cells) if c.cell_type == "code" and c.source.strip()]
    deadline = time.monotonic() + float(job["deadline_s"])
    outcomes: list[dict] = []
    status = "completed"
    message = ""
    km, sb = _make_kernel_manager(job)
    km.context.setsockopt(zmq.MAXMSGSIZE, MAX_WIRE_MSG)
    client = CappedClient(
        nb,
        km=km,
        timeout=int(job["cell_timeout_s"]),
        allow_errors=True,
        record_timing=False,
        shutdown_kernel="immediate",
        iopub_timeout=4,
        raise_on_iopub_timeout=False,
        resources={"metadata": {"path": str(workdir)}},
        max_output_bytes=int(job["max_output_bytes"]),
        cut_wait_s=float(job.get("cut_wait_s", 0.0)),
        cut_resend_s=float(job.get("cut_resend_s", 5.0)),
        # nbclient skips cells tagged "skip-execution": a student could hide a failing cell
        # that way. No notebook can guess this tag (the prepared notebook has no metadata anyway).
        skip_cells_with_tag=f"grader-never-skip-{os.urandom(8).hex()}",
    )
    replies: dict[int, dict] = {}

    def on_executed(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply.get("content", {}) if isinstance(execute_reply, dict) else {}

    client.on_cell_executed = on_executed
    hidden: list[dict] = []
    # The executor's own log of what it sent since the witness was installed (kept here,
    # outside the kernel): compared with the witness's record after the last cell.
    sent: list[dict] = []
    witness = {"module": f"_grader_w_{os.urandom(8).hex()}", "installed": False}

    def run_hidden(kind: str, code: str, item: str | None = None, until: float | None = None,
                   uncapped: bool = False) -> list:
        # Grader instrumentation: executed like a cell, never stored in the notebook.
        if not code.strip():
            return []
        cell = nbformat.v4.new_code_cell(code)
        client.nb.cells.append(cell)
        idx = len(client.nb.cells) - 1
        end = deadline if until is None else until
        client.timeout = max(1, int(min(float(job["cell_timeout_s"]), max(1.0, end - time.monotonic()))))
        client.cut_wait_s = 0.0  # a stuck grader cell is not interrupted and waited for: it fails
        client.uncapped_index = idx if uncapped else None
        t0 = time.monotonic()
        try:
            client.execute_cell(cell, idx)
            reply = replies.get(idx, {})
            hidden.append({"kind": kind, "item": item, "status": reply.get("status", "?"), "ename": str(reply.get("ename", ""))[:200],
                           "evalue": str(reply.get("evalue", ""))[:500], "seconds": round(time.monotonic() - t0, 3)})
            if witness["installed"]:
                sent.append({"kind": kind, "index": idx, "h": digest(code), "status": str(reply.get("status", "?"))})
            return list(cell.get("outputs") or [])
        except (CellTimeoutError, DeadKernelError) as exc:
            hidden.append({"kind": kind, "item": item, "status": "error", "ename": type(exc).__name__, "evalue": str(exc)[:300]})
            raise
        finally:
            client.nb.cells.pop(idx)
            client.cut_wait_s = float(job.get("cut_wait_s", 0.0))
            client.uncapped_index = None

    t_start = time.monotonic()
    cut: dict | None = None
    start_kwargs = {"cwd": str(workdir)}
    if sb is None:
        start_kwargs["env"] = {**_plain_env(workdir), **job.get("kernel_env", {})}
        start_kwargs["preexec_fn"] = _lift_address_space_cap
    peak = None
    phase, current = "start", None  # whose fault an exception is: see the module docstring
    verdict: dict = {"kind": "witness", "item": None, "status": "not_run", "verdict": "not_run", "evidence": []}
    try:
        with client.setup_kernel(**start_kwargs):
            _emit({"event": "kernel_started", "seconds": round(time.monotonic() - t_start, 3)})
            phase = "prologue"
            run_hidden("witness", witness_install_code(witness["module"]))
            witness["installed"] = bool(hidden) and hidden[-1].get("status") == "ok"
            for item_id, code in _pieces(job.get("prologue")):
                run_hidden("prologue", code, item_id)
            phase = "cells"
            for k, idx in enumerate(code_idx):
                current = idx
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    status, message = "timeout", f"whole-notebook deadline of {job['deadline_s']:g} s reached before cell {idx}"
                    # nothing is running: the kernel is idle and the exports can still run
                    cut = {"cell": idx, "ran_s": 0.0, "limit_s": float(job["deadline_s"]), "which": "notebook",
                           "interrupted": True, "note": "not started"}
                    break
                client.timeout = max(1, int(min(float(job["cell_timeout_s"]), remaining)))
                _emit({"event": "cell", "index": idx, "k": k + 1, "of": len(code_idx), "elapsed": round(time.monotonic() - t_start, 2)})
                t0 = time.monotonic()
                client.cut = None
                timed_out = False
                try:
                    client.execute_cell(cells[idx], idx)
                except CellTimeoutError:
                    timed_out = True
                except DeadKernelError as exc:
                    spent = time.monotonic() - t0
                    why = "the kernel died"
                    if sb is not None and sb.oom_killed():
                        why = "the kernel was killed: memory limit exceeded"
                    outcomes.append({"index": idx, "status": "dead", "seconds": spent, "ename": "DeadKernelError", "evalue": why})
                    status, message = "dead_kernel", f"{why} in cell {idx} ({exc})"
                    break
                except Exception as exc:  # what this cell contains or produced broke the executor
                    spent = time.monotonic() - t0
                    what = f"{type(exc).__name__}: {exc}"[:300]
                    outcomes.append({"index": idx, "status": "error", "seconds": spent, "ename": type(exc).__name__[:200],
                                     "evalue": f"the executor could not run this cell ({what})"})
                    status = "invalid"
                    message = (f"cell {idx}: the executor could not run this notebook past this cell ({what}); what "
                               "the cell contains or produced cannot be processed by Jupyter's executor, so the notebook "
                               "cannot be executed: check that cell (its outputs, displays and messages) and run the "
                               "notebook top to bottom in a fresh Jupyter kernel before resubmitting")
                    break
                spent = time.monotonic() - t0
                reply = replies.get(idx, {})
                sent.append({"kind": "cell", "index": idx, "h": digest(cells[idx].source), "status": str(reply.get("status", "none"))})
                if timed_out or client.cut is not None:
                    # cut at its limit; interrupted (client.cut) or still busy (timed_out)
                    info = client.cut or {}
                    ran = (info["at"] - t0) if info.get("at") else spent
                    which = "cell" if client.timeout >= float(job["cell_timeout_s"]) else "whole-notebook"
                    stopped = bool(info.get("interrupted")) and not timed_out
                    outcomes.append({"index": idx, "status": "timeout", "seconds": ran, "ename": "Timeout",
                                     "evalue": f"{which} time limit of {client.timeout} s exceeded"})
                    status = "timeout"
                    message = f"cell {idx} exceeded the {which} time limit ({client.timeout} s)"
                    message += (f"; it stopped {info['stop_s']:g} s after the interrupt" if stopped
                                else f"; {info.get('error') or 'it was not interrupted'}")
                    cut = {"cell": idx, "ran_s": round(ran, 3), "limit_s": float(client.timeout),
                           "which": "cell" if which == "cell" else "notebook", "interrupted": stopped,
                           "note": "" if stopped else str(info.get("error", ""))}
                    break
                if reply.get("status") == "error":
                    outcomes.append({"index": idx, "status": "error", "seconds": spent,
                                     "ename": str(reply.get("ename", ""))[:200], "evalue": str(reply.get("evalue", ""))[:500]})
                    if status == "completed":
                        status = "cell_errors"
            phase, current = "after", None
            if status in ("completed", "cell_errors"):
                verdict = _query_witness(run_hidden, witness, sent)
                if verdict.get("corrected"):
                    have = {o["index"] for o in outcomes}
                    outcomes.extend(o for o in verdict.pop("corrected") if o["index"] not in have)
                    outcomes.sort(key=lambda o: o["index"])
                    if status == "completed":
                        status = "cell_errors"
                verdict.pop("corrected", None)
            epilogue = _pieces(job.get("epilogue"))
            if status in ("completed", "cell_errors"):
                try:
                    for item_id, code in epilogue:
                        run_hidden("epilogue", code, item_id)
                except (CellTimeoutError, DeadKernelError) as exc:
                    # the cells' outcomes stand; only the items that read exports lose them
                    message = (message + "; " if message else "") + (
                        f"the grader's exports did not finish ({type(exc).__name__}): the items graded from exports get nothing")
            elif cut is not None and not cut["interrupted"]:
                cut["exports"] = "not_run" if epilogue else "none"
            elif cut is not None:
                # The cut cell stopped: export what was trained so far, within a bounded
                # extra time after the budget (run_notebook's watchdog allows for it).
                cut["exports"] = "none"
                if epilogue:
                    until = time.monotonic() + float(job.get("cut_epilogue_s", 0.0))
                    n_before = len(hidden)
                    try:
                        for item_id, code in epilogue:
                            run_hidden("epilogue", code, item_id, until=until)
                    except (CellTimeoutError, DeadKernelError):
                        pass
                    done = [h for h in hidden[n_before:] if h.get("kind") == "epilogue"]
                    ok = len(done) == len([c for _i, c in epilogue if c.strip()]) and all(h.get("status") == "ok" for h in done)
                    cut["exports"] = "ran" if ok else "failed"
            if sb is not None:
                peak = sb.peak_memory_bytes()
    except Exception as exc:
        what = f"{type(exc).__name__}: {exc}"
        if phase in ("start", "prologue", "cells"):
            # the kernel failed to start, the sandbox broke, the grader's own prologue or its
            # bookkeeping between cells failed (a student cell's own run is handled above): not the student's
            status = "executor_error"
            message = what + (f" (before cell {current} ran)" if phase == "cells" and current is not None else "")
        else:  # after the student cells: their outcomes stand
            message = (message + "; " if message else "") + f"the grader could not finish after the last cell ({what[:300]})"
        _emit({"event": "error", "message": what, "phase": phase, "traceback": traceback.format_exc()[-2000:]})
    finally:
        # nbclient never shuts down a kernel manager it was given: do it here, always.
        try:
            from jupyter_core.utils import run_sync

            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        except Exception:
            pass
        if sb is not None:
            sb.close()
    hidden.append(verdict)
    if client.dropped:
        hidden.append({"kind": "dropped_messages", "item": None, "status": "ok", "dropped": client.dropped})
        note = "; ".join(f"cell {d['cell']}: a {d['msg_type']} message ({d['error'][:120]})" for d in client.dropped[:3])
        message = (message + "; " if message else "") + (
            f"the kernel sent {client.dropped_count} message(s) Jupyter's executor cannot store; they were dropped: {note}")
    ran = {o["index"] for o in outcomes}
    stopped_at = max(ran) if status in ("timeout", "dead_kernel", "invalid") and ran else None
    if stopped_at is not None:
        for idx in code_idx:
            if idx > stopped_at:
                outcomes.append({"index": idx, "status": "not_run", "seconds": 0.0})
    from grader.untrusted import notebook_text

    try:
        text = notebook_text(client.nb)  # outputs may hold lone surrogates
    except Exception:  # an output the kernel sent that no notebook writer accepts: keep the code
        for c in client.nb.cells:
            if c.get("cell_type") == "code":
                c["outputs"] = []
        text = notebook_text(client.nb)
    Path(job["notebook_out"]).write_text(text, encoding="utf-8")
    return {
        "status": status,
        "message": message,
        "seconds": round(time.monotonic() - t_start, 3),
        "n_cells": len(cells),
        "cells": outcomes,
        "output_truncated": client.truncated,
        "peak_memory_bytes": peak,
        "instrumentation": hidden,
        "cut": cut,
    }


def _query_witness(run_hidden, witness: dict, sent: list[dict]) -> dict:
    """Ask the witness for its record and compare it with `sent` (see WITNESS_DOC)."""
    out = {"kind": "witness", "item": None, "status": "ok", "verdict": "clean", "evidence": []}
    if not witness["installed"]:
        out.update(verdict="unavailable", evidence=["the grader's witness could not be installed before the notebook ran"])
        return out
    nonce = os.urandom(12).hex()
    try:
        outputs = run_hidden("witness", witness_query_code(witness["module"], nonce), uncapped=True,
                             until=time.monotonic() + WITNESS_QUERY_S)
    except Exception as exc:  # the kernel hung, died, or answered what nbclient cannot process
        out.update(verdict="tampered", evidence=[f"the kernel did not run the grader's witness query ({type(exc).__name__}: "
                                                 f"{str(exc)[:160]})"])
        return out
    sent = sent[:-1] if sent and sent[-1].get("kind") == "witness" else sent  # the query itself
    answer = witness_answer(outputs, nonce)
    if isinstance(answer, str):
        out.update(verdict="tampered", evidence=[answer])
        return out
    if "unavailable" in answer:
        out.update(verdict="unavailable", evidence=[f"the grader's witness could not be installed: {answer['unavailable']}"])
        return out
    evidence, corrected = witness_compare(sent, answer)
    out.update(verdict="tampered" if evidence else "clean", evidence=evidence[:20], corrected=corrected)
    return out


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[1]).read_text())
    result = run(job)
    Path(job["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
