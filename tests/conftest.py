"""Fixtures shared by every layer: databases (SQLite always, PostgreSQL when it answers)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from storage.db import make_engine, migrate
from storage.store import Store

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_SKIPPED: list[str] = []


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@asynccontextmanager
async def new_postgres_database(nodeid: str) -> AsyncIterator[str]:
    """A new PostgreSQL database, dropped afterwards; the test is skipped if none answers."""
    try:
        admin = await asyncpg.connect(PG_ADMIN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        PG_SKIPPED.append(nodeid)
        pytest.skip(f"PostgreSQL is not answering on 127.0.0.1:5432 ({exc})")
    name = f"sb_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/suishoubao.db"
        return
    async with new_postgres_database(request.node.nodeid) as url:
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    engine = make_engine(database_url)
    await migrate(engine)
    store = Store(engine)
    yield store
    await store.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if PG_SKIPPED:
        terminalreporter.write_line(
            f"PostgreSQL was NOT tested: {len(PG_SKIPPED)} PostgreSQL tests skipped because "
            "no server answered on 127.0.0.1:5432.",
            yellow=True,
        )
    else:
        passed = [r for r in terminalreporter.stats.get("passed", []) if "postgres" in r.nodeid]
        if passed:
            terminalreporter.write_line(f"PostgreSQL: {len(passed)} tests passed on it.")
