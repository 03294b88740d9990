"""API clients: creation, the client-credentials grant, listing and revocation.

Secrets are 256 bits from ``secrets``; the database keeps only their SHA-256. A slow password
hash buys nothing for a secret nobody can guess, and a fast one keeps the token endpoint cheap.
Failed attempts per client id are rate limited all the same, so a leaked id cannot be probed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select

from service.auth.scopes import SCOPES_BY_KIND, parse_scope
from service.auth.tokens import TokenService
from service.errors import InvalidClient, InvalidInput, InvalidScope, NotFound, RateLimited
from service.kv.ratelimit import RateLimiter
from service.persistence.database import Database
from service.persistence.models import CLIENT_KINDS, ApiClient

_ID_PREFIX = {"operator": "op", "planner": "pl", "admin": "ad"}
FAILURE_WINDOW_S = 60


@dataclasses.dataclass(frozen=True)
class NewClient:
    """A client just created; the only moment its secret is known in clear."""

    client_id: str
    kind: str
    name: str
    scopes: tuple[str, ...]
    secret: str


@dataclasses.dataclass(frozen=True)
class ClientView:
    client_id: str
    kind: str
    name: str
    scopes: tuple[str, ...]
    created_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scopes: tuple[str, ...]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_client(db: Database, *, kind: str, name: str) -> NewClient:
    """Register a client of ``kind`` with the scopes that kind is granted."""
    if kind not in CLIENT_KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(CLIENT_KINDS)}", errors={"kind": ["unknown kind"]}
        )
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name must be 1 to 200 characters", errors={"name": ["bad length"]})
    client_id = f"{_ID_PREFIX[kind]}_{secrets.token_hex(8)}"
    secret = secrets.token_urlsafe(32)
    scopes = SCOPES_BY_KIND[kind]
    with db.transaction() as session:
        session.add(
            ApiClient(
                client_id=client_id,
                kind=kind,
                name=name,
                secret_hash=hash_secret(secret),
                scopes=" ".join(scopes),
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return NewClient(client_id=client_id, kind=kind, name=name, scopes=scopes, secret=secret)


def grant_client_token(
    db: Database,
    tokens: TokenService,
    limiter: RateLimiter,
    *,
    client_id: str,
    client_secret: str,
    requested_scope: str | None,
    max_failures_per_minute: int,
) -> IssuedToken:
    """The OAuth 2.0 client-credentials grant: check the secret, narrow the scopes, sign."""
    failure_key = f"token-failures:{client_id}"
    if limiter.count(failure_key, FAILURE_WINDOW_S) >= max_failures_per_minute:
        raise RateLimited(
            "too many failed attempts for this client; try again later",
            retry_after_s=FAILURE_WINDOW_S,
        )
    with db.transaction() as session:
        client = session.get(ApiClient, client_id)
        known = client is not None and client.revoked_at is None
        expected = client.secret_hash if client is not None else hash_secret("")
        secret_ok = hmac.compare_digest(expected, hash_secret(client_secret))
    if not (known and secret_ok):
        limiter.record(failure_key, FAILURE_WINDOW_S)
        raise InvalidClient("client authentication failed")
    assert client is not None
    allowed = tuple(client.scopes.split())
    requested = parse_scope(requested_scope)
    if requested:
        refused = [s for s in requested if s not in allowed]
        if refused:
            raise InvalidScope(
                f"scope not granted to this client: {' '.join(refused)}",
                errors={"scope": [f"not allowed: {' '.join(refused)}"]},
            )
        granted = requested
    else:
        granted = allowed
    token = tokens.issue_access_token(client_id=client.client_id, kind=client.kind, scopes=granted)
    return IssuedToken(access_token=token, expires_in=tokens.ttl_s, scopes=granted)


def list_clients(db: Database) -> list[ClientView]:
    with db.transaction() as session:
        rows = session.scalars(select(ApiClient).order_by(ApiClient.created_at)).all()
        return [_view(row) for row in rows]


def revoke_client(db: Database, client_id: str) -> ClientView:
    """Refuse the client's secret from now on; tokens already issued expire on their own."""
    with db.transaction() as session:
        client = session.get(ApiClient, client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        if client.revoked_at is None:
            client.revoked_at = dt.datetime.now(dt.UTC)
        return _view(client)


def _view(row: ApiClient) -> ClientView:
    return ClientView(
        client_id=row.client_id,
        kind=row.kind,
        name=row.name,
        scopes=tuple(row.scopes.split()),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
