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
from tests.servers import fresh_postgres_database, postgres_admin_url

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


# A database whose own collation orders letters as English does (ICU), unlike bytes.
LOCALE_DATABASE = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
IDS = ["acc_b", "acc_B", "acc_a", "acc_Z", "acc_é", "acc_e"]


def _ordered_ids(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    text("SELECT id FROM accounts WHERE kind = 'personal' ORDER BY id")
                ).scalars()
            )
    finally:
        engine.dispose()


def test_ids_sort_as_bytes_on_postgres_whatever_the_database_locale():
    """As SQLite and Python sort them; before the migration the database's locale ruled."""
    with fresh_postgres_database(postgres_admin_url(), LOCALE_DATABASE) as url:
        migrate.upgrade(url)
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(
                    text("INSERT INTO accounts (id, kind, created_at, pending, available, held) "
                         "VALUES (:id, 'personal', now(), 0, 0, 0)"),
                    [{"id": account_id} for account_id in IDS],
                )  # fmt: skip
        finally:
            engine.dispose()
        assert _ordered_ids(url) == sorted(IDS)
        migrate.downgrade(url, "0014_trips_rider_rejected")
        assert _ordered_ids(url) == ["acc_a", "acc_b", "acc_B", "acc_e", "acc_é", "acc_Z"]
        migrate.upgrade(url)
        assert _ordered_ids(url) == sorted(IDS)


def test_every_string_column_compares_as_bytes_on_postgres(postgres_url):
    """A migration that adds string columns ends with ``migrations.collation.collate_strings``."""
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            other = connection.execute(text("""
                SELECT table_name || '.' || column_name FROM information_schema.columns
                JOIN information_schema.tables USING (table_schema, table_name)
                WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                  AND table_name NOT IN ('alembic_version', 'spatial_ref_sys')
                  AND (data_type IN ('character varying', 'character', 'text')
                       OR udt_name IN ('_varchar', '_bpchar', '_text'))
                  AND collation_name IS DISTINCT FROM 'C'
            """)).scalars().all()  # fmt: skip
            checked = connection.execute(text(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND collation_name = 'C'"
            )).scalar_one()  # fmt: skip
    finally:
        engine.dispose()
    assert other == []
    assert checked > 50


def _account_statistics_targets(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("""
                SELECT attrelid::regclass::text, attstattarget FROM pg_attribute
                WHERE attrelid IN ('trips'::regclass, 'daily_credits'::regclass)
                  AND attname = 'account_id'
            """)).all()  # fmt: skip
    finally:
        engine.dispose()
    return dict(rows)


def test_account_lookups_keep_few_common_values_on_postgres(postgres_url):
    """Planning a thousand-account ``= ANY`` read compares each account with every common value
    kept for the column (0018_account_statistics)."""
    assert _account_statistics_targets(postgres_url) == {"trips": 10, "daily_credits": 10}
    migrate.downgrade(postgres_url, "0017_balanced_from_inserted")
    assert _account_statistics_targets(postgres_url) == {"trips": -1, "daily_credits": -1}
    migrate.upgrade(postgres_url)
    assert _account_statistics_targets(postgres_url) == {"trips": 10, "daily_credits": 10}
