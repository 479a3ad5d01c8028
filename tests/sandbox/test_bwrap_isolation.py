"""Attacks on confidentiality and integrity: each must fail inside a bwrap sandbox."""
from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from pathlib import Path

from sandbox_helpers import run

from grader.sandbox.bwrap import project_root


def _interpreter_parts_under(root: str) -> list[str]:
    """The first path components below `root` of the interpreter's install (the sandbox
    binds those read-only and nothing else of `root`)."""
    parts = set()
    for p in {sys.prefix, sys.base_prefix, os.path.realpath(sys.executable)}:
        rel = os.path.relpath(os.path.realpath(p), root)
        if not rel.startswith(".."):
            parts.add(rel.split(os.sep)[0])
    return sorted(parts)


def _json(r):
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_network_unreachable_outside_and_host_loopback(bwrap_iso, make_sandbox):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    code = """
import json, socket, sys
res = {"ifaces": [n for _, n in socket.if_nameindex()]}
for host, port in (("1.1.1.1", 53), ("127.0.0.1", int(sys.argv[1]))):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); res[host] = "CONNECTED"
    except OSError as e:
        res[host] = type(e).__name__
print(json.dumps(res))
"""
    try:
        res = _json(run(make_sandbox(bwrap_iso), code, str(port)))
    finally:
        listener.close()
    assert res["ifaces"] == ["lo"]
    assert res["1.1.1.1"] != "CONNECTED"
    assert res["127.0.0.1"] == "ConnectionRefusedError"  # the host's listener is not reachable


def test_cannot_read_reference_rubrics_root_or_other_jobs(bwrap_iso, make_sandbox, jobs_root):
    (jobs_root / "bob").mkdir()
    (jobs_root / "bob" / "answers.txt").write_text("bob's secret")
    proj = project_root()
    assert (proj / "reference" / "__init__.py").exists()  # the secret is there on the host
    code = """
import json, os, sys
res = {}
for p in sys.argv[1:]:
    try:
        if os.path.isdir(p) and not p.endswith("/"):
            res[p] = sorted(os.listdir(p))
        else:
            with open(p.rstrip("/"), "rb") as f: res[p] = "READ %d bytes" % len(f.read())
    except OSError as e:
        res[p] = type(e).__name__
for mod in ("reference", "grader"):
    try:
        __import__(mod); res[mod] = "IMPORTED"
    except ImportError as e:
        res[mod] = "ImportError"
print(json.dumps(res))
"""
    targets = [f"{proj}/reference/__init__.py", f"{proj}/rubrics", "/root", "/root/.bashrc",
               f"{jobs_root}/bob/answers.txt", str(jobs_root)]
    res = _json(run(make_sandbox(bwrap_iso), code, *targets))
    assert res[f"{proj}/reference/__init__.py"] == "FileNotFoundError"
    assert res[f"{proj}/rubrics"] == "FileNotFoundError"
    # /root shows only what the interpreter needs (this image's pyenv lives there; a
    # Debian system Python or a venv elsewhere leaves nothing of /root visible)
    assert res["/root"] in (_interpreter_parts_under("/root"), "FileNotFoundError")
    assert res["/root/.bashrc"] == "FileNotFoundError"
    assert res[f"{jobs_root}/bob/answers.txt"] == "FileNotFoundError"
    assert res[str(jobs_root)] == ["alice"]
    assert res["reference"] == res["grader"] == "ImportError"


def test_writes_only_inside_workdir(bwrap_iso, make_sandbox):
    marker = f"grader-sandbox-escape-{uuid.uuid4().hex}"
    proj = project_root()
    code = """
import json, os, sys
res = {}
for p in sys.argv[1:]:
    try:
        with open(p, "w") as f: f.write("x")
        res[p] = "WROTE"
    except OSError as e:
        res[p] = type(e).__name__
print(json.dumps(res))
"""
    sb = make_sandbox(bwrap_iso)
    own_limit = sb._cgroups.dirs["pids"] / "pids.max"  # visible read-only through /sys
    targets = [str(sb.workdir / "ok.txt"), f"/tmp/{marker}", f"{proj}/{marker}",
               f"/var/tmp/{marker}", f"/etc/{marker}", f"{sb.workdir.parent}/{marker}",
               str(own_limit)]
    res = _json(run(sb, code, *targets))
    assert res[str(sb.workdir / "ok.txt")] == "WROTE"
    assert (sb.workdir / "ok.txt").read_text() == "x"
    for t in targets[1:-1]:
        assert not os.path.exists(t), t
    assert own_limit.read_text().strip() == str(sb.limits.max_processes)
    # /tmp is a private tmpfs: the write may succeed inside but never reaches the host.
    for t in targets[2:]:
        assert res[t] in ("PermissionError", "OSError", "FileNotFoundError"), (t, res[t])


def test_runs_as_unprivileged_uid_without_capabilities(bwrap_iso, make_sandbox):
    code = """
import json, os, sys
caps = {l.split(":")[0]: l.split()[1] for l in open("/proc/self/status") if l.startswith("Cap")}
print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
                  "groups": os.getgroups(), "caps": caps, "version": sys.version,
                  "nnp": [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0]}))
"""
    sb = make_sandbox(bwrap_iso)
    res = _json(run(sb, code))
    assert res["uid"] == res["euid"] == res["gid"] == sb.uid == sb.isolation.uid
    assert sb.uid != 0 and res["groups"] == []
    assert int(res["caps"]["CapEff"], 16) == 0 and int(res["caps"]["CapBnd"], 16) == 0
    assert res["nnp"] == "1"
    assert res["version"] == sys.version  # the grader's own interpreter, not another python3 on the machine


def test_cannot_signal_parent_or_grader(bwrap_iso, make_sandbox):
    code = """
import json, os, signal, sys
res = {}
for name, pid in (("ppid", os.getppid()), ("grader", int(sys.argv[1])), ("init", 1)):
    try:
        os.kill(pid, signal.SIGKILL); res[name] = "KILLED"
    except OSError as e:
        res[name] = type(e).__name__
res["visible"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(json.dumps(res))
"""
    res = _json(run(make_sandbox(bwrap_iso), code, str(os.getpid())))
    assert res["ppid"] == "PermissionError"
    assert res["init"] == "PermissionError"
    assert res["grader"] in ("ProcessLookupError", "PermissionError")
    assert max(res["visible"]) < 100  # its own pid namespace: the grader is not even visible


def test_torch_and_numpy_import_with_grader_python(bwrap_iso, make_sandbox):
    code = ("import json, sys, torch, numpy; "
            "print(json.dumps([sys.version, float(torch.ones(3).sum()), int(numpy.arange(4).sum()), "
            "torch.get_num_threads(), sys.prefix]))")
    version, tsum, nsum, threads, prefix = _json(run(make_sandbox(bwrap_iso), code))
    assert version == sys.version  # the grader's own interpreter, whichever it is
    assert (tsum, nsum, threads) == (3.0, 6, 1)
    assert prefix == sys.prefix


def test_only_the_allow_list_is_visible(bwrap_iso, make_sandbox, tmp_path_factory):
    # A second copy of the reference anywhere else on the machine (another checkout, a
    # class folder) must not be readable: the sandbox root holds the system dirs, Python,
    # the venv and the work dir only.
    elsewhere = tmp_path_factory.mktemp("another-checkout")
    secret = elsewhere / "reference.py"
    secret.write_text("SOLUTION = 42\n")
    os.chmod(elsewhere, 0o755)
    code = """
import json, os, sys
res = {"root": sorted(os.listdir("/")), "nonempty": sorted(d for d in os.listdir("/") if os.path.isdir("/" + d) and os.listdir("/" + d))}
for p in sys.argv[1:]:
    try:
        open(p).read(); res[p] = "READ"
    except OSError as e:
        res[p] = type(e).__name__
print(json.dumps(res))
"""
    probes = [str(secret), "/var/log/dpkg.log", "/farm", "/opt"]
    sb = make_sandbox(bwrap_iso)
    res = _json(run(sb, code, *probes))
    assert all(res[p] != "READ" for p in probes), res
    # at most empty mount points (parents of what is bound) besides the allow-list
    # (the top dirs of the Python installation, the venv, the work dir, the checkout and
    # home, which are tmpfs-hidden; where the checkout lives differs between machines)
    from grader.sandbox.bwrap import project_root, python_paths
    tops = {Path(p).parts[1] for p in (*python_paths(), sb.workdir, project_root(), Path.home())
            if len(Path(p).parts) > 1}
    assert set(res["nonempty"]) <= {"usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "sys", "dev",
                                    "proc", "tmp", "root", *tops}, res["nonempty"]
    assert not {"opt", "srv", "boot", "mnt", "media"} & set(res["root"]), res["root"]
