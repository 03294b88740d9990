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
# Foreign keys the models declare (SQLite keeps them) that PostgreSQL checks per statement in a
# trigger instead (migrations 0012 and 0016): schema comparison leaves them alone.
CHECKED_BY_TRIGGER = frozenset(
    {
        "fk_ledger_entries_transaction_id_ledger_transactions",
        "fk_ledger_entries_account_id_accounts",
        "fk_ledger_transactions_account_id_accounts",
        "fk_trips_account_id_accounts",
    }
)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic hook: skip the hand-made spatial index, the foreign keys a trigger stands in
    for, and PostGIS's own table."""
    if type_ == "index" and name in HAND_MADE_INDEXES:
        return False
    if type_ == "foreign_key_constraint" and name in CHECKED_BY_TRIGGER:
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
