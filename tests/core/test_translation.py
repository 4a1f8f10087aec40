"""Driver errors become the documented `OrmError` classes on both databases."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert

from orm_core import (
    ConstraintError,
    DuplicateError,
    InvalidQueryError,
    OrmError,
    QueryTimeoutError,
    TransactionConflictError,
    TransactionError,
)
from orm_core.translate import translate
from tests.models import Order, Product
from tests.support import ShopUoW


async def _product(db, sku: str = "A") -> int:
    async with ShopUoW(db) as uow:
        p = await uow.repository(Product).create(sku=sku, name="n", price=Decimal("1"))
        return int(p.id)


async def test_unique_violation_is_a_duplicate_error_naming_the_field(database):
    await _product(database, "A")
    with pytest.raises(DuplicateError) as info:
        await _product(database, "A")
    assert info.value.details["fields"] == ["sku"]
    assert "sku" in info.value.message or "uq_products_sku" in info.value.message


async def test_foreign_key_violation_is_a_constraint_error(database):
    with pytest.raises(ConstraintError) as info:
        async with ShopUoW(database) as uow:
            await uow.repository(Order).create(product_id=12345)
    assert not isinstance(info.value, DuplicateError)


async def test_check_violation_is_a_constraint_error(database):
    with pytest.raises(ConstraintError):
        async with ShopUoW(database) as uow:
            await uow.repository(Product).create(sku="A", name="n", price=Decimal("1"), stock=-1)


async def test_not_null_violation_is_a_constraint_error(database):
    with pytest.raises(ConstraintError):
        async with ShopUoW(database) as uow:
            await uow.session.execute(insert(Product.__table__).values(sku="A", price=1))


@pytest.mark.postgres
async def test_value_rejected_by_the_database_is_an_invalid_query_error(database):
    with pytest.raises(InvalidQueryError):
        await database.execute("SELECT CAST(:v AS integer)", {"v": "not a number"})


async def test_using_a_failed_transaction_is_a_transaction_error(database):
    await _product(database, "A")
    with pytest.raises(TransactionError):
        async with ShopUoW(database) as uow:
            with pytest.raises(DuplicateError):
                await uow.repository(Product).create(sku="A", name="n", price=Decimal("1"))
            await uow.repository(Product).count()


def test_non_database_errors_pass_through_translate_as_database_error():
    mapped = translate(RuntimeError("x"))
    assert isinstance(mapped, OrmError)
    assert "RuntimeError" in mapped.message


@pytest.mark.parametrize(
    ("errno", "sqlstate", "expected"),
    [
        (1062, "23000", DuplicateError),
        (1452, "23000", ConstraintError),
        (1048, "23000", ConstraintError),
        (1213, "40001", TransactionConflictError),
        (1205, "HY000", QueryTimeoutError),
    ],
)
def test_mysql_errors_are_told_apart_by_their_number_not_their_shared_sqlstate(
    errno, sqlstate, expected
):
    # PyMySQL 1.1 and later carry the server's SQLSTATE, which is 23000 for every
    # integrity error: the error number is what tells a duplicate from a foreign key
    pymysql = pytest.importorskip("pymysql")
    message = "Duplicate entry 'A' for key 'uq_products_sku'" if errno == 1062 else "refused"
    driver = pymysql.err.IntegrityError(errno, message, sqlstate=sqlstate)
    mapped = translate(sa_exc.IntegrityError("INSERT …", None, driver))
    assert type(mapped) is expected
    assert mapped.details["mysql_errno"] == errno
    if errno == 1062:
        assert mapped.details["constraint"] == "uq_products_sku"
