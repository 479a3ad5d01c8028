"""What a notebook fetches from the network, and what the grader provides offline instead.

The grader has no network. Two things real submissions download:

1. The course's data (`!wget .../cats_and_dogs_filtered.zip` + `!unzip`). A rubric lists
   instructor-provided datasets (`datasets:` in the assignment YAML) and where the
   notebooks expect them (`mount`): a relative path lands in the notebook's work dir, an
   absolute one (`/content/cats_and_dogs_filtered`) at that path inside the sandbox. Under
   bubblewrap each mount is a read-only bind of the grader-side folder, which is otherwise
   hidden (it lives under the rubric or the checkout); in the weaker isolation modes
   (rlimits, none) there are no mount namespaces: relative mounts are writable copies in
   the work dir and absolute ones are unavailable, and the report says so. The download
   and unpack lines that name the dataset are skipped with a note saying where it is.
2. Pretrained weights (`torch.hub.load`, `models.resnet18(pretrained=True)`,
   `weights=...`). These cannot be provided; a failing download is an environment error
   (the rubric's `environment_errors`, matched on what it raises in the sandbox), and the
   finding names the call (`network_calls`).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from grader.rubric.model import Dataset, SkipRule

# Absolute mounts may not shadow what the sandbox itself needs.
RESERVED_ROOTS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/sys", "/proc", "/dev", "/run")
RESERVED_EXACT = ("/", "/tmp", "/home", "/root", "/opt", "/var", "/srv", "/mnt", "/media")


def mount_problem(mount: str) -> str | None:
    """Why a `mount` entry is not acceptable (None when it is): checked at rubric load."""
    parts = mount.split("/")[1:] if mount.startswith("/") else mount.split("/")
    if "\\" in mount or not parts or any(p in ("", ".", "..") for p in parts):
        return "write a plain path without '.', '..' or empty components (e.g. 'cats_and_dogs_filtered' or '/content/cats_and_dogs_filtered')"
    if mount.startswith("/"):
        if mount in RESERVED_EXACT or any(mount == r or mount.startswith(r + "/") for r in RESERVED_ROOTS):
            return f"{mount} is a system location the sandbox needs; mount the dataset in a folder of its own (e.g. /content/NAME)"
        return None
    if parts[0].startswith(".") or parts[0].startswith("__grader"):
        return f"{parts[0]!r} is the grader's own place in the work dir"
    return None


# -- where each dataset is, per isolation mode ---------------------------------------------

def _shown(mount: str) -> str:
    return mount if mount.startswith("/") else f"./{mount}"


def placement(ds: Dataset, mode: str) -> list[tuple[str, str]]:
    """[(mount, how)] with how = 'read-only' | 'copy' | 'unavailable'."""
    out = []
    for m in ds.mount:
        if mode == "bwrap":
            out.append((m, "read-only"))
        else:
            out.append((m, "unavailable" if m.startswith("/") else "copy"))
    return out


def note(ds: Dataset, mode: str) -> str:
    """Why the grader skips the dataset's download lines, and where the data is instead."""
    places = placement(ds, mode)
    ro = [_shown(m) for m, how in places if how == "read-only"]
    copies = [_shown(m) for m, how in places if how == "copy"]
    missing = [m for m, how in places if how == "unavailable"]
    what = f"the course's dataset {ds.name}" + (f" ({ds.reason})" if ds.reason else "")
    if ro:
        text = f"{what} is provided read-only by the grader at {' and '.join(ro)}"
    elif copies:
        text = (f"{what} is provided by the grader at {' and '.join(copies)} (a writable copy: isolation "
                f"'{mode}' cannot mount it read-only)")
    else:
        text = f"{what} is not available in isolation mode '{mode}'"
    if missing:
        text += f"; {' and '.join(missing)} needs bubblewrap isolation and is not available in mode '{mode}'"
    return text


def describe(datasets, mode: str) -> list[dict]:
    """For the report's `environment`: each dataset, its content digest and its mounts."""
    out = []
    for ds in datasets:
        how = {"read-only": "read-only bind", "copy": f"writable copy in the work dir (isolation '{mode}' has no read-only mounts)",
               "unavailable": f"unavailable (isolation '{mode}': absolute paths need bubblewrap)"}
        out.append({"name": ds.name, "digest": tree_digest(ds.source)[:16],
                    "mounts": [{"path": _shown(m), "how": how[h]} for m, h in placement(ds, mode)]})
    return out


# -- the download lines ----------------------------------------------------------------------

def skip_rules(datasets, mode: str) -> tuple[SkipRule, ...]:
    """Rules (checked before the rubric's own) for the lines that download or unpack a
    dataset the grader provides: shell `!wget`/`!curl`/`!unzip`/`!gdown` lines and one-line
    Python calls (gdown.download, urlretrieve, extractall, unpack_archive) naming it."""
    rules = []
    for ds in datasets:
        name = re.escape(ds.name)
        shell = rf"^\s*!\s*(?:wget|curl|unzip|gdown)\b.*{name}"
        python = (rf"^\s*(?:[\w.\[\]'\"]+\s*=\s*)?[\w.()'\", ]*(?:gdown\.download|urlretrieve|wget\.download|"
                  rf"unpack_archive|extractall)\s*\(.*{name}.*\)\s*(?:#.*)?$")
        rules.append(SkipRule(f"{shell}|{python}", note(ds, mode)))
    return tuple(rules)


# -- mounting ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mounts:
    binds: tuple[tuple[str, str], ...]  # (grader-side source, path in the sandbox), read-only
    digest: str  # of the datasets' content and where they go: part of the execution cache key


def mount(datasets, workdir: Path, mode: str) -> Mounts:
    """Make the datasets visible to a notebook that runs in `workdir` under `mode`:
    mount points (bwrap) or copies (other modes) in the work dir; binds for the sandbox."""
    binds = []
    h = hashlib.sha256()
    for ds in datasets:
        h.update(f"{ds.name}\0{tree_digest(ds.source)}\0".encode())
        for m, how in placement(ds, mode):
            h.update(f"{m}\0{how}\0".encode())
            dest = Path(m) if m.startswith("/") else workdir / m
            if how == "read-only":
                if not m.startswith("/"):
                    dest.mkdir(parents=True, exist_ok=True)  # the mount point
                binds.append((str(ds.source), str(dest)))
            elif how == "copy":
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(ds.source, dest, dirs_exist_ok=True)
    return Mounts(tuple(binds), h.hexdigest() if datasets else "none")


_DIGESTS: dict[tuple, str] = {}
_LOCK = threading.Lock()


def tree_digest(root: Path) -> str:
    """sha256 of a folder's files (relative names and bytes); recomputed only when a
    file's name, size or mtime changed (a real dataset is tens of MB, read per notebook)."""
    root = Path(root)
    listing = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            p = Path(dirpath, f)
            try:
                st = p.stat()
            except OSError:
                continue
            listing.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
    sig = (str(root), tuple(listing))
    with _LOCK:
        hit = _DIGESTS.get(sig)
    if hit is not None:
        return hit
    h = hashlib.sha256()
    for rel, _size, _mtime in listing:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    digest = h.hexdigest()
    with _LOCK:
        _DIGESTS[sig] = digest
    return digest


# -- pretrained weights and other network-only calls -------------------------------------------

_NETWORK_CALLS = (
    (re.compile(r"\btorch\.hub\.load\s*\("), "torch.hub.load"),
    (re.compile(r"\bload_state_dict_from_url\s*\("), "load_state_dict_from_url"),
    (re.compile(r"[(,]\s*pretrained\s*=\s*True\b"), "pretrained=True"),
    (re.compile(r"[(,]\s*weights\s*=\s*(?!None\b)[A-Za-z_'\"]"), "weights=... (downloads pretrained weights)"),
    (re.compile(r"\bfrom_pretrained\s*\("), "from_pretrained"),
    (re.compile(r"\burl(?:retrieve|open)\s*\("), "urllib"),
    (re.compile(r"\brequests\.(?:get|post)\s*\("), "requests"),
)


def network_calls(source: str) -> list[str]:
    """What a cell's code fetches from the network, as it is written (statically), e.g.
    ["torch.hub.load('pytorch/vision', 'resnet18')"]: for the report's environment finding."""
    found = []
    for line in source.splitlines():
        code = line.split("#", 1)[0] if not line.lstrip().startswith("!") else line
        for rx, label in _NETWORK_CALLS:
            m = rx.search(code)
            if m:
                snippet = code.strip()
                found.append(f"`{snippet[:90]}`" + ("" if label in snippet else f" ({label})"))
                break
    return found
