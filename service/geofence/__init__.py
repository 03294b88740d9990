"""Geofencing in the service: zone versions in the database, an index in every process."""
