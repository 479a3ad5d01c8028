"""Course datasets mounted for the notebooks (`datasets:` in a rubric, grader/offline.py),
the generated cats-vs-dogs stand-in, and network-only code as an environment finding."""
import dataclasses
import hashlib
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from factories import FIXTURES, ROOT, make_nb, make_zip

from grader import offline, score
from grader.errors import RubricError
from grader.execute.prepare import prepare
from grader.model import CellOutcome, NotebookRun
from grader.rubric import load_rubric

DS_RUBRIC = FIXTURES / "datasets_rubric"
STAND_IN = ROOT / "reference" / "lab" / "data" / "cats_and_dogs_filtered"
GENERATOR = ROOT / "reference" / "lab" / "data" / "make_cats_dogs.py"
NAME = "cats_and_dogs_filtered"


def _rubric_copy(tmp_path, **dataset_override):
    """The fixture rubric copied to tmp_path with its dataset entry changed."""
    d = tmp_path / "rubric"
    shutil.copytree(DS_RUBRIC, d)
    data = yaml.safe_load((d / "assignment.yaml").read_text())
    data["datasets"][0]["source"] = str(STAND_IN)
    data["datasets"][0].update(dataset_override)
    (d / "assignment.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return d


# -- the rubric key ------------------------------------------------------------------------

def test_datasets_load_with_resolved_source():
    r = load_rubric(DS_RUBRIC)
    (ds,) = r.datasets
    assert ds.name == NAME and ds.source == STAND_IN.resolve() and ds.source.is_dir()
    assert ds.mount == (NAME, f"/content/{NAME}")
    hw2 = load_rubric(ROOT / "rubrics" / "hw2-original")
    assert [d.mount for d in hw2.datasets] == [(NAME, f"/content/{NAME}")]
    assert hw2.datasets[0].source == STAND_IN.resolve()


def test_missing_source_is_a_located_error(tmp_path):
    d = _rubric_copy(tmp_path, source="../no/such/data")
    with pytest.raises(RubricError) as exc:
        load_rubric(d)
    text = str(exc.value)
    assert str(d / "assignment.yaml") in text and "datasets[0].source" in text
    assert "'../no/such/data'" in text and "is not a directory" in text and "must exist" in text


@pytest.mark.parametrize("mount, why", [
    ("../escape", "without '.', '..'"),
    ("a//b", "empty components"),
    ("/usr/share/cats", "system location"),
    ("/tmp", "system location"),
    (".home/data", "grader's own place"),
    ("__grader_exports__/x", "grader's own place"),
])
def test_bad_mounts_are_located_errors(tmp_path, mount, why):
    d = _rubric_copy(tmp_path, mount=[NAME, mount])
    with pytest.raises(RubricError) as exc:
        load_rubric(d)
    assert "datasets[0].mount[1]" in str(exc.value) and why in str(exc.value)


def test_overlapping_mounts_and_unknown_keys_fail_at_load(tmp_path):
    with pytest.raises(RubricError, match=r"datasets\[0\]\.mount\[1\].*may not overlap"):
        load_rubric(_rubric_copy(tmp_path / "a", mount=[NAME, f"{NAME}/train"]))
    with pytest.raises(RubricError, match=r"datasets\[0\].*unknown key\(s\) 'mounts'"):
        load_rubric(_rubric_copy(tmp_path / "b", mounts=["x"]))


# -- the download lines and their notes -----------------------------------------------------

COLAB_CELL = "\n".join([
    "!wget -q https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",
    "!unzip -q cats_and_dogs_filtered.zip",
    "!wget -q https://example.org/other.zip",
    "urllib.request.urlretrieve(URL, '/content/cats_and_dogs_filtered.zip')",
    "train_dir = 'cats_and_dogs_filtered/train'",
])


def _notes(mode):
    r = load_rubric(DS_RUBRIC)
    nb = nbformat.reads(make_nb(COLAB_CELL), as_version=4)
    rules = offline.skip_rules(r.datasets, mode) + tuple(r.notebooks[0].execution.skip_cells)
    out, notes = prepare(nb, rules)
    return out.cells[0].source.splitlines(), notes[0].note


def test_download_lines_say_where_the_grader_provides_the_data():
    lines, note = _notes("bwrap")
    where = ("the course's dataset cats_and_dogs_filtered is provided read-only by the grader at "
             "./cats_and_dogs_filtered and /content/cats_and_dogs_filtered")
    assert f"skipped `!unzip -q cats_and_dogs_filtered.zip`: {where}" in note
    assert f"skipped `!wget -q https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zi`: {where}" in note
    # a download of something else keeps the generic note; Python lines naming it too
    assert "skipped `!wget -q https://example.org/other.zip`: downloads files (no network" in note
    assert f"skipped `urllib.request.urlretrieve(URL, '/content/cats_and_dogs_filtered.zip')`: {where}" in note
    assert lines[:4] == ["pass  # [grader] skipped: " + where] * 2 + [lines[2]] + ["pass  # [grader] skipped: " + where]
    assert lines[4] == "train_dir = 'cats_and_dogs_filtered/train'"  # code that reads it still runs


def test_weaker_isolation_notes_say_copy_and_unavailable():
    _lines, note = _notes("rlimits")
    assert ("provided by the grader at ./cats_and_dogs_filtered (a writable copy: isolation 'rlimits' cannot "
            "mount it read-only); /content/cats_and_dogs_filtered needs bubblewrap isolation and is not available") in note
    env = offline.describe(load_rubric(DS_RUBRIC).datasets, "rlimits")
    assert [m["how"][:13] for m in env[0]["mounts"]] == ["writable copy", "unavailable ("]


def test_mount_binds_under_bwrap_and_copies_otherwise(tmp_path):
    (ds,) = load_rubric(DS_RUBRIC).datasets
    w = tmp_path / "w"
    m = offline.mount((ds,), w, "bwrap")
    assert m.binds == ((str(ds.source), str(w / NAME)), (str(ds.source), f"/content/{NAME}"))
    assert (w / NAME).is_dir() and not any((w / NAME).iterdir())  # an empty mount point
    w2 = tmp_path / "w2"
    m2 = offline.mount((ds,), w2, "rlimits")
    assert m2.binds == () and len(list((w2 / NAME / "train" / "cats").iterdir())) == 20
    assert m.digest != m2.digest != offline.mount((), w, "bwrap").digest


def test_cache_key_digest_follows_the_data(tmp_path):
    src = tmp_path / NAME
    shutil.copytree(STAND_IN, src)
    ds = dataclasses.replace(load_rubric(DS_RUBRIC).datasets[0], source=src)
    before = offline.mount((ds,), tmp_path / "a", "bwrap").digest
    assert offline.mount((ds,), tmp_path / "b", "bwrap").digest == before  # not the work dir's path
    (src / "train" / "cats" / "cat.0.jpg").write_bytes(b"changed")
    assert offline.mount((ds,), tmp_path / "c", "bwrap").digest != before


# -- network-only code -----------------------------------------------------------------------

# What a failing download raised in the bwrap sandbox (measured with a real kernel).
MEASURED = [
    ("RuntimeError", "It looks like there is no internet connection and the repo could not be found in the cache "
                     "(/tmp/j/x-data/w/.cache/torch/hub)"),
    ("URLError", "<urlopen error [Errno -3] Temporary failure in name resolution>"),
    ("URLError", "<urlopen error [Errno -2] Name or service not known>"),  # rlimits mode
    ("OSError", "[Errno 101] Network is unreachable"),
]


def _run(*cells):
    return NotebookRun("hw2_cnn.ipynb", "cell_errors", False, 1.0, 12,
                       tuple(CellOutcome(i, "error", 0.1, e, v) for i, e, v in cells))


@pytest.mark.parametrize("ename, evalue", MEASURED)
def test_failed_downloads_are_environment_findings(ename, evalue):
    rubric = load_rubric(ROOT / "rubrics" / "hw2-original")
    nb = nbformat.reads(make_nb("import torch", "model = torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)",
                                "model.eval()"), as_version=4)
    run = _run((1, ename, evalue), (2, "NameError", "name 'model' is not defined"))
    assert score.not_executable_reasons([run], rubric, {"hw2_cnn.ipynb": nb}) == []
    (text,) = score.environment_errors([run], rubric, {"hw2_cnn.ipynb": nb})
    assert "cell 1 raised" in text and "needs the network (torch.hub / a download): the grader has none" in text
    assert "cell 1 fetches from the network: `model = torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)`" in text
    # the NameError on what the cell would have defined is a consequence; other errors are judged
    other = _run((1, ename, evalue), (2, "ZeroDivisionError", "division by zero"))
    assert score.not_executable_reasons([other], rubric, {"hw2_cnn.ipynb": nb})


def test_network_calls_are_read_from_the_code():
    assert offline.network_calls("m = torchvision.models.resnet18(pretrained=True)") == [
        "`m = torchvision.models.resnet18(pretrained=True)`"]
    assert offline.network_calls("net = get(urlopen (u))") == ["`net = get(urlopen (u))` (urllib)"]
    assert offline.network_calls("m = models.resnet18(weights=ResNet18_Weights.DEFAULT)")
    assert offline.network_calls("m = models.resnet18(weights=None)") == []
    assert offline.network_calls("weights = model.fc.weight  # pretrained=True") == []
    assert offline.network_calls("sd = torch.hub.load_state_dict_from_url(URL)")


# -- the generated stand-in ------------------------------------------------------------------

def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_stand_in_rebuilds_byte_identically(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_cats_dogs", GENERATOR)
    make_cats_dogs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_cats_dogs)
    built = make_cats_dogs.build(tmp_path)
    committed = _files(STAND_IN)
    assert _files(built) == committed, "rebuild with: python reference/lab/data/make_cats_dogs.py"
    counts = {f"{split}/{cls}": sum(1 for k in committed if k.startswith(f"{split}/{cls}/")) for split in ("train", "validation")
              for cls in ("cats", "dogs")}
    assert counts == {"train/cats": 20, "train/dogs": 20, "validation/cats": 10, "validation/dogs": 10}
    assert "train/cats/cat.0.jpg" in committed and "validation/dogs/dog.2009.jpg" in committed
    assert sum(p.stat().st_size for p in STAND_IN.rglob("*.jpg")) < 300_000


def test_stand_in_is_real_jpegs_of_two_separable_classes():
    import numpy as np
    from PIL import Image

    means = {}
    for cls in ("cats", "dogs"):
        imgs = [Image.open(p) for p in sorted(STAND_IN.glob(f"*/{cls}/*.jpg"))]
        assert len(imgs) == 30 and all(im.format == "JPEG" and im.size == (64, 64) for im in imgs)
        means[cls] = np.array([np.asarray(im.convert("RGB"), dtype=float).mean(axis=(0, 1)) for im in imgs])
    # warm vs cool: red minus blue separates every picture
    assert (means["cats"][:, 0] - means["cats"][:, 2]).min() > 40
    assert (means["dogs"][:, 0] - means["dogs"][:, 2]).max() < -20


# -- end to end: a real kernel in the sandbox --------------------------------------------------

LIST = """
import os
rel = sorted(os.listdir('cats_and_dogs_filtered/train/cats'))
absolute = sorted(os.listdir('/content/cats_and_dogs_filtered/train/cats'))
if rel != absolute or len(rel) != 20 or rel[0] != 'cat.0.jpg':
    raise RuntimeError(f'listing differs: {rel[:3]} {absolute[:3]}')
"""
WRITE = """
import errno
for path in ('cats_and_dogs_filtered/train/cats/new.jpg', '/content/cats_and_dogs_filtered/new.txt'):
    try:
        open(path, 'wb').close()
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
    else:
        raise RuntimeError('wrote into the dataset: ' + path)
"""
# hidden places are empty tmpfs folders inside the sandbox: nothing of the source shows
HIDDEN = "import os\nif os.path.exists({src!r} + '/train') or os.path.isdir({src!r}) and os.listdir({src!r}):\n    raise RuntimeError('the grader-side dataset is visible')"
HUB = "import torch\nmodel = torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)"


def _grade(tmp_path, cells, isolation):
    from grader.pipeline import Env, grade

    rubric = load_rubric(DS_RUBRIC)
    # the shipped rubric's environment-error rules, against what the sandbox really raises
    rubric = dataclasses.replace(rubric, environment_errors=load_rubric(ROOT / "rubrics" / "hw2-original").environment_errors)
    z = make_zip(tmp_path / "ab1234.zip", {"data.ipynb": make_nb(*cells)})
    return grade(z, Env(rubric=rubric, out_dir=tmp_path / "out", isolation=isolation)).to_dict()


@pytest.mark.slow
def test_dataset_mounted_read_only_and_download_is_an_environment_finding(tmp_path):
    from grader.sandbox import detect_isolation

    if shutil.which("bwrap") is None or detect_isolation("bwrap").mode != "bwrap":
        pytest.skip("bubblewrap unavailable: read-only mounts (and /content) need bwrap isolation")
    cells = [COLAB_CELL.split("\n", 2)[0] + "\n!unzip -q cats_and_dogs_filtered.zip", LIST, WRITE,
             HIDDEN.format(src=str(STAND_IN.resolve())), HUB, "model.eval()", "def count():\n    return 42"]
    r = _grade(tmp_path, cells, "bwrap")
    (nb,) = r["notebooks"]
    errors = {c["index"]: (c["ename"], c["evalue"]) for c in nb["cells"] if c["status"] == "error"}
    # only the download and its consequence failed: both mounts listed, writes refused, source hidden
    assert set(errors) == {4, 5}, errors
    assert errors[4][0] == "RuntimeError" and "no internet connection" in errors[4][1]
    assert errors[5] == ("NameError", "name 'model' is not defined")
    note = next(c["note"] for c in nb["cells"] if c["status"] == "skipped")
    assert note.count("provided read-only by the grader at ./cats_and_dogs_filtered and /content/cats_and_dogs_filtered") == 2
    assert r["penalties"] == [] and r["score"] == 10
    (finding,) = [f["message"] for f in r["findings"] if f["code"] == "environment_error"]
    assert "cell 4 raised RuntimeError" in finding and "needs the network (torch.hub / a download)" in finding
    assert "cell 4 fetches from the network: `model = torch.hub.load(" in finding and "cell(s) 5 failed only because of it" in finding
    (ds,) = r["environment"]["datasets"]
    assert ds["name"] == NAME and [m["how"] for m in ds["mounts"]] == ["read-only bind"] * 2


@pytest.mark.slow
def test_weaker_isolation_copies_the_dataset_and_has_no_absolute_mount(tmp_path):
    rel_only = "import os\nn = len(os.listdir('cats_and_dogs_filtered/validation/dogs'))\nif n != 10:\n    raise RuntimeError(n)"
    r = _grade(tmp_path, ["!unzip -q cats_and_dogs_filtered.zip", rel_only, "import os\nos.listdir('/content/cats_and_dogs_filtered')",
                          "def count():\n    return 42"], "rlimits")
    (nb,) = r["notebooks"]
    errors = {c["index"]: c["ename"] for c in nb["cells"] if c["status"] == "error"}
    assert errors == {2: "FileNotFoundError"}
    assert "a writable copy: isolation 'rlimits'" in nb["cells"][0]["note"]
    assert "/content/cats_and_dogs_filtered needs bubblewrap isolation" in nb["cells"][0]["note"]
    assert [m["how"].split(" ")[0] for m in r["environment"]["datasets"][0]["mounts"]] == ["writable", "unavailable"]


def test_parents_of_an_absolute_mount_are_traversable():
    # bwrap would create /content itself with mode 0700: the sandbox uid could not reach the data
    from grader.sandbox import bwrap

    cmd = bwrap.command(["true"], uid=60000, workdir=Path("/tmp/j/x/w"), cwd=Path("/tmp/j/x/w"),
                        readonly_binds=((STAND_IN, Path(f"/content/{NAME}")),), hidden=[])
    i = cmd.index("/content")
    assert cmd[i - 3:i + 1] == ["--perms", "0755", "--dir", "/content"]
    assert cmd.index(f"/content/{NAME}") > i
