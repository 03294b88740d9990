"""Client credentials, bearer tokens and scopes, against real databases."""

from __future__ import annotations

import base64

import pytest

from service.auth.clients import create_client


def _db(app):
    return app.extensions["greenpoints"].db


def _token(client, client_id, secret, **extra):
    return client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id,
              "client_secret": secret, **extra},
    )  # fmt: skip


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(app):
    return create_client(_db(app), kind="admin", name="city admin")


@pytest.fixture
def operator(app):
    return create_client(_db(app), kind="operator", name="Shanghai Bikes")


def test_secret_is_stored_only_as_a_hash(app, operator):
    from service.persistence.models import ApiClient

    with _db(app).transaction() as session:
        row = session.get(ApiClient, operator.client_id)
        assert operator.secret not in row.secret_hash
        assert len(row.secret_hash) == 64


def test_client_gets_a_token_and_calls_a_scoped_endpoint(client, admin):
    answer = _token(client, admin.client_id, admin.secret)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "admin"
    assert 0 < body["expires_in"] <= 900
    listed = client.get("/v1/clients", headers=_bearer(body["access_token"]))
    assert listed.status_code == 200
    assert [c["client_id"] for c in listed.get_json()["clients"]] == [admin.client_id]


def test_token_request_as_json_and_with_basic_auth(client, operator):
    as_json = client.post(
        "/v1/oauth/token",
        json={"grant_type": "client_credentials", "client_id": operator.client_id,
              "client_secret": operator.secret},
    )  # fmt: skip
    assert as_json.status_code == 200
    basic = base64.b64encode(f"{operator.client_id}:{operator.secret}".encode()).decode()
    with_basic = client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert with_basic.status_code == 200
    assert with_basic.get_json()["scope"] == "trips:write vehicles:write parking:read fleet:read"


def test_wrong_secret_and_unknown_client_get_401_problem(client, operator):
    for client_id, secret in [(operator.client_id, "wrong"), ("op_nobody", operator.secret)]:
        answer = _token(client, client_id, secret)
        assert answer.status_code == 401
        assert answer.content_type == "application/problem+json"
        assert answer.get_json()["error"] == "invalid_client"


def test_requested_scope_is_narrowed_or_refused(client, operator):
    narrowed = _token(client, operator.client_id, operator.secret, scope="parking:read")
    assert narrowed.get_json()["scope"] == "parking:read"
    refused = _token(client, operator.client_id, operator.secret, scope="parking:read admin")
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_scope"
    assert "scope" in refused.get_json()["errors"]


def test_malformed_token_requests_name_the_field(client, operator):
    no_grant = client.post("/v1/oauth/token", data={"client_id": operator.client_id})
    assert no_grant.status_code == 400
    assert no_grant.get_json()["errors"] == {"grant_type": ["required"]}
    wrong_grant = client.post("/v1/oauth/token", data={"grant_type": "password"})
    assert wrong_grant.get_json()["error"] == "unsupported_grant_type"
    no_secret = client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": operator.client_id},
    )
    assert no_secret.status_code == 400
    assert no_secret.get_json()["errors"] == {"client_secret": ["required"]}


def test_missing_scope_is_403_and_missing_token_401(client, operator):
    token = _token(client, operator.client_id, operator.secret).get_json()["access_token"]
    forbidden = client.get("/v1/clients", headers=_bearer(token))
    assert forbidden.status_code == 403
    assert forbidden.content_type == "application/problem+json"
    assert forbidden.get_json()["code"] == "insufficient_scope"
    anonymous = client.get("/v1/clients")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    garbage = client.get("/v1/clients", headers=_bearer("not-a-token"))
    assert garbage.status_code == 401


def test_narrowed_token_lacks_the_scopes_it_did_not_ask_for(app, client, admin):
    operator = create_client(_db(app), kind="operator", name="narrow")
    token = _token(client, operator.client_id, operator.secret, scope="parking:read")
    whoami = client.get("/v1/whoami", headers=_bearer(token.get_json()["access_token"]))
    assert whoami.get_json()["scopes"] == ["parking:read"]


def test_revoked_client_cannot_get_tokens(client, admin, operator):
    admin_token = _token(client, admin.client_id, admin.secret).get_json()["access_token"]
    revoked = client.delete(f"/v1/clients/{operator.client_id}", headers=_bearer(admin_token))
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"] is not None
    assert _token(client, operator.client_id, operator.secret).status_code == 401
    missing = client.delete("/v1/clients/op_nobody", headers=_bearer(admin_token))
    assert missing.status_code == 404
    assert missing.content_type == "application/problem+json"


def test_admin_creates_clients_over_http_and_validation_names_fields(client, admin):
    admin_token = _token(client, admin.client_id, admin.secret).get_json()["access_token"]
    created = client.post(
        "/v1/clients", json={"kind": "planner", "name": "Urban planning bureau"},
        headers=_bearer(admin_token),
    )  # fmt: skip
    assert created.status_code == 201
    planner = created.get_json()
    token = _token(client, planner["client_id"], planner["client_secret"])
    assert token.get_json()["scope"] == "aggregates:read"
    bad = client.post("/v1/clients", json={"kind": "wizard"}, headers=_bearer(admin_token))
    assert bad.status_code == 422
    assert bad.content_type == "application/problem+json"
    assert set(bad.get_json()["errors"]) == {"kind", "name"}


def test_rider_token_reaches_whoami_but_not_admin(app, client):
    rider_token = app.extensions["greenpoints"].tokens.mint_rider_token("u-1093")
    whoami = client.get("/v1/whoami", headers=_bearer(rider_token))
    assert whoami.get_json()["subject"] == "u-1093"
    assert whoami.get_json()["kind"] == "rider"
    assert client.get("/v1/clients", headers=_bearer(rider_token)).status_code == 403


def test_failed_attempts_are_rate_limited_across_processes(make_app, redis_url, redis_prefix):
    """Two app instances (two processes in production) share the failure count via Redis."""
    config = {"redis_url": redis_url, "redis_prefix": redis_prefix, "token_failures_per_minute": 3}
    first, second = make_app(**config), make_app(**config)
    operator = create_client(_db(first), kind="operator", name="probe target")
    answers = [
        _token(app.test_client(), operator.client_id, "wrong").status_code
        for app in (first, second, first)
    ]
    assert answers == [401, 401, 401]
    blocked = _token(second.test_client(), operator.client_id, operator.secret)
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "60"
    assert blocked.content_type == "application/problem+json"
