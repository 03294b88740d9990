"""A fresh, migrated PostgreSQL database and the service's parts on it, for benchmarks that
measure the database side in process."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from service.container import Services, build_services
from service.persistence import migrate
from service.settings import Settings
from tests.servers import fresh_postgres_database, postgres_admin_url


@contextmanager
def migrated_postgres() -> Iterator[Services]:
    """Services on a new database (dropped afterwards), at the newest migration."""
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
