"""`grader validate rubrics/<assignment>`: the rubric's promises, checked like CI checks code.

1. the reference solution scores full marks on every automatic item, with no penalty;
2. the blank starter scores the floor (0) on every automatic item;
3. every mutant of the reference (a typical mistake, declared in the rubric directory's
   mutants.yaml) is caught: each item it names loses points.
Items that no mutant catches are reported as weak checks. Exit status: 0 when every
promise holds, 1 when one breaks. A JUnit file records each promise as a test case.
"""
from __future__ import annotations

import io
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import nbformat

from grader.checks.registry import graded_by_ta
from grader.errors import RubricError
from grader.nbedit import EditError, edit_cell_source
from grader.rubric import load_rubric, load_yaml_validated
from grader.rubric.model import Rubric

MUTANTS_FILE = "mutants.yaml"
ZIP_DATE = (2026, 2, 27, 12, 0, 0)

MUTANTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "reference", "starter"],
    "properties": {
        "schema": {"const": 1},
        # a variant's mutants: those of another rubric's mutants.yaml (the rubric's file
        # renames applied), less the ids in `remove`, plus this file's `mutants`
        "extends": {"type": "string", "minLength": 1},
        "remove": {"type": "array", "items": {"type": "string"}},
        "reference": {"type": "string"},
        "starter": {"type": "string"},
        "mutants": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "notebook", "cell", "edits", "kills"],
                "properties": {
                    "id": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+$"},
                    "description": {"type": "string"},
                    "notebook": {"type": "string"},
                    "cell": {"type": "string"},
                    "edits": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "additionalProperties": False, "required": ["old", "new"],
                        "properties": {"old": {"type": "string", "minLength": 1}, "new": {"type": "string"},
                                       "count": {"type": "integer", "minimum": 1}}}},
                    "kills": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "execute": {"type": "boolean"},
                },
            },
        },
    },
}


@dataclass
class Promise:
    name: str
    ok: bool
    detail: str
    seconds: float = 0.0


@dataclass
class Validation:
    rubric: Rubric
    promises: list[Promise] = field(default_factory=list)
    weak_items: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.promises)


def small_pdf(text: str = "validation") -> bytes:
    """A tiny, deterministic, readable PDF (for validation zips and the tests)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 2))
    fig.text(0.1, 0.5, text)
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", metadata={"CreationDate": None})
    plt.close(fig)
    return buf.getvalue()


# NetIDs tried for the synthetic submissions, first match of the rubric's netid_pattern wins.
_NETID_CANDIDATES = ("ab1234", "abc123", "ref001", "a1", "ref", "1234", "reference", "ref_001", "ref-001")


def validation_netid(rubric: Rubric) -> str:
    """A NetID the rubric accepts, so that the naming rule does not cost the reference points."""
    import re

    pattern = re.compile(rubric.netid_pattern)
    for cand in _NETID_CANDIDATES:
        if pattern.fullmatch(cand):
            return cand
    raise RubricError(Path(rubric.directory) / "assignment.yaml", "netid_pattern",
                      f"bad value {rubric.netid_pattern!r}: `grader validate` found no NetID it accepts "
                      f"among {list(_NETID_CANDIDATES)}; use a pattern one of them matches")


def _zip(path: Path, rubric: Rubric, notebooks: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for spec in rubric.files:
            data = small_pdf() if spec.kind == "pdf" else notebooks.get(spec.name)
            if data is not None:
                zf.writestr(zipfile.ZipInfo(spec.name, date_time=ZIP_DATE), data)
    return path


def load_mutants(mfile: Path, renames: dict | None = None, _seen: tuple = ()) -> dict:
    """mutants.yaml with its `extends` chain resolved and the rubric's renames applied
    (grader/rubric/extend.py: hw2_cnn.ipynb -> hw3_cnn.ipynb, hw2_cnn.CNN -> hw3_cnn.CNN)."""
    from grader.rubric.extend import rename_id, stem_map

    mfile = Path(mfile).resolve()
    spec = load_yaml_validated(mfile, MUTANTS_SCHEMA)
    mutants = []
    if "extends" in spec:
        base_file = (mfile.parent / spec["extends"]).resolve()
        if not base_file.is_file() or base_file in _seen or base_file == mfile:
            raise RubricError(mfile, "extends", f"bad value {spec['extends']!r}: expected another mutants file, relative to {mfile.parent}")
        mutants = load_mutants(base_file, None, (*_seen, mfile))["mutants"]
        remove = spec.get("remove", [])
        unknown = sorted(set(remove) - {m["id"] for m in mutants})
        if unknown:
            raise RubricError(mfile, "remove", f"bad value {unknown}: not mutants of {base_file}")
        mutants = [m for m in mutants if m["id"] not in remove]
    elif "remove" in spec:
        raise RubricError(mfile, "remove", "`remove` drops mutants of the file named by `extends`, which is missing")
    mutants += spec.get("mutants", [])
    renames = renames or {}
    stems = stem_map(renames)
    mutants = [dict(m, notebook=renames.get(m["notebook"], m["notebook"]), kills=[rename_id(k, stems) for k in m["kills"]])
               for m in mutants]
    return dict(spec, mutants=mutants)


def _auto_items(report: dict) -> list[dict]:
    return [i for i in report["items"] if not graded_by_ta(i["kind"])]


def validate(rubric_dir: Path, out_dir: Path | None = None, *, full_runs: bool = True, isolation: str = "auto",
             exec_cache: Path | None = None, log=print) -> Validation:
    from grader.pipeline import Env, grade

    rubric = load_rubric(rubric_dir)
    mfile = rubric.directory / MUTANTS_FILE
    if not mfile.exists():
        raise RubricError(mfile, "", f"no {MUTANTS_FILE}: `grader validate` needs the reference, the starter and the mutants")
    from grader.rubric.load import assignment_raw

    spec = load_mutants(mfile, assignment_raw(rubric.directory / "assignment.yaml").get("rename"))
    ref_dir = (rubric.directory / spec["reference"]).resolve()
    starter_dir = (rubric.directory / spec["starter"]).resolve()
    nb_names = [nb.notebook for nb in rubric.notebooks]
    for d, what in ((ref_dir, "reference"), (starter_dir, "starter")):
        for name in nb_names:
            if not (d / name).exists():
                raise RubricError(mfile, what, f"{d / name} does not exist")
    auto_ids = {i.id for i in rubric.items if not i.by_ta}
    for i, m in enumerate(spec["mutants"]):
        unknown = set(m["kills"]) - auto_ids
        if unknown:
            raise RubricError(mfile, f"mutants[{i}].kills", f"bad value {sorted(unknown)}: not automatic items of the rubric")
        if m["notebook"] not in nb_names:
            raise RubricError(mfile, f"mutants[{i}].notebook", f"bad value {m['notebook']!r}: the rubric's notebooks are {nb_names}")
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="grader-validate-"))
    work = out_dir / "zips"
    work.mkdir(parents=True, exist_ok=True)
    result = Validation(rubric)
    cache: dict = {}
    netid = validation_netid(rubric)

    def run(name: str, notebooks: dict[str, bytes], execute: bool, only: tuple[str, ...] | None = None) -> dict:
        # each run its own folder, the zip named as the course's rule wants it
        z = _zip(work / name / rubric.zip_pattern.format(netid=netid), rubric, notebooks)
        env = Env(rubric=rubric, out_dir=out_dir / "reports" / name, isolation=isolation, execute=execute,
                  submitted_at=rubric.deadline, reference_cache=cache, only_notebooks=only, exec_cache=exec_cache)
        return grade(z, env).to_dict()

    ref_nbs = {n: (ref_dir / n).read_bytes() for n in nb_names}
    if full_runs:
        for label, nbs, want_full in (("reference", ref_nbs, True),
                                      ("starter", {n: (starter_dir / n).read_bytes() for n in nb_names}, False)):
            t0 = time.monotonic()
            rep = run(label, nbs, True)
            items = _auto_items(rep)
            if want_full:
                bad = [f"{i['id']} {i['score']:g}/{i['max_score']:g} ({i['status']})" for i in items if i["score"] < i["max_score"]]
                if rep["penalties"]:
                    bad += [f"penalty {p['rule']}: {p['reason']}" for p in rep["penalties"]]
                detail = "all automatic items at full marks" if not bad else "not full marks: " + "; ".join(bad)
            else:
                bad = [f"{i['id']} {i['score']:g}/{i['max_score']:g}" for i in items if i["score"] > 0]
                detail = "every automatic item scores 0" if not bad else "above the floor: " + "; ".join(bad)
            result.promises.append(Promise(f"{label} scores {'full marks' if want_full else 'the floor'}", not bad, detail,
                                           round(time.monotonic() - t0, 1)))
            log(("ok   " if not bad else "FAIL ") + result.promises[-1].name + f" ({detail[:200]})")
    killed: set[str] = set()
    for m in spec["mutants"]:
        t0 = time.monotonic()
        nb = nbformat.reads(ref_nbs[m["notebook"]].decode("utf-8"), as_version=4)
        try:
            for e in m["edits"]:
                nb = edit_cell_source(nb, m["cell"], e["old"], e["new"], e.get("count", 1))
        except EditError as exc:
            result.promises.append(Promise(f"mutant {m['id']} applies", False, f"stale mutant: {exc}"))
            log(f"FAIL mutant {m['id']}: stale: {exc}")
            continue
        nbs = dict(ref_nbs)
        nbs[m["notebook"]] = (nbformat.writes(nb) + "\n").encode()
        rep = run(f"mutant-{m['id']}", nbs, bool(m.get("execute", False)), only=(m["notebook"],))
        items = {i["id"]: i for i in rep["items"]}
        survived = [k for k in m["kills"] if items[k]["score"] >= items[k]["max_score"]]
        for i in _auto_items(rep):
            if i["status"] != "skipped" and i["score"] < i["max_score"]:
                killed.add(i["id"])
        detail = ("caught by " + ", ".join(f"{k} ({items[k]['score']:g}/{items[k]['max_score']:g})" for k in m["kills"])
                  if not survived else f"NOT caught by {', '.join(survived)}: the check is too weak for this mistake")
        result.promises.append(Promise(f"mutant {m['id']} is caught", not survived, detail, round(time.monotonic() - t0, 1)))
        log(("ok   " if not survived else "FAIL ") + f"mutant {m['id']}: {detail}")
    result.weak_items = sorted(auto_ids - killed)
    for w in result.weak_items:
        log(f"weak {w}: no mutant makes it fail; add a mutant to mutants.yaml")
    return result


def junit_xml(v: Validation) -> bytes:
    suite = ET.Element("testsuite", name=f"grader validate {v.rubric.assignment}", tests=str(len(v.promises) + len(v.weak_items)),
                       failures=str(sum(not p.ok for p in v.promises)), skipped=str(len(v.weak_items)))
    for p in v.promises:
        case = ET.SubElement(suite, "testcase", classname=f"validate.{v.rubric.assignment}", name=p.name, time=f"{p.seconds:.1f}")
        if not p.ok:
            ET.SubElement(case, "failure", message=p.detail[:500]).text = p.detail
    for w in v.weak_items:
        case = ET.SubElement(suite, "testcase", classname=f"validate.{v.rubric.assignment}.weak", name=w)
        ET.SubElement(case, "skipped", message="no mutant makes this item fail (weak check)")
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)
