"""add tenant_id to the shop tables

Products, accounts and orders become tenant rows (`TenantMixin`): each table gets an
indexed `tenant_id`, and SKUs and account owners become unique per tenant.

Existing rows land in the default tenant, `shop`: the column is added with that server
default, which is dropped again right after, as the models declare none (the unit of
work writes every insert's tenant; a raw INSERT that forgets it should fail, not land in
`shop`).

The downgrade drops `tenant_id` and restores the global unique keys, so it merges every
tenant's rows into one shop; it fails (and leaves everything as it was on PostgreSQL)
when two tenants share a SKU or an account owner.

Every statement names the schema it runs in (`orm db upgrade --schema acme` runs the
revisions in schema `acme`): Alembic writes the table name of its ALTER TABLE
statements as text, which the connection's schema translation does not reach.

Revision ID: fdd7d19d8fa7
Revises: 9d5aebd8dbd2
Create Date: 2026-11-29 11:19:55.977096
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

# revision identifiers, used by Alembic.
revision: str = "fdd7d19d8fa7"
down_revision: str | Sequence[str] | None = "9d5aebd8dbd2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_TENANT = "shop"  # examples.shop.tenancy.DEFAULT_TENANT when this was written
TABLES = ("products", "accounts", "orders")


def altering(table: str) -> AbstractContextManager[BatchOperations]:
    """Batch operations on `table` in the schema the revisions run in (None: the default)."""
    return op.batch_alter_table(table, schema=op.get_context().version_table_schema)


def upgrade() -> None:
    """Upgrade the schema."""
    # batch mode: plain ALTERs on PostgreSQL, a copy of the table where SQLite cannot ALTER
    for table in TABLES:
        with altering(table) as batch:
            batch.add_column(
                sa.Column(
                    "tenant_id", sa.String(length=64), nullable=False, server_default=DEFAULT_TENANT
                )
            )
            batch.create_index(op.f(f"ix_{table}_tenant_id"), ["tenant_id"], unique=False)
        # a step of its own: SQLite's copy of the old rows needs the default in place
        with altering(table) as batch:
            batch.alter_column("tenant_id", existing_type=sa.String(length=64), server_default=None)
    with altering("products") as batch:
        batch.drop_constraint(op.f("uq_products_sku"), type_="unique")
        batch.create_unique_constraint(op.f("uq_products_tenant_id_sku"), ["tenant_id", "sku"])
    with altering("accounts") as batch:
        batch.drop_constraint(op.f("uq_accounts_owner"), type_="unique")
        batch.create_unique_constraint(op.f("uq_accounts_tenant_id_owner"), ["tenant_id", "owner"])


def downgrade() -> None:
    """Downgrade the schema."""
    with altering("accounts") as batch:
        batch.drop_constraint(op.f("uq_accounts_tenant_id_owner"), type_="unique")
        batch.create_unique_constraint(op.f("uq_accounts_owner"), ["owner"])
    with altering("products") as batch:
        batch.drop_constraint(op.f("uq_products_tenant_id_sku"), type_="unique")
        batch.create_unique_constraint(op.f("uq_products_sku"), ["sku"])
    for table in reversed(TABLES):
        with altering(table) as batch:
            batch.drop_index(op.f(f"ix_{table}_tenant_id"))
            batch.drop_column("tenant_id")
