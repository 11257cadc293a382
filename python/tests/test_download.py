"""lt downloads from a libtorrent-rasterbar seeder on 127.0.0.1: the first
of the module's three typical uses."""

from __future__ import annotations

import time
from pathlib import Path

import lt
from conftest import DEADLINE_S, LOOPBACK


def test_download_from_libtorrent_seeder(seeder, tmp_path: Path) -> None:
    peer, torrent, layout, data = seeder
    save = tmp_path / "down"
    with lt.Session(LOOPBACK) as ses:
        handle = ses.add_torrent(str(torrent), save, peers=[peer.endpoint])
        assert ses.torrents() == [handle]
        deadline = time.monotonic() + DEADLINE_S
        while True:
            status = handle.status()
            if status.state in (lt.STATE_SEEDING, lt.STATE_FINISHED):
                break
            assert time.monotonic() < deadline, f"no finish: {status}"
            time.sleep(0.1)

        assert status.progress == 1.0
        files = handle.files()
        # libtorrent 2 aligns files to pieces with BEP 47 pad files; they count in total_done.
        assert status.total_done == sum(f.size for f in files)
        assert sorted((f.path, f.size) for f in files if not f.pad) == sorted(layout.items())
        assert status.name == "data"
        # Every field of lt_torrent_status_t is in the dataclass.
        c_fields = {name for name, _ in lt._runtime.NATIVE.structs["lt_torrent_status_t"]._fields_}
        assert c_fields - {"struct_size", "reserved"} == set(vars(status))

        # Two seeds part once both are complete, so the list may be empty by now.
        assert all(p.ip == "127.0.0.1" for p in handle.peers())
        assert handle.trackers() == []
        assert len(handle.info_hash()) == 20

        handle.remove()
        try:
            handle.status()
            raise AssertionError("a removed torrent still answers")
        except lt.LtError as e:
            assert e.name == "LT_ERROR_INVALID_HANDLE"

    for rel in layout:
        assert (save / rel).read_bytes() == (data / rel).read_bytes(), rel
