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
               "Two transactions each held a lock the other needed, so the database killed one to break "
               "the cycle.",
               "Transaction A locked row 1 and wanted row 2 while B held row 2 and wanted row 1.",
               "The database detected a circular wait between sessions and rolled back one of them as the "
               "victim.",
               "Updating the same rows in opposite order from two workers created a lock cycle.",
               "Neither transaction could proceed, so the engine picked one to abort immediately instead "
               "of waiting forever.",
               "since the 14:00 deploy postgres aborts inventory transactions, detected a cycle between "
               "two stock updates",
               "mysql chose the payments worker as the victim overnight, it and the refunds job lock rows "
               "in opposite order",
               "checkout and shipping both update orders and shipments in reverse order, one gets rolled "
               "back every few minutes",
               "accounts batch and API deadlocking on users table, innodb status shows a circular lock graph",
               "kafka consumers for inventory run in parallel and keep killing each other's transactions "
               "with lock cycles",
               "Support says bulk updates sometimes fail with a message about conflicting with another "
               "transaction, retry works.",
               "Support reports two agents editing the same orders at once causes one save to be rolled "
               "back.",
               "The store sometimes cancels one of two simultaneous stock changes and says the transaction "
               "was chosen as victim.",
               "Admin says when two people approve refunds at the same time, one of them fails and is "
               "rolled back.",
               "Support ticket: saving sometimes fails with a message that our change conflicted with "
               "another in progress and was undone.",
               "transaction chosen as victim lock cycle",
               "circular lock wait detected rolled back",
               "deadlock detected between two update transactions",
               "lock ordering cycle between concurrent workers",
               "innodb latest detected deadlock victim rollback",
               "Which transactions were aborted because they formed a lock cycle with another transaction?",
               "Show me where the database picked a victim to break a circular wait between sessions.",
               "Which inventory writes were rolled back after two transactions blocked each other on the "
               "same rows?",
               "Find spans where two concurrent updates grabbed locks in opposite order and one was killed.",
               "How many payments transactions lost a deadlock and were rolled back today?",
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
               "The statement waited for a row lock held by another transaction and gave up after the wait "
               "limit.",
               "Another session held the table lock too long, so our update stopped waiting and failed.",
               "The query was blocked behind an open transaction and hit the lock wait limit.",
               "Nothing was circular; we simply queued for a lock that was never released in time.",
               "A long-running migration held an exclusive lock, and other writes timed out waiting to "
               "acquire it.",
               "mysql inventory updates giving up after 50s waiting for row locks on stock since the 14:00 "
               "deploy",
               "alter table on orders grabbed an exclusive lock overnight and checkout writes timed out "
               "waiting behind it",
               "payments updates blocked by an idle-in-transaction session in postgres, they give up "
               "waiting for the row lock",
               "accounts batch job holds locks on users for minutes, API updates fail after the lock wait "
               "limit",
               "shipping status updates failing, stuck behind locks held by nightly reconciliation until "
               "the 5s wait cap",
               "Updating my profile hangs for a while and then says the record is busy, try again.",
               "Support sees stock adjustments fail with a message that the item is locked by another user.",
               "Saving the order fails after a pause, saying someone else is editing it.",
               "Customers report checkout sometimes waits and then says the cart is currently locked.",
               "Admins cannot save product changes during the import; it says the record is in use.",
               "lock wait limit hit row update",
               "could not obtain lock on row",
               "update blocked waiting for table lock",
               "gave up waiting on row lock",
               "innodb row lock wait gave up",
               "Which statements failed after waiting too long to acquire a lock held by another "
               "transaction?",
               "Show me updates that were blocked by a long open transaction until the lock wait expired.",
               "Which writes to the orders table timed out waiting behind the migration's exclusive lock?",
               "Find spans where a query was stuck in a lock queue and abandoned the wait.",
               "How many inventory updates gave up acquiring row locks during the nightly batch?",
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
               "The database itself cancelled the query because it ran longer than the allowed statement "
               "time.",
               "The query was executing, not waiting on locks, and the server killed it at the time limit.",
               "A slow full table scan exceeded the per-query execution cap, so postgres aborted it.",
               "The server-side maximum execution time for a single statement was reached and the query "
               "was stopped.",
               "Our session sets a query runtime limit, and this report query blew past it.",
               "since the 14:00 deploy search queries on postgres are being cancelled at the 5s statement "
               "limit, missing index",
               "overnight analytics job in mysql aborted, query execution was interrupted after "
               "max_execution_time",
               "inventory reports failing, postgres cancels the aggregation query due to the statement "
               "time cap",
               "accounts list endpoint: the sequential scan on users runs past the query time limit and "
               "gets cancelled by the db",
               "checkout order history query runs 40s and the database cancels it at the 30s limit",
               "The order history page loads for a while and then says the report took too long.",
               "Exporting my transactions fails after a long wait with a query took too long message.",
               "Support says large account exports fail because the database gives up on the long query.",
               "Searching with many filters fails after a long pause, saying the search was cancelled.",
               "Customers with lots of orders cannot open their history; the database query gets cut off.",
               "query cancelled by server time limit",
               "slow query killed max execution time",
               "postgres canceling statement long running query",
               "db query runtime limit exceeded cancelled",
               "statement timeout on orders report query",
               "Which database queries were cancelled because they ran past the statement time limit?",
               "Show me SQL statements the server aborted for executing too long, not for lock waits.",
               "Which slow queries did postgres kill at the per-statement runtime cap today?",
               "Find spans where a long-running select was cancelled by the database timer.",
               "How many inventory report queries hit the maximum execution time and were stopped?",
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
               "The insert failed because a row with that same key already exists in the table.",
               "We tried to write a record whose unique column value is already taken by another row.",
               "Two requests raced to create the same record, and the second insert hit the uniqueness "
               "constraint.",
               "A retry re-sent the create, but the first attempt had already stored that key.",
               "The unique index rejected the new row because its email is already registered.",
               "accounts signup failing with duplicate key on users_email_key in postgres since the 14:00 "
               "deploy",
               "payments double-submit creates a second row with the same idempotency key, mysql rejects "
               "it as duplicate entry",
               "overnight inventory import died on duplicate SKU rows, the unique index on sku blocked the "
               "batch",
               "orders consumer reprocessed kafka messages and inserts fail because order_id already exists",
               "shipping labels table rejecting inserts, tracking number already present for about 200 "
               "shipments",
               "When I try to sign up it says this email is already registered.",
               "The app says that username is already taken, but I have never used it.",
               "I clicked pay twice and got an error that the order already exists.",
               "Customer says saving the address fails with a message that it is a duplicate.",
               "Creating a coupon code fails, saying a code with that name already exists.",
               "duplicate key value violates unique constraint",
               "duplicate entry for key primary mysql",
               "insert failed key already exists postgres",
               "double submit same idempotency key insert",
               "email already taken signup insert rejected",
               "Which inserts failed because a row with the same key was already in the table?",
               "Show me writes rejected as duplicates by a uniqueness constraint in the orders database.",
               "Which signup requests failed because the email address was already stored?",
               "Find spans where retrying a create collided with the record the first attempt already "
               "inserted.",
               "How many payments inserts were rejected for reusing an existing idempotency key today?",
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
               "The new row points at a parent record that does not exist in the referenced table.",
               "We inserted an order line whose order id has no matching order row.",
               "The delete was blocked because child rows in another table still reference that record.",
               "A referential integrity check rejected the write because the referenced customer is missing.",
               "The parent was removed first, so inserting the dependent row had nothing to attach to.",
               "inventory writes failing since 14:00, stock_movements rows reference warehouse ids that "
               "don't exist in warehouses",
               "accounts cleanup job can't delete users overnight because orders still reference them via "
               "user_id",
               "mysql rejecting shipping inserts, cannot add or update child row, parent shipment missing "
               "after migration",
               "payments refunds table insert fails, refers to payment_id that was never committed in "
               "postgres",
               "kafka consumers processed order_items before the order event, so inserts violate the "
               "reference to orders",
               "I cannot delete my saved address; it says it is still used by an order.",
               "Adding an item to my cart fails, saying the product it refers to does not exist.",
               "Admin says removing a category fails because products are still linked to it.",
               "Customer reports the review could not be saved because the product it belongs to is missing.",
               "Support cannot remove the old store location since records still depend on it.",
               "insert references missing parent row error",
               "delete blocked child rows still reference",
               "foreign key constraint fails on insert",
               "cannot add or update child row",
               "referential integrity error orphan order items",
               "Which inserts failed because the referenced parent row did not exist?",
               "Show me deletes that were refused because other tables still point at the record.",
               "Which writes broke referential integrity between order_items and orders this morning?",
               "Find spans where a child record referenced a customer id missing from the customers table.",
               "How many shipping inserts failed because their shipment parent had not been created yet?",
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
               "Our application's connection pool had every connection checked out, so new requests waited "
               "and gave up.",
               "The client-side pool was at its max size and borrowing a connection timed out.",
               "Connections were leaked and never returned to the pool, so the app ran out of them locally.",
               "The database had capacity, but our own pool had no idle connection left to hand out.",
               "Threads queued waiting to check out a pooled connection until the acquire timeout expired.",
               "checkout hikari pool at 10/10 active with 200 threads waiting since the 14:00 deploy, "
               "acquire times out after 30s",
               "payments leaking connections on the error path, pool empties within an hour and requests "
               "stall",
               "inventory pgx pool maxed out overnight, postgres itself shows plenty of free slots",
               "redis client pool in the accounts service is exhausted, borrowing a connection from the "
               "pool fails under load",
               "search's sqlalchemy queue pool limit of 5 overflow 10 reached, connection checkout times out",
               "Support: under load the app stalls and fails, while the database team says the database is "
               "nearly idle.",
               "The site works for a while after a restart, then requests start hanging and failing again.",
               "Customers report pages hang then error during the sale, though the database is barely busy.",
               "Checkout works fine after each restart of the app, then slowly stops responding until the "
               "next restart.",
               "Support notes errors saying the app could not get a database connection from its pool in "
               "time.",
               "timeout acquiring connection from app pool",
               "hikari connection not available request timed",
               "client pool maxed all connections busy",
               "leaked connections never returned to pool",
               "queue pool limit overflow reached sqlalchemy",
               "Which requests failed because no free connection was available in the application's pool?",
               "Show me spans where borrowing a connection from the client pool timed out.",
               "Which services ran out of pooled connections while the database still had free slots?",
               "Find calls that waited on pool checkout until the acquire timeout and then failed.",
               "How many checkout requests failed because the app's own pool was fully checked out?",
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
               "The database server refused a new session because it already hit its maximum connection "
               "count.",
               "All server-side connection slots were taken, so the database rejected our login attempt.",
               "Many clients across all apps connected at once, exceeding the server's configured "
               "max_connections.",
               "The remaining connection slots are reserved for superusers, so normal app users were "
               "turned away.",
               "Scaling out added pods that each opened their own sessions until the database ran out of "
               "slots.",
               "postgres hit max_connections since the 14:00 deploy scaled checkout to 40 pods, new "
               "sessions are rejected",
               "mysql refusing new logins overnight, connection count at the server limit of 500, all "
               "services affected",
               "inventory and shipping cannot open database sessions, server says remaining slots reserved "
               "for superuser",
               "redis server at maxclients, notifications workers get rejected when opening new connections",
               "rds instance connection limit reached after the batch job fanned out, accounts logins to "
               "the db fail",
               "Support says the whole site errors for everyone at once, with a database is busy message.",
               "Customers across all pages get an error saying the system has too many users right now.",
               "Everything failed for ten minutes with a message that the database could not accept more "
               "users.",
               "Every service went down together after the traffic spike; the database stopped letting "
               "anyone connect.",
               "Internal tools and the storefront both failed logging into the database at the same time.",
               "database max connections limit reached server",
               "remaining slots reserved for superuser postgres",
               "mysql server refusing new sessions limit",
               "server side connection slots all used",
               "rds connection count at instance limit",
               "Which services were refused a new database session because the server hit its connection "
               "cap?",
               "Show me connection attempts the database server rejected for exceeding its maximum client "
               "count.",
               "When did postgres run out of server connection slots and start turning away new logins?",
               "Find spans where opening a database session failed because the server's session limit was "
               "full.",
               "How many calls failed because the mysql server already had as many clients as it allows?",
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
               "Nothing was listening on that host and port, so the connect attempt was rejected "
               "immediately.",
               "The TCP handshake got an instant reset back because no process had the port open.",
               "The target service was down, so the operating system rejected our connection attempt right "
               "away.",
               "We were dialing the wrong port, and the remote machine actively turned the connection down.",
               "The client failed instantly on connect, not after waiting, because the listener was not "
               "running.",
               "checkout can't reach payments since the 14:00 deploy, connects fail instantly, looks like "
               "nothing is listening on 8443",
               "postgres primary went down overnight and every inventory worker gets rejected at connect "
               "time on port 5432",
               "redis pod restarted and the notifications service got immediate connect rejections for "
               "about two minutes",
               "after the config change shipping points at port 9091 but the grpc server listens on 9090, "
               "connects rejected",
               "kafka broker 3 is down, producers in accounts fail to open a socket to it instantly",
               "The app says it cannot connect to the server at all, right after I press submit.",
               "Checkout fails straight away with a message that the service is unavailable, no waiting at "
               "all.",
               "The page errors instantly saying it could not reach the server, like it is switched off.",
               "Support is getting reports that login fails immediately with a cannot connect to server "
               "message.",
               "Customers see an instant error in the mobile app saying the backend is not reachable.",
               "tcp connect rejected nothing listening port",
               "upstream service down connection actively refused",
               "wrong port connect fails immediately logs",
               "no listener on target host port",
               "instant connect failure to postgres 5432",
               "Which calls failed because nothing was listening on the target host and port?",
               "Show me requests where the TCP connect was rejected immediately by the remote machine.",
               "Which services tried to connect to a dependency that was down and got turned away instantly?",
               "Find spans where the outbound connection attempt failed at once because the port was closed.",
               "How many payments calls could not even open a connection because the service was not "
               "running?",
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
               "The other side closed the socket while we were still reading the response.",
               "The peer tore down an already established connection in the middle of the request.",
               "We were writing to a socket the remote end had already closed, so the write hit a broken "
               "pipe.",
               "The server dropped the connection unexpectedly halfway through, before sending a complete "
               "response.",
               "A load balancer killed the idle keep-alive connection and our next request on it was cut "
               "off.",
               "since the 14:00 deploy checkout sees payments calls cut off mid-response, connection reset "
               "by peer in the logs",
               "postgres closed the connection unexpectedly during long inventory queries overnight, "
               "server restarted underneath us",
               "mysql keeps dropping established sessions from the accounts service mid-query, looks like "
               "the proxy is killing them",
               "search gets broken pipe writing to elasticsearch when it sends large bulk requests, "
               "started after the node upgrade",
               "partner shipping API is hanging up on us mid-stream, responses truncated, about 3% of "
               "label requests affected",
               "The download starts and then suddenly stops with a network error partway through.",
               "My order was processing and then the app said the connection was lost unexpectedly.",
               "Pages half load and then fail, like the server hung up on me in the middle.",
               "Customers report uploads getting cut off partway with a connection interrupted message.",
               "The payment spinner runs for a bit, then it says the connection was closed by the server.",
               "connection reset by peer mid request",
               "broken pipe writing to upstream socket",
               "server closed connection unexpectedly during query",
               "peer dropped established tcp connection midstream",
               "truncated response socket closed by remote",
               "Which requests failed because the remote side closed the connection while we were reading?",
               "Show me spans where the upstream hung up in the middle of an established call.",
               "Which database queries were cut off because the server dropped the session mid-query?",
               "Find calls where writing the request body failed because the peer had already closed the "
               "socket.",
               "How many checkout calls to payments got an abrupt reset after the connection was already "
               "open?",
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
               "The host name could not be turned into an IP address, so we never tried connecting.",
               "The resolver answered that the domain does not exist, so the lookup returned no address.",
               "Name resolution failed because the DNS server did not answer the query in time.",
               "A typo in the hostname means the lookup finds no record for it at all.",
               "The cluster DNS could not resolve the internal service name to any address.",
               "since the 14:00 deploy payments can't resolve payments-gateway.internal, lookup fails "
               "before any connection is attempted",
               "coredns pods got evicted overnight and every service in the cluster stopped resolving "
               "service names",
               "checkout fails with unknown host for the partner API domain, their DNS records seem to "
               "have vanished",
               "inventory can't look up the mysql hostname after the VPC change, resolver returns nothing",
               "notifications service gets temporary failure in name resolution for the smtp relay host "
               "since 09:30",
               "The site says server not found, like the web address does not exist.",
               "My browser says it can't find the server's address when I open the store.",
               "The app says it cannot find the server, even though my internet works fine.",
               "Customers report the checkout page says this site can't be reached, address not found.",
               "Emails with links to our portal open to a page saying the domain could not be found.",
               "hostname could not be resolved errors",
               "unknown host lookup failed for api",
               "name resolution failure internal service name",
               "no such host kubernetes service dns",
               "getaddrinfo failed resolving partner domain name",
               "Which calls failed because the hostname could not be resolved to an IP address?",
               "Show me requests where the name lookup returned no address for the target host.",
               "Which services could not find the database host because the resolver had no record?",
               "Find spans where the outbound call died at the lookup step before any connection was made.",
               "How many shipping requests failed because the carrier's domain name did not resolve?",
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
               "The server's certificate had expired, so the secure handshake was rejected before any data "
               "was sent.",
               "Our client does not trust the certificate authority that signed the server's certificate.",
               "The certificate was issued for a different host name than the one we connected to.",
               "Client and server could not agree on a protocol version or cipher during the handshake.",
               "The chain was missing an intermediate certificate, so verification of the server failed.",
               "payments provider rotated their cert overnight and checkout now fails certificate "
               "verification on every call",
               "internal CA cert expired at midnight and all mTLS calls between grpc services are failing "
               "the handshake",
               "after the 14:00 deploy accounts talks to postgres with sslmode verify-full and the "
               "hostname doesn't match the cert",
               "notifications can't reach the smtp relay, handshake fails with self-signed certificate in "
               "chain",
               "shipping partner disabled TLS 1.0 and our legacy inventory client fails the handshake with "
               "protocol version alert",
               "My browser warns that the connection is not private and the certificate is expired.",
               "The site shows a security warning saying the certificate is not trusted.",
               "The app says it cannot establish a secure connection to the server.",
               "Customers get a warning that the site's security certificate is for a different website.",
               "The payment page shows a big red padlock warning and refuses to load.",
               "ssl certificate expired handshake failed upstream",
               "x509 certificate signed by unknown authority",
               "cert hostname mismatch on api calls",
               "tls handshake alert protocol version error",
               "mtls client certificate rejected by server",
               "Which calls failed because the server certificate had expired or was not yet valid?",
               "Show me requests where the secure handshake failed before any HTTP data was exchanged.",
               "Which outbound connections rejected the peer certificate because the issuer is untrusted?",
               "Find spans where the certificate name did not match the host we were calling.",
               "How many payments calls broke on certificate verification after the provider rotated certs?",
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
               "We waited for the other service to answer, but no response arrived before our deadline.",
               "The connection was fine, but the downstream took too long and our read timer ran out.",
               "The call's time budget expired while the remote service was still working on it.",
               "The gateway gave up waiting for the backend and returned a timeout to the client.",
               "Upstream was slow to respond, so the client cancelled the request after its configured "
               "time limit.",
               "checkout to payments grpc calls hitting the 2s deadline since the 14:00 deploy, about 8% "
               "failing",
               "partner shipping API stopped answering overnight, our read timeouts fire after 30 seconds "
               "on every label request",
               "inventory service hangs on calls to the pricing pod, requests give up after the deadline",
               "frontend returning gateway timeouts because search backend takes longer than the ingress "
               "timeout",
               "payment provider is slow to reply, our HTTP client times out waiting and retries pile up",
               "The page just spins forever and then says the request timed out.",
               "Checkout hangs for a long time and finally says the server took too long to respond.",
               "The app keeps loading and then shows a message that the operation timed out.",
               "Customers say the payment step waits about thirty seconds and then gives up.",
               "Search results never come back; after a while it says try again later.",
               "grpc deadline hit calling payments service",
               "upstream read timeout no response received",
               "gateway timeout from backend slow upstream",
               "http client timed out waiting response",
               "context deadline reached on downstream call",
               "Which calls failed because the downstream service did not answer before the deadline?",
               "Show me outbound requests that gave up waiting for a response from the partner API.",
               "Which grpc calls from checkout ran out of time before the server replied?",
               "Find spans where the client timed out reading the response from an upstream service.",
               "How many requests hit the gateway time limit because the backend was too slow?",
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
               "The response body was not valid JSON, so deserializing it failed at an unexpected character.",
               "We got an HTML error page where we expected JSON, and the parser choked on the first angle "
               "bracket.",
               "The payload was cut off, so the parser reached the end of input mid-object.",
               "A trailing comma and single quotes made the request body malformed and unparseable.",
               "The message bytes were not well-formed, so decoding them into objects threw a syntax error.",
               "since the 14:00 deploy checkout can't decode the payment provider response, unexpected "
               "token < at position 0",
               "kafka consumer in inventory crashing on malformed messages from the legacy producer, "
               "invalid syntax at line 1",
               "partner shipping API started returning truncated bodies overnight, unexpected end of input "
               "when decoding",
               "notifications worker fails to unmarshal webhook payloads, the partner sends a plain text "
               "body now",
               "config stored in redis has a stray comma, accounts service can't parse it on startup",
               "The app shows a weird error saying it received an unreadable response from the server.",
               "After the update the screen says something went wrong reading the data and stays blank.",
               "Customers who pasted odd characters into the form get an error that the request is "
               "malformed.",
               "Support sees the integration failing with a message that the data format is invalid.",
               "Partner says our webhook rejects their posts because the body cannot be read as JSON.",
               "unexpected token in json at position",
               "malformed request body unmarshal failed syntax",
               "unexpected end of input decoding response",
               "html returned instead of json body",
               "invalid character looking for beginning value",
               "Which requests failed because the body could not be parsed as valid JSON?",
               "Show me calls where the upstream returned an HTML page instead of the expected JSON.",
               "Which kafka messages failed deserialization because the payload was malformed?",
               "Find spans where decoding the response hit an unexpected character or end of input.",
               "How many webhooks from the payment provider had bodies our parser could not read?",
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
               "The process used more memory than its container limit, so the kernel killed it.",
               "An allocation failed because the heap was full and garbage collection could not free enough.",
               "The service loaded the whole export into RAM and exhausted available memory.",
               "A memory leak grew the heap steadily until the runtime could not allocate anymore.",
               "The pod crossed its memory limit and was terminated, then restarted in a loop.",
               "checkout pods restarting every 20 minutes since the 14:00 deploy, killed for exceeding the "
               "512Mi memory limit",
               "search JVM died overnight with heap space exhausted while building the index",
               "inventory importer gets killed by the kernel's out-of-memory killer when processing the "
               "big supplier file",
               "redis reached its maxmemory ceiling and refuses writes from the accounts session store",
               "notifications worker RSS climbs to 4GB then the container is terminated, looks like a leak",
               "The app keeps crashing and restarting when big uploads are processed; ops says it runs out "
               "of RAM.",
               "Customers see random errors every hour or so when the server restarts after using too much "
               "memory.",
               "My phone app says there is not enough memory to finish loading the catalog.",
               "Support says the image resizer fails on large photos because the server runs out of RAM.",
               "Pages work, then fail for a minute while the service reboots itself after memory fills up.",
               "container killed exceeded memory limit restart",
               "java heap space allocation failed gc",
               "pod memory limit exceeded crash loop",
               "kernel killed process memory cgroup limit",
               "cannot allocate memory leak heap growth",
               "Which processes were killed because they exceeded their memory limit?",
               "Show me pods that restarted after running out of memory today.",
               "Which requests failed when the worker's heap could not allocate more memory?",
               "Find spans that ended abruptly because the container was terminated for memory use.",
               "How many times did the search service crash from a memory leak this week?",
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
               "The access token's expiry time had passed, so the API treated the request as "
               "unauthenticated.",
               "The user's session timed out, and the server no longer accepts the old session cookie.",
               "The JWT exp claim is in the past, so signature is fine but the token is rejected.",
               "The client never refreshed its short-lived token and kept sending a stale one.",
               "Clock skew made the server think the freshly issued token had already lapsed.",
               "since the 14:00 deploy the refresh flow is broken and mobile clients get unauthorized once "
               "their hour-old tokens lapse",
               "payments calls to the provider failing overnight, our OAuth access token expired and "
               "nobody renewed it",
               "accounts service rejecting JWTs as expired, node clocks drifted by five minutes",
               "checkout batch job runs for two hours but its service token lives one hour, later calls "
               "unauthorized",
               "s3 uploads from inventory failing, presigned URLs and temporary credentials have expired",
               "I keep getting logged out and asked to sign in again in the middle of checkout.",
               "The app says my session has expired, please log in again.",
               "After leaving the tab open for a while everything fails until I refresh and log back in.",
               "Support sees users bounced to the login screen every hour even while actively using the "
               "site.",
               "The download link in the email says it has expired when customers click it the next day.",
               "jwt expired unauthorized exp claim past",
               "oauth access token lapsed refresh failed",
               "session timed out user logged out",
               "stale bearer token rejected after expiry",
               "presigned url past expiry access rejected",
               "Which requests were rejected because the caller's token was past its expiry time?",
               "Show me calls that became unauthorized after the session lifetime ran out.",
               "Which services kept using an access token after it lapsed instead of refreshing it?",
               "Find spans where the JWT was valid but its expiration timestamp was already in the past.",
               "How many users were forced to log in again because their sessions had timed out?",
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
               "The caller is logged in fine but lacks the role needed for this operation.",
               "Authentication succeeded, but the authorization check said this user may not do that.",
               "The database user has no privilege on that table, so the select was refused.",
               "The service account's IAM policy does not grant the action it tried to perform.",
               "The request was understood and the identity known, but access to the resource is forbidden.",
               "since the 14:00 deploy inventory gets access denied writing to the s3 bucket, IAM role "
               "missing put permission",
               "new migration created a table but the accounts db user was never granted select on it, "
               "queries refused",
               "shipping service account in kubernetes can't list pods, RBAC forbids it after the cluster "
               "upgrade",
               "payments provider now rejects our refund calls as forbidden, our API key lacks the refunds "
               "scope",
               "support agents can't view orders in the admin since the role change overnight, forbidden "
               "for agent role",
               "It says I don't have permission to view this page, but I am logged in.",
               "The app says access denied when I try to download my invoice.",
               "Support staff see you are not authorized to perform this action when issuing refunds.",
               "My teammate can edit the project, but I get a forbidden message with the same account type.",
               "Customers report the upload fails with a message that they lack rights to that folder.",
               "access denied missing iam permission s3",
               "forbidden user lacks required role admin",
               "db user permission denied for table",
               "rbac forbids service account list pods",
               "api key missing scope forbidden refunds",
               "Which requests were authenticated but refused because the user lacked the required role?",
               "Show me calls rejected as forbidden due to missing privileges, not expired credentials.",
               "Which database queries failed because the app's user was not granted access to the table?",
               "Find spans where IAM denied the service account the action it tried to perform.",
               "How many admin actions were blocked by authorization checks after the role change?",
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
               "We sent more requests than the provider allows per minute, so it started rejecting the "
               "extras.",
               "The API gateway throttled our client because it exceeded its request quota.",
               "Our daily quota on the partner API ran out, so every call after that was refused.",
               "Too many calls in a short burst tripped the limiter, and the server told us to back off.",
               "The token bucket for this API key was empty, so requests were turned away until it refilled.",
               "since the 14:00 deploy the retry loop hammers the payment provider and they throttle us, "
               "refunds failing",
               "shipping partner API says slow down, we're over 100 requests per second on label creation",
               "s3 returning slow-down responses for the inventory export bucket prefix overnight",
               "notifications hit the email provider's hourly sending quota, rest of the batch rejected",
               "search's calls to the geocoding API throttled after quota exhausted, retry-after header "
               "says 60 seconds",
               "The site says I have made too many requests and to try again later.",
               "After trying my password a few times it told me to wait before trying again.",
               "The app says slow down, you are doing that too often.",
               "Support sees the partner integration stop working every afternoon once their usage "
               "allowance is used up.",
               "Customers get a please wait a minute message when refreshing the tracking page repeatedly.",
               "throttled by provider retry after header",
               "api quota exceeded requests per minute",
               "request rate limit hit backoff needed",
               "s3 slow down too many requests",
               "daily usage quota used up partner",
               "Which calls were rejected because we went over the provider's request rate limit?",
               "Show me requests the gateway throttled for exceeding their per-client quota.",
               "Which services got told to back off and retry later by an upstream API?",
               "Find spans where the partner refused calls because our daily quota was used up.",
               "How many payment provider calls were throttled during the retry storm this afternoon?",
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
               "The volume has no free space left, so every write to it fails.",
               "Logs filled the root partition, and the database could not extend its data files.",
               "The persistent volume reached its capacity and the app cannot create new files.",
               "Write-ahead log segments piled up until the filesystem had zero bytes available.",
               "Inodes ran out on the mount, so even small files could not be created.",
               "postgres on the primary stopped accepting writes overnight, data volume at 100% used",
               "kafka broker 2 log dir filled up since the 14:00 deploy increased retention, partitions "
               "went offline",
               "search nodes hit the disk watermark and elasticsearch marked indices read-only",
               "inventory pod can't write temp files, emptyDir volume full from leftover exports",
               "mysql binlogs filled the disk on the payments replica, writes and replication failing",
               "Uploading a photo fails with a message that the server has no storage space.",
               "Support says attachments won't save and the error mentions insufficient storage.",
               "Customers can't place orders; ops says the database ran out of disk space.",
               "The report export fails halfway with a message about not enough space on the server.",
               "Nothing new can be saved in the admin panel, but old data still shows fine.",
               "no space left on device writes",
               "volume 100 percent full writes failing",
               "filesystem out of inodes cannot create",
               "pvc capacity reached disk usage full",
               "kafka log dir disk filled up",
               "Which writes failed because the disk or volume had no free space left?",
               "Show me services whose file writes errored after the partition filled up.",
               "Which database nodes stopped accepting inserts because their data volume was full?",
               "Find spans where saving an upload failed due to insufficient storage on the server.",
               "When did the kafka brokers run out of disk and stop accepting messages?",
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
               "The record we asked for does not exist, so the lookup came back empty.",
               "The key was never written, or it was deleted, so the store has nothing under it.",
               "The API has no resource at that id, so it answered that it could not find it.",
               "The object was requested from the bucket, but no object exists under that path.",
               "The route or endpoint does not exist on the server, so nothing handled the request.",
               "since the 14:00 deploy checkout asks inventory for sku ids that don't exist, lookups "
               "return nothing",
               "s3 get on product images failing with no such key after the overnight cleanup job",
               "accounts can't find user records for ids coming from the old mobile app",
               "shipping partner API says the tracking number is unknown for about 5% of shipments",
               "redis cache lookups miss and the fallback query finds no row for those order ids",
               "The link to my order shows a page saying it could not be found.",
               "I click on the product and it says this item no longer exists.",
               "Support can't locate the customer's account; the system says no such user.",
               "Tracking my package says the tracking number is not recognized.",
               "The invoice download button leads to a page that says the file does not exist.",
               "record not found for order id",
               "s3 no such key object missing",
               "resource does not exist unknown id",
               "user lookup returned no matching row",
               "endpoint route not found missing page",
               "Which requests failed because the requested record did not exist?",
               "Show me lookups that came back with no such item for the given id.",
               "Which s3 reads failed because the object key was missing from the bucket?",
               "Find spans where the API answered that the resource could not be found.",
               "How many product page loads asked for items that no longer exist?",
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
               "The code read a field on a value that was null, and it crashed.",
               "A function returned None and the caller tried to access an attribute on it.",
               "We dereferenced a nil pointer because the optional field was never set.",
               "In JavaScript we called a method on undefined because the property was missing from the "
               "object.",
               "A lookup that can return nothing was used without checking, so the empty value blew up.",
               "since the 14:00 deploy checkout crashes when the cart has no shipping address, code "
               "assumes it is set",
               "payments go service panicking with nil pointer dereference when the provider omits the "
               "customer field",
               "accounts python worker failing on attribute access of None for users created overnight "
               "without profiles",
               "frontend throws cannot read properties of undefined reading price on the cart page",
               "inventory java service crashes on a null supplier reference for items imported from the "
               "legacy feed",
               "The page goes blank with an error saying something is undefined.",
               "The app crashes when I open an order that has no delivery address.",
               "Support sees an internal error whenever a customer has no phone number saved; the code "
               "expects one.",
               "The checkout screen shows object reference not set when the cart has no coupon.",
               "Users without a profile picture get a crash screen when opening their account.",
               "nil pointer dereference panic in handler",
               "cannot read property of undefined price",
               "attribute access on None python worker",
               "object reference not set to instance",
               "null value dereferenced missing optional field",
               "Which requests crashed because the code used a value that was null?",
               "Show me errors where a missing optional field was accessed without a check.",
               "Which go services panicked dereferencing a nil pointer after the deploy?",
               "Find spans where the handler called a method on an undefined or None value.",
               "How many checkout failures came from reading properties of a null object?",
           )),
)

# How people ask about what is not a failure: slowness, volume, operations by name. A question is
# weighed against these beside the glosses' symptoms (query/concepts.py), so that one about no
# failure is not read as being about the failure it happens to share words with.
NO_FAILURE_DESCRIPTIONS: tuple[str, ...] = (
    "slow requests with high latency",
    "the slowest requests of an endpoint",
    "latency went up, requests take longer than usual",
    "how long an operation takes, its duration",
    "all spans of a service, a route or an endpoint",
    "successful calls that completed normally",
    "operations with this name",
    "traffic volume and throughput of a service",
    "Why is checkout slow today compared to last week?",
    "p99 latency of the payments service over the last hour",
    "show me spans of service inventory",
    "successful payments between 14:00 and 15:00",
    "acquire lock orders operation average duration",
    "connection pool checkout spans for accounts service",
    "dns resolve payments.internal span timings today",
    "What did checkout call while handling this order?",
    "requests to /cart in the last 24 hours",
    "Throughput of the search service per minute since the morning",
    "Which downstream services does the frontend depend on?",
    "Show me the slowest postgres queries from the orders service",
    "How many orders were placed successfully yesterday?",
    "List all traces that passed through shipping and notifications",
    "average response time of GET /products by region",
    "Compare request volume of the recommendations service before and after the deploy",
    "kafka consume spans for topic order-events",
    "Which endpoints of the accounts service are called most often?",
    "Show traces where checkout took longer than two seconds but succeeded",
    "redis get latency distribution for the cart cache",
    "s3 put object calls from the media service this week",
    "grpc calls from frontend to search grouped by method",
    "Show me a typical successful login trace end to end",
    "How many spans does a normal checkout request produce?",
    "tls handshake duration for outbound calls to partners",
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
