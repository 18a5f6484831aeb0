"""Delivery of batches to one database: retries, circuit breaker, spool, replay, exactly once.

One :class:`Delivery` per shared :class:`Database` (``delivery_for``), so the span, log and
metric exporters of a process that write to one database share its breaker and its spool.

The path of a batch (docs/reliability.md tells the guarantees):

1. It gets a random 16-byte id, written to the ``otel_batches`` ledger in its transaction.
2. If the breaker is closed, it is written; transient errors (see ``retry.CLASSIFICATION``)
   are retried with jittered exponential backoff within the export timeout, with the same
   id, so a retry after a lost COMMIT acknowledgement stores nothing twice. A refusal (a data
   error, or another non-transient error the server sent) bisects the batch (``poison``).
   Each failed attempt that is not a refusal counts towards opening the breaker; a wait for a
   pooled connection while this process's exports hold them all is back pressure, and is
   waited out within the timeout without counting.
3. If the attempts failed, the converted rows are appended to the local spool and
   ``export()`` reports success: the batch is in durable custody. If the breaker is open,
   the batch is not even converted on the caller's thread: the write-behind thread converts
   and spools it, so ``export()`` returns at once (up to ``dlq_write_behind_batches`` batches
   wait for it; past that, the caller spools the batch itself). Only while the spool is known
   to take batches, though (``Spool.has_room``): otherwise the caller spools the batch itself,
   and learns whether the spool took it.
4. A background thread replays the spool oldest first, at most ``dlq_replay_rate`` batches
   per second on one pooled connection, whenever the breaker lets it; a batch already in the
   ledger is skipped, a batch the database refuses as a whole is set behind the others
   (``Spool.set_aside``). It also fsyncs the spool, adopts the spools of exited processes and
   creates the daily partitions when the UTC date moves on: DDL that waits for locks, kept off
   the export path (docs/reliability.md, "Bounded DDL and connecting"). An export only notices
   that they are due and wakes it; its rows land in the default partition meanwhile.
5. Once a batch is stored, the maintenance thread (``maintenance.py``) starts: hourly, it
   applies retention and prunes the ledger and the dead letters, on a connection of its own.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import PgvectorSettings
from ..convert.table import RowStream, TableRows
from ..db.database import Database
from ..db.shared import SharedRegistry
from ..errors import DatabaseClosed, SpoolError
from ..forksafe import reset_after_fork
from .breaker import BreakerState, BreakerStats, CircuitBreaker
from .maintenance import Maintenance
from .retry import Action, Backoff, classify, is_refusal
from .spool import Spool, SpooledBatch, SpoolStats, inspect_directory
from .write_behind import WriteBehind
from .writer import TelemetryWriter

logger = logging.getLogger(__name__)

_ADOPT_EVERY = 30.0  # seconds between looks for the spools of exited processes


def spool_directory(settings: PgvectorSettings) -> Path:
    """The spool directory of a database and schema: ``DLQ_DIR/<schema>-<hash of the server>``."""
    server = settings.redacted_dsn  # the password does not change which database it is
    digest = hashlib.sha256(server.encode()).hexdigest()[:12]
    return settings.dlq_dir.expanduser() / f"{settings.db_schema}-{digest}"


class Outcome(enum.Enum):
    """What became of a batch."""

    STORED = "stored"  # committed now (rows the database rejected are in otel_dead_letters)
    DUPLICATE = "duplicate"  # its id was in the ledger: it had been committed before
    SPOOLED = "spooled"  # on local disk, to be replayed
    QUEUED = "queued"  # breaker open: handed to the write-behind thread, which spools it
    LOST = "lost"  # neither stored nor spooled (the spool refused it): counted, logged

    @property
    def delivered(self) -> bool:
        """True when the batch is stored, spooled or queued for the spool (what export() reports)."""
        return self is not Outcome.LOST


class Replay(enum.Enum):
    """What one step of replay did."""

    NOTHING = "nothing"  # nothing to replay now: an empty spool, or the breaker or a cool-down says wait
    REPLAYED = "replayed"  # stored now, or found in the ledger
    FAILED = "failed"  # a transient error (or a closed database): the batch stays first in line
    SET_ASIDE = "set_aside"  # refused as a whole: appended again behind the others, tried later


@dataclass(frozen=True)
class ReplayReport:
    """What ``Delivery.replay_all`` did: ``otel-pgvector dlq replay`` renders it."""

    replayed_batches: int
    replayed_rows: int
    duplicate_batches: int  # in the ledger already: stored before, skipped now
    set_aside_batches: int  # refused as a whole by the database: still spooled, behind the others
    interrupted: bool  # a transient error stopped the replay; the batches from there on stay spooled
    left_batches: int  # still spooled afterwards (held by running processes, set aside, or interrupted)


@dataclass(frozen=True)
class WriteStatus:
    """The write path of one database as this process sees it (``health()`` reports it)."""

    breaker_state: str | None  # None when no exporter of this process writes to the database
    queued_batches: int | None  # waiting in memory for the spool writer; None likewise
    spool: SpoolStats  # the spool directory on disk, every process's segments


@dataclass(frozen=True)
class DeliveryStats:
    breaker: BreakerStats
    spool: SpoolStats
    stored_batches: int
    rejected_rows: int
    lost_batches: int
    queued_batches: int  # waiting in memory for the write-behind thread now


class Delivery:
    """Writes batches to one database, resiliently; see the module docstring."""

    def __init__(self, database: Database, settings: PgvectorSettings, background: bool = True) -> None:
        self.database = database
        self.settings = settings
        self.writer = TelemetryWriter(database)
        self.breaker = CircuitBreaker(
            settings.breaker_threshold, settings.breaker_cooldown, name=repr(database),
            on_close=self._on_breaker_close, probe_timeout=settings.breaker_cooldown + settings.timeout,
        )
        self.spool = Spool(spool_directory(settings), settings.dlq_max_bytes, settings.dlq_fsync_interval)
        self._backoff = Backoff(settings.retry_initial_backoff, settings.retry_max_backoff)
        self.write_behind = WriteBehind(settings.dlq_write_behind_batches, "otel-pgvector-spooler")
        self.maintenance = Maintenance(database, settings, lambda: self.breaker.state is BreakerState.CLOSED)
        self._counts_lock = threading.Lock()
        self._stored = self._rejected = self._lost = 0
        # After a live batch failed and was spooled, the replayer waits a cool-down (or until the
        # database accepts a write) before trying the spool: retrying at once only loads a
        # failing server, and counts towards the breaker a failure the exporters did not make.
        self._replay_not_before = 0.0
        self._failure_warned = False  # a failed write since the last success was logged as a warning
        # While a lock keeps the daily partitions from being created, the replayer tries again
        # after a back-off, not on every round; an export does not wake it before then either.
        self._partitions_not_before = 0.0
        self._partition_failures = 0
        self.after_fork_in_child()
        reset_after_fork(self)
        self._background = background  # False: the caller replays (``otel-pgvector dlq replay``)
        if background and any(self.spool.directory.glob("*.seg")):
            self._ensure_replayer()  # a previous process left batches behind

    def after_fork_in_child(self) -> None:
        """Start without a replayer thread: a forked child has none (it starts one when needed)."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    # --- the live path ---------------------------------------------------------------------

    def deliver(self, convert: Callable[[], Sequence[TableRows]], timeout: float,
                abort: threading.Event | None = None) -> Outcome:
        """Store the rows ``convert()`` gives exactly once, or spool them; never raises, within ``timeout``.

        ``convert`` is called once: on this thread, or, while the breaker is open, on the
        write-behind thread after this call has returned ``QUEUED``. A batch it fails to
        convert is LOST (counted and logged). Once ``abort`` is set (the exporter shuts down),
        no retry back-off is waited out: the batch is spooled at once.
        """
        deadline = time.monotonic() + timeout
        batch_id = uuid.uuid4().bytes
        if not self.breaker.allow():  # open: no network, and the conversion can wait too
            queue = self.write_behind
            # Acknowledged before it is written: only while the spool is known to take it.
            if (queue.capacity and self.spool.has_room(queue.capacity)
                    and queue.submit(lambda: self._convert_and_spool(batch_id, convert))):
                return Outcome.QUEUED
            return self._convert_and_spool(batch_id, convert)
        parts = self._convert(convert)
        if parts is None:
            return Outcome.LOST
        try:
            return self._attempt(parts, batch_id, deadline, abort or self._stop)
        except Exception as error:  # noqa: BLE001 - spooled below; the breaker saw the attempts
            # The first failure after a success warns; the next ones are INFO: nothing is lost,
            # and failures that persist open the breaker, which warns once more.
            level = logging.INFO if self._failure_warned else logging.WARNING
            self._failure_warned = True
            logger.log(level, "could not write a batch to %s, spooling it: %s", self.database, error)
        self._replay_not_before = time.monotonic() + self.settings.breaker_cooldown
        return self._spool(batch_id, parts)

    def _convert(self, convert: Callable[[], Sequence[TableRows]]) -> list[TableRows] | None:
        """The batch's rows, or None (counted as lost) when its records could not be converted."""
        try:
            return reusable(convert())
        except Exception:
            self._count_lost()
            logger.exception("lost a batch: its records could not be converted")
            return None

    def _convert_and_spool(self, batch_id: bytes, convert: Callable[[], Sequence[TableRows]]) -> Outcome:
        """Spool a batch the breaker kept off the network (the write-behind job, or its fallback)."""
        parts = self._convert(convert)
        return Outcome.LOST if parts is None else self._spool(batch_id, parts)

    def _attempt(self, parts: Sequence[TableRows], batch_id: bytes, deadline: float,
                 abort: threading.Event) -> Outcome:
        """Write with retries until ``deadline``, reporting each attempt to the breaker; raise on failure.

        A back-off pause ends early when ``abort`` is set, and the last error is raised. A
        refusal is written again with poison-row isolation; if that fails too it is raised at
        once, and the breaker counts it as an answer, not a failure. A wait for a pooled
        connection while this process's exports hold them all (back pressure) is not counted
        either: it is waited out, for all the time left, until ``deadline``.
        """
        settings = self.settings
        reserve = min(0.5, settings.timeout * 0.1)  # kept back to spool the batch if all attempts fail
        connect_wait = max(0.2, settings.timeout / 10)
        attempt = 0
        while True:
            remaining = deadline - time.monotonic() - reserve
            try:
                if remaining <= 0:
                    raise TimeoutError("the export timeout elapsed before the batch could be written")
                try:
                    stored = self.writer.write(parts, remaining, batch_id, connect_wait)
                    rejected = 0
                except Exception as error:
                    if not is_refusal(error):
                        raise
                    stored, rows = self.writer.write_isolating(
                        parts, max(0.001, deadline - time.monotonic() - reserve), batch_id, connect_wait,
                        settings.max_value_length,
                    )
                    rejected = len(rows)
                    if rows:
                        logger.warning("%d rows rejected by the database went to otel_dead_letters: %s",
                                       rejected, rows[0].error.splitlines()[0])
            except Exception as error:
                action = classify(error)
                if action is Action.WAIT:  # the pool is reachable and busy: queue again for a connection
                    connect_wait = deadline - time.monotonic() - reserve
                    if connect_wait <= 0 or abort.is_set():
                        raise
                    continue
                if is_refusal(error):  # the database answered; it refused this batch, it is not down
                    self.breaker.record_success()
                    raise
                self.breaker.record_failure(error)
                attempt += 1
                pause = self._backoff.pause(attempt - 1)
                if (action is not Action.RETRY or attempt >= settings.retry_max_attempts
                        or self.breaker.state is not BreakerState.CLOSED
                        or time.monotonic() + pause >= deadline - reserve):
                    raise
                logger.info("transient error writing a batch (attempt %d), retrying in %.2f s: %s",
                            attempt, pause, error)
                if abort.wait(pause):
                    raise
                continue
            self.breaker.record_success()
            self._replay_not_before = 0.0  # the database takes writes: the spool may follow
            self._failure_warned = False
            if self.database.partitions.due() and time.monotonic() >= self._partitions_not_before:
                self._ensure_replayer()
                self._wake.set()
            if self._background:
                self.maintenance.start()
            with self._counts_lock:
                self._stored += stored
                self._rejected += rejected
            return Outcome.STORED if stored else Outcome.DUPLICATE

    def _spool(self, batch_id: bytes, parts: Sequence[TableRows]) -> Outcome:
        try:
            self.spool.append(batch_id, parts)
        except SpoolError as error:
            self._count_lost()
            logger.error("lost a batch: the database did not take it and the spool refused it: %s", error)
            return Outcome.LOST
        self._ensure_replayer()
        return Outcome.SPOOLED

    def _count_lost(self, batches: int = 1) -> None:
        with self._counts_lock:
            self._lost += batches

    # --- the replayer --------------------------------------------------------------------------

    def _on_breaker_close(self) -> str | None:
        """Start replaying at once; say how much the outage left in the spool (for the log)."""
        self._wake.set()
        spooled = self.spool.stats()
        if not spooled.pending_batches:
            return None
        return (f"{spooled.pending_batches} spooled batches ({spooled.pending_rows} rows) are being "
                "replayed")

    def _ensure_replayer(self) -> None:
        if not self._background or (self._thread is not None and self._thread.is_alive()):
            return
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._replay_loop, name="otel-pgvector-replayer",
                                                daemon=True)
                self._thread.start()

    def _replay_loop(self) -> None:
        last_adopt = 0.0
        last_sync = time.monotonic()
        pause = 1.0 / self.settings.dlq_replay_rate
        failures = 0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now - last_adopt >= _ADOPT_EVERY:
                    last_adopt = now
                    self.spool.adopt_orphans()
                if now - last_sync >= self.settings.dlq_fsync_interval:
                    last_sync = now
                    self.spool.sync()
                self._keep_partitions()
                replayed = self.replay_one()
            except Exception:  # the loop must survive anything; the next round tries again
                logger.exception("dead-letter replayer error")
                replayed = Replay.FAILED
            if replayed is Replay.REPLAYED:
                failures, wait = 0, pause
            elif replayed is Replay.NOTHING:
                wait = min(0.25, self.settings.breaker_cooldown / 4)
            else:  # failing or refused batches (say, a dropped table) back off up to a minute
                failures += 1
                wait = min(60.0, self.settings.breaker_cooldown * 2 ** min(failures, 10))
            if self._wake.wait(wait):
                self._wake.clear()

    def _keep_partitions(self) -> None:
        """Create the daily partitions if they are due (``Database.ensure_partitions``), backing
        off up to a minute while a lock or an error keeps them from being created."""
        if (time.monotonic() < self._partitions_not_before or not self.database.partitions.due()
                or self.breaker.state is not BreakerState.CLOSED):
            return
        try:
            created = self.database.ensure_partitions()
        except Exception as error:  # noqa: BLE001 - tried again after the back-off
            logger.warning("could not create the daily partitions of %s, trying again later: %s",
                           self.database, error)
            created = False
        if created:
            self._partition_failures = 0
            return
        self._partition_failures += 1
        self._partitions_not_before = time.monotonic() + min(
            60.0, self.settings.breaker_cooldown * 2 ** min(self._partition_failures, 10))

    def replay_one(self, set_aside: set[bytes] | None = None) -> Replay:
        """Replay the oldest spooled batch if the breaker lets us, and no live batch failed
        within the last cool-down (unless the database has taken a write since).

        A batch that fails with a transient error stays first in line; one the database refuses
        as a whole (no rows to blame: a permission, a missing column) is set behind the others,
        so it never holds them up. ``set_aside``, when given, collects the ids of the batches
        set aside, and a batch whose id it holds is not tried again (``replay_all``).
        """
        if time.monotonic() < self._replay_not_before or not self.spool.pending() or not self.breaker.ready():
            return Replay.NOTHING
        batch = self.spool.next_batch()
        if batch is None:
            return Replay.NOTHING
        if (set_aside is not None and batch.batch_id in set_aside) or not self.breaker.allow():
            self.spool.release(batch)  # tried in this run already, or another caller took the probe slot
            return Replay.NOTHING
        try:
            outcome = self._attempt(batch.parts, batch.batch_id, time.monotonic() + self.settings.timeout,
                                    self._stop)
        except Exception as error:  # noqa: BLE001 - reported to the replayer's caller as a failed replay
            action = classify(error)
            if action is Action.ISOLATE or (action is Action.FAIL and not isinstance(error, DatabaseClosed)):
                return self._set_aside(batch, error, set_aside)
            self.spool.release(batch)
            logger.info("replaying a spooled batch failed, it stays spooled: %s", error)
            return Replay.FAILED
        self.spool.ack(batch, duplicate=outcome is Outcome.DUPLICATE)
        return Replay.REPLAYED

    def _set_aside(self, batch: SpooledBatch, error: Exception, ids: set[bytes] | None) -> Replay:
        try:
            self.spool.set_aside(batch)
        except SpoolError as failure:
            logger.warning("the database refused a spooled batch (%s) and the spool could not set it aside "
                           "(%s): it stays first in line", error, failure)
            return Replay.FAILED
        if ids is not None:
            ids.add(batch.batch_id)
        logger.warning("the database refused a spooled batch as a whole; it stays spooled, behind the "
                       "others, and is tried again later: %s", error)
        return Replay.SET_ASIDE

    def replay_all(self, progress: Callable[[int, int], None] | None = None) -> ReplayReport:
        """Adopt the spools of exited processes and replay every batch now, oldest first.

        For ``otel-pgvector dlq replay`` (a Delivery built with ``background=False``): the same
        exactly-once path as the replayer thread, without its rate limit. ``progress(done,
        total)`` is called after each batch. Each batch is tried once: one the database refuses
        as a whole is set aside and the replay goes on; a transient error stops it.
        """
        self.spool.adopt_orphans()
        total = self.spool.stats().pending_batches
        done = 0
        set_aside: set[bytes] = set()
        interrupted = False
        while (step := self.replay_one(set_aside)) is not Replay.NOTHING:
            if step is Replay.FAILED:
                interrupted = True
                break
            done += 1
            if progress is not None:
                progress(done, total)
        stats = self.spool.stats()
        left = inspect_directory(self.spool.directory).pending_batches
        return ReplayReport(stats.replayed_batches, stats.replayed_rows, stats.duplicate_batches,
                            len(set_aside), interrupted, left)

    # --- reporting and closing --------------------------------------------------------------------

    def stats(self) -> DeliveryStats:
        with self._counts_lock:
            return DeliveryStats(self.breaker.stats(), self.spool.stats(), self._stored, self._rejected,
                                 self._lost, self.write_behind.waiting)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until the batches queued for the spool are in it."""
        return self.write_behind.flush(timeout)

    def close(self, timeout: float) -> None:
        """Spool what is queued, stop the replayer and the maintenance thread and close the spool
        (its unreplayed batches stay for the next process)."""
        deadline = time.monotonic() + timeout
        abandoned = self.write_behind.close(timeout)
        if abandoned:
            self._count_lost(abandoned)
            logger.error("lost %d batches queued for the spool: the shutdown timeout elapsed first",
                         abandoned)
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        self.maintenance.close(max(0.0, deadline - time.monotonic()))
        self.spool.close()


def reusable(parts: Sequence[TableRows]) -> list[TableRows]:
    """``parts`` with rows that can be read more than once (a retry re-sends them)."""
    return [part if isinstance(part.rows, (list, tuple, RowStream))
            else TableRows(part.table, list(part.rows), part.insert_if_absent) for part in parts]


_deliveries: SharedRegistry[Database, Delivery] = SharedRegistry()


def write_status(database: Database) -> WriteStatus:
    """Breaker and queue of this process's exporters for ``database`` (if any) and its spool on disk."""
    delivery = _deliveries.active(database)
    return WriteStatus(
        breaker_state=delivery.breaker.state.value if delivery is not None else None,
        queued_batches=delivery.write_behind.waiting if delivery is not None else None,
        spool=inspect_directory(spool_directory(database.settings)),
    )


def replay_spooled(database: Database, progress: Callable[[int, int], None] | None = None) -> ReplayReport:
    """Replay the spools that exited processes left for ``database`` now, exactly once.

    Spools of running processes stay theirs (their replayers send them); see
    :meth:`Delivery.replay_all`.
    """
    delivery = Delivery(database, database.settings, background=False)
    try:
        return delivery.replay_all(progress)
    finally:
        delivery.close(database.settings.timeout)


def delivery_for(database: Database, settings: PgvectorSettings) -> Delivery:
    """The shared :class:`Delivery` of ``database``; give it back with :func:`release_delivery`."""
    return _deliveries.acquire(database, lambda: Delivery(database, settings))


def release_delivery(database: Database, timeout: float) -> None:
    """Give back a :func:`delivery_for` handle; the last one stops the replayer and closes the spool."""
    last = _deliveries.release(database)
    if last is not None:
        last.close(timeout)
