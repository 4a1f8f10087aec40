"""Find and build the repositories a unit of work is asked for.

A repository class is anything marked `__orm_repository__ = True` that is built
from a session (`AsyncRepository` and its subclasses, `AsyncRepository[Model]`).
`orm_core` never imports the repository package: the package registers its generic
class here when it is imported, and `uow.repository(Model)` uses that class.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orm_core.errors import TransactionError

_generic: list[Any] = []


def register_generic_repository(repository_class: Any) -> None:
    """Register the class `uow.repository(Model)` builds for a bare model."""
    _generic[:] = [repository_class]


def is_repository_class(target: Any) -> bool:
    """Tell whether `target` is a repository class (a subclass or `AsyncRepository[Model]`)."""
    return isinstance(target, type) and bool(getattr(target, "__orm_repository__", False))


def build_repository(target: Any, session: AsyncSession) -> Any:
    """Instantiate the repository described by `target` (a repository class or a model).

    Raises:
        TransactionError: `target` is neither, or no repository package is loaded.
    """
    if is_repository_class(target):
        return target(session)
    if isinstance(target, type) and hasattr(target, "__mapper__"):
        if not _generic:
            raise TransactionError(
                f"uow.repository({target.__name__}) needs a repository class: import "
                "orm_repositories, or pass AsyncRepository[Model] or a subclass"
            )
        return _generic[0][target](session)
    raise TransactionError(f"cannot build a repository from {target!r}")


def repository_annotations(uow_class: type) -> dict[str, Any]:
    """Collect the repository annotations of a unit-of-work class and its bases."""
    found: dict[str, Any] = {}
    for klass in reversed(uow_class.__mro__):
        module = sys.modules.get(klass.__module__)
        namespace = dict(vars(module)) if module else {}
        for name, annotation in inspect.get_annotations(klass).items():
            resolved = _resolve(annotation, namespace, klass)
            if is_repository_class(resolved):
                found[name] = resolved
    return found


def _resolve(annotation: Any, namespace: dict[str, Any], klass: type) -> Any:
    if not isinstance(annotation, str):
        return annotation
    try:
        # a string annotation (PEP 563) is evaluated where the class was defined
        return eval(annotation, namespace, dict(vars(klass)))
    except Exception:
        return None
