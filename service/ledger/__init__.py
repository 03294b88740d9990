"""The points ledger: double-entry, append-only, exactly-once. Only this package writes it."""
