"""The student's HTML page: self-contained, escaped, plots embedded, hidden items hidden."""
import base64
import io
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "batch"))
from batch_helpers import Finding, item, make_report  # noqa: E402

from grader.report.html import feedback_html  # noqa: E402


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
    assert page.count("&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;") >= 3
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_the_page_is_self_contained():
    page = feedback_html(make_report())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page, re.I)
    assert "<link" not in page and "@import" not in page


def test_a_loss_curve_is_embedded_from_base64_or_from_a_png_in_the_report_folder(tmp_path):
    png = png_bytes()
    (tmp_path / "curve.png").write_bytes(png)
    r = make_report(items=[
        item("nb.curve", "passed", evidence={"artifacts": {"nb.curve.loss_curve.png": base64.b64encode(png).decode()}, "final_loss": 0.1}),
        item("nb.path", "passed", evidence={"plot": str(tmp_path / "curve.png")}),
    ])
    page = feedback_html(r, tmp_path)
    assert page.count('src="data:image/png;base64,') == 2
    assert "[image 1 shown below]" in page and "final_loss" in page


def test_only_real_pngs_inside_the_report_folder_are_embedded(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes())
    inside = tmp_path / "student"
    inside.mkdir()
    (inside / "fake.png").write_bytes(b"<svg onload=alert(1)>")
    r = make_report(items=[item("nb.a", "passed", evidence={"p1": str(outside), "p2": "../secret.png", "p3": "fake.png",
                                                           "p4": "data:image/png;base64," + base64.b64encode(b"GIF89a" * 20).decode()})])
    page = feedback_html(r, inside)
    assert 'src="data:image/png' not in page


def test_hidden_items_show_the_verdict_only():
    page = feedback_html(make_report())
    assert "nb.hidden" in page and "Hidden test" in page
    assert "secret input" not in page and "[3, 1, 4]" not in page
