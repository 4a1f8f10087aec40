"""Each package's `__all__` is sorted, importable and names every public symbol it defines."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["orm_core", "orm_repositories", "orm_fastapi"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    # isort-style, as ruff's RUF022 keeps it: CONSTANTS, then Classes, then functions
    assert exported == sorted(exported, key=lambda s: (not s.isupper(), not s[:1].isupper(), s))
    assert len(set(exported)) == len(exported)
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.{symbol} is in __all__ but missing"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_of_the_package_is_exported(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and getattr(value, "__module__", "").startswith(name)
        and not isinstance(value, type(importlib))
    }
    assert public <= set(module.__all__), public - set(module.__all__)


def test_contract_names_are_importable_from_their_package() -> None:
    contract = {
        "orm_core": [
            "Base", "TimestampMixin", "SoftDeleteMixin", "VersionMixin", "Database", "UnitOfWork",
            "OrmError", "NotFoundError", "DuplicateError", "ConstraintError",
            "ConcurrentModificationError", "LockNotAvailableError", "InvalidQueryError",
            "TransactionError", "TransactionConflictError", "CommitUnknownError", "DatabaseError",
            "DatabaseUnavailableError", "Page", "CursorPage",
        ],
        "orm_repositories": ["AsyncRepository"],
    }  # fmt: skip
    for package, names in contract.items():
        module = importlib.import_module(package)
        for symbol in names:
            assert symbol in module.__all__, f"{package}.{symbol}"


def test_error_classes_mix_in_matching_builtins() -> None:
    from orm_core import InvalidQueryError, NotFoundError, OrmError

    assert issubclass(NotFoundError, LookupError) and issubclass(NotFoundError, OrmError)
    assert issubclass(InvalidQueryError, ValueError)
    error = NotFoundError("gone", {"model": "X", "filters": {}})
    assert error.message == "gone" and error.details == {"model": "X", "filters": {}}
