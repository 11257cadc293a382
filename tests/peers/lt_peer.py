#!/usr/bin/python3
"""libtorrent-rasterbar as a real peer for lt's tests and benchmarks.

Runs only on 127.0.0.1, with DHT, LSD, UPnP and NAT-PMP off. Subcommands:
  make-data     deterministic pseudo-random files
  make-torrent  a .torrent made by libtorrent
  seed          seed data (bad_seeder.py serves corrupt data for ban tests)
  download      download, print timing, exit 0 when finished
  magnet        download from a magnet link, print the metadata events
Status lines are JSON on stdout.
"""
import argparse
import json
import os
import random
import resource
import signal
import sys
import time

import libtorrent as lt


def emit(obj):
    """Prints a JSON line; a reader that went away is not an error."""
    try:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass


def session(port, high_performance=False, ip="127.0.0.1", transport="tcp", encryption="default"):
    """A session on `ip`:`port` (127.0.0.1 or ::1). With `high_performance`, it starts
    from libtorrent's `high_performance_seed()` preset (deep send buffers,
    many disk threads), so that a seeder is not what limits a benchmark;
    the loopback overrides below apply either way.

    `transport`: "tcp" (uTP off, the default for tests that are not about
    transports), "utp" (TCP off both ways: every connection is uTP) or
    "both" (libtorrent's default: uTP first). `encryption`: "default"
    (libtorrent's: encrypted handshake first, plaintext accepted),
    "forced" (encrypted handshakes only, RC4 only, both ways) or
    "disabled" (plain handshakes only)."""
    settings = lt.high_performance_seed() if high_performance else {}
    settings.update({
        "listen_interfaces": ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port),
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": "",
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification,
        "outgoing_interfaces": "",
        "enable_outgoing_utp": transport != "tcp",
        "enable_incoming_utp": transport != "tcp",
        "enable_outgoing_tcp": transport != "utp",
        "enable_incoming_tcp": transport != "utp",
    })
    if encryption == "forced":
        settings.update({
            "out_enc_policy": int(lt.enc_policy.forced),
            "in_enc_policy": int(lt.enc_policy.forced),
            "allowed_enc_level": int(lt.enc_level.rc4),
            "prefer_rc4": True,
        })
    elif encryption == "disabled":
        settings.update({
            "out_enc_policy": int(lt.enc_policy.disabled),
            "in_enc_policy": int(lt.enc_policy.disabled),
        })
    return lt.session(settings)


def peer_flags(h):
    """The transports and encryption of `h`'s connected peers, as JSON-able
    lists of "utp"/"tcp" and "rc4"/"plaintext"/"none"."""
    out = []
    for p in h.get_peer_info():
        transport = "utp" if p.flags & (1 << 17) else "tcp"
        if p.flags & lt.peer_info.rc4_encrypted:
            enc = "rc4"
        elif p.flags & lt.peer_info.plaintext_encrypted:
            enc = "plaintext"
        else:
            enc = "none"
        out.append([transport, enc])
    return out


def cmd_make_data(a):
    for spec in a.layout.split(","):
        rel, size = spec.rsplit(":", 1)
        size = int(size)
        path = os.path.join(a.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        rng = random.Random("%d/%s" % (a.seed, rel))
        with open(path, "wb") as f:
            left = size
            while left > 0:
                n = min(left, 1 << 20)
                f.write(rng.randbytes(n))
                left -= n


def cmd_make_torrent(a):
    path = os.path.abspath(a.path)
    fs = lt.file_storage()
    lt.add_files(fs, path)
    t = lt.create_torrent(fs, a.piece_size)
    for i, url in enumerate(a.tracker or []):
        t.add_tracker(url, i)
    if a.private:
        t.set_priv(True)
    lt.set_piece_hashes(t, os.path.dirname(path))
    with open(a.out, "wb") as f:
        f.write(lt.bencode(t.generate()))


stop = False


def on_signal(*_):
    global stop
    stop = True


def connect_all(h, peers):
    for p in peers:
        host, port = p.rsplit(":", 1)
        h.connect_peer((host.strip("[]"), int(port)))


def cmd_seed(a):
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ses = session(a.port, a.high_performance, a.ip, a.transport, a.encryption)
    handles = []
    for torrent in a.torrent:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(torrent)
        params.save_path = a.save_path
        # Seed every torrent now: not queued behind libtorrent's active_seeds.
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        if a.seed_mode:
            params.flags |= lt.torrent_flags.seed_mode
        handles.append(ses.add_torrent(params))
    h = handles[0]
    ready = False
    last_dial = 0
    while not stop:
        if not ready and all(x.status().state == lt.torrent_status.seeding for x in handles):
            emit({"event": "ready", "port": a.port})
            ready = True
        if ready and a.connect and time.time() - last_dial > 3 and h.status().num_peers == 0:
            connect_all(h, a.connect)
            last_dial = time.time()
        for al in ses.pop_alerts():
            pass
        time.sleep(0.2 if not ready else 1.0)
        if ready:
            st = [x.status() for x in handles]
            emit({"state": str(st[0].state), "progress": min(x.progress for x in st),
                  "peers": sum(x.num_peers for x in st),
                  "uploaded": sum(x.total_payload_upload for x in st),
                  "links": peer_flags(h)})


def rss_file_mib():
    """The file-backed part of this process's resident memory now (RssFile
    in /proc/self/status): libtorrent maps the files it downloads, so its
    peak RSS counts page-cache pages of the download, not only memory it
    allocated."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) / 1024
    return None


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cmd_download(a):
    signal.signal(signal.SIGTERM, on_signal)
    info = lt.torrent_info(a.torrent)
    ses = session(a.port, ip=a.ip, transport=a.transport, encryption=a.encryption)
    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = a.save_path
    if a.ignore_pex:
        params.flags |= lt.torrent_flags.disable_pex
    start = time.time()
    cpu0 = cpu_seconds()
    h = ses.add_torrent(params)
    last_dial = 0
    failures = 0
    last_emit = 0
    while not stop:
        st = h.status()
        if st.is_seeding or st.state in (lt.torrent_status.seeding, lt.torrent_status.finished):
            elapsed = time.time() - start
            emit({"event": "finished", "elapsed_s": round(elapsed, 3), "cpu_s": round(cpu_seconds() - cpu0, 3),
                  "downloaded": st.total_payload_download,
                  "mbps": round(info.total_size() / elapsed / 1e6, 1), "hash_failures": failures,
                  "rss_file_mib": rss_file_mib(), "links": peer_flags(h)})
            return 0
        if a.connect and time.time() - last_dial > 3 and st.num_peers == 0:
            connect_all(h, a.connect)
            last_dial = time.time()
        for al in ses.pop_alerts():
            if isinstance(al, lt.hash_failed_alert):
                failures += 1
                emit({"event": "hash_failed", "piece": al.piece_index})
        if time.time() - last_emit >= 1:
            emit({"state": str(st.state), "progress": st.progress, "peers": st.num_peers,
                  "downloaded": st.total_payload_download, "hash_failures": failures,
                  "links": peer_flags(h)})
            last_emit = time.time()
        if time.time() - start > a.timeout:
            emit({"event": "timeout", "progress": st.progress})
            return 1
        # Wakes at once on the state change to seeding (a status alert), so
        # the reported time does not include a polling delay.
        ses.wait_for_alert(50)
    return 1


def cmd_magnet(a):
    """Adds a magnet link (libtorrent dials its x.pe peers) and reports
    metadata_received, metadata_failed (with the peer, when libtorrent
    names one) and finished."""
    signal.signal(signal.SIGTERM, on_signal)
    ses = session(a.port)
    params = lt.parse_magnet_uri(a.uri)
    params.save_path = a.save_path
    h = ses.add_torrent(params)
    start = time.time()
    while not stop:
        for al in ses.pop_alerts():
            if isinstance(al, lt.metadata_received_alert):
                emit({"event": "metadata_received", "elapsed_s": round(time.time() - start, 3)})
            elif isinstance(al, lt.metadata_failed_alert):
                emit({"event": "metadata_failed", "error": al.error.message()})
        st = h.status()
        if st.has_metadata and st.state in (lt.torrent_status.seeding, lt.torrent_status.finished):
            emit({"event": "finished", "elapsed_s": round(time.time() - start, 3),
                  "downloaded": st.total_payload_download})
            return 0
        if time.time() - start > a.timeout:
            emit({"event": "timeout", "progress": st.progress})
            return 1
        ses.wait_for_alert(100)
    return 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("make-data")
    s.add_argument("--dir", required=True)
    s.add_argument("--layout", required=True)
    s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("make-torrent")
    s.add_argument("--path", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--piece-size", type=int, default=262144)
    s.add_argument("--tracker", action="append")
    s.add_argument("--private", action="store_true")
    s = sub.add_parser("seed")
    s.add_argument("--torrent", required=True, action="append")
    s.add_argument("--save-path", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--connect", action="append")
    s.add_argument("--seed-mode", action="store_true")
    s.add_argument("--high-performance", action="store_true",
                   help="start from lt.high_performance_seed() (for benchmarks)")
    s.add_argument("--ip", default="127.0.0.1", help="the loopback address to listen on (127.0.0.1 or ::1)")
    s.add_argument("--transport", choices=["tcp", "utp", "both"], default="tcp")
    s.add_argument("--encryption", choices=["default", "forced", "disabled"], default="default")
    s = sub.add_parser("download")
    s.add_argument("--torrent", required=True)
    s.add_argument("--save-path", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--connect", action="append")
    s.add_argument("--timeout", type=float, default=300)
    s.add_argument("--ignore-pex", action="store_true",
                   help="neither send nor act on ut_pex messages (libtorrent's disable_pex)")
    s.add_argument("--ip", default="127.0.0.1", help="the loopback address to listen on (127.0.0.1 or ::1)")
    s.add_argument("--transport", choices=["tcp", "utp", "both"], default="tcp")
    s.add_argument("--encryption", choices=["default", "forced", "disabled"], default="default")
    s = sub.add_parser("magnet")
    s.add_argument("--uri", required=True)
    s.add_argument("--save-path", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()
    if a.cmd == "make-data":
        cmd_make_data(a)
    elif a.cmd == "make-torrent":
        cmd_make_torrent(a)
    elif a.cmd == "seed":
        cmd_seed(a)
    elif a.cmd == "magnet":
        sys.exit(cmd_magnet(a))
    else:
        sys.exit(cmd_download(a))


if __name__ == "__main__":
    main()
