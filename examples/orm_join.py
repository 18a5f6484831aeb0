"""Join an application's own SQLAlchemy models with its telemetry (the ``sqlalchemy`` extra).

An ``orders`` table of the application's, three orders handled in traced code (one fails to
charge the card), then two questions asked in SQL across both: each order with its trace,
joined by the trace id the order kept, and the revenue of orders whose trace failed, found
through the ``order.id`` span attribute::

    export OTEL_EXPORTER_PGVECTOR_DSN="$(otel-pgvector db dsn --show-password)"
    python examples/orm_join.py

The ``orders`` table is created in the telemetry schema (``OTEL_EXPORTER_PGVECTOR_SCHEMA``,
default ``public``) to keep the example in one place; an application's tables live wherever
they do, in the same database.
"""

from __future__ import annotations

import os
import uuid
from decimal import Decimal

import psycopg
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import MetaData, Numeric, Text, Uuid, create_engine, delete, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.orm import models

SCHEMA = os.environ.get("OTEL_EXPORTER_PGVECTOR_SCHEMA", "public")
telemetry = models(SCHEMA)
Span = telemetry.Span


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Order(Base):
    """The application's own model: it keeps the trace id of the request that placed it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(Text)
    total: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    trace_id: Mapped[uuid.UUID] = mapped_column(Uuid)


def handle_orders(provider: TracerProvider) -> list[Order]:
    """Three orders, each in a trace of three spans; charging order 1002's card fails."""
    tracer = provider.get_tracer("shop")
    orders = []
    for order_id, customer, total in ((1001, "ann", "12.50"), (1002, "bob", "99.00"), (1003, "cyd", "5.25")):
        with tracer.start_as_current_span("handle-order", attributes={"order.id": order_id}) as span:
            with tracer.start_as_current_span("load-inventory"):
                pass
            try:
                with tracer.start_as_current_span("charge-card"):
                    if order_id == 1002:
                        raise ConnectionError("payment gateway unreachable")
            except ConnectionError:
                pass  # recorded on charge-card as it left; the order is kept for a retry
            trace_id = uuid.UUID(int=span.get_span_context().trace_id)
        orders.append(Order(id=order_id, customer=customer, total=Decimal(total), trace_id=trace_id))
    return orders


def main() -> None:
    dsn = os.environ["OTEL_EXPORTER_PGVECTOR_DSN"]
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(PgvectorSpanExporter()))
    orders = handle_orders(provider)
    provider.shutdown()

    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.execute(delete(Order))  # a second run starts over with its own orders
        session.add_all(orders)
        session.commit()

        # Each order with its trace: joined on the trace id it kept, failures named.
        failed = aliased(Span)
        failures = (select(func.string_agg(failed.exception_type, ", "))
                    .where(failed.trace_id == Order.trace_id, failed.status_code == "ERROR")
                    .scalar_subquery())
        root = aliased(Span)
        rows = session.execute(
            select(Order, root.name, func.coalesce(failures, "OK"), func.count(Span.span_id))
            .join(Span, Span.trace_id == Order.trace_id)
            .join(root, (root.trace_id == Order.trace_id) & root.parent_span_id.is_(None))
            .group_by(Order.id, root.trace_id, root.span_id, root.start_time)
            .order_by(Order.id)
        )
        for order, root_name, outcome, spans in rows:
            failed_as = f"ERROR {outcome}" if outcome != "OK" else "OK"
            print(f"order {order.id} {order.customer} {order.total}: {root_name} {failed_as}, {spans} spans")

        # Orders whose trace failed, found through the span attribute order.id.
        handled, errored = aliased(Span), aliased(Span)
        at_risk = session.scalar(
            select(func.sum(Order.total)).where(
                select(handled.span_id)
                .join(errored, (errored.trace_id == handled.trace_id) & (errored.status_code == "ERROR"))
                .where(handled.attributes["order.id"].as_integer() == Order.id)
                .exists()
            )
        )
        print(f"revenue at risk (orders whose trace failed): {at_risk}")
    engine.dispose()


if __name__ == "__main__":
    main()
