"""Health: the state of the database and Redis, answered quickly whatever their state."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from service.api.blueprint import Blueprint
from service.api.context import services
from service.api.docs import without_database

blp = Blueprint("health", __name__, description="Service health")


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"description": "ok or degraded"})
    database = ma.fields.String(required=True, metadata={"description": "ok or unavailable"})
    redis = ma.fields.String(
        required=True, metadata={"description": "ok, unavailable, or not_configured"}
    )


@blp.route("/health", methods=["GET"])
@without_database
@blp.response(200, HealthSchema)
def health() -> dict[str, Any]:
    """``ok`` when every configured dependency answers, ``degraded`` otherwise.

    Always 200 with the body API.md fixes, so a probe can read which part is down. Redis is
    checked with one bounded ping (and skipped while its circuit is open), so a hung Redis
    still gets a quick answer.
    """
    svc = services()
    database = "ok" if svc.db.ping() else "unavailable"
    if svc.store.kind == "redis":
        redis_state = "ok" if svc.store.ping() else "unavailable"
    else:
        redis_state = "not_configured"
    healthy = database == "ok" and redis_state != "unavailable"
    return {"status": "ok" if healthy else "degraded", "database": database, "redis": redis_state}
