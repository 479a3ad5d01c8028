"""Name -> check kind. Registration is checked: a kind must declare a name and a params schema."""
from __future__ import annotations

import importlib
import pkgutil

from grader.checks.base import CheckKind

_KINDS: dict[str, CheckKind] = {}
_LOADED = False


def register(cls: type[CheckKind]) -> type[CheckKind]:
    name = getattr(cls, "name", None)
    if not name or not isinstance(name, str):
        raise TypeError(f"{cls.__name__} must set a string `name`")
    if not isinstance(getattr(cls, "params_schema", None), dict):
        raise TypeError(f"check kind {name!r} must declare a dict `params_schema`")
    if name in _KINDS and type(_KINDS[name]) is not cls:
        raise ValueError(f"check kind {name!r} registered twice ({type(_KINDS[name]).__name__} and {cls.__name__})")
    _KINDS[name] = cls()
    return cls


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    import grader.checks as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("kind_"):
            importlib.import_module(f"grader.checks.{mod.name}")
    _LOADED = True


def get(name: str) -> CheckKind:
    _load_all()
    return _KINDS[name]


def names() -> list[str]:
    _load_all()
    return sorted(_KINDS)
