"""The executor: a trusted child process that runs ONE notebook with nbclient.

It is started by grader.execute.run_notebook, which watches it from outside (deadline,
memory limit); it starts the student's kernel inside the sandbox, runs the cells one by
one, caps what it stores, and writes:
  - progress lines (JSON) on stdout, for the live progress display;
  - the executed notebook (outputs capped) and result.json, in a directory the sandbox
    cannot see, so student code can neither read nor forge them.
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
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async

TRUNC_NOTE = "\n[grader] output truncated: the notebook printed more than the stored limit\n"
MAX_WIRE_MSG = 32 << 20  # zmq drops bigger messages before they reach our memory


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
        if out is None or not outs or outs[-1] is not out:
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
                            disk_bytes=int(job.get("disk_bytes", 512 << 20)))
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

    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH")}
    home = workdir / ".home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), TMPDIR=str(home), IPYTHONDIR=str(home / ".ipython"), MPLCONFIGDIR=str(home / ".mpl"),
               MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    return env


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
        # that way. No notebook can guess this tag.
        skip_cells_with_tag=f"grader-never-skip-{os.urandom(8).hex()}",
    )
    replies: dict[int, dict] = {}

    def on_executed(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply.get("content", {}) if isinstance(execute_reply, dict) else {}

    client.on_cell_executed = on_executed
    hidden: list[dict] = []

    def run_hidden(kind: str, code: str, item: str | None = None, until: float | None = None) -> None:
        # Grader instrumentation: executed like a cell, never stored in the notebook.
        if not code.strip():
            return
        cell = nbformat.v4.new_code_cell(code)
        client.nb.cells.append(cell)
        idx = len(client.nb.cells) - 1
        end = deadline if until is None else until
        client.timeout = max(1, int(min(float(job["cell_timeout_s"]), max(1.0, end - time.monotonic()))))
        client.cut_wait_s = 0.0  # a stuck grader cell is not interrupted and waited for: it fails
        t0 = time.monotonic()
        try:
            client.execute_cell(cell, idx)
            reply = replies.get(idx, {})
            hidden.append({"kind": kind, "item": item, "status": reply.get("status", "?"), "ename": str(reply.get("ename", ""))[:200],
                           "evalue": str(reply.get("evalue", ""))[:500], "seconds": round(time.monotonic() - t0, 3)})
        except (CellTimeoutError, DeadKernelError) as exc:
            hidden.append({"kind": kind, "item": item, "status": "error", "ename": type(exc).__name__, "evalue": str(exc)[:300]})
            raise
        finally:
            client.nb.cells.pop(idx)
            client.cut_wait_s = float(job.get("cut_wait_s", 0.0))
    t_start = time.monotonic()
    cut: dict | None = None
    start_kwargs = {"cwd": str(workdir)}
    if sb is None:
        start_kwargs["env"] = {**_plain_env(workdir), **job.get("kernel_env", {})}
        start_kwargs["preexec_fn"] = _lift_address_space_cap
    peak = None
    try:
        with client.setup_kernel(**start_kwargs):
            _emit({"event": "kernel_started", "seconds": round(time.monotonic() - t_start, 3)})
            for item_id, code in _pieces(job.get("prologue")):
                run_hidden("prologue", code, item_id)
            for k, idx in enumerate(code_idx):
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
                spent = time.monotonic() - t0
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
                reply = replies.get(idx, {})
                if reply.get("status") == "error":
                    outcomes.append({"index": idx, "status": "error", "seconds": spent,
                                     "ename": str(reply.get("ename", ""))[:200], "evalue": str(reply.get("evalue", ""))[:500]})
                    if status == "completed":
                        status = "cell_errors"
            epilogue = _pieces(job.get("epilogue"))
            if status in ("completed", "cell_errors"):
                for item_id, code in epilogue:
                    run_hidden("epilogue", code, item_id)
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
    except Exception as exc:  # kernel failed to start, sandbox broken, ...
        status = "executor_error"
        message = f"{type(exc).__name__}: {exc}"
        _emit({"event": "error", "message": message, "traceback": traceback.format_exc()[-2000:]})
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
    ran = {o["index"] for o in outcomes}
    stopped_at = max(ran) if status in ("timeout", "dead_kernel") and ran else None
    if stopped_at is not None:
        for idx in code_idx:
            if idx > stopped_at:
                outcomes.append({"index": idx, "status": "not_run", "seconds": 0.0})
    from grader.untrusted import notebook_text

    Path(job["notebook_out"]).write_text(notebook_text(client.nb), encoding="utf-8")  # outputs may hold lone surrogates
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


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[1]).read_text())
    result = run(job)
    Path(job["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
