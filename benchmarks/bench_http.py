"""HTTP throughput: the shop (container + unit of work + repositories) vs a hand-written app.

Both applications run in-process behind httpx's ASGI transport, against the same
PostgreSQL database (a private schema), with the same pool settings and the same
client concurrency. The hand-written one is the usual FastAPI + SQLAlchemy shape:
a `Depends(get_db)` session and the statements written out in the endpoint.

    python -m benchmarks http
"""

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import httpx
from dependency_injector import providers
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from benchmarks.common import POSTGRES_URL, Row, print_table
from examples.shop.application import create_app
from examples.shop.bootstrap import create_tables, seed_demo_data
from examples.shop.models import Order, Product
from examples.shop.schemas import CheckoutIn, OrderOut, ProductOut
from examples.shop.tenancy import DEFAULT_TENANT
from orm_core import Database, utcnow

CONCURRENCY = int(os.environ.get("BENCH_HTTP_CONCURRENCY", "16"))
REQUESTS = int(os.environ.get("BENCH_HTTP_REQUESTS", "1000"))
ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "5"))
POOL = {"pool_size": 10, "max_overflow": 0}

Call = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def handwritten_app(url: str, schema: str) -> tuple[FastAPI, Callable[[], Awaitable[None]]]:
    """The same two endpoints written against SQLAlchemy directly."""
    engine = create_async_engine(
        url, connect_args={"server_settings": {"search_path": schema}}, pool_pre_ping=True, **POOL
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get_db() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    Db = Annotated[AsyncSession, Depends(get_db)]
    app = FastAPI()

    # the shop's rows belong to its one tenant: the same conditions the unit of work adds
    @app.get("/products/{product_id}", response_model=ProductOut)
    async def get_product(product_id: int, db: Db) -> ProductOut:
        stmt = select(Product).where(Product.id == product_id, Product.tenant_id == DEFAULT_TENANT)
        product = (await db.execute(stmt)).scalar_one_or_none()
        if product is None:
            raise HTTPException(404, "Product not found")
        return ProductOut.model_validate(product)

    @app.post("/checkout", response_model=OrderOut, status_code=201)
    async def checkout(body: CheckoutIn, db: Db) -> OrderOut:
        stmt = (
            update(Product)
            .where(
                Product.id == body.product_id,
                Product.tenant_id == DEFAULT_TENANT,
                Product.stock - body.quantity >= 0,
            )
            .values(stock=Product.stock - body.quantity, updated_at=utcnow())
            .returning(Product.id, Product.price)
        )
        row = (await db.execute(stmt)).first()
        if row is None:
            await db.rollback()
            raise HTTPException(409, "out of stock")
        order = Order(
            tenant_id=DEFAULT_TENANT,
            product_id=row.id,
            quantity=body.quantity,
            total=row.price * body.quantity,
            customer=body.customer,
        )
        db.add(order)
        await db.commit()
        return OrderOut.model_validate(order)

    return app, engine.dispose


async def load(app: FastAPI, call: Call) -> float:
    """Send REQUESTS requests with CONCURRENCY workers; return requests per second."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        counter = iter(range(REQUESTS))

        async def worker() -> None:
            for i in counter:
                response = await call(client, i)
                if response.status_code >= 300:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return REQUESTS / (time.perf_counter() - started)


def get_product(client: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
    return client.get(f"/products/{1 + i % 5}")


def post_checkout(client: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
    return client.post("/checkout", json={"product_id": 5, "quantity": 1})


async def main() -> None:
    """Compare requests/s of both applications on GET /products/{id} and POST /checkout."""
    schema = f"bench_http_{uuid.uuid4().hex[:8]}"
    admin = Database(POSTGRES_URL)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    database = Database(
        POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}}, **POOL
    )
    try:
        await create_tables(database)
        await seed_demo_data(database)
        await database.execute("UPDATE products SET stock = :n WHERE id = 5", {"n": 10**8})
        shop = create_app({"url": POSTGRES_URL}, seed=False)
        shop.state.orm_container.database.override(providers.Object(database))
        plain, dispose_plain = handwritten_app(POSTGRES_URL, schema)
        rows: list[Row] = []
        for case, call in (("GET /products/{id}", get_product), ("POST /checkout", post_checkout)):
            ours: list[float] = []
            theirs: list[float] = []
            await load(shop, call)  # warm up both
            await load(plain, call)
            for round_ in range(ROUNDS):
                pair = [(shop, ours), (plain, theirs)]
                for app, samples in pair if round_ % 2 == 0 else reversed(pair):
                    samples.append(await load(app, call))
            ours_rps, theirs_rps = statistics.median(ours), statistics.median(theirs)
            baseline = Row(case, "hand-written Depends(get_db)", 1 / theirs_rps)
            baseline.note = f"{theirs_rps:,.0f} req/s"
            framework = Row(case, "container + unit of work", 1 / ours_rps, 1 / theirs_rps)
            framework.note = f"{ours_rps:,.0f} req/s = {ours_rps / theirs_rps:.2f}x throughput"
            rows += [baseline, framework]
        print_table(
            f"HTTP in-process, PostgreSQL, {CONCURRENCY} concurrent clients, "
            f"{REQUESTS} requests x {ROUNDS} rounds (median time per request)",
            rows,
        )
        await dispose_plain()
    finally:
        await database.dispose()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
