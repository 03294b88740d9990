"""Run the app under gunicorn, the production WSGI server."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


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


def serve(*, bind: str, workers: int, threads: int, timeout_s: int) -> None:
    GunicornServer(
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": timeout_s,
            "graceful_timeout": 10,
            "accesslog": "-",
            "errorlog": "-",
            "preload_app": False,
        }
    ).run()
