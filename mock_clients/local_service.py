"""A service of one's own for the demo: migrated, with an admin client, served on loopback.

Everything goes through the ``greenpoints`` command, as an operator of the service would do it
(migrations, the first admin client, development rider tokens, the maturing job).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

STARTUP_TIMEOUT_S = 60
TOKENS_PER_CALL = 500


def greenpoints_command() -> str:
    return shutil.which("greenpoints") or str(Path(sys.executable).parent / "greenpoints")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalService:
    """``greenpoints serve`` on 127.0.0.1 with a fresh embedded database under ``var_dir``."""

    def __init__(self, var_dir: Path, settings: dict[str, str], port: int | None = None) -> None:
        self.var_dir = var_dir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))
        }
        self.env.update(settings)
        self.env["GREENPOINTS_VAR_DIR"] = str(var_dir)
        self.env["DATABASE_URL"] = f"sqlite:///{var_dir / 'greenpoints.db'}"
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [greenpoints_command(), *args], env=self.env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"greenpoints {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        """Start from an empty database, migrate, and serve; wait until /health answers."""
        for leftover in ("greenpoints.db", "greenpoints.db-wal", "greenpoints.db-shm"):
            (self.var_dir / leftover).unlink(missing_ok=True)
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.cli("db", "upgrade")
        log = (self.var_dir / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [greenpoints_command(), "serve", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--threads", "8", "--no-access-log"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service stopped; see {self.var_dir / 'serve.log'}")
            try:
                if requests.get(self.base_url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the service did not answer within {STARTUP_TIMEOUT_S} s")

    def admin_credentials(self) -> tuple[str, str]:
        fields = dict(
            line.split("=", 1)
            for line in self.cli("clients", "create", "--kind", "admin", "--name", "demo city")
            .strip()
            .splitlines()
        )
        return fields["client_id"], fields["client_secret"]

    def rider_tokens(self, user_ids: list[str]) -> list[str]:
        """Tokens from the development identity provider, one per user id, in order."""
        return mint_rider_tokens(self.env, user_ids)

    def mature(self) -> None:
        """The maturing job a deployment runs from cron."""
        self.cli("ledger", "mature")

    def wait(self) -> None:
        if self.process is not None:
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def mint_rider_tokens(env: dict[str, str], user_ids: list[str]) -> list[str]:
    """``greenpoints tokens rider`` for many users, a few hundred per call."""
    tokens: list[str] = []
    for start in range(0, len(user_ids), TOKENS_PER_CALL):
        chunk = user_ids[start : start + TOKENS_PER_CALL]
        done = subprocess.run(
            [greenpoints_command(), "tokens", "rider", *chunk], env=env, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"greenpoints tokens rider failed: {done.stderr.strip()}")
        tokens.extend(done.stdout.split())
    return tokens
