#!/usr/bin/python3
"""A small DHT of libtorrent-rasterbar sessions on 127.0.0.1, for lt's DHT
tests. It never contacts a public node: every session's
`dht_bootstrap_nodes` is set explicitly (the first node's, or the ones
given), so libtorrent's default router is never used.

One process runs one session per `--port`. The first session bootstraps
from `--bootstrap` only (empty: it waits to be found); every other one from
the first and from `--bootstrap`. The loopback restrictions of libtorrent's
DHT are off (routing and search IP restrictions, node-id enforcement, dark
internet filter), and so is its per-IP rate limit, since every node here
shares 127.0.0.1.

Optionally the last session also:
  --seed TORRENT --save-path DIR      seeds TORRENT and announces it to the DHT
                                      (and never dials a peer: a downloader
                                      must find it)
  --download TORRENT --save-path DIR  downloads TORRENT (no tracker, no peer)
                                      through the DHT alone
Status lines are JSON on stdout: "ready" (every session has DHT nodes),
"seeding", "finished" (with the seconds from adding to finishing),
"dht_nodes" every few seconds with each session's count.
"""
import argparse
import json
import signal
import sys
import time

import libtorrent as lt


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def session(port, bootstrap, dial=True):
    return lt.session({
        "enable_outgoing_tcp": dial,
        "listen_interfaces": "127.0.0.1:%d" % port,
        "outgoing_interfaces": "",
        "enable_dht": True,
        "dht_bootstrap_nodes": ",".join(bootstrap),
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_enforce_node_id": False,
        "dht_ignore_dark_internet": False,
        "dht_block_ratelimit": 100000,
        "dht_upload_rate_limit": 1000000,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.dht_notification,
    })


def announced(sessions, info_hash):
    """Whether a session got an announce of `info_hash` (popping alerts)."""
    return any(isinstance(x, lt.dht_announce_alert) and str(x.info_hash) == info_hash
               for s in sessions for x in s.pop_alerts())


def dht_nodes(s):
    return s.status().dht_nodes


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, action="append", required=True)
    p.add_argument("--bootstrap", action="append", default=[])
    p.add_argument("--seed")
    p.add_argument("--download")
    p.add_argument("--save-path")
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    first = "127.0.0.1:%d" % a.port[0]
    # A seeder never dials: whoever downloads must have found it.
    dial = [True] * (len(a.port) - 1) + [not a.seed]
    sessions = [session(a.port[0], a.bootstrap, dial[0])]
    for port, d in zip(a.port[1:], dial[1:]):
        sessions.append(session(port, [first] + a.bootstrap, d))
    # libtorrent treats bootstrap nodes as routers: it asks them but keeps
    # them out of its routing table, and an empty DHT then takes minutes to
    # fill. Introducing every node to every other (and to the given
    # bootstrap nodes) as a plain node makes a full mesh at once.
    nodes = [("127.0.0.1", p) for p in a.port]
    nodes += [(b.rsplit(":", 1)[0], int(b.rsplit(":", 1)[1])) for b in a.bootstrap]
    for s in sessions:
        for n in nodes:
            s.add_dht_node(n)

    deadline = time.time() + a.timeout
    while time.time() < deadline and any(dht_nodes(s) == 0 for s in sessions):
        time.sleep(0.2)
    emit({"event": "ready", "dht_nodes": [dht_nodes(s) for s in sessions]})

    handle = None
    started = time.time()
    last = sessions[-1]
    if a.seed or a.download:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(a.seed or a.download)
        params.save_path = a.save_path
        if a.seed:
            params.flags |= lt.torrent_flags.seed_mode
        handle = last.add_torrent(params)
        if a.seed:
            # "seeding" once a node of this DHT has stored the announce.
            v1 = str(handle.info_hash())
            handle.force_dht_announce()
            while time.time() < deadline and not announced(sessions, v1):
                time.sleep(0.05)
            emit({"event": "seeding", "info_hash": v1})

    last_report = 0
    while time.time() < deadline:
        now = time.time()
        if handle is not None and a.seed and now - last_report >= 2:
            # Announce again and again: the test decides when it is enough.
            handle.force_dht_announce()
        if now - last_report >= 2:
            last_report = now
            emit({"event": "dht_nodes", "dht_nodes": [dht_nodes(s) for s in sessions]})
        if handle is not None and a.download and handle.status().is_seeding:
            emit({"event": "finished", "seconds": now - started})
            handle = None
        time.sleep(0.1)
    emit({"event": "timeout"})
    sys.exit(1)


if __name__ == "__main__":
    main()
