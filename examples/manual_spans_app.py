"""A tiny app instrumented only through the OpenTelemetry API.

It configures no SDK: run it under ``opentelemetry-instrument`` to send its spans anywhere,
for instance to PostgreSQL::

    OTEL_TRACES_EXPORTER=pgvector OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none \
    OTEL_SERVICE_NAME=manual-spans-app opentelemetry-instrument python examples/manual_spans_app.py
"""

from __future__ import annotations

from opentelemetry import trace

tracer = trace.get_tracer(__name__)


def load_inventory() -> int:
    with tracer.start_as_current_span("load-inventory") as span:
        span.set_attribute("inventory.items", 3)
        return 3


def charge_card() -> None:
    with tracer.start_as_current_span("charge-card") as span:
        span.set_attribute("payment.amount", 12.5)
        raise ConnectionError("payment gateway unreachable")  # recorded on this span as it leaves


def main() -> None:
    with tracer.start_as_current_span("handle-order") as span:
        span.set_attribute("order.id", 4242)
        load_inventory()
        try:
            charge_card()
        except ConnectionError:
            span.set_attribute("order.payment_retried", True)
    print("order handled")


if __name__ == "__main__":
    main()
