"""A static scan for code that tampers with the kernel's own machinery.

The executor learns whether a cell failed from the kernel's reply. Code that rewires how
the kernel runs cells or reports errors (wrapping run_cell, input or AST transformers,
replacing showtraceback or sys.excepthook, custom exception handlers) can make a failing
notebook look clean, so its execution record cannot be trusted. Nothing a homework needs
touches these; the grader reports each hit and treats the notebook as not executable.
"""
from __future__ import annotations

import re

PATTERNS = (
    (r"\brun_cell(_async)?\b|\brun_ast_nodes\b|\brun_code\b", "rewires how the kernel runs cells"),
    (r"\binput_transformers(_cleanup|_post)?\b|\bast_transformers\b", "installs input/AST transformers that rewrite later cells"),
    (r"\b_?showtraceback\b|\bshowsyntaxerror\b|\bset_custom_exc\b", "replaces the kernel's error reporting"),
    (r"\bsys\.excepthook\b", "replaces sys.excepthook"),
    (r"\bdo_execute\b|\bsend_response\b|\bsession\.send\b", "patches the kernel's replies"),
    (r"\bevents\.register\s*\(", "registers kernel event callbacks"),
)


def scan(cells: list[str]) -> list[str]:
    hits = []
    for i, raw in enumerate(cells):
        for line in raw.splitlines():  # raw source: to_python drops get_ipython() lines
            code = line.split("#", 1)[0]
            for pattern, what in PATTERNS:
                if re.search(pattern, code):
                    hits.append(f"code cell {i + 1} {what}: `{line.strip()[:100]}`")
                    break
    return hits
