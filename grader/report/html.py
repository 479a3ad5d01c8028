"""A self-contained HTML feedback page per student, derived from the canonical report dict.

Everything in a report may come from a student (feedback quotes their values, file names,
exception messages), so every string is escaped, and a Content-Security-Policy forbids
scripts and any external resource even if something slipped through. Images found in an
item's evidence["artifacts"] (the grader's own drawings: a data: URI, base64 PNG bytes, or
the path of a PNG inside the student's report folder) are embedded as data: URIs after checking they really are PNGs. Hidden
items show their verdict only: no feedback, no evidence.
"""
from __future__ import annotations

import base64
import binascii
import html
import json
import re
from pathlib import Path

PICTURE_KEYS = ("artifacts", "plot", "plots")  # top-level evidence keys the checks draw into
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 5 << 20
MAX_PRE = 6000
_B64 = re.compile(r"^[A-Za-z0-9+/=\s]{64,}$")

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
.passed{color:#1a7f37}.failed{color:#cf222e}.error{color:#9a6700}.skipped,.pending{color:#57606a}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
.score{font-size:1.3em;font-weight:bold}.note{color:#57606a;font-size:.9em}img{max-width:100%;border:1px solid #ddd}
.bar{background:#4c8bf5;height:1em;display:inline-block}
"""


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def num(x) -> str:
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return esc(x)


def page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def _png_from_string(s: str, report_dir: Path | None) -> bytes | None:
    data = None
    if s.startswith("data:image/png;base64,"):
        try:
            data = base64.b64decode(s.split(",", 1)[1], validate=False)
        except (binascii.Error, ValueError):
            return None
    elif _B64.match(s):
        try:
            data = base64.b64decode("".join(s.split()), validate=True)
        except (binascii.Error, ValueError):
            return None
    elif s.lower().endswith(".png") and report_dir is not None and len(s) < 4096:
        root = report_dir.resolve()
        for cand in (Path(s), root / s, root / Path(s).name):
            try:
                path = cand if cand.is_absolute() else root / cand
                path = path.resolve()
                # only files inside the student's own report folder: never an arbitrary path
                if root in path.parents and path.is_file() and path.stat().st_size <= MAX_IMAGE_BYTES:
                    data = path.read_bytes()
                    break
            except (OSError, ValueError):
                continue
    if data and data.startswith(PNG_MAGIC) and len(data) <= MAX_IMAGE_BYTES:
        return data
    return None


def split_images(evidence, report_dir: Path | None) -> tuple[object, list[bytes]]:
    """(evidence with images replaced by a placeholder, the PNGs found in it).

    Pictures come only from the item's top-level `artifacts` (and `plot`/`plots`) entries:
    what the grader's own checks drew, e.g. the loss curve. Any other string of the evidence may be the student's (a model's
    attributes and init arguments, exception messages): a base64 PNG or a .png path there
    is shown as text, never as a picture (a forged 'passed' banner)."""
    images: list[bytes] = []

    def walk(x, art=False):
        if isinstance(x, dict):
            return {k: walk(v, art) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v, art) for v in x]
        if isinstance(x, str) and art:
            png = _png_from_string(x, report_dir)
            if png is not None:
                images.append(png)
                return f"[image {len(images)} shown below]"
        return x

    if not isinstance(evidence, dict):
        return evidence, images
    return {k: walk(v, k in PICTURE_KEYS) for k, v in evidence.items()}, images


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _pre(text: str) -> str:
    text = str(text)
    if len(text) > MAX_PRE:
        text = text[:MAX_PRE] + f"\n... ({len(text) - MAX_PRE} more characters)"
    return f"<pre>{esc(text)}</pre>"


def _item(i: dict, report_dir: Path | None) -> str:
    status = i["status"]
    head = (f'<h3 id="{esc(i["id"])}">{esc(i["title"])} <span class="{esc(status)}">{esc(status)}</span> '
            f'{num(i["score"])} / {num(i["max_score"])}</h3>')
    if i.get("visibility") == "hidden":
        return head + '<p class="note">Hidden test: the result is shown, its inputs and details are not.</p>'
    parts = [head]
    if (i.get("feedback") or "").strip():
        parts.append(_pre(i["feedback"].strip()))
    evidence, images = split_images(i.get("evidence") or {}, report_dir)
    if evidence:
        parts.append("<details><summary>evidence</summary>" + _pre(json.dumps(evidence, indent=2, default=str)) + "</details>")
    parts += [_img(png, f"{i['title']}: figure {k}") for k, png in enumerate(images, start=1)]
    return "\n".join(parts)


def feedback_html(r: dict, report_dir: Path | None = None) -> str:
    out = [f"<h1>Feedback for {esc(r['netid'])} ({esc(r['assignment'])})</h1>",
           f'<p class="score">Score: {num(r["score"])} / {num(r["max_score"])}</p>']
    if r["penalties"]:
        out.append(f"<p>Items: {num(r['raw_score'])} points before penalties.</p><h2>Penalties</h2><ul>")
        out += [f"<li><b>{esc(p['rule'])}</b> (-{num(p['percent'])} %): {esc(p['reason'])}</li>" for p in r["penalties"]]
        out.append("</ul>")
    pending = sum(i["max_score"] for i in r["items"] if i["status"] == "pending")
    if pending:
        out.append(f"<p>{num(pending)} points are graded by a TA and still pending.</p>")
    out.append("<h2>Items</h2><table><tr><th>item</th><th>status</th><th>points</th></tr>")
    for i in r["items"]:
        out.append(f'<tr><td><a href="#{esc(i["id"])}">{esc(i["title"])}</a> <code>{esc(i["id"])}</code></td>'
                   f'<td class="{esc(i["status"])}">{esc(i["status"])}</td><td>{num(i["score"])} / {num(i["max_score"])}</td></tr>')
    out.append("</table><h2>Details</h2>")
    out += [_item(i, report_dir) for i in r["items"]]
    if r.get("notebooks"):
        out.append("<h2>Notebooks</h2><ul>")
        for nb in r["notebooks"]:
            state = "ran top to bottom" if nb.get("executed") else f"did not run cleanly ({nb.get('status')})"
            msg = f". {nb['message']}" if nb.get("message") else ""
            out.append(f"<li><code>{esc(nb['notebook'])}</code>: {esc(state)}, {float(nb.get('seconds') or 0):.1f} s{esc(msg)}")
            from grader.report.markdown import time_lines

            times = time_lines(nb)
            if times:
                out.append("<ul>" + "".join(f"<li>{esc(t)}</li>" for t in times) + "</ul>")
            bad = [c for c in nb.get("cells", []) if c.get("status") in ("error", "timeout", "dead", "skipped")]
            if bad:
                out.append("<ul>" + "".join(
                    f"<li>cell {esc(c['index'])}: {esc(c.get('note') if c['status'] == 'skipped' else c.get('ename', '') + ': ' + c.get('evalue', '')[:300])}</li>"
                    for c in bad) + "</ul>")
            out.append("</li>")
        out.append("</ul>")
    notable = [f for f in r.get("findings", []) if f.get("severity") != "info"]
    if notable:
        out.append("<h2>About your submission</h2><ul>" + "".join(f"<li>{esc(f['message'])}</li>" for f in notable) + "</ul>")
    iso = r.get("environment", {}).get("isolation", {}).get("mode", "?")
    out.append(f'<p class="note">Graded in isolation mode <code>{esc(iso)}</code> at {esc(r.get("graded_at", ""))}.</p>')
    return page(f"Feedback for {r['netid']}", "\n".join(out))
