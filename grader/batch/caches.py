"""What a batch keeps between runs besides the manifest, and what the plan says about it.

OUT/.batch/exec-cache/   notebook executions (grader/execute/cache.py), keyed by what
                         determines an execution: the prepared notebook, the limits, the
                         instrumentation, the support files, the student environment
OUT/.batch/probe-cache/  probe results (grader/probe/cache.py), keyed by the module source,
                         the calls and their inputs, the files, the isolation and the python
OUT/.batch/judge-cache/  values the checks compute from what the kernel exported (the
                         Section-8 curve: every snapshot evaluated by the reference model),
                         keyed by those exports, the reference code and the libraries
                         (grader/checks/_judged.py); never a verdict: thresholds apply anew
OUT/.batch/code-cache/   the normalized target code of each submission (similarity)
OUT/.batch/rubrics/      per rubric hash, the facts the plan compares (items, points,
                         parameters, execution fingerprints), to say why a job is regraded

A rubric change changes every job key, so everything is re-judged; the caches make that
cheap: a notebook runs again only when its execution key changed, an item is probed again
only when its probe's inputs changed, the Section-8 curve is evaluated again only when
its snapshots changed. `grader batch --clear-cache` empties them all.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

from grader.batch.manifest import atomic_write_bytes


def exec_dir(out_dir: Path) -> Path:
    return Path(out_dir) / ".batch" / "exec-cache"


def probe_dir(out_dir: Path) -> Path:
    return Path(out_dir) / ".batch" / "probe-cache"


def judge_dir(out_dir: Path) -> Path:
    """Values the checks computed from exports (grader/checks/_judged.py: the Section-8 curve)."""
    return Path(out_dir) / ".batch" / "judge-cache"


def code_dir(out_dir: Path) -> Path:
    """The normalized target code of each submission (similarity), by zip content and targets."""
    return Path(out_dir) / ".batch" / "code-cache"


def similarity_code_digest() -> str:
    """sha256 of the code that turns a notebook into the similarity's normalized target code:
    the similarity module, the extraction (grader/extract/) and the notebook reader."""
    from grader import extract
    from grader.batch import similarity
    from grader.intake import documents

    h = hashlib.sha256()
    files = [Path(similarity.__file__), Path(documents.__file__), *sorted(Path(extract.__file__).parent.glob("*.py"))]
    for f in files:
        h.update(f"\0{f.name}\0".encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def starter_code(out_dir: Path, rubric) -> dict[str, str]:
    """similarity.starter_code, kept in a batch's OUT/.batch/code-cache by the starter notebooks'
    content, the targets and the code that normalizes them: a regrade does not parse the
    starter again. A corrupted entry (not a {str: str} mapping) is computed again."""
    from grader.batch import similarity

    starter_dir = similarity.find_starter_dir(rubric)
    if starter_dir is None or not (Path(out_dir) / ".batch").is_dir():  # not a batch's OUT: nothing kept
        return similarity.starter_code(rubric, starter_dir)
    targets = similarity.targets_of(rubric)
    h = hashlib.sha256(json.dumps({"targets": targets, "code": similarity_code_digest()}, sort_keys=True).encode())
    for notebook in sorted(targets):
        path = Path(starter_dir) / notebook
        h.update(f"\0{notebook}\0".encode())
        h.update(path.read_bytes() if path.is_file() else b"<absent>")
    return cached_code(code_dir(out_dir) / f"starter-{h.hexdigest()}.json",
                       lambda: similarity.starter_code(rubric, starter_dir))


def cached_code(path: Path, compute) -> dict[str, str]:
    """The code-cache entry at `path` (a {str: str} mapping of normalized code), or
    compute() written there. An entry that is not such a mapping is computed again; a
    result carrying "__error__" (the code could not be read) is not kept."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            return data
    except (OSError, ValueError):
        pass
    code = compute()
    if "__error__" not in code:
        try:
            atomic_write_bytes(path, json.dumps(code, sort_keys=True).encode())
        except OSError:
            pass  # only costs the next run the parse
    return code


def clear(out_dir: Path) -> None:
    for d in (exec_dir(out_dir), probe_dir(out_dir), judge_dir(out_dir), code_dir(out_dir)):
        shutil.rmtree(d, ignore_errors=True)


def _digest(value) -> str:
    def default(o):
        if dataclasses.is_dataclass(o):
            return dataclasses.asdict(o)
        return str(o)

    return hashlib.sha256(json.dumps(value, sort_keys=True, default=default).encode()).hexdigest()[:16]


def execution_fingerprint(rubric, spec, isolation: str) -> str:
    """The rubric's share of a notebook's execution key (grader/execute/cache.key adds the
    notebook itself): equal fingerprints and an unchanged zip mean a cache hit."""
    from grader.execute.cache import tree_digest

    try:
        from grader.pipeline import _instrumentation

        instrumentation = _instrumentation(spec)
    except Exception as exc:  # the checks cannot be loaded here: the workers will say why
        instrumentation = f"unavailable: {type(exc).__name__}"
    return _digest({"execution": spec.execution, "instrumentation": instrumentation,
                    "support": tree_digest(rubric.support_dir), "environment": getattr(rubric, "environment", None),
                    "datasets": getattr(rubric, "datasets", ()), "isolation": isolation})


def rubric_facts(rubric, isolation: str, version: str) -> dict:
    items = {}
    for spec in rubric.notebooks:
        for item in spec.items:
            items[item.id] = {"notebook": spec.notebook, "points": item.points, "kind": item.kind,
                              "params": {k: _digest(v) for k, v in dict(item.params).items()},
                              "text": _digest([item.title, item.feedback, item.visibility, item.part, item.target])}
    for item in rubric.manual:
        items[item.id] = {"notebook": None, "points": item.points, "kind": item.kind, "params": {},
                          "text": _digest([item.title, item.feedback, item.visibility, item.part])}
    return {"version": version, "items": items,
            "execution": {spec.notebook: execution_fingerprint(rubric, spec, isolation) for spec in rubric.notebooks}}


def save_facts(state_dir: Path, digest: str, facts: dict) -> None:
    path = Path(state_dir) / "rubrics" / f"{digest}.json"
    try:
        if not path.exists():
            atomic_write_bytes(path, (json.dumps(facts, sort_keys=True) + "\n").encode())
    except OSError:
        pass  # only the plan's explanations need it


def load_facts(state_dir: Path, digest: str) -> dict | None:
    try:
        facts = json.loads((Path(state_dir) / "rubrics" / f"{digest}.json").read_text())
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) and isinstance(facts.get("items"), dict) else None


def previous_gradings(manifest) -> dict:
    """(zip sha256, zip name) -> the last manifest record of a graded job for that zip."""
    out = {}
    for rec in manifest.records():
        if rec.get("status") == "graded" and rec.get("zip_sha256"):
            out[(rec["zip_sha256"], rec.get("name", ""))] = rec
    return out


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def changes(old: dict, new: dict) -> tuple[list[str], list[str]]:
    """(what changed that only needs re-judging, notebooks whose execution changed)."""
    judged: list[str] = []
    oi, ni = old.get("items", {}), new.get("items", {})
    thresholds, cases, points, text = [], [], [], []
    for iid in sorted(set(oi) & set(ni)):
        a, b = oi[iid], ni[iid]
        if a.get("points") != b.get("points"):
            points.append(iid)
        changed = {k for k in set(a.get("params", {})) | set(b.get("params", {}))
                   if a.get("params", {}).get(k) != b.get("params", {}).get(k)}
        if a.get("kind") != b.get("kind"):
            changed.add("kind")
        if changed & {"cases", "kind"}:
            cases.append(iid)
        elif changed:
            thresholds.append(iid)
        if a.get("text") != b.get("text"):
            text.append(iid)
    if thresholds:
        judged.append(f"the thresholds of {_count(len(thresholds), 'item')}")
    if points:
        judged.append(f"the points of {_count(len(points), 'item')}")
    if cases:
        judged.append(f"the cases of {_count(len(cases), 'item')}")
    if text:
        judged.append(f"the wording of {_count(len(text), 'item')}")
    added, removed = sorted(set(ni) - set(oi)), sorted(set(oi) - set(ni))
    if added:
        judged.append("new items (" + ", ".join(added[:3]) + (", ..." if len(added) > 3 else "") + ")")
    if removed:
        judged.append("removed items (" + ", ".join(removed[:3]) + (", ..." if len(removed) > 3 else "") + ")")
    if old.get("version") != new.get("version"):
        judged.append("the grader's code")
    oe, ne = old.get("execution", {}), new.get("execution", {})
    executed = sorted(nb for nb in ne if oe.get(nb) != ne[nb])
    return judged, executed


def why_grade(job, same_key, previous: dict, facts: dict, state_dir: Path, cache_on: bool) -> tuple[str, str]:
    """(reason, explanation) for a job the plan grades: new | retry | rejudge | reexecute."""
    if same_key is not None and same_key.status == "crashed":
        return "retry", "the grader failed on it last time"
    prev = previous.get((job.sha256, job.name))
    if prev is None:
        return "new", "not graded before"
    old = load_facts(state_dir, prev.get("rubric_hash", ""))
    if old is None:
        return "reexecute", "graded before, with a rubric this batch has no record of"
    judged, executed = changes(old, facts)
    if not cache_on:
        return "reexecute", "the caches are off (--no-cache)"
    if executed:
        return "reexecute", "the execution of " + ", ".join(executed) + " changed (limits, instrumentation, support files or environment)"
    if not judged:
        judged = ["other rubric files"]
    return "rejudge", "only " + " and ".join(judged) + " changed"


def describe_plan(decisions, cache_on: bool) -> str:
    """One line: what the batch will do, and why."""
    from collections import Counter

    n = Counter(d.reason for d in decisions)
    parts = [f"{len(decisions)} submissions: {n['rejudge']} to re-judge, {n['reexecute']} to re-execute, {n['new']} new"]
    if n["retry"]:
        parts.append(f"{n['retry']} to retry")
    if n["unchanged"]:
        parts.append(f"{n['unchanged']} unchanged")
    if n["held"]:
        parts.append(f"{n['held']} held for a TA (NetID clash)")
    whys = Counter(d.why for d in decisions if d.reason in ("rejudge", "reexecute"))
    line = ", ".join(parts)
    if whys:
        line += ": " + "; ".join(w for w, _ in whys.most_common(3))
    if not cache_on:
        line += " (caches off: every graded submission is executed)"
    return line
