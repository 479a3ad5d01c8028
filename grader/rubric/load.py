"""Load a rubric set from `rubrics/<assignment>/`: `assignment.yaml` plus one YAML per notebook.

Every error names the file, the YAML path and the bad value, and says what was expected.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from grader.errors import RubricError
from grader.lms.deadlines import LateDays
from grader.rubric import extend, schema
from grader.rubric.lms import LmsSettings
from grader.rubric.model import (
    Calibration,
    Dataset,
    EnvironmentError_,
    Execution,
    FileSpec,
    ItemSpec,
    NotebookRubric,
    Penalties,
    Rubric,
    SkipRule,
)

ASSIGNMENT_FILE = "assignment.yaml"

DEFAULT_SKIP = (
    SkipRule(r"^\s*[!%]\s*pip\b", "installs packages (the grader provides the environment)"),
    SkipRule(r"^\s*!\s*(wget|curl)\b", "downloads files (no network; the grader provides the data)"),
    SkipRule(r"^\s*!\s*unzip\b", "unpacks a download (the grader provides the data)"),
    SkipRule(r"^\s*!\s*git\s+clone\b", "clones a repository (the grader provides res/)"),
    SkipRule(r"^\s*%\s*cd\b", "changes directory (the grader sets the working directory)"),
    SkipRule(r"drive\.mount\s*\(", "mounts Google Drive (Colab only)"),
    SkipRule(r"^\s*from\s+google\.colab\b|^\s*import\s+google\.colab\b", "imports Colab-only modules"),
)

DEFAULT_EXECUTION = Execution(
    cell_timeout_s=300.0,
    notebook_timeout_s=900.0,
    memory_mb=4096,
    max_output_kb=2048,
    skip_cells=DEFAULT_SKIP,
)


def _yaml_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_yaml_validated(file: Path, json_schema: dict) -> dict:
    """Read YAML safely and validate it; raise RubricError at the first (deepest) problem."""
    file = Path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RubricError(file, "", f"cannot read the rubric file ({exc.strerror}); check the path") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RubricError(file, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    validate(file, data, json_schema)
    return data


# The formats the rubric schemas declare, checked (jsonschema ignores a format it has no
# checker for): `deadline` is an ISO date and time, an offset optional (else `timezone`).
FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time-local", raises=ValueError)
def _date_time_local(value: object) -> bool:
    return not isinstance(value, str) or bool(dt.datetime.fromisoformat(value))


def validate(file: Path, data: Any, json_schema: dict, prefix: tuple = ()) -> None:
    validator = jsonschema.Draft202012Validator(json_schema, format_checker=FORMATS)
    errors = sorted(validator.iter_errors(data), key=lambda e: (-len(e.absolute_path), str(e.absolute_path)))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors) or errors[0]
    path = _yaml_path(prefix + tuple(err.absolute_path))
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
        msg = f"unknown key(s) {', '.join(map(repr, extra))}; allowed keys: {', '.join(allowed)}"
    elif err.validator == "required":
        msg = err.message.replace("is a required property", "is required here")
    else:
        msg = f"bad value {_describe(err.instance)}: {err.message}"
    raise RubricError(file, path, msg)


def _execution(file: Path, raw: dict | None, base: Execution) -> Execution:
    raw = raw or {}
    skip = base.skip_cells
    if "skip_cells" in raw:
        skip = tuple(SkipRule(r["pattern"], r["reason"]) for r in raw["skip_cells"])
        import re

        for i, rule in enumerate(skip):
            try:
                re.compile(rule.pattern)
            except re.error as exc:
                raise RubricError(file, f"execution.skip_cells[{i}].pattern", f"bad regex {rule.pattern!r}: {exc}") from exc
    if "rewrite_lines" in raw:
        import re

        rewrites = []
        for i, r in enumerate(raw["rewrite_lines"]):
            try:
                re.compile(r["pattern"]).sub(r["replace"], "")
            except (re.error, IndexError) as exc:
                raise RubricError(file, f"execution.rewrite_lines[{i}]", f"bad regex or replacement {r['pattern']!r} -> {r['replace']!r}: {exc}") from exc
            rewrites.append(SkipRule(r["pattern"], r["reason"], r["replace"]))
        skip = tuple(s for s in skip if s.replace is None) + tuple(rewrites)
    return Execution(
        cell_timeout_s=float(raw.get("cell_timeout_s", base.cell_timeout_s)),
        notebook_timeout_s=float(raw.get("notebook_timeout_s", base.notebook_timeout_s)),
        memory_mb=int(raw.get("memory_mb", base.memory_mb)),
        max_output_kb=int(raw.get("max_output_kb", base.max_output_kb)),
        skip_cells=skip,
        disk_mb=int(raw.get("disk_mb", base.disk_mb)),
        calibration=_calibration(file, raw["calibration"]) if "calibration" in raw else base.calibration,
        on_cut=str(raw.get("on_cut", base.on_cut)),
    )


def _calibration(file: Path, raw: dict) -> Calibration:
    """execution.calibration (already schema-checked): the bounds the executor can honour."""
    from grader.execute.budget import MAX_BUDGET_S

    where = "execution.calibration"
    cal = Calibration(
        factor=float(raw["factor"]),
        reference_s={str(k): float(v) for k, v in raw["reference_s"].items()},
        baseline_benchmark_s=float(raw["baseline_benchmark_s"]),
        min_s=float(raw.get("min_s", Calibration.min_s)),
        max_s=float(raw.get("max_s", Calibration.max_s)),
        file=file,
    )
    if cal.max_s > MAX_BUDGET_S:
        raise RubricError(file, f"{where}.max_s", f"bad value {cal.max_s:g}: the grader's watchdogs allow a notebook "
                          f"at most {MAX_BUDGET_S:g} s (grader.execute.budget.MAX_BUDGET_S)")
    if cal.min_s > cal.max_s:
        raise RubricError(file, f"{where}.min_s", f"bad value {cal.min_s:g}: larger than max_s ({cal.max_s:g})")
    return cal


def _check_calibration(file: Path, notebooks: list[NotebookRubric]) -> None:
    """Every calibrated notebook has a reference time, and every reference time names a
    notebook of the rubric (a typo would silently fall back to nothing)."""
    names = [nb.notebook for nb in notebooks]
    for nb in notebooks:
        cal = nb.execution.calibration
        if cal is None:
            continue
        src = cal.file or file
        unknown = sorted(set(cal.reference_s) - set(names))
        if unknown:
            raise RubricError(src, "execution.calibration.reference_s", f"bad value {unknown}: not notebooks of the rubric ({', '.join(names)})")
        if nb.notebook not in cal.reference_s:
            raise RubricError(src, "execution.calibration.reference_s", f"no reference time for {nb.notebook!r}; "
                              f"measure it with `grader calibrate {file.parent}`")


def _item(file: Path, raw: dict, path: str, default_part: str) -> ItemSpec:
    from grader.checks import registry

    kind = raw["kind"]
    try:
        check = registry.get(kind)
    except KeyError:
        raise RubricError(
            file, f"{path}.kind", f"unknown check kind {kind!r}; known kinds: {', '.join(registry.names())}"
        ) from None
    raw_params = raw.get("params", {})
    where = tuple(_split_path(path)) + ("params",)
    validate(file, raw_params, check.params_schema, prefix=where)
    params = _typed_params(file, check.Params, raw_params, where)
    if check.needs_target and "target" not in raw:
        raise RubricError(file, path, f"check kind {kind!r} needs a 'target' (the function or class it grades)")
    return ItemSpec(
        id=raw["id"],
        title=raw["title"],
        points=float(raw["points"]),
        kind=kind,
        target=raw.get("target"),
        params=params,
        visibility=raw.get("visibility", "visible"),
        feedback=raw.get("feedback", ""),
        part=raw.get("part", default_part),
        guide=raw.get("guide", ""),
        extra_credit=bool(raw.get("extra_credit", False)),
    )


def _typed_params(file: Path, model, raw: dict, where: tuple):
    """The kind's frozen parameter model. The JSON schema (generated from the same model)
    has already checked types and bounds; what is left are the model's cross-field rules
    (e.g. gradient's mode vjp needs `upstream`), reported at their rubric path."""
    import pydantic

    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(x for x in first.get("loc", ()) if x != "__root__")
        msg = str(first.get("msg", exc)).removeprefix("Value error, ")
        value = first.get("input")
        text = f"bad value {_describe(value)}: {msg}" if loc else msg
        raise RubricError(file, _yaml_path(where + loc), text) from None


def _split_path(path: str):
    # "items[3]" -> ("items", 3) so that nested schema errors get a full path
    out = []
    for chunk in path.replace("]", "").split("."):
        name, *idx = chunk.split("[")
        if name:
            out.append(name)
        out.extend(int(i) for i in idx)
    return out


def _notebook_rubric(file: Path, base: Execution, renames: dict | None = None) -> NotebookRubric:
    raw = extend.notebook_raw(file, renames)  # its own `extends` chain, then the assignment's renames
    stem = Path(raw["notebook"]).stem
    items = []
    seen = set()
    for i, item_raw in enumerate(raw["items"]):
        path = f"items[{i}]"
        item = _item(file, item_raw, path, default_part="code")
        if item.notebook_stem != stem:
            raise RubricError(file, f"{path}.id", f"item id {item.id!r} must start with the notebook stem {stem!r}.")
        if item.id in seen:
            raise RubricError(file, f"{path}.id", f"duplicate item id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return NotebookRubric(
        file=file,
        notebook=raw["notebook"],
        seed=int(raw.get("seed", 0)),
        execution=_execution(file, raw.get("execution"), base),
        items=tuple(items),
    )


# Keys of assignment.yaml that name files: relative to the file that declares them, so a
# rubric that `extends` another keeps the other's files (its notebook rubrics, res/, data).
def _absolute_paths(raw: dict, base: Path) -> dict:
    raw = dict(raw)
    if isinstance(raw.get("support_dir"), str):
        raw["support_dir"] = str((base / raw["support_dir"]).resolve())
    if isinstance(raw.get("files"), list):
        raw["files"] = [dict(f, rubric=str((base / f["rubric"]).resolve())) if isinstance(f, dict) and isinstance(f.get("rubric"), str) else f
                        for f in raw["files"]]
    if isinstance(raw.get("datasets"), list):
        raw["datasets"] = [dict(d, source=str((base / d["source"]).resolve())) if isinstance(d, dict) and isinstance(d.get("source"), str) else d
                           for d in raw["datasets"]]
    return raw


def _merge(base: dict, child: dict) -> dict:
    """child over base: mappings merge key by key (recursively), anything else (lists
    included: files, manual_items, ...) is replaced whole."""
    out = dict(base)
    for k, v in child.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def assignment_raw(file: Path, _seen: tuple = (), absolute: bool = False) -> dict:
    """assignment.yaml as one validated mapping. `extends: <rubric directory>` (relative to
    this file) starts from that rubric's assignment.yaml and overrides what this file sets:
    e.g. a test variant with shorter execution limits, or a semester that changes a
    deadline, grading the shipped items without copying them."""
    file = Path(file).resolve()
    if file in _seen:
        raise RubricError(file, "extends", "circular `extends`: " + " -> ".join(str(f) for f in (*_seen, file)))
    try:
        text = file.read_text(encoding="utf-8")
        head = yaml.safe_load(text)
    except (OSError, yaml.YAMLError):
        head = None
    if not (isinstance(head, dict) and "extends" in head):
        raw = load_yaml_validated(file, schema.ASSIGNMENT)
        return _absolute_paths(raw, file.parent) if absolute else raw
    ext = head["extends"]
    if not isinstance(ext, str) or not ext:
        raise RubricError(file, "extends", f"bad value {_describe(ext)}: expected the path of a rubric directory")
    base_file = (file.parent / ext).resolve()
    base_file = base_file / ASSIGNMENT_FILE if base_file.is_dir() else base_file
    if not base_file.is_file():
        raise RubricError(file, "extends", f"bad value {ext!r}: {base_file} does not exist (a rubric directory, relative to {file.parent})")
    base = assignment_raw(base_file, (*_seen, file), absolute=True)
    base, child = extend.extend_assignment(file, base, head)  # rename, override_items, remove_items, nulls
    child = _absolute_paths(child, file.parent)
    merged = _merge(base, child)
    validate(file, merged, schema.ASSIGNMENT)
    return merged


def extended_dirs(file: Path) -> tuple[Path, ...]:
    """The directories of the rubrics `file` extends, nearest first (already validated)."""
    out: list[Path] = []
    file = Path(file).resolve()
    while True:
        try:
            head = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            break
        if not (isinstance(head, dict) and isinstance(head.get("extends"), str)):
            break
        nxt = (file.parent / head["extends"]).resolve()
        nxt = nxt if nxt.is_dir() else nxt.parent
        if nxt in out:
            break
        out.append(nxt)
        file = nxt / ASSIGNMENT_FILE
    return tuple(out)


# Keys whose value alone is judged after the `extends` chain is merged: a bad one is named
# in the file of the chain that set it (grader.rubric.origins), not in the one being loaded.
VALUE_CHECKED_KEYS = ("timezone", "deadline", "support_dir", "datasets", "execution", "environment_errors")


def load_rubric(directory: str | Path) -> Rubric:
    try:
        return _load_rubric(directory)
    except RubricError as exc:
        raise _at_origin(exc, Path(directory)) from None


def _at_origin(exc: RubricError, directory: Path) -> RubricError:
    file = (directory.parent if directory.is_file() else directory).resolve() / ASSIGNMENT_FILE
    if Path(exc.file).resolve() != file or not exc.path or _split_path(exc.path)[0] not in VALUE_CHECKED_KEYS:
        return exc
    from grader.rubric.origins import assignment_origins

    origin = assignment_origins(file).of(tuple(_split_path(exc.path)))
    if origin is None or Path(origin).resolve() == file:
        return exc
    return RubricError(origin, exc.path, f"{exc.detail} (inherited by {file} through `extends`)")


def _load_rubric(directory: str | Path) -> Rubric:
    directory = Path(directory)
    if directory.is_file():
        directory = directory.parent
    file = directory / ASSIGNMENT_FILE
    if not file.exists():
        raise RubricError(file, "", f"no {ASSIGNMENT_FILE} in {directory}; pass --rubric rubrics/<assignment>")
    raw = assignment_raw(file)
    try:
        tz = zoneinfo.ZoneInfo(raw["timezone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise RubricError(file, "timezone", f"bad value {raw['timezone']!r}: not an IANA time zone such as 'America/New_York'") from None
    try:
        deadline = dt.datetime.fromisoformat(str(raw["deadline"]))
    except ValueError:
        raise RubricError(file, "deadline", f"bad value {raw['deadline']!r}: expected 'YYYY-MM-DDTHH:MM:SS'") from None
    deadline = deadline.replace(tzinfo=tz) if deadline.tzinfo is None else deadline
    base_exec = _execution(file, raw.get("execution"), DEFAULT_EXECUTION)
    files = tuple(FileSpec(f["name"], f["kind"], f.get("rubric")) for f in raw["files"])
    notebooks = []
    for i, spec in enumerate(files):
        if spec.kind != "notebook":
            continue
        if not spec.rubric:
            raise RubricError(file, f"files[{i}]", f"notebook {spec.name!r} needs a 'rubric' file")
        nb = _notebook_rubric((directory / spec.rubric).resolve(), base_exec, raw.get("rename"))
        if nb.notebook != spec.name:
            raise RubricError(directory / spec.rubric, "notebook", f"bad value {nb.notebook!r}: {file.name} lists this rubric for {spec.name!r}")
        notebooks.append(nb)
    _check_calibration(file, notebooks)
    manual = tuple(_item(file, m, f"manual_items[{i}]", default_part="theory") for i, m in enumerate(raw.get("manual_items", [])))
    ids = [it.id for nb in notebooks for it in nb.items] + [m.id for m in manual]
    dup = {x for x in ids if ids.count(x) > 1}
    if dup:
        raise RubricError(file, "manual_items", f"duplicate item ids across files: {sorted(dup)}")
    support = raw.get("support_dir")
    support_dir = (directory / support).resolve() if support else None
    if support_dir is not None and not support_dir.is_dir():
        raise RubricError(file, "support_dir", f"bad value {support!r}: {support_dir} is not a directory")
    pen = raw["penalties"]
    env_errors = []
    for i, e in enumerate(raw.get("environment_errors", [])):
        import re

        for k in ("ename", "evalue"):
            try:
                re.compile(e.get(k, ""))
            except re.error as exc:
                raise RubricError(file, f"environment_errors[{i}].{k}", f"bad regex {e.get(k)!r}: {exc}") from exc
        env_errors.append(EnvironmentError_(e["ename"], e.get("evalue", ""), e["reason"], e.get("later_cells", "judged")))
    rubric = Rubric(
        bases=extended_dirs(file),
        directory=directory.resolve(),
        assignment=raw["assignment"],
        title=raw["title"],
        semester=raw.get("semester", ""),
        deadline=deadline,
        timezone=raw["timezone"],
        netid_pattern=raw.get("netid_pattern", r"^[a-z]+[0-9]+$"),
        zip_pattern=raw.get("zip_name", "{netid}.zip"),
        files=files,
        ignore=tuple(raw.get("ignore", ["__MACOSX/", ".DS_Store", ".ipynb_checkpoints/"])),
        penalties=Penalties(
            naming_percent=pen["naming"],
            extra_files_percent=pen["extra_files"],
            late_percent=pen["late"]["percent"],
            late_grace_hours=pen["late"]["grace_hours"],
            not_executable_percent=pen["not_executable"],
        ),
        support_dir=support_dir,
        split=raw.get("split", {}),
        notebooks=tuple(notebooks),
        manual=manual,
        environment_errors=tuple(env_errors),
        environment=_student_env(raw.get("environment")),
        late_days=_typed_params(file, LateDays, raw["late_days"], ("late_days",)) if "late_days" in raw else None,
        lms=_typed_params(file, LmsSettings, raw["lms"], ("lms",)) if "lms" in raw else None,
        datasets=_datasets(file, raw.get("datasets", []), support_dir),
        extra_credit_cap=float(raw["extra_credit_cap"]) if "extra_credit_cap" in raw else None,
    )
    _check_split(file, rubric)
    import dataclasses

    from grader.rubric import gradescope

    settings, problem = gradescope.load(raw.get("gradescope"), rubric.items)
    if problem:
        where, why = problem.split(": ", 1)
        raise RubricError(file, where, why)
    return dataclasses.replace(rubric, gradescope=settings)


def _datasets(file: Path, raw: list, support_dir: Path | None) -> tuple[Dataset, ...]:
    """`datasets:` (already schema-checked): each source must exist now, each mount be a
    place the sandbox can offer (grader.offline.mount_problem), no name or place twice."""
    from grader.offline import mount_problem

    out, places = [], {}
    for i, d in enumerate(raw):
        where = f"datasets[{i}]"
        if any(o.name == d["name"] for o in out):
            raise RubricError(file, f"{where}.name", f"duplicate dataset name {d['name']!r}")
        source = (file.parent / d["source"]).resolve()
        if not source.is_dir():
            raise RubricError(file, f"{where}.source", f"bad value {d['source']!r}: {source} is not a directory "
                              f"(a dataset's folder, relative to {file.parent}; it must exist when the rubric is loaded)")
        for j, m in enumerate(d["mount"]):
            why = mount_problem(m)
            if why is None and support_dir is not None and m.split("/")[0] == support_dir.name:
                why = f"{support_dir.name!r} is where the rubric's support_dir is copied"
            clash = next((p for p in places if m == p or m.startswith(p + "/") or p.startswith(m + "/")), None)
            if why is None and clash is not None:
                why = f"dataset {places[clash]!r} is mounted at {clash!r} (mounts may not overlap)"
            if why is not None:
                raise RubricError(file, f"{where}.mount[{j}]", f"bad value {m!r}: {why}")
            places[m] = d["name"]
        out.append(Dataset(d["name"], source, tuple(d["mount"]), d.get("reason", "")))
    return tuple(out)


def _student_env(raw: dict | None):
    if not raw:
        return None
    from grader.studentenv import EnvSpec

    return EnvSpec(name=raw["name"], packages=tuple(raw["packages"]),
                   optional=tuple(tuple(g) for g in raw.get("optional", ())), python=raw.get("python"),
                   note=raw.get("note", ""))


def _check_split(file: Path, rubric: Rubric) -> None:
    if not rubric.split:
        return
    totals: dict[str, float] = {}
    for item in rubric.items:
        if item.extra_credit:  # above the maximum: not part of the split
            continue
        if item.part not in rubric.split:
            raise RubricError(file, "split", f"item {item.id!r} counts towards part {item.part!r}, which the split {dict(rubric.split)} does not name")
        totals[item.part] = totals.get(item.part, 0.0) + item.points
    for part, want in rubric.split.items():
        got = totals.get(part, 0.0)
        if abs(got - want) > 1e-9:
            raise RubricError(file, f"split.{part}", f"bad value {want}: the items of part {part!r} add up to {got:g} points")
