"""HTTP as the real clients speak it: bearer tokens, bounded retries, Retry-After honoured.

A client retries what a real one would: a lost connection, a 5xx, a 429 (after the server's
``Retry-After``). Anything else (a 4xx) is the answer, returned to the caller to judge. Writes
that must not happen twice carry an ``Idempotency-Key`` that stays the same on every retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests

TIMEOUT_S = 60
MAX_ATTEMPTS = 6
MAX_WAIT_S = 10.0
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiError(RuntimeError):
    """An answer the caller did not expect, with the problem document the service sent."""

    def __init__(self, method: str, path: str, status: int, problem: Any) -> None:
        super().__init__(f"{method} {path}: {status} {problem}")
        self.status = status
        self.problem = problem


class Api:
    """One caller's view of the service: a base URL, a token source and a pooled session."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str] | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.sleep = sleep
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        """One pooled session per thread: requests' sessions are not shared across threads."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> requests.Response:
        """Send, retrying like a real client; an answer outside ``ok`` raises ``ApiError``."""
        wanted = dict(headers or {})
        if self.token is not None and "Authorization" not in wanted:
            wanted["Authorization"] = f"Bearer {self.token()}"
        answer: requests.Response | None = None
        for attempt in range(MAX_ATTEMPTS):
            try:
                answer = self.session.request(
                    method, self.base_url + path, json=json, data=data, params=params,
                    headers=wanted, timeout=TIMEOUT_S,
                )  # fmt: skip
            except requests.ConnectionError:
                self.sleep(_backoff(attempt))
                continue
            if answer.status_code not in RETRIED_STATUSES:
                break
            self.sleep(_retry_after(answer) or _backoff(attempt))
        if answer is None:
            raise ApiError(method, path, 0, "no connection")
        if answer.status_code not in ok:
            raise ApiError(method, path, answer.status_code, _problem(answer))
        return answer

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs).json()

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("POST", path, json=body, **kwargs).json()

    def put(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("PUT", path, json=body, **kwargs).json()

    def as_bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def pages(self, path: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a cursor-paginated list (``next_cursor``), in the service's order."""
        items: list[dict[str, Any]] = []
        cursor = None
        for _ in range(100_000):
            page = self.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
            items.extend(page[key])
            cursor = page.get("next_cursor")
            if not cursor:
                return items
        raise RuntimeError(f"{path} did not end after 100000 pages")


class ClientCredentials:
    """An OAuth client's access token, fetched again shortly before it expires."""

    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.secret = client_secret
        self._api = Api(base_url)
        self._token = ""
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if time.monotonic() >= self._renew_at:
                answer = self._api.post(
                    "/v1/oauth/token",
                    {"grant_type": "client_credentials", "client_id": self.client_id,
                     "client_secret": self.secret},
                )  # fmt: skip
                self._token = answer["access_token"]
                self._renew_at = time.monotonic() + max(answer["expires_in"] - 60, 1)
            return self._token


def _backoff(attempt: int) -> float:
    return min(0.05 * 2**attempt, MAX_WAIT_S)


def _retry_after(answer: requests.Response) -> float | None:
    raw = answer.headers.get("Retry-After")
    try:
        return min(float(raw), MAX_WAIT_S) if raw else None
    except ValueError:
        return None


def _problem(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text[:500]
