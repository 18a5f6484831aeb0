"""``otel_dead_letters`` rows for records that could not be converted at all.

Conversion sanitizes every value it knows (``values.py``, ``limits.py``), but a record may
still defeat it: an object of the wrong type where the SDK promises another, a ``__str__``
that raises. Such a record must not vanish while ``export()`` says SUCCESS, so its batch
carries a dead letter instead, written in the same transaction as the batch's other rows
(or spooled with them). ``write/poison.py`` fills the same table with the rows the database
rejected; the two differ as follows:

* ``batch_id`` is the nil uuid: the batch id is given by ``write/`` after conversion;
* ``sqlstate`` is NULL: the database never saw the record;
* ``error`` names the record and the exception that stopped its conversion;
* ``content`` is ``{"record": <bounded repr of the SDK object>}``: everything that could be
  read, bounded as :func:`~.values.bounded_repr` says, then to the maximum value length;
* ``raw`` is empty: there was never a row to encode.
"""

from __future__ import annotations

from typing import Any

from .table import Column, Row, TableSpec
from .values import bounded_repr, clean_text, to_jsonb

DEAD_LETTER_TABLE = TableSpec(
    name="otel_dead_letters",
    columns=(
        Column("batch_id", "uuid"),
        Column("table_name", "text"),
        Column("sqlstate", "text"),
        Column("error", "text"),
        Column("content", "jsonb"),
        Column("raw", "bytea"),
    ),
)

NIL_BATCH_ID = bytes(16)


def conversion_dead_letter(
    table: TableSpec, description: str, record: Any, error: BaseException, max_length: int
) -> Row:
    """The dead letter of ``record``, bound for ``table``, whose conversion raised ``error``."""
    return (
        NIL_BATCH_ID,
        table.name,
        None,
        clean_text(f"could not convert {description}: {type(error).__name__}: {error}", max_length),
        to_jsonb({"record": bounded_repr(record)}, max_length),
        b"",
    )
