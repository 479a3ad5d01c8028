"""The bubblewrap + setpriv command line (see /work/shared/PLATFORM.md).

bwrap runs as root WITHOUT a user namespace (as root it is not a sandbox by itself:
the child keeps every capability); setpriv then drops to an unused uid with no
capabilities and no_new_privs, which is what makes the read-only mounts stick.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import grader

BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"

NAMESPACE_FLAGS = (
    "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup",
    "--die-with-parent", "--new-session",
)


# An allow-list: the sandbox's root is empty but for the system (read-only), the Python
# installation and environment, and the work dir. Anything else on the machine (other
# checkouts of the reference, class folders, other users' files) simply is not there.
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/sys")


def system_binds() -> list[str]:
    out: list[str] = []
    for d in SYSTEM_DIRS:
        p = Path(d)
        if p.is_symlink():  # merged /usr: /bin -> usr/bin
            out += ["--symlink", os.readlink(p), d]
        elif p.is_dir():
            out += ["--ro-bind", d, d]
    return out


def project_root() -> Path:
    """The checkout holding grader/ (and reference/, rubrics/): hidden inside sandboxes."""
    return Path(grader.__file__).resolve().parent.parent


def python_paths() -> tuple[Path, Path]:
    """(installation, environment) of the interpreter jobs run: both are bound read-only."""
    return Path(sys.base_prefix).resolve(), Path(sys.prefix)


def _home_dirs() -> list[Path]:
    """Root's home (and $HOME): private to the grader, hidden inside sandboxes."""
    homes = {Path("/root")}
    home = os.environ.get("HOME")
    if home and Path(home).resolve() != Path("/"):
        homes.add(Path(home).resolve())
    return sorted(h for h in homes if h.is_dir())


# Hiding these would break the interpreter or the sandbox itself: callers cannot.
_NEVER_HIDE = {Path(p) for p in ("/", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/dev", "/proc", "/sys", "/run", "/tmp")}


def hidden_paths(workdir: Path, extra: tuple[Path, ...] = ()) -> list[Path]:
    """Directories replaced by an empty tmpfs inside the sandbox."""
    # With the allow-list (system_binds) these only matter where they overlap what is
    # bound: e.g. the checkout around a venv, or a rubric kept under /usr/local.
    wanted = [p for p in extra if p not in _NEVER_HIDE and p.is_dir()]
    hidden = [*_home_dirs(), project_root(), *wanted]
    parent = workdir.parent
    if parent != Path("/"):
        # Sibling job dirs (other students) must not be readable: hide the whole parent.
        hidden.append(parent)
    return hidden


@dataclass(frozen=True)
class Mount:
    kind: str  # "tmpfs" | "ro-bind" | "bind"
    dest: Path
    src: Path | None = None


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def mount_plan(workdir: Path, readonly_binds: tuple[tuple[Path, Path], ...],
               hidden: list[Path]) -> list[Mount]:
    base_prefix, prefix = python_paths()
    mounts = [Mount("tmpfs", h) for h in dict.fromkeys(hidden)]
    # The interpreter and its environment are always bound (unless the system dirs hold
    # them already); what the caller asked for is always bound.
    system = [Path(d) for d in SYSTEM_DIRS]
    binds = [(p, p) for p in (base_prefix, prefix) if not any(_under(p, s) for s in system)]
    for src, dest in dict.fromkeys([*binds, *readonly_binds]):
        mounts.append(Mount("ro-bind", dest, src))
    mounts.append(Mount("bind", workdir, workdir))
    # A mount hides everything mounted below it earlier: shallow first, tmpfs before
    # binds at the same depth.
    order = {"tmpfs": 0, "ro-bind": 1, "bind": 2}
    mounts.sort(key=lambda m: (len(m.dest.parts), order[m.kind]))
    return mounts


def command(argv: list[str], *, uid: int, workdir: Path, cwd: Path,
            readonly_binds: tuple[tuple[Path, Path], ...] = (),
            hidden: list[Path]) -> list[str]:
    out = [BWRAP, *NAMESPACE_FLAGS, "--hostname", "sandbox", *system_binds(),
           "--dev", "/dev", "--proc", "/proc",
           "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"]
    plan = mount_plan(workdir, readonly_binds, hidden)
    # The new root is itself a tmpfs: parents bwrap would create implicitly for a bind (e.g.
    # /content for a dataset mounted at /content/cats_and_dogs_filtered) get mode 0700 and
    # would hide the bind from the sandbox uid, so every parent is made explicitly.
    tmpfs_roots = [Path("/"), Path("/tmp"), *(m.dest for m in plan if m.kind == "tmpfs")]
    made: set[Path] = set()
    for m in plan:
        # Parents created inside a tmpfs must be traversable by the sandbox uid.
        enclosing = [t for t in tmpfs_roots if t != m.dest and _under(m.dest, t)]
        if enclosing:
            top = max(enclosing, key=lambda t: len(t.parts))
            for parent in reversed(m.dest.parents):
                if _under(parent, top) and parent != top and parent not in made:
                    out += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
        if m.kind == "tmpfs":
            out += ["--perms", "0755", "--tmpfs", str(m.dest)]
        else:
            out += [f"--{m.kind}", str(m.src), str(m.dest)]
        made.add(m.dest)
    out += ["--unsetenv", "JPY_PARENT_PID", "--chdir", str(cwd), "--",
            SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--bounding-set=-all", "--inh-caps=-all", "--", *argv]
    return out
