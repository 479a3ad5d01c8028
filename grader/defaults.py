"""The grader's own defaults, each written once (the rubric's defaults live in
grader/rubric/model.py and the check kinds' in their parameter models).

Command-line defaults, function defaults and dataclass defaults all read these names.
"""
from __future__ import annotations

import os

# Pairs of submissions whose normalised TODO code is at least this similar are listed
# for a person to look at (grader.batch.similarity).
SIMILARITY_THRESHOLD = 0.8

# The sandbox's work-dir size cap when nothing else says (a tmpfs quota where possible).
SANDBOX_DISK_MB = 512

# Notebooks of one submission executed at once: `grader run` (one student, use the
# machine) and `grader batch` (one notebook per worker: the workers are the parallelism).
RUN_JOBS_MAX = 3
BATCH_JOBS = 1


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_jobs() -> int:
    return min(RUN_JOBS_MAX, cores())


def batch_workers() -> int:
    """One worker per core (kernels and probes are single-threaded; a worker keeps about
    one core busy), but no more than one per 2 GiB of memory (grader + kernel peak ~1 GiB)."""
    n = cores()
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    except (ValueError, OSError):
        mem_gib = 2.0 * n
    return max(1, min(n, int(mem_gib // 2)))

# run_batch()'s workers when called from code without a number (the CLI uses batch_workers())
BATCH_WORKERS_FALLBACK = 2
