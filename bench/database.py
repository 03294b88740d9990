"""The PostgreSQL and Redis servers the benchmarks run against (127.0.0.1 unless
``TEST_POSTGRES_URL`` / ``TEST_REDIS_URL`` say otherwise), and a fresh, migrated PostgreSQL
database with the service's parts on it, for benchmarks that measure the database side in
process."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from bench.report import BenchError
from service.container import Services, build_services
from service.persistence import migrate
from service.settings import Settings

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def postgres_admin_url() -> str:
    """The PostgreSQL admin URL, checked; a ``BenchError`` saying why when it does not answer
    (the test helpers skip instead, which would end a benchmark run without a word)."""
    import pytest

    from tests import servers

    os.environ.setdefault("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        return servers.postgres_admin_url()
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        raise BenchError(f"PostgreSQL is needed: {exc}") from None


def redis_url() -> str:
    """The Redis URL, checked, as for PostgreSQL."""
    import pytest

    from tests import servers

    os.environ.setdefault("TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        return servers.shared_redis_url()
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        raise BenchError(f"Redis is needed: {exc}") from None


def analyze(url: str) -> None:
    """Gather the planner's statistics now, as a live database has them (autovacuum analyzes a
    table once a tenth of it has changed). A benchmark's database is filled seconds before it
    is measured, and the plans PostgreSQL keeps for the service's lookups, made with no
    statistics, can read a whole table: the consents lookup scanned every consent of the
    operator (0.5 ms, not 0.02), the neighbouring-trips lookup every credited trip (15 ms)."""
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as connection:
        connection.execute("ANALYZE")


def libpq(url: str) -> str:
    """A SQLAlchemy URL as psycopg wants it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def database_copy(admin_url: str, template_url: str) -> Iterator[str]:
    """The URL of a new database copied from ``template_url``'s (which must have no open
    connections), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"gp_bench_{uuid.uuid4().hex[:12]}"
    template = make_url(template_url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def migrated_postgres() -> Iterator[Services]:
    """Services on a new database (dropped afterwards), at the newest migration."""
    from tests.servers import fresh_postgres_database

    with (
        tempfile.TemporaryDirectory() as workdir,
        fresh_postgres_database(postgres_admin_url()) as url,
    ):
        migrate.upgrade(url)
        services = build_services(
            Settings.from_env({"DATABASE_URL": url, "GREENPOINTS_VAR_DIR": workdir})
        )
        try:
            yield services
        finally:
            services.db.dispose()
