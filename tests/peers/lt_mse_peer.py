#!/usr/bin/python3
"""libtorrent-rasterbar with forced encryption (MSE), for tests/mse.rs.

Runs only on 127.0.0.1, with DHT, LSD, UPnP, NAT-PMP and uTP off, and
out_enc_policy = in_enc_policy = forced, so every connection it makes or
accepts is the encrypted handshake. Subcommands:
  seed      seed a torrent; prints {"event": "ready"} once it seeds
  download  add a torrent with no data and dial --connect every 3 s while
            it has no peer
--allowed-enc-level: 1 plaintext, 2 rc4, 3 both (libtorrent's default 3).
Status lines are JSON on stdout.
"""
import argparse
import json
import signal
import sys
import time

import libtorrent as lt

stop = False


def on_signal(*_):
    global stop
    stop = True


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def session(port, allowed_enc_level):
    return lt.session({
        "listen_interfaces": "127.0.0.1:%d" % port,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": "",
        "allow_multiple_connections_per_ip": True,
        "outgoing_interfaces": "",
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "out_enc_policy": int(lt.enc_policy.forced),
        "in_enc_policy": int(lt.enc_policy.forced),
        "allowed_enc_level": allowed_enc_level,
    })


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["seed", "download"])
    p.add_argument("--torrent", required=True)
    p.add_argument("--save-path", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--connect")
    p.add_argument("--allowed-enc-level", type=int, default=3)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ses = session(a.port, a.allowed_enc_level)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(a.torrent)
    params.save_path = a.save_path
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    h = ses.add_torrent(params)
    ready = False
    last_dial = 0
    while not stop:
        st = h.status()
        if a.cmd == "seed" and not ready and st.state == lt.torrent_status.seeding:
            emit({"event": "ready", "port": a.port})
            ready = True
        if a.cmd == "download" and a.connect and st.num_peers == 0 and time.time() - last_dial > 3:
            host, port = a.connect.rsplit(":", 1)
            h.connect_peer((host, int(port)))
            last_dial = time.time()
            emit({"event": "dialled", "peer": a.connect})
        for al in ses.pop_alerts():
            if isinstance(al, lt.peer_disconnected_alert):
                emit({"event": "peer_disconnected", "error": al.error.message()})
        time.sleep(0.2)


if __name__ == "__main__":
    main()
