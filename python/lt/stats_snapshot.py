"""Reader of the binary statistics snapshot: what ``Session.stats_export("binary")``
(``lt_session_stats_export`` with ``LT_STATS_BINARY``) returns, and what a log
of snapshots appended one after another holds. docs/stats.md ("Binary
snapshot") documents every byte; the engine's ``export::binary`` is the writer.

Names do not travel in a snapshot: values are in the order of the metric
catalogue, which only ever grows at its end, so the loaded library's
``lt.metrics()`` names them. The header's schema hash (FNV-1a over the names)
is checked against that catalogue; values a newer library wrote past the end
of the loaded one's catalogue are kept, unnamed, in ``unnamed``.
"""

from __future__ import annotations

import datetime
import functools
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator, Union

MAGIC = b"\x89LTS"
FORMAT_VERSION = 1
HEADER_LEN = 32
#: The most metrics a snapshot may hold (the writer's bound; the catalogue has a few hundred).
MAX_METRICS = 1 << 16

# magic, version, header length, total length, count, timestamp (us), schema hash
_HEADER = struct.Struct("<4sHHIIqQ")

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = (1 << 64) - 1
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def schema_hash(names: Iterable[str]) -> int:
    """64-bit FNV-1a over the names, each followed by a NUL byte: the header's
    schema hash for a snapshot of those metrics."""
    h = _FNV_OFFSET
    for name in names:
        for byte in name.encode("utf-8") + b"\0":
            h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return h


@dataclass(frozen=True)
class StatsSnapshot:
    """One decoded snapshot."""

    #: The format version it was written in.
    version: int
    #: When it was taken: microseconds since the Unix epoch.
    timestamp_us: int
    #: FNV-1a of the writer's metric names (checked against the loaded library's).
    schema_hash: int
    #: Every metric by name (``"net.recv_bytes"``), in catalogue order.
    values: dict[str, int]
    #: Values of metrics newer than the loaded library, in the writer's order.
    unnamed: list[int] = field(default_factory=list)

    @property
    def timestamp(self) -> datetime.datetime:
        """When it was taken, as an aware UTC datetime."""
        return _EPOCH + datetime.timedelta(microseconds=self.timestamp_us)


@functools.lru_cache(maxsize=None)
def _catalogue() -> tuple[str, ...]:
    """The loaded library's metric names by index (it cannot change while loaded)."""
    from . import metrics

    return tuple(name for name, _kind in metrics())


@functools.lru_cache(maxsize=None)
def _catalogue_hash(count: int) -> int:
    """``schema_hash`` of the loaded library's first ``count`` metric names."""
    return schema_hash(_catalogue()[:count])


def _header(data: bytes | memoryview) -> tuple[int, int, int, int, int, int]:
    """The checked header at the start of ``data``: version, header length,
    total length, count, timestamp, schema hash."""
    if len(data) < HEADER_LEN:
        raise ValueError(f"binary snapshot truncated: {HEADER_LEN} bytes needed, {len(data)} present")
    magic, version, header_len, total, count, timestamp_us, schema = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError("not a binary statistics snapshot (bad magic)")
    if version != FORMAT_VERSION:
        raise ValueError(f"binary snapshot format version {version} is not supported (this reader knows {FORMAT_VERSION})")
    if header_len < HEADER_LEN:
        raise ValueError(f"binary snapshot header length {header_len} is under {HEADER_LEN}")
    if count > MAX_METRICS:
        raise ValueError(f"binary snapshot holds {count} metrics, more than {MAX_METRICS}")
    need = header_len + 8 * count
    if total < need:
        raise ValueError(f"binary snapshot length {total} is under its header and values ({need} bytes)")
    return version, header_len, total, count, timestamp_us, schema


def _decode(data: bytes | memoryview) -> tuple[StatsSnapshot, int]:
    """The snapshot at the start of ``data`` and its length in bytes."""
    version, header_len, total, count, timestamp_us, schema = _header(data)
    if len(data) < total:
        raise ValueError(f"binary snapshot truncated: {total} bytes needed, {len(data)} present")
    values = struct.unpack_from(f"<{count}q", data, header_len)
    names = _catalogue()
    if count <= len(names):
        names = names[:count]
        expected = _catalogue_hash(count)
        if expected != schema:
            raise ValueError(
                f"binary snapshot schema hash {schema:#018x} does not match the loaded library's "
                f"first {count} metric names ({expected:#018x})"
            )
    # A newer writer: its first len(names) metrics are ours (metrics are only
    # appended); its hash covers names this library does not know.
    snapshot = StatsSnapshot(
        version=version,
        timestamp_us=timestamp_us,
        schema_hash=schema,
        values=dict(zip(names, values)),
        unnamed=list(values[len(names):]),
    )
    return snapshot, total


def read_stats_snapshot(data: bytes) -> StatsSnapshot:
    """Decodes one snapshot (``data`` must be exactly one); raises ValueError
    for bytes that are not one, or whose names the loaded library does not share."""
    snapshot, used = _decode(bytes(data))
    if used != len(data):
        raise ValueError(f"{len(data) - used} bytes after the snapshot: use iter_stats_snapshots for a log")
    return snapshot


def iter_stats_snapshots(source: Union[bytes, BinaryIO]) -> Iterator[StatsSnapshot]:
    """Yields each snapshot of a log of snapshots appended one after another:
    ``bytes``, or a binary file read as it goes. Raises ValueError at bytes
    that are not a snapshot, including a last one cut short."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        # A view, so that each step does not copy the rest of the log.
        data = memoryview(source)
        offset = 0
        while offset < len(data):
            snapshot, used = _decode(data[offset:])
            offset += used
            yield snapshot
        return
    while True:
        header = source.read(HEADER_LEN)
        if not header:
            return
        # The header is checked before the rest is read, so a file that is
        # not a log is never read whole.
        total = _header(header)[2]
        snapshot, _used = _decode(header + source.read(total - HEADER_LEN))
        yield snapshot
