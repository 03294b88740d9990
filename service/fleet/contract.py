"""A fleet snapshot as operators post it: GBFS ``vehicle_status`` (v2.3 ``bikes`` or v3.0
``vehicles``) or MDS 2.0 vehicle status, decoded item by item into one ``Sighting``.

Items are decoded one by one, so one bad vehicle fails alone with the field it got wrong; the
others are kept. Unknown fields are ignored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec

from service.ingest.batch import field_of
from service.ingest.contract import (
    NO_NUL,
    EpochMillis,
    Identifier,
    MdsPoint,
    openapi30_components,
)

MAX_VEHICLES = 20_000
STATES = ("available", "reserved", "disabled", "on_trip")

Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
VehicleType = Annotated[str, msgspec.Meta(max_length=64, pattern=NO_NUL)]
# GBFS 2.x reports POSIX seconds, GBFS 3.0 an RFC 3339 date-time.
Reported = Annotated[int, msgspec.Meta(ge=0, le=32_503_680_000)] | dt.datetime


class GbfsVehicle(msgspec.Struct, kw_only=True, frozen=True):
    """A vehicle of GBFS ``vehicle_status.json`` (``free_bike_status.json`` before v3)."""

    vehicle_id: Identifier | None = None
    bike_id: Identifier | None = None  # the v2.x name of vehicle_id
    lat: Latitude | None = None
    lon: Longitude | None = None
    is_reserved: bool
    is_disabled: bool
    vehicle_type_id: VehicleType | None = None
    current_range_meters: Annotated[float, msgspec.Meta(ge=0, le=10_000_000)] | None = None
    last_reported: Reported | None = None


class MdsTelemetry(msgspec.Struct, kw_only=True, frozen=True):
    timestamp: EpochMillis
    location: MdsPoint


class MdsEvent(msgspec.Struct, kw_only=True, frozen=True):
    vehicle_state: Literal[
        "available", "reserved", "non_operational", "on_trip", "elsewhere", "removed", "stopped",
        "unknown",
    ]  # fmt: skip
    timestamp: EpochMillis


class MdsVehicleStatus(msgspec.Struct, kw_only=True, frozen=True):
    """An MDS 2.0 vehicle status: the last event and the last telemetry of a device."""

    device_id: Identifier
    vehicle_type: VehicleType | None = None
    last_event: MdsEvent
    last_telemetry: MdsTelemetry


@dataclasses.dataclass(frozen=True)
class Sighting:
    """Where one vehicle was, in which state, when (the service's own terms)."""

    vehicle_id: str
    lat: float
    lng: float
    state: str  # one of STATES
    vehicle_type: str | None
    range_m: int | None
    reported_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class VehicleFailure:
    index: int
    vehicle_id: str | None
    error: str
    error_description: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _GbfsData(msgspec.Struct):
    vehicles: list[msgspec.Raw] | None = None
    bikes: list[msgspec.Raw] | None = None


class _GbfsDocument(msgspec.Struct):
    data: _GbfsData


class _MdsDocument(msgspec.Struct):
    vehicles_status: list[msgspec.Raw]


_GBFS = msgspec.json.Decoder(_GbfsDocument)
_MDS = msgspec.json.Decoder(_MdsDocument)
_GBFS_VEHICLE = msgspec.json.Decoder(GbfsVehicle)
_MDS_VEHICLE = msgspec.json.Decoder(MdsVehicleStatus)


def decode_envelope(body: bytes, *, mds: bool) -> list[msgspec.Raw]:
    """The raw vehicles of a GBFS document (``data.vehicles`` or ``data.bikes``) or of an MDS
    ``vehicles_status`` list; raises ``msgspec.ValidationError`` / ``DecodeError``."""
    if mds:
        return _MDS.decode(body).vehicles_status
    data = _GBFS.decode(body).data
    raws = data.vehicles if data.vehicles is not None else data.bikes
    if raws is None:
        raise msgspec.ValidationError("Object missing required field `vehicles` - at `$.data`")
    return raws


def decode_vehicles(
    raws: Sequence[msgspec.Raw], now: dt.datetime, *, mds: bool
) -> list[Sighting | VehicleFailure]:
    """Each vehicle decoded on its own; a vehicle without a position or id fails alone."""
    items: list[Sighting | VehicleFailure] = []
    for index, raw in enumerate(raws):
        try:
            items.append(_from_mds(_MDS_VEHICLE.decode(raw)) if mds
                         else _from_gbfs(_GBFS_VEHICLE.decode(raw), now))  # fmt: skip
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            message = str(exc)
            items.append(VehicleFailure(index, _vehicle_id_of(raw), "invalid_vehicle", message,
                                        field_of(message)))  # fmt: skip
    return items


def _from_gbfs(vehicle: GbfsVehicle, now: dt.datetime) -> Sighting:
    vehicle_id = vehicle.vehicle_id or vehicle.bike_id
    if vehicle_id is None:
        raise msgspec.ValidationError("Object missing required field `vehicle_id`")
    if vehicle.lat is None or vehicle.lon is None:
        # GBFS omits the position of a reserved or disabled vehicle: nothing to place.
        raise msgspec.ValidationError("Object missing required field `lat`")
    state = (
        "disabled" if vehicle.is_disabled else "reserved" if vehicle.is_reserved else "available"
    )
    reported = vehicle.last_reported
    if isinstance(reported, int):
        reported = dt.datetime.fromtimestamp(reported, dt.UTC)
    elif isinstance(reported, dt.datetime) and reported.tzinfo is None:
        raise msgspec.ValidationError(
            "Invalid RFC 3339 date-time: no offset - at `$.last_reported`"
        )
    range_m = vehicle.current_range_meters
    return Sighting(vehicle_id, vehicle.lat, vehicle.lon, state, vehicle.vehicle_type_id,
                    None if range_m is None else int(range_m), reported or now)  # fmt: skip


_MDS_STATES = {"available": "available", "reserved": "reserved", "on_trip": "on_trip"}


def _from_mds(status: MdsVehicleStatus) -> Sighting:
    position = status.last_telemetry.location
    moment = max(status.last_event.timestamp, status.last_telemetry.timestamp)
    return Sighting(
        status.device_id, position.lat, position.lng,
        _MDS_STATES.get(status.last_event.vehicle_state, "disabled"), status.vehicle_type, None,
        dt.datetime.fromtimestamp(moment / 1000, dt.UTC),
    )  # fmt: skip


def _vehicle_id_of(raw: msgspec.Raw) -> str | None:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(value, dict):
        return None
    found = value.get("vehicle_id") or value.get("bike_id") or value.get("device_id")
    return found if isinstance(found, str) else None


def openapi_components() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the vehicle structs for the OpenAPI 3.0 document."""
    return openapi30_components([GbfsVehicle, MdsVehicleStatus])
