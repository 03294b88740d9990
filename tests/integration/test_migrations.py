"""The schema comes from the migrations, on both databases, and matches the models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from service.persistence import migrate
from service.persistence.schema import Base, include_object

REPO_ROOT = Path(__file__).resolve().parents[2]


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"spatial_ref_sys"}
    finally:
        engine.dispose()


def test_upgrade_from_empty_reaches_head(database_url):
    assert migrate.current_revision(database_url) == migrate.head_revision(database_url)
    assert {"api_clients", "alembic_version"} <= _tables(database_url)


def test_models_and_migrations_agree(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": include_object}
            )
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_to_base_then_upgrade_round_trips(database_url):
    migrate.downgrade(database_url, "base")
    assert migrate.current_revision(database_url) is None
    assert _tables(database_url) <= {"alembic_version"}
    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision(database_url)
    assert "api_clients" in _tables(database_url)


def test_postgis_is_installed_by_the_migration(postgres_url):
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SELECT postgis_version()")).scalar_one()
    finally:
        engine.dispose()
    assert version


def test_alembic_command_line_round_trips_on_postgres(postgres_url):
    """`alembic downgrade base` then `alembic upgrade head`, as an operator would type them."""
    alembic = str(Path(sys.executable).parent / "alembic")
    env = {**os.environ, "DATABASE_URL": postgres_url}
    for args in (["downgrade", "base"], ["upgrade", "head"]):
        done = subprocess.run(
            [alembic, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    assert migrate.current_revision(postgres_url) == migrate.head_revision(postgres_url)
    assert "api_clients" in _tables(postgres_url)
