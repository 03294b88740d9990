"""Bearer tokens: the access tokens this service issues, and the riders' identity tokens.

Two kinds of JWT reach the API, told apart by their issuer:

- access tokens for operators, planners and admins, issued by ``POST /v1/oauth/token`` and
  signed here with HS256 (``TOKEN_SIGNING_KEY``), short-lived;
- rider tokens, issued by the app's identity provider and signed with its private key (ES256 or
  RS256); the service holds only the public keys (a JWKS file). In development a generated key
  pair stands in for the identity provider and the CLI mints rider tokens with it.

Each path pins its own algorithms, so a token can never pick how it is checked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from pathlib import Path

import jwt

from service.auth import keys
from service.auth.scopes import RIDER_SCOPES, format_scope, parse_scope
from service.errors import Unauthenticated

ACCESS_TOKEN_ALGORITHM = "HS256"
RIDER_TOKEN_ALGORITHMS = ("ES256", "RS256")
LEEWAY_S = 30
VERIFIED_CACHE_SIZE = 10_000


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who is calling: an API client (operator, planner, admin) or a rider."""

    kind: str
    subject: str
    scopes: frozenset[str]
    expires_at: dt.datetime


class TokenService:
    """Issues access tokens and verifies every bearer token the API receives."""

    def __init__(
        self,
        *,
        access_secret: str,
        issuer: str,
        audience: str,
        ttl_s: int,
        rider_issuer: str,
        rider_audience: str,
        rider_jwks: dict,
        rider_signing_key_file: Path | None = None,
    ) -> None:
        self._secret = access_secret
        self._issuer = issuer
        self._audience = audience
        self.ttl_s = ttl_s
        self._rider_issuer = rider_issuer
        self._rider_audience = rider_audience
        self._rider_keys = jwt.PyJWKSet.from_dict(rider_jwks)
        self._rider_signing_key_file = rider_signing_key_file
        self._verified: dict[str, Principal] = {}

    # -- access tokens -------------------------------------------------------------------

    def issue_access_token(
        self, *, client_id: str, kind: str, scopes: tuple[str, ...], now: dt.datetime | None = None
    ) -> str:
        now = now or dt.datetime.now(dt.UTC)
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": client_id,
            "kind": kind,
            "scope": format_scope(scopes),
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ACCESS_TOKEN_ALGORITHM)

    # -- rider tokens (development identity provider) ----------------------------------------

    def mint_rider_token(self, user_id: str, *, ttl_s: int = 30 * 24 * 3600) -> str:
        """A rider token signed by the development identity provider's key."""
        if self._rider_signing_key_file is None:
            raise Unauthenticated(
                "no rider signing key is configured (set RIDER_JWT_SIGNING_KEY_FILE)"
            )
        private = keys.load_private_key(self._rider_signing_key_file)
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims = {
            "iss": self._rider_issuer,
            "aud": self._rider_audience,
            "sub": user_id,
            "scope": format_scope(RIDER_SCOPES),
            "iat": now,
            "exp": now + ttl_s,
        }
        headers = {"kid": keys.key_id(private.public_key())}
        return jwt.encode(claims, private, algorithm="ES256", headers=headers)

    # -- verification -------------------------------------------------------------------

    def verify(self, token: str) -> Principal:
        """The caller behind ``token``; raises ``Unauthenticated`` for anything not right.

        A token that verified once is remembered until it expires: clients send the same
        token with every request, and checking a signature costs more than the rest of a
        parking check.
        """
        known = self._verified.get(token)
        if known is not None and known.expires_at > dt.datetime.now(dt.UTC):
            return known
        principal = self._verify_uncached(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = principal
        return principal

    def _verify_uncached(self, token: str) -> Principal:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthenticated("the bearer token is malformed") from exc
        issuer = unverified.get("iss")
        if issuer == self._issuer:
            return self._verify_access(token)
        if issuer == self._rider_issuer:
            return self._verify_rider(token)
        raise Unauthenticated("the bearer token's issuer is not trusted")

    def _verify_access(self, token: str) -> Principal:
        claims = _decode(
            token,
            self._secret,
            algorithms=[ACCESS_TOKEN_ALGORITHM],
            issuer=self._issuer,
            audience=self._audience,
        )
        kind = claims.get("kind")
        if kind not in ("operator", "planner", "admin"):
            raise Unauthenticated("the access token names no known kind of client")
        return _principal(kind, claims)

    def _verify_rider(self, token: str) -> Principal:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise Unauthenticated("the bearer token is malformed") from exc
        key = self._rider_key(kid)
        claims = _decode(
            token,
            key,
            algorithms=list(RIDER_TOKEN_ALGORITHMS),
            issuer=self._rider_issuer,
            audience=self._rider_audience,
        )
        principal = _principal("rider", claims)
        # A rider token grants the rider scope and nothing more, whatever it claims.
        return dataclasses.replace(principal, scopes=frozenset(RIDER_SCOPES))

    def _rider_key(self, kid: str | None) -> jwt.PyJWK:
        candidates = [k for k in self._rider_keys.keys if kid is None or k.key_id == kid]
        if len(candidates) != 1:
            raise Unauthenticated("the rider token's signing key is not known")
        return candidates[0]


def _decode(token: str, key: object, *, algorithms: list[str], issuer: str, audience: str) -> dict:
    try:
        return jwt.decode(
            token,
            key,  # type: ignore[arg-type]
            algorithms=algorithms,
            issuer=issuer,
            audience=audience,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the bearer token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("the bearer token is not valid") from exc


def _principal(kind: str, claims: dict) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("the bearer token names no subject")
    return Principal(
        kind=kind,
        subject=subject,
        scopes=frozenset(parse_scope(claims.get("scope"))),
        expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
    )


def load_jwks(path: Path) -> dict:
    """A JWKS document from a file; refuses one that holds private key material."""
    document = json.loads(path.read_text())
    for jwk in document.get("keys", []):
        if "d" in jwk:
            raise ValueError(f"{path}: a JWKS for verification must not hold private keys")
    return document
