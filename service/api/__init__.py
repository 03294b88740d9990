"""The HTTP layer: blueprints that parse, call a use case and serialise; nothing more."""
