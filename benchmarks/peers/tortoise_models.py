"""Tortoise ORM models of the two benchmark tables (Tortoise discovers models by module)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from benchmarks.peers.workload import ITEMS, WRITES


class Row(Model):
    id = fields.IntField(primary_key=True)
    sku = fields.CharField(max_length=50, unique=True)
    name = fields.CharField(max_length=200)
    category = fields.CharField(max_length=50)
    price = fields.DecimalField(max_digits=12, decimal_places=2)
    stock = fields.IntField(default=0)
    hits = fields.IntField(default=0)

    class Meta:
        abstract = True


class TortoiseItem(Row):
    class Meta:
        table = ITEMS


class TortoiseWritten(Row):
    class Meta:
        table = WRITES


__models__ = [TortoiseItem, TortoiseWritten]
