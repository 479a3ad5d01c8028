"""The students' Python environment: what the course's Colab had, separate from the grader's.

A rubric may declare (assignment YAML, key `environment`) the packages the course's
notebooks ran with: numpy 1 for the 2021-2023 semesters, tqdm, six, pandas, torchvision...
The grader's own dependencies then no longer decide what a student's code may import.

    environment:
      name: colab-2022
      packages: ["numpy<2", "torch>=2.2,<2.15", tqdm, six, ...]
      optional: [["torch==2.14.1", "torchvision==0.29.1"]]   # tried first, each group as a whole

`build(spec)` creates it once as its own virtual environment (with ipykernel, so the
kernels run in it), under `$GRADER_ENVS` or `~/.cache/dl-grader/envs/<name>-<key>`, where
the key is a hash of the spec: a changed spec is a new environment, an unchanged one is
reused by every run, batch worker and test. A build happens in a temporary directory and
is renamed into place only when complete (a marker file records the spec, the interpreter
and the installed versions), under a lock, so concurrent graders never see half an
environment. The sandboxed kernels and probes of the rubric run its interpreter; the
sandbox binds the environment read-only (grader/sandbox/bwrap.py).

A rubric without `environment` runs students' code with the grader's own interpreter, and
the report says so.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError

MARKER = ".grader-env.json"
# Needed by the grader itself inside the environment: the kernel and the probe worker.
ALWAYS = ("ipykernel", "numpy")
SCHEMA_VERSION = 1


class EnvBuildError(GraderError):
    """The student environment could not be built (no network, a bad requirement...)."""


@dataclass(frozen=True)
class EnvSpec:
    name: str
    packages: tuple[str, ...]
    optional: tuple[tuple[str, ...], ...] = ()
    python: str | None = None  # interpreter to build with; default: the one running the grader
    note: str = ""

    @property
    def key(self) -> str:
        blob = json.dumps({"v": SCHEMA_VERSION, "name": self.name, "packages": list(self.packages),
                           "optional": [list(g) for g in self.optional], "python": self.python}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.key}"


@dataclass(frozen=True)
class StudentEnv:
    """A built environment: where it is and what it holds (from its marker file)."""

    spec: EnvSpec
    root: Path
    python: Path
    base_prefix: Path  # the interpreter installation the venv points to (bound read-only too)
    python_version: str
    packages: dict  # distribution name -> version
    missing_optional: tuple[str, ...]
    built_at: str

    def describe(self) -> dict:
        return {"name": self.spec.name, "key": self.spec.key, "path": str(self.root),
                "python": self.python_version, "packages": dict(self.packages),
                "missing_optional": list(self.missing_optional), "built_at": self.built_at}

    def has(self, module_or_dist: str) -> bool:
        return _norm(module_or_dist) in {_norm(k) for k in self.packages}

    @property
    def binds(self) -> tuple[Path, ...]:
        """What a sandbox must show (read-only) for this interpreter to run."""
        return (self.root, self.base_prefix)


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def envs_dir() -> Path:
    root = os.environ.get("GRADER_ENVS")
    if root:
        return Path(root)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "dl-grader" / "envs"


def location(spec: EnvSpec) -> Path:
    return envs_dir() / spec.dirname


def load(spec: EnvSpec) -> StudentEnv | None:
    """The built environment for `spec`, or None when it is not (completely) built."""
    root = location(spec)
    try:
        meta = json.loads((root / MARKER).read_text())
        if meta.get("key") != spec.key:
            return None
        python = root / "bin" / "python"
        if not python.exists():
            return None
        return StudentEnv(spec, root, python, Path(meta["base_prefix"]), str(meta["python"]),
                          dict(meta["packages"]), tuple(meta.get("missing_optional", ())), str(meta["built_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pip(python: Path, reqs: list[str], log) -> bool:
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *reqs]
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode == 0


_INSPECT = r"""
import json, sys
from importlib import metadata
print(json.dumps({"python": sys.version.split()[0], "base_prefix": sys.base_prefix,
                  "packages": {d.metadata["Name"]: d.version for d in metadata.distributions() if d.metadata["Name"]}}))
"""


def build(spec: EnvSpec, *, force: bool = False, log=None) -> StudentEnv:
    """Build the environment if it is not built yet; return it. Raises EnvBuildError."""
    if not force:
        env = load(spec)
        if env is not None:
            return env
    base = envs_dir()
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"{spec.dirname}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another grader may be building the same one
        env = None if force else load(spec)
        if env is not None:
            return env
        return _build_locked(spec, base, log or sys.stderr)


def _build_locked(spec: EnvSpec, base: Path, log) -> StudentEnv:
    final = base / spec.dirname
    tmp = base / f".{spec.dirname}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    interpreter = spec.python or sys.executable
    if spec.python and shutil.which(spec.python) is None and not Path(spec.python).exists():
        raise EnvBuildError(f"environment {spec.name!r}: interpreter {spec.python!r} not found on this machine")
    t0 = time.monotonic()
    log.write(f"grader: building the student environment {spec.name!r} in {final} (once; a few minutes)\n")
    log.flush()
    logfile = base / f"{spec.dirname}.build.log"
    with open(logfile, "w") as blog:
        if subprocess.run([interpreter, "-m", "venv", str(tmp)], stdout=blog, stderr=subprocess.STDOUT).returncode:
            raise EnvBuildError(f"environment {spec.name!r}: `{interpreter} -m venv` failed; see {logfile}")
        python = tmp / "bin" / "python"
        required = [*spec.packages, *(a for a in ALWAYS if not any(_norm(p).startswith(a) for p in spec.packages))]
        missing: list[str] = []
        groups = list(spec.optional)
        # Optional groups are tried WITH the required packages, so pip resolves them together
        # (torchvision pins its torch); a group that cannot be installed is left out.
        installed = False
        while groups and not installed:
            installed = _pip(python, required + [r for g in groups for r in g], blog)
            if not installed:
                dropped = groups.pop()
                missing.extend(dropped)
                blog.write(f"# optional group {dropped} could not be installed with the rest: left out\n")
        if not installed and not _pip(python, required, blog):
            shutil.rmtree(tmp, ignore_errors=True)
            raise EnvBuildError(f"environment {spec.name!r}: pip could not install {required}; see {logfile}")
        out = subprocess.run([str(python), "-c", _INSPECT], capture_output=True, text=True)
        if out.returncode:
            shutil.rmtree(tmp, ignore_errors=True)
            raise EnvBuildError(f"environment {spec.name!r}: the new interpreter does not start: {out.stderr[-500:]}")
        info = json.loads(out.stdout)
    meta = {"key": spec.key, "spec": dataclasses.asdict(spec), "python": info["python"],
            "base_prefix": str(Path(info["base_prefix"]).resolve()), "packages": info["packages"],
            "missing_optional": missing, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_seconds": round(time.monotonic() - t0, 1)}
    (tmp / MARKER).write_text(json.dumps(meta, indent=1, sort_keys=True))
    if final.exists():  # a stale or forced rebuild
        shutil.rmtree(final)
    os.rename(tmp, final)
    # readable by the sandbox uid (the tree is bound read-only; a umask could hide it)
    for d in (final,):
        os.chmod(d, 0o755)
    log.write(f"grader: student environment {spec.name!r} ready in {time.monotonic() - t0:.0f} s"
              + (f" (optional, left out: {', '.join(missing)})" if missing else "") + "\n")
    log.flush()
    env = load(spec)
    if env is None:  # pragma: no cover - we just wrote it
        raise EnvBuildError(f"environment {spec.name!r}: built but unreadable at {final}")
    return env


_ENV_CACHE: dict[str, StudentEnv | str] = {}


def resolve(spec: EnvSpec | None, *, auto_build: bool = True) -> tuple[StudentEnv | None, str]:
    """(environment, problem). With no spec: (None, ""), the grader's interpreter is used.
    When the environment cannot be had: (None, why) -- the caller grades with the grader's
    interpreter and reports why. Built environments are remembered per process."""
    if spec is None:
        return None, ""
    hit = _ENV_CACHE.get(spec.key)
    if isinstance(hit, StudentEnv):
        return hit, ""
    env = load(spec)
    if env is None and auto_build:
        try:
            env = build(spec)
        except EnvBuildError as exc:
            return None, str(exc)
    if env is None:
        return None, f"the student environment {spec.name!r} is not built; run `grader env build RUBRIC`"
    _ENV_CACHE[spec.key] = env
    return env, ""


def module_status(env: StudentEnv | None, modules: list[str]) -> dict[str, bool]:
    """Which of `modules` the environment's interpreter can import (a real import each)."""
    python = str(env.python) if env else sys.executable
    code = ("import importlib.util, json, sys\n"
            "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))")
    out = subprocess.run([python, "-c", code, *modules], capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout) if out.returncode == 0 else {m: False for m in modules}
