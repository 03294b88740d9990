"""RFC 9457 problem+json: the one shape every non-2xx answer takes.

Domain errors, HTTP errors raised by Flask or webargs, database outages and unexpected
exceptions all end here. Nothing from a stack trace or a driver message is ever sent out; the
full exception goes to the log instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from service import errors

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:greenpoints:problem:"

_STATUS_BY_ERROR: list[tuple[type[errors.ServiceError], int]] = [
    (errors.InvalidClient, 401),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.InvalidScope, 400),
    (errors.UnsupportedGrantType, 400),
    (errors.InvalidRequest, 400),
    (errors.PayloadTooLarge, 413),
    (errors.InvalidInput, 422),
    (errors.RateLimited, 429),
    (errors.Unavailable, 503),
]
_LOCATIONS = {"json", "form", "json_or_form", "query", "querystring", "headers", "files", "path"}
_OAUTH_CODES = {"invalid_client", "invalid_scope", "unsupported_grant_type", "invalid_request"}


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    code: str | None = None,
    field_errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """A problem+json response; ``code`` is also the last part of the problem ``type``."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{code}" if code else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if code:
        body["code"] = code
        if code in _OAUTH_CODES:
            body["error"] = code  # RFC 6749 clients read this member
    if field_errors:
        body["errors"] = {k: list(v) for k, v in field_errors.items()}
    body.update(extensions)
    response = Response(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_service_error(error: errors.ServiceError) -> Response:
    status = next((s for cls, s in _STATUS_BY_ERROR if isinstance(error, cls)), 400)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="greenpoints"'
    if status == 403:
        headers["WWW-Authenticate"] = 'Bearer realm="greenpoints", error="insufficient_scope"'
    if isinstance(error, errors.RateLimited):
        headers["Retry-After"] = str(error.retry_after_s)
    if isinstance(error, errors.Unavailable):
        headers["Retry-After"] = "1"
    return problem(
        status,
        _title(status),
        error.detail,
        code=error.code,
        field_errors=error.errors or None,
        headers=headers,
    )


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    field_errors = flatten_messages(data.get("messages") or data.get("errors") or {})
    if status == 422 or (status == 400 and field_errors):
        detail = "the request has invalid fields: " + ", ".join(sorted(field_errors))
        code = "invalid_input" if status == 422 else "invalid_request"
    else:
        detail = data.get("message") or _safe_description(error)
        code = None
    headers = dict(data.get("headers") or {})
    valid_methods = getattr(error, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    return problem(
        status, _title(status), detail, code=code, field_errors=field_errors, headers=headers
    )


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Webargs/marshmallow nested messages as {"trips.0.mode": [...]}, locations dropped."""
    if not isinstance(messages, Mapping):
        return {prefix or "body": _as_list(messages)}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        key = str(key)
        if not prefix and key in _LOCATIONS:
            path = ""
        elif key == "_schema":
            path = prefix
        else:
            path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            flat.update(flatten_messages(value, path))
        else:
            flat.setdefault(path or "body", []).extend(_as_list(value))
    return flat


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _safe_description(error: HTTPException) -> str:
    # Werkzeug's stock descriptions are written for people and carry no internals.
    return (error.description or _title(error.code or 500)).strip()


def register_problem_handlers(app: Flask) -> None:
    """Route every error through problem+json (flask-smorest's HTTP handler is replaced too)."""

    @app.errorhandler(errors.ServiceError)
    def _service_error(error: errors.ServiceError) -> Response:
        return from_service_error(error)

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    @app.errorhandler(sa_exc.TimeoutError)
    def _database_down(error: Exception) -> Response:
        log.error("database unavailable: %s", error.__class__.__name__)
        return from_service_error(errors.Unavailable("the database is unavailable; retry shortly"))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return from_http_exception(error)
        log.exception("unhandled error")
        return problem(500, "Internal Server Error", "an unexpected error occurred")
