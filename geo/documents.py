"""Zone documents in and out, in one import: our GeoJSON, GBFS ``geofencing_zones.json`` and MDS
geographies.

The readers and writers live in ``geo.geojson_zones``, ``geo.gbfs`` and ``geo.mds`` (whose
docstrings say what each format means to us and what is simplified); this module is their
public face. Every reader refuses a document whole with ``GeoDocumentError`` listing all its
problems by JSON path.
"""

from geo.gbfs import export_gbfs_geofencing, parse_gbfs_geofencing
from geo.geojson_zones import export_geojson, parse_geojson_zones
from geo.mds import parse_mds_geography

__all__ = [
    "export_gbfs_geofencing",
    "export_geojson",
    "parse_gbfs_geofencing",
    "parse_geojson_zones",
    "parse_mds_geography",
]
