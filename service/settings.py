"""Settings, read once from environment variables in the app factory and the CLI.

Every knob a deployment may turn lives here, with its environment variable and default, so
there is one place to look. Nothing here opens a file or a connection.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _at_least(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = _int(environ, name, default)
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def _path(environ: Mapping[str, str], name: str) -> Path | None:
    raw = environ.get(name)
    return Path(raw) if raw else None


def _choice(environ: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (the first when unset)."""
    raw = environ.get(name) or allowed[0]
    if raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


class SettingsError(ValueError):
    """A setting has a value the service cannot use."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """The service's configuration; see README "Configuration" for each variable."""

    var_dir: Path
    database_url: str
    redis_url: str | None = None
    redis_prefix: str = "gp:"
    redis_timeout_s: float = 0.25
    redis_retries: int = 1
    redis_cooldown_s: float = 2.0
    token_signing_key: str | None = None
    token_issuer: str = "greenpoints"
    token_audience: str = "greenpoints-api"
    token_ttl_s: int = 900
    rider_jwt_issuer: str = "greenpoints-dev-idp"
    rider_jwt_audience: str = "greenpoints"
    rider_jwt_jwks_file: Path | None = None
    rider_jwt_signing_key_file: Path | None = None
    max_request_bytes: int = 4 * 1024 * 1024
    token_failures_per_minute: int = 10
    database_connect_timeout_s: int = 3
    points_per_kg_co2: int = 1000
    fraud_window_hours: int = 48
    daily_cap_points: int = 5000
    city: str = "shanghai"
    parking_free_offences: int = 2
    parking_offence_window_days: int = 30
    parking_penalty_points: int = 50
    methodologies_dir: Path | None = None
    cities_file: Path | None = None
    station_table: Path | None = None
    trip_max_age_days: int = 30
    consent_grace_days: int = 7
    trip_cell_resolution: int = 10
    ingest_requests_per_minute: int = 600
    ingest_batch_writers: int = 2
    rebalancing_units: str = "h3"
    rebalancing_resolution: int = 9
    rebalancing_window_hours: int = 1
    demand_weeks: int = 4
    truck_capacity: int = 20
    incentive_points_per_vehicle: int = 20
    incentive_cap_points: int = 200
    planner_k: int = 10

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("GREENPOINTS_VAR_DIR") or "var").resolve()
        database_url = env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'greenpoints.db'}"
        jwks = env.get("RIDER_JWT_JWKS_FILE")
        rider_key = env.get("RIDER_JWT_SIGNING_KEY_FILE")
        return cls(
            var_dir=var_dir,
            database_url=normalise_database_url(database_url),
            redis_url=env.get("REDIS_URL") or None,
            redis_prefix=env.get("REDIS_PREFIX") or "gp:",
            redis_timeout_s=_float(env, "REDIS_TIMEOUT_SECONDS", 0.25),
            redis_retries=_int(env, "REDIS_RETRIES", 1),
            redis_cooldown_s=_float(env, "REDIS_COOLDOWN_SECONDS", 2.0),
            token_signing_key=env.get("TOKEN_SIGNING_KEY") or None,
            token_ttl_s=_int(env, "TOKEN_TTL_SECONDS", 900),
            rider_jwt_issuer=env.get("RIDER_JWT_ISSUER") or "greenpoints-dev-idp",
            rider_jwt_audience=env.get("RIDER_JWT_AUDIENCE") or "greenpoints",
            rider_jwt_jwks_file=Path(jwks) if jwks else None,
            rider_jwt_signing_key_file=Path(rider_key) if rider_key else None,
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", 4 * 1024 * 1024),
            token_failures_per_minute=_int(env, "TOKEN_FAILURES_PER_MINUTE", 10),
            database_connect_timeout_s=_int(env, "DATABASE_CONNECT_TIMEOUT_SECONDS", 3),
            points_per_kg_co2=_int(env, "POINTS_PER_KG_CO2", 1000),
            fraud_window_hours=_int(env, "FRAUD_WINDOW_HOURS", 48),
            daily_cap_points=_int(env, "DAILY_CAP_POINTS", 5000),
            city=env.get("CITY") or "shanghai",
            parking_free_offences=_int(env, "PARKING_FREE_OFFENCES", 2),
            parking_offence_window_days=_int(env, "PARKING_OFFENCE_WINDOW_DAYS", 30),
            parking_penalty_points=_int(env, "PARKING_PENALTY_POINTS", 50),
            methodologies_dir=_path(env, "METHODOLOGIES_DIR"),
            cities_file=_path(env, "CITIES_FILE"),
            station_table=_path(env, "STATION_TABLE"),
            trip_max_age_days=_int(env, "TRIP_MAX_AGE_DAYS", 30),
            consent_grace_days=_int(env, "CONSENT_GRACE_DAYS", 7),
            trip_cell_resolution=_int(env, "TRIP_CELL_RESOLUTION", 10),
            ingest_requests_per_minute=_int(env, "INGEST_REQUESTS_PER_MINUTE", 600),
            ingest_batch_writers=_at_least(env, "INGEST_BATCH_WRITERS", 2, minimum=1),
            rebalancing_units=_choice(env, "REBALANCING_UNITS", ("h3", "parking")),
            rebalancing_resolution=_int(env, "REBALANCING_RESOLUTION", 9),
            rebalancing_window_hours=_int(env, "REBALANCING_WINDOW_HOURS", 1),
            demand_weeks=_int(env, "DEMAND_WEEKS", 4),
            truck_capacity=_int(env, "TRUCK_CAPACITY", 20),
            incentive_points_per_vehicle=_int(env, "INCENTIVE_POINTS_PER_VEHICLE", 20),
            incentive_cap_points=_int(env, "INCENTIVE_CAP_POINTS", 200),
            planner_k=_int(env, "PLANNER_K", 10),
        )

    def replace(self, overrides: Mapping[str, Any]) -> Settings:
        """A copy with some fields changed (used by tests and the CLI)."""
        return dataclasses.replace(self, **dict(overrides))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for any PostgreSQL URL, whatever scheme it was given with."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
