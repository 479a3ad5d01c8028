"""Probe stage: call extracted student code on grader-chosen inputs in a fresh sandboxed process.

Inputs go in as .npz + JSON; results come back as .npz + JSON, read through the one door
for untrusted data (grader/untrusted.py: no pickle, sizes checked from the headers before
anything is decoded, a budget per result and per submission, strings sanitised and capped).
A hung or crashing probe fails its own calls only.
"""
from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import untrusted
from grader.untrusted import Opaque  # noqa: F401  (re-exported: the checks compare against it)

WORKER = Path(__file__).with_name("worker.py")
FORKSERVER = Path(__file__).with_name("forkserver.py")
MAX_JSON_BYTES = 8 << 20
# An uncompressed .npz of a full budget, plus its headers: a larger file cannot be within budget.
MAX_NPZ_BYTES = untrusted.MAX_RESULT_BYTES + (4 << 20)
_counter = itertools.count()


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    timeout_s: float = 20.0


@dataclass(frozen=True)
class Outcome:
    ok: bool
    value: Any = None  # decoded: numpy arrays, python scalars, lists/tuples/dicts, Opaque
    error: str = ""
    traceback: str = ""
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)  # top-level type info, e.g. {"t": "tensor", "dtype": "float64"}


class _Inputs:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, v) -> dict:
        import torch

        if isinstance(v, torch.Tensor):
            key = f"i{len(self.arrays)}"
            self.arrays[key] = v.detach().cpu().numpy()
            return {"t": "tensor", "key": key}
        if isinstance(v, np.ndarray):
            key = f"i{len(self.arrays)}"
            self.arrays[key] = v
            return {"t": "ndarray", "key": key}
        if isinstance(v, (list, tuple)):
            return {"t": type(v).__name__, "v": [self.encode(x) for x in v]}
        if isinstance(v, dict):
            return {"t": "dict", "v": {str(k): self.encode(x) for k, x in v.items()}}
        if v is None or isinstance(v, (bool, int, float, str)):
            return {"t": "py", "v": v}
        raise TypeError(f"cannot send {type(v).__name__} to a probe")


def decode(spec: Any, arrays, budget: "untrusted.Budget | None" = None) -> Any:
    """A probe result's JSON tree -> value (grader.untrusted.decode_result); `arrays` an
    untrusted.NpzReader or the raw .npz bytes."""
    if not isinstance(arrays, untrusted.NpzReader):
        arrays = untrusted.NpzReader(arrays)
    return untrusted.decode_result(spec, arrays, budget or untrusted.Budget(untrusted.MAX_RESULT_BYTES, "one probe result"))


class Prober:
    """Runs probes for one submission; `isolation` is the mode name from grader.sandbox.

    By default probes fork from a per-submission server (grader/probe/forkserver.py) that
    lives in one sandbox with torch already imported; if it cannot start or dies, each
    probe falls back to a fresh sandboxed process. Call close() when the submission is done.
    """

    def __init__(self, scratch: Path, isolation: str = "none", memory_bytes: int = 3 << 30,
                 max_wall_s: float = 120.0, use_server: bool = True, hide: tuple[str, ...] = (),
                 python: str | None = None, binds: tuple = (), cache_dir: Path | None = None):
        from grader.probe import cache as probe_cache

        self.scratch = Path(scratch)
        # results of earlier probes with the same inputs (grader/probe/cache.py): a batch's
        # OUT/.batch/probe-cache, given here or by probe_cache.use() around the grading
        cache_dir = cache_dir or probe_cache.default_dir()
        self.cache = probe_cache.ProbeCache(cache_dir) if cache_dir else None
        # The students' environment (grader/studentenv.py) runs the probes, as it runs the
        # kernels: extracted code imports what the notebook imported.
        self.python = str(python) if python else sys.executable
        self.binds = tuple(Path(b) for b in binds)
        self.hide = tuple(Path(h) for h in hide)
        self.isolation = isolation
        self.memory_bytes = memory_bytes
        self.max_wall_s = max_wall_s
        self.use_server = use_server
        self._server = None  # (sandbox or None, Popen, root dir)
        self._server_failed = ""
        self.stats = {"server_probes": 0, "process_probes": 0, "server_start_s": None}
        # decoded bytes of all this submission's probe results (each result has its own cap too)
        self.budget = untrusted.Budget(untrusted.MAX_SUBMISSION_BYTES, "all the probe results of one submission")

    # -- public -------------------------------------------------------------------------
    def run(self, module_source: str, calls: list[Call], load_timeout_s: float = 60.0,
            files: dict[str, bytes | Path] | None = None) -> list[Outcome]:
        """Run `calls` against `module_source` in a fresh sandboxed process.

        `files` are copied into the probe's work dir (e.g. exported weights as .npz) and are
        readable by the probe as plain relative paths.
        """
        wall = min(self.max_wall_s, load_timeout_s + sum(c.timeout_s for c in calls) + 10)
        cache_key = self._cache_key(module_source, calls, load_timeout_s, files)
        if cache_key is not None and (hit := self.cache.get(cache_key)) is not None:
            # what the student's process wrote then, read through the same door as now
            self.stats["cached_probes"] = self.stats.get("cached_probes", 0) + 1
            return [self._read(hit, i, "", 0.0) for i in range(len(calls))]
        server = self._ensure_server() if self.use_server else None
        if server is not None:
            sb, proc, root = server
            work = root / f"p{next(_counter)}"
            self._prepare(work, module_source, calls, load_timeout_s, files, uid=sb.uid if sb else None)
            t0 = time.monotonic()
            status = self._ask(proc, work.name, wall)
            elapsed = time.monotonic() - t0
            if status is not None:
                self.stats["server_probes"] += 1
                killed = "" if status == "exit:0" else self._explain(status, wall, sb)
                outcomes = [self._read(work, i, killed, elapsed) for i in range(len(calls))]
                self._store(cache_key, work, len(calls), killed)
                shutil.rmtree(work, ignore_errors=True)
                return outcomes
            shutil.rmtree(work, ignore_errors=True)
            self._stop_server("the probe server stopped answering")
        return self._run_in_process(module_source, calls, load_timeout_s, files, wall, cache_key)

    def close(self) -> None:
        self._stop_server("")

    # -- the cache (grader/probe/cache.py) ------------------------------------------------
    def _cache_key(self, module_source, calls, load_timeout_s, files) -> str | None:
        if self.cache is None:
            return None
        from grader.probe import cache as probe_cache

        try:
            spec, inputs = _call_spec(calls, load_timeout_s)
            return probe_cache.key(module_source, spec, inputs.arrays, files, self.isolation, self.python,
                                   self.memory_bytes)
        except Exception:  # inputs the key cannot describe: probe without the cache
            return None

    def _store(self, cache_key: str | None, work: Path, n: int, killed: str) -> None:
        """Keep what the probe wrote (raw, size-capped) unless it was killed or timed out."""
        if cache_key is None or killed:
            return
        from grader.probe import cache as probe_cache
        from grader.sandbox import read_bytes

        outputs, raws = {}, []
        for i in range(n):
            try:
                raw = read_bytes(work, f"out-{i}.json", MAX_JSON_BYTES)
                outputs[f"out-{i}.json"] = raw
            except OSError:
                raw = None
            raws.append(raw)
            try:
                outputs[f"out-{i}.npz"] = read_bytes(work, f"out-{i}.npz", MAX_NPZ_BYTES)
            except OSError:
                pass
        if probe_cache.cacheable(raws):
            self.cache.put(cache_key, outputs)

    # -- the fork server ------------------------------------------------------------------
    def _ensure_server(self):
        if self._server is not None or self._server_failed:
            return self._server
        root = self.scratch / "probe-server"
        try:
            root.mkdir(parents=True)
            shutil.copy(WORKER, root / "worker.py")
            shutil.copy(FORKSERVER, root / "forkserver.py")
            t0 = time.monotonic()
            sb, proc = self._spawn([self.python, "-I", "forkserver.py"], root, None, server=True)
            line = _readline(proc.stdout, 90.0)
            hello = json.loads(line) if line else {}
            if not isinstance(hello, dict) or not hello.get("ready"):
                raise RuntimeError("the probe server did not start")
            if not hello.get("undumpable"):
                # its probes could ptrace it and patch every later probe: one process per probe instead
                _kill(proc, sb)
                raise RuntimeError("the probe server could not make itself non-dumpable")
            self.stats["server_start_s"] = round(time.monotonic() - t0, 3)
            self._server = (sb, proc, root)
        except Exception as exc:  # fall back to one process per probe
            self._server_failed = f"{type(exc).__name__}: {exc}"
            self._server = None
        return self._server

    def _ask(self, proc, name: str, wall: float) -> str | None:
        try:
            proc.stdin.write((json.dumps({"dir": name, "wall_s": wall}) + "\n").encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        line = _readline(proc.stdout, wall + 15)
        try:
            reply = json.loads(line) if line else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or reply.get("dir") != name:
            return None
        return str(reply.get("status"))

    def _stop_server(self, why: str) -> None:
        if self._server is None:
            return
        sb, proc, _root = self._server
        self._server = None
        if why:
            self._server_failed = why
        try:
            proc.stdin.close()
        except OSError:
            pass
        _kill(proc, sb)

    def _explain(self, status: str, wall: float, sb) -> str:
        if status == "timeout":
            return f"the probe was stopped after {wall:.0f} s (time limit)"
        if status.startswith("timeout:call "):
            n = int(status.split()[-1]) + 1
            return f"the probe was stopped: call {n} exceeded its time limit (and ignored the alarm)"
        if sb is not None and sb.oom_killed():
            return "the probe was killed: memory limit exceeded"
        return f"the probe process ended abnormally ({status})"

    # -- one process per probe (fallback) ---------------------------------------------------
    def _run_in_process(self, module_source, calls, load_timeout_s, files, wall, cache_key=None) -> list[Outcome]:
        d = self.scratch / f"probe-{next(_counter)}-{os.getpid()}"
        work = d / "work"
        self._prepare(work, module_source, calls, load_timeout_s, files, uid=None)
        shutil.copy(WORKER, work / "worker.py")
        t0 = time.monotonic()
        killed = self._execute(work, wall)
        elapsed = time.monotonic() - t0
        self.stats["process_probes"] += 1
        outcomes = [self._read(work, i, killed, elapsed) for i in range(len(calls))]
        self._store(cache_key, work, len(calls), killed)
        shutil.rmtree(d, ignore_errors=True)
        return outcomes

    def _prepare(self, work: Path, module_source, calls, load_timeout_s, files, uid) -> None:
        work.mkdir(parents=True)
        (work / "student.py").write_text(module_source)
        for name, content in (files or {}).items():
            if "/" in name or name.startswith("."):
                raise ValueError(f"probe file names are plain names, got {name!r}")
            if isinstance(content, Path):
                shutil.copyfile(content, work / name, follow_symlinks=False)
            else:
                (work / name).write_bytes(content)
        spec, inputs = _call_spec(calls, load_timeout_s)
        np.savez(work / "inputs.npz", **inputs.arrays)
        (work / "calls.json").write_text(json.dumps(spec))
        if uid is not None and uid != os.geteuid():
            os.chown(work, uid, uid)

    def _spawn(self, argv, work: Path, stdout, server: bool = False):
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE} if server else {"stdout": stdout}
        if self.isolation != "none":
            from grader import sandbox as sbx

            cpu = None if server else int(self.max_wall_s) + 5
            limits = sbx.Limits(memory_bytes=self.memory_bytes, cpu_seconds=cpu)
            sb = sbx.Sandbox(work, limits, sbx.detect_isolation(prefer=self.isolation), name="probe", hide=self.hide,
                             readonly_binds=self.binds)
            err = open(work / "server.log", "wb") if server else subprocess.STDOUT
            return sb, sb.popen(argv, cwd=str(work), stderr=err, **pipes)
        from grader.childenv import single_threaded_env

        env = single_threaded_env(PATH=os.environ.get("PATH", ""), HOME=str(work), MPLBACKEND="Agg")
        err = open(work / "server.log", "wb") if server else subprocess.STDOUT
        if not server:
            pipes["stdin"] = subprocess.DEVNULL
        return None, subprocess.Popen(argv, cwd=str(work), stderr=err, env=env, start_new_session=True, **pipes)

    def _execute(self, work: Path, wall: float) -> str:
        argv = [self.python, "-I", "worker.py"]
        with open(work.parent / "worker.log", "wb") as log:
            sb, proc = self._spawn(argv, work, log)
            try:
                proc.wait(timeout=wall)
                why = "" if proc.returncode == 0 else f"the probe process ended with code {proc.returncode}"
            except subprocess.TimeoutExpired:
                why = f"the probe was stopped after {wall:.0f} s (time limit)"
            if sb is not None and sb.oom_killed():
                why = "the probe was killed: memory limit exceeded"
            _kill(proc, sb)
            return why


    def _read(self, work: Path, i: int, killed: str, elapsed: float) -> Outcome:
        """Outcome of call `i`, from files written by student code (no links, no FIFOs,
        bounded sizes), decoded through grader/untrusted.py within this submission's budget."""
        from grader.sandbox import read_bytes

        try:
            raw_json = read_bytes(work, f"out-{i}.json", MAX_JSON_BYTES)
        except OSError:
            return Outcome(False, error=untrusted.text(killed or "the probe produced no result", 1000), seconds=elapsed)
        try:
            raw = json.loads(raw_json)
        except Exception as exc:  # invalid JSON, nesting deeper than the parser's recursion limit
            return Outcome(False, error=f"unreadable probe result ({type(exc).__name__})", seconds=elapsed)
        if not isinstance(raw, dict):
            return Outcome(False, error="malformed probe result", seconds=elapsed)
        seconds = raw.get("seconds")
        seconds = float(seconds) if type(seconds) in (int, float) and 0 <= seconds < 1e9 else 0.0
        if not raw.get("ok"):
            return Outcome(False, error=untrusted.text(raw.get("error", "failed"), 1000),
                           traceback=untrusted.tail(raw.get("traceback", ""), 3000), seconds=seconds)
        budget = untrusted.Budget(min(untrusted.MAX_RESULT_BYTES, self.budget.left),
                                  "one probe result" if self.budget.left >= untrusted.MAX_RESULT_BYTES
                                  else f"what is left of the submission's {untrusted.mib(self.budget.limit)}")
        try:
            try:
                npz = read_bytes(work, f"out-{i}.npz", MAX_NPZ_BYTES)
            except FileNotFoundError:
                npz = _EMPTY_NPZ
            except OSError as exc:
                raise untrusted.Refused(f"the result's arrays could not be read ({untrusted.text(exc, 200)})") from None
            with untrusted.NpzReader(npz, label="the result") as arrays:
                value = untrusted.decode_result(raw.get("value"), arrays, budget)
        except untrusted.Refused as exc:
            self.budget.charge(min(budget.used, self.budget.left))
            return Outcome(False, error=f"probe result refused: {exc}", seconds=seconds)
        except Exception as exc:  # a bug in the decoder must fail this call only
            return Outcome(False, error=f"unreadable probe value ({type(exc).__name__}: {untrusted.text(exc, 300)})",
                           seconds=seconds)
        self.budget.charge(min(budget.used, self.budget.left))
        return Outcome(True, value=value, seconds=seconds, meta=untrusted.result_meta(raw.get("value")))


def _call_spec(calls: list[Call], load_timeout_s: float) -> tuple[dict, _Inputs]:
    inputs = _Inputs()
    spec = {"load_timeout_s": load_timeout_s,
            "calls": [{"fn": c.fn, "args": [inputs.encode(a) for a in c.args],
                       "kwargs": {k: inputs.encode(v) for k, v in c.kwargs.items()}, "timeout_s": c.timeout_s}
                      for c in calls]}
    return spec, inputs


def _readline(stream, timeout: float) -> bytes | None:
    """One line from a pipe, or None after `timeout` seconds (the peer is untrusted)."""
    import select

    buf = b""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        buf += chunk
        if len(buf) > 1 << 20:
            return None
    return buf


def _kill(proc, sb) -> None:
    if sb is not None:
        sb.kill_all()
    else:
        try:
            os.killpg(proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
    if sb is not None:
        sb.close()


def _make_empty_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf)
    return buf.getvalue()


_EMPTY_NPZ = _make_empty_npz()
