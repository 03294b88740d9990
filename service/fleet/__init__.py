"""Fleet status and rebalancing: where operators' vehicles are, and where they should be."""
