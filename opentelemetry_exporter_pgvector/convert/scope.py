"""Resource and instrumentation scope, serialized once per object rather than once per record.

Every span, log record and metric of a provider carries the same ``Resource`` and a handful of
``InstrumentationScope`` objects. Serializing their attributes for each of thousands of
records per second would be most of the conversion cost, so they are cached by identity. The
cache keeps a reference to each object, so an id is never reused while its entry lives, and
holds a bounded number of entries.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from .limits import index_text
from .table import Column, Row, TableRows, TableSpec
from .values import attributes_jsonb, bounded_repr, clean_optional_text, clean_text

_Key = TypeVar("_Key")
_Value = TypeVar("_Value")

UNKNOWN_SERVICE = "unknown_service"

RESOURCE_TABLE = TableSpec(
    name="otel_resources",
    columns=(
        Column("resource_id", "int8"),
        Column("service_name", "text"),
        Column("attributes", "jsonb"),
        Column("schema_url", "text"),
    ),
)


def resource_id(attributes: bytes, schema_url: str | None) -> int:
    """A resource's key: 64 bits of BLAKE2b over its schema URL and serialized attributes."""
    digest = hashlib.blake2b(attributes, digest_size=8, person=b"otel-resource")
    digest.update(b"\x00" + (schema_url or "").encode())
    return int.from_bytes(digest.digest(), "big", signed=True)


@dataclass(frozen=True)
class ResourceColumns:
    """The columns every record derives from its resource, and its ``otel_resources`` row."""

    service_name: str
    resource_id: int
    row: Row


@dataclass(frozen=True)
class ScopeColumns:
    """The columns every record derives from its instrumentation scope."""

    name: str | None
    version: str | None
    attributes_jsonb: bytes | None
    schema_url: str | None


class _IdentityCache(Generic[_Key, _Value]):
    """A small bounded cache keyed by object identity (oldest evicted first) that keeps its keys alive."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[int, tuple[_Key, _Value]] = OrderedDict()

    def get(self, key: _Key) -> _Value | None:
        entry = self._entries.get(id(key))
        if entry is None or entry[0] is not key:
            return None
        return entry[1]

    def put(self, key: _Key, value: _Value) -> None:
        self._entries[id(key)] = (key, value)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


class ScopeCache:
    """Serialized resource and scope columns, computed once per object."""

    def __init__(self, max_length: int, capacity: int = 256) -> None:
        self._max_length = max_length
        self._resources: _IdentityCache[Resource, ResourceColumns] = _IdentityCache(capacity)
        self._scopes: _IdentityCache[InstrumentationScope, ScopeColumns] = _IdentityCache(capacity)
        self._no_scope = ScopeColumns(None, None, None, None)

    def resource(self, resource: Resource) -> ResourceColumns:
        columns = self._resources.get(resource)
        if columns is None:
            attributes = resource.attributes
            service = attributes.get(SERVICE_NAME)
            # indexed with each record: cut to fit a btree row; the attributes keep it whole
            service_name = (
                index_text(clean_text(service if isinstance(service, str) else bounded_repr(service),
                                      self._max_length))
                if service else UNKNOWN_SERVICE
            )
            serialized = attributes_jsonb(attributes, self._max_length)
            schema_url = clean_optional_text(resource.schema_url or None, self._max_length)
            key = resource_id(serialized, schema_url)
            columns = ResourceColumns(service_name, key, (key, service_name, serialized, schema_url))
            self._resources.put(resource, columns)
        return columns

    def resource_part(self, resources: Iterable[Resource]) -> TableRows:
        """The ``otel_resources`` rows (insert-if-absent) of the distinct resources of a batch.

        A resource that cannot be converted has no row: its records cannot be converted either,
        and go to the dead letters one by one.
        """
        distinct = {id(resource): resource for resource in resources}
        rows = []
        for resource in distinct.values():
            try:
                rows.append(self.resource(resource).row)
            except Exception:  # noqa: BLE001 - its records report the error, each as a dead letter
                continue
        return TableRows(RESOURCE_TABLE, rows, insert_if_absent=True)

    def scope(self, scope: InstrumentationScope | None) -> ScopeColumns:
        if scope is None:
            return self._no_scope
        columns = self._scopes.get(scope)
        if columns is None:
            max_length = self._max_length
            columns = ScopeColumns(
                name=clean_optional_text(scope.name, max_length),
                version=clean_optional_text(scope.version, max_length),
                attributes_jsonb=attributes_jsonb(scope.attributes, max_length) if scope.attributes else None,
                schema_url=clean_optional_text(scope.schema_url or None, max_length),
            )
            self._scopes.put(scope, columns)
        return columns
