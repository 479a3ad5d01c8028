"""Probe worker: runs INSIDE the sandbox, as an unprivileged user, with no grader code.

This file is copied into the probe's scratch directory and run with the project's Python.
It loads the extracted student module, performs the calls listed in calls.json and writes
each result as plain data: out-<i>.json (a tree) and out-<i>.npz (arrays, no pickle).
It imports nothing from the grader, and the grader trusts nothing it writes.
"""
import json
import os
import signal
import sys
import time
import traceback

import numpy as np

MAX_ITEMS = 100000


class _Alarm(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Alarm()


def decode(spec, arrays, torch):
    t = spec["t"]
    if t == "tensor":
        return torch.from_numpy(np.array(arrays[spec["key"]]))
    if t == "ndarray":
        return np.array(arrays[spec["key"]])
    if t == "list":
        return [decode(v, arrays, torch) for v in spec["v"]]
    if t == "tuple":
        return tuple(decode(v, arrays, torch) for v in spec["v"])
    if t == "dict":
        return {k: decode(v, arrays, torch) for k, v in spec["v"].items()}
    return spec["v"]


class Encoder:
    def __init__(self):
        self.arrays = {}
        self.count = 0

    def _array(self, a, t, dtype):
        key = f"a{len(self.arrays)}"
        a = np.array(a, order="C")  # not ascontiguousarray: it turns 0-d into 1-d
        if a.dtype == object:
            return {"t": "object", "type": "ndarray[object]", "repr": repr(a)[:200]}
        self.arrays[key] = a
        return {"t": t, "key": key, "dtype": dtype, "shape": list(a.shape)}

    def encode(self, v, torch, depth=0):
        self.count += 1
        if self.count > MAX_ITEMS or depth > 20:
            return {"t": "object", "type": "too-large", "repr": ""}
        if v is None:
            return {"t": "none"}
        if type(v) is bool:
            return {"t": "bool", "v": v}
        if type(v) is int:
            return {"t": "int", "v": v} if abs(v) < 2**53 else {"t": "float", "v": float(v)}
        if type(v) is float:
            return {"t": "float", "v": v if np.isfinite(v) else str(v)}
        if type(v) is str:
            return {"t": "str", "v": v[:100000]}
        if torch is not None and type(v) is torch.Tensor or (torch is not None and isinstance(v, torch.nn.Parameter)):
            dt = str(v.dtype).replace("torch.", "")
            return self._array(v.detach().cpu().numpy(), "tensor", dt)
        if type(v) is np.ndarray:
            return self._array(v, "ndarray", str(v.dtype))
        if isinstance(v, np.generic) and type(v).__module__ == "numpy":
            return {"t": "npscalar", "v": v.item() if np.isfinite(v) else str(v), "dtype": str(v.dtype)} if np.issubdtype(type(v), np.number) else {"t": "object", "type": type(v).__name__, "repr": repr(v)[:200]}
        if type(v) in (list, tuple):
            return {"t": type(v).__name__, "v": [self.encode(x, torch, depth + 1) for x in v]}
        if type(v) is dict:
            return {"t": "dict", "v": {str(k): self.encode(x, torch, depth + 1) for k, x in v.items()}}
        # Anything else (custom classes, objects with a lying __eq__) crosses only as a name.
        try:
            r = object.__repr__(v)
        except Exception:
            r = "?"
        return {"t": "object", "type": type(v).__name__, "repr": r[:200]}


def _write_atomic(path, write):
    """Write a new file and rename it into place: whatever student code planted at `path`
    (a FIFO, a symlink) is replaced, never opened."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        write(fh)
    os.replace(tmp, path)


def main(here=None, progress_fd=None):
    """Run the probe in `here`. With `progress_fd` (the fork server's pipe), the index of
    each call is written before it starts, so the server can enforce each call's own time
    limit from outside: SIGALRM alone can be ignored by the code under test."""
    here = here or os.path.dirname(os.path.abspath(__file__))

    def mark(i):
        if progress_fd is not None:
            try:
                os.write(progress_fd, f"{i}\n".encode())
            except OSError:
                pass

    with open(os.path.join(here, "calls.json")) as fh:
        job = json.load(fh)
    inputs = np.load(os.path.join(here, "inputs.npz"), allow_pickle=False)
    arrays = {k: inputs[k] for k in inputs.files}
    torch = None
    try:
        import torch as _torch

        torch = _torch
        torch.set_num_threads(1)
    except Exception:
        pass
    signal.signal(signal.SIGALRM, _on_alarm)
    ns = {"__name__": "student"}
    t0 = time.monotonic()
    load_error = None
    try:
        signal.alarm(max(1, int(job.get("load_timeout_s", 60))))
        with open(os.path.join(here, "student.py")) as fh:
            code = compile(fh.read(), os.path.join(here, "student.py"), "exec")
        exec(code, ns)
        signal.alarm(0)
    except BaseException as exc:
        signal.alarm(0)
        load_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, _Alarm) else "Timeout: loading the code took too long"
        tb = traceback.format_exc()[-3000:]
    load_s = time.monotonic() - t0
    for i, call in enumerate(job["calls"]):
        mark(i)
        out = {"index": i, "load_seconds": load_s}
        enc = Encoder()
        t1 = time.monotonic()
        if load_error is not None:
            out.update(ok=False, error=f"could not load the extracted code: {load_error}", traceback=tb)
        else:
            try:
                fn = ns[call["fn"]]
                args = [decode(a, arrays, torch) for a in call.get("args", [])]
                kwargs = {k: decode(v, arrays, torch) for k, v in call.get("kwargs", {}).items()}
                signal.alarm(max(1, int(call.get("timeout_s", 20))))
                value = fn(*args, **kwargs)
                signal.alarm(0)
                out.update(ok=True, value=enc.encode(value, torch))
            except BaseException as exc:
                signal.alarm(0)
                if isinstance(exc, _Alarm):
                    msg = f"Timeout: the call took longer than {call.get('timeout_s', 20)} s"
                else:
                    msg = f"{type(exc).__name__}: {str(exc)[:500]}"
                out.update(ok=False, error=msg, traceback=traceback.format_exc()[-3000:])
        out["seconds"] = time.monotonic() - t1
        _write_atomic(os.path.join(here, f"out-{i}.npz"), lambda fh: np.savez(fh, **enc.arrays))  # noqa: B023 - called at once
        _write_atomic(os.path.join(here, f"out-{i}.json"), lambda fh: fh.write(json.dumps(out).encode()))  # noqa: B023
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
