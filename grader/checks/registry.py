"""Name -> check kind. Registration is checked: a kind must declare a name and a typed
parameter model (`Params`, a CheckParams); its JSON schema is generated here, once."""
from __future__ import annotations

import importlib
import pkgutil

from grader.checks.base import CheckKind, CheckParams, json_schema

_KINDS: dict[str, CheckKind] = {}
_LOADED = False


def register(cls: type[CheckKind]) -> type[CheckKind]:
    name = getattr(cls, "name", None)
    if not name or not isinstance(name, str):
        raise TypeError(f"{cls.__name__} must set a string `name`")
    model = getattr(cls, "Params", None)
    if not (isinstance(model, type) and issubclass(model, CheckParams)):
        raise TypeError(f"check kind {name!r} must declare `Params`, a subclass of grader.checks.base.CheckParams")
    if "params_schema" in vars(cls) and not vars(cls).get("_schema_generated"):
        raise TypeError(f"check kind {name!r} declares `params_schema` by hand; it is generated from `Params`")
    if name in _KINDS and type(_KINDS[name]) is not cls:
        raise ValueError(f"check kind {name!r} registered twice ({type(_KINDS[name]).__name__} and {cls.__name__})")
    cls.params_schema = json_schema(model)
    cls._schema_generated = True
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


def kinds() -> list[CheckKind]:
    """Every registered kind, by name."""
    return [get(n) for n in names()]
