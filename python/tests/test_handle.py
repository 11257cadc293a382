"""TorrentHandle controls and readers on a paused torrent (no peers needed),
and the process-wide log callback."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import lt
from conftest import LOOPBACK

MAGNET = "magnet:?xt=urn:btih:" + "0123456789abcdef" * 2 + "01234567" + "&dn=example"


def test_handle_controls(tmp_path: Path) -> None:
    with lt.Session(LOOPBACK) as ses:
        handle = ses.add_torrent(
            MAGNET,
            tmp_path,
            flags=lt.ADD_PAUSED,
            trackers=["http://127.0.0.1:9/announce", ("udp://127.0.0.1:9", 1)],
        )
        assert handle.info_hash().hex() == "0123456789abcdef" * 2 + "01234567"
        assert [(t.url, t.tier) for t in handle.trackers()] == [
            ("http://127.0.0.1:9/announce", 0),
            ("udp://127.0.0.1:9", 1),
        ]
        handle.add_tracker("http://127.0.0.1:10/announce", 2)
        assert len(handle.trackers()) == 3
        status = handle.status()
        assert status.paused
        assert status.state == lt.STATE_DOWNLOADING_METADATA
        assert handle.files() == []

        handle.set_sequential(True)
        handle.set_download_limit(10_000)
        handle.set_upload_limit(20_000)
        handle.set_max_connections(7)
        deadline = time.monotonic() + 60
        while True:
            status = handle.status()
            if (status.sequential, status.download_limit, status.upload_limit, status.max_connections) == (
                1,
                10_000,
                20_000,
                7,
            ):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        handle.resume()
        handle.pause()
        assert ses.torrents() == [handle]
        handle.remove()
        assert ses.torrents() == []


def test_log_callback_receives_events() -> None:
    got = threading.Event()
    lines: list[tuple[int, str, str]] = []

    def on_log(level: int, target: str, message: str) -> None:
        lines.append((level, target, message))
        got.set()

    lt.set_log_callback(on_log, lt.LOG_TRACE)
    try:
        with lt.Session(LOOPBACK) as ses:
            ses.add_torrent(MAGNET, ".", flags=lt.ADD_PAUSED)
            assert got.wait(60)
    finally:
        lt.set_log_callback(None)
    assert all(lt.LOG_ERROR <= level <= lt.LOG_TRACE for level, _, _ in lines)
    assert any(target.startswith("lt") for _, target, _ in lines), lines[:5]
