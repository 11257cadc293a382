"""Helpers for the tests: temporary data, torrents made by libtorrent, and a
libtorrent-rasterbar peer in a subprocess (the repository's
tests/peers/lt_peer.py, run with the Python that has python3-libtorrent)."""

from __future__ import annotations

import json
import os
import queue
import random
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
LT_PEER = REPO / "tests" / "peers" / "lt_peer.py"
#: The interpreter with python3-libtorrent (Debian's), as tests/common uses.
PEER_PYTHON = os.environ.get("LT_PEER_PYTHON", "/usr/bin/python3")
#: How long a peer may take before the test fails (not a timing assertion: a hang guard).
DEADLINE_S = 180.0

LOOPBACK = {
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_data(root: Path, layout: dict[str, int], seed: int = 1) -> None:
    """Writes files of pseudo-random bytes under ``root``."""
    rng = random.Random(seed)
    for rel, size in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))


def libtorrent_make_torrent(path: Path, out: Path, piece_size: int = 65536) -> bytes:
    """A .torrent for ``path`` made by libtorrent; returns its bytes."""
    subprocess.run(
        [PEER_PYTHON, str(LT_PEER), "make-torrent", "--path", str(path), "--out", str(out),
         "--piece-size", str(piece_size)],
        check=True,
    )
    return out.read_bytes()


class Peer:
    """A running lt_peer.py; its JSON lines are read on a thread."""

    def __init__(self, args: list[str]) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [PEER_PYTHON, str(LT_PEER), *args, "--port", str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except json.JSONDecodeError:
                continue

    def wait_event(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.proc.poll() is None, f"lt_peer.py exited with {self.proc.returncode}"
                continue
            if line.get("event") == event:
                return line
        raise AssertionError(f"lt_peer.py never reported {event!r}")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def seeder(tmp_path: Path) -> Iterator[tuple[Peer, Path, dict[str, int], Path]]:
    """A libtorrent seeder of two files: (peer, torrent path, layout, data dir)."""
    data = tmp_path / "seed"
    layout = {"data/a.bin": 1_000_003, "data/b.bin": 300_000}
    make_data(data, layout)
    torrent = tmp_path / "data.torrent"
    libtorrent_make_torrent(data / "data", torrent)
    peer = Peer(["seed", "--torrent", str(torrent), "--save-path", str(data)])
    peer.wait_event("ready")
    try:
        yield peer, torrent, layout, data
    finally:
        peer.stop()
