"""The student's HTML page: escaped (Jinja2 autoescape), no outside resource, pictures only from the
report's typed PNG artifacts (files beside report.json), hidden items hidden."""
import base64
import io
import json
import re

from batch_helpers import Finding, item, make_report

from grader.report.html import feedback_html


def png_bytes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    plt.plot([3, 2, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def test_a_script_in_student_controlled_text_is_escaped():
    evil = "<script>alert('pwned')</script>"
    r = make_report(evil.replace("<", "").replace(">", "")[:20],
                    items=[item("nb.a", "failed", title=f"t {evil}", feedback=f"got {evil}", evidence={"value": evil})],
                    findings=[Finding("misnamed", f"file {evil}.ipynb", "warning")])
    page = feedback_html(r)
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;") >= 3
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_the_page_is_self_contained():
    page = feedback_html(make_report())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page, re.I)
    assert "<link" not in page and "@import" not in page


def test_a_loss_curve_is_shown_from_its_file_beside_the_report(tmp_path):
    """The checks' base64 PNG becomes a typed artifact, written beside report.json and
    referred to by its file name; a report.json that keeps only the file name shows it too."""
    from grader.model import Report
    from grader.report import write_reports

    png = png_bytes()
    fresh = make_report(items=[item("nb.curve", "passed", feedback="loss went down",
                                    evidence={"artifacts": {"loss_curve.png": base64.b64encode(png).decode()}, "final_loss": 0.1})])
    page = feedback_html(fresh)
    assert page.count('src="nb.curve.loss_curve.png"') == 1 and "final_loss" in page
    assert base64.b64encode(png).decode()[:40] not in page  # the picture is a file, not text of the page
    d = write_reports(Report.from_dict(fresh), tmp_path)
    assert (d / "nb.curve.loss_curve.png").read_bytes() == png
    stored = json.loads((d / "report.json").read_text())
    assert stored["items"][0]["evidence"]["artifacts"] == {"loss_curve.png": "nb.curve.loss_curve.png"}
    assert stored["artifacts"] == [{"item": "nb.curve", "name": "loss_curve.png", "media_type": "image/png",
                                    "file": "nb.curve.loss_curve.png"}]
    assert (d / "feedback.html").read_text().count('src="nb.curve.loss_curve.png"') == 1
    assert "![loss_curve.png](nb.curve.loss_curve.png)" in (d / "feedback.md").read_text()


def test_only_the_graders_png_artifacts_are_pictures(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes())
    gif = base64.b64encode(b"GIF89a" * 20).decode()
    r = make_report(items=[item("nb.a", "failed", evidence={"p1": str(outside), "p2": "../secret.png",
                                                           "p3": base64.b64encode(png_bytes()).decode(),
                                                           "p4": "data:image/png;base64," + gif,
                                                           "artifacts": {"fake.png": gif}})])
    page = feedback_html(r)
    assert "<img" not in page


def test_hidden_items_show_the_verdict_only():
    page = feedback_html(make_report())
    assert "nb.hidden" in page and "Hidden test" in page
    assert "secret input" not in page and "[3, 1, 4]" not in page
