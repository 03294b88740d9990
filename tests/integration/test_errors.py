"""Every non-2xx answer is problem+json and never leaks internals."""

from __future__ import annotations

import collections
import re
import time

import pytest

from service.app import create_app
from tests.factories import CLIENT_SCOPES
from tests.route_callers import INTENDED

PROBLEM = "application/problem+json"


def _is_problem(answer, status):
    assert answer.status_code == status
    assert answer.content_type == PROBLEM
    body = answer.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def test_unknown_path_is_404_problem(client):
    _is_problem(client.get("/v1/no-such-thing"), 404)


def test_wrong_method_is_405_problem_with_allow(client):
    answer = client.delete("/health")
    _is_problem(answer, 405)
    assert "GET" in answer.headers["Allow"]


def test_oversized_body_is_413_problem(make_app):
    client = make_app(max_request_bytes=1024).test_client()
    answer = client.post(
        "/v1/oauth/token",
        data=b"x" * 2048,
        content_type="application/x-www-form-urlencoded",
    )
    _is_problem(answer, 413)


def test_unexpected_error_is_500_problem_without_internals(app):
    def explode():
        raise RuntimeError("secret internals: password=hunter2 at /srv/app.py line 12")

    app.add_url_rule("/v1/explode", "explode", explode)
    body = _is_problem(app.test_client().get("/v1/explode"), 500)
    text = str(body)
    assert "hunter2" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text


def test_invalid_json_names_the_body(client):
    answer = client.post("/v1/oauth/token", data="{not json", content_type="application/json")
    body = _is_problem(answer, 400)
    assert "body" in body["errors"]


@pytest.fixture
def app_without_database(tmp_path):
    """A service whose PostgreSQL is not there (nothing listens on port 9)."""
    app = create_app(
        {
            "database_url": "postgresql+psycopg://postgres@127.0.0.1:9/none",
            "var_dir": tmp_path,
            "redis_url": None,
        }
    )
    yield app
    app.extensions["greenpoints"].db.dispose()


def test_database_outage_gives_503_problem_quickly_and_no_driver_message(app_without_database):
    client = app_without_database.test_client()
    started = time.monotonic()
    answer = client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "op_x", "client_secret": "s"},
    )
    elapsed = time.monotonic() - started
    body = _is_problem(answer, 503)
    assert answer.headers["Retry-After"]
    assert "psycopg" not in str(body) and "127.0.0.1" not in str(body)
    assert elapsed < 3


def test_health_reports_database_outage(app_without_database):
    answer = app_without_database.test_client().get("/health")
    assert answer.status_code == 200
    assert answer.get_json() == {
        "status": "degraded",
        "database": "unavailable",
        "redis": "not_configured",
    }


def test_the_document_gives_every_error_as_a_problem(client):
    document = client.get("/v1/openapi.json").get_json()
    responses = document["components"]["responses"]
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if status != "default" and int(status) < 400:
                    continue
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[1]]
                assert list(response["content"]) == [PROBLEM], (method, path, status)
                checked += 1
    assert checked > 100


def _openapi_path(rule: str) -> str:
    """The document's path of a Flask rule: ``/v1/fences/<string:zone_id>`` -> ``{zone_id}``."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_every_route_answers_a_documented_status_with_the_database_away(app_without_database):
    """Each route, called by a caller it is meant for while PostgreSQL is away, answers a status
    its operation in the served document lists (503 problem+json where it needed the database),
    never a 500: clients built from the document meet nothing it does not name."""
    svc = app_without_database.extensions["greenpoints"]
    client = app_without_database.test_client()
    document = client.get("/v1/openapi.json").get_json()
    headers: dict[str, dict[str, str]] = {"none": {}}
    for kind in ("operator", "planner", "admin"):
        token = svc.tokens.issue_access_token(client_id=f"{kind}_away", kind=kind,
                                              scopes=CLIENT_SCOPES[kind])  # fmt: skip
        headers[kind] = {"Authorization": f"Bearer {token}"}
    headers["rider"] = {"Authorization": f"Bearer {svc.tokens.mint_rider_token('u-away')}"}
    answered: collections.Counter = collections.Counter()
    for (rule, method), intended in sorted(INTENDED.items()):
        caller = min(intended - {"none"} or intended)
        path = re.sub(r"<[^>]+>", "x", rule)
        answer = client.open(path, method=method, headers=headers[caller], json={})
        status = answer.status_code
        assert status < 500 or status == 503, (method, rule, status, answer.data[:300])
        if status == 503:
            _is_problem(answer, 503)
            assert answer.headers["Retry-After"], (method, rule)
        operation = document["paths"].get(_openapi_path(rule), {}).get(method.lower())
        if operation is not None:
            assert str(status) in operation["responses"], (method, rule, status)
        answered[status] += 1
    assert sum(answered.values()) == len(INTENDED)
    # Most routes need the database before they can answer anything else.
    assert answered[503] > len(INTENDED) // 2, answered
