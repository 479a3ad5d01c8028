"""What a rubric that `extends` another may change besides plain keys (grader.rubric.load).

A semester of the homework differs from its sibling in a few places; these keys say so
without copying the sibling's items:

- `rename: {old file name: new file name}` (assignment.yaml): the files of the rubric it
  extends are renamed (Fall 2021 hands in hw3_cnn.ipynb where Spring 2021 hands in
  hw2_cnn.ipynb): the `files` entries, the ids of the items of those files (the stem
  before the first dot: hw2_cnn.CNN -> hw3_cnn.CNN, hw2_theory.x -> hw3_theory.x), the
  calibration's reference times, and the notebook rubrics the files name (their
  `notebook:` and item ids). Renames compose along the chain.
- `override_items: [{id, ...}]`: items of the extended rubric changed key by key (mappings
  merged, lists such as `cases` replaced whole); an id the extended rubric lacks is a new
  item (then every required key must be given). In assignment.yaml they apply to
  `manual_items`, in a notebook rubric to `items`.
- `remove_items: [id, ...]`: items of the extended rubric dropped.
- a key set to null (`~`) removes that key of the extended rubric (e.g. the calibration's
  reference time of a notebook the semester does not have).
- a notebook rubric may itself `extends: <notebook rubric file>`; its `notebook:` may give
  a new file name (the items' ids follow).
"""
from __future__ import annotations

from pathlib import Path

from grader.errors import RubricError

RENAME = "rename"
OVERRIDE = "override_items"
REMOVE = "remove_items"
SPECIAL = (RENAME, OVERRIDE, REMOVE)

_RENAME_SCHEMA = {"type": "object", "minProperties": 1,
                  "additionalProperties": {"type": "string", "pattern": r"^[^/\\]+$"}}
_OVERRIDE_SCHEMA = {"type": "array", "items": {"type": "object", "required": ["id"],
                                               "properties": {"id": {"type": "string", "minLength": 1}}}}
_REMOVE_SCHEMA = {"type": "array", "items": {"type": "string", "minLength": 1}}


def stem_map(renames: dict) -> dict[str, str]:
    return {Path(a).stem: Path(b).stem for a, b in renames.items()}


def rename_id(item_id: str, stems: dict[str, str]) -> str:
    stem, dot, rest = item_id.partition(".")
    return stems.get(stem, stem) + dot + rest if dot else item_id


def compose(base: dict, child: dict) -> dict:
    """Every name seen along the chain -> its final name (child's keys are names as the
    extended rubric shows them, i.e. after the extended rubric's own renames)."""
    out = {a: child.get(b, b) for a, b in base.items()}
    out.update(child)
    return out


def drop_nulls(file: Path, base: dict, child: dict, path: tuple = ()) -> dict:
    """child without its null values; each null removes that key from `base` (in place)."""
    out = {}
    for k, v in child.items():
        if v is None:
            if not isinstance(base, dict) or k not in base:
                from grader.rubric.load import _yaml_path

                raise RubricError(file, _yaml_path(path + (k,)), "null removes a key of the extended rubric, which has no such key here")
            base.pop(k)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = dict(base[k])
            out[k] = drop_nulls(file, base[k], v, path + (k,))
        elif isinstance(v, dict):  # a new mapping: a null inside it names nothing
            out[k] = drop_nulls(file, {}, v, path + (k,))
        else:
            out[k] = v
    return out


def edit_items(file: Path, items: list, overrides: list, remove: list, key: str) -> list:
    """`items` (raw mappings) with `remove` dropped and `overrides` merged by id."""
    from grader.rubric.load import _merge

    ids = [it.get("id") for it in items]
    for i, rid in enumerate(remove):
        if rid not in ids:
            raise RubricError(file, f"{REMOVE}[{i}]", f"bad value {rid!r}: the extended rubric has no such item in {key} "
                              f"(its ids: {', '.join(map(str, ids))})")
    out = [dict(it) for it in items if it.get("id") not in remove]
    for ov in overrides:
        at = next((j for j, it in enumerate(out) if it.get("id") == ov["id"]), None)
        if at is None:
            out.append(dict(ov))
        else:
            out[at] = _merge(out[at], ov)
    return out


def _check(file: Path, head: dict) -> None:
    from grader.rubric.load import validate

    for key, sch in ((RENAME, _RENAME_SCHEMA), (OVERRIDE, _OVERRIDE_SCHEMA), (REMOVE, _REMOVE_SCHEMA)):
        if key in head:
            validate(file, head[key], sch, prefix=(key,))


def rename_assignment(file: Path, base: dict, renames: dict) -> dict:
    """The extended (absolute) assignment mapping with its files renamed."""
    names = [f.get("name") for f in base.get("files", []) if isinstance(f, dict)]
    for old in renames:
        if old not in names:
            raise RubricError(file, f"{RENAME}.{old}", f"bad value {old!r}: not a file of the extended rubric ({', '.join(map(str, names))})")
    stems = stem_map(renames)
    out = dict(base)
    out["files"] = [dict(f, name=renames.get(f["name"], f["name"])) for f in base["files"]]
    if "manual_items" in out:
        out["manual_items"] = [dict(m, id=rename_id(m["id"], stems)) if isinstance(m.get("id"), str) else m
                               for m in out["manual_items"]]
    cal = (out.get("execution") or {}).get("calibration")
    if isinstance(cal, dict) and isinstance(cal.get("reference_s"), dict):
        cal = dict(cal, reference_s={renames.get(k, k): v for k, v in cal["reference_s"].items()})
        out["execution"] = dict(out["execution"], calibration=cal)
    out[RENAME] = compose(base.get(RENAME, {}), renames)
    return out


def extend_assignment(file: Path, base: dict, head: dict) -> tuple[dict, dict]:
    """(the extended rubric's mapping with this file's renames, removals, item overrides and
    null deletions applied; this file's remaining keys, to be merged over it)."""
    _check(file, head)
    base = dict(base)
    child = {k: v for k, v in head.items() if k != "extends"}
    if RENAME in child:
        base = rename_assignment(file, base, child.pop(RENAME))
    overrides, remove = child.pop(OVERRIDE, []), child.pop(REMOVE, [])
    if overrides or remove:
        base["manual_items"] = edit_items(file, base.get("manual_items", []), overrides, remove, "manual_items")
    return base, drop_nulls(file, base, child)


def notebook_raw(file: Path, renames: dict | None = None, _seen: tuple = ()) -> dict:
    """A notebook rubric as one validated mapping: its `extends` chain resolved, then the
    assignment's renames applied (its `notebook:` and its item ids)."""
    import yaml

    from grader.rubric import schema
    from grader.rubric.load import _describe, _merge, load_yaml_validated, validate

    file = Path(file).resolve()
    if file in _seen:
        raise RubricError(file, "extends", "circular `extends`: " + " -> ".join(str(f) for f in (*_seen, file)))
    try:
        head = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        head = None
    if not (isinstance(head, dict) and "extends" in head):
        raw = load_yaml_validated(file, schema.NOTEBOOK)
    else:
        ext = head["extends"]
        base_file = (file.parent / ext).resolve() if isinstance(ext, str) and ext else None
        if base_file is None or not base_file.is_file():
            raise RubricError(file, "extends", f"bad value {_describe(ext)}: expected the path of a notebook rubric file, relative to {file.parent}")
        if RENAME in head:
            raise RubricError(file, RENAME, "a notebook rubric renames its notebook with `notebook:`; `rename` belongs in assignment.yaml")
        _check(file, head)
        base = notebook_raw(base_file, None, (*_seen, file))
        child = {k: v for k, v in head.items() if k not in ("extends", OVERRIDE, REMOVE)}
        if isinstance(child.get("notebook"), str) and child["notebook"] != base["notebook"]:
            base = _renamed_notebook(base, {base["notebook"]: child["notebook"]})
        base["items"] = edit_items(file, base["items"], head.get(OVERRIDE, []), head.get(REMOVE, []), "items")
        raw = _merge(base, drop_nulls(file, base, child))
        validate(file, raw, schema.NOTEBOOK)
    if renames and raw["notebook"] in renames:
        raw = _renamed_notebook(raw, renames)
    return raw


def _renamed_notebook(raw: dict, renames: dict) -> dict:
    stems = stem_map({raw["notebook"]: renames[raw["notebook"]]})
    return dict(raw, notebook=renames[raw["notebook"]],
                items=[dict(it, id=rename_id(it["id"], stems)) if isinstance(it.get("id"), str) else it for it in raw["items"]])
