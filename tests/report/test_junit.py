"""JUnit XML: one testcase per item; failure vs error vs skipped; always parseable."""
import xml.etree.ElementTree as ET

import pytest

from batch_helpers import item, make_report

from grader.report.junit import junit_xml


def reports():
    nasty = item("nb.x", "error", feedback="Traceback \x1b[0;31mValueError\x1b[0m \x00 <b>&'\"")
    return [make_report("cd5678"), make_report("ab1234", items=[item("nb.a"), nasty])]


def test_parses_with_one_suite_per_submission_and_one_case_per_item():
    root = ET.fromstring(junit_xml(reports()).encode())
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("7", "2", "2", "1")
    ab, cd = root.findall("testsuite")
    assert (ab.get("name"), cd.get("name")) == ("ab1234", "cd5678")
    kinds = {c.get("name").split(":")[0]: [e.tag for e in c if e.tag != "system-out"] for c in cd.findall("testcase")}
    assert kinds == {"nb.a": [], "nb.b": ["failure"], "nb.c": ["error"], "nb.hidden": ["failure"], "q1": ["skipped"]}
    props = {p.get("name"): p.get("value") for p in cd.find("properties")}
    assert props["score"] == str(make_report("cd5678")["score"])


def test_control_characters_from_tracebacks_do_not_break_the_xml():
    root = ET.fromstring(junit_xml(reports()).encode())
    err = root.find("testsuite[@name='ab1234']/testcase/error")
    assert "ValueError" in err.text and "<b>&'\"" in err.text and "\x1b" not in err.text


def test_a_standard_junit_parser_reads_it(tmp_path):
    junitparser = pytest.importorskip("junitparser")
    p = tmp_path / "junit.xml"
    p.write_text(junit_xml(reports()))
    xml = junitparser.JUnitXml.fromfile(str(p))
    suites = list(xml)
    assert [s.name for s in suites] == ["ab1234", "cd5678"]
    assert sum(s.tests for s in suites) == 7
