"""An in-process stand-in for the sandboxed prober, so a check kind's logic is a
millisecond test: the "notebook" is a dict of Python callables, a probe call runs the
callable in this process and its value comes back as numpy, as a real probe's would."""
from __future__ import annotations

from types import SimpleNamespace

from grader.checks.compare import ref_to_numpy
from grader.checks.context import CheckContext
from grader.probe import Outcome
from grader.rubric.model import ItemSpec


class FakeContext:
    def __init__(self, namespace: dict, seed: int = 7):
        self.ns = dict(namespace)
        self.notebook = SimpleNamespace(seed=seed, notebook="fake.ipynb")
        self.reference_cache: dict = {}
        self.extraction = None
        self.calls: list = []  # every Call the kind asked for, in order

    seed_for = CheckContext.seed_for
    reference = CheckContext.reference

    def missing(self, target: str) -> str | None:
        return None if target in self.ns else f"`{target}` is not defined in fake.ipynb"

    def module_for(self, *targets: str) -> str:
        return "\n".join(f"# {t}" for t in targets)

    def probe(self, targets, calls, load_timeout_s: float = 60.0, **kw) -> list[Outcome]:
        out = []
        for c in calls:
            self.calls.append(c)
            try:
                value = self.ns[c.fn](*c.args, **c.kwargs)
            except Exception as exc:  # the student's exception, as the probe reports it
                out.append(Outcome(False, None, f"{type(exc).__name__}: {exc}"))
            else:
                out.append(Outcome(True, ref_to_numpy(value)))
        return out


def item(kind: str, target: str | None, params: dict, visibility: str = "visible", id: str = "fake.item") -> ItemSpec:
    from grader.checks import registry

    return ItemSpec(id=id, title=id, points=1.0, kind=kind, target=target, params=registry.get(kind).Params.of(params),
                    visibility=visibility, feedback="", part="code")
