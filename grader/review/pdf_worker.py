"""Runs inside the sandbox (grader/review/pdf.py starts it): renders a student's PDF to PNG
pages and writes each page's text layer as JSON. Its output is untrusted data: the grader
checks the PNG signature, sizes and the JSON before it uses any of it.

    python -I pdf_worker.py IN.pdf OUTDIR MAX_PAGES SCALE
"""
import json
import sys


def main(src: str, out: str, max_pages: int, scale: float) -> None:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(src)
    texts = []
    n = len(doc)
    for k in range(min(n, max_pages)):
        page = doc[k]
        try:
            texts.append(page.get_textpage().get_text_range()[:20000])
        except Exception:  # a page without a usable text layer: rendered all the same
            texts.append("")
        page.render(scale=scale).to_pil().save(f"{out}/page-{k + 1}.png", format="PNG")
    with open(f"{out}/pages.json", "w") as fh:
        json.dump({"pages": n, "texts": texts}, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
