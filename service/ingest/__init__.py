"""Operator trip ingestion: decoding, validation, exactly-once storage and crediting."""
