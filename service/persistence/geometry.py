"""A geometry column type that is PostGIS on PostgreSQL and portable WKB elsewhere.

On PostgreSQL the column is a real PostGIS ``geometry`` (via GeoAlchemy2), so GIS tools such as
QGIS read it directly and spatial SQL works. On SQLite the same shape is stored as WKB bytes.
Either way the Python side sees a Shapely geometry in (lng, lat) order, SRID 4326.
"""

from __future__ import annotations

from typing import Any

import shapely
from geoalchemy2 import Geometry, WKBElement
from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

WGS84 = 4326


class PortableGeometry(TypeDecorator[BaseGeometry]):
    """Shapely geometry stored as PostGIS geometry (PostgreSQL) or WKB (any other database)."""

    impl = LargeBinary
    cache_ok = True
    # Read by GeoAlchemy2's DDL hooks: indexes are declared in the migrations instead.
    spatial_index = False

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = WGS84) -> None:
        super().__init__()
        self.geometry_type = geometry_type
        self.srid = srid

    def load_dialect_impl(self, dialect: Dialect | None) -> TypeEngine[Any]:
        # GeoAlchemy2 asks with no dialect while inspecting tables; answer "not PostGIS".
        if dialect is not None and dialect.name == "postgresql":
            # The GiST index is created by the migration, by name, not behind our back.
            return dialect.type_descriptor(
                Geometry(geometry_type=self.geometry_type, srid=self.srid, spatial_index=False)
            )
        return LargeBinary()

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return WKBElement(shapely.to_wkb(value, include_srid=False), srid=self.srid)
        return shapely.to_wkb(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        if isinstance(value, WKBElement):
            return to_shape(value)
        return shapely.from_wkb(bytes(value))
