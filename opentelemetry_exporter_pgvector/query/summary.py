"""What is stored, summed up: spans per service and records per signal table.

Both can be narrowed to the resources that have some attributes, which is how
``otel-pgvector demo`` reports on its own run (by its ``demo.run_id``) in a database that
holds other telemetry too. Plans (see ``plan.py``), so both clients run the same SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from psycopg import sql
from psycopg.types.json import Jsonb

from ..db.database import Database
from .plan import Fetch, Plan, fetch_all
from .rows import Rows

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class ServiceSummary:
    """Span counts of one service."""

    service_name: str
    spans: int
    traces: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class StoredCounts:
    """How many records each signal table holds."""

    spans: int
    log_records: int
    metric_points: int


def _resource_filter(
    database: Database, resource_attributes: Mapping[str, str] | None
) -> tuple[sql.Composable, list[Jsonb]]:
    """A condition on ``resource_id`` keeping the rows whose resource has these attributes."""
    if not resource_attributes:
        return sql.SQL("TRUE"), []
    condition = sql.SQL("resource_id IN (SELECT resource_id FROM {} WHERE attributes @> %s)").format(
        database.qualified("otel_resources")
    )
    return condition, [Jsonb(dict(resource_attributes))]


def service_summary(
    database: Database, since: dt.datetime | None = None,
    resource_attributes: Mapping[str, str] | None = None,
) -> Plan[Rows[ServiceSummary]]:
    """Per service: spans, traces, errors and duration percentiles, busiest first (all time
    unless ``since``)."""
    resources, params = _resource_filter(database, resource_attributes)
    statement = sql.SQL(
        "SELECT service_name, count(*) AS spans, count(DISTINCT trace_id) AS traces,"
        " count(*) FILTER (WHERE status_code = 'ERROR') AS errors,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p50_ms,"
        " percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p95_ms"
        " FROM {} WHERE start_time >= %s AND {} GROUP BY service_name ORDER BY spans DESC, service_name"
    ).format(database.qualified("otel_spans"), resources)
    return fetch_all(Fetch(statement, [since or _EPOCH, *params], ServiceSummary))


def stored_counts(
    database: Database, resource_attributes: Mapping[str, str] | None = None
) -> Plan[StoredCounts]:
    """Rows of the span, log and metric point tables, or only of resources with these attributes."""
    resources, params = _resource_filter(database, resource_attributes)
    statement = sql.SQL(
        "SELECT (SELECT count(*) FROM {} WHERE {resources}), (SELECT count(*) FROM {} WHERE {resources}),"
        " (SELECT count(*) FROM {} WHERE {resources})"
    ).format(
        *(database.qualified(name) for name in ("otel_spans", "otel_logs", "otel_metric_points")),
        resources=resources,
    )
    [counts] = yield Fetch(statement, params * 3)
    return StoredCounts(*counts)
