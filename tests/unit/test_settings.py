from pathlib import Path

import pytest

from service.settings import Settings, SettingsError, normalise_database_url


def test_defaults_put_sqlite_under_var(tmp_path):
    settings = Settings.from_env({"GREENPOINTS_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'greenpoints.db'}"
    assert settings.redis_url is None
    assert settings.is_sqlite


def test_environment_overrides():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@127.0.0.1/db",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "MAX_REQUEST_BYTES": "1024",
            "TOKEN_TTL_SECONDS": "60",
            "RIDER_JWT_JWKS_FILE": "/etc/greenpoints/riders.jwks",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@127.0.0.1/db"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.max_request_bytes == 1024
    assert settings.token_ttl_s == 60
    assert settings.rider_jwt_jwks_file == Path("/etc/greenpoints/riders.jwks")
    assert not settings.is_sqlite


def test_bad_number_names_the_variable():
    with pytest.raises(SettingsError, match="MAX_REQUEST_BYTES"):
        Settings.from_env({"MAX_REQUEST_BYTES": "lots"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://a@h/d", "postgresql+psycopg://a@h/d"),
        ("postgresql://a@h/d", "postgresql+psycopg://a@h/d"),
        ("postgresql+psycopg2://a@h/d", "postgresql+psycopg://a@h/d"),
        ("postgresql+psycopg://a@h/d", "postgresql+psycopg://a@h/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_postgres_urls_use_psycopg3(given, expected):
    assert normalise_database_url(given) == expected


def test_batch_writers_must_be_at_least_one():
    assert Settings.from_env({}).ingest_batch_writers == 2
    assert Settings.from_env({"INGEST_BATCH_WRITERS": "3"}).ingest_batch_writers == 3
    with pytest.raises(SettingsError, match="INGEST_BATCH_WRITERS must be at least 1"):
        Settings.from_env({"INGEST_BATCH_WRITERS": "0"})
