"""Creating a torrent and seeding it to libtorrent, and reading torrents
with TorrentInfo. These use lt_create_torrent_* and lt_torrent_info_*
(issue 12's contract), so they need a library that has them."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

import lt
from conftest import DEADLINE_S, LOOPBACK, Peer, make_data


def test_create_and_seed_to_libtorrent(tmp_path: Path) -> None:
    data = tmp_path / "seed"
    layout = {"share/one.bin": 700_001, "share/sub/two.bin": 250_000}
    make_data(data, layout, seed=3)
    progress: list[tuple[int, int]] = []
    torrent = lt.create_torrent(
        data / "share",
        piece_size=32768,
        comment="made by lt's Python binding",
        creator="lt tests",
        progress=lambda done, total: progress.append((done, total)) or True,
    )
    assert progress and progress[-1][0] == progress[-1][1] > 0
    torrent_path = tmp_path / "share.torrent"
    torrent_path.write_bytes(torrent)

    with lt.TorrentInfo(torrent) as info:
        assert info.name == "share"
        assert info.total_size == sum(layout.values())
        assert info.piece_length == 32768
        assert info.num_pieces == -(-info.total_size // 32768)
        # A v1 torrent, as mktorrent makes it: no pad files.
        assert [f.flags & lt.FILE_PAD for f in info.files()] == [0, 0]
        assert sorted((f.path, f.size) for f in info.files()) == sorted(layout.items())
        assert info.comment == "made by lt's Python binding"
        assert info.creator == "lt tests"
        assert info.info_hash_v1 == hashlib.sha1(info.info_section()).digest()
        assert info.info_hash_v2 is None

        with lt.Session(LOOPBACK) as ses:
            handle = ses.add_torrent(info, data)
            deadline = time.monotonic() + DEADLINE_S
            while handle.status().state != lt.STATE_SEEDING:
                assert time.monotonic() < deadline, handle.status()
                time.sleep(0.1)
            assert handle.info_hash() == info.info_hash_v1
            down = tmp_path / "down"
            leecher = Peer(
                ["download", "--torrent", str(torrent_path), "--save-path", str(down),
                 "--connect", f"127.0.0.1:{ses.listen_port()}"]
            )
            try:
                finished = leecher.wait_event("finished")
            finally:
                leecher.stop()
            assert finished["downloaded"] >= sum(layout.values())
    for rel in layout:
        assert (down / rel).read_bytes() == (data / rel).read_bytes(), rel


def test_create_options_filter_and_cancel(tmp_path: Path) -> None:
    make_data(tmp_path / "d", {"d/keep.bin": 100_000, "d/skip.tmp": 10_000}, seed=4)
    torrent = lt.create_torrent(
        tmp_path / "d" / "d",
        format="hybrid",
        trackers=["http://127.0.0.1:1/announce", ("udp://127.0.0.1:2", 1)],
        web_seeds=["http://127.0.0.1:3/files/"],
        private=True,
        creation_date=1_700_000_000,
        file_filter=lambda rel: not rel.endswith(".tmp"),
    )
    info = lt.TorrentInfo(torrent)
    assert [f.path for f in info.files() if not f.flags & lt.FILE_PAD] == ["d/keep.bin"]
    assert info.trackers() == [("http://127.0.0.1:1/announce", 0), ("udp://127.0.0.1:2", 1)]
    assert info.web_seeds() == ["http://127.0.0.1:3/files/"]
    assert info.private
    assert info.creation_date == 1_700_000_000
    assert info.info_hash_v1 is not None and len(info.info_hash_v2 or b"") == 32
    assert all(f.has_pieces_root for f in info.files() if not f.flags & lt.FILE_PAD)

    with pytest.raises(lt.LtError) as cancelled:
        lt.create_torrent(tmp_path / "d" / "d", progress=lambda done, total: False)
    assert cancelled.value.name == "LT_ERROR_CANCELLED"

    class Stop(Exception):
        pass

    def boom(done: int, total: int) -> bool:
        raise Stop()

    with pytest.raises(Stop):
        lt.create_torrent(tmp_path / "d" / "d", progress=boom)
    assert lt.live_objects.snapshot().get("create_torrent", 0) == 0


def test_torrent_info_round_trip_through_file(tmp_path: Path) -> None:
    make_data(tmp_path, {"single.bin": 123_456}, seed=5)
    torrent = lt.create_torrent(tmp_path / "single.bin", piece_size=16384)
    (tmp_path / "single.torrent").write_bytes(torrent)
    from_file = lt.TorrentInfo(tmp_path / "single.torrent")
    from_bytes = lt.TorrentInfo(torrent)
    assert from_file.info_section() == from_bytes.info_section()
    assert from_file.name == "single.bin"
    assert from_file.num_files == 1
    assert from_file.comment is None
    assert from_file.web_seeds() == [] and from_file.trackers() == []
    with pytest.raises(lt.LtError) as info:
        lt.TorrentInfo(b"not a torrent")
    assert info.value.name == "LT_ERROR_INVALID_TORRENT"
