#!/usr/bin/python3
"""A minimal BitTorrent seeder (BEP 3, plain TCP) that serves corrupt data.

libtorrent verifies pieces before uploading them even in seed mode, so it
cannot play a peer that sends bad blocks; this one does. It listens on
127.0.0.1:PORT, answers the handshake for one torrent, sends a full
bitfield, unchokes anyone interested, and answers requests from the data
files with one byte flipped in every block of the first N pieces.
Prints {"event": "ready", "port": P} once listening. Stdlib plus
libtorrent's torrent_info for the file layout.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading

import libtorrent as lt


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


class Data:
    def __init__(self, info, root, corrupt):
        self.info = info
        self.root = root
        self.corrupt = corrupt
        self.files = info.files()

    def read(self, piece, begin, length):
        out = bytearray()
        for sl in self.info.map_block(piece, begin, length):
            if self.files.file_flags(sl.file_index) & lt.file_storage.flag_pad_file:
                out += bytes(sl.size)
                continue
            with open(os.path.join(self.root, self.files.file_path(sl.file_index)), "rb") as f:
                f.seek(sl.offset)
                out += f.read(sl.size)
        if piece < self.corrupt and out:
            out[0] ^= 0xFF
        return bytes(out)


def serve(conn, info_hash, peer_id, data, num_pieces):
    try:
        hs = recv_exact(conn, 68)
        if hs[28:48] != info_hash:
            return
        conn.sendall(bytes([19]) + b"BitTorrent protocol" + bytes(8) + info_hash + peer_id)
        nbytes = (num_pieces + 7) // 8
        bits = bytearray([0xFF] * nbytes)
        spare = nbytes * 8 - num_pieces
        if spare:
            bits[-1] &= (0xFF << spare) & 0xFF
        conn.sendall(struct.pack(">IB", 1 + nbytes, 5) + bytes(bits))
        while True:
            (length,) = struct.unpack(">I", recv_exact(conn, 4))
            if length == 0:
                continue
            body = recv_exact(conn, length)
            msg = body[0]
            if msg == 2:  # interested
                conn.sendall(struct.pack(">IB", 1, 1))
            elif msg == 6:  # request
                piece, begin, size = struct.unpack(">III", body[1:13])
                block = data.read(piece, begin, size)
                conn.sendall(struct.pack(">IBII", 9 + len(block), 7, piece, begin) + block)
    except (ConnectionError, OSError, struct.error):
        pass
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--torrent", required=True)
    p.add_argument("--save-path", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--corrupt-pieces", type=int, required=True)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    info = lt.torrent_info(a.torrent)
    info_hash = bytes.fromhex(str(info.info_hashes().v1))
    data = Data(info, a.save_path, a.corrupt_pieces)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.port))
    srv.listen(16)
    sys.stdout.write(json.dumps({"event": "ready", "port": a.port}) + "\n")
    sys.stdout.flush()
    peer_id = b"-BS0001-" + os.urandom(6).hex().encode()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, info_hash, peer_id, data, info.num_pieces()), daemon=True).start()


if __name__ == "__main__":
    main()
