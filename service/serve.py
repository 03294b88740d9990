"""Run the app under gunicorn, the production WSGI server."""

from __future__ import annotations

import gc
import json
import logging
import socket
from typing import Any

import gunicorn.util
from gunicorn.app.base import BaseApplication

from service.api.problems import PROBLEM_CONTENT_TYPE

log = logging.getLogger(__name__)
# Net allocations between young collections (CPython's default: 700). A 1000-trip batch holds
# 30,000-40,000 tracked objects at its peak, nearly all alive: at 20,000 a young collection
# ran about once a batch (22 over 20 batches, 3.8-8 ms a batch) and freed 250 objects in all.
# 100,000 leaves room for two or three batches judged at once in one worker.
GC_YOUNG_THRESHOLD = 100_000


class GunicornServer(BaseApplication):
    """Gunicorn driven from code: each worker builds its own app (nothing shared at import)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from service.app import create_app

        return create_app()


def _warm_up(worker: Any) -> None:
    """Build the zone index before the worker takes its first request (10,000 zones take
    seconds); if the database is away, the first request will build it instead."""
    try:
        worker.wsgi.extensions["greenpoints"].zones.judge()
    except Exception:
        log.warning("zone index not warmed at start", exc_info=True)
    settle_garbage_collector()


def settle_garbage_collector() -> None:
    """Keep the collector off the long-lived objects (app, zone index, mappers): they move to
    the permanent generation, and young collections run less often. A thousand-trip batch
    allocates hundreds of thousands of short-lived objects; without this every full
    collection walks the whole heap, mid-request."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def write_problem(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """gunicorn's own answer to a request it refuses before the app sees it (a request line or
    headers over its limits, a malformed request) as problem+json, like every other error,
    rather than gunicorn's HTML page. It stands in for ``gunicorn.util.write_error``."""
    body = json.dumps(
        {"type": "about:blank", "title": reason, "status": status, "detail": message or reason}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


def serve(
    *, bind: str, workers: int, threads: int, timeout_s: int, access_log: bool = True
) -> None:
    gunicorn.util.write_error = write_problem  # the workers fork from here and keep it
    GunicornServer(
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": timeout_s,
            "graceful_timeout": 10,
            "accesslog": "-" if access_log else None,
            "errorlog": "-",
            "preload_app": False,
            "post_worker_init": _warm_up,
        }
    ).run()
