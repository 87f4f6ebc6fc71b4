"""Database engine, sessions and the schema-version check."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TypeVar

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc, select
from sqlalchemy.orm import Session, sessionmaker

from registry.settings import Settings
from registry.vocabulary import could_be_name

T = TypeVar("T")

# Found, not imported: the migrations import this package (their env builds the engine).
MIGRATIONS_DIR = Path(find_spec("migrations").origin).parent
# A pooled PostgreSQL connection unused for longer is checked with a ping before it serves
# (the server may have restarted meanwhile); a busy one is not, saving a round trip a request.
PING_AFTER_IDLE_SECONDS = 1.0


class SchemaOutOfDate(Exception):
    """The database schema is not the one this code needs."""


@dataclass(frozen=True)
class WaitBounds:
    """How long a database connection may wait on anything before giving up with an error."""

    connect_seconds: int = 5
    pool_checkout_seconds: float = 10
    lock_seconds: float = 10
    statement_seconds: float = 120
    idle_in_transaction_seconds: float = 120

    @classmethod
    def from_settings(cls, settings: Settings) -> WaitBounds:
        return cls(
            connect_seconds=settings.database_connect_timeout_seconds,
            pool_checkout_seconds=settings.database_pool_timeout_seconds,
            lock_seconds=settings.database_lock_timeout_seconds,
            statement_seconds=settings.database_statement_timeout_seconds,
            idle_in_transaction_seconds=settings.database_idle_in_transaction_timeout_seconds,
        )


def make_engine(url: str, bounds: WaitBounds | None = None) -> Engine:
    bounds = bounds or WaitBounds()
    if url.startswith("sqlite"):
        return _sqlite_engine(url, bounds)
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_timeout=bounds.pool_checkout_seconds,
        connect_args={"connect_timeout": bounds.connect_seconds},
        # PostgreSQL's JSON is strict JSON (no NaN), which orjson reads several times faster.
        json_deserializer=orjson.loads,
    )
    _ping_idle_connections(engine)
    limits = {
        "lock_timeout": bounds.lock_seconds,
        "statement_timeout": bounds.statement_seconds,
        "idle_in_transaction_session_timeout": bounds.idle_in_transaction_seconds,
    }

    @event.listens_for(engine, "connect")
    def _bound_waits(dbapi_connection, _record) -> None:
        with dbapi_connection.cursor() as cursor:
            for name, seconds in limits.items():
                cursor.execute(f"SET {name} = {round(seconds * 1000)}")
        dbapi_connection.commit()  # a SET in a rolled-back transaction would be undone

    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Pessimistic disconnect handling for connections that sat idle: a failed ping makes the
    pool replace the connection (SQLAlchemy retries the checkout) instead of a request failing.
    A connection broken while in use fails that one request, and SQLAlchemy then replaces
    every older connection of the pool."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(str(error)) from error


def reads_engine(engine: Engine) -> Engine:
    """The engine for requests that only read: on PostgreSQL each statement on its own (no
    BEGIN and COMMIT round trips); SQLite keeps its transactions."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _sqlite_engine(url: str, bounds: WaitBounds) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # One writer at a time: a write waits for the file lock as PostgreSQL waits for a row lock.
    busy_ms = round(bounds.lock_seconds * 1000)
    engine = create_engine(
        url, connect_args={"timeout": bounds.lock_seconds, "check_same_thread": False}
    )

    # pysqlite's own transaction handling defers BEGIN and upgrades read locks to write locks
    # mid-transaction, which deadlocks concurrent writers; take the write lock up front instead.
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def find_named(session: Session, entity: type[T], name: str) -> T | None:
    """The row of `entity` called `name`; None, without asking, for a name no row can have."""
    if not could_be_name(name):
        return None
    return session.scalar(select(entity).where(entity.name == name))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Apply every migration (what `registry db upgrade` runs)."""
    command.upgrade(alembic_config(url), "head")


def check_schema(engine: Engine) -> None:
    """Refuse to run on a schema that is behind (or ahead of) this code."""
    head = ScriptDirectory.from_config(
        alembic_config(engine.url.render_as_string(hide_password=False))
    ).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"database schema is at revision {current or 'none'} but this registry needs "
            f"{head}: run `registry db upgrade`"
        )
