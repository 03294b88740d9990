"""Every table the service owns, gathered so Alembic and the tests see the whole schema."""

from service.persistence import ledger_models, mall_models, models, rider_models
from service.persistence.models import Base

__all__ = ["Base", "ledger_models", "mall_models", "models", "rider_models"]
