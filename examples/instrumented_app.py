"""An application instrumented only through the OpenTelemetry APIs, with no SDK setup of its own.

Run it with all three signals stored in PostgreSQL (the embedded server when no DSN is set):

    OTEL_SERVICE_NAME=inventory \
    OTEL_TRACES_EXPORTER=pgvector OTEL_LOGS_EXPORTER=pgvector OTEL_METRICS_EXPORTER=pgvector \
    OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true \
    opentelemetry-instrument python examples/instrumented_app.py

then look at what it stored: ``otel-pgvector trace <the trace id it prints>``.
``opentelemetry-instrument`` builds the providers and the pgvector exporters from those
variables, and puts a logging handler on the root logger, so the plain ``logging`` calls below
are exported too, correlated with the span active when they are made. The providers are shut
down, and so flushed, when the process exits.
"""

from __future__ import annotations

import logging
import random
import time

from opentelemetry import metrics, trace

logger = logging.getLogger("inventory")
tracer = trace.get_tracer("examples.inventory", "1.0")
meter = metrics.get_meter("examples.inventory", "1.0")
reservations = meter.create_counter("inventory.reservations", unit="{reservation}")
duration = meter.create_histogram("inventory.reserve.duration", unit="s")


def reserve(sku: str, quantity: int, rng: random.Random) -> bool:
    """Reserve stock: one span, a log line or two, and two metric recordings."""
    started = time.perf_counter()
    with tracer.start_as_current_span("reserve", attributes={"sku": sku, "quantity": quantity}) as span:
        logger.info("reserving %d of %s", quantity, sku)
        available = rng.randint(0, 10)
        ok = available >= quantity
        if not ok:
            logger.warning("not enough stock for %s: %d available, %d requested", sku, available, quantity)
            span.set_status(trace.Status(trace.StatusCode.ERROR, "insufficient stock"))
        reservations.add(1, {"outcome": "reserved" if ok else "rejected"})
        duration.record(time.perf_counter() - started, {"sku.class": sku[:3]})
        return ok


def main() -> None:
    logging.getLogger().setLevel(logging.INFO)
    rng = random.Random(3)
    with tracer.start_as_current_span("nightly restock") as root:
        for number in range(8):
            reserve(f"sku-{100 + number}", rng.randint(1, 8), rng)
        print(f"trace {root.get_span_context().trace_id:032x}", flush=True)


if __name__ == "__main__":
    main()
