"""`Class[Model]` as a real subclass bound to `Model`, for classes generic over a model.

`AsyncRepository[Product]` used as an annotation or passed as a class would otherwise
be a typing alias with nothing attached; binding the model here, once, makes it a
class that can be instantiated, annotated and handed around, with `.model` set.
"""

from __future__ import annotations

from typing import Any

_BOUND: dict[tuple[type[Any], type[Any]], type[Any]] = {}


def is_model(value: Any) -> bool:
    """Tell whether `value` is a mapped SQLAlchemy class."""
    return isinstance(value, type) and hasattr(value, "__mapper__")


def bound_to_model(cls: type[Any], model: type[Any], name: str | None = None) -> type[Any]:
    """Return (and cache) the subclass of `cls` whose `model` is `model`."""
    key = (cls, model)
    made = _BOUND.get(key)
    if made is None:
        title = name or f"{cls.__name__}[{model.__name__}]"
        made = _BOUND[key] = type(title, (cls,), {"model": model, "__module__": cls.__module__})
    return made
