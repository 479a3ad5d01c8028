"""Where each value of a resolved rubric comes from, along its `extends` chain.

`grader rubric-check DIR` prints the rubric as the loader resolves it (grader.rubric.load:
assignment_raw, the notebook rubrics' own chains, renames, item overrides and removals)
with, for each value, the file that set it. The loader uses the same map to name the file
of the chain a bad value came from when a check after the merge fails (a bad time zone or
split set by the child names the child file, one inherited from the base names the base).

Origins are tracked by YAML path: a mapping merges key by key (each key keeps the file
that set it last), anything else (lists included) is replaced whole by the file that sets
it; rubric items are tracked one by one by id (defined, overridden, removed, renamed).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from grader.rubric.extend import OVERRIDE, REMOVE, RENAME, rename_id, stem_map

ASSIGNMENT_FILE = "assignment.yaml"
SPECIAL = ("extends", RENAME, OVERRIDE, REMOVE)


def _head(file: Path) -> dict:
    try:
        data = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _chain(file: Path, folder_file: str | None) -> list[Path]:
    """The `extends` chain from `file`, the farthest base first, `file` last; an `extends`
    naming a folder means its `folder_file` (None: folders are not allowed)."""
    out = [Path(file).resolve()]
    while True:
        ext = _head(out[-1]).get("extends")
        if not isinstance(ext, str) or not ext:
            break
        nxt = (out[-1].parent / ext).resolve()
        if folder_file is not None and nxt.is_dir():
            nxt = nxt / folder_file
        if nxt in out or not nxt.is_file():
            break
        out.append(nxt)
    return out[::-1]


def assignment_chain(file: Path) -> list[Path]:
    """assignment.yaml files of the `extends` chain, the farthest base first, `file` last."""
    return _chain(file, ASSIGNMENT_FILE)


def notebook_chain(file: Path) -> list[Path]:
    """A notebook rubric's `extends` chain (files only), the farthest base first."""
    return _chain(file, None)


def _key(path: tuple) -> str:
    from grader.rubric.load import _yaml_path

    return _yaml_path(path)


class Origins:
    """YAML path -> the file that set it; items by id -> the file that set them."""

    def __init__(self, stems: dict[str, str] | None = None):
        self.paths: dict[str, Path] = {}
        self.items: dict[str, tuple[Path, str]] = {}  # id -> (file, how: "" | "overridden" | "renamed")
        self.stems = stems or {}

    def _norm(self, item_id: str) -> str:
        return rename_id(item_id, self.stems) if isinstance(item_id, str) else str(item_id)

    def mark(self, file: Path, data: dict, prefix: tuple = (), items_key: str | None = None) -> None:
        for k, v in data.items():
            if not prefix and k in SPECIAL:
                continue
            path = prefix + (k,)
            key = _key(path)
            if isinstance(v, dict):  # merged key by key
                self.paths.setdefault(key, file)
                self.mark(file, v, path)
                continue
            for old in [p for p in self.paths if p.startswith(key + ".") or p.startswith(key + "[")]:
                del self.paths[old]  # replaced whole
            self.paths[key] = file
            if not prefix and k == items_key and isinstance(v, list):
                self.items = {self._norm(it.get("id")): (file, "") for it in v if isinstance(it, dict)}

    def edit_items(self, file: Path, head: dict) -> None:
        for rid in head.get(REMOVE, []) or []:
            self.items.pop(self._norm(rid), None)
        for ov in head.get(OVERRIDE, []) or []:
            if isinstance(ov, dict):
                rid = self._norm(ov.get("id"))
                self.items[rid] = (file, "overridden" if rid in self.items else "")

    def of(self, path: tuple) -> Path | None:
        """The file that set `path` (its nearest marked ancestor's)."""
        for n in range(len(path), 0, -1):
            hit = self.paths.get(_key(path[:n]))
            if hit is not None:
                return hit
        return None

    def item(self, item_id: str) -> tuple[Path, str] | None:
        return self.items.get(self._norm(item_id))


def assignment_origins(file: Path, final_renames: dict | None = None) -> Origins:
    """Origins of every key of the resolved assignment.yaml (manual items by id)."""
    o = Origins(stem_map(final_renames or {}))
    for f in assignment_chain(file):
        head = _head(f)
        if RENAME in head and isinstance(head[RENAME], dict):
            o.paths["files"] = o.paths.get("files", f)
            for new in head[RENAME].values():
                o.paths[f"files#{new}"] = f
        o.edit_items(f, head)
        o.mark(f, head, items_key="manual_items")
    return o


def notebook_origins(file: Path, final_renames: dict | None = None) -> Origins:
    o = Origins(stem_map(final_renames or {}))
    for f in notebook_chain(file):
        head = _head(f)
        o.edit_items(f, head)
        o.mark(f, head, items_key="items")
    return o


def _short(file: Path | None, root: Path) -> str:
    if file is None:
        return "?"
    try:
        return str(Path(file).resolve().relative_to(root))
    except ValueError:
        return str(file)


def _value(v: Any, limit: int = 100) -> str:
    text = json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lines(data: Any, o: Origins, root: Path, prefix: tuple, out: list, items_key: str) -> None:
    for k, v in data.items():
        path = prefix + (k,)
        key = _key(path)
        if isinstance(v, dict) and v:
            _lines(v, o, root, path, out, items_key)
        elif not prefix and k == items_key and isinstance(v, list):
            for i, it in enumerate(v):
                hit = o.item(it.get("id")) if isinstance(it, dict) else None
                where = _short(hit[0], root) + (f" ({hit[1]})" if hit and hit[1] else "") if hit else _short(o.of(path), root)
                summary = {x: it[x] for x in ("id", "points", "kind", "extra_credit") if isinstance(it, dict) and x in it}
                out.append((f"{key}[{i}]", _value(summary), where))
        elif not prefix and k == "files" and isinstance(v, list):
            for i, f in enumerate(v):
                name = f.get("name") if isinstance(f, dict) else None
                renamed = o.paths.get(f"files#{name}")
                where = _short(o.of(path), root) + (f", renamed by {_short(renamed, root)}" if renamed else "")
                out.append((f"{key}[{i}]", _value({x: f[x] for x in ("name", "kind") if x in f}), where))
        else:
            out.append((key, _value(v), _short(o.of(path), root)))


def describe(directory: Path) -> str:
    """The resolved rubric, one value a line, each with the file it came from."""
    from grader.rubric.extend import notebook_raw
    from grader.rubric.load import assignment_raw

    directory = Path(directory).resolve()
    file = directory / ASSIGNMENT_FILE
    raw = assignment_raw(file)
    renames = raw.get(RENAME) or {}
    chain = assignment_chain(file)
    root = Path.cwd().resolve()
    o = assignment_origins(file, renames)
    rows: list[tuple[str, str, str]] = []
    shown = {k: v for k, v in raw.items() if k != RENAME}
    _lines(shown, o, root, (), rows, "manual_items")
    lines = [f"extends chain: {' -> '.join(_short(f, root) for f in reversed(chain))}", "", "assignment:"]
    width = min(max((len(a) for a, _, _ in rows), default=10), 48)
    lines += [f"  {a:<{width}} = {b}    [{c}]" for a, b, c in rows]
    for spec in raw.get("files", []):
        if not (isinstance(spec, dict) and spec.get("kind") == "notebook" and spec.get("rubric")):
            continue
        nb_file = (directory / spec["rubric"]).resolve()
        try:
            nb = notebook_raw(nb_file, raw.get(RENAME))
        except Exception as exc:  # the loader reports it with its location
            lines += ["", f"notebook {spec['name']}: cannot be read ({exc})"]
            continue
        no = notebook_origins(nb_file, renames)
        nrows: list[tuple[str, str, str]] = []
        _lines(nb, no, root, (), nrows, "items")
        nchain = notebook_chain(nb_file)
        lines += ["", f"notebook {spec['name']} ({' -> '.join(_short(f, root) for f in reversed(nchain))}):"]
        lines += [f"  {a:<{width}} = {b}    [{c}]" for a, b, c in nrows]
    return "\n".join(lines)
