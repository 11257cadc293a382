#!/usr/bin/python3
"""libtorrent-rasterbar seeding a small torrent over uTP only, for tests/utp.rs.

Makes a 256 KiB file in --dir, a .torrent of it, and seeds it from a session
on 127.0.0.1:--port with TCP off (incoming and outgoing) and encryption off,
so every connection is plaintext BitTorrent over uTP. Prints one JSON line
{"event": "ready", "port": P, "info_hash": HEX} once seeding; with
--connect HOST:PORT it then dials that peer (over uTP, TCP being off) and
dials again every 3 s while it has no peer. Prints
{"event": "peer", "utp": true|false} for each connected peer (libtorrent's
utp_socket flag). Runs until SIGTERM.
"""
import argparse
import json
import os
import random
import signal
import sys
import time

import libtorrent as lt

# peer_info::utp_socket (the binding has no name for it).
UTP_SOCKET = 1 << 17

stop = False


def on_signal(*_):
    global stop
    stop = True


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--connect")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    path = os.path.join(a.dir, "utp-data")
    rng = random.Random(29)
    with open(path, "wb") as f:
        f.write(bytes(rng.getrandbits(8) for _ in range(256 * 1024)))
    fs = lt.file_storage()
    lt.add_files(fs, path)
    # v1 only: libtorrent dials a hybrid torrent's peers with the v2
    # (truncated SHA-256) info-hash.
    t = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(t, a.dir)
    info = lt.torrent_info(lt.bencode(t.generate()))

    ses = lt.session({
        "listen_interfaces": "127.0.0.1:%d" % a.port,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": "",
        "allow_multiple_connections_per_ip": True,
        "enable_outgoing_tcp": False,
        "enable_incoming_tcp": False,
        "enable_outgoing_utp": True,
        "enable_incoming_utp": True,
        "out_enc_policy": lt.enc_policy.disabled,
        "in_enc_policy": lt.enc_policy.disabled,
        "alert_mask": 0,
    })
    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = a.dir
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    h = ses.add_torrent(params)

    ready = False
    last_dial = 0
    seen = set()
    while not stop:
        if not ready and h.status().state == lt.torrent_status.seeding:
            emit({"event": "ready", "port": a.port, "info_hash": str(info.info_hash())})
            ready = True
        if ready and a.connect and time.time() - last_dial > 3 and h.status().num_peers == 0:
            host, port = a.connect.rsplit(":", 1)
            h.connect_peer((host, int(port)))
            last_dial = time.time()
        for peer in h.get_peer_info():
            key = peer.ip
            if key not in seen:
                seen.add(key)
                emit({"event": "peer", "utp": bool(peer.flags & UTP_SOCKET)})
        ses.pop_alerts()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
