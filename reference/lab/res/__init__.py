"""Lab-faithful support files for the ORIGINAL lab notebook 08-seq_classification.ipynb.

Copied next to each original notebook as `res/` (rubrics/hw2-original's support_dir).
Written for this project; they reproduce the public API and the behaviour of the course
repository's `res/sequential_tasks.py` and `res/plot_lib.py` (Atcold/NYU-DLSP20),
including the exact draws from numpy's global generator, so that a student's seeded
Section-8 training in the grader is the one they ran. They run inside the student's
kernel and import only the standard library, numpy, torch, matplotlib and IPython.
"""
