"""The scope check every protected endpoint goes through."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from service.api.context import services
from service.api.docs import document, may_answer
from service.api.text import NUL
from service.auth.tokens import Principal, TokenService
from service.errors import Forbidden, NotFound, Unauthenticated

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token(authorization: str) -> str:
    """The token of an ``Authorization: Bearer ...`` header value."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a bearer token is required")
    return token.strip()


def authorise(tokens: TokenService, authorization: str, scopes: tuple[str, ...]) -> Principal:
    """The caller behind an ``Authorization`` header value, if it may use one of ``scopes``
    (any valid token if none)."""
    principal = tokens.verify(bearer_token(authorization))
    if scopes and principal.scopes.isdisjoint(scopes):
        raise Forbidden(f"this operation needs the scope {' or '.join(scopes)}")
    return principal


def requires_scope(*scopes: str) -> Callable[[F], F]:
    """Let the view run only for a valid token carrying one of ``scopes`` (any token if none)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            authorization = request.environ.get("HTTP_AUTHORIZATION", "")
            principal = authorise(services().tokens, authorization, scopes)
            _refuse_nul_in_path(kwargs)
            g.principal = principal
            return view(*args, **kwargs)

        client_scopes = [s for s in scopes if s != "account"]
        security: list[dict[str, list[str]]] = []
        if not scopes or "account" in scopes:
            security.append({"bearerAuth": []})
        if not scopes or client_scopes:
            security.append({"oauth2": client_scopes})
        documented = document(security=security)(guarded)
        return may_answer(*((401, 403) if scopes else (401,)))(documented)  # type: ignore[return-value]

    return decorate


def _refuse_nul_in_path(path_args: dict[str, Any]) -> None:
    """No object's id holds NUL (``service.api.text``): such a path names nothing."""
    for name, value in path_args.items():
        if isinstance(value, str) and NUL in value:
            raise NotFound(f"no object has this {name}")
