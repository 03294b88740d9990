"""Every table the service owns, gathered so Alembic and the tests see the whole schema."""

from service.persistence import (
    fleet_models,
    geo_models,
    ledger_models,
    mall_models,
    models,
    planner_models,
    rider_models,
)
from service.persistence.models import Base

# Indexes the migrations create by hand where a model cannot say it for every database (the
# PostGIS GiST index): schema comparison and autogenerate leave them alone.
HAND_MADE_INDEXES = frozenset({"ix_zones_geometry"})


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic hook: skip the hand-made spatial index and PostGIS's own table."""
    if type_ == "index" and name in HAND_MADE_INDEXES:
        return False
    return not (type_ == "table" and name == "spatial_ref_sys")


__all__ = [
    "Base",
    "fleet_models",
    "geo_models",
    "ledger_models",
    "mall_models",
    "models",
    "planner_models",
    "rider_models",
]
