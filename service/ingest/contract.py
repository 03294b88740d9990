"""The trip as operators post it: one definition that decodes, validates and documents.

The structs below are decoded with msgspec (about a microsecond per trip, errors naming the
field as a JSON path), and the same structs are turned into the JSON Schema the OpenAPI
document shows. Unknown fields are ignored, so a client cannot set ``points``, ``co2_g`` or
``status``. MDS 2.0 trips have their own struct and are converted to the same trip.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec

MAX_BATCH = 1000

Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
# PostgreSQL text cannot hold NUL (U+0000), and no identifier needs it.
NO_NUL = r"^[^\x00]*$"
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]
VehicleType = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NO_NUL)]
Moment = Annotated[dt.datetime, msgspec.Meta(tz=True, description="RFC 3339 with an offset")]
Mode = Literal["bike", "ebike", "metro", "bus"]


class LatLng(msgspec.Struct, frozen=True):
    lat: Latitude
    lng: Longitude


class TripIn(msgspec.Struct, kw_only=True, frozen=True):
    """A trip (API.md). Which optional fields a mode needs is checked after decoding, so a
    trip missing them is kept as rejected with a reason rather than refused unread."""

    trip_id: Identifier
    mode: Mode
    rider_ref: Identifier
    start_time: Moment
    end_time: Moment
    vehicle_id: Identifier | None = None
    vehicle_type: VehicleType | None = None
    start: LatLng | None = None
    end: LatLng | None = None
    distance_m: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] | None = None
    entry_station: Identifier | None = None
    exit_station: Identifier | None = None
    line_id: Identifier | None = None
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=100_000)] | None = None
    route: Annotated[list[LatLng], msgspec.Meta(max_length=5000)] | None = None


class MdsPoint(msgspec.Struct, frozen=True):
    lat: Latitude
    lng: Longitude


MdsVehicleType = Literal[
    "bicycle", "cargo_bicycle", "bus", "car", "delivery_robot", "moped", "motorcycle",
    "scooter_standing", "scooter_seated", "truck", "other",
]  # fmt: skip
EpochMillis = Annotated[int, msgspec.Meta(ge=0, le=32_503_680_000_000)]


class MdsTrip(msgspec.Struct, kw_only=True, frozen=True):
    """An MDS 2.0 trip. MDS carries no rider id, so ``rider_ref`` is an extension field;
    ``propulsion_types`` (from MDS's vehicle) tells an e-bike from a bike."""

    provider_id: Identifier
    device_id: Identifier
    trip_id: Identifier
    vehicle_type: MdsVehicleType
    start_time: EpochMillis
    end_time: EpochMillis
    start_location: MdsPoint
    end_location: MdsPoint
    distance: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
    duration: Annotated[int, msgspec.Meta(ge=0)]
    rider_ref: Identifier
    propulsion_types: list[str] | None = None
    accuracy: Annotated[float, msgspec.Meta(ge=0, le=100_000)] | None = None


class UnsupportedVehicle(ValueError):
    """An MDS vehicle type that is not a green-mobility mode here."""


def mds_mode(trip: MdsTrip) -> Mode:
    if trip.vehicle_type == "bus":
        return "bus"
    if trip.vehicle_type in ("bicycle", "cargo_bicycle"):
        electric = {"electric", "electric_assist"} & set(trip.propulsion_types or ())
        return "ebike" if electric else "bike"
    raise UnsupportedVehicle(f"vehicle_type {trip.vehicle_type} earns no points")


def from_mds(trip: MdsTrip) -> TripIn:
    """The same trip in this API's terms (times from epoch milliseconds, UTC)."""
    return TripIn(
        trip_id=trip.trip_id,
        mode=mds_mode(trip),
        rider_ref=trip.rider_ref,
        vehicle_id=trip.device_id,
        vehicle_type=trip.vehicle_type,
        start_time=dt.datetime.fromtimestamp(trip.start_time / 1000, dt.UTC),
        end_time=dt.datetime.fromtimestamp(trip.end_time / 1000, dt.UTC),
        start=LatLng(trip.start_location.lat, trip.start_location.lng),
        end=LatLng(trip.end_location.lat, trip.end_location.lng),
        distance_m=trip.distance,
        accuracy_m=trip.accuracy,
    )


TRIP_DECODER = msgspec.json.Decoder(TripIn)
MDS_DECODER = msgspec.json.Decoder(MdsTrip)
_ENCODER = msgspec.json.Encoder()


def canonical(trip: TripIn) -> bytes:
    """The trip's content in one fixed encoding: what "the same trip" is compared by."""
    return _ENCODER.encode(trip)


def openapi_components() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the trip structs for the OpenAPI 3.0 document."""
    return openapi30_components([TripIn, MdsTrip])


def openapi30_components(structs: Sequence[type]) -> dict[str, dict[str, Any]]:
    """JSON Schemas of ``structs`` and what they use, as OpenAPI 3.0 components (``null`` as
    ``nullable``)."""
    _, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    return {name: _openapi30(schema) for name, schema in components.items()}


def _openapi30(node: Any) -> Any:
    """JSON Schema 2020-12 as msgspec writes it, in the OpenAPI 3.0 dialect."""
    if isinstance(node, list):
        return [_openapi30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _openapi30(value) for key, value in node.items()}
    options = node.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1 and "$ref" in rest[0]:
            node["allOf"] = rest
        elif len(rest) == 1:
            node.update(rest[0])
        else:
            node["anyOf"] = rest
        node["nullable"] = True
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    return node
