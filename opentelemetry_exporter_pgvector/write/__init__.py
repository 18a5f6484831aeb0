"""Writing rows: binary COPY, and the resilience around it (retries, breaker, spool, exactly-once ledger)."""
