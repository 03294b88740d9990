"""Every non-2xx answer is problem+json and never leaks internals."""

from __future__ import annotations

import time

import pytest

from service.app import create_app

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
