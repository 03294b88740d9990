"""The Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from service.api import (
    admin,
    aggregates,
    clients,
    disputes,
    fences,
    health,
    mall,
    me,
    methodologies,
    oauth,
    parking,
    parking_direct,
    planner_page,
    rebalancing,
    reports,
    trips,
    unread_body,
    vehicles,
)
from service.api.problems import (
    PROBLEM_CONTENT_TYPE,
    from_http_exception,
    register_problem_handlers,
)
from service.api.schemas import ProblemSchema
from service.container import Services, build_services
from service.fleet.contract import openapi_components as vehicle_components
from service.ingest.contract import openapi_components as trip_components
from service.settings import Settings

API_VERSION = "1.0.0"


class ProblemApi(Api):
    """flask-smorest's Api, speaking problem+json for errors in answers and in the document."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        return from_http_exception(error)

    def _register_responses(self) -> None:
        """The error responses views refer to by status name (``UNPROCESSABLE_ENTITY``...) and
        ``DEFAULT_ERROR``, all as problem+json: that is what the handlers answer (flask-smorest
        would document them as ``application/json``)."""
        errors = [(s.name, s.phrase) for s in HTTPStatus if s >= 400]
        for name, description in [*errors, ("DEFAULT_ERROR", "Problem details (RFC 9457)")]:
            response = {"description": description, "schema": self.ERROR_SCHEMA}
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(name, response, lazy=True)


def _spec_options() -> dict[str, Any]:
    return {
        "info": {
            "description": "Green-mobility carbon points: trips in, verified grams of CO2 out."
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "oauth2": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "/v1/oauth/token",
                            "scopes": {
                                "trips:write": "post trips",
                                "vehicles:write": "post vehicle status",
                                "parking:read": "ask parking questions",
                                "fleet:read": "read rebalancing advice",
                                "aggregates:read": "read planner aggregates",
                                "admin": "administer the service",
                            },
                        }
                    },
                },
            }
        },
    }


def create_app(
    test_config: Mapping[str, Any] | None = None, *, services: Services | None = None
) -> Flask:
    """Build the app. Settings come from the environment, then ``test_config`` overrides."""
    settings = Settings.from_env()
    if test_config:
        settings = settings.replace(test_config)
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        API_TITLE="greenpoints",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS=_spec_options(),
    )
    app.extensions["greenpoints"] = services or build_services(settings)
    api = ProblemApi(app, spec_kwargs={"marshmallow_plugin": MarshmallowPlugin()})
    for blueprint in (
        health.blp,
        aggregates.blp,
        oauth.blp,
        clients.blp,
        me.blp,
        mall.blp,
        disputes.blp,
        admin.blp,
        methodologies.blp,
        fences.blp,
        parking.blp,
        rebalancing.blp,
        reports.blp,
        trips.blp,
        vehicles.blp,
    ):
        api.register_blueprint(blueprint)
    app.register_blueprint(planner_page.blp)
    # The structs trips and vehicles are decoded with; both use MdsPoint.
    for name, schema in {**trip_components(), **vehicle_components()}.items():
        api.spec.components.schema(name, component=schema)
    register_problem_handlers(app)
    unread_body.install(app)
    parking_direct.install(app, app.extensions["greenpoints"])
    logging.getLogger("service").setLevel(logging.INFO)
    return app
