"""Alembic environment (written by `orm db init`).

The `orm` command line and `MigrationManager` hand the database URL and the models'
MetaData in; under plain `alembic` they come from DATABASE_URL, ORM_MODELS or
`[tool.orm]` in pyproject.toml.
"""

from orm_core.migrations.environment import run_migrations

run_migrations()
