"""API fuzzing: schemathesis drives every operation of the served OpenAPI document over real
HTTP, with the token of a caller the operation is meant for, on PostgreSQL with a little real
data behind it.

Every answer must come without a server error, with a status code listed on the operation and
the content type and body schema documented for it; every error must be problem+json whose
``status`` is the HTTP status. The cases are valid and invalid requests generated from the
document, a fixed number per operation, the same ones every run.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h3
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import HTTP_TIMEOUT_S, RunningService, cli_fields, client_token, service_on
from tests.geo_fixtures import CITY_ZONES, IN_CORRAL, STREET
from tests.integration.test_authorisation_matrix import INTENDED

pytestmark = pytest.mark.postgres

EXAMPLES_PER_OPERATION = 30
PROBLEM_CONTENT_TYPE = "application/problem+json"
RIDER_REF = "fuzz-ref-1"
ITEM_ID = "metro-ride"
ZONE_ID = "corral-east-exit"
UNIT_RESOLUTION = 9  # REBALANCING_RESOLUTION's default: H3 cells of this size are dispatch units
# Answered by gunicorn, before any route, to a request line or headers over its limits (a long
# generated query string gets there): problem+json like every error, documented by ``default``
# for every operation alike, not listed on each.
SERVER_LIMITS = {414, 431}
# Routes that serve a page, static files or the document itself: not operations of the API.
NOT_OPERATIONS = {
    ("/planner", "GET"),
    ("/planner/static/{name}", "GET"),
    ("/static/{filename}", "GET"),
    ("/v1/openapi.json", "GET"),
}


def _openapi_path(rule: str) -> str:
    """``/v1/trips/<string:trip_id>`` as OpenAPI writes it: ``/v1/trips/{trip_id}``."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


INTENDED_CALLERS = {
    (_openapi_path(rule), method): kinds for (rule, method), kinds in INTENDED.items()
}
OPERATIONS = sorted(set(INTENDED_CALLERS) - NOT_OPERATIONS)


@dataclass
class World:
    """The running service, a header set per kind of caller, and ids of the seeded objects."""

    service: RunningService
    headers: dict[str, dict[str, str]]  # by kind of caller; "none" sends no token
    erasable_rider: dict[str, str]
    known: dict[str, str]  # path parameter -> the id of a seeded object

    def headers_for(self, case: schemathesis.Case) -> dict[str, str]:
        """The token of a caller the operation is meant for, picked from the case's own data
        (seeded ids, new each run, left out) so that a case goes to the same caller each run
        and when it is replayed."""
        key = (case.operation.path, case.operation.method.upper())
        if key == ("/v1/me", "DELETE"):
            return self.erasable_rider  # the seeded rider keeps an account for the rest
        kinds = sorted(INTENDED_CALLERS[key])
        path = {k: v for k, v in (case.path_parameters or {}).items() if v != self.known.get(k)}
        data = json.dumps([path, case.query, case.body], sort_keys=True, default=str)
        return self.headers[kinds[zlib.crc32(data.encode()) % len(kinds)]]


def _call(service: RunningService, method: str, path: str, headers: dict, body: dict) -> dict:
    answer = requests.request(method, service.url(path), headers=headers, json=body,
                              timeout=HTTP_TIMEOUT_S)  # fmt: skip
    assert answer.status_code in (200, 201), (path, answer.text)
    return answer.json()


def _rider(service: RunningService, user_id: str) -> dict[str, str]:
    """A rider with an open account."""
    headers = {"Authorization": f"Bearer {service.cli('tokens', 'rider', user_id).strip()}"}
    _call(service, "POST", "/v1/me/account", headers, {})
    return headers


def _trips(now: dt.datetime) -> list[dict]:
    """Three valid bike trips of the seeded rider, one after another."""
    trips = []
    for i in range(3):
        ended = now - dt.timedelta(hours=2 + i)
        trips.append({
            "trip_id": f"fuzz-{i}", "mode": "bike", "rider_ref": RIDER_REF,
            "vehicle_id": f"B-{i}", "start_time": (ended - dt.timedelta(minutes=12)).isoformat(),
            "end_time": ended.isoformat(), "start": {"lat": STREET[0], "lng": STREET[1]},
            "end": {"lat": IN_CORRAL[0], "lng": IN_CORRAL[1]}, "distance_m": 2350,
        })  # fmt: skip
    return trips


def _snapshot() -> dict:
    """A GBFS vehicle status of four bikes, two of them in the corral."""
    places = [IN_CORRAL, IN_CORRAL, STREET, STREET]
    vehicles = [{"vehicle_id": f"B-{i}", "lat": lat, "lon": lng, "is_reserved": False,
                 "is_disabled": False} for i, (lat, lng) in enumerate(places)]  # fmt: skip
    return {"data": {"vehicles": vehicles}}


def _seed(service: RunningService) -> World:
    """Zones, a catalog item, a rider who consents to the operator, three of their trips and a
    claim for a missing one, a fleet snapshot and a truck move, a licence area: short, but
    enough for generated requests to reach past the lookups."""
    operator_id, operator = client_token(service, "operator")
    _, planner = client_token(service, "planner")
    _, admin = client_token(service, "admin")
    spare = cli_fields(service.cli("clients", "create", "--kind", "planner", "--name", "spare"))
    _call(service, "POST", "/v1/fences", admin, CITY_ZONES)
    item = {"item_id": ITEM_ID, "kind": "transit_credit", "title": "One metro ride",
            "cost_points": 100, "stock": 50}  # fmt: skip
    _call(service, "POST", "/v1/catalog/items", admin, item)
    rider = _rider(service, "fuzz-rider")
    consent = {"rider_ref": RIDER_REF, "scenarios": ["bike", "ebike"]}
    _call(service, "PUT", f"/v1/me/consents/{operator_id}", rider, consent)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ingested = _call(service, "POST", "/v1/trips", operator, {"trips": _trips(now)})
    assert ingested["success"] == 3, ingested
    claim = {"operator_id": operator_id, "trip_id": "fuzz-missing", "description": "no points"}
    dispute = _call(service, "POST", "/v1/me/disputes", rider, claim)
    _call(service, "POST", "/v1/vehicles/status", operator, _snapshot())
    units = [h3.latlng_to_cell(lat, lng, UNIT_RESOLUTION) for lat, lng in (IN_CORRAL, STREET)]
    move = {"from_unit": units[0], "to_unit": units[1], "vehicles": 1}
    moved = _call(service, "POST", "/v1/rebalancing/moves", operator, {"moves": [move]})
    licence = {"resolution": UNIT_RESOLUTION, "cells": units}
    _call(service, "PUT", f"/v1/operators/{operator_id}/licence", admin, licence)
    methodology = _call(service, "GET", "/v1/methodologies", {}, {})["methodologies"][0]
    known = {
        "trip_uid": ingested["results"][0]["trip_uid"], "trip_id": "fuzz-0",
        "operator_id": operator_id, "client_id": spare["client_id"], "item_id": ITEM_ID,
        "zone_id": ZONE_ID, "dispute_id": dispute["dispute_id"],
        "move_id": moved["moves"][0]["id"], "methodology_id": methodology["id"],
    }  # fmt: skip
    headers = {"none": {}, "rider": rider, "operator": operator, "planner": planner,
               "admin": admin}  # fmt: skip
    return World(service, headers, _rider(service, "fuzz-erasable"), known)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    with service_on("postgresql", workdir) as service:
        yield _seed(service)


@pytest.fixture(scope="module")
def served_schema(world: World) -> schemathesis.BaseSchema:
    """The document as the service serves it, loaded by schemathesis."""
    config = schemathesis.Config.from_dict({
        "request-timeout": HTTP_TIMEOUT_S,
        # The test sends real tokens; generated ones would only ever be answered 401.
        "generation": {"with-security-parameters": False},
    })  # fmt: skip
    return schemathesis.openapi.from_url(world.service.url("/v1/openapi.json"), config=config)


@schemathesis.check
def status_code_is_listed(ctx, response, case) -> None:
    """Every status an operation answers is listed on it. schemathesis's own check accepts any
    status once ``default`` is documented, and ``default`` here only gives the problem shape."""
    listed = set(case.operation.responses.status_codes) - {"default"}
    if response.status_code in SERVER_LIMITS:
        return
    if str(response.status_code) not in listed:
        raise AssertionError(
            f"{response.status_code} is not listed; listed: {', '.join(sorted(listed))}"
        )


@schemathesis.check
def errors_are_problems(ctx, response, case) -> None:
    """RFC 9457: every error is problem+json with ``type``, ``title`` and the HTTP status."""
    if response.status_code < 400:
        return
    content_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if content_type != PROBLEM_CONTENT_TYPE:
        raise AssertionError(f"{response.status_code} answered as {content_type!r}")
    body = response.json()
    missing = {"type", "title", "status"} - set(body)
    if missing or body["status"] != response.status_code:
        raise AssertionError(f"not a problem for {response.status_code}: {body}")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    status_code_is_listed,
    content_type_conformance,
    response_schema_conformance,
    errors_are_problems,
]


def _cases(operation: schemathesis.APIOperation, known: dict[str, str]):
    """Valid and invalid requests, and valid ones whose path names a seeded object (random ids
    would only ever be answered 404)."""
    modes = list(schemathesis.GenerationMode)
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    names = re.findall(r"{(\w+)}", operation.path)
    if names and all(name in known for name in names):
        seeded = {name: known[name] for name in names}
        strategies.append(operation.as_strategy(path_parameters=seeded))
    return st.one_of(strategies)


def _fuzz(operation: schemathesis.APIOperation, world: World) -> None:
    """A fixed number of cases for one operation, the same ones every run (no database of
    earlier failures, no shrinking: the first failure is reported as found).

    Hypothesis is driven here rather than through ``schemathesis.pytest``: its loader for a
    schema served by a fixture (``from_fixture``) renames the test item through
    ``Function._nodeid``, which pytest 9 no longer has."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(case=_cases(operation, world.known))
    def send(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=world.service.base_url, headers=world.headers_for(case),
                               checks=CHECKS)  # fmt: skip

    send()


def test_the_document_has_each_operation_of_the_authorisation_matrix(served_schema) -> None:
    served = {
        (result.ok().path, result.ok().method.upper())
        for result in served_schema.get_all_operations()
    }
    assert served == set(OPERATIONS)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_operation_answers_as_documented(served_schema, world, path, method) -> None:
    _fuzz(served_schema[path][method], world)
