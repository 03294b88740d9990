"""City planner aggregates: roll-ups kept at ingestion, privacy-safe queries over them."""
