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
    """A failure's ``meaning`` and the ``pattern`` (case-insensitive) of the texts that name it.

    A meaning holds no ``": "``: a log shape's text is ``gloss | service SEVERITY: body``, and
    log patterns are read after its first ``": "`` (``query/logs.py``).
    """

    meaning: str
    pattern: re.Pattern[str]


def _gloss(meaning: str, *alternatives: str) -> Gloss:
    return Gloss(meaning, re.compile("|".join(alternatives), re.IGNORECASE))


# In priority order where one text names two failures (a deadlock is reported through a lock
# exception; a statement cancelled for a lock timeout says "canceling statement"): the more
# specific first, and only the first applies. Two meanings per text were measured too: no
# better on the corpus's tuning half, and longer texts to encode.
GLOSSARY: tuple[Gloss, ...] = (
    _gloss("deadlock (two transactions each wait for a lock the other holds, one is aborted)",
           r"deadlock", r"\b40P01\b"),
    _gloss("lock wait timeout (gave up waiting for a row or table lock held by another transaction)",
           r"lock[ _]?timeout", r"lock wait timeout", r"LockNotAvailable", r"\b55P03\b",
           r"could not obtain lock", r"PessimisticLock", r"CannotAcquireLock"),
    _gloss("statement timeout (the database cancelled a query that ran too long)",
           r"statement[ _]timeout", r"QueryCanceled", r"\b57014\b", r"maxTimeMS", r"MAX_EXECUTION_TIME",
           r"Statement cancell?ed due to timeout", r"exceeded time limit"),
    _gloss("unique constraint violation (duplicate key, a record with that key already exists)",
           r"UniqueViolation", r"duplicate key", r"Duplicate entry", r"\bE11000\b", r"\b23505\b",
           r"unique constraint"),
    _gloss("foreign key violation (the referenced parent record is missing, or still referenced)",
           r"ForeignKeyViolation", r"foreign key", r"\b23503\b", r"\bP2003\b", r"parent row"),
    _gloss("connection pool exhausted (every pooled connection is in use, none was free in time)",
           r"QueuePool limit", r"Connection is not available", r"PoolTimeout", r"pool exhausted",
           r"acquire timeout", r"couldn't get a connection", r"connections in use"),
    _gloss("too many connections (the server's connection limit is reached, new sessions are refused)",
           r"too many clients", r"too many connections", r"connection slots are reserved",
           r"max number of clients", r"\b53300\b", r"max_connections"),
    _gloss("connection refused (nothing accepts connections at that address and port)",
           r"ECONNREFUSED", r"connection refused", r"ConnectException"),
    _gloss("connection reset (the peer closed an open connection in the middle of a request)",
           r"ECONNRESET", r"reset by peer", r"connection reset", r"closed the connection unexpectedly",
           r"broken pipe", r"\bEPIPE\b", r"socket hang up"),
    _gloss("DNS failure (the host name could not be resolved to an address)",
           r"ENOTFOUND", r"EAI_AGAIN", r"gaierror", r"UnknownHost", r"no such host", r"name resolution",
           r"Name or service not known", r"NXDOMAIN", r"DNSError"),
    _gloss("TLS failure (the certificate was not trusted or the secure handshake failed)",
           r"CERTIFICATE_VERIFY_FAILED", r"SSLHandshake", r"\bx509\b", r"\bPKIX\b", r"certificate",
           r"SSLError", r"handshake fail"),
    _gloss("timeout (the call got no answer before its deadline)",
           r"DEADLINE_EXCEEDED", r"deadline exceeded", r"timed out", r"ReadTimeout", r"SocketTimeout",
           r"ETIMEDOUT", r"Gateway Timeout"),
    _gloss("malformed JSON (the payload could not be parsed)",
           r"JSONDecodeError", r"JsonParse", r"in JSON at position", r"json\.SyntaxError",
           r"looking for beginning of value", r"invalid json", r"not valid json"),
    _gloss("out of memory (the process could not allocate more memory)",
           r"OutOfMemory", r"out of memory", r"MemoryError", r"heap limit", r"OOMKilled",
           r"Unable to allocate", r"\bENOMEM\b"),
    _gloss("expired credentials (the authentication token is past its expiry, unauthorized)",
           r"ExpiredSignature", r"TokenExpired", r"jwt expired", r"token expired", r"ExpiredJwt",
           r"signature has expired"),
    _gloss("permission denied (authenticated but not allowed, forbidden)",
           r"PermissionDenied", r"AccessDenied", r"access denied", r"permission denied",
           r"InsufficientPrivilege", r"\bForbidden\b", r"\bEACCES\b", r"\b42501\b",
           r"not have permission"),
    _gloss("rate limited (too many requests, over quota, throttled)",
           r"Too Many Requests", r"RateLimit", r"rate limit", r"Throttl", r"ThroughputExceeded",
           r"RESOURCE_EXHAUSTED", r"quota exceeded"),
    _gloss("disk full (no space left on the device)",
           r"No space left", r"\bENOSPC\b", r"DiskFull", r"disk full", r"\b53100\b"),
    _gloss("not found (the requested item does not exist)",
           r"NotFound", r"not found", r"\bKeyError\b", r"\bENOENT\b", r"NoSuchKey", r"Unable to find"),
    _gloss("null reference (a missing value, null or nil, was used)",
           r"NoneType", r"NullPointer", r"nil pointer", r"of undefined", r"of null", r"null reference",
           r"is null\b"),
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
