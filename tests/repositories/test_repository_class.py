from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

import pytest

from orm_repositories import AsyncRepository
from tests.models import Note, Product
from tests.support import ProductRepository, ShopUoW

ModelT = TypeVar("ModelT")


class SpecialProducts(ProductRepository):
    async def cheapest(self, n: int) -> list[Product]:
        return await self.list(order_by="price", limit=n)


class VerySpecialProducts(SpecialProducts):
    max_page_size = 3


class AuditedRepository(AsyncRepository[ModelT]):
    """A generic intermediate base that leaves the model open."""

    def describe(self) -> str:
        return self.model.__name__


class AuditedNotes(AuditedRepository[Note]):
    pass


def test_a_subclass_of_a_subclass_keeps_the_model():
    assert ProductRepository.model is Product
    assert SpecialProducts.model is Product
    assert VerySpecialProducts.model is Product


def test_a_generic_intermediate_base_takes_the_model_from_its_subclass():
    assert AuditedNotes.model is Note
    assert "model" not in AuditedRepository.__dict__


def test_for_model_builds_and_caches_a_bound_class():
    bound = AsyncRepository.for_model(Note)
    assert bound is AsyncRepository.for_model(Note)
    assert bound.model is Note and issubclass(bound, AsyncRepository)
    assert AuditedRepository.for_model(Product).model is Product


async def test_repository_classes_work_in_a_unit_of_work(database):
    async with ShopUoW(database) as uow:
        repo = uow.repository(VerySpecialProducts)
        assert isinstance(repo, VerySpecialProducts) and repo.session is uow.session
        await repo.create(sku="a", name="a", price=Decimal("3"))
        await repo.create(sku="b", name="b", price=Decimal("1"))
        assert [p.sku for p in await repo.cheapest(1)] == ["b"]
        assert (await repo.paginate(page_size=3)).total == 2
        notes = uow.repository(AuditedNotes)
        assert notes.describe() == "Note"
        assert type(notes.with_deleted()) is AuditedNotes
        by_model = uow.repository(Product)
        assert by_model.model is Product and await by_model.count() == 2
        direct = AsyncRepository[Note](uow.session)
        assert direct.model is Note and await direct.count() == 0


async def test_a_repository_needs_an_async_session_and_a_model(database):
    with pytest.raises(TypeError):
        ProductRepository("not a session")
    async with database.session() as session:
        with pytest.raises(TypeError):
            await AsyncRepository(session).count()
        with pytest.raises(TypeError):
            await AuditedRepository(session).count()
