"""Grading the adversarial corpus once, and watching the host while it runs.

Used by the tests (a session fixture) and by hand:

    OMP_NUM_THREADS=1 .venv/bin/python tests/adversarial/harness.py [attack ...]
"""
from __future__ import annotations

import json
import queue
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "submissions" / "adversarial"
# rubrics/hw2 as shipped, with short execution limits (an `extends` overlay, see its file)
RUBRIC = Path(__file__).resolve().parent / "rubric"
SANDBOX_UIDS = range(61000, 62000)
# Host places a write could land in; checked before/after (new entries only).
WATCHED_DIRS = [Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/work"), Path("/root"), Path("/etc"), ROOT,
                ROOT / "grader", ROOT / "rubrics" / "hw2", ROOT / "reference", ROOT / "reference" / "res",
                ROOT / "submissions", ROOT / "tests"]
LISTEN_PORT = 47123
# A corpus grading past this is a hang (the whole corpus takes about 6 minutes on 2 loaded
# Intel cores, 8 on an AMD EPYC); under pytest-timeout's 1800 s, so the failure names the
# stuck submissions.
CORPUS_DEADLINE_S = 1200.0


def ensure_corpus() -> None:
    if not (CORPUS / "honest_cnn" / "expected.json").exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "build_adversarial.py")], check=True,
                       stdout=subprocess.DEVNULL)


def manifests() -> dict[str, dict]:
    ensure_corpus()
    out = {}
    for f in sorted(CORPUS.glob("*/expected.json")):
        m = json.loads(f.read_text())
        m["zip_path"] = str(f.parent / m["zip"])
        out[m["attack"]] = m
    return out


def listing(dirs=WATCHED_DIRS) -> set[str]:
    seen = set()
    for d in dirs:
        try:
            for name in os.listdir(d):
                seen.add(str(d / name))
        except OSError:
            pass
    return seen


def _mine(p: Path, scratch: str | None) -> bool:
    """Other people grade on this machine too: only processes of our scratch root count
    (used for the grader's own processes: executors, kernels' parents, probe servers)."""
    if scratch is None:
        return True
    try:
        cwd = os.readlink(p / "cwd")
    except OSError:
        cwd = ""
    try:
        cmd = (p / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        cmd = ""
    return scratch in cwd or scratch in cmd


def leased_uids() -> set[int]:
    """Sandbox uids some live sandbox holds now (grader/sandbox/uids.py: an flock on
    uid-N.lock for the sandbox's whole life), read from /proc/locks without touching them."""
    import tempfile

    by_inode: dict[tuple[int, int, int], int] = {}
    for d in (Path("/run/grader-sandbox"), Path(tempfile.gettempdir()) / "grader-sandbox"):
        try:
            files = list(d.glob("uid-*.lock"))
        except OSError:
            continue
        for f in files:
            try:
                st = f.stat()
                by_inode[(os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)] = int(f.stem.split("-")[1])
            except (OSError, ValueError, IndexError):
                pass
    held = set()
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return set(by_inode.values())  # cannot tell: treat every known uid as held
    for line in lines:
        parts = line.split()
        if "->" in parts or len(parts) < 6 or parts[1] != "FLOCK":
            continue  # a blocked waiter, or not an flock
        try:
            maj, mnr, ino = parts[5].split(":")
            key = (int(maj, 16), int(mnr, 16), int(ino))
        except ValueError:
            continue
        if key in by_inode:
            held.add(by_inode[key])
    return held


def sandbox_processes(scratch: str | None = None) -> list[tuple[int, int, str]]:
    """(pid, uid, cmdline) of live processes owned by a sandbox uid that no live sandbox
    holds: a sandbox's processes must all end when it closes and releases its uid, so any
    such process is a leftover, wherever it moved (a detached child that changed its
    directory or name is still found by its uid). `scratch` is accepted for callers and
    ignored: the uid, not the working directory, says whose a process is."""
    held = leased_uids()
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            # the real uid from status: /proc/<pid> of a non-dumpable process (the probe
            # server, its probes) is owned by root whatever its uid
            uid = next(int(line.split()[1]) for line in (p / "status").read_text().splitlines() if line.startswith("Uid:"))
            if uid in SANDBOX_UIDS and uid not in held:
                out.append((int(p.name), uid, (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]))
        except OSError:
            pass
    if out:  # a sandbox may be closing right now (killing, then releasing): look again
        time.sleep(1.0)
        held = leased_uids()
        out = [(pid, uid, cmd) for pid, uid, cmd in out if Path(f"/proc/{pid}").exists() and uid not in held]
    return out


def kernel_processes(scratch: str | None = None) -> set[int]:
    """Pids of kernels, executors and probe workers (of our scratch root)."""
    out = set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if (b"ipykernel" in cmd or b"grader.execute.executor" in cmd or b"worker.py" in cmd) and _mine(p, scratch):
            out.add(int(p.name))
    return out


class Listener:
    """TCP + UDP listeners on 127.0.0.1:LISTEN_PORT counting what arrives."""

    def __init__(self, port=LISTEN_PORT):
        self.hits: list[str] = []
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("0.0.0.0", port))
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("0.0.0.0", port))
        self.udp.settimeout(0.2)
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            try:
                c, addr = self.tcp.accept()
                self.hits.append(f"tcp from {addr}")
                c.close()
            except OSError:
                pass
            try:
                data, addr = self.udp.recvfrom(4096)
                self.hits.append(f"udp from {addr}: {data[:40]!r}")
            except OSError:
                pass

    def close(self):
        self._stop = True
        self._t.join(timeout=2)
        self.tcp.close()
        self.udp.close()


def stat_sig(path: str):
    try:
        st = os.lstat(path)
        return (st.st_uid, st.st_gid, st.st_mode, st.st_size, st.st_mtime_ns)
    except OSError:
        return None


def tree_hash(root: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if "__pycache__" in p.parts:
            continue
        h.update(str(p.relative_to(root)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


def grade_one(zip_path: Path, out_dir: Path, scratch: Path, rubric_dir: Path = RUBRIC) -> dict:
    """Grade one zip; returns {report, seconds, error}."""
    from grader.pipeline import Env, grade
    from grader.rubric import load_rubric

    rubric = load_rubric(rubric_dir)
    env = Env(rubric=rubric, out_dir=out_dir, scratch_root=scratch, jobs=1)
    t0 = time.monotonic()
    try:
        rep = grade(Path(zip_path), env).to_dict()
        err = None
    except BaseException as exc:  # the grader itself failed: recorded, asserted by the tests
        rep, err = None, f"{type(exc).__name__}: {exc}"
    return {"report": rep, "seconds": time.monotonic() - t0, "error": err}


def run_all(one, names: list[str], workers: int) -> None:
    """one(name) for every name, `workers` at a time, on daemon threads with a deadline, not
    a ThreadPoolExecutor: a grading that never returns (the OpenBLAS fork deadlock of
    grader/childenv.py hung the suite for 30 minutes) fails naming the stuck submissions,
    and neither this call nor the test worker's exit waits for it."""
    todo: queue.Queue = queue.Queue()
    for name in names:
        todo.put(name)
    done: set[str] = set()
    errors: list[str] = []

    def drain():
        while True:
            try:
                name = todo.get_nowait()
            except queue.Empty:
                return
            try:
                one(name)
            except BaseException as exc:  # the harness itself failed: raised below
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
            done.add(name)
    threads = [threading.Thread(target=drain, daemon=True, name=f"corpus-{k}") for k in range(max(1, workers))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + CORPUS_DEADLINE_S
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        stuck = [n for n in names if n not in done]
        raise AssertionError(f"grading {stuck} did not return within {CORPUS_DEADLINE_S:.0f} s (a hang, not a slow grading)")
    if errors:
        raise AssertionError("the harness failed: " + "; ".join(errors))


def grade_corpus(names, out_dir: Path, scratch: Path, log=None, workers: int = 1) -> dict:
    """Grade the named attacks (each in its own scratch root, so checks stay per attack)."""
    ms = manifests()
    results = {}

    def one(name):
        m = ms[name]
        sub_scratch = scratch / m["netid"]  # short: the kernel's ipc socket path is capped at 107 bytes
        res = grade_one(Path(m["zip_path"]), out_dir, sub_scratch)
        time.sleep(0.3)
        res["sandbox_procs"] = sandbox_processes(str(sub_scratch))
        res["new_kernel_procs"] = sorted(kernel_processes(str(sub_scratch)))
        results[name] = res
        if log:
            rep = res["report"] or {}
            log(f"{name:34s} {res['seconds']:6.1f}s score={rep.get('score')} "
                f"nb={[n['status'] for n in rep.get('notebooks', []) if n['status'] != 'missing']} err={res['error']}")

    run_all(one, names, workers)
    return {n: results[n] for n in names}


if __name__ == "__main__":
    import tempfile

    names = sys.argv[1:] or [n for n, m in manifests().items() if not m["slow"]]
    tmp = Path(tempfile.mkdtemp(prefix="adv-"))
    res = grade_corpus(names, tmp / "out", tmp / "s", log=lambda s: print(s, flush=True),
                       workers=int(os.environ.get("ADV_WORKERS", "1")))
    for name, r in res.items():
        rep = r["report"] or {}
        print("==", name)
        for nb in rep.get("notebooks", []):
            if nb["status"] != "missing":
                print("  nb", nb["status"], nb["message"][:200], [(c["index"], c["status"], c["ename"], c["evalue"][:120]) for c in nb["cells"]])
        for it in rep.get("items", []):
            print("  item", it["id"], it["status"], it["score"], it["feedback"][:160].replace("\n", " | "))
        print("  findings", [(f["code"], f["message"][:100]) for f in rep.get("findings", [])])
        print("  penalties", rep.get("penalties"), "procs", r["sandbox_procs"], r["new_kernel_procs"])


def grade_suite(manifests: dict, phases: list[list[str]], tmp: Path, workers: int = 1,
                cache: Path | None = None) -> dict[str, dict]:
    """Grade each phase's attacks in turn (twins first: their executions fill the shared
    cache), each with the rubric its manifest names (key "rubric", default rubrics/hw2),
    `workers` at a time. {name: {report, error, seconds, procs}}; a grader failure is
    recorded, not raised (the tests assert on it). `cache`: the execution cache of the honest
    twins, the submissions some attack names as its twin (the session's shared_exec_cache:
    they hold the samples' notebooks); default one of the suite's own. Every other
    submission executes into a cache of its own, refreshed from the twins' before each
    phase: it reuses the executions of the notebooks it shares with them or with the
    samples, and nothing it alone runs enters the session's shared cache, whose long
    executions tests/recordings.py records and replays. An attack always runs live."""
    from factories import share_cache_entries
    from grader.pipeline import Env, grade
    from grader.rubric import load_rubric

    cache, ref_cache, rubrics, out = cache or tmp / "exec-cache", {}, {}, {}
    attacks_cache = tmp / "attack-exec-cache"
    twins = {m["twin"] for m in manifests.values()}  # named as some attack's honest twin

    def one(name):
        m = manifests[name]
        rel = m.get("rubric") or "rubrics/hw2"
        rubric = rubrics.get(rel) or rubrics.setdefault(rel, load_rubric(ROOT / rel))
        scratch = tmp / "s" / m["netid"]
        env = Env(rubric=rubric, out_dir=tmp / "out", scratch_root=scratch,
                  exec_cache=cache if name in twins else attacks_cache, reference_cache=ref_cache, jobs=1)
        t1 = time.monotonic()
        try:
            rep, err = grade(Path(m["zip_path"]), env).to_dict(), None
        except BaseException as exc:  # the grader itself failed: asserted by the tests
            rep, err = None, f"{type(exc).__name__}: {exc}"
        out[name] = {"report": rep, "error": err, "seconds": time.monotonic() - t1,
                     "procs": sorted(kernel_processes(str(scratch)))}

    for phase in phases:
        share_cache_entries(Path(cache), attacks_cache)
        run_all(one, phase, workers)
    return out


def graded_report(result: dict, name: str, manifest: dict) -> dict:
    """One grade_suite result, asserted sane: the grader did not fail, left no kernel or
    probe behind and stayed within the manifest's time bound. Returns the report."""
    assert result["error"] is None, f"the grader itself failed on {name}: {result['error']}"
    assert result["procs"] == [], f"kernels or probes left behind: {result['procs']}"
    assert result["seconds"] <= manifest["max_seconds"], result["seconds"]
    return result["report"]


def items_by_id(report: dict) -> dict:
    return {i["id"]: i for i in report["items"]}
