"""OAuth 2.0 token endpoint (client credentials) and the caller's own identity."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import marshmallow as ma
from flask import request

from service.api import text
from service.api.blueprint import Blueprint
from service.api.context import caller, services
from service.api.docs import may_answer, without_database
from service.api.guard import requires_scope
from service.auth.clients import grant_client_token
from service.errors import InvalidClient, InvalidRequest, UnsupportedGrantType

blp = Blueprint("auth", __name__, url_prefix="/v1", description="OAuth 2.0 and identity")


class TokenRequestSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    grant_type = ma.fields.String(load_default=None)
    client_id = ma.fields.String(load_default=None)
    client_secret = ma.fields.String(load_default=None)
    scope = ma.fields.String(load_default=None)


class TokenResponseSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True)
    expires_in = ma.fields.Integer(required=True)
    scope = ma.fields.String(required=True)


class WhoAmISchema(ma.Schema):
    kind = ma.fields.String(required=True)
    subject = ma.fields.String(required=True)
    scopes = ma.fields.List(ma.fields.String(), required=True)
    expires_at = ma.fields.DateTime(required=True)


def _basic_credentials() -> tuple[str, str] | None:
    """Client id and secret from an HTTP Basic header, the way RFC 6749 prefers them."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient("the Basic credentials are malformed") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep or text.NUL in decoded:
        raise InvalidClient("the Basic credentials are malformed")
    return client_id, secret


def _token_request() -> dict[str, Any]:
    """The token request from a form body (RFC 6749) or, as API.md allows, a JSON body."""
    if request.is_json:
        raw = request.get_json(silent=True)
        if not isinstance(raw, dict):
            raise InvalidRequest(
                "the body is not a JSON object", errors={"body": ["not an object"]}
            )
    else:
        raw = request.form.to_dict()
    if text.body_may_hold_nul(request):
        text.refuse_nul(raw.items(), error=InvalidRequest)
    try:
        return TokenRequestSchema().load(raw)
    except ma.ValidationError as exc:
        raise InvalidRequest("the token request has invalid fields", errors=exc.messages) from exc


_TOKEN_REQUEST_DOC = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {"schema": TokenRequestSchema},
        "application/json": {"schema": TokenRequestSchema},
    },
}


@blp.route("/oauth/token", methods=["POST"])
@blp.doc(requestBody=_TOKEN_REQUEST_DOC)
@blp.response(200, TokenResponseSchema)
@may_answer(400, 401, 413, 429)
def issue_token() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Exchange client credentials for a short-lived bearer token."""
    form = _token_request()
    if not form["grant_type"]:
        raise InvalidRequest("grant_type is required", errors={"grant_type": ["required"]})
    if form["grant_type"] != "client_credentials":
        raise UnsupportedGrantType(
            "only grant_type=client_credentials is supported",
            errors={"grant_type": ["must be client_credentials"]},
        )
    credentials = _basic_credentials() or (form["client_id"], form["client_secret"])
    client_id, secret = credentials
    names = ("client_id", "client_secret")
    missing = [name for name, value in zip(names, credentials, strict=True) if not value]
    if missing:
        raise InvalidRequest(
            "client credentials are required", errors={name: ["required"] for name in missing}
        )
    svc = services()
    issued = grant_client_token(
        svc.db,
        svc.tokens,
        svc.limiter,
        client_id=client_id,
        client_secret=secret,
        requested_scope=form["scope"],
        max_failures_per_minute=svc.settings.token_failures_per_minute,
    )
    body = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": " ".join(issued.scopes),
    }
    return body, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"}


@blp.route("/whoami", methods=["GET"])
@without_database
@requires_scope()
@blp.response(200, WhoAmISchema)
def whoami() -> dict[str, Any]:
    """The caller the bearer token stands for: kind, subject, scopes, expiry."""
    principal = caller()
    return {
        "kind": principal.kind,
        "subject": principal.subject,
        "scopes": sorted(principal.scopes),
        "expires_at": principal.expires_at,
    }
