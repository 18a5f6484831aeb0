"""What the three exporters share: settings, the shared database, and the SDK's contract.

The contract, as opentelemetry-sdk behaves: ``export()`` returns a result and never raises;
it may run on several threads at once (``SimpleSpanProcessor``); ``shutdown()`` may overlap
an export in flight, is idempotent, and later exports fail with a single warning; the
no-argument constructor works, configured from ``OTEL_EXPORTER_PGVECTOR_*`` variables,
because ``opentelemetry-instrument`` builds exporters that way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from ..config import PgvectorSettings, SettingsOverrides
from ..convert.shapes import SHAPE_TABLE, ShapeBuilder
from ..convert.table import TableRows
from ..db.database import Database, acquire
from ..embedding.model import configured_model_name
from ..write.delivery import Delivery, Outcome, delivery_for, release_delivery

if TYPE_CHECKING:
    from ..embedding.encoder import ShapeEncoder

logger = logging.getLogger(__name__)

# In inline mode, the largest share of the export timeout an export waits for its new shapes'
# vectors (after writing its records and the shapes without vectors), whatever
# OTEL_EXPORTER_PGVECTOR_EMBEDDING_INLINE_WAIT says; never past the timeout.
INLINE_EMBED_SHARE = 0.5


class PgvectorExporterBase:
    """Lifecycle and write path common to the span, log and metric exporters."""

    signal = "telemetry"
    # Signals whose records have shapes in otel_shapes (spans, log bodies), per EMBEDDING:
    # ``off`` stores none; ``deferred`` stores shape keys and new shapes without vectors, at full
    # speed and without importing numpy, torch or onnxruntime; ``inline`` also embeds new shapes
    # on a background pool. In inline mode, once the batch is committed (records written at full
    # speed, COPY overlapping conversion), the export waits for its new shapes' vectors up to
    # ``embedding_inline_wait`` (0.2 s; at most half the timeout), unless the encoder already has
    # a backlog the wait could not get through or has not loaded its model yet. The wait is
    # short because an exporter blocked for seconds makes the SDK's batch processors overflow
    # and drop records, and a cold start brings hundreds of new shapes at once. A shape not
    # embedded in time keeps its vector-less row until the encoder finishes in the background
    # (or ``otel-pgvector embed`` fills it); no record is held back past the timeout or dropped
    # for it.
    has_shapes = False

    def __init__(
        self, settings: PgvectorSettings | None = None, **overrides: Unpack[SettingsOverrides]
    ) -> None:
        self.settings = PgvectorSettings.resolve(settings, **overrides)
        self._database: Database = acquire(self.settings)
        self._delivery: Delivery = delivery_for(self._database, self.settings)
        self._state = threading.Condition()
        self._in_flight = 0
        self._shutdown = False
        # Set by shutdown(): an export waiting out a retry back-off stops waiting and spools its
        # batch, as the OTLP exporters' shutdown interrupts their back-off.
        self._shutdown_event = threading.Event()
        self._warned_after_shutdown = False
        mode = self.settings.embedding if self.has_shapes else "off"
        self.shapes: ShapeBuilder | None = (
            None if mode == "off" else ShapeBuilder(configured_model_name(self.settings))
        )
        self._encoder: ShapeEncoder | None = None
        if mode == "inline":
            from ..embedding.encoder import acquire_encoder  # numpy and a model: inline mode only

            self._encoder = acquire_encoder(self.settings, self._database)

    @property
    def encoder(self) -> ShapeEncoder | None:
        """The shape encoder of ``inline`` mode (its ``stats()``), else None."""
        return self._encoder

    @property
    def database(self) -> Database:
        return self._database

    def _begin(self) -> bool:
        with self._state:
            if self._shutdown:
                if not self._warned_after_shutdown:
                    self._warned_after_shutdown = True
                    logger.warning("Exporter already shutdown, ignoring batch")
                return False
            self._in_flight += 1
            return True

    def _end(self) -> None:
        with self._state:
            self._in_flight -= 1
            self._state.notify_all()

    @property
    def delivery(self) -> Delivery:
        """Retries, breaker and spool of this exporter's database (shared with its siblings)."""
        return self._delivery

    def _write(self, convert: Callable[[], Sequence[TableRows]], count: int, timeout: float) -> Outcome:
        """Convert and deliver a batch exactly once within ``timeout`` seconds; never raises.

        Stored, spooled for replay, or (breaker open) queued for the spool are all SUCCESS
        (docs/reliability.md argues why); only LOST is a failure.
        """
        try:
            outcome = self._delivery.deliver(convert, timeout, self._shutdown_event)
        except Exception:  # the SDK contract: report failure, never raise
            logger.exception("Failed to export %d %s", count, self.signal)
            return Outcome.LOST
        if not outcome.delivered:
            logger.error("Failed to export %d %s to PostgreSQL", count, self.signal)
        return outcome

    def _export(
        self, count: int, convert: Callable[[], Sequence[TableRows]], timeout_millis: float | None = None
    ) -> bool:
        """One export: convert and deliver ``count`` records, then (inline) embed new shapes.

        Bounded by the export timeout, or by ``timeout_millis`` when the caller (the metric
        reader) gives a shorter one. False after shutdown or when the batch is lost; an empty
        batch touches no database.
        """
        if not self._begin():
            return False
        try:
            if not count:
                return True
            started = time.monotonic()
            timeout = self.settings.timeout
            if timeout_millis is not None:
                timeout = min(timeout, timeout_millis / 1000)
            converted: list[Sequence[TableRows]] = []  # the rows, when converted on this thread

            def convert_and_keep() -> Sequence[TableRows]:
                converted.append(convert())
                return converted[0]

            outcome = self._write(convert_and_keep, count, timeout)
            # a batch queued for the spool is converted on the write-behind thread: no model work for it
            if outcome.delivered and outcome is not Outcome.QUEUED and self._encoder is not None:
                budget = min(
                    self.settings.embedding_inline_wait,
                    timeout * INLINE_EMBED_SHARE,
                    timeout - (time.monotonic() - started),
                )
                self._embed_new_shapes(converted[0], budget)
            return outcome.delivered
        finally:
            self._end()

    def _embed_new_shapes(self, parts: Sequence[TableRows], budget: float) -> None:
        """Embed the batch's new shapes (already written without vectors), waiting up to ``budget``."""
        assert self._encoder is not None
        try:
            shapes = [row for part in parts if part.table is SHAPE_TABLE for row in part.rows]
            # Behind a backlog (a cold start's burst of new shapes), or before the model is
            # loaded (seconds; from an empty cache, its ONNX export), waiting would not get this
            # batch's vectors in time, only slow the export down: it is left to the background.
            backlogged = self._encoder.backlog > 0 or not self._encoder.model_loaded
            futures = self._encoder.submit(shapes)
            late = len(futures) if backlogged else self._encoder.wait(futures, budget)
        except Exception:  # embedding is best effort; the records are written regardless
            logger.exception(
                "could not embed %s shapes; they are left for `otel-pgvector embed`", self.signal
            )
            return
        if late:
            logger.debug("%d %s shapes not embedded within the export; filled later", late, self.signal)

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        """Wait until the batches queued for the spool (breaker open) are in it and, in inline
        mode, the shapes being embedded are written; True when both finished in time."""
        deadline = time.monotonic() + timeout_millis / 1000
        if not self._delivery.flush(timeout_millis / 1000):
            return False
        return self._encoder is None or self._encoder.flush(max(0.0, deadline - time.monotonic()))

    def shutdown(self, timeout_millis: float | None = None, **kwargs: Any) -> None:
        """Let exports in flight finish (an export in a retry back-off spools its batch at once),
        then give back the shared delivery, encoder and database, and the shape cache's memory
        (the SDK keeps a shut-down exporter referenced); idempotent.

        Bounded by ``timeout_millis`` when the caller (the metric reader) gives one, else by
        the export timeout.
        """
        timeout = self.settings.timeout if timeout_millis is None else timeout_millis / 1000
        self._shutdown_event.set()
        with self._state:
            if self._shutdown:
                logger.warning("Exporter already shutdown, ignoring call")
                return
            self._shutdown = True
            deadline = time.monotonic() + timeout
            while self._in_flight and (remaining := deadline - time.monotonic()) > 0:
                self._state.wait(remaining)  # let exports in flight finish, up to the timeout
        if self._encoder is not None:
            from ..embedding.encoder import release_encoder

            release_encoder(self._database, timeout * INLINE_EMBED_SHARE)
        release_delivery(self._database, timeout)
        self._database.release()
        if self.shapes is not None:
            self.shapes.clear()
