"""Zones around People's Square, Shanghai, for parking tests (coordinates lng, lat)."""

from __future__ import annotations


def square(lng1: float, lat1: float, lng2: float, lat2: float) -> dict:
    ring = [[lng1, lat1], [lng2, lat1], [lng2, lat2], [lng1, lat2], [lng1, lat1]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(geometry: dict, **properties: object) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


SERVICE_AREA = feature(
    square(121.45, 31.21, 121.50, 31.25),
    zone_id="huangpu-service",
    zone_type="service_area",
    name="Huangpu service area",
)
NO_PARKING = feature(
    square(121.4700, 31.2280, 121.4760, 31.2330),
    zone_id="peoples-square",
    zone_type="no_parking",
    name="People's Square plaza",
)
CORRAL = feature(
    square(121.4735, 31.2302, 121.4740, 31.2306),
    zone_id="corral-east-exit",
    zone_type="parking",
    parking_category="corral",
    name="Metro exit 1 corral",
)
CITY_ZONES = {"type": "FeatureCollection", "features": [SERVICE_AREA, NO_PARKING, CORRAL]}

IN_CORRAL = (31.2304, 121.47375)  # (lat, lng)
IN_PLAZA = (31.2290, 121.4710)  # inside the no-parking plaza, ~270 m from the corral
NEAR_CORRAL = (31.2304, 121.47405)  # ~5 m east of the corral, inside the plaza
PLAZA_EDGE = (31.22805, 121.4730)  # ~5.6 m inside the plaza's southern edge
STREET = (31.2400, 121.4800)  # in the service area, in no other zone
FAR_AWAY = (31.2600, 121.5200)  # outside the service area
