"""A login role that may only read the telemetry of one schema: for Grafana or any dashboard.

Grafana's PostgreSQL datasource runs whatever SQL a panel holds, so its role is the only
safeguard: SELECT on the schema's tables and views (those created later too, such as the
tables of a future migration), USAGE on the schema, and nothing else. Two role settings make
it convenient and safer still: ``search_path`` is the schema, since a datasource has no option
for it and the dashboards name tables unqualified, and ``default_transaction_read_only`` makes
every transaction read-only even if a grant were ever widened by mistake.
"""

from __future__ import annotations

import logging
import secrets

import psycopg
from psycopg import sql

from ..errors import ConfigurationError

logger = logging.getLogger(__name__)


def grant_read_only(conn: psycopg.Connection, schema: str, role: str) -> str:
    """Create ``role`` (or take the existing one) as a read-only login on ``schema``, give it a
    new generated password and return that password; the caller shows it once.

    A role that could already write is refused: a superuser, the caller itself, the schema's
    owner or a member of it, a member of ``pg_write_all_data``. Granting SELECT would not make
    it read-only, and the dashboards' SQL would run with all its rights. The password reaches
    the server as a SCRAM verifier, never in clear.
    """
    if not role or len(role.encode()) > 63:
        raise ConfigurationError(f"a role name must have 1 to 63 bytes, got {role!r}")
    password = secrets.token_urlsafe(24)
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    with conn.transaction():
        # the owner's rights come with membership of the owner (in PostgreSQL 15, public is
        # owned by pg_database_owner, whose member is the database's owner)
        found = conn.execute(
            "SELECT r.rolsuper OR r.rolname = current_user"
            " OR pg_has_role(r.oid, (SELECT nspowner FROM pg_namespace WHERE nspname = %s), 'USAGE')"
            " OR pg_has_role(r.oid, 'pg_write_all_data', 'USAGE')"
            " FROM pg_roles r WHERE r.rolname = %s",
            (schema, role),
        ).fetchone()
        if found is not None and found[0]:
            raise ConfigurationError(
                f"role {role!r} can already write (a superuser, this connection's role, the owner of "
                f"schema {schema!r} or a member of it or of pg_write_all_data): name a new role for "
                "read-only access"
            )
        try:
            _grant(conn, role, schema, verifier, create=found is None)
        except psycopg.errors.InsufficientPrivilege as error:
            raise ConfigurationError(
                f"could not make role {role!r} a reader of schema {schema!r}: "
                f"{error.diag.message_primary}; "
                "connect as a role with CREATEROLE that owns the schema (--dsn)"
            ) from None
    logger.info("role %s may read schema %s", role, schema)
    return password


def _grant(conn: psycopg.Connection, role: str, schema: str, verifier: str, create: bool) -> None:
    """The statements of :func:`grant_read_only`, in its transaction."""
    name, namespace = sql.Identifier(role), sql.Identifier(schema)
    if create:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
    for statement in (
        sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(verifier)),
        sql.SQL("ALTER ROLE {} SET search_path = {}").format(name, _search_path(schema)),
        sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(name),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(namespace, name),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(namespace, name),
        # tables the connected role creates later (daily partitions, a later migration's tables)
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
            namespace, name
        ),
    ):
        conn.execute(statement)


def _search_path(schema: str) -> sql.Composable:
    """The schema, then ``public`` (where pgvector's type usually lives), each once."""
    names = dict.fromkeys((schema, "public"))
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)
