"""Progress output with an injected clock: a bar on a terminal, plain lines otherwise."""
import io

from grader.batch.progress import Progress


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_plain_lines_when_not_a_terminal_with_eta_and_failures():
    out, clock = io.StringIO(), Clock()
    p = Progress(4, already_done=1, stream=out, clock=clock, tty=False)
    p.start()
    clock.t += 10
    p.job_done("ab1234", "20/30", failed=False)
    clock.t += 10
    p.job_done("cd5678", "NOT GRADED: worker died", failed=True)
    p.finish()
    lines = out.getvalue().splitlines()
    assert lines == ["1 of 4 already graded (unchanged); grading 3",
                     "[2/4 done, 0 failed, ETA 20s] ab1234: 20/30",
                     "[3/4 done, 1 failed, ETA 10s] cd5678: NOT GRADED: worker died",
                     "batch finished: 3/4 done, 1 failed in 20s"]
    assert "\r" not in out.getvalue()


def test_a_bar_on_a_terminal():
    out, clock = io.StringIO(), Clock()
    p = Progress(2, stream=out, clock=clock, tty=True, width=10)
    p.start()
    clock.t += 5
    p.job_done("ab1234", "20/30", failed=False)
    assert out.getvalue().endswith("\r\033[K[#####.....] 1/2 done, 0 failed, ETA 5s")
