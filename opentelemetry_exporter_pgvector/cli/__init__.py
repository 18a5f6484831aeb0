"""The ``otel-pgvector`` command line: renders what the query layer returns."""
