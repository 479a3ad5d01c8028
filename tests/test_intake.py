"""Intake: safe unzip, file location, naming and late rules, document checks."""
import datetime as dt
import stat
import zipfile
from pathlib import Path

import pytest

from factories import GOOD_MINI, make_nb, make_zip, mini_files, pdf_bytes
from grader.intake import intake, netid_from_zip_name, read_notebook
from grader.intake.documents import check_pdf
from grader.intake.unzip import ZipUnreadable, unpack


def codes(sub):
    return {f.code for f in sub.findings}


def test_complete_flat_zip(tmp_path, mini_rubric):
    z = make_zip(tmp_path / "ab1234.zip", mini_files())
    sub = intake(z, mini_rubric, tmp_path / "job")
    assert sub.netid == "ab1234" and sub.accepted
    assert set(sub.files) == {"mini_theory.pdf", "mini.ipynb", "other.ipynb"}
    assert all(f.exact for f in sub.files.values())
    assert sub.penalties == ()
    assert sub.submitted_at == dt.datetime(2026, 2, 27, 12, tzinfo=mini_rubric.deadline.tzinfo)
    assert sub.submitted_at_source.startswith("newest file time in the zip")
    assert "pdf_ok" in codes(sub)


def test_top_folder_and_macos_junk_are_fine(tmp_path, mini_rubric):
    files = {f"ab1234/{k}": v for k, v in mini_files().items()}
    files.update({"__MACOSX/ab1234/._mini.ipynb": b"junk", "ab1234/.DS_Store": b"junk",
                  "ab1234/.ipynb_checkpoints/mini-checkpoint.ipynb": GOOD_MINI})
    sub = intake(make_zip(tmp_path / "ab1234.zip", files), mini_rubric, tmp_path / "job")
    assert sub.penalties == ()
    assert {"junk_ignored", "top_folder"} <= codes(sub)
    assert sub.files["mini.ipynb"].name_in_zip == "ab1234/mini.ipynb"


def test_misnamed_notebook_is_found_and_penalized(tmp_path, mini_rubric):
    files = mini_files(mini__ipynb=None)
    files["Mini_ab1234.ipynb"] = GOOD_MINI
    sub = intake(make_zip(tmp_path / "ab1234.zip", files), mini_rubric, tmp_path / "job")
    assert sub.files["mini.ipynb"].name_in_zip == "Mini_ab1234.ipynb"
    assert not sub.files["mini.ipynb"].exact
    (pen,) = sub.penalties
    assert pen.rule == "naming" and pen.percent == 10 and "Mini_ab1234.ipynb" in pen.reason


def test_ambiguous_misnamed_notebook_is_not_guessed(tmp_path, mini_rubric):
    files = mini_files(mini__ipynb=None, other__ipynb=None)
    files["notebook_a.ipynb"] = GOOD_MINI
    files["notebook_b.ipynb"] = GOOD_MINI
    sub = intake(make_zip(tmp_path / "ab1234.zip", files), mini_rubric, tmp_path / "job")
    assert "mini.ipynb" not in sub.files and "missing_file" in codes(sub)


def test_misnamed_pdf_and_zip(tmp_path, mini_rubric):
    files = mini_files(mini_theory__pdf=None)
    files["mn_theory_final.pdf"] = pdf_bytes()
    sub = intake(make_zip(tmp_path / "AB1234_hw.zip", files), mini_rubric, tmp_path / "job")
    assert sub.netid == "ab1234"
    assert "mini_theory.pdf" in sub.files
    (pen,) = sub.penalties
    assert pen.percent == 10 and "AB1234_hw.zip" in pen.reason and "mn_theory_final.pdf" in pen.reason


def test_extra_files_penalized_once(tmp_path, mini_rubric):
    files = mini_files()
    files["notes.txt"] = "hello"
    files["data.zip"] = b"PK"
    sub = intake(make_zip(tmp_path / "ab1234.zip", files), mini_rubric, tmp_path / "job")
    assert [p.rule for p in sub.penalties] == ["naming"]
    assert "notes.txt" in sub.penalties[0].reason
    assert "nested_zip" in codes(sub)


@pytest.mark.parametrize("when,rule,accepted", [
    ("2026-03-01T23:59:00", None, True),
    ("2026-03-02T10:00:00", "late", True),
    ("2026-03-03T00:30:00", "too_late", False),
])
def test_late_rules(tmp_path, mini_rubric, when, rule, accepted):
    z = make_zip(tmp_path / "ab1234.zip", mini_files())
    t = dt.datetime.fromisoformat(when).replace(tzinfo=mini_rubric.deadline.tzinfo)
    sub = intake(z, mini_rubric, tmp_path / "job", submitted_at=t)
    assert [p.rule for p in sub.penalties] == ([rule] if rule else [])
    assert sub.accepted is accepted
    assert sub.submitted_at_source == "--submitted-at"


def test_late_from_file_times(tmp_path, mini_rubric):
    z = make_zip(tmp_path / "ab1234.zip", mini_files(), date_time=(2026, 3, 2, 9, 0, 0))
    sub = intake(z, mini_rubric, tmp_path / "job")
    assert [p.rule for p in sub.penalties] == ["late"] and "9.0 h" in sub.penalties[0].reason


def test_corrupt_zip_is_a_result_not_a_crash(tmp_path, mini_rubric):
    z = tmp_path / "ab1234.zip"
    z.write_bytes(b"this is not a zip")
    sub = intake(z, mini_rubric, tmp_path / "job")
    assert not sub.accepted and "zip_unreadable" in codes(sub)
    assert "not a readable zip" in sub.rejection


def test_empty_zip(tmp_path, mini_rubric):
    sub = intake(make_zip(tmp_path / "ab1234.zip", {}), mini_rubric, tmp_path / "job")
    assert {"zip_empty", "missing_file"} <= codes(sub)


def _raw_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path


def test_unzip_refuses_traversal_links_and_bombs(tmp_path):
    link = zipfile.ZipInfo("evil_link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    bomb = zipfile.ZipInfo("bomb.txt")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    z = _raw_zip(tmp_path / "x.zip", [
        (zipfile.ZipInfo("../../escape.txt"), b"x"),
        (zipfile.ZipInfo("/etc/passwd_copy"), b"x"),
        (link, b"/etc/passwd"),
        (bomb, b"\0" * (8 << 20)),
        (zipfile.ZipInfo("ok.txt"), b"fine"),
    ])
    dest = tmp_path / "dest"
    dest.mkdir()
    entries, findings = unpack(z, dest)
    assert [e.name for e in entries] == ["ok.txt"]
    found = {f.code for f in findings}
    assert {"path_traversal", "link_refused", "zip_bomb"} <= found
    assert not (tmp_path / "escape.txt").exists()
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_unzip_duplicates_keep_first(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = _raw_zip(tmp_path / "x.zip", [(zipfile.ZipInfo("a.txt"), b"first"), (zipfile.ZipInfo("a.txt"), b"second")])
    dest = tmp_path / "d"
    dest.mkdir()
    entries, findings = unpack(z, dest)
    assert (dest / "a.txt").read_bytes() == b"first"
    assert any(f.code == "duplicate_entry" for f in findings)


def test_unzip_not_a_zip(tmp_path):
    p = tmp_path / "x.zip"
    p.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ZipUnreadable):
        unpack(p, tmp_path)


def test_netid_from_zip_name(mini_rubric):
    assert netid_from_zip_name(Path("ab1234.zip"), mini_rubric) == ("ab1234", None)
    netid, problem = netid_from_zip_name(Path("hw2-ab1234-final.zip"), mini_rubric)
    assert netid == "ab1234" and "should be 'ab1234.zip'" in problem
    netid, problem = netid_from_zip_name(Path("homework.zip"), mini_rubric)
    assert netid == "homework" and "no NetID" in problem


def test_read_notebook_variants(tmp_path):
    good = tmp_path / "good.ipynb"
    good.write_text(GOOD_MINI)
    nb, f = read_notebook(good, "good.ipynb")
    assert nb is not None and not [x for x in f if x.severity == "error"]
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    nb, f = read_notebook(bad, "bad.ipynb")
    assert nb is None and f[0].code == "notebook_invalid" and "not valid JSON" in f[0].message
    v3 = tmp_path / "v3.ipynb"
    v3.write_text('{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "language": "python", "outputs": []}]}]}')
    nb, f = read_notebook(v3, "v3.ipynb")
    assert nb is not None and nb.cells[0].source == "x = 1" and any(x.code == "nbformat_converted" for x in f)
    empty = tmp_path / "e.ipynb"
    empty.write_text(make_nb().replace('"cells": []', '"cells": []'))
    nb, f = read_notebook(empty, "e.ipynb")
    assert any(x.code == "no_code_cells" for x in f)


def test_pdf_checks(tmp_path):
    good = tmp_path / "a.pdf"
    good.write_bytes(pdf_bytes())
    assert check_pdf(good, "a.pdf")[0].code == "pdf_ok"
    fake = tmp_path / "b.pdf"
    fake.write_text("I promise this is a PDF")
    (f,) = check_pdf(fake, "b.pdf")
    assert f.code == "pdf_unreadable" and "not a PDF" in f.message
    broken = tmp_path / "c.pdf"
    broken.write_bytes(b"%PDF-1.4\n garbage garbage")
    assert check_pdf(broken, "c.pdf")[0].code == "pdf_unreadable"


@pytest.mark.parametrize("when, why", [
    ((1980, 1, 1, 0, 0, 0), "zero date"),            # wiped or forged headers
    ((2099, 1, 1, 0, 0, 0), "in the future"),
    ((2025, 6, 1, 12, 0, 0), "days before the deadline"),
])
def test_implausible_zip_times_are_a_finding_never_on_time(tmp_path, mini_rubric, when, why):
    sub = intake(make_zip(tmp_path / "ab1234.zip", mini_files(), date_time=when), mini_rubric, tmp_path / "job")
    assert sub.submitted_at is None and sub.penalties == () and sub.accepted
    (f,) = [f for f in sub.findings if f.code == "time_implausible"]
    assert why in f.message and "needs a TA" in f.message


def test_plausible_zip_times_are_used_and_flagged_as_the_students(tmp_path, mini_rubric):
    sub = intake(make_zip(tmp_path / "ab1234.zip", mini_files()), mini_rubric, tmp_path / "job")
    assert sub.submitted_at is not None and "time_from_zip" in codes(sub)


@pytest.mark.parametrize("copy", ["mini (1).ipynb", "Mini (2).ipynb"])
def test_a_copy_of_a_found_notebook_is_not_taken_for_a_missing_one(tmp_path, mini_rubric, copy):
    """The red team's hostile_entry_names: `hw2_cnn (1).ipynb` beside hw2_cnn.ipynb was
    graded as the missing hw2_rnn.ipynb."""
    files = mini_files(other__ipynb=None)
    files[copy] = GOOD_MINI
    sub = intake(make_zip(tmp_path / "ab1234.zip", files), mini_rubric, tmp_path / "job")
    assert "other.ipynb" not in sub.files and "missing_file" in codes(sub) and "extra_files" in codes(sub)
    files = mini_files(other__ipynb=None)
    files["my_notebook.ipynb"] = GOOD_MINI  # not like mini.ipynb: still the only candidate for other.ipynb
    sub = intake(make_zip(tmp_path / "ab1234.zip", files), mini_rubric, tmp_path / "job2")
    assert sub.files["other.ipynb"].name_in_zip == "my_notebook.ipynb"
