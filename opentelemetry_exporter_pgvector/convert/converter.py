"""What every signal's converter shares: caches, one bad record's dead letter, and the parts of a batch.

A converter turns one SDK record (span, log record, metric data point) into one row of its
table. Around that, each signal needs the same things, kept here once: the resource/scope
cache, the optional :class:`ShapeBuilder`, turning a record that cannot be converted into a
dead letter (logged, without losing the rest of the batch), and a batch's :class:`TableRows`
parts: the records' rows, converted lazily while COPY streams them, the ``otel_resources``
rows, with shapes the ``otel_shapes`` rows, and the ``otel_dead_letters`` rows, both
collected during conversion. A subclass only says what differs: its table, how one record
becomes a row, and how a record is named in the log and its dead letter.
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar, Generic, TypeVar

from opentelemetry.sdk.resources import Resource

from .dead_letters import DEAD_LETTER_TABLE, conversion_dead_letter
from .scope import ScopeCache
from .shapes import SHAPE_TABLE, ShapeBuilder
from .table import Row, RowStream, TableRows, TableSpec, collected_part

logger = logging.getLogger(__name__)

_Record = TypeVar("_Record")


class RecordConverter(ABC, Generic[_Record]):
    """Turns SDK records into rows of :attr:`table`; one instance per exporter (it caches resources).

    With a :class:`ShapeBuilder` each row may carry a shape key and a batch includes its
    ``otel_shapes`` rows; without one (embeddings off, or a signal without shapes) it does not.
    """

    table: ClassVar[TableSpec]

    def __init__(self, max_value_length: int, shapes: ShapeBuilder | None = None) -> None:
        self._max = max_value_length
        self._scopes = ScopeCache(max_value_length)
        self._shapes = shapes

    @abstractmethod
    def convert(self, record: _Record, shapes: dict[int, Row] | None = None) -> Row:
        """The row of one record; the row of its shape, if it has one, is added to ``shapes`` when given.

        Pure apart from the resource/scope and shape caches. Raises on a record that cannot be
        converted; :meth:`convert_batch` drops such a record.
        """

    @abstractmethod
    def _describe(self, record: _Record) -> str:
        """How the log message and dead letter of an unconvertible record name it (only called then)."""

    @staticmethod
    def _collect_shape(shape: Row, shapes: dict[int, Row] | None) -> int:
        """The key of a record's ``shape`` row (its first column), once the row is in ``shapes`` if given."""
        key: int = shape[0]
        if shapes is not None:
            shapes[key] = shape
        return key

    def _convert_or_dead_letter(
        self, shapes: dict[int, Row], letters: list[Row], record: _Record
    ) -> Row | None:
        """The row of ``record``, or None with its dead letter added to ``letters``."""
        try:
            return self.convert(record, shapes)
        except Exception as error:  # one malformed record must not cost the rest of the batch
            description = self._describe(record)
            logger.exception("%s could not be converted; it goes to otel_dead_letters", description)
            letters.append(conversion_dead_letter(self.table, description, record, error, self._max))
            return None

    def _batch_parts(self, records: Iterable[_Record], resources: Iterable[Resource]) -> list[TableRows]:
        """The parts of a batch: ``records`` (converted while COPY streams them), ``resources``, shapes
        and dead letters.

        ``records`` is iterated once, lazily; ``resources`` right away (they are few, and cached).
        """
        shapes: dict[int, Row] = {}
        letters: list[Row] = []
        stream = RowStream(records, functools.partial(self._convert_or_dead_letter, shapes, letters))
        parts = [TableRows(self.table, stream), self._scopes.resource_part(resources)]
        if self._shapes is not None:
            parts.append(collected_part(SHAPE_TABLE, stream, shapes.values(), insert_if_absent=True))
        parts.append(collected_part(DEAD_LETTER_TABLE, stream, letters, insert_if_absent=False))
        return parts
