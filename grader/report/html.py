"""feedback.html: a student's feedback page, rendered from the StudentView with a Jinja2
template (grader/report/templates/feedback.html.j2; autoescape on).

Everything in a report may come from a student (feedback quotes their values, file names,
exception messages): the templates never mark a value safe, so every string is escaped, and
a Content-Security-Policy forbids scripts and any outside resource even if something slipped
through. Pictures are the report's typed artifacts only (the grader's own PNGs, written beside
report.json), referred to by their file name; nothing in the evidence is ever turned into a
picture. Hidden items show their verdict only: no feedback, no evidence.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Mapping

from grader.model import Report, decode_artifact
from grader.report.view import student_view

CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
.passed{color:#1a7f37}.failed{color:#cf222e}.error{color:#9a6700}.skipped,.pending{color:#57606a}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
.score{font-size:1.3em;font-weight:bold}.note{color:#57606a;font-size:.9em}img{max-width:100%;border:1px solid #ddd}
figure{margin:1em 0}figcaption{color:#57606a;font-size:.8em}.bar{background:#4c8bf5;height:1em;display:inline-block}
"""
TEMPLATES = Path(__file__).resolve().parent / "templates"


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def num(x) -> str:
    if x is None:
        return "n/a"
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return str(x)


def rate(x) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


_ENV = None


def environment():
    """The Jinja2 environment of the report templates: autoescape on for every template,
    undefined names are errors, not empty strings."""
    global _ENV
    if _ENV is None:
        import jinja2
        import markupsafe

        _ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                                  undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                  keep_trailing_newline=True)
        _ENV.filters.update(num=num, rate=rate)
        _ENV.globals.update(csp=markupsafe.Markup(CSP), css=markupsafe.Markup(CSS))  # the grader's constants
    return _ENV


def render_page(template: str, title: str, **context) -> str:
    return environment().get_template(template).render(title=title, **context)


def feedback_html(report: Report | Mapping, report_dir: Path | None = None) -> str:
    """The page for one report. `report_dir` is not read: pictures are referred to by their
    file beside report.json (kept in the signature for older callers)."""
    v = student_view(report)
    return render_page("feedback.html.j2", f"Feedback for {v.netid}", v=v)


def render(report: Report, ctx=None) -> bytes:
    return feedback_html(report).encode("utf-8", "replace")


def split_images(evidence, report_dir: Path | None = None) -> tuple[object, list[bytes]]:
    """(evidence with its pictures replaced by a placeholder, the PNGs). Pictures come only
    from the top-level `artifacts` entry the grader's checks write; any other string of the
    evidence may be the student's (a base64 PNG there stays text, never a picture).
    Kept for older callers: reports carry typed artifacts (grader.model.Artifact)."""
    if not isinstance(evidence, dict) or not isinstance(evidence.get("artifacts"), dict):
        return evidence, []
    images, shown = [], {}
    for name, value in evidence["artifacts"].items():
        a = decode_artifact("", str(name), value)
        if a is not None and a.data is not None and a.is_image:
            images.append(a.data)
            shown[name] = f"[image {len(images)} shown below]"
        else:
            shown[name] = value
    return {**evidence, "artifacts": shown}, images
