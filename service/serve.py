"""Run the app under gunicorn, the production WSGI server."""

from __future__ import annotations

import gc
import logging
from typing import Any

from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)
GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)


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


def serve(
    *, bind: str, workers: int, threads: int, timeout_s: int, access_log: bool = True
) -> None:
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
