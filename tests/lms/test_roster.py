"""grader.lms.roster: the LMS's own class-list exports read into NetIDs and LMS identities."""
from __future__ import annotations

import pytest

from grader.errors import UsageError
from grader.lms.roster import BRIGHTSPACE, CANVAS, load_roster, normalize_netid, parse_roster

BRIGHTSPACE_CSV = (
    "OrgDefinedId,Username,Last Name,First Name,Email,HW1 Points Grade <Numeric MaxPoints:100>,End-of-Line Indicator\n"
    "#N10001,#AB1234,Doe,Jane,ab1234@nyu.edu,90,#\n"
    '#N10002,#cd567,"Núñez, Jr.",José,cd567@nyu.edu,,#\n'
    "#N10003,#ef89,Lee,Kim,ef89@nyu.edu,75,#\n"
)
CANVAS_CSV = (
    "Student,ID,SIS User ID,SIS Login ID,Section,HW1 (4411)\n"
    "    Points Possible,,,,,100\n"
    '"Doe, Jane",1001,N10001,AB1234,Section 001,90\n'
    '"Student, Test",1999,,,Section 001,\n'
    '"Núñez, José",1002,N10002,cd567@nyu.edu,"Section 002, lab",\n'
)


def write(tmp_path, text, name="roster.csv", encoding="utf-8", bom=False):
    p = tmp_path / name
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return p


def test_brightspace_export_with_bom_hash_prefixes_and_quoting(tmp_path):
    r = load_roster(write(tmp_path, BRIGHTSPACE_CSV, bom=True))
    assert r.kind == BRIGHTSPACE and r.netids == ("ab1234", "cd567", "ef89")
    jose = r.by_netid("CD567")
    assert jose.org_defined_id == "N10002" and jose.username == "cd567"
    assert (jose.first, jose.last, jose.display_name, jose.sortable_name) == ("José", "Núñez, Jr.", "José Núñez, Jr.",
                                                                             "Núñez, Jr., José")
    assert jose.email == "cd567@nyu.edu" and jose.line == 3 and jose.lms_id == ""
    assert r.by_lms_id("#N10001").netid == "ab1234" and r.by_lms_id("N10001").netid == "ab1234"
    assert r.skipped == ()


def test_canvas_export_points_possible_row_test_student_and_sections(tmp_path):
    r = load_roster(write(tmp_path, CANVAS_CSV, bom=True))
    assert r.kind == CANVAS and r.netids == ("ab1234", "cd567")
    jane = r.by_netid("ab1234")
    assert (jane.lms_id, jane.sis_user_id, jane.username, jane.section) == ("1001", "N10001", "AB1234", "Section 001")
    assert (jane.first, jane.last, jane.display_name, jane.sortable_name) == ("Jane", "Doe", "Jane Doe", "Doe, Jane")
    assert r.by_netid("cd567").section == "Section 002, lab"  # a quoted comma is part of the value
    assert r.by_lms_id(1002).netid == "cd567" and r.by_lms_id("1999") is None
    # the two rows that are not matchable students are kept with the reason, not lost
    assert [line for line, _ in r.skipped] == [2, 4]
    assert "Points Possible" in r.skipped[0][1] and "test student" in r.skipped[1][1]


def test_accents_lookup_by_display_name(tmp_path):
    r = load_roster(write(tmp_path, CANVAS_CSV))
    decomposed = "Jose\u0301 Nu\u0301n\u0303ez"  # the same name, Unicode-decomposed (as macOS writes file names)
    assert r.by_display_name(decomposed).netid == "cd567"
    assert r.by_display_name("  josé   NÚÑEZ ").netid == "cd567"
    assert r.by_display_name("Núñez, José").netid == "cd567"  # the sortable form
    assert r.by_display_name("Jose Nunez").netid == "cd567"  # accents lost in a file name
    assert r.by_display_name("Jane Roe") is None


def test_a_shared_display_name_identifies_no_one():
    text = "Student,ID,SIS User ID,SIS Login ID,Section\n\"Lee, Kim\",1,,kl1,\n\"Lee, Kim\",2,,kl2,\n"
    r = parse_roster(text)
    assert r.by_display_name("Kim Lee") is None and len(r.all_by_display_name("Kim Lee")) == 2
    assert r.by_lms_id("2").netid == "kl2"


def test_windows_1252_file_from_excel(tmp_path):
    r = load_roster(write(tmp_path, BRIGHTSPACE_CSV, encoding="cp1252"))
    assert r.by_netid("cd567").first == "José"


def test_crlf_and_blank_lines(tmp_path):
    r = load_roster(write(tmp_path, CANVAS_CSV.replace("\n", "\r\n") + "\r\n\r\n"))
    assert r.netids == ("ab1234", "cd567")


def test_normalize_netid():
    assert normalize_netid(" #AB1234 ") == "ab1234"
    assert normalize_netid("AB1234@NYU.EDU") == "ab1234"
    assert normalize_netid("") == normalize_netid(None) == ""


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("\n\n", "empty"),
    ("netid,score\nab1234,10\n", "not a class list"),
    ("Name,Email\nJane,j@x\n", "not a class list"),
    ("Student,ID,SIS User ID,SIS Login ID,Section\n    Points Possible,,,,\n", "no students"),
    ("OrgDefinedId,Username,First Name,Last Name,Email\n#1,#ab1,A,B,e\n#2,#AB1,C,D,f\n", "appears twice"),
])
def test_wrong_files_say_what_to_do(tmp_path, text, words):
    with pytest.raises(UsageError) as exc:
        load_roster(write(tmp_path, text))
    assert words in str(exc.value) and "roster" in str(exc.value)


def test_a_gradebook_csv_is_not_a_roster(tmp_path):
    """The grader's own gradebook.csv (netid, score, ...) is the usual wrong file: the
    message names the columns it needs."""
    with pytest.raises(UsageError, match="SIS Login ID"):
        load_roster(write(tmp_path, "netid,score,max_score\nab1234,1,2\n"))


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load_roster(tmp_path / "nope.csv")
    with pytest.raises(UsageError, match="no such file"):
        load_roster(tmp_path)  # a directory


def test_brightspace_row_without_username_is_skipped_with_its_name():
    r = parse_roster("OrgDefinedId,Username,First Name,Last Name,Email\n#1,,Ann,Bo,\n#2,#ab1,C,D,\n")
    assert r.netids == ("ab1",) and r.skipped == ((2, "'Ann Bo': no Username"),)
