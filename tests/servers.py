"""Finding the real servers the integration and end-to-end tests need.

``TEST_POSTGRES_URL`` names a PostgreSQL server (an admin URL: each test run creates and drops
its own database there). ``TEST_REDIS_URL`` names a Redis server. A private ``redis-server`` is
started on a free loopback port for the tests that stop or freeze Redis. In CI (``CI=true``) a
missing server fails the test; elsewhere the test is skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mock_clients.local_service import free_port
from service.settings import normalise_database_url


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Fail in CI, skip elsewhere: a test that needs a server must not pass without it."""
    message = f"{what} is not available"
    if in_ci():
        pytest.fail(f"{message} (CI=true: integration tests must run against real servers)")
    pytest.skip(message)


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


# -- PostgreSQL ------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        missing("PostgreSQL (set TEST_POSTGRES_URL)")
    url = normalise_database_url(url)
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        missing(f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} ({exc})")
    finally:
        engine.dispose()
    return url


@contextmanager
def fresh_postgres_database(admin_url: str, options: str = "") -> Iterator[str]:
    """A new, empty database for one test module; dropped afterwards. ``options`` go after
    CREATE DATABASE's name (a template, a locale)."""
    name = f"gp_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" {options}'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- Redis -----------------------------------------------------------------------------------


def shared_redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        missing("Redis (set TEST_REDIS_URL)")
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        missing(f"Redis at {url} ({exc})")
    return url


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, which it may stop or freeze."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("the redis-server binary")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._args = [
            str(binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir),
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self._args, stdout=subprocess.DEVNULL)
        wait_for_port(self.port)

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


# -- A PostgreSQL of the test's own ----------------------------------------------------------


def _postgres_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: on PATH, or Debian's versioned one."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name))  # fmt: skip
    return versions[-1].parent if versions else None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own on a free loopback port, which it may stop and
    start again without disturbing the shared server. PostgreSQL refuses to run as root, so as
    root the cluster and its processes belong to the ``postgres`` system user."""

    def __init__(self) -> None:
        binaries = _postgres_binaries()
        if binaries is None:
            missing("the PostgreSQL server binaries (initdb)")
        self._bin = binaries
        as_root = os.geteuid() == 0
        self._owner = (
            {"user": "postgres", "group": "postgres", "extra_groups": []} if as_root else {}
        )
        self.datadir = Path(tempfile.mkdtemp(prefix="gp-pg-"))
        if as_root:
            shutil.chown(self.datadir, "postgres", "postgres")
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [str(self._bin / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
             "--no-sync", "--no-instructions"],
            check=True, capture_output=True, timeout=120, cwd=self.datadir, **self._owner,
        )  # fmt: skip

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(self._bin / "postgres"), "-D", str(self.datadir),
             "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={self.datadir}", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.datadir, **self._owner,
        )  # fmt: skip
        wait_for_port(self.port, timeout_s=30)
        deadline = time.monotonic() + 30
        while not self._accepts_queries():
            assert time.monotonic() < deadline, "the private PostgreSQL did not start"
            time.sleep(0.1)

    def _accepts_queries(self) -> bool:
        engine = create_engine(self.url, connect_args={"connect_timeout": 2})
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False
        finally:
            engine.dispose()

    def stop(self) -> None:
        """A fast shutdown (``pg_ctl stop -m fast``): open sessions are cut off."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=30)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
