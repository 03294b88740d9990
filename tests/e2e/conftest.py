"""A real service: ``greenpoints db upgrade`` then ``greenpoints serve`` on a loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.servers import PrivateRedis, free_port, fresh_postgres_database, postgres_admin_url

HTTP_TIMEOUT_S = 30
GREENPOINTS = shutil.which("greenpoints") or str(Path(sys.executable).parent / "greenpoints")


@dataclass
class RunningService:
    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [GREENPOINTS, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def url(self, path: str) -> str:
        return self.base_url + path


def cli_fields(output):
    return dict(line.split("=", 1) for line in output.strip().splitlines())


def client_token(service, kind):
    created = cli_fields(service.cli("clients", "create", "--kind", kind, "--name", f"a {kind}"))
    answer = requests.post(
        service.url("/v1/oauth/token"),
        data={"grant_type": "client_credentials", "client_id": created["client_id"],
              "client_secret": created["client_secret"]},
        timeout=HTTP_TIMEOUT_S,
    )  # fmt: skip
    return created["client_id"], {"Authorization": f"Bearer {answer.json()['access_token']}"}


@contextmanager
def run_service(
    workdir: Path, database_url: str, redis_url: str | None, **extra_env: str
) -> Iterator[RunningService]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update({"DATABASE_URL": database_url, "GREENPOINTS_VAR_DIR": str(workdir / "var")})
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra_env)
    subprocess.run([GREENPOINTS, "db", "upgrade"], env=env, check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    log = (workdir / "serve.log").open("ab")
    process = subprocess.Popen(
        [GREENPOINTS, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    service = RunningService(f"http://127.0.0.1:{port}", env, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(service.url("/health"), timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass  # still starting
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError((workdir / "serve.log").read_text()[-2000:])
            time.sleep(0.1)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def database_on(kind: str, workdir: Path) -> Iterator[str]:
    """A new database of this kind, for tests that run the service on it more than once."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'gp.db'}"
        return
    with fresh_postgres_database(postgres_admin_url()) as url:
        yield url


@contextmanager
def service_on(kind: str, workdir: Path, **extra_env: str) -> Iterator[RunningService]:
    with database_on(kind, workdir) as url, run_service(workdir, url, None, **extra_env) as svc:
        yield svc


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request, tmp_path) -> Iterator[RunningService]:
    """The service on each database, with the in-process store (no Redis)."""
    with service_on(request.param, tmp_path) as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
def instant_service(request, tmp_path) -> Iterator[RunningService]:
    """The service on each database with no fraud window: credits mature at the next run."""
    with service_on(request.param, tmp_path, FRAUD_WINDOW_HOURS="0") as running:
        yield running


@pytest.fixture
def redis_backed_service(tmp_path) -> Iterator[tuple[RunningService, PrivateRedis]]:
    """The service on SQLite with a private Redis the test may stop or freeze."""
    redis_server = PrivateRedis(tmp_path)
    redis_server.start()
    try:
        with run_service(tmp_path, f"sqlite:///{tmp_path / 'gp.db'}", redis_server.url) as svc:
            yield svc, redis_server
    finally:
        redis_server.stop()


DEMO_STARTUP_S = 300


@contextmanager
def running_demo(workdir: Path, *, days: int, riders: int) -> Iterator[tuple]:
    """``greenpoints demo`` run to its summary and left serving, as a newcomer would see it:
    (base URL, the demo's var dir, the summary JSON path, what it printed, its environment)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env["GREENPOINTS_VAR_DIR"] = str(workdir / "var")
    summary_path = workdir / "summary.json"
    process = subprocess.Popen(
        [GREENPOINTS, "demo", "--days", str(days), "--riders", str(riders), "--port", str(port),
         "--summary-json", str(summary_path)],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    printed = []
    try:
        deadline = time.monotonic() + DEMO_STARTUP_S
        for line in process.stdout:  # bounded: the demo either serves or exits
            printed.append(line)
            if "serving until Ctrl-C" in line:
                break
            assert time.monotonic() < deadline, "".join(printed)
        assert process.poll() is None, "".join(printed)
        yield (f"http://127.0.0.1:{port}", workdir / "var" / "demo", summary_path,
               "".join(printed), env)  # fmt: skip
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
