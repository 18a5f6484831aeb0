"""The database: embedded server, connection pool, versioned SQL migrations and daily partitions."""
