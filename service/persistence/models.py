"""SQLAlchemy models: the tables the service owns.

Constraint names follow one convention so Alembic migrations can name (and drop) them on every
database.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, MetaData, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CLIENT_KINDS = ("operator", "planner", "admin")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def with_zone(value: dt.datetime) -> dt.datetime:
    """``value``, refused when it carries no zone: every timestamp the service stores does."""
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a timezone")
    return value


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp everywhere (SQLite keeps no offset, so store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return with_zone(value).astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class ApiClient(Base):
    """An OAuth2 client (operator, planner or admin). Only a hash of the secret is kept."""

    __tablename__ = "api_clients"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('operator', 'planner', 'admin')",
            name="kind_known",
        ),
    )

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
