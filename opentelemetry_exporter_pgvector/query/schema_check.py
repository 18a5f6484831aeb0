"""Before the first read: is the schema there, and at the version this package reads?

Readers never migrate (only exporters, ``migrate``, ``demo`` and ``embed`` create or upgrade
a schema), so a schema that does not exist is reported with the schemas that do hold
telemetry, and an out-of-date one with the command that upgrades it. A plan (``plan.py``),
so the sync and the async client check alike.
"""

from __future__ import annotations

from psycopg import sql

from ..db.migrations import latest_version
from ..errors import NotFound, SchemaError
from .plan import Fetch, Plan


def check_readable(schema: str) -> Plan[None]:
    """Raise :class:`NotFound` or :class:`SchemaError` unless ``schema`` can be read as is."""
    [(table,)] = yield Fetch(sql.SQL("SELECT to_regclass(format('%%I.otel_schema_migrations', %s::text))"),
                             (schema,))
    version = 0
    if table is not None:
        [(version,)] = yield Fetch(sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(
            sql.Identifier(schema, "otel_schema_migrations")))
    latest = latest_version()
    if version == latest:
        return
    if version == 0:
        rows = yield Fetch(sql.SQL(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = 'otel_schema_migrations' ORDER BY 1"))
        others = ", ".join(name for (name,) in rows) or "none yet"
        raise NotFound(
            f"schema {schema!r} holds no telemetry (schemas that do: {others}); exporters create it "
            "on their first export, or run: otel-pgvector migrate"
        )
    if version < latest:
        raise SchemaError(
            f"schema {schema!r} is at migration {version} of {latest}: run otel-pgvector migrate"
        )
    raise SchemaError(
        f"schema {schema!r} is at migration {version}, newer than this package reads ({latest}): "
        "upgrade opentelemetry-exporter-pgvector"
    )
