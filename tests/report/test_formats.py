"""The format registry (grader/report/formats.py) is the one loop every command writes
through: a format added to FORMATS is written by `grader run` (write_reports), the batch's
publishing (grader.batch.run.publish) and `grader report` (write_class_reports)."""

import pytest

from test_golden import crashed_report, fixed_report

from grader.report import formats as F


def _probe_formats(monkeypatch, calls):
    def student(report, ctx):
        calls.append(("student", report.netid))
        return f"student {report.netid}\n".encode()

    def klass(reports, ctx):
        calls.append(("class", len(reports)))
        return f"class of {len(reports)}\n".encode()

    monkeypatch.setattr(F, "FORMATS", F.FORMATS + (F.Format("probe", "probe.txt", F.STUDENT, student),
                                                   F.Format("class-probe", "class_probe.txt", F.CLASS, klass)))


def test_a_new_format_is_written_by_every_command(tmp_path, monkeypatch):
    from grader.batch.publish import write_class_reports
    from grader.batch.run import publish
    from grader.report import write_reports

    calls = []
    _probe_formats(monkeypatch, calls)
    d = write_reports(fixed_report(), tmp_path)  # grader run
    assert (d / "probe.txt").read_text() == "student ab1234\n"
    publish(tmp_path, "cd5678", {"report": crashed_report().to_dict(), "code": {}, "files": {}}, None)  # grader batch
    assert (tmp_path / "cd5678" / "probe.txt").read_text() == "student cd5678\n"
    (d / "probe.txt").unlink()
    cohort = write_class_reports(tmp_path)  # grader report (and the end of grader batch)
    assert cohort["errors"] == []
    assert (d / "probe.txt").exists() and (tmp_path / "class_probe.txt").read_text() == "class of 2\n"
    assert calls == [("student", "ab1234"), ("student", "cd5678"), ("student", "ab1234"), ("student", "cd5678"), ("class", 2)]
    assert "probe.txt" in F.reserved_names()  # a check's extra file cannot overwrite it


def test_a_broken_format_costs_only_its_own_file(tmp_path, monkeypatch):
    from grader.report import write_reports

    def broken(report, ctx):
        raise RuntimeError("template bug")

    monkeypatch.setattr(F, "FORMATS", tuple(F.Format(f.name, f.file, f.scope, broken) if f.file == "feedback.html" else f
                                            for f in F.FORMATS))
    with pytest.raises(F.ReportWriteError, match="feedback.html: RuntimeError: template bug"):
        write_reports(fixed_report(), tmp_path)
    d = tmp_path / "ab1234"
    assert {p.name for p in d.iterdir()} >= {"report.json", "feedback.md", "results.json"} and not (d / "feedback.html").exists()
    errors = F.write_class_files([fixed_report()], tmp_path, F.Context())
    assert errors == [] and (tmp_path / "gradebook.csv").exists()


def test_the_students_feedback_is_required(tmp_path, monkeypatch):
    """Without feedback.md the student has nothing: publishing fails (the batch writes a
    'could not publish' report in its place); the other files are written first."""
    def broken(report, ctx):
        raise OSError("disk full")

    monkeypatch.setattr(F, "FORMATS", tuple(F.Format(f.name, f.file, f.scope, broken, f.required) if f.file == "feedback.md" else f
                                            for f in F.FORMATS))
    with pytest.raises(OSError, match="disk full"):
        F.write_student_files(fixed_report(), tmp_path / "x")
    assert (tmp_path / "x" / "feedback.html").exists() and (tmp_path / "x" / "report.json").exists()


def test_registry_names_and_files_are_unique():
    assert len({f.name for f in F.FORMATS}) == len({f.file for f in F.FORMATS}) == len(F.FORMATS)
    assert {f.scope for f in F.FORMATS} == {F.STUDENT, F.CLASS}
