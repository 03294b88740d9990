"""The service's error tree. Use cases raise these; only the HTTP layer turns them into answers.

Each error carries a stable machine ``code`` and, for validation problems, ``errors`` mapping a
field name to its messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ServiceError(Exception):
    """Base of every error a use case may raise on purpose."""

    code = "error"

    def __init__(self, detail: str, *, errors: Mapping[str, Sequence[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = {k: list(v) for k, v in (errors or {}).items()}


class InvalidInput(ServiceError):
    code = "invalid_input"


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"


class Unauthenticated(ServiceError):
    """No credentials, or credentials that do not check out."""

    code = "unauthenticated"


class Forbidden(ServiceError):
    """Valid credentials without the scope the operation needs."""

    code = "insufficient_scope"


class PayloadTooLarge(InvalidInput):
    """A request over a size or count limit."""

    code = "payload_too_large"


class RateLimited(ServiceError):
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unavailable(ServiceError):
    """A backing service the operation needs is down; the caller may retry."""

    code = "unavailable"


# OAuth 2.0 token-endpoint errors (RFC 6749 section 5.2), kept as their own codes.
class InvalidClient(Unauthenticated):
    code = "invalid_client"


class InvalidScope(InvalidInput):
    code = "invalid_scope"


class UnsupportedGrantType(InvalidInput):
    code = "unsupported_grant_type"


class InvalidRequest(InvalidInput):
    """A malformed token request (RFC 6749 answers these with 400, not 422)."""

    code = "invalid_request"
