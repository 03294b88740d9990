"""Geometry columns: PostGIS on PostgreSQL, WKB on SQLite, Shapely on the Python side."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from shapely.geometry import Point, Polygon
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text

from service.persistence.database import Database
from service.persistence.geometry import PortableGeometry

PEOPLES_SQUARE = Polygon(
    [(121.4700, 31.2290), (121.4780, 31.2290), (121.4780, 31.2350), (121.4700, 31.2350)]
)


@contextmanager
def probe_table(url):
    db = Database.from_url(url)
    metadata = MetaData()
    table = Table(
        "shape_probe",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("area", PortableGeometry("POLYGON")),
        Column("spot", PortableGeometry("POINT")),
    )
    metadata.create_all(db.engine)
    yield db, table
    metadata.drop_all(db.engine)
    db.dispose()


@pytest.fixture
def shapes(database_url):
    with probe_table(database_url) as shapes:
        yield shapes


@pytest.fixture
def postgis_shapes(postgres_url):
    with probe_table(postgres_url) as shapes:
        yield shapes


def test_shapes_round_trip_exactly(shapes):
    db, table = shapes
    spot = Point(121.4737, 31.2304)
    with db.transaction() as session:
        session.execute(insert(table).values(id=1, area=PEOPLES_SQUARE, spot=spot))
        session.execute(insert(table).values(id=2, area=None, spot=None))
    with db.transaction() as session:
        rows = dict(session.execute(select(table.c.id, table.c.area)).all())
        got_spot = session.execute(select(table.c.spot).where(table.c.id == 1)).scalar_one()
    assert rows[1].equals_exact(PEOPLES_SQUARE, tolerance=0)
    assert rows[2] is None
    assert got_spot.equals_exact(spot, tolerance=0)


def test_postgres_stores_real_postgis_geometry(postgis_shapes):
    db, table = postgis_shapes
    assert db.dialect == "postgresql"
    with db.transaction() as session:
        spot = Point(121.4737, 31.2304)
        session.execute(insert(table).values(id=1, area=PEOPLES_SQUARE, spot=spot))
        srid, kind, inside = session.execute(
            text(
                "SELECT ST_SRID(area), GeometryType(area), ST_Contains(area, spot) "
                "FROM shape_probe WHERE id = 1"
            )
        ).one()
    assert (srid, kind, inside) == (4326, "POLYGON", True)
