"""Clients made with the CLI, tokens over HTTP, scoped calls: the way operators will do it."""

from __future__ import annotations

import datetime as dt
import http.client
import json
from pathlib import Path

import jwt
import requests

from tests.e2e.conftest import cli_fields

TIMEOUT = 5


def _token(service, client_id, secret):
    return requests.post(
        service.url("/v1/oauth/token"),
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=TIMEOUT,
    )


def _get(service, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(service.url(path), headers=headers, timeout=TIMEOUT)


def test_cli_client_gets_token_and_calls_scoped_endpoint(service):
    admin = cli_fields(service.cli("clients", "create", "--kind", "admin", "--name", "ops desk"))
    operator = cli_fields(service.cli("clients", "create", "--kind", "operator", "--name", "Bikes"))

    answer = _token(service, admin["client_id"], admin["client_secret"])
    assert answer.status_code == 200
    admin_token = answer.json()["access_token"]
    listed = _get(service, "/v1/clients", admin_token)
    assert listed.status_code == 200
    assert {c["client_id"] for c in listed.json()["clients"]} == {
        admin["client_id"],
        operator["client_id"],
    }

    operator_token = _token(service, operator["client_id"], operator["client_secret"]).json()
    refused = _get(service, "/v1/clients", operator_token["access_token"])
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/problem+json"


def test_wrong_secret_expired_and_tampered_tokens_are_refused(service):
    admin = cli_fields(service.cli("clients", "create", "--kind", "admin", "--name", "ops desk"))
    wrong = _token(service, admin["client_id"], "not-the-secret")
    assert wrong.status_code == 401
    assert wrong.headers["Content-Type"] == "application/problem+json"

    token = _token(service, admin["client_id"], admin["client_secret"]).json()["access_token"]
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    tampered = _get(service, "/v1/clients", f"{header}.{payload}.{flipped}")
    assert tampered.status_code == 401
    assert tampered.headers["Content-Type"] == "application/problem+json"

    expired = _get(service, "/v1/clients", _expired(service, token))
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


def _expired(service, token):
    """``token`` signed again with the service's own key, but expired an hour ago."""
    key = (Path(service.env["GREENPOINTS_VAR_DIR"]) / "token-signing.key").read_text().strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    past = int((dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).timestamp())
    claims.update({"iat": past - 900, "exp": past})
    return jwt.encode(claims, key, algorithm="HS256")


def test_batch_refused_before_its_body_is_read_keeps_the_connection(service):
    """A batch of about half a megabyte sent with an expired token is answered 401, and the
    client's kept-alive connection still serves its next requests. The server used to drop
    the connection after such an answer, so the next POST on it found it closed."""
    operator = cli_fields(service.cli("clients", "create", "--kind", "operator", "--name", "Bikes"))
    token = _token(service, operator["client_id"], operator["client_secret"]).json()
    headers = {"Authorization": f"Bearer {_expired(service, token['access_token'])}",
               "Content-Type": "application/json"}  # fmt: skip
    trip = {"trip_id": "t", "mode": "bike", "rider_ref": "r", "distance_m": 2350,
            "start_time": "2026-12-01T08:00:00Z", "end_time": "2026-12-01T08:12:00Z",
            "route": [[121.48, 31.24]] * 20}  # fmt: skip
    body = json.dumps({"trips": [{**trip, "trip_id": f"t-{i}"} for i in range(1000)]}).encode()
    assert len(body) > 256 * 1024

    connection = http.client.HTTPConnection(service.url("").split("//")[1], timeout=TIMEOUT)
    sockets = []
    try:
        for _ in range(3):
            connection.request("POST", "/v1/trips", body=body, headers=headers)
            sockets.append(connection.sock)
            answer = connection.getresponse()
            problem = json.loads(answer.read())
            assert answer.status == 401
            assert answer.getheader("Content-Type") == "application/problem+json"
            assert "expired" in problem["detail"]
        connection.request("GET", "/health")
        sockets.append(connection.sock)
        health = connection.getresponse()
        health.read()
        assert health.status == 200
        assert all(sock is sockets[0] for sock in sockets)  # one connection all along
    finally:
        connection.close()


def test_cli_mints_one_rider_token_per_line(service):
    lines = service.cli("tokens", "rider", "u-1", "u-2", "u-3").strip().splitlines()
    assert len(lines) == 3
    subjects = [_get(service, "/v1/whoami", token).json()["subject"] for token in lines]
    assert subjects == ["u-1", "u-2", "u-3"]
    assert _get(service, "/v1/clients", lines[0]).status_code == 403


def test_openapi_document_is_served_and_valid(service):
    from openapi_spec_validator import validate

    document = _get(service, "/v1/openapi.json").json()
    validate(document)
    assert "/v1/oauth/token" in document["paths"]
    problem = document["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert "application/problem+json" in problem
    # The trip is described by the same structs that decode it.
    trip = document["components"]["schemas"]["TripIn"]
    assert {"trip_id", "mode", "rider_ref", "start_time", "end_time"} <= set(trip["required"])
    body = document["paths"]["/v1/trips"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["trips"]["items"] == {"$ref": "#/components/schemas/TripIn"}
