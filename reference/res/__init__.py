"""Support files copied next to each notebook as `res/`.

Self-contained on purpose: these modules run inside the student's (sandboxed) kernel, so
they import only the standard library, numpy, torch and matplotlib, never `reference`.
"""
