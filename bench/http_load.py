"""Serving an app under gunicorn on 127.0.0.1 and loading it with ``wrk``, shared by the HTTP
benchmarks so that every side of every comparison is served and driven the same way."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.report import BenchError
from tests.servers import free_port, wait_for_port

WRK_THREADS = 2
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclasses.dataclass(frozen=True)
class Load:
    """One wrk run: what it sent and the tail latency it saw."""

    requests_per_s: float
    p99_ms: float


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is needed: apt-get install -y wrk")


def until_answering(url: str, header: str | None, timeout_s: float = 120) -> None:
    """Wait for the first good answer: workers build their zone index before serving."""
    request = urllib.request.Request(url)  # noqa: S310 - a loopback http URL built above
    if header:
        name, _, value = header.partition(": ")
        request.add_header(name, value)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


def warm_up(
    url: str,
    connections: int,
    header: str | None,
    script: Path | None = None,
    *,
    first_s: int = 10,
    settle_rounds: int = 15,
) -> None:
    """Load the server until its throughput settles: ``first_s`` (every worker builds its zone
    index before serving), then 2 s rounds until two in a row agree within 10 % (at most
    ``settle_rounds``)."""
    wrk(url, first_s, connections, header, script)
    previous = 0.0
    for _ in range(settle_rounds):
        current = wrk(url, 2, connections, header, script).requests_per_s
        if previous and abs(current - previous) <= 0.1 * max(current, previous):
            return
        previous = current


def wrk(
    url: str,
    seconds: int,
    connections: int,
    header: str | None = None,
    script: Path | None = None,
) -> Load:
    """One wrk run; any non-2xx answer fails it, since failing fast is not serving."""
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if header:
        command[1:1] = ["-H", header]
    if script:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} failed requests:\n{output}")
    return Load(float(match.group(1)), _p99_ms(output))


def _p99_ms(output: str) -> float:
    """The 99th percentile from wrk's ``--latency`` distribution, in milliseconds."""
    match = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no latency distribution in wrk's output:\n{output}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def gunicorn(module: str, port: int, workers: int, threads: int, env: dict) -> subprocess.Popen:
    """The bare app under plain gunicorn; the service as ``greenpoints serve`` runs it."""
    bin_dir = Path(sys.executable).parent
    if module == "greenpoints":
        command = [
            str(bin_dir / "greenpoints"),
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--no-access-log",
        ]
    else:
        command = [
            str(bin_dir / "gunicorn"),
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-k",
            "gthread",
            "-b",
            f"127.0.0.1:{port}",
            module,
        ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def stop(servers: list[subprocess.Popen]) -> None:
    """Terminate servers this run started, killing any that will not stop."""
    for server in servers:
        if server.poll() is None:
            server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@dataclasses.dataclass(frozen=True)
class Target:
    """One side of a comparison: the app serving it, the path, and how requests are made
    (a fixed header, or a wrk Lua script that builds each request)."""

    module: str
    path: str
    header: str | None = None
    script: Path | None = None


def compare(
    targets: dict[str, Target],
    env: dict,
    *,
    workers: int,
    threads: int,
    connections: int,
    seconds: int,
    rounds: int,
    warm_up_s: int = 10,
    settle_rounds: int = 15,
) -> dict[str, list[Load]]:
    """Serve every target (one server per app), warm each up, then run ``rounds`` rounds of
    ``seconds`` on each in turn, so that a slow spell of this shared machine hits every side."""
    servers: dict[str, subprocess.Popen] = {}
    urls: dict[str, str] = {}
    try:
        for name, target in targets.items():
            if target.module not in servers:
                port = free_port()
                servers[target.module] = gunicorn(target.module, port, workers, threads, env)
                wait_for_port(port, timeout_s=60)
                urls[target.module] = f"http://127.0.0.1:{port}"
            urls[name] = urls[target.module] + target.path
            until_answering(urls[name], target.header)
            warm_up(urls[name], connections, target.header, target.script,
                    first_s=warm_up_s, settle_rounds=settle_rounds)  # fmt: skip
        loads: dict[str, list[Load]] = {name: [] for name in targets}
        for _ in range(rounds):
            for name, target in targets.items():
                loads[name].append(
                    wrk(urls[name], seconds, connections, target.header, target.script)
                )
    finally:
        stop(list(servers.values()))
    for name, values in loads.items():
        print(f"{name}: rounds {', '.join(f'{v.requests_per_s:.0f}' for v in values)} requests/s")
    return loads
