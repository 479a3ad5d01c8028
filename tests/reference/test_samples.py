"""The committed sample submissions are exactly what scripts/build_samples.py builds,
and each sample contains what its folder name promises."""
import io
import zipfile
from pathlib import Path

import nbformat
import pypdf
import torch

import build_samples  # scripts/ (pyproject's pytest pythonpath)
import samples_lib

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {"hw2_theory.pdf", "hw2_cnn.ipynb", "hw2_rnn.ipynb", "08-seq_classification.ipynb"}


def test_rebuild_is_byte_identical_to_the_committed_samples(tmp_path):
    built = build_samples.build_all(tmp_path)
    assert len(built) == len(build_samples.SAMPLES)
    for path in built:
        committed = ROOT / "submissions" / path.relative_to(tmp_path)
        assert committed.is_file(), f"{committed} missing: run python scripts/build_samples.py"
        assert path.read_bytes() == committed.read_bytes(), \
            f"{committed} is stale: run python scripts/build_samples.py"


def _zip(outcome):
    (path,) = (ROOT / "submissions" / outcome).glob("*.zip")
    return zipfile.ZipFile(path)


def test_netids_are_distinct_and_well_formed():
    import re
    netids = [netid for _, netid, _ in build_samples.SAMPLES]
    assert len(set(netids)) == len(netids)
    assert all(re.fullmatch(r"[a-z]+[0-9]+", n) for n in netids)


def test_normal_samples_hold_exactly_the_four_files_and_a_readable_pdf():
    for outcome in ("full_marks", "blank_starter", "partial", "section8_unfixed"):
        zf = _zip(outcome)
        assert set(zf.namelist()) == EXPECTED, outcome
        text = pypdf.PdfReader(io.BytesIO(zf.read("hw2_theory.pdf"))).pages[0].extract_text()
        assert "theory answers" in text


def test_shape_samples():
    assert set(_zip("misnamed_files").namelist()) == {
        "hm2_theory.pdf", "hw2_cnn.ipynb", "hw2_rnn.ipynb", "08_seq_classification.ipynb"}
    junk = _zip("macos_junk").namelist()
    assert EXPECTED <= set(junk) and ".DS_Store" in junk
    assert any(n.startswith("__MACOSX/") for n in junk)
    assert any(n.startswith(".ipynb_checkpoints/") for n in junk)
    nested = _zip("nested_folder").namelist()
    assert {"nf8007/" + n for n in EXPECTED} <= set(nested)


def _namespace(outcome, notebook, name):
    nb = nbformat.reads(_zip(outcome).read(notebook).decode(), as_version=4)
    ns = {"torch": torch}
    if notebook == "hw2_cnn.ipynb":
        exec(samples_lib.find_cell(nb, "as_float_tensor").source, ns)  # the given helper
    exec(samples_lib.find_cell(nb, name).source, ns)
    return ns[name]


def test_partial_sample_has_its_three_mistakes():
    shape = _namespace("partial", "hw2_cnn.ipynb", "conv_output_shape")
    assert shape(1, 10, 11, 3, 0, 2, 1, 1) == (1, 4, 5)  # right without dilation...
    assert shape(1, 10, 11, 3, 0, 1, 2, 1) != (1, 6, 7)  # ...wrong with it
    dldW = _namespace("partial", "hw2_cnn.ipynb", "conv1d_dldW")
    x, W = torch.randn(2, 7, dtype=torch.float64), torch.randn(1, 2, 3, dtype=torch.float64)
    from reference.cnn_theory import conv1d_dldW
    dl_df = torch.randn(1, 3, dtype=torch.float64)
    torch.testing.assert_close(dldW(x, W, 2, dl_df), -conv1d_dldW(x, W, 2, dl_df))
    adder = _namespace("partial", "hw2_rnn.ipynb", "binary_addition_rnn")()
    from reference.rnn_theory import simulate_binary_rnn
    assert simulate_binary_rnn(adder, [1, 0], [1, 0]) != [0, 1]


def test_section8_samples_use_the_original_procedure():
    for outcome in ("section8_unfixed", "section8_cosmetic_smoothing"):
        nb = nbformat.reads(_zip(outcome).read("08-seq_classification.ipynb").decode(), 4)
        source = samples_lib.find_cell(nb, "section8").source
        assert "lr=0.001)" in source and "clip_grad_norm" not in source
    nb = nbformat.reads(_zip("section8_cosmetic_smoothing").read(
        "08-seq_classification.ipynb").decode(), 4)
    assert "moving average" in samples_lib.find_cell(nb, "train_and_test").source
