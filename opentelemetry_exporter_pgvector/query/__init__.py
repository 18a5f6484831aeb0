"""Reading telemetry back: ``TelemetryQuery`` and the SQL behind each of its answers."""
