"""The database: one async engine, migrations applied at start-up, and what a transaction runs on.

On PostgreSQL a transaction's statements go through asyncpg. On SQLite they run on the event
loop's own thread (`InLoop`): a SQLite statement takes microseconds, and handing each one to
aiosqlite's thread and back cost more than the statement (a transaction of three statements:
1.96 ms of CPU through aiosqlite, 0.54 ms on the loop's thread, measured on this project's
machines). The store runs SQLite transactions one at a time, so no statement waits for SQLite's
lock held by another of this process's transactions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeAlias

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.base import Executable

AnyRows: TypeAlias = CursorResult[*tuple[Any, ...]]

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def make_engine(url: str) -> AsyncEngine:
    """An engine for SQLite (aiosqlite) or PostgreSQL (asyncpg), tuned for many short writes."""
    if url.startswith("sqlite"):
        _ensure_sqlite_folder(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def in_loop_engine(engine: AsyncEngine) -> Engine | None:
    """For SQLite, a plain engine on the same file, for statements run on the loop's thread."""
    if engine.dialect.name != "sqlite":
        return None
    url = engine.url.set(drivername="sqlite+pysqlite")
    local = create_engine(url, connect_args={"timeout": 30})
    event.listen(local, "connect", _pragmas)
    return local


def _pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets readers (the health check, the metrics) read while the bot writes; a commit
    # writes to the log without waiting for the disk (a crash of the process loses nothing).
    # Foreign keys are off by default in SQLite and we want the same guarantees as PostgreSQL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Conn(Protocol):
    """What a transaction's queries run on: asyncpg's connection, or SQLite's `InLoop`."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, statement: Executable, parameters: Any = None) -> AnyRows: ...

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> AnyRows: ...


class InLoop:
    """A SQLite connection whose statements run right here, on the event loop's thread."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> AnyRows:
        return self._conn.execute(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> AnyRows:
        return self._conn.exec_driver_sql(statement, parameters)


def _ensure_sqlite_folder(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration."""

    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.run_sync(upgrade)
