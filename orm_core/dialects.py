"""One object per database backend, answering every dialect question the framework asks.

Django keeps this knowledge in `connection.features` and `connection.ops`; here each
backend is a `Backend` subclass and `backend_of(dialect)` returns the one for a
SQLAlchemy dialect. Code elsewhere asks a question ("can UPDATE return rows?", "how is
an upsert spelled?", "how are these keys matched?") and never tests a dialect's name.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import date
from decimal import Decimal
from types import ModuleType
from typing import Any, ClassVar

from sqlalchemy import (
    ARRAY,
    JSON,
    Column,
    ColumnElement,
    Float,
    Insert,
    Integer,
    Select,
    Table,
    any_,
    bindparam,
    cast,
    event,
    func,
    insert,
    select,
    text,
    tuple_,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

from orm_core import fulltext
from orm_core.checkers import impl_type
from orm_core.errors import InvalidQueryError
from orm_core.fulltext import DeclaredVector, SearchRequest, SearchSource, SearchVector
from orm_core.json_sql import JsonSql, PostgresqlJson, SqliteJson
from orm_core.pinging import install_idle_ping
from orm_core.timeouts import (
    NO_TIMEOUTS,
    TIMEOUTS_OPTION,
    Timeouts,
    install_postgres,
    install_sqlite,
    mysql_init_command,
    postgres_settings,
    sqlite_busy_timeout,
)
from orm_core.translate import translating

Assignments = Callable[[Any], dict[Any, Any]]

SQLITE_BUSY_TIMEOUT_S = 30.0
# past this many values an IN list is rendered inline (a statement's bind parameters are capped)
INLINE_IN_THRESHOLD = 10_000
READ_ONLY_OPTION = "orm_read_only"


class Backend:
    """What a database can do and how the framework spells it there (the portable answers)."""

    names: ClassVar[tuple[str, ...]] = ()
    # how JSON lookups are spelled (None: not supported)
    json: ClassVar[JsonSql | None] = None
    # the SQLAlchemy dialect package whose `insert()` spells upserts (None: no upserts)
    upsert_dialect: ClassVar[ModuleType | None] = None
    row_locks: ClassVar[bool] = True
    nulls_ordering: ClassVar[bool] = True
    naive_datetimes: ClassVar[bool] = False
    max_bind_params: ClassVar[int] = 30_000
    # isolation levels (None: the default) at which every statement sees every earlier
    # commit; a cached read fills its entry only from such a snapshot (orm_core.caching)
    statement_snapshots: ClassVar[frozenset[str | None]] = frozenset()
    # one write transaction at a time: a writer's snapshot is always the latest commit
    single_writer: ClassVar[bool] = False
    # whether a server-side cursor leaves its connection free for other statements (MySQL's
    # unbuffered result does not: the driver discards its unread rows at the next statement)
    cursor_shares_connection: ClassVar[bool] = True

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        # behind PgBouncer in transaction pooling mode (no server session across transactions)
        self.pgbouncer = False

    @property
    def name(self) -> str:
        """The SQLAlchemy dialect name."""
        return self.dialect.name

    @property
    def update_returning(self) -> bool:
        """Whether `UPDATE … RETURNING` exists (else a written row is read back by key)."""
        return bool(self.dialect.update_returning)

    @property
    def delete_returning(self) -> bool:
        """Whether `DELETE … RETURNING` exists."""
        return bool(self.dialect.delete_returning)

    @property
    def copy(self) -> bool:
        """Whether bulk inserts can use the backend's COPY protocol."""
        return False

    # -- engine and transactions --------------------------------------------------------

    # SQLAlchemy's ping at every pool checkout, unless the caller says otherwise
    pre_ping: ClassVar[bool] = True

    @classmethod
    def engine_options(cls, options: dict[str, Any], *, pool_size_given: bool) -> dict[str, Any]:
        """Complete the options `create_async_engine` gets for this backend."""
        options.setdefault("pool_pre_ping", cls.pre_ping)
        return options

    def install(self, engine: AsyncEngine, timeouts: Timeouts) -> None:
        """Install connection and transaction hooks this backend needs on `engine`."""

    @classmethod
    def timeout_options(cls, options: dict[str, Any], timeouts: Timeouts) -> dict[str, Any]:
        """Complete the engine options with a database's default timeouts."""
        return options

    def transaction_options(
        self, *, isolation_level: str | None, read_only: bool, timeouts: Timeouts = NO_TIMEOUTS
    ) -> dict[str, Any]:
        """Execution options giving transactions an isolation level, read-only mode, timeouts."""
        options: dict[str, Any] = {}
        if timeouts.any:
            options[TIMEOUTS_OPTION] = timeouts
        if isolation_level is not None:
            options["isolation_level"] = isolation_level
        if read_only:
            options[READ_ONLY_OPTION] = True
        return options

    # -- statements -----------------------------------------------------------------------

    def random(self) -> ColumnElement[Any]:
        """The database's uniform random-number function."""
        return func.random()

    def value_in(self, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
        """Match `column` against a list of values (keys, or an `in` lookup).

        A list longer than the bind-parameter limit allows is rendered inline at
        execution time, as typed and escaped literals.
        """
        if len(values) <= INLINE_IN_THRESHOLD:
            return column.in_(values)  # type: ignore[no-any-return]
        inline = bindparam(
            "values", list(values), type_=column.type, unique=True, expanding=True,
            literal_execute=True,
        )  # fmt: skip
        return column.in_(inline)  # type: ignore[no-any-return]

    def keys_in(
        self, columns: Sequence[Any], keys: Sequence[tuple[Any, ...]]
    ) -> ColumnElement[bool]:
        """Match composite keys: `(a, b) IN ((…), (…))`."""
        return tuple_(*columns).in_(keys)

    def order_terms(
        self, column: Any, *, descending: bool, nullable: bool
    ) -> list[ColumnElement[Any]]:
        """ORDER BY terms sorting NULLs after every value going up, on every backend."""
        term = column.desc() if descending else column.asc()
        if not nullable:
            return [term]
        if not self.nulls_ordering:
            rank = column.is_(None)
            return [rank.desc() if descending else rank.asc(), term]
        return [term.nulls_first() if descending else term.nulls_last()]

    def lock(self, statement: Select[Any], *, nowait: bool, skip_locked: bool) -> Select[Any]:
        """Add the row lock a writer needs: `FOR NO KEY UPDATE` where it exists.

        It keeps other writers off the row without blocking the `FOR KEY SHARE` locks
        that foreign-key checks take, so inserting a child of a locked parent never waits.
        """
        return statement.with_for_update(nowait=nowait, skip_locked=skip_locked, key_share=True)

    # -- outbox relays --------------------------------------------------------------------

    # whether a relay holds a topic with a lock of its database session while it serves it;
    # without one, each delivery runs inside a write transaction that locks its message
    topic_locks: ClassVar[bool] = False

    def relay_options(self) -> dict[str, Any]:
        """Execution options of the connection an outbox relay holds."""
        return {}

    async def try_topic_lock(self, connection: AsyncConnection, topic: str) -> bool:
        """Take the relay lock of `topic` for the connection's session; False if held elsewhere."""
        return True

    async def release_topic_lock(self, connection: AsyncConnection, topic: str) -> None:
        """Release the relay lock `try_topic_lock` took."""

    # -- upserts --------------------------------------------------------------------------

    @property
    def upsert(self) -> bool:
        """Whether the backend has a native upsert statement."""
        return self.upsert_dialect is not None

    @property
    def upsert_returning(self) -> bool:
        """Whether an upsert can return the row it wrote."""
        return bool(self.dialect.insert_returning)

    def upsert_insert(self, table: Any) -> Insert:
        """The INSERT construct an upsert is built on."""
        package = self.upsert_dialect
        return insert(table) if package is None else package.insert(table)

    def on_conflict_update(
        self, statement: Any, conflict: list[Any], assignments: Assignments, *, where: Any = None
    ) -> Any:
        """`statement` updating the existing row on a conflict over `conflict` (`ON CONFLICT`).

        With `where`, only an existing row meeting it is updated (another is left alone).
        """
        return statement.on_conflict_do_update(
            index_elements=conflict, set_=assignments(statement.excluded), where=where
        )

    def on_conflict_nothing(self, statement: Any, conflict: list[Any]) -> Any:
        """`statement` leaving the existing row alone on a conflict over `conflict`."""
        return statement.on_conflict_do_nothing(index_elements=conflict)

    # -- random draws ---------------------------------------------------------------------

    def draws(self, name: str) -> Any:
        """A table of the fractions bound to `name` (column `u`), numbered in order (`seq`).

        It lets one statement turn uniform draws into probes and read the rows they hit;
        None where the backend takes no array parameters.
        """
        return None

    # -- rows as column arrays ------------------------------------------------------------

    def array_rows(
        self, table: Table, column_keys: Sequence[str], scalars: Collection[int] = ()
    ) -> Select[Any] | None:
        """A SELECT yielding rows given as one array parameter per column (None: not here).

        The parameters are named by `array_parameter(i)` in `column_keys` order; an
        INSERT (or upsert) built on it writes a whole batch in one statement. The
        columns at the `scalars` positions take one value for every row (a default
        taken once per statement) instead of an array.
        """
        return None

    # -- bulk inserts and estimates -------------------------------------------------------

    async def copy_records(
        self,
        connection: AsyncConnection,
        table: Table,
        columns: Sequence[str],
        records: list[tuple[Any, ...]],
        schema: str | None = None,
    ) -> None:
        """Write bind-processed `records` into `table` (in `schema`) with COPY."""
        raise NotImplementedError(self.name)

    async def estimate_rows(self, session: AsyncSession, statement: Select[Any]) -> int | None:
        """The planner's estimate of the rows `statement` yields; None when there is none."""
        return None

    async def allocate_keys(
        self, connection: AsyncConnection, column: Column[Any], count: int
    ) -> list[Any] | None:
        """`count` fresh values of an auto-incrementing key, taken before an insert.

        None when the backend cannot hand them out (the insert then reports its keys).
        """
        return None

    def counts_keys_back(self, column: Column[Any]) -> bool:
        """Whether `inserted_keys` can tell the keys an insert gave `column`."""
        return False

    async def inserted_keys(self, connection: AsyncConnection, count: int) -> list[Any]:
        """The keys the last `count` rows inserted on `connection` got."""
        raise NotImplementedError(self.name)

    # -- full-text search -----------------------------------------------------------------

    # whether a declared search vector gets a GIN index
    search_index: ClassVar[bool] = False

    def search_vector_sql(self, vector: SearchVector, names: Sequence[str]) -> str:
        """The SQL generating a declared search-vector column (NULL: the backend keeps none)."""
        return "NULL"

    def create_search_tables(self, connection: Connection, declared: DeclaredVector) -> None:
        """Create what searching `declared` needs beyond its table's DDL (nothing by default)."""

    def drop_search_tables(self, connection: Connection, declared: DeclaredVector) -> None:
        """Drop what `create_search_tables` created."""

    async def search_source(self, session: AsyncSession, request: SearchRequest) -> SearchSource:
        """How a search matches, ranks and marks rows: LIKE over the fields (portable, slow)."""
        return fulltext.like_source(request)


class PostgresqlBackend(Backend):
    """PostgreSQL: RETURNING, `ON CONFLICT`, array parameters, COPY and planner estimates."""

    names = ("postgresql",)
    json = PostgresqlJson()
    upsert_dialect: ClassVar[ModuleType | None] = postgresql
    statement_snapshots = frozenset({None, "READ COMMITTED", "READ UNCOMMITTED", "AUTOCOMMIT"})

    @property
    def copy(self) -> bool:
        return self.dialect.driver == "asyncpg"

    def transaction_options(
        self, *, isolation_level: str | None, read_only: bool, timeouts: Timeouts = NO_TIMEOUTS
    ) -> dict[str, Any]:
        options = super().transaction_options(
            isolation_level=isolation_level, read_only=read_only, timeouts=timeouts
        )
        if read_only:
            options["postgresql_readonly"] = True
        return options

    @classmethod
    def timeout_options(cls, options: dict[str, Any], timeouts: Timeouts) -> dict[str, Any]:
        settings = postgres_settings(timeouts)
        if settings:
            connect_args = dict(options.pop("connect_args", {}))
            server = dict(connect_args.get("server_settings", {}))
            connect_args["server_settings"] = {**settings, **server}
            options["connect_args"] = connect_args
        return options

    pre_ping = False  # pinged by `install_idle_ping` instead, unless asked for at every checkout

    def install(self, engine: AsyncEngine, timeouts: Timeouts) -> None:
        install_postgres(engine, timeouts if self.pgbouncer else NO_TIMEOUTS)
        if not getattr(engine.sync_engine.pool, "_pre_ping", False):
            install_idle_ping(engine)

    # -- outbox relays: a session-level advisory lock per topic ----------------------------

    topic_locks = True

    def relay_options(self) -> dict[str, Any]:
        # every statement commits at once: no transaction stays open while a message is
        # delivered, and the advisory lock (a session lock) outlives each statement
        return {"isolation_level": "AUTOCOMMIT"}

    async def try_topic_lock(self, connection: AsyncConnection, topic: str) -> bool:
        # the server releases it if the relay's connection dies
        lock = func.pg_try_advisory_lock(*_topic_lock_key(topic)).select()
        return bool((await connection.execute(lock)).scalar_one())

    async def release_topic_lock(self, connection: AsyncConnection, topic: str) -> None:
        await connection.execute(func.pg_advisory_unlock(*_topic_lock_key(topic)).select())

    def value_in(self, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
        # one array parameter: the SQL text stays constant (one prepared statement
        # serves every list length) and no value is ever written into it, where a NUL
        # character or a megabyte of text would break the protocol rather than the query
        if isinstance(impl_type(column.type), JSON):
            return super().value_in(column, values)  # no equality operator on json
        array = bindparam("values", list(values), type_=ARRAY(column.type), unique=True)
        return column == any_(array)  # type: ignore[no-any-return]

    def draws(self, name: str) -> Any:
        """`unnest(:name) WITH ORDINALITY`: one array parameter, whatever the count."""
        array = bindparam(name, type_=ARRAY(Float()))
        return func.unnest(array).table_valued("u", with_ordinality="seq").render_derived()

    def array_rows(
        self, table: Table, column_keys: Sequence[str], scalars: Collection[int] = ()
    ) -> Select[Any] | None:
        """`SELECT … FROM unnest($1::type[], $2::type[], …)`: one typed array per column.

        The SQL text is the same whatever the number of rows (one prepared statement,
        no bind-parameter limit), and the server plans the batch once. A value shared
        by every row is one typed parameter beside the arrays (not an array of copies).
        """
        if self.dialect.driver != "asyncpg":
            return None
        columns = [table.c[key] for key in column_keys]
        if any(isinstance(impl_type(c.type), ARRAY) for c in columns):
            return None  # unnest would flatten an array column's values
        unnested = [i for i in range(len(columns)) if i not in scalars]
        if not unnested:
            return None
        arrays = [bindparam(array_parameter(i), type_=ARRAY(columns[i].type)) for i in unnested]
        names = {i: f"c{i}" for i in unnested}
        rows = func.unnest(*arrays).table_valued(*names.values()).render_derived()
        selected = [
            rows.c[names[i]] if i in names else _scalar(array_parameter(i), c.type)
            for i, c in enumerate(columns)
        ]
        return select(*selected)

    def keys_in(
        self, columns: Sequence[Any], keys: Sequence[tuple[Any, ...]]
    ) -> ColumnElement[bool]:
        # `(a, b) IN (SELECT … FROM unnest(:a, :b))`: one array per column; a long list of
        # row values would nest one OR per key and exhaust the server's stack depth
        if any(_python_type(c) not in _ARRAY_TYPES for c in columns):
            return super().keys_in(columns, keys)
        arrays = [
            bindparam("keys", [k[i] for k in keys], type_=ARRAY(c.type), unique=True)
            for i, c in enumerate(columns)
        ]
        names = [f"k{i}" for i in range(len(columns))]
        rows = func.unnest(*arrays).table_valued(*names).render_derived()
        return tuple_(*columns).in_(select(*(rows.c[n] for n in names)))

    async def copy_records(
        self,
        connection: AsyncConnection,
        table: Table,
        columns: Sequence[str],
        records: list[tuple[Any, ...]],
        schema: str | None = None,
    ) -> None:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        try:
            await driver.copy_records_to_table(
                table.name, records=records, columns=list(columns), schema_name=schema
            )
        except Exception as error:
            raise _adapted(raw.dbapi_connection, self.dialect, table, error) from error

    async def allocate_keys(
        self, connection: AsyncConnection, column: Column[Any], count: int
    ) -> list[Any] | None:
        if not _sequence_key(column):
            return None
        table = column.table
        name = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
        sequence = await connection.scalar(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": name, "column": column.name},
        )
        if sequence is None:
            return None
        keys = await connection.scalar(
            text(
                "SELECT array_agg(nextval(CAST(:sequence AS regclass))) "
                "FROM generate_series(1, :count)"
            ),
            {"sequence": sequence, "count": count},
        )
        return list(keys)

    async def estimate_rows(self, session: AsyncSession, statement: Select[Any]) -> int | None:
        with translating():
            plan: Any = (await session.execute(_Explain(statement))).scalar_one()
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])

    # -- full-text search -----------------------------------------------------------------

    search_index = True

    def search_vector_sql(self, vector: SearchVector, names: Sequence[str]) -> str:
        return fulltext.tsvector_sql(vector, names, self.dialect.identifier_preparer.quote)

    async def search_source(self, session: AsyncSession, request: SearchRequest) -> SearchSource:
        """`websearch_to_tsquery` over the declared vector (GIN), else one built on the fly."""
        return fulltext.tsvector_source(request)


def _end_leftover_transaction(dbapi_connection: Any, _record: Any, state: Any) -> None:
    """Roll back a transaction SQLite kept open after a failed COMMIT.

    A COMMIT refused over a deferred foreign key leaves SQLite's transaction open,
    while SQLAlchemy counts it as ended and skips the pool's reset: the next BEGIN
    on that connection would fail ("cannot start a transaction within a transaction").
    """
    if not state.transaction_was_reset or not state.asyncio_safe:
        return
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    try:
        still_open = bool(driver.in_transaction)
    except Exception:  # closed already: nothing to end
        return
    if still_open:
        dbapi_connection.rollback()


class SqliteBackend(Backend):
    """SQLite: one writer at a time, no row locks, naive datetimes, `ON CONFLICT`."""

    names = ("sqlite",)
    json = SqliteJson()
    upsert_dialect: ClassVar[ModuleType | None] = sqlite
    row_locks = False
    naive_datetimes = True
    single_writer = True
    pre_ping = False  # a file: nothing to lose between uses

    @classmethod
    def engine_options(cls, options: dict[str, Any], *, pool_size_given: bool) -> dict[str, Any]:
        if not pool_size_given:
            options.pop("pool_timeout", None)  # the default pool takes no timeout
        options = super().engine_options(options, pool_size_given=pool_size_given)
        connect_args = dict(options.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
        options["connect_args"] = connect_args
        return options

    def install(self, engine: AsyncEngine, timeouts: Timeouts) -> None:
        """Take transaction control away from sqlite3 so SAVEPOINT and BEGIN IMMEDIATE work.

        Writers start with `BEGIN IMMEDIATE`: two writers then queue on the busy
        timeout instead of failing with "database is locked" when a reader upgrades.
        """

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # LIKE is case-insensitive by default on SQLite; match PostgreSQL instead
            cursor.execute("PRAGMA case_sensitive_like=ON")
            cursor.close()

        busy = install_sqlite(engine, timeouts, SQLITE_BUSY_TIMEOUT_S)

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            sqlite_busy_timeout(conn, busy)
            read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        event.listen(engine.sync_engine, "reset", _end_leftover_transaction)

    def counts_keys_back(self, column: Column[Any]) -> bool:
        # a single INTEGER PRIMARY KEY is the rowid
        single = len(column.table.primary_key.columns) == 1
        return single and str(column.type.compile(dialect=self.dialect)).upper() == "INTEGER"

    async def inserted_keys(self, connection: AsyncConnection, count: int) -> list[Any]:
        # the write transaction (BEGIN IMMEDIATE) holds the only write lock: the rows
        # just inserted got consecutive rowids ending at last_insert_rowid()
        last = int(await connection.scalar(text("SELECT last_insert_rowid()")))
        return list(range(last - count + 1, last + 1))

    def transaction_options(
        self, *, isolation_level: str | None, read_only: bool, timeouts: Timeouts = NO_TIMEOUTS
    ) -> dict[str, Any]:
        # SQLite transactions are serializable whatever the level asked for
        return super().transaction_options(
            isolation_level=None, read_only=read_only, timeouts=timeouts
        )

    # -- full-text search -----------------------------------------------------------------

    def create_search_tables(self, connection: Connection, declared: DeclaredVector) -> None:
        """Create the FTS5 table and its sync triggers (without FTS5, searches use LIKE)."""
        fulltext.create_fts5(connection, declared, self.dialect.identifier_preparer.quote)

    def drop_search_tables(self, connection: Connection, declared: DeclaredVector) -> None:
        fulltext.drop_fts5(connection, declared, self.dialect.identifier_preparer.quote)

    async def search_source(self, session: AsyncSession, request: SearchRequest) -> SearchSource:
        """FTS5 over a declared vector covering the fields, else LIKE (no FTS5 table there)."""
        declared = request.vector_covering()
        # whether each FTS5 table exists, looked up once per engine
        known: dict[str, bool] = self.__dict__.setdefault("_fts_tables", {})
        if declared is not None and declared.fts_name not in known:
            known[declared.fts_name] = await fulltext.has_fts5(session, declared.fts_name)
        if declared is None or not known[declared.fts_name]:
            return fulltext.like_source(request)
        return fulltext.fts5_source(request, declared, self.dialect.identifier_preparer.quote)


class MysqlBackend(Backend):
    """MySQL and MariaDB: `ON DUPLICATE KEY UPDATE`, `RAND()`, no `NULLS LAST`."""

    names = ("mysql", "mariadb")
    upsert_dialect: ClassVar[ModuleType | None] = mysql
    nulls_ordering = False
    # InnoDB's default, REPEATABLE READ, keeps the transaction's first snapshot
    statement_snapshots = frozenset({"READ COMMITTED", "READ UNCOMMITTED", "AUTOCOMMIT"})
    cursor_shares_connection = False

    def random(self) -> ColumnElement[Any]:
        return func.rand()

    @classmethod
    def timeout_options(cls, options: dict[str, Any], timeouts: Timeouts) -> dict[str, Any]:
        command = mysql_init_command(timeouts)
        if command is not None:
            options["connect_args"] = {**options.get("connect_args", {}), "init_command": command}
        return options

    def on_conflict_update(
        self, statement: Any, conflict: list[Any], assignments: Assignments, *, where: Any = None
    ) -> Any:
        # MySQL applies the update on any unique key; `conflict` only selects the row to re-read
        if where is not None:
            raise InvalidQueryError("a conditional upsert (tenant models) needs ON CONFLICT")
        return statement.on_duplicate_key_update(assignments(statement.inserted))

    @property
    def upsert_returning(self) -> bool:
        return False

    def on_conflict_nothing(self, statement: Any, conflict: list[Any]) -> Any:
        # a no-op assignment: InnoDB still locks the existing row (there is no DO NOTHING)
        first = conflict[0]
        return statement.on_duplicate_key_update({first: first})


_ARRAY_TYPES = (int, str, uuid.UUID, Decimal, float, bool, date)


def _scalar(name: str, type_: Any) -> ColumnElement[Any]:
    """A typed parameter (`$1::type`): a bare one in a SELECT list would be taken as text."""
    return cast(bindparam(name, type_=type_), type_)


def array_parameter(index: int) -> str:
    """The name of the array parameter carrying the values of a row source's `index`th column."""
    return f"orm_rows_{index}"


# the first key of the two-key advisory locks of outbox topics ("ormo"); two-key locks
# never collide with an application's one-key (bigint) locks
_OUTBOX_LOCK_CLASS = 0x6F726D6F


def _topic_lock_key(topic: str) -> tuple[int, int]:
    """The advisory-lock key of a topic (topics sharing a hash are merely served in turn)."""
    digest = hashlib.blake2b(topic.encode(), digest_size=4, person=b"orm_outbox").digest()
    return _OUTBOX_LOCK_CLASS, int.from_bytes(digest, "big", signed=True)


def _python_type(column: Any) -> type | None:
    try:
        found: type = column.type.python_type
    except NotImplementedError:
        return None
    return found


_BACKENDS: tuple[type[Backend], ...] = (PostgresqlBackend, SqliteBackend, MysqlBackend)
_INSTANCES: dict[int, Backend] = {}


def backend_class(name: str) -> type[Backend]:
    """Return the backend class for a dialect name (the generic one when unknown)."""
    return next((b for b in _BACKENDS if name in b.names), Backend)


def backend_of(dialect: Dialect) -> Backend:
    """Return the backend of a SQLAlchemy dialect (one instance per dialect object)."""
    found = _INSTANCES.get(id(dialect))
    if found is None or found.dialect is not dialect:
        found = _INSTANCES[id(dialect)] = backend_class(dialect.name)(dialect)
    return found


def backend_of_session(session: AsyncSession) -> Backend:
    """Return the backend the session is bound to."""
    return backend_of(session.get_bind().dialect)


def _sequence_key(column: Column[Any]) -> bool:
    """Whether `column` is an integer key a sequence fills in and an insert may set."""
    identity = column.identity
    return (
        column.primary_key
        and len(column.table.primary_key.columns) == 1
        and column.autoincrement in (True, "auto")
        and isinstance(column.type, Integer)
        and column.default is None
        and (identity is None or not identity.always)
    )


class _Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <statement>`, keeping the statement's bound parameters."""

    inherit_cache = False

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(_Explain, "postgresql")
def _compile_explain(element: _Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def _adapted(dbapi_connection: Any, dialect: Any, table: Table, error: Exception) -> Exception:
    """Wrap a raw asyncpg error the way SQLAlchemy wraps errors of its own statements."""
    dbapi = dialect.loaded_dbapi
    try:
        dbapi_connection._handle_exception(error)
    except dbapi.Error as adapted:
        wrapped: Exception = sa_exc.DBAPIError.instance(
            f"COPY {table.name}", None, adapted, dbapi.Error, dialect=dialect
        )
        return wrapped
    except Exception as other:
        return other
    return error  # pragma: no cover - _handle_exception always raises
