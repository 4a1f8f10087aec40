"""Resolve what a unit of work was told to build into a repository instance.

`orm_core` cannot import `orm_repositories` (imports point one way), so the
repository package registers its default class here when it is imported.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any, get_args, get_origin

from sqlalchemy.ext.asyncio import AsyncSession

from orm_core.errors import TransactionError

RepositorySpec = Any
_default_repository: list[Any] = []


def set_default_repository_class(repository_class: Any) -> None:
    """Register the class used for `uow.repository(Model)`."""
    _default_repository[:] = [repository_class]


def is_repository_spec(annotation: Any) -> bool:
    """Tell whether an annotation names a repository class or a parametrised alias."""
    target = get_origin(annotation) or annotation
    return isinstance(target, type) and bool(getattr(target, "__orm_repository__", False))


def build_repository(target: Any, session: AsyncSession) -> Any:
    """Instantiate the repository described by `target` on `session`."""
    origin = get_origin(target)
    if origin is not None and is_repository_spec(origin):
        args = get_args(target)
        return origin.for_model(args[0])(session)
    if isinstance(target, type) and getattr(target, "__orm_repository__", False):
        return target(session)
    if isinstance(target, type) and hasattr(target, "__mapper__"):
        if not _default_repository:
            # the repository package registers itself on import; load it on first need
            importlib.import_module("orm_repositories")
        return _default_repository[0].for_model(target)(session)
    raise TransactionError(f"cannot build a repository from {target!r}")


def repository_specs(uow_class: type) -> dict[str, RepositorySpec]:
    """Collect the repository annotations of a unit-of-work class and its bases."""
    specs: dict[str, RepositorySpec] = {}
    for klass in reversed(uow_class.__mro__):
        annotations = inspect.get_annotations(klass)
        module = sys.modules.get(klass.__module__)
        namespace = dict(vars(module)) if module else {}
        for name, annotation in annotations.items():
            resolved = _resolve(annotation, namespace, klass)
            if resolved is not None and is_repository_spec(resolved):
                specs[name] = resolved
    return specs


def _resolve(annotation: Any, namespace: dict[str, Any], klass: type) -> Any:
    if not isinstance(annotation, str):
        return annotation
    try:
        # a string annotation (PEP 563) is evaluated where the class was defined
        return eval(annotation, namespace, dict(vars(klass)))
    except Exception:
        return None
