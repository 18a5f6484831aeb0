# ruff: noqa: E501 - messages are quoted whole, as libraries print them
"""A corpus of near-neighbour failures for measuring similarity search (issue 16).

Twenty failure classes, several of them in groups that share words and differ in meaning
(connection refused / reset / DNS / TLS / deadline; unique / foreign key; statement timeout /
lock wait / deadlock; pool exhausted / too many connections; expired token / forbidden /
rate limited), each worded four or more ways as different libraries and languages word them,
with ids, hosts and numbers inside; and a few hundred successful spans and informational log
lines whose names share that vocabulary ("connection pool checkout", "dns resolve ...",
"acquire lock orders"), the distractors a search must rank below the failures.

The queries, each with its expected class written by hand, come in four sets (the story of
each, and what it measured while it was held out, is in docs/embeddings.md):

* ``paraphrase`` and ``incident`` of each class: a paraphrase (the failure in other words) and
  an incident-style description (what a person on call says), written with the corpus before
  any tuning; half of them were held out for the first two measurements, then tuned on.
* :data:`INDEPENDENT`: a paraphrase and an incident per class by a writer who had seen only
  the classes' one-line definitions, never the search, its glossary or the other queries;
  held out for one measurement, then tuned on.
* :data:`DEVELOPMENT`: six per class (a search-box query, a postmortem sentence, a bug ticket,
  a support escalation, a question, an on-call page) by two more such writers, tuned on.
* :data:`FIRST_SEALED`: two paraphrases and two incidents per class by a fourth such writer,
  whose text nobody tuning the search had read when it was measured once as the held-out half;
  tuned on since.
* :data:`SECOND_SEALED`: as many, as written, by a fifth such writer: held out for one
  measurement, tuned on since.
* :data:`THIRD_SEALED`: as many, as written, by a sixth such writer: held out for one
  measurement, tuned on since.
* :data:`SEALED`: as many, as written, by a seventh such writer: the held-out half, whose text
  nobody tuning the search has read. ``--show-tuning`` of the benchmark never lists them.

The messages, queries and expected classes are data, not derived from the code under test;
``benchmarks/search_quality.py`` measures over the whole corpus and ``tests/test_search_quality.py``
over a slice of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Half = Literal["tuning", "held-out"]


@dataclass(frozen=True)
class Failure:
    """One wording of a failure: a span that fails with it, and the log line it leaves.

    ``log`` is the body logged at ``severity`` for the same failure, worded as the service's
    logging does (often not as the exception is).
    """

    service: str
    name: str
    kind: str
    exception_type: str
    message: str
    attributes: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    severity: str = "ERROR"


@dataclass(frozen=True)
class FailureClass:
    """A kind of failure, its wordings and the two queries that should find it."""

    name: str
    failures: tuple[Failure, ...]
    paraphrase: str
    incident: str


@dataclass(frozen=True)
class Query:
    """A search whose right answers are the spans (log lines) of class ``expected``."""

    text: str
    expected: str
    style: str  # paraphrase, incident, search box, postmortem, ticket, support, question or page
    half: Half


PG = {"db.system.name": "postgresql"}
MYSQL = {"db.system.name": "mysql"}
REDIS = {"db.system.name": "redis"}
GRPC = {"rpc.system": "grpc"}


def _http(method: str, route: str, status: int) -> dict[str, Any]:
    return {"http.request.method": method, "http.route": route, "http.response.status_code": status}


def _db(system: dict[str, Any], operation: str, collection: str) -> dict[str, Any]:
    return {**system, "db.operation.name": operation, "db.collection.name": collection}


def _rpc(service: str, method: str, code: int) -> dict[str, Any]:
    return {**GRPC, "rpc.service": service, "rpc.method": method, "rpc.grpc.status_code": code}


CLASSES: tuple[FailureClass, ...] = (
    FailureClass(
        "connection_refused",
        (
            Failure("checkout", "GET cart", "CLIENT", "ConnectionRefusedError",
                    "[Errno 111] Connection refused: 10.0.3.7:6379", {**REDIS, "db.operation.name": "GET"},
                    "redis cart-cache at 10.0.3.7:6379 refused the connection"),
            Failure("inventory", "SELECT stock", "CLIENT", "psycopg.OperationalError",
                    'connection to server at "inventory-db" (10.0.4.12), port 5432 failed: Connection refused\n'
                    "\tIs the server running on that host and accepting TCP/IP connections?",
                    _db(PG, "SELECT", "stock"),
                    "could not connect to inventory-db:5432: connection refused, retry 3/5"),
            Failure("shipping", "POST /rates", "CLIENT", "java.net.ConnectException",
                    "Connection refused: carrier-gw.internal/10.2.0.44:8443", _http("POST", "/rates", 0),
                    "rate lookup failed: ConnectException Connection refused (carrier-gw.internal:8443)"),
            Failure("frontend", "GET /api/products", "CLIENT", "Error",
                    "connect ECONNREFUSED 127.0.0.1:3000", _http("GET", "/api/products", 0),
                    "upstream catalog unavailable: connect ECONNREFUSED 127.0.0.1:3000", "WARN"),
            Failure("payments", "ledger.Append", "CLIENT", "*net.OpError",
                    "dial tcp 10.9.1.20:7000: connect: connection refused", _rpc("Ledger", "Append", 14),
                    "ledger append failed: dial tcp 10.9.1.20:7000: connect: connection refused"),
        ),
        "nothing is listening on the port, the connection attempt is rejected",
        "every call to the cache fails instantly, the redis box looks down",
    ),
    FailureClass(
        "connection_reset",
        (
            Failure("payments", "POST /charge", "CLIENT", "ConnectionResetError",
                    "[Errno 104] Connection reset by peer", _http("POST", "/charge", 0),
                    "charge request to acquirer aborted: connection reset by peer"),
            Failure("search", "es.search", "CLIENT", "java.net.SocketException",
                    "Connection reset", {"db.system.name": "elasticsearch", "db.operation.name": "search"},
                    "SocketException: Connection reset while reading search response from es-2"),
            Failure("frontend", "GET /api/recommendations", "CLIENT", "Error",
                    "read ECONNRESET", _http("GET", "/api/recommendations", 0),
                    "recommendations socket hang up (read ECONNRESET)", "WARN"),
            Failure("checkout", "payments.Authorize", "CLIENT", "grpc.RpcError",
                    "StatusCode.UNAVAILABLE: recvmsg:Connection reset by peer", _rpc("Payments", "Authorize", 14),
                    "authorize rpc broke mid-stream: recvmsg: connection reset by peer"),
            Failure("inventory", "SELECT reservations", "CLIENT", "psycopg.OperationalError",
                    "server closed the connection unexpectedly\n\tThis probably means the server terminated "
                    "abnormally before or while processing the request.", _db(PG, "SELECT", "reservations"),
                    "lost connection to inventory-db in the middle of a query: server closed the connection"),
        ),
        "the remote side dropped an established connection in the middle of the exchange",
        "calls start fine then die halfway with the socket torn down by the other end",
    ),
    FailureClass(
        "dns_failure",
        (
            Failure("checkout", "POST /payments", "CLIENT", "socket.gaierror",
                    "[Errno -2] Name or service not known: 'payments.internal'", _http("POST", "/payments", 0),
                    "failed to resolve payments.internal: Name or service not known"),
            Failure("notifications", "smtp.send", "CLIENT", "java.net.UnknownHostException",
                    "smtp-relay.mail.svc.cluster.local: Temporary failure in name resolution", {},
                    "UnknownHostException smtp-relay.mail.svc.cluster.local, email 8812 not sent"),
            Failure("frontend", "GET /api/user", "CLIENT", "Error",
                    "getaddrinfo ENOTFOUND accounts-api.prod.svc", _http("GET", "/api/user", 0),
                    "getaddrinfo ENOTFOUND accounts-api.prod.svc for request 77ab31", "WARN"),
            Failure("shipping", "carrier.Quote", "CLIENT", "*net.DNSError",
                    "dial tcp: lookup carrier-gw.internal on 10.96.0.10:53: no such host", _rpc("Carrier", "Quote", 14),
                    "lookup carrier-gw.internal on 10.96.0.10:53: no such host"),
        ),
        "the hostname could not be resolved to an address",
        "the cluster resolver stopped answering, services cannot find each other by name",
    ),
    FailureClass(
        "tls_failure",
        (
            Failure("payments", "POST /v1/charges", "CLIENT", "ssl.SSLCertVerificationError",
                    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)",
                    _http("POST", "/v1/charges", 0),
                    "TLS to api.acquirer.com failed: certificate has expired"),
            Failure("accounts", "GET /oauth/jwks", "CLIENT", "javax.net.ssl.SSLHandshakeException",
                    "PKIX path building failed: unable to find valid certification path to requested target",
                    _http("GET", "/oauth/jwks", 0),
                    "SSLHandshakeException fetching jwks from idp.example.com: PKIX path building failed"),
            Failure("frontend", "GET /api/cms", "CLIENT", "Error",
                    "unable to verify the first certificate", _http("GET", "/api/cms", 0),
                    "cms request failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE unable to verify the first certificate",
                    "WARN"),
            Failure("search", "POST /_bulk", "CLIENT", "x509.HostnameError",
                    "x509: certificate is valid for es-0.search.local, not es-lb.search.local",
                    _http("POST", "/_bulk", 0),
                    "bulk index rejected: tls: x509 certificate is valid for es-0.search.local, not es-lb"),
        ),
        "the secure handshake failed because the server certificate was not trusted",
        "since midnight every https call to the card acquirer fails, their cert looks expired",
    ),
    FailureClass(
        "deadline_exceeded",
        (
            Failure("checkout", "payments.Authorize", "CLIENT", "grpc.RpcError",
                    "StatusCode.DEADLINE_EXCEEDED: Deadline Exceeded", _rpc("Payments", "Authorize", 4),
                    "authorize for order 5521 gave up: deadline exceeded after 3000ms"),
            Failure("frontend", "GET /api/shipping-quote", "CLIENT", "requests.exceptions.ReadTimeout",
                    "HTTPSConnectionPool(host='shipping', port=443): Read timed out. (read timeout=10)",
                    _http("GET", "/api/shipping-quote", 0),
                    "shipping quote took longer than 10s, read timed out", "WARN"),
            Failure("shipping", "GET /labels", "CLIENT", "java.net.SocketTimeoutException",
                    "Read timed out after 30000 ms waiting for carrier-gw.internal", _http("GET", "/labels", 0),
                    "carrier label request timed out after 30000 ms"),
            Failure("payments", "fraud.Score", "CLIENT", "context.deadlineExceededError",
                    "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    _rpc("Fraud", "Score", 4),
                    "fraud score call: context deadline exceeded while awaiting headers"),
        ),
        "the downstream call took too long and the client stopped waiting for the reply",
        "calls to payments hang until the deadline passes",
    ),
    FailureClass(
        "unique_violation",
        (
            Failure("accounts", "INSERT users", "CLIENT", "psycopg.errors.UniqueViolation",
                    'duplicate key value violates unique constraint "users_email_key"\n'
                    "DETAIL:  Key (email)=(ana@example.com) already exists.", _db(PG, "INSERT", "users"),
                    "signup failed, email ana@example.com already registered (users_email_key)"),
            Failure("checkout", "INSERT orders", "CLIENT", "java.sql.SQLIntegrityConstraintViolationException",
                    "Duplicate entry 'ord-99812' for key 'orders.PRIMARY'", _db(MYSQL, "INSERT", "orders"),
                    "order ord-99812 inserted twice: Duplicate entry for key orders.PRIMARY"),
            Failure("payments", "INSERT idempotency_keys", "CLIENT", "sqlalchemy.exc.IntegrityError",
                    "(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "
                    '"idempotency_keys_pkey" DETAIL: Key (key)=(c9f1e2) already exists.',
                    _db(PG, "INSERT", "idempotency_keys"),
                    "idempotency key c9f1e2 reused, insert rejected as duplicate", "WARN"),
            Failure("inventory", "insertOne skus", "CLIENT", "MongoServerError",
                    "E11000 duplicate key error collection: inventory.skus index: sku_1 dup key: { sku: \"A-1042\" }",
                    {"db.system.name": "mongodb", "db.operation.name": "insertOne", "db.collection.name": "skus"},
                    "sku A-1042 already exists (E11000 duplicate key)"),
        ),
        "a row with the same key already exists so the insert is rejected",
        "customers signing up twice get an error because their email is already taken",
    ),
    FailureClass(
        "foreign_key_violation",
        (
            Failure("checkout", "INSERT order_items", "CLIENT", "psycopg.errors.ForeignKeyViolation",
                    'insert or update on table "order_items" violates foreign key constraint '
                    '"order_items_order_id_fkey"\nDETAIL:  Key (order_id)=(88123) is not present in table "orders".',
                    _db(PG, "INSERT", "order_items"),
                    "order item for missing order 88123 rejected by order_items_order_id_fkey"),
            Failure("inventory", "DELETE products", "CLIENT", "java.sql.SQLIntegrityConstraintViolationException",
                    "Cannot delete or update a parent row: a foreign key constraint fails "
                    "(`shop`.`stock`, CONSTRAINT `stock_ibfk_1` FOREIGN KEY (`product_id`) REFERENCES `products`)",
                    _db(MYSQL, "DELETE", "products"),
                    "cannot delete product 4410: stock rows still reference it"),
            Failure("accounts", "INSERT addresses", "CLIENT", "sqlalchemy.exc.IntegrityError",
                    "(sqlite3.IntegrityError) FOREIGN KEY constraint failed", _db({"db.system.name": "sqlite"},
                                                                                  "INSERT", "addresses"),
                    "address for user 5120 not saved: FOREIGN KEY constraint failed"),
            Failure("shipping", "INSERT shipments", "CLIENT", "PrismaClientKnownRequestError",
                    "Foreign key constraint failed on the field: `shipments_order_id_fkey (index)` code P2003",
                    _db(PG, "INSERT", "shipments"),
                    "P2003 shipment references order that does not exist", "WARN"),
        ),
        "the row points at a parent record that does not exist",
        "order items get rejected because the order they belong to was never saved",
    ),
    FailureClass(
        "statement_timeout",
        (
            Failure("search", "SELECT products", "CLIENT", "psycopg.errors.QueryCanceled",
                    "canceling statement due to statement timeout", _db(PG, "SELECT", "products"),
                    "product search query cancelled after 5000 ms statement_timeout"),
            Failure("accounts", "SELECT sessions", "CLIENT", "com.mysql.cj.jdbc.exceptions.MySQLTimeoutException",
                    "Statement cancelled due to timeout or client request", _db(MYSQL, "SELECT", "sessions"),
                    "session report query exceeded its timeout and was cancelled"),
            Failure("inventory", "aggregate stock", "CLIENT", "MongoServerError",
                    "operation exceeded time limit: maxTimeMS 2000 expired",
                    {"db.system.name": "mongodb", "db.operation.name": "aggregate", "db.collection.name": "stock"},
                    "stock aggregation hit maxTimeMS=2000 and was aborted", "WARN"),
            Failure("checkout", "SELECT order_history", "CLIENT", "ActiveRecord::QueryCanceled",
                    "PG::QueryCanceled: ERROR:  canceling statement due to statement timeout",
                    _db(PG, "SELECT", "order_history"),
                    "order history query for customer 7781 cancelled by statement timeout"),
        ),
        "the database aborted a query that ran longer than the allowed time",
        "the reporting query is too slow and postgres kills it after a few seconds",
    ),
    FailureClass(
        "lock_timeout",
        (
            Failure("inventory", "UPDATE stock", "CLIENT", "psycopg.errors.LockNotAvailable",
                    'canceling statement due to lock timeout\nCONTEXT:  while updating tuple (12,7) in relation "stock"',
                    _db(PG, "UPDATE", "stock"),
                    "stock update for sku 4412 waited too long for a row lock"),
            Failure("checkout", "UPDATE carts", "CLIENT", "com.mysql.cj.jdbc.exceptions.MySQLTransactionRollbackException",
                    "Lock wait timeout exceeded; try restarting transaction", _db(MYSQL, "UPDATE", "carts"),
                    "cart 5521 update: Lock wait timeout exceeded (innodb_lock_wait_timeout=50)"),
            Failure("payments", "SELECT FOR UPDATE wallets", "CLIENT", "org.hibernate.PessimisticLockException",
                    "could not obtain lock on row in relation \"wallets\"", _db(PG, "SELECT", "wallets"),
                    "wallet 9913 is locked by another transaction, NOWAIT failed"),
            Failure("accounts", "ALTER TABLE users", "CLIENT", "django.db.utils.OperationalError",
                    "canceling statement due to lock timeout", _db(PG, "ALTER", "users"),
                    "migration 0042 could not acquire lock on users within lock_timeout", "WARN"),
        ),
        "the statement gave up waiting for a lock another transaction was holding",
        "updates queue behind a long transaction holding the row and eventually give up",
    ),
    FailureClass(
        "deadlock",
        (
            Failure("inventory", "UPDATE stock", "CLIENT", "psycopg.errors.DeadlockDetected",
                    "deadlock detected\nDETAIL:  Process 4121 waits for ShareLock on transaction 99812; "
                    "blocked by process 4133.\nProcess 4133 waits for ShareLock on transaction 99807; "
                    "blocked by process 4121.", _db(PG, "UPDATE", "stock"),
                    "deadlock detected updating stock for order 5521, transaction rolled back"),
            Failure("checkout", "UPDATE orders", "CLIENT", "com.mysql.cj.jdbc.exceptions.MySQLTransactionRollbackException",
                    "Deadlock found when trying to get lock; try restarting transaction", _db(MYSQL, "UPDATE", "orders"),
                    "Deadlock found when trying to get lock on orders, retrying 1/3", "WARN"),
            Failure("payments", "UPDATE balances", "CLIENT", "System.Data.SqlClient.SqlException",
                    "Transaction (Process ID 71) was deadlocked on lock resources with another process and has "
                    "been chosen as the deadlock victim. Rerun the transaction.", _db({"db.system.name": "mssql"},
                                                                                     "UPDATE", "balances"),
                    "balance transfer 8812 chosen as deadlock victim"),
            Failure("shipping", "UPDATE parcels", "CLIENT", "org.springframework.dao.CannotAcquireLockException",
                    "could not execute statement; SQL [n/a]; nested exception is "
                    "org.hibernate.exception.LockAcquisitionException: ERROR: deadlock detected",
                    _db(PG, "UPDATE", "parcels"),
                    "parcel status update aborted: ERROR deadlock detected"),
        ),
        "two transactions each waited for a lock the other one held, so one was aborted",
        "two writers blocked each other on the same rows",
    ),
    FailureClass(
        "pool_exhausted",
        (
            Failure("checkout", "db.connect", "INTERNAL", "sqlalchemy.exc.TimeoutError",
                    "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00",
                    {"db.system.name": "postgresql"},
                    "no database connection available: QueuePool limit of size 5 overflow 10 reached"),
            Failure("accounts", "getConnection", "INTERNAL", "java.sql.SQLTransientConnectionException",
                    "HikariPool-1 - Connection is not available, request timed out after 30000ms.", {},
                    "HikariPool-1 - Connection is not available, request timed out after 30000ms (total=10, active=10, idle=0, waiting=42)"),
            Failure("payments", "pool.acquire", "INTERNAL", "psycopg_pool.PoolTimeout",
                    "couldn't get a connection after 30.00 sec", {"db.system.name": "postgresql"},
                    "all 20 pool connections busy, waited 30 s for one", "WARN"),
            Failure("inventory", "sql.Conn", "INTERNAL", "*errors.errorString",
                    "pgxpool: acquire timeout: all 25 connections in use", {"db.system.name": "postgresql"},
                    "pgxpool exhausted: all 25 connections in use"),
        ),
        "every connection in the client-side pool is checked out and none came back in time",
        "the app threads sit waiting to borrow a database connection, pool maxed out",
    ),
    FailureClass(
        "too_many_connections",
        (
            Failure("accounts", "connect", "CLIENT", "psycopg.OperationalError",
                    'connection to server at "accounts-db" (10.0.5.3), port 5432 failed: FATAL:  sorry, '
                    "too many clients already", _db(PG, "connect", "accounts"),
                    "accounts-db rejected the connection: too many clients already"),
            Failure("checkout", "connect", "CLIENT", "com.mysql.cj.jdbc.exceptions.CommunicationsException",
                    "Data source rejected establishment of connection, message from server: \"Too many connections\"",
                    _db(MYSQL, "connect", "shop"),
                    "mysql refused new session: Too many connections (max_connections=151)"),
            Failure("search", "connect", "CLIENT", "psycopg2.OperationalError",
                    "FATAL:  remaining connection slots are reserved for non-replication superuser connections",
                    _db(PG, "connect", "search"),
                    "search-db out of connection slots, remaining ones reserved for superuser", "WARN"),
            Failure("payments", "redis connect", "CLIENT", "redis.exceptions.ConnectionError",
                    "max number of clients reached", {**REDIS, "db.operation.name": "connect"},
                    "redis session store: ERR max number of clients reached (maxclients 10000)"),
        ),
        "the database server refused a new session because its connection limit is used up",
        "the database hit max_connections and turns away every new client",
    ),
    FailureClass(
        "json_parse",
        (
            Failure("payments", "parse webhook", "INTERNAL", "json.decoder.JSONDecodeError",
                    "Expecting ',' delimiter: line 1 column 842 (char 841)", {},
                    "webhook 5f2a body is not valid json: Expecting ',' delimiter at char 841"),
            Failure("frontend", "GET /api/cart", "CLIENT", "SyntaxError",
                    "Unexpected token < in JSON at position 0", _http("GET", "/api/cart", 200),
                    "cart response could not be parsed: Unexpected token < in JSON at position 0", "WARN"),
            Failure("shipping", "decode carrier response", "INTERNAL",
                    "com.fasterxml.jackson.core.JsonParseException",
                    "Unexpected character ('}' (code 125)): was expecting double-quote to start field name\n"
                    " at [Source: (String)\"{\"rate\": 12.5,}\"; line: 1, column: 15]", {},
                    "JsonParseException reading carrier rate payload at column 15"),
            Failure("inventory", "json.Unmarshal", "INTERNAL", "*json.SyntaxError",
                    "invalid character 'x' looking for beginning of value", {},
                    "cannot unmarshal stock event 4421: invalid character 'x' looking for beginning of value"),
        ),
        "the payload could not be decoded because it is not well-formed JSON",
        "the partner started sending us broken bodies and our decoder chokes on them",
    ),
    FailureClass(
        "out_of_memory",
        (
            Failure("search", "build index", "INTERNAL", "java.lang.OutOfMemoryError",
                    "Java heap space", {},
                    "indexer crashed: java.lang.OutOfMemoryError: Java heap space (Xmx=2g)"),
            Failure("frontend", "render report", "INTERNAL", "RangeError",
                    "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory", {},
                    "report renderer: JavaScript heap out of memory at 4096 MB"),
            Failure("inventory", "load catalog", "INTERNAL", "MemoryError",
                    "Unable to allocate 3.17 GiB for an array with shape (425000000,) and data type float64", {},
                    "catalog load ran out of memory allocating 3.17 GiB"),
            Failure("payments", "reconcile", "INTERNAL", "runtime.Error",
                    "fatal error: runtime: out of memory", {},
                    "reconcile worker killed: runtime: out of memory (rss 1.9 GiB, limit 2 GiB)"),
        ),
        "the process ran out of heap memory and could not allocate more",
        "the workers keep getting OOM killed when the big batch job runs",
    ),
    FailureClass(
        "token_expired",
        (
            Failure("accounts", "GET /api/me", "SERVER", "jwt.exceptions.ExpiredSignatureError",
                    "Signature has expired", _http("GET", "/api/me", 401),
                    "rejected request 7ab2: JWT signature has expired", "WARN"),
            Failure("frontend", "GET /api/orders", "SERVER", "TokenExpiredError",
                    "jwt expired at 2026-11-30T10:00:00.000Z", _http("GET", "/api/orders", 401),
                    "session token for user 5120 expired at 2026-11-30T10:00:00Z", "WARN"),
            Failure("payments", "POST /v1/refunds", "CLIENT", "HTTPError",
                    "401 Unauthorized: access token expired, please refresh", _http("POST", "/v1/refunds", 401),
                    "acquirer says our OAuth access token expired (401)"),
            Failure("shipping", "GET /tracking", "SERVER", "io.jsonwebtoken.ExpiredJwtException",
                    "JWT expired at 2026-11-29T23:59:59Z. Current time: 2026-11-30T08:12:44Z, a difference of "
                    "29565000 milliseconds.", _http("GET", "/tracking", 401),
                    "ExpiredJwtException: tracking request with a stale bearer token"),
        ),
        "the credential presented is past its validity and must be renewed",
        "users get logged out and bounced with 401 because their session lapsed",
    ),
    FailureClass(
        "permission_denied",
        (
            Failure("accounts", "DELETE /api/users/{id}", "SERVER", "PermissionDenied",
                    "You do not have permission to perform this action.", _http("DELETE", "/api/users/{id}", 403),
                    "user 5120 tried to delete account 7781 without the admin role", "WARN"),
            Failure("inventory", "s3.PutObject", "CLIENT", "botocore.exceptions.ClientError",
                    "An error occurred (AccessDenied) when calling the PutObject operation: Access Denied",
                    {"rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": "PutObject"},
                    "upload of catalog image 4410 to s3 denied: AccessDenied"),
            Failure("search", "SELECT audit_log", "CLIENT", "psycopg.errors.InsufficientPrivilege",
                    "permission denied for table audit_log", _db(PG, "SELECT", "audit_log"),
                    "search role lacks SELECT on audit_log: permission denied"),
            Failure("payments", "GET /v1/payouts", "CLIENT", "HTTPError",
                    "403 Forbidden: API key lacks the payouts:read scope", _http("GET", "/v1/payouts", 403),
                    "payout listing forbidden (403): key lacks payouts:read"),
        ),
        "the caller is authenticated but not allowed to do this operation",
        "the service account lost its rights and now gets access denied everywhere",
    ),
    FailureClass(
        "rate_limited",
        (
            Failure("notifications", "POST /v1/messages", "CLIENT", "HTTPError",
                    "429 Too Many Requests: rate limit of 100 per second exceeded, retry after 2s",
                    _http("POST", "/v1/messages", 429),
                    "sms provider throttled us: 429, retry after 2 s", "WARN"),
            Failure("search", "POST /v1/embeddings", "CLIENT", "openai.RateLimitError",
                    "Error code: 429 - Rate limit reached for requests per min (RPM): Limit 3500, Used 3500",
                    _http("POST", "/v1/embeddings", 429),
                    "embedding API rate limit reached (3500 RPM)"),
            Failure("inventory", "dynamodb.Query", "CLIENT", "ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded",
                    {"rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "Query"},
                    "dynamodb stock table throttled: provisioned throughput exceeded"),
            Failure("checkout", "payments.Capture", "CLIENT", "grpc.RpcError",
                    "StatusCode.RESOURCE_EXHAUSTED: quota exceeded for capture requests per client",
                    _rpc("Payments", "Capture", 8),
                    "capture for order 5521 rejected: RESOURCE_EXHAUSTED quota exceeded"),
        ),
        "the provider is throttling us because we sent more requests than our quota allows",
        "the sms vendor keeps bouncing our sends during the campaign burst, we're over our allowance",
    ),
    FailureClass(
        "disk_full",
        (
            Failure("search", "write segment", "INTERNAL", "OSError",
                    "[Errno 28] No space left on device: '/var/lib/search/segments/_4f2.cfs'", {},
                    "flush of segment _4f2 failed: no space left on device"),
            Failure("inventory", "INSERT stock_history", "CLIENT", "psycopg.errors.DiskFull",
                    'could not extend file "base/16384/24576.3": No space left on device\n'
                    "HINT:  Check free disk space.", _db(PG, "INSERT", "stock_history"),
                    "inventory-db could not extend file: No space left on device"),
            Failure("shipping", "write label pdf", "INTERNAL", "java.io.IOException",
                    "No space left on device", {},
                    "writing label 99812.pdf to /tmp failed: No space left on device"),
            Failure("payments", "append journal", "INTERNAL", "*fs.PathError",
                    "write /data/journal/000123.log: no space left on device", {},
                    "journal append failed: ENOSPC on /data", "WARN"),
        ),
        "writing failed because the storage volume has no free bytes left",
        "the volume filled up overnight and now nothing can be written",
    ),
    FailureClass(
        "not_found",
        (
            Failure("frontend", "GET /api/products/{id}", "SERVER", "NotFoundError",
                    "product sku-88123 not found", _http("GET", "/api/products/{id}", 404),
                    "404 for product sku-88123", "WARN"),
            Failure("inventory", "GET stock item", "INTERNAL", "KeyError",
                    "'A-1042'", {},
                    "no stock entry for sku A-1042", "WARN"),
            Failure("shipping", "GET /v2/shipments/{id}", "CLIENT", "HTTPError",
                    "404 Client Error: Not Found for url: https://carrier.example.com/v2/shipments/77123",
                    _http("GET", "/v2/shipments/{id}", 404),
                    "carrier has no shipment 77123 (404 Not Found)"),
            Failure("accounts", "findUser", "INTERNAL", "javax.persistence.EntityNotFoundException",
                    "Unable to find com.shop.User with id 5120", {},
                    "EntityNotFoundException: no User with id 5120"),
        ),
        "the requested record does not exist",
        "customers clicking old links land on missing product pages",
    ),
    FailureClass(
        "null_reference",
        (
            Failure("checkout", "apply coupon", "INTERNAL", "AttributeError",
                    "'NoneType' object has no attribute 'discount'", {},
                    "apply coupon crashed: 'NoneType' object has no attribute 'discount'"),
            Failure("frontend", "render cart", "INTERNAL", "TypeError",
                    "Cannot read properties of undefined (reading 'price')", {},
                    "cart page error: Cannot read properties of undefined (reading 'price')"),
            Failure("accounts", "ProfileService.load", "INTERNAL", "java.lang.NullPointerException",
                    'Cannot invoke "com.shop.Address.getCity()" because "user.address" is null', {},
                    "NullPointerException loading profile 5120"),
            Failure("payments", "refund.Process", "INTERNAL", "runtime.Error",
                    "invalid memory address or nil pointer dereference", {},
                    "panic: runtime error: invalid memory address or nil pointer dereference"),
        ),
        "code used a value that was missing, an empty reference",
        "the page blows up when the customer has no saved address, some field is null",
    ),
)

# Successful operations whose names share the failures' words: what a search must rank below
# the failures. Crossed with the services, each (service, name) is one shape.
OK_OPERATIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("connection pool checkout", "INTERNAL", {"db.system.name": "postgresql"}),
    ("connection pool return", "INTERNAL", {"db.system.name": "postgresql"}),
    ("open connection", "CLIENT", {"db.system.name": "postgresql"}),
    ("connect", "CLIENT", _db(PG, "connect", "shop")),
    ("redis GET", "CLIENT", {**REDIS, "db.operation.name": "GET"}),
    ("dns resolve payments.internal", "INTERNAL", {}),
    ("dns lookup carrier-gw.internal", "INTERNAL", {}),
    ("tls handshake", "CLIENT", {}),
    ("load tls certificates", "INTERNAL", {}),
    ("acquire lock orders", "INTERNAL", {}),
    ("release lock orders", "INTERNAL", {}),
    ("SELECT FOR UPDATE stock", "CLIENT", _db(PG, "SELECT", "stock")),
    ("UPDATE stock", "CLIENT", _db(PG, "UPDATE", "stock")),
    ("INSERT orders", "CLIENT", _db(PG, "INSERT", "orders")),
    ("INSERT users", "CLIENT", _db(PG, "INSERT", "users")),
    ("upsert idempotency key", "CLIENT", _db(PG, "INSERT", "idempotency_keys")),
    ("check foreign keys", "INTERNAL", {}),
    ("SELECT order_history", "CLIENT", _db(PG, "SELECT", "order_history")),
    ("set statement timeout", "CLIENT", _db(PG, "SET", "session")),
    ("parse json body", "INTERNAL", {}),
    ("decode carrier response", "INTERNAL", {}),
    ("json.Unmarshal", "INTERNAL", {}),
    ("validate token", "INTERNAL", {}),
    ("refresh access token", "CLIENT", _http("POST", "/oauth/token", 200)),
    ("check permissions", "INTERNAL", {}),
    ("rate limiter check", "INTERNAL", {}),
    ("retry with backoff", "INTERNAL", {}),
    ("write segment", "INTERNAL", {}),
    ("rotate log files", "INTERNAL", {}),
    ("gc pause", "INTERNAL", {}),
    ("load catalog", "INTERNAL", {}),
    ("cache miss fallback", "INTERNAL", {}),
    ("GET /api/products/{id}", "SERVER", _http("GET", "/api/products/{id}", 200)),
    ("POST /payments", "CLIENT", _http("POST", "/payments", 200)),
    ("POST /v1/charges", "CLIENT", _http("POST", "/v1/charges", 201)),
    ("GET /api/user", "CLIENT", _http("GET", "/api/user", 200)),
    ("payments.Authorize", "CLIENT", _rpc("Payments", "Authorize", 0)),
    ("fraud.Score", "CLIENT", _rpc("Fraud", "Score", 0)),
    ("health check", "SERVER", _http("GET", "/healthz", 200)),
    ("deadline propagation", "INTERNAL", {}),
)
SERVICES = ("frontend", "checkout", "payments", "inventory", "shipping", "search", "accounts", "notifications")

# Informational log lines sharing the failures' vocabulary ({n} is filled per record).
OK_LOGS: tuple[str, ...] = (
    "connection pool stats: size={n} idle=3 waiting=0",
    "opened new connection to db-primary:5432 in {n} ms",
    "connection returned to pool after {n} ms",
    "dns cache refreshed, {n} entries",
    "resolved payments.internal to 10.0.3.{n}",
    "tls certificate reloaded, valid for {n} more days",
    "tls handshake with api.acquirer.com completed in {n} ms",
    "acquired lock on orders after {n} ms",
    "released advisory lock {n}",
    "statement_timeout set to {n}ms for reporting session",
    "lock_timeout is {n}s for migrations",
    "inserted {n} rows into stock_history",
    "upserted idempotency key for request {n}",
    "parsed json body of {n} bytes",
    "decoded carrier response with {n} rates",
    "token refreshed, expires in {n} seconds",
    "permission check passed for user {n}",
    "rate limiter: {n} tokens left in bucket",
    "retrying request {n} after backoff",
    "wrote segment {n} to disk",
    "disk usage at {n} percent",
    "heap usage {n} MB after gc",
    "loaded catalog with {n} products",
    "cache hit ratio {n} percent",
    "request {n} completed with status 200",
    "order {n} placed",
    "payment {n} authorized",
    "shipment {n} created",
    "deadline for request {n} set to 3000 ms",
    "deadlock detector ran, {n} transactions checked",
    "max_connections is {n}",
    "health check ok in {n} ms",
)


# Near-neighbour queries the vector ranking alone answers wrongly on the slice of the corpus
# that tests/test_search_quality.py stores (measured), and the hybrid ranking rightly:
# (signal, class, query style).
VECTOR_MISSES = (
    ("spans", "connection_refused", "incident"),  # "every call to the cache fails instantly...": successes first
    ("spans", "deadlock", "incident"),  # "two writers blocked each other...": a lock wait timeout first
)

# The held-out queries: (paraphrase, incident) per class, written by a writer given only the
# classes' one-line definitions and told not to quote error codes, exception names or the class
# names (verbatim, 2026-12-02).
INDEPENDENT: dict[str, tuple[str, str]] = {
    "connection_refused": (
        "The client tries to open a socket but nothing is listening on that port, so it's rejected instantly.",
        "checkout can't reach inventory at all since the 14:00 deploy, calls bounce back immediately like the service isn't even up",
    ),
    "connection_reset": (
        "The remote side abruptly dropped the TCP socket halfway through our request, before sending back any response.",
        "payments calls keep dying mid-request overnight, the upstream just hangs up on us partway through and orders fail",
    ),
    "dns_failure": (
        "The service can't look up the hostname, so it never gets an IP address to connect to.",
        "since the network change shipping can't resolve the carrier API hostname, lookups come back empty and no labels get generated",
    ),
    "tls_failure": (
        "The secure handshake with the upstream fails because its certificate is expired or doesn't match the hostname.",
        "notifications stopped sending emails this morning, the SSL cert on the mail provider seems to have lapsed and handshakes fail",
    ),
    "deadline_exceeded": (
        "A call to a downstream service never answered in time, so the client stopped waiting once its cutoff passed.",
        "frontend pages hang then error out, the search backend isn't replying before our RPC cutoff since about 09:30",
    ),
    "unique_violation": (
        "Inserting a new row fails because another record with that same key value is already in the table.",
        "accounts signups failing for some users after the migration, the email already exists so the insert gets rejected",
    ),
    "foreign_key_violation": (
        "Saving a row fails because it points at a parent record that doesn't exist in the referenced table.",
        "inventory cleanup job can't delete old products because order lines still point at them, the database blocks the delete",
    ),
    "statement_timeout": (
        "The database killed a long-running query because it went over the configured maximum execution time per statement.",
        "search reporting query keeps getting cancelled by postgres for running too long, dashboard blank since the index was dropped",
    ),
    "lock_timeout": (
        "An update gave up because another transaction held the row lock and it waited too long to acquire it.",
        "checkout writes to the stock table sit waiting on locks held by the nightly batch job, then bail after a few seconds",
    ),
    "deadlock": (
        "Two transactions were each waiting on a lock the other one held, so the database picked one to abort.",
        "payments seeing transactions rolled back at random since the 14:00 deploy, two writers update the same rows in opposite order",
    ),
    "pool_exhausted": (
        "The app couldn't borrow a database connection from its own client-side pool because every one was checked out.",
        "inventory requests queue up waiting for a free db handle from our app's pool and give up since the traffic spike",
    ),
    "too_many_connections": (
        "The database server is turning away new sessions because it has already hit its maximum allowed client count.",
        "after scaling accounts to 40 replicas postgres stopped accepting new logins, the server is full and won't take more clients",
    ),
    "json_parse": (
        "The service got a request body it couldn't decode because the payload was broken, not well-formed JSON.",
        "notifications consumer choking on vendor webhook bodies since last night, payloads look truncated and can't be decoded",
    ),
    "out_of_memory": (
        "The process used up all of its available RAM and got killed for going over its memory limit.",
        "search pods keep getting restarted by kubernetes overnight, heap blows past the container limit during reindexing",
    ),
    "token_expired": (
        "Requests are rejected as unauthorized because the user's login session or access token is past its validity time.",
        "users getting kicked out of the frontend after an hour, their JWTs lapse and refresh hasn't worked since the deploy",
    ),
    "permission_denied": (
        "The caller is logged in fine but lacks the role required for this action, so access is blocked.",
        "support agents can sign in but can't issue refunds in payments since the role change this morning",
    ),
    "rate_limited": (
        "Our calls get rejected because we sent more requests per second than the provider's quota allows.",
        "shipping label API is throttling us since holiday traffic started, half the calls bounce back telling us to slow down",
    ),
    "disk_full": (
        "Writes to the volume fail because there's no free space left on the disk.",
        "inventory db node stopped writing around 03:00, the data volume filled up with logs and every insert fails",
    ),
    "not_found": (
        "A lookup for a record by its id came back with nothing because that item doesn't exist.",
        "customers clicking old order links in accounts get an empty page, those order ids just aren't in the system anymore",
    ),
    "null_reference": (
        "The code tried to read a field on a value that was actually empty, like calling a method on nil.",
        "checkout crashing for guest users since the 14:00 deploy, the address object is missing and the code dereferences it anyway",
    ),
}

# Six tuning queries per class by two more writers given only the definitions (2026-12-02):
# a search-box query, a postmortem sentence and a bug ticket; a support escalation, a question
# to the search and an on-call page.
DEVELOPMENT: dict[str, tuple[str, ...]] = {
    "connection_refused": (
        "nothing listening on payments port",
        "The Redis cache process had crashed on cache-02, so connection attempts to port 6379 were rejected instantly and product pages failed to load for shoppers.",
        "curl to inventory-svc:8080 fails instantly; no process is bound to that port on the host.",
        "Checkout page instantly errors out, no waiting at all; seems like the payment system is switched off or we're knocking on the wrong door.",
        "Which outbound calls were rejected immediately because nothing was listening on the port?",
        "checkout to payments tcp connects rejected instantly, no listener on port",
    ),
    "connection_reset": (
        "peer dropped socket mid request",
        "A load balancer idle-timeout change made the Postgres proxy tear down open sessions mid-query, so in-flight payment requests died halfway and customers saw failed checkouts.",
        "Upload of 40MB file to storage gateway dies halfway; server abruptly closes the socket, broken pipe on client.",
        "Orders start processing, then halfway through the screen says something went wrong, like the other computer hung up on us mid-conversation.",
        "Where did the peer drop an open connection in the middle of a request?",
        "inventory seeing tcp rst from db mid-query, sockets torn down",
    ),
    "dns_failure": (
        "cannot resolve billing api hostname",
        "An expired record in our internal DNS zone meant the shipping partner's API host name could not be looked up, so label creation stopped and parcels shipped late.",
        "Worker can't look up db-primary.internal; nslookup returns no such host from inside the pod.",
        "Shipping rates won't load at all; it feels like our system can't look up the address of the carrier's website.",
        "Why couldn't the client turn the hostname into an IP address?",
        "shipping cannot resolve carrier api fqdn, coredns lookups failing",
    ),
    "tls_failure": (
        "partner certificate expired handshake rejected",
        "Our fraud-scoring vendor let its server certificate lapse, so secure handshakes to their API were rejected and card payments were declined for about two hours.",
        "Calling https://ledger.internal fails during handshake: cert is issued for ledger-old.internal, hostname mismatch.",
        "Card payments fail with an error about a secure connection; could the bank's security certificate have run out or be wrong?",
        "Show me calls where the handshake failed on an expired or untrusted cert",
        "payments mtls handshake to acquirer failing, cert chain untrusted",
    ),
    "deadline_exceeded": (
        "downstream call gave up waiting for reply",
        "Under load the recommendations service stalled, so storefront calls hit their two-second limit without any answer and shoppers saw blank product carousels.",
        "Request to pricing-svc hangs, then gives up after 5 seconds with no response from upstream.",
        "Search spins forever and then gives up with a timeout message; I think some system behind it is just too slow to answer.",
        "How often did downstream RPC calls get no reply before their deadline?",
        "search grpc calls from frontend blowing client deadline, p99 way up",
    ),
    "unique_violation": (
        "signup fails email already registered",
        "Webhook retries made our handler insert the same order number twice into the MySQL orders table; the second insert was rejected and customers saw checkout error pages.",
        "Creating user with email jane@example.com twice: second insert rejected, a row with that key already exists.",
        "Someone trying to sign up is told the account already exists; maybe their email got saved twice in our records?",
        "What inserts were rejected because a row with that key was already there?",
        "accounts signup writes failing on dup email, unique index conflict",
    ),
    "foreign_key_violation": (
        "order line references missing product",
        "Invoices were written to Postgres pointing at customer ids that had not been created yet, so the database rejected them and customers never received billing emails.",
        "Deleting account 4471 is refused because payment rows still reference it as their parent.",
        "Can't delete an old product from the admin screen; the system seems to complain that past orders are still tied to it.",
        "Find writes rejected because the referenced parent row doesn't exist or children remain",
        "inventory sku delete blocked by referencing order_items rows, fk constraint",
    ),
    "statement_timeout": (
        "report query cancelled for running too long",
        "Without an index on created_at, the monthly statements query in Postgres ran past the per-query time cap, got cancelled, and customers could not download statements.",
        "Analytics SELECT on events table gets killed by the server after 30 seconds of execution.",
        "The order history report never finishes and then errors; I guess the database stopped it because the query itself ran too slow.",
        "Find SQL queries the server cancelled for running past the configured time cap",
        "checkout: slow reporting query killed by postgres runtime limit, seq scan suspected",
    ),
    "lock_timeout": (
        "stock update blocked by held lock",
        "Nightly batch work in MySQL held locks on inventory rows, so checkout updates waited until their lock wait limit expired and orders failed for customers.",
        "UPDATE accounts for id 982 waits 50 seconds behind another open transaction, then is abandoned.",
        "Updating stock counts hangs for a while then fails; maybe another process was holding the same item and we gave up waiting our turn.",
        "How many updates gave up waiting on a row lock held by another transaction?",
        "inventory: stock updates stuck behind held row locks, innodb wait limit hit",
    ),
    "deadlock": (
        "two transfers locking each other, one aborted",
        "Concurrent transfers in Postgres locked the two account rows in opposite order, each waiting on the other, so the database killed one and customers saw failed payments.",
        "Running two transfers A\u2192B and B\u2192A simultaneously, one gets chosen as victim and rolled back.",
        "Two shoppers buying the same items at once, one order failed; looks like they got stuck blocking each other and the system picked a loser.",
        "Which transactions were aborted as the victim of a circular lock wait?",
        "checkout order txns in lock cycle with inventory, db rolled back victim",
    ),
    "pool_exhausted": (
        "no free connection in app pool",
        "Because of a leak, the checkout service never returned borrowed database connections, so its client-side pool ran dry and customer orders hung until the borrow wait expired.",
        "All 20 pooled connections in order-api are in use; getConnection blocks 30 seconds then fails.",
        "During the sale, pages load slowly then fail; maybe our app ran out of its own reserved lines to the database.",
        "Show me requests that timed out borrowing a connection from the app's pool",
        "payments hikari saturated, all connections checked out, acquire waits timing out",
    ),
    "too_many_connections": (
        "postgres max sessions limit reached",
        "After autoscaling doubled the API pods, the MySQL server hit its configured connection ceiling and turned away new logins, leaving customers unable to sign in.",
        "psql to db-main rejected: server says all client slots are taken, 500 of 500 in use.",
        "Lots of customers suddenly can't log in; I think the database hit its cap on simultaneous users and is turning new ones away.",
        "Why is the db server refusing new sessions at its max_connections ceiling?",
        "accounts postgres at max_connections, backend slots full, new sessions rejected",
    ),
    "json_parse": (
        "webhook body is malformed, won't decode",
        "Instead of a JSON body, the shipping partner's API began returning an HTML error page; our parser choked on it and tracking pages showed nothing to customers.",
        "Payload from queue message 7731 has a trailing comma; decoder stops at character 212.",
        "Saving the address form fails with a weird error; maybe the data we send is garbled or cut off so the system can't read it.",
        "Where are requests failing because the body is malformed JSON, e.g. truncated?",
        "notifications consumer choking on invalid json webhook bodies, deser failing",
    ),
    "out_of_memory": (
        "worker killed for exceeding memory limit",
        "Memory use of the image resizer grew without bound from an in-process cache until the container hit its cap and was killed, failing customer uploads repeatedly.",
        "Exporting 2 million rows, report-worker heap climbs to 4GB and the kernel OOM killer terminates it.",
        "Results page crashes every busy evening; maybe the server runs short of working memory and gets forcibly shut down.",
        "When were processes killed for exceeding their memory limit or failing allocations?",
        "search pods oom-killed, heap blown past container limit, restarts climbing",
    ),
    "token_expired": (
        "jwt past expiry requests unauthorized",
        "Access tokens kept being reused by the mobile app after their lifetime ran out because the refresh call to the identity provider was broken, logging customers out mid-session.",
        "Bearer token issued at 09:00 with one-hour lifetime is rejected as stale at 10:01.",
        "Anyone who leaves the tab open for hours gets bounced at payment; probably their login session got too old.",
        "What requests were rejected as unauthorized because the JWT's exp time had passed?",
        "frontend: bearer tokens past exp, auth middleware bouncing sessions, refresh broken?",
    ),
    "permission_denied": (
        "signed in user lacks admin role",
        "During a role migration, write privileges were stripped from the billing service's database user, so its authenticated updates to invoices were forbidden and customers saw stale balances.",
        "User u-5512 is authenticated fine but gets forbidden when trying to read the S3 bucket reports-prod.",
        "A store manager is logged in fine but gets blocked from issuing refunds; probably their account lacks the right access level.",
        "Who got forbidden responses despite valid credentials because a role was missing?",
        "payments refund endpoint rejecting authenticated callers, rbac role missing on service account",
    ),
    "rate_limited": (
        "partner api throttling our requests",
        "Retries piled up and pushed calls to the payment provider's API past its per-minute quota; they throttled us and customers couldn't complete purchases for twenty minutes.",
        "After about 100 calls a second, geocoder starts rejecting us and says retry after 60 seconds.",
        "Our big partner's orders keep getting turned away at peak hours; my hunch is they send too many requests too fast and hit a cap.",
        "When did the provider start throttling us for going over our request quota?",
        "notifications sms provider throttling sends, quota burned, backoff needed",
    ),
    "disk_full": (
        "writes failing, volume has no space",
        "Uncompressed logs filled the data volume on the Kafka broker, so appends to the queue failed and customer order events were lost until space was freed.",
        "On host db-03 the /var/lib/postgres mount is at 100% and every write now fails.",
        "Return photo uploads fail for everyone now; guessing the storage drive on our server is packed with no room left.",
        "Show me failed writes on a volume with zero bytes free",
        "search indexer segment writes failing, data volume at 100%, no blocks free",
    ),
    "not_found": (
        "requested order id doesn't exist",
        "Catalog database keys were renamed by a migration, so lookups for old product ids returned nothing and customers following saved links hit missing-item pages.",
        "Fetching /orders/88123 says no such record, although the confirmation email references that order.",
        "Clicking the tracking link in the confirmation email shows an order that supposedly doesn't exist; perhaps the record was removed.",
        "Which lookups came back empty because the requested record or key doesn't exist?",
        "shipping tracking lookups missing shipment ids, no such record in store",
    ),
    "null_reference": (
        "crash accessing property of undefined",
        "Profiles from the Redis cache sometimes lacked an address, and loyalty code read fields off that null value, crashing checkout for affected customers.",
        "Cart 3390 with no shipping address crashes the handler: it calls .zip on a None.",
        "Guest shoppers without a saved address see the cart crash; seems the code trips over a blank value it assumed existed.",
        "Find crashes from dereferencing a nil pointer or reading attributes of None",
        "frontend cart render throwing on undefined shipping address, missing null guard",
    ),
}

# Two paraphrases and two incidents per class by a fourth writer given only the definitions, who
# handed over the file without showing its text (2026-12-02): held out for one measurement.
FIRST_SEALED: dict[str, tuple[str, ...]] = {
    "connection_refused": (
        "Nothing is listening on the port we dial, so the socket gets rejected immediately.",
        "Our TCP dial gets turned away instantly since no process is bound to that host and port.",
        "Checkout can't reach payments at all since the 14:00 deploy, every call bounces instantly, looks like the pod isn't up.",
        "Someone changed the inventory service port in config and now frontend calls fail right away, nobody answering on the old port.",
    ),
    "connection_reset": (
        "Halfway through our request, the remote peer abruptly tore down the open socket.",
        "Mid-response, the server on the far end killed the established link while we were still writing.",
        "Carrier API calls from shipping keep dying partway through since last night, the other end just drops the link mid-transfer.",
        "Around 03:00 the load balancer started killing in-flight payments requests, clients see the socket slammed shut before any response.",
    ),
    "dns_failure": (
        "Turning the service hostname into an IP address fails; there's no record for it.",
        "Resolving the upstream domain gets nowhere because the resolver has no entry for that name.",
        "Notifications can't look up the SMTP relay's hostname since the 10:30 CoreDNS change, so every email send fails.",
        "Search pods in the new cluster can't resolve the elasticsearch address, the name doesn't map to any IP, indexing stalled.",
    ),
    "tls_failure": (
        "Setting up the secure channel breaks because the server's certificate has lapsed or comes from an untrusted issuer.",
        "HTTPS negotiation aborts since the cert presented doesn't match the hostname we dialed.",
        "Payments to the card processor broke at midnight, their cert ran out and our client refuses the HTTPS session.",
        "Rotating the internal CA this morning broke accounts' encrypted links to the database, the chain isn't trusted anymore.",
    ),
    "deadline_exceeded": (
        "A downstream service never replied to our outbound call before its time budget ran out.",
        "Waiting on the upstream RPC, we gave up once the allotted wait elapsed with no answer.",
        "Checkout requests to inventory are hanging and giving up after 5s since the 14:00 deploy, orders are stuck.",
        "Blank search results all night: the edge proxy keeps giving up waiting on a backend that never answers in time.",
    ),
    "unique_violation": (
        "Inserting the record fails because another row already holds that value in a column that must be unique.",
        "Writing this entry gets rejected since one with the identical key is already stored in the table.",
        "Signups on accounts failing since the migration, new users error out because that email already exists in the users table.",
        "Retried payment webhooks try saving the same transaction ID twice and the second save blows up.",
    ),
    "foreign_key_violation": (
        "New row points at a parent record that doesn't exist, so the referential constraint rejects it.",
        "Deleting a customer is blocked because dependent child rows in another table still reference it.",
        "Shipping can't create shipments since 09:00; they reference order ids missing from the orders table.",
        "Admins removing old products in inventory get errors because order lines still link to those items.",
    ),
    "statement_timeout": (
        "Postgres killed our query because it ran past the maximum execution time allowed per statement.",
        "Long-running SQL got aborted by the database after exceeding the configured per-query time cap.",
        "Reporting query in search keeps getting cancelled by the db after 30 seconds since the index was dropped this morning.",
        "Nightly inventory reconciliation job fails because the big aggregation SQL gets cut off by the server for running too long.",
    ),
    "lock_timeout": (
        "Our update gave up after waiting too long for a row another transaction was holding.",
        "Blocked behind someone else's table lock, the SQL sat until its lock wait limit ran out and bailed.",
        "Order updates in checkout stall then fail since 14:00, a long batch job is sitting on row locks in orders.",
        "A migration grabbed an exclusive lock on the accounts table and login writes queued behind it, erroring after waiting too long.",
    ),
    "deadlock": (
        "Two transactions each grabbed a lock the other needed, so the database picked one and rolled it back.",
        "Circular waiting between concurrent DB sessions forced the engine to kill one as the victim.",
        "Concurrent inventory reservations keep killing each other since the deploy, the db detects a cycle and aborts one.",
        "Refunds and captures in payments touch the same rows in opposite order and keep getting chosen as victims and rolled back.",
    ),
    "pool_exhausted": (
        "Borrowing from our app's own DB client pool waits then times out because every connection is checked out.",
        "All handles in the in-process datasource are busy; requesting another gives up before any frees.",
        "Since traffic spiked, checkout threads are stuck waiting for a database handle from HikariCP; all 10 are in use.",
        "Leaky code in the notifications worker never returns db connections, so after an hour every request waits for one and fails.",
    ),
    "too_many_connections": (
        "Database server refuses to open new sessions because it already reached its maximum client limit.",
        "No more logins are accepted by Postgres since every available backend slot is occupied.",
        "After scaling accounts to 50 replicas, the primary DB started rejecting new clients because its connection ceiling is hit.",
        "Runaway cron opened hundreds of sessions overnight and now MySQL turns away every new client; search and shipping both down.",
    ),
    "json_parse": (
        "Request body isn't well-formed JSON, so decoding it blows up.",
        "Deserializing the API response fails because the text is truncated and has unbalanced braces.",
        "Ever since the partner changed their API yesterday, shipping gets HTML error pages instead of JSON and can't read rate quotes.",
        "Frontend started sending a trailing comma in the cart payload after the 14:00 release; checkout can't decode it and rejects orders.",
    ),
    "out_of_memory": (
        "Process used up all its available RAM and got terminated for going over its memory cap.",
        "Heap space ran dry, so the runtime couldn't allocate another object and crashed.",
        "Every 20 minutes since the deploy the search pods restart, the kernel kills them for blowing past the container RAM limit.",
        "Huge CSV export in payments loaded everything into memory overnight and the JVM ran out of heap, job crashed.",
    ),
    "token_expired": (
        "Caller's JWT is past its expiry time, so the server treats the request as unauthenticated.",
        "Login session went stale and its access credential aged out, so calls get rejected as unauthorized.",
        "Users get kicked to the login page after an hour because frontend isn't refreshing access tokens before they lapse.",
        "At 02:00 the notifications service-to-service bearer credential lapsed and nobody rotated it; all calls to accounts bounce as unauthorized.",
    ),
    "permission_denied": (
        "User is logged in fine but lacks the role required to perform this action.",
        "Identity checks out, yet the account has no grant for that operation, so authorization refuses it.",
        "This morning's IAM policy change left inventory's service account unable to write to the S3 bucket, uploads rejected.",
        "Support staff can log in to accounts but get blocked issuing refunds; their role lost the refund privilege.",
    ),
    "rate_limited": (
        "We're sending more requests than our allowed quota, so the provider throttles and rejects calls.",
        "Upstream caps how often a client may call per minute, and we blew past that ceiling.",
        "SMS sends from notifications failing since the 09:00 marketing blast, the provider is capping us for exceeding our per-second allowance.",
        "Tax API calls from checkout getting throttled during peak; we burned through the daily quota by noon.",
    ),
    "disk_full": (
        "Writes fail because the volume has zero free capacity remaining.",
        "Filesystem is completely out of storage, so saving files or appending logs errors out.",
        "Overnight the payments Postgres host stopped taking writes, its data partition sits at 100% usage.",
        "Label generation in shipping broke since logs filled up the /var mount on the worker node; nothing can be saved.",
    ),
    "not_found": (
        "Fetching the record we asked for returns nothing because it doesn't exist.",
        "That ID isn't stored anywhere, so requesting the item comes back empty.",
        "Customers clicking old product links in frontend hit errors since the catalog cleanup; those SKUs were deleted from inventory.",
        "Cart loads in checkout use an id that was never saved in redis, so the cart can't be located and orders fail.",
    ),
    "null_reference": (
        "Code dereferenced a variable holding no value and crashed when touching a field on it.",
        "We accessed an attribute on an object that was None because nothing ever got assigned to it.",
        "Profile page in accounts crashes since the 14:00 deploy for users with no address, the code assumes it's always set.",
        "Shipping handler blows up when the carrier response lacks a tracking field, the JS reads a property off something undefined.",
    ),
}

# As many by a fifth writer, handed over the same way: held out for one measurement.
SECOND_SEALED: dict[str, tuple[str, ...]] = {
    "connection_refused": (
        "Nothing is listening on the target port, so the TCP connect gets rejected immediately.",
        "The other service's process is down, so every attempt to open a socket to it bounces instantly.",
        "checkout can't reach payments at all since the 14:00 deploy, calls bounce instantly, looks like it's pointed at the wrong port",
        "inventory pod crashed overnight and shipping's calls to it fail in milliseconds, no process on that host:port, orders stuck",
    ),
    "connection_reset": (
        "The remote side abruptly tore down an already open connection while we were midway through the request.",
        "Halfway through sending the response, the peer dropped the socket on us, so the write hits a dead stream.",
        "search calls to the index cluster keep getting cut off mid-request since the load balancer change, around 5% of queries failing",
        "Payments webhook uploads die partway through after the proxy upgrade at 09:30, upstream just hangs up on open connections",
    ),
    "dns_failure": (
        "The hostname can't be turned into an IP address, so lookups for that service name come back empty.",
        "Our resolver has no record for the upstream's domain, so we never even learn where to connect.",
        "notifications can't find the mail provider's host since someone edited the internal zone at 14:00, all emails queued",
        "After the cluster migration overnight, checkout fails looking up payments.internal, name lookups return nothing, every order failing",
    ),
    "tls_failure": (
        "The secure handshake breaks down because the server's certificate has lapsed or isn't signed by an authority we trust.",
        "Encrypted session setup fails since the cert presented covers a different hostname than the one we dialed.",
        "payments calls to the card processor started failing at midnight, looks like their cert expired, zero transactions going through",
        "Accounts can't talk to the identity provider since this morning's image bump, certificate chain not trusted by the new base image",
    ),
    "deadline_exceeded": (
        "We called a downstream service and gave up because it didn't reply within the allowed time budget.",
        "The remote RPC stayed silent past its cutoff, so the client abandoned the call while waiting for a response.",
        "checkout requests to inventory hang then fail after 5 seconds since the 14:00 deploy, cart page spinning for users",
        "Shipping quote calls never come back in time, gateway giving up on upstream overnight, labels not printing",
    ),
    "unique_violation": (
        "Inserting the row failed since another record already has that exact value in a column that must be distinct.",
        "We tried to create an entry whose primary key was taken, so the database rejected the second copy.",
        "accounts signup failing for people re-registering since the 11:30 rollout, their email already exists in the table so inserts bounce",
        "Overnight payment retries double-submitted the same order id, insert rejected because that id is already stored, refunds stuck",
    ),
    "foreign_key_violation": (
        "The row points at a parent record that doesn't exist, so the referential constraint blocks the insert.",
        "Deleting the customer is blocked because child order rows still reference it.",
        "shipping can't save shipments since the 14:00 deploy, they reference order ids the orders table doesn't have",
        "inventory cleanup job failed overnight removing old products that are still linked from existing order line items, nothing got deleted",
    ),
    "statement_timeout": (
        "The database killed our query because it ran past the server's maximum allowed execution time per statement.",
        "A slow SQL report got cancelled by Postgres after exceeding the configured limit on how long one query may run.",
        "search reindex queries getting cancelled by the db after 30 seconds since an index was dropped at 14:00, results stale",
        "Monthly payments reconciliation report aborted by the database overnight, the big query ran too long and was cancelled server-side",
    ),
    "lock_timeout": (
        "Our update sat waiting for a row lock another transaction was holding and eventually gave up.",
        "The ALTER couldn't acquire the table lock in time because a long-running session kept it, so it aborted.",
        "inventory stock updates failing after waiting on rows held by the nightly batch job, blocked transactions giving up since 02:00",
        "Checkout migration at 14:00 sat queued behind an open transaction holding the orders table and gave up waiting for it",
    ),
    "deadlock": (
        "Two transactions each held a lock the other wanted, so the database picked one as victim and rolled it back.",
        "Concurrent writers grabbed rows in opposite order, creating a circular wait the engine broke by aborting one.",
        "payments and refunds jobs update the same accounts in reverse order since Tuesday's release, db kills one of them every cycle",
        "inventory reservations randomly rolled back under load overnight, two concurrent transfers stuck waiting on each other's rows",
    ),
    "pool_exhausted": (
        "Every connection in the app's client-side pool is checked out, so borrowing one times out.",
        "Our service leaked database handles, so threads wait for an idle one from the local pool and give up.",
        "checkout threads all blocked trying to borrow a db connection from hikari since the 14:00 deploy, pool max is only 10",
        "Accounts leaking connections overnight, every handle in the app pool is in use and new requests time out acquiring one",
    ),
    "too_many_connections": (
        "The database server turns away new sessions because it has already hit its configured client limit.",
        "Postgres won't accept another login since max_connections is used up across all our services.",
        "after scaling notifications to 40 replicas at 14:00, the shared db started rejecting new logins, server says it's at session capacity",
        "Overnight batch opened hundreds of sessions and the database now turns away every new client, search and accounts both down",
    ),
    "json_parse": (
        "The request body isn't well-formed JSON, so deserializing it fails on a stray character.",
        "We received a truncated payload with an unclosed brace, and the decoder couldn't read it as an object.",
        "shipping carrier API started returning HTML error pages instead of the expected body since 14:00, our decoder chokes, no tracking updates",
        "frontend sending malformed request bodies after last night's release, trailing commas break decoding in checkout, orders failing",
    ),
    "out_of_memory": (
        "The worker used up all its available RAM and the allocator couldn't give it any more.",
        "The container went over its memory cap and the kernel killed the process.",
        "search pods keep getting killed and restarting since the 14:00 deploy, heap grows until they blow through the limit",
        "Image resize worker in notifications died overnight loading huge attachments, ran out of RAM, emails missing thumbnails",
    ),
    "token_expired": (
        "The user's bearer credential is past its validity window, so the API treats the call as unauthenticated.",
        "Session JWTs outlived their lifetime and nobody refreshed them, so requests get bounced as unauthorized.",
        "mobile users logged out mid-checkout since 14:00, access tokens aren't getting refreshed and die after an hour",
        "Notifications worker's credential for the push provider lapsed overnight, every send rejected as unauthorized",
    ),
    "permission_denied": (
        "The caller is logged in fine but lacks the role needed to perform that action.",
        "Our database user doesn't hold the grant to write to that table, so the operation is forbidden.",
        "support agents can sign in but get blocked editing refunds in payments after this morning's role change, missing admin privilege",
        "inventory's service account lost write access to the storage bucket overnight, uploads rejected even though auth succeeds",
    ),
    "rate_limited": (
        "We're sending requests faster than the provider allows, so they throttle us and reject the excess.",
        "Our API quota for the hour is used up, and further calls are turned away until it resets.",
        "notifications hammering the SMS vendor since the 14:00 campaign started, vendor throttling us, half the texts not sent",
        "Search crawler overnight burned through the geocoding allowance, shipping address lookups now rejected for exceeding quota",
    ),
    "disk_full": (
        "The volume has zero free space left, so any file write fails.",
        "Logs filled the whole partition, and now the database can't append to its data files.",
        "shipping label generation failing since 03:00, /var on the node is at 100% usage and nothing can be saved",
        "Payments database stopped accepting writes after the WAL ballooned at 14:00, storage completely used up on the primary",
    ),
    "not_found": (
        "The record we asked for doesn't exist; the lookup by that ID returns nothing.",
        "Fetching the key from the store fails since no such item was ever created or it got removed.",
        "frontend product pages showing missing item errors after the catalog import at noon, those SKUs just aren't in inventory anymore",
        "Accounts lookups for users deleted overnight come back empty, profile page broken for those customers",
    ),
    "null_reference": (
        "The code dereferenced a variable that was never set, so accessing a field on it crashed.",
        "A function returned None and we called an attribute on that missing value.",
        "checkout crashing when customers have no saved address after today's deploy, code reads a field on an empty object",
        "Frontend rendering blows up overnight when the promo response omits the discount field and the code uses it anyway",
    ),
}

# Two paraphrases and two incidents per class by a sixth writer given only the definitions, who
# handed over the file without showing its text: measured once as the held-out half (2026-12-02,
# docs/embeddings.md), tuned on since.
THIRD_SEALED: dict[str, tuple[str, ...]] = {
    "connection_refused": (
        "Nothing is listening on the host and port we dial, so the TCP attempt gets rejected instantly.",
        "Our client's socket open bounces right away because the target process isn't running or we picked the wrong port.",
        "checkout can't reach payments at all since the 14:00 deploy, calls bounce immediately, probably pointed at the wrong port",
        "inventory pod died overnight and anything hitting it fails instantly, nobody bound on 8080, orders stuck",
    ),
    "connection_reset": (
        "Halfway through a request, the remote side abruptly tears down a socket that was already open.",
        "An established session gets killed unexpectedly by the server mid-exchange, leaving our in-flight write with nowhere to go.",
        "shipping calls to the carrier API keep getting cut off mid-request since the load balancer change, partial responses everywhere",
        "overnight postgres kept slamming live sessions shut during long reports, search indexing jobs died halfway through",
    ),
    "dns_failure": (
        "Name lookup fails: the server's hostname can't be turned into an IP address.",
        "Our resolver returns no address record for the domain we're trying to reach.",
        "after the CoreDNS rollout notifications can't find smtp.mailer.internal anymore, emails piling up in the queue",
        "around 03:00 payments lost the ability to look up the bank gateway's domain, every charge failing before even opening a socket",
    ),
    "tls_failure": (
        "Secure handshake breaks because the server's certificate is out of date or issued by an authority we don't trust.",
        "Encrypted session setup aborts since the cert presented doesn't match the hostname we dialed.",
        "accounts calls to the identity provider started failing at midnight, looks like their cert lapsed and nobody renewed it",
        "since the 14:00 deploy the new base image lacks our internal CA bundle, so checkout can't verify the payments endpoint",
    ),
    "deadline_exceeded": (
        "A downstream call never replied before our client-side time budget ran out, so we stopped waiting.",
        "Requests to the other microservice hang until the allotted wait elapses with no answer returned.",
        "frontend showing spinners then errors, search takes way over 5 seconds to answer and callers give up on it",
        "checkout requests to payments hang and get cut off after 30s since the 14:00 deploy, no reply ever arrives",
    ),
    "unique_violation": (
        "Insert fails because another row already holds that same value in a column that must be distinct.",
        "Adding a record whose identifier already exists in the table gets rejected by the one-per-value rule on that column.",
        "accounts signup blows up for people re-registering with the same email, the users table already has that address",
        "retry storm overnight made payments write the same idempotency id twice, the second insert bounced by the constraint",
    ),
    "foreign_key_violation": (
        "A row points at a parent record that isn't there, so the referential constraint blocks the write.",
        "Removing a parent entry is rejected because dependent rows in another table still reference it.",
        "inventory cleanup job can't remove discontinued products since order line items still point to them, failing since midnight",
        "shipping creates shipments for order ids that were never committed to the orders table, inserts rejected since the 14:00 deploy",
    ),
    "statement_timeout": (
        "Our query got killed by the database because it ran past the maximum execution time allowed per SQL command.",
        "Postgres cancelled a slow SELECT after it exceeded the configured limit on how long one query may run.",
        "search's reporting query got slow after someone dropped an index and the DB now aborts it at 30s, dashboards empty",
        "ever since the overnight data migration the inventory full-table scan hits the server-side execution cap and gets cancelled",
    ),
    "lock_timeout": (
        "An UPDATE gave up waiting because another transaction held the row lock it needed for too long.",
        "Acquiring a table lock didn't succeed within the allowed wait since a different session kept holding it.",
        "a long-running migration has held the orders table lock since 14:00, checkout writes queue behind it and bail out",
        "someone left an idle-in-transaction session open on inventory rows, stock updates stall then give up waiting for the lock",
    ),
    "deadlock": (
        "Two transactions each grabbed a lock the other one needed, so the database killed one to break the cycle.",
        "Concurrent writers ended up in a circular wait; the DB picked a victim transaction and rolled it back.",
        "payments and refunds jobs update the same account rows in opposite order, postgres keeps aborting one of them as victim",
        "since the batch reorder change inventory reservations randomly roll back because two workers block each other in a cycle",
    ),
    "pool_exhausted": (
        "All handles in the app's own database pool are checked out, so borrowing one waits and then times out.",
        "Every link in our client-side pool is busy, and requests can't obtain a free one in time.",
        "checkout threads are all stuck waiting on Hikari for a db handle, all 10 leased, while the DB itself looks idle",
        "a leak since the 14:00 deploy never returns handles to the accounts pool, after an hour nothing can get a connection",
    ),
    "too_many_connections": (
        "New sessions are rejected by the database server because it already reached its configured cap on client connections.",
        "Postgres won't accept any more logins since all of its max_connections slots are used up.",
        "after scaling notifications to 40 replicas the database ran out of session slots and started turning away new logins",
        "MySQL hit its server-wide client ceiling overnight, new app instances can't open a session, even admins can't log in",
    ),
    "json_parse": (
        "Incoming body isn't well-formed JSON, so deserializing it fails.",
        "Decoding the response blows up on a stray character or truncated object, so it's not syntactically valid JSON.",
        "shipping carrier webhook started sending HTML error pages instead of JSON, our parser chokes on every callback",
        "since the 14:00 deploy frontend posts bodies with trailing commas and checkout can't decode them, cart submits failing",
    ),
    "out_of_memory": (
        "RAM ran out for the process and the allocator couldn't hand out any more.",
        "A container got killed by the kernel after going over its memory limit.",
        "search indexer pods keep restarting every few minutes overnight, heap climbs to the ceiling then they get killed",
        "payments JVM exhausts its heap since the 14:00 deploy when loading the big export, requests dropping during GC thrash",
    ),
    "token_expired": (
        "Past its lifetime, the auth token no longer counts, so the API treats the caller as logged out.",
        "Requests get rejected because the JWT's exp claim lies in the past and nobody refreshed it.",
        "users getting bounced to the login page after about an hour, frontend session refresh logic broke in the 14:00 deploy",
        "notifications worker's service credentials went stale overnight, every call to accounts comes back unauthorized",
    ),
    "permission_denied": (
        "Logged in fine, the user still lacks the role needed to perform this action.",
        "An authenticated caller attempted an operation their account has no privileges for, so authorization rejects it.",
        "after the IAM policy change support agents can't issue refunds in payments anymore, they're signed in but blocked",
        "new db user for the inventory service lacks insert grant on the stock table after the migration, writes rejected",
    ),
    "rate_limited": (
        "We're sending too many requests per second and the provider is throttling us back.",
        "Calls get rejected since we've used up the API quota allotted for this window.",
        "notifications bulk send overnight blew through the SMS provider's per-minute cap, most messages bounced with slow-down replies",
        "frontend retry loop since 14:00 is hammering search and the API gateway started throttling everyone",
    ),
    "disk_full": (
        "Writes fail because the volume has zero free space left on it.",
        "Completely out of room, the filesystem can't accept saved files or appended logs.",
        "postgres data volume hit 100% overnight, inventory writes failing and WAL segments can't be written",
        "shipping label service can't save PDFs since log rotation broke, /var is packed solid",
    ),
    "not_found": (
        "Lookup returns nothing because the record we asked for simply doesn't exist.",
        "Fetching an item by an ID that isn't in the store fails since there's no such entry.",
        "customers clicking old product links get an error page, inventory has no such SKU after the catalog cleanup",
        "checkout looks up cart ids that were purged by the overnight TTL job, lookups come back empty and orders fail",
    ),
    "null_reference": (
        "Code dereferenced a variable that held no object, crashing when it accessed a field.",
        "A function received a nil value instead of an instance and then called a method on it.",
        "accounts profile page crashing since 14:00 for users without a middle name, code reads a field off an unset value",
        "checkout throws when the shipping address is missing, the code assumes it's always populated and blows up touching it",
    ),
}

# The held-out queries: two paraphrases and two incidents per class by a seventh writer, then as
# many by an eighth, each given only the definitions, who handed over the file without showing
# its text (2026-12-02, a later session). Nobody tuning the search has read them; keep it so (the
# benchmark never prints them).
SEALED: dict[str, tuple[str, ...]] = {
    "connection_refused": (
        "nothing is listening on the port I try to reach, the client gets turned away instantly the moment it opens a socket to the service",
        "app cannot even connect to backend at startup, the other host answers right away that no process is there on that port",
        "checkout pods crashlooping after the 14:05 deploy; every attempt to open a socket to payments on 10.2.3.7:8443 bounces back instantly, looks like payments isn't listening at all",
        "Since the inventory DB host rebooted at 03:10 the inventory service gets rejected immediately when opening connections on port 5432 - seems postgres never came back up on it",
        "client cannot connect at all, nobody is listening on that port of the target machine so the attempt is turned away instantly",
        "why does my app fail right away when opening a socket to the backend, like knocking on the door of an empty house?",
        "Since 14:05 checkout pods cannot reach payments on 10.2.3.4:8443, nothing is listening there; the payments deploy crashed before it bound its port.",
        "after release 3.8.1 the frontend shows an error page because the inventory process never started on host inv-03, every connect attempt bounces back instantly, no waiting",
    ),
    "connection_reset": (
        "connection was working fine then the remote side just slammed it shut halfway through sending the response",
        "peer abruptly cut off an already open socket mid-request, reading the reply the stream is suddenly torn down without a proper close",
        "Around 11:40 frontend started showing intermittent blank cart pages; logs show calls to checkout dropped mid-response by the other end after the load balancer swap to new vendor",
        "shipping label requests to carrier API getting cut partway - connection was open, some bytes came back, then the far side killed it. ~5% of calls since release 2.14",
        "the server hangs up on us halfway through sending the response, the peer drops the socket without a clean close",
        "in the middle of a request the other side abruptly kills the tcp link, we receive a partial body and then the stream just dies",
        "Shipping calls to the carrier vendor are dying mid-transfer since 09:40: the link opens fine, then the remote end cuts it while we stream the label PDF.",
        "payments to bank gateway: about 3% of authorizations drop mid-flight, the load balancer kills idle keepalive sockets after 60s; lowering our client idle timeout fixed it",
    ),
    "dns_failure": (
        "my service can't turn the database hostname into an IP address, the lookup returns nothing for that name",
        "server name is unknown for the resolver, so client never even gets some address to connect, it stops before any connection attempt",
        "after the VPC change at 09:20 payments cannot look up api.cardvendor.example - name lookups come back empty, no IP at all, all card charges stuck",
        "notifications workers on ip-10-0-4-12 can't find the address for smtp.mailvendor.net, the name maps to nothing from inside the cluster since the nameserver config push",
        "the service cannot turn the hostname into an ip address, the lookup for the internal name comes back empty",
        "why can my container not find the address for db.internal although the same name works from my laptop? the resolver seems broken",
        "From 02:10 UTC notifications workers cannot look up smtp.vendor-mail.com; the cluster name server gives no answer, so no emails are going out.",
        "after moving search to the new VPC the frontend could not find search.svc.local, the cluster resolver pods were crashlooping; restarting them fixed name lookups",
    ),
    "tls_failure": (
        "secure handshake with the remote server fails because its certificate is not trusted or has run past its validity date",
        "encrypted connection can't be set up, the cert presented by the host doesn't match the hostname I am connecting to",
        "From 00:00 UTC checkout can't talk to payments: the cert on payments-gw expired overnight and clients abort during the encrypted handshake before any request is sent",
        "search cluster moved behind the new proxy, now frontend calls fail while negotiating the secure channel because the proxy presents a self-signed certificate our client does not trust",
        "secure handshake fails because our client does not trust the server certificate, so the encrypted channel never gets set up",
        "the https call aborts before any data is sent: the certificate hostname does not match the domain we are calling and verification rejects it",
        "Payments to the acquirer broke at midnight: their certificate expired at 00:00 UTC and our client will not complete the encrypted handshake with them.",
        "accounts service cannot talk to the identity vendor after they rotated to a new intermediate CA that was missing from our trust store; we added the chain and redeployed",
    ),
    "deadline_exceeded": (
        "call to a downstream service gave up because the reply didn't arrive before the time budget I set for it ran out",
        "rpc to other microservice just hangs and then client stops waiting, no answer inside the allowed time window",
        "checkout -> inventory reservation calls taking over 2s since 16:30; the client abandons them at the configured 2s limit and orders sit at 'reserving stock'",
        "users report the search box spinning forever. search waits on the ranking backend, nothing comes back within its 500ms budget so requests get abandoned. started after release r482",
        "the call to a downstream service just waits with no answer until our time budget runs out and the client gives up",
        "rpc to another microservice takes longer than the allowed two seconds so the caller abandons it, no reply ever arrived",
        "Checkout spins for 5s then fails: calls from checkout to inventory get no reply within the configured time budget since the 16:20 release.",
        "shipping rate quotes from the carrier API are not coming back before our 3s cutoff, customers see 'try again later' at the delivery step; vendor says their side is degraded",
    ),
    "unique_violation": (
        "insert fails because a row with that exact same key value is already in the table, e.g. a second user signing up with the same email",
        "cannot save the record, the database says an entry with this identifier already exists and it must be one-of-a-kind",
        "accounts signup erroring for some users since 10:15: insert into users table rejected because an account with that email is already there - probably double-submit on retry",
        "payments webhook handler failing on replays: the idempotency_key row is already present in payment_events, so the second insert is rejected and the queue is backing up",
        "inserting a row fails because another row already holds the same value in a column that must be distinct",
        "why does saving a new user break when that email is already registered? the second insert is blocked by the index on that column",
        "Accounts signups failing for some customers: the users table already has a row with the same email in different casing, so the new insert is blocked.",
        "checkout retried order creation after a timeout and the second write collided with the order_number that was already stored; we made the insert idempotent with an upsert",
    ),
    "foreign_key_violation": (
        "insert fails because the new row points to a parent id that does not exist in the other table",
        "can't remove a record since child rows in another table still refer to it, the database blocks the delete",
        "inventory cleanup job at 02:00 could not delete old products because order_items rows still reference them; job aborted halfway through",
        "shipping can't create shipment rows - the order_id they link to isn't in the orders table yet (replication lag from checkout?), every insert gets rejected for the missing parent order",
        "cannot insert a child row because the parent record it points to does not exist in the other table",
        "deleting a customer is blocked because orders still point to it, the database protects the link between the two tables",
        "Inventory import job aborted at 03:00: the stock rows point to warehouse ids that were never created in the warehouses table.",
        "Support tried to remove merchant Acme Ltd from the payments admin and it failed because transactions still link to that merchant; we probably need soft delete instead.",
    ),
    "statement_timeout": (
        "the database killed my long-running query because it went past the maximum execution time allowed for a single query",
        "report sql gets cancelled by the db server after running too long, server side limit on how long one command may run",
        "search reindex batch keeps getting cancelled by postgres after 30s - the big SELECT over products just runs too long and the server aborts it, no blocking involved, just a slow plan",
        "Accounts admin export broken since 13:00: the query over audit_log runs longer than the per-query cap configured on the db role, so the db cancels it every single time",
        "the database killed my query because it ran longer than the maximum execution time configured for a single statement",
        "long report select gets aborted by postgres after 30 seconds, there is a server side cap on how long one query may run",
        "search reindex query on the products table now runs past the 60s cap and the DB server kills it mid-run; an index went missing in migration 212.",
        "Since Tuesday's release the shipping dashboard fails: the monthly aggregate query is stopped by the database once it exceeds the per-query time allowance set for the app role.",
    ),
    "lock_timeout": (
        "update gave up after being blocked too long behind another open transaction that is holding the same row",
        "my transaction waits to get exclusive access on a table, after some seconds it aborts because the other session never releases it",
        "inventory stock updates failing since 15:20: a long migration holds stock_levels and our UPDATEs give up after waiting 5s for their turn",
        "checkout orders can't be written, the order rows are held by a stuck batch job transaction; our writes wait then bail out. killed the batch pid at 08:47, recovered",
        "my update gave up because another transaction kept the row locked too long and the allowed waiting time passed",
        "transaction waits on a table that a migration has locked, then quits after the configured wait period, there is no cycle, just a long holder",
        "Inventory stock decrements failing at 11:15: a long batch job held locks on the stock rows and checkout's updates stopped waiting after 5 seconds.",
        "During the ALTER TABLE on payments.transactions all payment writes queued behind the table lock and abandoned after the wait limit; migrations will run off-peak from now on.",
    ),
    "deadlock": (
        "two transactions each waiting on rows the other one already holds, so the database picks one as victim and aborts it",
        "circular wait between concurrent db updates, server kills one of them so that the other can continue",
        "payments: ~20 txns/min aborted since 12:10 - two workers update accounts_balance and ledger in opposite order, each blocks the other and the db kills one as victim",
        "inventory reserve and release jobs collide on the same SKUs, db detects they wait for each other in a cycle and rolls one back. happening since release 3.2",
        "two transactions each hold a row the other one needs, they block each other in a circle and the database kills one of them",
        "like two cars on a narrow bridge, both refusing to back up; the db picks a victim transaction and rolls it back",
        "checkout and inventory update orders and stock rows in opposite order, under load one transaction is chosen as victim and aborted. Fix: always lock rows in ascending id order.",
        "Around 18:00 the payments refunds job and the capture worker kept blocking each other in a cycle, and the database aborted one of the two every few minutes.",
    ),
    "pool_exhausted": (
        "all connections in my app's client-side set are checked out and a request cannot borrow one before its wait time runs out",
        "every db handle our service keeps is busy, new requests queue waiting to borrow one and give up - the database itself has plenty of room",
        "checkout latency spiked at 18:00; HikariCP shows 10/10 active and 200 threads waiting to get a connection while db server has lots of free slots. leak in new coupon code?",
        "accounts service: requests hang then fail waiting to obtain a db connection from our local set of 20, all busy with slow calls. postgres side only shows 20 sessions",
        "every connection in our application's client side pool is checked out and requests wait for a free one until they give up",
        "the app's own set of db handles has none left because a code path borrows them and never gives them back",
        "Accounts API latency spike at 10:30: all 20 of its pooled DB connections were busy and new requests timed out waiting to borrow one, while the DB itself was idle.",
        "notifications service leaked connections in an error path that never closed them, so after an hour its local pool was empty and all sends stalled",
    ),
    "too_many_connections": (
        "the database server won't accept a new session because it already has its maximum number of clients connected",
        "db server turns away new logins since its global client limit is hit, all the slots taken by other applications",
        "after scaling notifications to 60 replicas at 10:30 mysql started rejecting new logins from everyone - server-wide session ceiling reached, inventory also can't get in",
        "Postgres on db-prod-2 at its session ceiling, payments and shipping can't open any new sessions since 07:55; the new deploy bypassed pgbouncer and opened hundreds directly",
        "the database server itself turns away new sessions because it already reached its maximum allowed number of clients",
        "postgres won't accept another login since all server slots are taken by other apps, even though my own pool is small and mostly idle",
        "After scaling checkout to 60 pods with 10 sessions each, the shared database reached its server-wide session ceiling and new logins were turned away.",
        "inventory and search share one MySQL instance; during the sale the server's session cap was hit and search could not log in at all, we added a proxy pooler in front",
    ),
    "json_parse": (
        "response body is not valid json, the parser chokes on an unexpected character at the very start, looks like html came back instead",
        "couldn't decode the request payload, body is cut off midway so the object never closes",
        "frontend cart widget broken since 14:20: checkout API returns a truncated body and the browser can't decode it into an object; users just see 'something went wrong'",
        "notifications consumer choking on messages from shipping - payload has trailing commas and single quotes so the decoder rejects it. began after shipping v5.1 release",
        "the response body is not valid structured data, the decoder chokes on an unexpected character right at the beginning",
        "why does deserializing the api reply blow up? the body was cut off halfway and the closing brace is missing",
        "Frontend cart page broken since 13:00: the checkout endpoint sometimes returns an HTML maintenance page and the browser code fails to decode it into an object.",
        "shipping webhook from the carrier vendor has trailing commas and single quotes in the body, our handler cannot deserialize it and drops the tracking updates",
    ),
    "out_of_memory": (
        "process ran out of RAM and got killed by the kernel, then the container restarts",
        "heap keeps growing until runtime cannot allocate anything more and the app crashes",
        "search indexer pods killed by the kernel every ~40min since the 2.8 rollout, memory climbs to the 2Gi limit then container restarts",
        "payments worker on host pay-03 crashed at 04:12, could not grab more memory while loading the whole settlement file into RAM; box had nothing free",
        "the process keeps growing in RAM until the kernel kills it and the container restarts",
        "heap grows without bound when the program loads the whole file into one list, eventually allocation fails and it crashes",
        "Search indexer pods restarted 14 times overnight; memory climbed past the 2Gi container limit and the kernel killed them each time.",
        "After release 5.2 the inventory service loads the full catalog into a cache, the JVM could not grab any more heap and died on host inv-07.",
    ),
    "token_expired": (
        "my bearer token is past its validity time so the api treats me as not logged in anymore",
        "session credential lapsed after one hour, calls start being unauthorized until I fetch a fresh one",
        "users being logged out mid-checkout: access tokens issued by accounts lapse after 15 min and the refresh flow has not worked since release 7.3",
        "notifications cron calls payments with a service credential that went stale at midnight UTC, all calls rejected as unauthenticated since then. need to rotate",
        "my login session credential went stale after an hour and now the api says i am not signed in anymore",
        "access token lifetime passed and the client never refreshed it, so every call is rejected as if we were not logged in",
        "Mobile users get logged out mid-checkout: their bearer credential lapses after 15 minutes and the refresh flow in accounts fails, so payments calls are rejected.",
        "Notifications worker stopped sending at 00:00 because the vendor OAuth credential we use had a validity window that ended and nobody renewed it.",
    ),
    "permission_denied": (
        "logged in fine, but the server says my account is not allowed to do this action on that resource",
        "identity is valid but the role lacks rights to touch the bucket, so access is blocked",
        "support here: merchants with the viewer role can log in ok but any refund attempt in the payments dashboard is blocked saying they lack rights. started after the IAM policy change",
        "shipping service account can read but not write the labels S3 bucket since 09:00 - authenticates fine, policy just does not grant put. labels not generated",
        "user is logged in correctly but their role is not allowed to perform this action on the resource",
        "service account authenticates fine yet cannot read the bucket, it is missing the grant for that object",
        "Support agents can sign in to the accounts admin, but clicking 'issue refund' says they lack rights; the payments role mapping was dropped in yesterday's release.",
        "inventory export job signs in to the storage bucket successfully but is not allowed to write to the reports folder after the policy change at 09:00",
    ),
    "rate_limited": (
        "api keeps rejecting my calls because I send too many per second, it tells me to slow down and retry later",
        "hit the vendor's request quota for the day, every further call is throttled",
        "checkout address validation calls to vendor throttled from 12:00 - we exceeded our per-minute allowance after the promo email and they tell us to back off",
        "search autocomplete rejected by upstream API after ~1000 requests/min; quota hit, frontend shows no suggestions. need batching or caching",
        "the api starts rejecting our calls because we send too many per second and went over the allowed quota",
        "vendor throttles us after a burst of requests and tells us to retry after some seconds, we need backoff",
        "Shipping label creation failing at peak: the carrier vendor is throttling us since we exceeded 100 calls per minute allowed on our plan.",
        "search autocomplete in the frontend fires one request per keystroke and the search gateway started rejecting our client as too chatty; adding debounce fixed it",
    ),
    "disk_full": (
        "write fails because the volume has zero bytes free left on it",
        "can't save the file, storage device is completely out of space, log partition sitting at 100%",
        "inventory postgres stopped accepting writes at 02:30 - /var/lib/postgresql volume at 100% from WAL buildup, every insert errors out",
        "notifications host notif-2 can't write its logs or spool files, no room left at all on /data; emails not sent since 6am",
        "a write to the volume fails because there is no free space remaining on the storage device",
        "logs filled the whole partition, now the database cannot write any new files and crashes",
        "Payments DB on host db-02 stopped accepting writes at 04:12 because /var/lib/postgresql reached 100% usage from WAL that was never archived.",
        "notifications queue broker halted: its data volume had zero bytes free after a week of undelivered messages piled up; we expanded the EBS volume",
    ),
    "not_found": (
        "the thing I'm asking for isn't there - no record with that id, or the url path doesn't exist on the server",
        "lookup returns nothing because the item was deleted or never existed in first place",
        "customers clicking order links from emails land on a 'page does not exist' screen; frontend route /orders/:id was removed in release 9.0 but notifications still send old links",
        "shipping calls to inventory for SKU 88121 say no such product exists; that SKU was deleted by the catalog sync last night",
        "the requested record does not exist, the lookup by id returns nothing and the endpoint says there is no such thing",
        "calling a url path the router does not know about, that route was removed in the new version",
        "Customers clicking old order links in emails land on a 'page does not exist' screen; the frontend routes for /orders/legacy were removed in release 7.0.",
        "checkout asks inventory for SKU AB-123 and is told there is no such item; it was archived yesterday but still sits in saved carts",
    ),
    "null_reference": (
        "code tries to call a method on a variable that is empty because it was never assigned anything",
        "accessing a field on a value that is missing, nothing was set there, and the function crashes",
        "checkout crashing for guests since 17:05 - code assumes user.address is always set and dereferences it, but guest carts have no address object",
        "accounts profile page blank: backend handler uses the preferences object without checking it exists; for old accounts it is nil and the request blows up",
        "code tries to call a method on a variable that holds nothing because the object was never set",
        "why does my handler crash when the optional address field is absent and we access its street on an empty value?",
        "Checkout crashes for guest users since 12:30: the code dereferences the customer profile, which is empty for guests, and the whole request blows up.",
        "Shipping label worker dies when an order has no carrier assigned; the field comes back as nil and the code calls methods on it without checking",
    ),
}


DEVELOPMENT_STYLES = ("search box", "postmortem", "ticket", "support", "question", "page")
SEALED_STYLES = ("paraphrase", "paraphrase", "incident", "incident")


def queries() -> list[Query]:
    """Every query of every class with its half: the sealed ones held out, the others tuned on."""
    found = []
    for failure_class in CLASSES:
        name = failure_class.name
        tuned = [("paraphrase", failure_class.paraphrase), ("incident", failure_class.incident),
                 *zip(("paraphrase", "incident"), INDEPENDENT[name], strict=True),
                 *zip(DEVELOPMENT_STYLES, DEVELOPMENT[name], strict=True),
                 *zip(SEALED_STYLES, FIRST_SEALED[name], strict=True),
                 *zip(SEALED_STYLES, SECOND_SEALED[name], strict=True),
                 *zip(SEALED_STYLES, THIRD_SEALED[name], strict=True)]
        found += [Query(text, name, style, "tuning") for style, text in tuned]
        found += [Query(text, name, style, "held-out")
                  for style, text in zip(SEALED_STYLES * 2, SEALED[name], strict=True)]
    return found


def failures() -> list[tuple[str, Failure]]:
    """Every failure with its class name."""
    return [(failure_class.name, failure) for failure_class in CLASSES for failure in failure_class.failures]


CLASS_ATTRIBUTE = "corpus.class"  # each record's class, outside the shape text: how results are scored
OK_CLASS = "ok"


def export_corpus(settings: Any, classes: tuple[FailureClass, ...] = CLASSES,
                  ok_operations: tuple[tuple[str, str, dict[str, Any]], ...] = OK_OPERATIONS,
                  ok_logs: tuple[str, ...] = OK_LOGS) -> None:
    """Export the spans and log records of ``classes`` and of the successes through the real
    exporters, each record tagged with its class in :data:`CLASS_ATTRIBUTE`."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from opentelemetry_exporter_pgvector import PgvectorLogExporter, PgvectorSpanExporter

    spans, records = InMemorySpanExporter(), InMemoryLogRecordExporter()
    tracers, loggers = {}, {}
    for service in SERVICES:
        resource = Resource.create({"service.name": service})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        tracers[service] = tracer_provider.get_tracer("search_corpus")
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
        loggers[service] = logger_provider.get_logger("search_corpus")

    def log(service: str, body: str, severity: str, tag: str) -> None:
        from opentelemetry._logs import SeverityNumber

        loggers[service].emit(body=body, severity_number=SeverityNumber[severity], severity_text=severity,
                              attributes={CLASS_ATTRIBUTE: tag})

    for number, (name, failure) in enumerate((c.name, f) for c in classes for f in c.failures):
        span = tracers[failure.service].start_span(
            failure.name, kind=SpanKind[failure.kind], attributes={**failure.attributes, CLASS_ATTRIBUTE: name})
        span.add_event("exception", {"exception.type": failure.exception_type,
                                     "exception.message": failure.message})
        # web frameworks often repeat the exception as the status message; others leave it empty
        span.set_status(Status(StatusCode.ERROR, failure.message if number % 2 else None))
        span.end()
        log(failure.service, failure.log, failure.severity, name)
    for operation, kind, attributes in ok_operations:
        for service in SERVICES:
            span = tracers[service].start_span(operation, kind=SpanKind[kind],
                                               attributes={**attributes, CLASS_ATTRIBUTE: OK_CLASS})
            span.set_status(Status(StatusCode.OK))
            span.end()
    for number, template in enumerate(ok_logs):
        for offset, service in enumerate(SERVICES):
            log(service, template.format(n=number * 7 + offset + 2), "INFO", OK_CLASS)

    span_exporter = PgvectorSpanExporter(settings)
    try:
        assert span_exporter.export(spans.get_finished_spans()).name == "SUCCESS"
    finally:
        span_exporter.shutdown()
    log_exporter = PgvectorLogExporter(settings)
    try:
        assert log_exporter.export(records.get_finished_logs()).name == "SUCCESS"
    finally:
        log_exporter.shutdown()


def precision_at_3(ranked: list[str], expected: str) -> float:
    """The share of the first three results that are of the expected class (fewer count as misses)."""
    return sum(found == expected for found in ranked[:3]) / 3


def reciprocal_rank_at_10(ranked: list[str], expected: str) -> float:
    """1/rank of the first result of the expected class within the first ten, else 0."""
    return next((1 / rank for rank, found in enumerate(ranked[:10], 1) if found == expected), 0.0)
