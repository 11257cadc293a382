"""The binary statistics snapshot read from Python: the golden file the Rust
reader also decodes (tests/data/stats_snapshot_v1.bin), a live session's
export, logs of appended snapshots, and bytes that are not a snapshot."""

from __future__ import annotations

import datetime
import io
import struct
import time
from pathlib import Path

import pytest

import lt
from lt.stats_snapshot import HEADER_LEN, schema_hash

from conftest import LOOPBACK, make_data

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "data" / "stats_snapshot_v1.bin"
#: The catalogue's length when the golden file was written (src/engine/export/binary.rs).
GOLDEN_COUNT = 230


def known_values(n: int) -> list[int]:
    """The values the Rust test encoded (binary.rs, ``known_values``)."""
    special = {0: -(2**63), 1: 2**63 - 1, 2: -1, 3: 0}
    return [special.get(i, i * 1_000_003 - 7) for i in range(n)]


def names() -> list[str]:
    return [name for name, _kind in lt.metrics()]


def encode(timestamp_us: int, metric_names: list[str], values: list[int]) -> bytes:
    """A version 1 snapshot written independently of the library, from docs/stats.md."""
    total = HEADER_LEN + 8 * len(values)
    header = struct.pack("<4sHHIIqQ", b"\x89LTS", 1, HEADER_LEN, total, len(values), timestamp_us,
                         schema_hash(metric_names))
    return header + struct.pack(f"<{len(values)}q", *values)


def check_golden(snapshots: list[lt.StatsSnapshot]) -> None:
    catalogue = names()
    assert len(snapshots) == 2
    older, full = snapshots
    assert older.version == 1
    assert older.timestamp_us == 1_700_000_000_000_000
    assert older.timestamp == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
    assert older.values == dict(zip(catalogue[:5], known_values(5)))
    assert full.timestamp_us == 1_700_000_001_234_567
    # The file's metrics are the loaded catalogue's first GOLDEN_COUNT, by
    # the schema hash: metrics are only appended.
    assert list(full.values) == catalogue[:GOLDEN_COUNT]
    assert list(full.values.values()) == known_values(GOLDEN_COUNT)
    assert full.values["peer.blocked_by_port_filter"] == (GOLDEN_COUNT - 1) * 1_000_003 - 7
    assert full.unnamed == []


def test_golden_file_as_bytes_and_as_a_file() -> None:
    data = GOLDEN.read_bytes()
    check_golden(list(lt.iter_stats_snapshots(data)))
    with GOLDEN.open("rb") as f:
        check_golden(list(lt.iter_stats_snapshots(f)))
    # The library's own catalogue names and hashes them the same way.
    assert data == encode(1_700_000_000_000_000, names()[:5], known_values(5)) + encode(
        1_700_000_001_234_567, names()[:GOLDEN_COUNT], known_values(GOLDEN_COUNT)
    )
    with pytest.raises(ValueError, match="bytes after the snapshot"):
        lt.read_stats_snapshot(data)


def test_live_session_export(tmp_path: Path) -> None:
    make_data(tmp_path / "data", {"a.bin": 100_000})
    torrent = lt.create_torrent(tmp_path / "data", piece_size=16384)
    with lt.Session(LOOPBACK) as ses:
        ses.add_torrent(torrent, tmp_path, flags=lt.ADD_PAUSED)
        before_us = time.time_ns() // 1000
        data = ses.stats_export("binary")
        after_us = time.time_ns() // 1000
        now = ses.stats()
    assert isinstance(data, bytes)
    snap = lt.read_stats_snapshot(data)
    assert snap.version == 1
    assert before_us <= snap.timestamp_us <= after_us
    assert list(snap.values) == names()
    assert set(now) == set(names())
    assert snap.unnamed == []
    assert len(data) == HEADER_LEN + 8 * len(names())
    # Figures that cannot move between the export and session.stats().
    for name in ("ses.num_torrents", "ses.num_torrents_added", "ses.num_stopped_torrents",
                 "ses.num_torrents_removed", "system.cpu_cores"):
        assert snap.values[name] == now[name], name
    assert snap.values["ses.num_torrents"] == 1
    assert snap.values["system.cpu_cores"] >= 1

    # A log: snapshots appended one after another, read back from a file.
    log = tmp_path / "stats.log"
    with log.open("ab") as f:
        f.write(data)
        f.write(data)
    assert [s.timestamp_us for s in lt.iter_stats_snapshots(log.read_bytes())] == [snap.timestamp_us] * 2


def test_newer_writer_values_are_kept_unnamed() -> None:
    catalogue = names()
    data = encode(7, catalogue + ["future.metric"], list(range(len(catalogue) + 1)))
    snap = lt.read_stats_snapshot(data)
    assert list(snap.values) == catalogue
    assert snap.values[catalogue[-1]] == len(catalogue) - 1
    assert snap.unnamed == [len(catalogue)]


def test_bytes_that_are_not_a_snapshot() -> None:
    good = encode(0, names()[:3], [1, 2, 3])
    with pytest.raises(ValueError, match="bad magic"):
        lt.read_stats_snapshot(b"LTS!" + good[4:])
    with pytest.raises(ValueError, match="truncated"):
        lt.read_stats_snapshot(good[:-1])
    with pytest.raises(ValueError, match="truncated"):
        list(lt.iter_stats_snapshots(io.BytesIO(good + good[:10])))
    with pytest.raises(ValueError, match="version 2"):
        lt.read_stats_snapshot(good[:4] + b"\x02\x00" + good[6:])
    with pytest.raises(ValueError, match="schema hash"):
        lt.read_stats_snapshot(encode(0, ["net.recv_bytes", "renamed"], [1, 2]))
    with pytest.raises(ValueError, match="more than"):
        lt.read_stats_snapshot(good[:12] + struct.pack("<I", 2**16 + 1) + good[16:])
