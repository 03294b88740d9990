from __future__ import annotations

import pytest

from service.app import create_app
from tests.servers import shared_redis_url


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app on the migrated ``database_url``; keyword overrides go to the settings."""
    apps = []

    def build(**overrides):
        config = {"database_url": database_url, "var_dir": tmp_path / "var", "redis_url": None}
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["greenpoints"].db.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def redis_url():
    return shared_redis_url()
