"""The collation of the service's string columns on PostgreSQL.

Every string the service stores is an identifier or a code (ids, references, statuses, H3 cells,
zone and vehicle ids): none needs a language's order. In ``C`` PostgreSQL compares them as
bytes, which is UTF-8's code point order: the order SQLite (``BINARY``) and Python's ``str``
give, and cheaper than any locale's (PostgreSQL 15 compares ``C.UTF-8`` and ``en_US.UTF-8``
strings through the C library). A migration that adds string columns ends with
``collate_strings()``; ``test_migrations`` checks that none is left out.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

BYTEWISE = "C"
DATABASE_DEFAULT = "default"

# Collatable columns of the current schema's tables, other than in the given collation; tables
# an extension owns (PostGIS's spatial_ref_sys) and Alembic's own are left alone.
_COLUMNS = sa.text("""
    SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_type t ON t.oid = a.atttypid
    WHERE c.relnamespace = current_schema()::regnamespace
      AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version'
      AND a.attnum > 0 AND NOT a.attisdropped AND t.typcollation <> 0
      AND a.attcollation <> CAST(:collation AS regcollation)
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY c.relname, a.attnum
""")

# Triggers that name columns (``UPDATE OF id``): PostgreSQL refuses to change such a column's
# type or collation while they stand.
_COLUMN_TRIGGERS = sa.text("""
    SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE NOT t.tgisinternal AND cardinality(t.tgattr::int2[]) > 0
      AND c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(:tables)
    ORDER BY c.relname, t.tgname
""")


def collate_strings(collation: str = BYTEWISE) -> None:
    """Give every string column of the service's tables ``collation`` (on PostgreSQL; SQLite
    compares bytes already). Each table changes in one statement, which rebuilds the indexes on
    its string columns under an exclusive lock."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    quote = bind.dialect.identifier_preparer.quote
    qualified = f'pg_catalog."{collation}"'
    changes: dict[str, list[str]] = defaultdict(list)
    for table, column, type_name in bind.execute(_COLUMNS, {"collation": qualified}):
        changes[table].append(f"ALTER COLUMN {quote(column)} TYPE {type_name} "
                              f'COLLATE "{collation}"')  # fmt: skip
    if not changes:
        return
    triggers = bind.execute(_COLUMN_TRIGGERS, {"tables": sorted(changes)}).all()
    for name, table, _ in triggers:
        op.execute(f"DROP TRIGGER {quote(name)} ON {quote(table)}")
    for table, alterations in changes.items():
        op.execute(f"ALTER TABLE {quote(table)} " + ", ".join(alterations))
    for _, _, definition in triggers:
        op.execute(definition)
