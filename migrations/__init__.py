"""Alembic migrations; ``greenpoints db upgrade`` runs them."""
