"""What well-known failures mean, in plain words: the glosses a shape text starts with.

The model that embeds shape texts has read a lot of English and little of ``ECONNRESET``,
``40P01`` or ``E11000``, and people search in English ("two writers blocked each other"),
not in error codes. So a shape whose exception, message or status code names a well-known
failure gets that failure's standard meaning (the errno, SQLSTATE, gRPC and HTTP catalogs'
descriptions, and the way the common drivers and frameworks word them) in front of its text;
the embedding and the full-text index then see words a person would use. Measured on the
corpus of near-neighbour failures in ``tests/search_corpus.py`` (docs/benchmarks.md).

A gloss says what a failure *is*, so near neighbours stay apart: a refused connection, a reset
one, a failed name lookup and a failed TLS handshake each get their own words, as do a unique
and a foreign-key violation, a statement timeout, a lock wait timeout and a deadlock.

Only the standard library: this runs when a new shape is built on the export path (a cache
miss), never per span.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Gloss(NamedTuple):
    """A failure's ``meaning``, the ``pattern`` (case-insensitive) of the texts that name it, and
    ``symptoms``: how people describe it when they do not name it ("two writers blocked each
    other"), by which a search recognizes the failure a question is about (``query/concepts.py``).

    A meaning holds no ``": "``: a log shape's text is ``gloss | service SEVERITY: body``, and
    log patterns are read after its first ``": "`` (``query/logs.py``).
    """

    meaning: str
    pattern: re.Pattern[str]
    symptoms: tuple[str, ...]


def _gloss(meaning: str, alternatives: tuple[str, ...], symptoms: tuple[str, ...]) -> Gloss:
    return Gloss(meaning, re.compile("|".join(alternatives), re.IGNORECASE), symptoms)


# In priority order where one text names two failures (a deadlock is reported through a lock
# exception; a statement cancelled for a lock timeout says "canceling statement"): the more
# specific first, and only the first applies. Two meanings per text were measured too: no
# better on the corpus's tuning half, and longer texts to encode.
GLOSSARY: tuple[Gloss, ...] = (
    _gloss("deadlock (two transactions each wait for a lock the other holds, one is aborted)",
           (r"deadlock", r"\b40P01\b"),
           (
               "two transactions blocked each other and the database aborted one of them",
               "a circular wait: each writer holds a lock the other one needs",
               "concurrent updates of the same rows in opposite order kill one of the transactions",
               "the transaction was chosen as the deadlock victim, retry it",
               "two sessions each lock rows the other needs, so neither can go on",
               "since the release, concurrent checkouts sometimes fail,"
               " one transaction rolled back by the database",
               "a cycle of lock waits between sessions that the database breaks by killing one",
               "parallel jobs updating the same tables fail randomly and succeed when retried",
               "mutual blocking between transactions resolved by aborting a victim",
               "a transaction was aborted as the victim of a circular lock wait",
           )),
    _gloss("lock wait timeout (gave up waiting for a row or table lock held by another transaction)",
           (r"lock[ _]?timeout", r"lock wait timeout", r"LockNotAvailable", r"\b55P03\b",
           r"could not obtain lock", r"PessimisticLock", r"CannotAcquireLock", r"lock not available",
           r"\bNOWAIT\b", r"locked by another", r"waited too long for [^|\n]{0,20}lock"),
           (
               "the statement waited too long for a row lock and gave up",
               "a long transaction holds a lock and other sessions time out waiting for it",
               "the row is locked by another session, NOWAIT or lock_timeout failed the update",
               "blocked behind another transaction's lock until the lock timeout",
               "a migration or a long-running transaction keeps rows locked and updates pile up and fail",
               "the update could not get the lock in time because someone else was holding it",
               "writes to a hot row queue behind each other until they hit the lock timeout",
               "waiting for a lock held by another transaction exceeded the limit",
           )),
    _gloss("statement timeout (the database cancelled a query that ran too long)",
           (r"statement[ _]timeout", r"QueryCanceled", r"\b57014\b", r"maxTimeMS", r"MAX_EXECUTION_TIME",
           r"Statement cancell?ed due to timeout", r"exceeded time limit", r"canceling statement",
           r"\bquer(y|ies)\b[^|\n]{0,40}\b(timeout|timed out|cancell?ed|canceled)"),
           (
               "a slow query ran past its time limit and the database cancelled it",
               "the database killed a long-running query after the configured statement timeout",
               "a heavy report query exceeds the maximum execution time and is aborted",
               "the query took too long on the database server and was canceled",
               "the dashboard query is so slow that the database aborts it every time",
               "a query without an index scans the whole table and gets cancelled by the server",
               "long-running SQL is stopped by the database after a fixed number of seconds",
               "the database canceled the statement because it exceeded the allowed run time",
           )),
    _gloss("unique constraint violation (duplicate key, a record with that key already exists)",
           (r"UniqueViolation", r"duplicate key", r"Duplicate entry", r"\bE11000\b", r"\b23505\b",
           r"unique constraint", r"\bduplicate\b", r"already (exists|registered|taken|in use)"),
           (
               "inserting a record that already exists fails with a duplicate key",
               "the same email, username or id is already taken, the insert is rejected",
               "a retried request creates the same row twice and hits the unique index",
               "a conflict on insert because the key is not unique",
               "users who click submit twice get an error because the record was already created",
               "the import fails because some rows have the same key as rows already stored",
               "a second insert with the same identifier conflicts with the existing one",
               "the value must be unique but another record already has it",
           )),
    _gloss("foreign key violation (the referenced parent record is missing, or still referenced)",
           (r"ForeignKeyViolation", r"foreign key", r"\b23503\b", r"\bP2003\b", r"parent row", r"_fkey\b",
           r"still referenced?\b"),
           (
               "a row refers to a parent record that is missing",
               "inserting a child whose referenced row does not exist is rejected",
               "deleting a record that other rows still reference is refused",
               "an orphan reference: the related record the row points to is gone",
               "saving fails because the item refers to an order, customer or product that is not there",
               "cannot remove a record while other records still depend on it",
               "a child row's reference to its parent is invalid",
               "referential integrity check failed between two tables",
           )),
    _gloss("connection pool exhausted (every pooled connection is in use, none was free in time)",
           (r"QueuePool limit", r"Connection is not available", r"PoolTimeout", r"pool exhausted",
           r"acquire timeout", r"couldn't get a connection", r"connections in use",
           r"pool[^|\n]{0,30}\b(busy|exhausted|full)\b", r"waited [^|\n]{0,30}for a (free )?connection"),
           (
               "every connection in the application's pool is busy and requests wait for one",
               "the client-side connection pool ran dry, checkout timed out",
               "connections are leaked or held too long so none is free to borrow",
               "threads queue up waiting to get a connection from the pool",
               "under load every request waits for a database connection and then fails",
               "the app's pool is too small for the traffic so connections run out",
               "borrowing a connection from the pool took too long, all of them were in use",
               "no free connection was available in the client pool",
               "requests time out while borrowing a connection from the application's own pool",
           )),
    _gloss("too many connections (the server's connection limit is reached, new sessions are refused)",
           (r"too many clients", r"too many connections", r"connection slots",
           r"max number of clients", r"\b53300\b", r"max_connections"),
           (
               "the database server refuses new sessions because its connection limit is reached",
               "max_connections is hit and new clients are turned away",
               "no connection slots left on the server, remaining ones reserved for the superuser",
               "the database has too many clients connected already",
               "a traffic spike opened so many sessions that the database refuses more",
               "new connections are rejected by the database server because it is at its maximum",
               "the server has no room for another client connection",
               "the limit of simultaneous database connections was exceeded on the server side",
               "the database server hit its connection ceiling and turns away new logins and sessions",
           )),
    _gloss("connection refused (nothing accepts connections at that address and port)",
           (r"ECONNREFUSED", r"connection refused", r"ConnectException", r"refused (the )?connection",
           r"refused to connect"),
           (
               "nothing is listening at that address, the connection is rejected immediately",
               "the service is down or not started so connecting fails at once",
               "the port is closed, the TCP connection cannot be opened",
               "could not connect, the remote side actively refused",
               "after the deploy the service cannot connect because the other side is not up",
               "every attempt to connect fails instantly, the host is reachable but the port is not open",
               "the target process crashed or is restarting so nothing accepts connections",
               "a connection attempt was rejected by the remote host",
               "the cache or database server is down so every call to it fails right away",
               "calls bounce back immediately because the service is not even up",
               "it fails at once with no waiting at all, as if the other system were switched off",
           )),
    _gloss("connection reset (the peer closed an open connection in the middle of a request)",
           (r"ECONNRESET", r"reset by peer", r"connection reset", r"closed the connection unexpectedly",
           r"broken pipe", r"\bEPIPE\b", r"socket hang up", r"lost connection"),
           (
               "the other side dropped the connection in the middle of a request",
               "the socket was closed abruptly by the peer while reading the response",
               "an established connection was cut, the server hung up unexpectedly",
               "a broken pipe: the remote end went away mid-transfer",
               "responses are cut off because the remote server drops connections under load",
               "a load balancer or proxy closes idle connections and the next request fails",
               "the connection was terminated by the other side during the exchange",
               "an open connection was closed by the remote end before the reply arrived",
               "the upstream hangs up on us partway through a request and the call dies mid-request",
           )),
    _gloss("DNS failure (the host name could not be resolved to an address)",
           (r"ENOTFOUND", r"EAI_AGAIN", r"gaierror", r"UnknownHost", r"no such host", r"name resolution",
           r"Name or service not known", r"NXDOMAIN", r"DNSError"),
           (
               "the host name does not resolve, name lookup fails",
               "the address of the service cannot be found in DNS",
               "the resolver returns no such host or a temporary lookup failure",
               "a wrong or unknown hostname, the domain does not exist",
               "after a DNS change nothing can find the service by its name",
               "calls fail before connecting because the hostname cannot be looked up",
               "the name of the server could not be translated to an IP address",
               "a host name resolution error",
               "our system cannot look up the address of the partner's website or host",
           )),
    _gloss("TLS failure (the certificate was not trusted or the secure handshake failed)",
           (r"CERTIFICATE_VERIFY_FAILED", r"SSLHandshake", r"\bx509\b", r"\bPKIX\b", r"certificate",
           r"SSLError", r"handshake fail"),
           (
               "the secure connection cannot be established, the certificate is not trusted",
               "https calls fail because the server certificate expired or does not match the host",
               "the SSL handshake fails, certificate verification error",
               "an unknown certificate authority or a self-signed certificate is rejected",
               "every secure call to the partner fails since their certificate changed or expired",
               "clients refuse to talk to the server because its certificate chain is not trusted",
               "establishing the encrypted connection failed during certificate checks",
               "the secure handshake with the server was rejected",
           )),
    _gloss("timeout (the call got no answer before its deadline)",
           (r"DEADLINE_EXCEEDED", r"deadline exceeded", r"timed out", r"ReadTimeout", r"SocketTimeout",
           r"ETIMEDOUT", r"Gateway Timeout"),
           (
               "the remote call hangs and gives up when its deadline passes",
               "the downstream service is too slow and the client stops waiting for a reply",
               "requests to another service time out with no response",
               "the gateway waited for the upstream and got nothing back in time",
               "the other service is slow today and our calls to it keep timing out",
               "requests hang for many seconds and then fail without an answer",
               "the call did not complete within the allowed time and the client gave up",
               "no reply arrived from the remote service before the time limit",
               "calls hit their time limit without any answer from the stalled service",
           )),
    _gloss("malformed JSON (the payload could not be parsed)",
           (r"JSONDecodeError", r"JsonParse", r"in JSON at position", r"json\.SyntaxError",
           r"looking for beginning of value", r"invalid json", r"not valid json"),
           (
               "the request or response body is not valid JSON and cannot be parsed",
               "the payload is truncated or garbled so decoding it fails",
               "an unexpected character or end of input while parsing the JSON",
               "the client sent a body that is not well-formed",
               "a partner sends broken payloads and we cannot read them",
               "the response was HTML or an error page where JSON was expected",
               "the message could not be deserialized because its syntax is invalid",
               "parsing the document failed on an unexpected token",
               "the data we send is garbled or cut off so the other system cannot read it",
           )),
    _gloss("out of memory (the process could not allocate more memory)",
           (r"OutOfMemory", r"out of memory", r"MemoryError", r"heap limit", r"OOMKilled",
           r"Unable to allocate", r"\bENOMEM\b"),
           (
               "the process ran out of memory and was killed",
               "memory usage grows until the container is OOM killed",
               "a large job cannot allocate more heap",
               "the worker crashes with a memory error under a big load",
               "the service's memory keeps growing until the pod restarts",
               "a huge query result or file is loaded at once and the process crashes for lack of memory",
               "the program could not get the memory it needed",
               "memory was exhausted and the allocation failed",
           )),
    _gloss("expired credentials (the authentication token is past its expiry, unauthorized)",
           (r"ExpiredSignature", r"TokenExpired", r"jwt expired", r"token expired", r"ExpiredJwt",
           r"signature has expired", r"token[^|\n]{0,40}\bexpired\b", r"expired (token|session|credential)"),
           (
               "the access token or session has expired and the user must log in again",
               "requests are unauthorized because the credential is past its expiry time",
               "the JWT signature has expired, the token needs to be refreshed",
               "an old session token is rejected as expired",
               "since this morning logins fail because tokens are no longer valid",
               "the API key or token we use has run out and must be rotated",
               "authentication failed because the credential is too old",
               "the token's validity period is over",
           )),
    _gloss("permission denied (authenticated but not allowed, forbidden)",
           (r"PermissionDenied", r"AccessDenied", r"access denied", r"permission denied",
           r"InsufficientPrivilege", r"\bForbidden\b", r"\bEACCES\b", r"\b42501\b",
           r"not have permission", r"not authori[sz]ed",
           r"without (the )?[^|\n]{0,20}\b(role|permission|privilege)s?\b"),
           (
               "the caller is authenticated but is not allowed to do this, access is forbidden",
               "the account or role lacks the rights for the operation",
               "access denied: missing privilege or grant on the resource",
               "a user tried an action reserved for administrators and was refused",
               "after the role change the job cannot read or write what it used to",
               "the user is logged in but gets forbidden when trying to do this",
               "the operation was refused for lack of authorization",
               "insufficient privileges to access the resource",
           )),
    _gloss("rate limited (too many requests, over quota, throttled)",
           (r"Too Many Requests", r"RateLimit", r"rate limit", r"Throttl", r"ThroughputExceeded",
           r"RESOURCE_EXHAUSTED", r"quota exceeded"),
           (
               "too many requests were sent and the provider is throttling them",
               "the API quota is used up and calls are rejected until it resets",
               "requests get 429 responses because of a rate limit",
               "the service slows us down, sending more than the allowed requests per second",
               "we hit the vendor's limit during the sale and our calls were rejected",
               "the API tells us to slow down and retry later",
               "requests were refused because we exceeded the allowed rate",
               "the request quota was exceeded",
           )),
    _gloss("disk full (no space left on the device)",
           (r"No space left", r"\bENOSPC\b", r"DiskFull", r"disk full", r"\b53100\b"),
           (
               "the disk or volume has no space left and writes fail",
               "the filesystem filled up so nothing more can be saved",
               "a full data directory stops the database or the log writer",
               "out of disk space on the device",
               "the server ran out of storage and the database stopped accepting writes",
               "logs or temporary files filled the disk and the service fails to write",
               "there is no free space to write the file",
               "the storage device is completely full",
           )),
    _gloss("not found (the requested item does not exist)",
           (r"NotFound", r"not found", r"\bKeyError\b", r"\bENOENT\b", r"NoSuchKey", r"Unable to find",
           r"\b404\b", r"\bno such\b"),
           (
               "the requested item does not exist, lookup returns nothing",
               "a 404 for an id that is unknown or was deleted",
               "the record, file or key asked for is missing",
               "no entry with that identifier could be found",
               "customers open a link to a product that was removed and get an error",
               "the lookup by id finds nothing because that record was never created or was deleted",
               "the resource being requested is not there",
               "the item with the given key is missing",
           )),
    _gloss("null reference (a missing value, null or nil, was used)",
           (r"NoneType", r"NullPointer", r"nil pointer", r"of undefined", r"of null", r"null reference",
           r"is null\b"),
           (
               "code used a value that was null or missing and crashed",
               "an attribute of None or undefined was read, a field was empty",
               "a nil pointer dereference when an optional value is absent",
               "the program assumed a value exists but it was null",
               "the code crashes for customers whose profile is incomplete because a value is missing",
               "an unexpected empty value made the program fail when it used it",
               "the variable had no value when the code accessed one of its fields",
               "dereferencing something that was not set",
               "the object is missing and the code uses it anyway, so it crashes",
               "a method or field was called on None, nil or undefined",
           )),
)

# Status codes as the standards name them: a bare number tells the model little.
HTTP_STATUS = {
    400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found", 409: "conflict",
    429: "too many requests", 500: "internal server error", 502: "bad gateway",
    503: "service unavailable", 504: "gateway timeout",
}
GRPC_STATUS = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}


FAILURE_SEVERITIES = re.compile(r"^(WARN|ERR|FATAL|CRIT|ALERT|EMERG|SEVERE|PANIC)", re.IGNORECASE)


def glosses(*texts: str) -> str | None:
    """The meaning of the most specific well-known failure ``texts`` name; None when they name none."""
    text = "\n".join(texts)
    return next((gloss.meaning for gloss in GLOSSARY if gloss.pattern.search(text)), None)


def status_name(key: str, code: int) -> str | None:
    """The standard name of an HTTP or gRPC status code attribute's value (``429`` → ``too many
    requests``), or None for one without a name here (``200``)."""
    names = GRPC_STATUS if key.startswith("rpc.") else HTTP_STATUS
    return names.get(code)
