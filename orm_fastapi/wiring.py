"""Refuse endpoint modules whose injected parameters dependency-injector cannot see.

With `from __future__ import annotations`, an `Annotated[Service, Depends(Provide[...])]`
parameter is a string when dependency-injector wires the module: it sees no marker,
leaves the function alone (with only a warning), and FastAPI then hands the endpoint
the `Provide` marker itself. After wiring, every module function whose parameters
carry a marker must have been patched; one that was not is an error naming it.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import typing
from types import ModuleType
from typing import Any

from dependency_injector import wiring

_MARKERS: Any = (wiring.Provide, wiring.Provider, wiring.Closing)


def check_wired(modules: list[ModuleType | str]) -> None:
    """Raise if a function of `modules` asks for injection that wiring did not set up.

    Raises:
        TypeError: a function (named in the message) would receive a marker, not a value.
    """
    for reference in modules:
        module = _module(reference)
        for name, function in vars(module).items():
            if not inspect.isfunction(function) or function.__module__ != module.__name__:
                continue
            if _wants_injection(function) and not _is_patched(function):
                raise TypeError(
                    f"{module.__name__}.{name} asks for injection, but dependency-injector "
                    "cannot see its markers (string annotations from `from __future__ import "
                    "annotations`?): remove that import from the module, or put the marker in "
                    "the default value (`= Depends(Provide[...])`)"
                )


def _module(reference: ModuleType | str) -> ModuleType:
    if isinstance(reference, ModuleType):
        return reference
    return sys.modules.get(reference) or importlib.import_module(reference)


def _wants_injection(function: Any) -> bool:
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:
        raw = getattr(function, "__annotations__", {})
        return any(isinstance(a, str) and "Provide" in a for a in raw.values())
    values: list[Any] = list(hints.values())
    values += [p.default for p in inspect.signature(function).parameters.values()]
    return any(_has_marker(value) for value in values)


def _has_marker(value: Any) -> bool:
    if isinstance(value, _MARKERS):
        return True
    dependency = getattr(value, "dependency", None)  # FastAPI's Depends(...)
    if dependency is not None and isinstance(dependency, _MARKERS):
        return True
    return any(_has_marker(extra) for extra in getattr(value, "__metadata__", ()))


def _is_patched(function: Any) -> bool:
    checker = getattr(wiring, "_is_patched", None)
    return bool(checker(function)) if checker is not None else hasattr(function, "__wrapped__")
