"""The scope check every protected endpoint goes through."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from flask_smorest import Blueprint

from service.api.context import services
from service.errors import Forbidden, Unauthenticated

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a bearer token is required")
    return token.strip()


def requires_scope(scope: str | None) -> Callable[[F], F]:
    """Let the view run only for a valid token that carries ``scope`` (any token if None)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = services().tokens.verify(bearer_token())
            if scope is not None and scope not in principal.scopes:
                raise Forbidden(f"this operation needs the scope {scope!r}")
            g.principal = principal
            return view(*args, **kwargs)

        security = [{"bearerAuth": []}] if scope in (None, "account") else []
        if scope != "account":
            security.append({"oauth2": [scope] if scope else []})
        return Blueprint.doc(security=security)(guarded)  # type: ignore[return-value]

    return decorate
