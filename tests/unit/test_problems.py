import json
import socket

from service import errors
from service.api.problems import flatten_messages, from_service_error
from service.api.text import nul_paths
from service.serve import write_problem


def test_nested_validation_messages_become_dotted_field_names():
    messages = {
        "json": {
            "trips": {"0": {"mode": ["Must be one of: bike."]}, "3": {"end": {"lat": ["bad"]}}},
            "_schema": ["at most 1000 trips"],
        }
    }
    assert flatten_messages(messages) == {
        "trips.0.mode": ["Must be one of: bike."],
        "trips.3.end.lat": ["bad"],
        "body": ["at most 1000 trips"],
    }


def test_query_messages_keep_the_parameter_name():
    assert flatten_messages({"query": {"res": ["Not a valid integer."]}}) == {
        "res": ["Not a valid integer."]
    }


def _body(response):
    return json.loads(response.get_data())


def test_each_error_kind_has_its_status_and_code():
    cases = [
        (errors.InvalidClient("x"), 401, "invalid_client"),
        (errors.Unauthenticated("x"), 401, "unauthenticated"),
        (errors.Forbidden("x"), 403, "insufficient_scope"),
        (errors.NotFound("x"), 404, "not_found"),
        (errors.Conflict("x"), 409, "conflict"),
        (errors.InvalidScope("x"), 400, "invalid_scope"),
        (errors.InvalidRequest("x"), 400, "invalid_request"),
        (errors.InvalidInput("x"), 422, "invalid_input"),
        (errors.RateLimited("x", retry_after_s=60), 429, "rate_limited"),
        (errors.Unavailable("x"), 503, "unavailable"),
    ]
    for error, status, code in cases:
        response = from_service_error(error)
        assert response.status_code == status, error
        assert response.content_type == "application/problem+json"
        body = _body(response)
        assert body["status"] == status
        assert body["code"] == code
        assert body["type"].endswith(code)


def test_oauth_errors_carry_the_rfc6749_member_and_auth_header():
    response = from_service_error(errors.InvalidClient("client authentication failed"))
    assert _body(response)["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_validation_errors_name_fields():
    error = errors.InvalidInput("bad", errors={"name": ["too long"]})
    assert _body(from_service_error(error))["errors"] == {"name": ["too long"]}


def test_rate_limited_says_when_to_retry():
    response = from_service_error(errors.RateLimited("slow down", retry_after_s=60))
    assert response.headers["Retry-After"] == "60"


def test_text_with_nul_is_found_by_its_path():
    document = {"a": "ok", "b": ["x", "y\x00"], "c": {"d\x00": 1, "e": {"f": "\x00"}}, "n": 3}
    assert nul_paths(document) == ["b.1", "c.d\x00", "c.e.f"]
    assert nul_paths("\x00", "cursor") == ["cursor"]
    deep: list = []
    for _ in range(5000):  # deeper than the call stack allows
        deep = [deep]
    assert nul_paths(deep) == []


def test_requests_gunicorn_refuses_are_answered_as_problems():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        write_problem(ours, 414, "URI Too Long", "Request Line is too large (5025 > 4094)")
        head, _, body = theirs.recv(65536).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 URI Too Long\r\n")
    assert b"Content-Type: application/problem+json" in head
    assert json.loads(body)["status"] == 414
