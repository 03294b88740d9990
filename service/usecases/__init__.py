"""Use cases: each owns its database transaction and speaks in domain terms, not HTTP."""
