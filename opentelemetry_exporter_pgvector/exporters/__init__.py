"""The three OpenTelemetry SDK exporters, sharing one lifecycle and write path."""
