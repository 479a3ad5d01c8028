"""Grading a whole class: many submissions in parallel, resumable, on one machine or a cluster.

    discover zips -> job keys (content hashes) -> skip what the manifest says is done
      -> grade the rest on Dask workers (grader.pipeline.grade, one process per job)
      -> cache each finished report + append one manifest line (fsync)
      -> publish OUT/<netid>/report.json (+ TA manual scores) -> class reports

Only the coordinating process (the one running `grader batch`) writes into OUT; workers
return plain data (the report dict, the normalized code of the rubric targets). So
orphaned or remote workers can never corrupt OUT, and a killed batch leaves at worst a
job that is graded again next time.

Where it runs
-------------
By default the batch starts an embedded `dask.distributed.LocalCluster` with `--workers N`
single-threaded worker processes (OMP/MKL/OpenBLAS threads set to 1 in each). Every
submission is graded in its own call to `grade()`, with its own scratch directory and
its own sandboxes; the notebooks of one submission run `--jobs` at a time (default 1,
the worker count is the parallelism).

`--scheduler tcp://host:8786` uses an existing Dask cluster instead. Its workers must
have this project installed (`pip install -e /path/to/grader` in the same Python
environment) and must see the rubric directory at the same path (and any reference
modules it names on their PYTHONPATH); the zips themselves are shipped to the workers,
so no shared filesystem is needed for submissions. Start workers single-threaded (the
per-submission `--job-timeout` kills a stuck grading's processes only on single-threaded
workers; on others it can only end the whole worker):

    dask scheduler --port 8786
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 dask worker tcp://host:8786 --nthreads 1 --nworkers 8

On Slurm/PBS clusters, dask-jobqueue starts those workers as batch jobs. A sketch (run
it in a Python session on the login node, then pass the printed address):

    from dask_jobqueue import SLURMCluster   # or PBSCluster
    cluster = SLURMCluster(cores=1, processes=1, memory="8GB", walltime="02:00:00",
                           job_script_prologue=["source /path/to/grader/.venv/bin/activate",
                                                "export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1"])
    cluster.scale(jobs=32)
    print(cluster.scheduler_address)        # -> grader batch ... --scheduler <address>

Sandboxing (bubblewrap, rlimits) happens on the worker node: `--isolation` applies there,
and every report records the isolation mode that was actually in force.

Resuming
--------
OUT/.batch/manifest.jsonl has one JSON line per finished job, appended and fsync'ed
after the job's report was written (atomically) to OUT/.batch/jobs/<key>.json. The key is
sha256(zip content, zip name, rubric directory files, grader version, isolation). A job is
done when its key has a "graded" line and a cache file with the recorded sha256; a torn
last line (SIGKILL mid-write) is ignored. Grader crashes are recorded too but retried on
the next run.
"""
from grader.batch.run import BatchResult, run_batch

__all__ = ["run_batch", "BatchResult"]
