"""Fixtures shared by every test layer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.persistence import migrate
from tests.servers import PrivateRedis, fresh_postgres_database, postgres_admin_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database of each kind the service supports."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'greenpoints.db'}"
        migrate.upgrade(url)
        yield url
        return
    with fresh_postgres_database(postgres_admin_url()) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty, migrated PostgreSQL database, for what only PostgreSQL has (PostGIS...)."""
    with fresh_postgres_database(postgres_admin_url()) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_prefix() -> str:
    """Keys of one test never meet another's in a shared Redis."""
    return f"gptest:{uuid.uuid4().hex[:10]}:"
