"""What a cached read returns and counts: attached entities, stats, tenants, bypasses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from orm_core import (
    ALL_TENANTS,
    Database,
    InvalidQueryError,
    MemoryCache,
    NotFoundError,
    RelationshipNotLoadedError,
    UnitOfWork,
)
from orm_core.caching.policy import REPLICA, ROUTE_KEY
from orm_repositories import AsyncRepository
from tests.models import Account, BlogArticle, BlogComment, BlogUser, Product, TenantItem
from tests.support import ProductRepository, recorded


@pytest.fixture
async def db(database: Database):
    cached = Database(database.url, cache=MemoryCache(max_entries=100))
    async with UnitOfWork(cached) as uow:
        for n in range(1, 4):
            await uow.repository(Product).create(
                sku=f"S{n}", name=f"P{n}", price=Decimal(n), category="a"
            )
    yield cached
    await cached.dispose()


def stats(db: Database) -> dict[str, int]:
    assert db.cache is not None
    return db.cache.stats()


async def read_get(db: Database, id: int = 1, **options) -> Product | None:
    async with UnitOfWork(db, read_only=True, **options) as uow:
        return await uow.repository(Product).cached().get(id)


async def test_stats_count_hits_misses_sets_and_invalidations(db):
    assert stats(db) == {"hits": 0, "misses": 0, "sets": 0, "invalidations": 1, "errors": 0}
    await read_get(db)
    assert stats(db) == {"hits": 0, "misses": 1, "sets": 1, "invalidations": 1, "errors": 0}
    await read_get(db)
    await read_get(db)
    assert stats(db) == {"hits": 2, "misses": 1, "sets": 1, "invalidations": 1, "errors": 0}
    async with UnitOfWork(db) as uow:
        await uow.repository(Product).update(1, name="renamed")
    assert stats(db)["invalidations"] == 2
    assert (await read_get(db)).name == "renamed"
    assert stats(db) == {"hits": 2, "misses": 2, "sets": 2, "invalidations": 2, "errors": 0}
    db.cache.reset_stats()
    assert stats(db) == dict.fromkeys(stats(db), 0)


async def test_a_read_only_unit_that_writes_nothing_invalidates_nothing(db):
    async with UnitOfWork(db) as uow:
        await uow.repository(Product).list()
    assert stats(db)["invalidations"] == 1  # the seeding commit only


async def test_a_rolled_back_unit_invalidates_nothing(db):
    await read_get(db)
    with pytest.raises(RuntimeError):
        async with UnitOfWork(db) as uow:
            await uow.repository(Product).update(1, name="never")
            raise RuntimeError("boom")
    assert stats(db)["invalidations"] == 1
    assert (await read_get(db)).name == "P1"
    assert stats(db)["hits"] == 1


async def test_cached_entities_are_attached_to_the_session_as_if_loaded(db):
    await read_get(db)
    async with UnitOfWork(db) as uow:
        products = uow.repository(Product).cached()
        with recorded(db) as log:
            product = await products.get(1)
        assert log.statements == []  # served by the cache
        assert product in uow.session
        assert not uow.session.dirty and not uow.session.new
        product.name = "edited"  # a plain ORM change of a cached entity is flushed
    async with UnitOfWork(db) as uow:
        assert (await uow.repository(Product).get(1)).name == "edited"


async def test_an_instance_the_session_already_holds_wins(db):
    await read_get(db)
    async with UnitOfWork(db) as uow:
        held = await uow.repository(Product).get(1)
        listed = await uow.repository(Product).cached().list(order_by="id")
        assert listed[0] is held


@pytest.mark.postgres  # SQLite's single writer would wait for the unit holding the entity
async def test_an_entity_held_before_the_read_is_never_written_into_the_cache(database, db):
    # the held copy can predate the read's snapshot: its values must not fill an entry
    async with UnitOfWork(db) as uow:
        held = await uow.repository(Product).get(1)
        async with UnitOfWork(database) as other:  # a commit the cache does not hear of
            await other.repository(Product).update(1, name="changed elsewhere")
        assert (await uow.repository(Product).cached().get_many([1]))[0] is held
    assert stats(db)["sets"] == 0


async def test_a_versioned_entity_from_the_cache_updates_under_its_version(database):
    db = Database(database.url, cache=MemoryCache())
    async with UnitOfWork(db) as uow:
        await uow.repository(Account).create(owner="ann", balance=Decimal(5))
    for _ in range(2):
        async with UnitOfWork(db) as uow:
            account = await uow.repository(Account).cached().get_one(1)
            account.balance += 1
    async with UnitOfWork(db) as uow:
        found = await uow.repository(Account).get_one(1)
        assert (found.balance, found.version) == (Decimal(7), 3)
    assert db.cache.stats()["hits"] == 0  # each commit invalidated the entry
    await db.dispose()


async def test_loaded_relationships_come_from_the_cache_and_others_still_raise(database):
    db = Database(database.url, cache=MemoryCache())
    async with UnitOfWork(db) as uow:
        user = await uow.repository(BlogUser).create(username="ann")
        article = await uow.repository(BlogArticle).create(slug="a", title="A", author_id=user.id)
        await uow.repository(BlogComment).create(body="hi", article_id=article.id, author_id=1)
    for _ in range(2):
        async with UnitOfWork(db) as uow:
            with recorded(db) as log:
                found = await uow.repository(BlogArticle).cached().list(load="comments.author")
            assert [c.author.username for c in found[0].comments] == ["ann"]
            assert found[0].comments[0].author.badges == []  # loaded eagerly by the model
            with pytest.raises(RelationshipNotLoadedError):
                found[0].tags  # noqa: B018
    assert log.statements == []
    assert db.cache.stats()["hits"] == 1
    await db.dispose()


async def test_get_one_of_a_missing_row_raises_from_the_cache_too(db):
    for _ in range(2):
        async with UnitOfWork(db, read_only=True) as uow:
            with pytest.raises(NotFoundError):
                await uow.repository(Product).cached().get_one(42)
    assert stats(db)["hits"] == 1


async def test_bad_input_is_refused_before_the_cache_like_before_sql(db):
    async with UnitOfWork(db, read_only=True) as uow:
        products = uow.repository(Product).cached()
        with pytest.raises(InvalidQueryError):
            await products.get("not an id")
        with pytest.raises(InvalidQueryError):
            await products.list(nope=1)
        with pytest.raises(InvalidQueryError):
            await products.paginate(page=0)
        with pytest.raises(InvalidQueryError):
            await products.exists_many(7)
        with pytest.raises(InvalidQueryError):
            uow.repository(Product).cached(ttl=0)
    assert stats(db)["sets"] == 0


async def test_a_custom_repository_class_stays_itself_and_its_own_reads_are_cached(db):
    class Cheap(ProductRepository):
        async def cheapest(self) -> Product | None:
            return await self.first(order_by="price")

    for _ in range(2):
        async with UnitOfWork(db, read_only=True) as uow:
            repo = uow.repository(Cheap).cached(ttl=None)
            assert isinstance(repo, Cheap)
            assert (await repo.cheapest()).sku == "S1"
            assert isinstance(repo.with_deleted(), Cheap)
    assert stats(db)["hits"] == 1


async def test_reads_of_sql_text_or_loader_options_go_to_the_database(db):
    from sqlalchemy.orm import selectinload

    async with UnitOfWork(db) as uow:
        products = uow.repository(Product).cached()
        assert await products.count(text("price > 1")) == 2
        articles = uow.repository(BlogArticle).cached()
        assert await articles.list(load=selectinload(BlogArticle.tags)) == []
        assert await products.count(Product.price > 1) == 2  # an expression is cached
    assert stats(db)["sets"] == 1


async def test_inside_a_unit_that_wrote_a_table_its_cached_reads_go_to_the_database(db):
    await read_get(db)
    async with UnitOfWork(db) as uow:
        products = uow.repository(Product).cached()
        await products.count()  # fills
        before = stats(db)
        product = await products.get(1)  # a hit
        product.name = "pending"  # not flushed yet
        assert (await products.list(order_by="id"))[0].name == "pending"
        await uow.repository(Product).create(sku="S9", name="P9", price=Decimal(9))
        assert await products.count() == 4
        assert stats(db)["hits"] == before["hits"] + 1
        assert stats(db)["misses"] == before["misses"]
    async with UnitOfWork(db, read_only=True) as uow:
        assert await uow.repository(Product).cached().count() == 4


async def test_serializable_units_bypass_the_cache(db):
    await read_get(db)
    before = stats(db)
    for level in ("SERIALIZABLE", "REPEATABLE READ"):
        assert (await read_get(db, isolation_level=level)).sku == "S1"
        assert (await read_get(db, 2, isolation_level=level)).sku == "S2"
    assert stats(db) == before


async def test_replica_reads_are_served_by_the_cache_but_never_fill_it(db):
    await read_get(db)
    async with UnitOfWork(db, read_only=True) as uow:
        uow.session.info[ROUTE_KEY] = REPLICA
        products = uow.repository(Product).cached()
        assert (await products.get(1)).sku == "S1"  # a hit
        assert (await products.get(2)).sku == "S2"  # a miss, read without filling
    assert stats(db)["hits"] == 1
    assert stats(db)["sets"] == 1


@pytest.mark.sqlite
async def test_on_sqlite_a_read_only_unit_fills_only_before_its_snapshot(db):
    async with UnitOfWork(db, read_only=True) as uow:
        products = uow.repository(Product).cached()
        await products.get(1)  # opens the transaction after reading the versions: fills
        await products.get(2)  # the snapshot may predate the versions: no fill
    assert stats(db)["sets"] == 1
    async with UnitOfWork(db) as uow:  # a writer holds SQLite's only write lock
        products = uow.repository(Product).cached()
        await products.get(2)
        await products.get(3)
    assert stats(db)["sets"] == 3


@pytest.mark.postgres
async def test_on_postgresql_read_committed_reads_fill_anywhere_in_the_unit(db):
    async with UnitOfWork(db, read_only=True) as uow:
        products = uow.repository(Product).cached()
        await products.get(1)
        await products.get(2)
    assert stats(db)["sets"] == 2


async def test_tenants_never_share_entries(database):
    db = Database(database.url, cache=MemoryCache())
    for tenant in ("acme", "globex"):
        async with UnitOfWork(db, tenant=tenant) as uow:
            await uow.repository(TenantItem).create(sku="X", name=f"{tenant} item")

    async def names(tenant) -> list[str]:
        async with UnitOfWork(db, read_only=True, tenant=tenant) as uow:
            return [i.name for i in await uow.repository(TenantItem).cached().list()]

    for _ in range(2):
        assert await names("acme") == ["acme item"]
        assert await names("globex") == ["globex item"]
        assert sorted(await names(ALL_TENANTS)) == ["acme item", "globex item"]
    assert db.cache.stats()["misses"] == 3
    assert db.cache.stats()["hits"] == 3
    async with UnitOfWork(db, tenant="acme") as uow:
        await uow.repository(TenantItem).update_where({"name": "renamed"}, sku="X")
    assert await names("acme") == ["renamed"]
    assert await names("globex") == ["globex item"]
    await db.dispose()


@pytest.mark.postgres
async def test_versions_are_per_schema(database):
    from tests.models import Base

    db = Database(database.url, cache=MemoryCache())
    schema = "cache_tenant_s1"
    await db.create_all(Base.metadata, schema=schema)
    try:
        for name in (None, schema):
            async with UnitOfWork(db, schema=name) as uow:
                await uow.repository(Product).create(sku="S", name=f"in {name}", price=1)

        async def read(name):
            async with UnitOfWork(db, read_only=True, schema=name) as uow:
                return (await uow.repository(Product).cached().first()).name

        assert (await read(None), await read(schema)) == ("in None", f"in {schema}")
        async with UnitOfWork(db) as uow:  # the default schema, named or not
            await uow.repository(Product).update_where({"name": "default"}, sku="S")
        hits = db.cache.stats()["hits"]
        assert await read(schema) == f"in {schema}"  # still cached
        assert db.cache.stats()["hits"] == hits + 1
        assert await read("public") == "default"
        assert await read(None) == "default"
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await db.dispose()


async def test_writes_of_the_callers_own_statements_through_the_session_invalidate(db):
    from sqlalchemy import update

    await read_get(db)
    async with UnitOfWork(db) as uow:
        await uow.session.execute(update(Product).where(Product.id == 1).values(name="core"))
    assert (await read_get(db)).name == "core"


async def test_a_database_without_a_cache_reads_as_usual(database):
    async with UnitOfWork(database, read_only=True) as uow:
        assert await uow.repository(Product).cached().count() == 0
        rows = await uow.session.execute(select(func.count()).select_from(Product))
        assert rows.scalar_one() == 0


async def test_a_bare_session_reads_through_the_cache(db):
    await read_get(db)
    async with db.session() as session:
        assert (await AsyncRepository[Product](session).cached().get(1)).sku == "S1"
    assert stats(db)["hits"] == 1


async def test_the_cache_must_be_a_cache(database):
    with pytest.raises(InvalidQueryError):
        Database(database.url, cache="redis://127.0.0.1")
