#!/usr/bin/python3
"""Writes the seed corpora under fuzz/seeds/TARGET/ from real inputs.

Torrents come from libtorrent's test corpus (the git mirror named by
LT_MIRROR), mktorrent and transmission-create; tracker replies from a local
opentracker (HTTP and UDP on 127.0.0.1); resume data from libtorrent's
write_resume_data_buf; an LSD announce from a libtorrent session on
127.0.0.1; peer, extension and ut_pex messages are built here as the major
clients send them. Needs /usr/bin/python3 with libtorrent,
opentracker, mktorrent and transmission-create. Seeds are inputs, not
expectations: rerunning it may give different bytes (dates, ports).
"""

import hashlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import libtorrent as lt

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")
MIRROR = os.environ.get("LT_MIRROR", "/work/.mirror/arvidn+libtorrent/repo")
# Seeds larger than this are left out: libFuzzer mutates small inputs best.
MAX_SEED = 8192


def put(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(bencode(k) + bencode(x) for k, x in items) + b"e"
    raise TypeError(v)


def torrents(work):
    """(name, bytes) of every torrent seed."""
    out = []
    names = subprocess.run(
        ["git", "-C", MIRROR, "ls-tree", "--name-only", "HEAD", "test/test_torrents/"],
        check=True, capture_output=True, text=True).stdout.split()
    for path in names:
        data = subprocess.run(["git", "-C", MIRROR, "show", "HEAD:" + path],
                              check=True, capture_output=True).stdout
        if len(data) <= MAX_SEED:
            out.append(("lt_" + os.path.basename(path), data))
    single = os.path.join(work, "single.bin")
    with open(single, "wb") as f:
        f.write(bytes(range(256)) * 300)
    multi = os.path.join(work, "multi")
    os.makedirs(os.path.join(multi, "sub dir"))
    for rel, size in [("a.txt", 1000), ("sub dir/b.bin", 40000), ("sub dir/ç.dat", 7)]:
        with open(os.path.join(multi, rel), "wb") as f:
            f.write(os.urandom(size))
    tracker = "http://127.0.0.1:6969/announce"
    for label, target in [("single", single), ("multi", multi)]:
        t = os.path.join(work, "mk_%s.torrent" % label)
        subprocess.run(["mktorrent", "-l", "15", "-a", tracker, "-a", "udp://127.0.0.1:6969",
                        "-w", "http://127.0.0.1/seed", "-c", "seed", "-o", t, target],
                       check=True, capture_output=True)
        out.append(("mktorrent_%s.torrent" % label, open(t, "rb").read()))
        t = os.path.join(work, "tr_%s.torrent" % label)
        subprocess.run(["transmission-create", "-s", "16", "-t", tracker, "-p", "-o", t, target],
                       check=True, capture_output=True)
        out.append(("transmission_%s.torrent" % label, open(t, "rb").read()))
    return out


def opentracker_replies(work, info_hash):
    """Real HTTP and UDP replies of opentracker on 127.0.0.1."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with open(os.path.join(work, "whitelist.txt"), "w") as f:
        f.write(info_hash.hex() + "\n")
    # opentracker reads the whitelist as `nobody` after chrooting to `work`.
    os.chmod(work, 0o755)
    os.chmod(os.path.join(work, "whitelist.txt"), 0o644)
    proc = subprocess.Popen(["opentracker", "-i", "127.0.0.1", "-p", str(port), "-P", str(port),
                             "-d", work, "-w", "whitelist.txt"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    http = []
    try:
        q = urllib.parse.quote_from_bytes
        base = "http://127.0.0.1:%d" % port
        def announce(i, extra):
            url = "%s/announce?info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0&left=%d%s" % (
                base, q(info_hash), q(b"-LT0010-%012d" % i), 7000 + i, i * 100, extra)
            return urllib.request.urlopen(url, timeout=5).read()

        # opentracker answers "not authorized" until it has read the whitelist.
        for attempt in range(100):
            try:
                if b"failure reason" not in announce(0, "&compact=1"):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        for i, extra in enumerate(["&compact=1", "&compact=1&event=completed", "&compact=1&event=stopped"]):
            http.append(("announce%d" % i, announce(i + 1, extra)))
        http.append(("scrape", urllib.request.urlopen(
            "%s/scrape?info_hash=%s" % (base, q(info_hash)), timeout=5).read()))
        unknown = hashlib.sha1(b"not whitelisted").digest()
        url = "%s/announce?info_hash=%s&peer_id=%s&port=1&uploaded=0&downloaded=0&left=1" % (
            base, q(unknown), q(b"-LT0010-000000000099"))
        http.append(("failure", urllib.request.urlopen(url, timeout=5).read()))
        udp = []
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        u.sendto(struct.pack(">QII", 0x41727101980, 0, 1), ("127.0.0.1", port))
        reply = u.recv(2048)
        udp.append(("connect", reply))
        conn = reply[8:16]
        ann = conn + struct.pack(">II", 1, 2) + info_hash + b"-LT0010-udpudpudpudp" + struct.pack(
            ">QQQIIIiH", 0, 5, 0, 2, 0, 9, 50, 7100)
        u.sendto(ann, ("127.0.0.1", port))
        udp.append(("announce", u.recv(2048)))
        u.sendto(conn + struct.pack(">II", 2, 3) + info_hash, ("127.0.0.1", port))
        udp.append(("scrape", u.recv(2048)))
        u.sendto(b"\0" * 8 + struct.pack(">II", 1, 4) + info_hash, ("127.0.0.1", port))
        try:
            udp.append(("error", u.recv(2048)))
        except socket.timeout:
            pass
        return http, udp
    finally:
        proc.terminate()
        proc.wait()


def frame(msg_id, payload=b""):
    return struct.pack(">IB", 1 + len(payload), msg_id) + payload


def ext_handshakes():
    """Extension handshakes as libtorrent, transmission, aria2 and
    qBittorrent (libtorrent) send them."""
    return [
        ("libtorrent", bencode({"m": {"lt_donthave": 7, "share_mode": 8, "upload_only": 3,
                                      "ut_holepunch": 4, "ut_metadata": 2, "ut_pex": 1},
                                "metadata_size": 4321, "p": 6881, "reqq": 500,
                                "v": "libtorrent/2.0.8.0", "yourip": bytes([127, 0, 0, 1]),
                                "complete_ago": 5, "upload_only": 0})),
        ("transmission", bencode({"e": 0, "ipv4": bytes([127, 0, 0, 1]), "ipv6": bytes(15) + b"\1",
                                  "m": {"ut_holepunch": 4, "ut_metadata": 3, "ut_pex": 1},
                                  "metadata_size": 100, "p": 51413, "reqq": 512,
                                  "upload_only": 1, "v": "Transmission 3.00"})),
        ("aria2", bencode({"m": {"ut_metadata": 2, "ut_pex": 1}, "metadata_size": 4321,
                           "v": "aria2/1.36.0"})),
        ("disable", bencode({"m": {"ut_pex": 0}})),
        ("odd_values", bencode({"m": {"ut_pex": 300, "x": -1, "y": "s"}, "p": 70000, "reqq": 0,
                                "yourip": bytes(16), "v": b"\xff\xfe"})),
    ]


def peer_streams():
    hs = dict(ext_handshakes())
    # The messages of a session with a libtorrent peer, as one stream.
    full = b"".join([
        frame(20, b"\0" + hs["libtorrent"]),
        frame(5, b"\xff\xff\xfe"),
        frame(2), frame(1),
        frame(6, struct.pack(">III", 0, 0, 16384)),
        frame(7, struct.pack(">II", 0, 0) + bytes(range(256)) * 4),
        frame(4, struct.pack(">I", 22)),
        frame(8, struct.pack(">III", 1, 16384, 16384)),
        struct.pack(">I", 0),
        frame(9, struct.pack(">H", 6881)),
        frame(13, struct.pack(">I", 3)),
        frame(17, struct.pack(">I", 4)),
        frame(16, struct.pack(">III", 2, 0, 16384)),
        frame(20, b"\1" + bencode({"added": bytes([127, 0, 0, 1, 0x1a, 0xe1]), "added.f": b"\0"})),
        frame(20, b"\2" + bencode({"msg_type": 1, "piece": 0, "total_size": 4}) + b"abcd"),
        frame(3), frame(0),
    ])
    # aria2 starts with have_none and later sends a whole bitfield, then have_all.
    aria2 = b"".join([frame(15), frame(20, b"\0" + hs["aria2"]), frame(2),
                      frame(5, b"\xf0\x00\x0e"), frame(14)])
    return [
        ("libtorrent_session", b"\x07" + full),
        ("libtorrent_session_bytewise", b"\x00" + full),
        ("aria2_session", b"\x35" + aria2),
        ("transmission_start", b"\x91" + frame(14) + frame(20, b"\0" + hs["transmission"])),
        ("oversize", b"\x02" + struct.pack(">I", (1 << 20) + 1) + b"\7"),
        ("unknown_id", b"\x03" + frame(24, b"x")),
        ("v2_hash_messages", b"\x05" + v2_hash_messages()),
    ]


def v2_hash_messages():
    """BEP 52's messages as libtorrent sends them: a request for 512 piece
    layer hashes with proofs, the answer (the hashes, then the uncles),
    and a reject."""
    header = bytes(range(32)) + struct.pack(">IIII", 2, 512, 512, 9)
    hashes = b"".join(bytes([i % 256]) * 32 for i in range(512 + 1))
    return frame(21, header) + frame(22, header + hashes) + frame(23, header)


def pex_messages():
    """ut_pex payloads in libtorrent's layout (every key, empty ones too),
    IPv6 peers, flags shorter than the list, and a bare added list."""
    v4 = lambda a, b, c, d, port: bytes([a, b, c, d]) + struct.pack(">H", port)
    v6 = lambda last, port: bytes(15) + bytes([last]) + struct.pack(">H", port)
    full = {"added": v4(127, 0, 0, 1, 6881) + v4(10, 0, 0, 2, 51413), "added.f": b"\x12\x01",
            "added6": v6(1, 6882), "added6.f": b"\x04", "dropped": v4(10, 0, 0, 9, 6881),
            "dropped6": v6(9, 6889)}
    return [
        ("libtorrent_full", bencode(full)),
        ("libtorrent_first", bencode({"added": v4(127, 0, 0, 1, 6881), "added.f": b"\x10",
                                      "added6": b"", "added6.f": b"", "dropped": b"", "dropped6": b""})),
        ("short_flags", bencode({"added": v4(1, 2, 3, 4, 80) + v4(5, 6, 7, 8, 81), "added.f": b"\x02"})),
        ("bare_added", bencode({"added": v4(1, 2, 3, 4, 80)})),
        ("dropped_only", bencode({"dropped": v4(1, 2, 3, 4, 80) * 3})),
        ("empty", b"de"),
    ]


def lsd_announces():
    """A BT-SEARCH announce libtorrent multicasts on 127.0.0.1 (captured
    here from a session with LSD on), and announces in other forms."""
    group = "239.192.152.143"
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind((group, 6771))
    rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  socket.inet_aton(group) + socket.inet_aton("127.0.0.1"))
    rx.settimeout(10)
    ses = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": True,
                      "enable_upnp": False, "enable_natpmp": False, "dht_bootstrap_nodes": ""})
    atp = lt.add_torrent_params()
    atp.info_hashes = lt.info_hash_t(lt.sha1_hash(bytes(range(1, 21))))
    atp.save_path = "/tmp"
    ses.add_torrent(atp)
    captured, _ = rx.recvfrom(2000)
    rx.close()
    del ses
    ih = bytes(range(1, 21)).hex()
    return [
        ("libtorrent", captured),
        ("two_hashes", ("BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n"
                        "Infohash: %s\r\nInfohash: %s\r\n\r\n\r\n" % (ih, "ab" * 20)).encode()),
        ("uppercase_bare_newlines", ("bt-search * HTTP/1.1\nhost: [ff15::efc0:988f]:6771\nport: 51413\n"
                                     "infohash: %s\n\n" % ih.upper()).encode()),
        ("no_blank_line", ("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: %s\r\n" % ih).encode()),
    ]


def krpc_messages():
    """KRPC: the four queries as lt and libtorrent send them, and a
    libtorrent DHT node's real answers on 127.0.0.1 (its bootstrap list is
    empty, so it contacts no one)."""
    ses = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": True,
                      "dht_bootstrap_nodes": "", "enable_lsd": False, "enable_upnp": False,
                      "enable_natpmp": False, "dht_restrict_routing_ips": False,
                      "dht_restrict_search_ips": False})
    try:
        port = ses.listen_port()
        ih = hashlib.sha1(b"krpc seed").digest()
        me = hashlib.sha1(b"me").digest()
        queries = [
            ("ping", {"t": "aa", "y": "q", "q": "ping", "a": {"id": me}}),
            ("find_node", {"t": "ab", "y": "q", "q": "find_node", "a": {"id": me, "target": ih}}),
            ("get_peers", {"t": "ac", "y": "q", "q": "get_peers", "a": {"id": me, "info_hash": ih},
                           "ro": 1}),
        ]
        out = [("query_" + name, bencode(q)) for name, q in queries]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        replies = {}
        for attempt in range(50):
            u.sendto(out[2][1].replace(b"2:roi1e", b""), ("127.0.0.1", port))
            try:
                replies["get_peers"] = u.recv(2048)
                break
            except socket.timeout:
                time.sleep(0.1)
        token = lt.bdecode(replies["get_peers"])[b"r"][b"token"]
        announce = {"t": "ad", "y": "q", "q": "announce_peer",
                    "a": {"id": me, "info_hash": ih, "port": 7001, "token": token, "seed": 1}}
        out.append(("query_announce_peer", bencode(announce)))
        for name, q in [("ping", out[0][1]), ("find_node", out[1][1]), ("announce_peer", out[3][1]),
                        ("get_peers_with_values", out[2][1].replace(b"2:roi1e", b""))]:
            u.sendto(q, ("127.0.0.1", port))
            replies[name] = u.recv(2048)
        u.sendto(bencode({"t": "ae", "y": "q", "q": "announce_peer",
                          "a": {"id": me, "info_hash": ih, "port": 1, "token": "bad"}}),
                 ("127.0.0.1", port))
        replies["error_bad_token"] = u.recv(2048)
        out += [("libtorrent_" + name, data) for name, data in replies.items()]
        nodes = b"".join(hashlib.sha1(b"%d" % i).digest() + bytes([10, 0, 0, i]) + b"\x1a\xe1"
                         for i in range(8))
        out.append(("response_nodes_values", bencode(
            {"t": "af", "y": "r", "ip": bytes([127, 0, 0, 1, 0x1a, 0xe1]),
             "r": {"id": me, "nodes": nodes, "token": "tk",
                   "values": [bytes([10, 0, 0, i, 0x1a, 0xe1]) for i in range(20)]}})))
        return out
    finally:
        del ses


def resume_data(torrent):
    """libtorrent's own resume data for `torrent`, with and without the
    info dictionary, pieces and peers."""
    info = lt.torrent_info(lt.bdecode(torrent))
    out = []
    atp = lt.add_torrent_params()
    atp.ti = info
    atp.save_path = "/tmp/save"
    atp.name = info.name()
    atp.trackers = ["http://127.0.0.1:6969/announce", "udp://127.0.0.1:6969"]
    atp.peers = [("127.0.0.1", 7001), ("::1", 7002)]
    atp.have_pieces = [i % 2 == 0 for i in range(info.num_pieces())]
    atp.piece_priorities = [4] * info.num_pieces()
    atp.file_priorities = [1] * info.num_files()
    atp.total_uploaded = 12345
    atp.total_downloaded = 67890
    atp.flags = lt.torrent_flags.paused | lt.torrent_flags.sequential_download
    out.append(("libtorrent_with_info", lt.write_resume_data_buf(atp)))
    plain = lt.add_torrent_params()
    plain.info_hashes = info.info_hashes()
    plain.save_path = "/tmp/save"
    plain.flags = lt.torrent_flags.auto_managed
    out.append(("libtorrent_minimal", lt.write_resume_data_buf(plain)))
    return out


def utp_packet(ty, seq, ack, payload=b"", sack=None, wnd=1 << 20, conn_id=1000):
    """A BEP 29 packet as libtorrent sends it (a 4-byte selective ack)."""
    ext = 1 if sack is not None else 0
    head = struct.pack(">BBHIIIHH", ty << 4 | 1, ext, conn_id, 123456, 2000, wnd, seq, ack)
    if sack is not None:
        head += bytes([0, len(sack)]) + sack
    return head + payload


def utp_scripts():
    """Scripts for the utp target (see fuzz_targets/utp.rs): opcodes
    0 packet, 1 tick, 2 write, 3 read, 4 shutdown, 5 drop."""
    def pkt(*args, **kw):
        p = utp_packet(*args, **kw)
        return b"\x00" + struct.pack(">H", len(p)) + p

    tick = lambda ms: b"\x01" + struct.pack(">H", ms)
    DATA, FIN, STATE, RESET, SYN = range(5)
    # Dialled (role 0): our SYN is seq 1; the peer answers from seq 500.
    dialled = (b"\x00" + pkt(STATE, 500, 1) + pkt(DATA, 500, 1, b"hello")
               + pkt(DATA, 502, 1, b"third") + pkt(DATA, 501, 1, b"second")
               + b"\x02\x20" + pkt(STATE, 501, 3) + b"\x03\x01"
               + pkt(FIN, 503, 4) + b"\x04" + tick(600) + pkt(STATE, 501, 5) + b"\x05")
    lossy = (b"\x00" + pkt(STATE, 9, 1) + b"\x02\xff"
             + pkt(STATE, 8, 1) + pkt(STATE, 8, 1) + pkt(STATE, 8, 1)
             + pkt(STATE, 8, 1, sack=b"\x0e\x00\x00\x00") + tick(600) + tick(1200) + tick(2400))
    # Accepted (role 1): the peer's SYN was seq 77; we send from 65500.
    accepted = (b"\x01" + pkt(DATA, 78, 65499, b"x" * 100) + b"\x02\x05"
                + pkt(STATE, 78, 65500, wnd=0) + tick(600) + pkt(SYN, 77, 0, conn_id=999)
                + pkt(RESET, 79, 65500))
    return [
        ("dialled_reorder_fin", dialled),
        ("dialled_loss_sack", lossy),
        ("accepted_window_reset", accepted),
        ("syn_never_answered", b"\x00" + tick(1000) + tick(1000) + tick(1000) + tick(1000)),
        ("sack_long_unknown_ext", utp_packet(STATE, 1, 2, sack=bytes(8))[:1] + b"\x02"
         + utp_packet(STATE, 1, 2)[2:20] + b"\x01\x02ab\x00\x08" + bytes(8)),
    ]


def stats_snapshots():
    """The two binary statistics snapshots of the golden file the Rust and
    Python readers decode (tests/data/stats_snapshot_v1.bin): 5 metrics, and
    the whole catalogue of the day it was written."""
    with open(os.path.join(HERE, "..", "tests", "data", "stats_snapshot_v1.bin"), "rb") as f:
        data = f.read()
    (first_len,) = struct.unpack_from("<I", data, 8)
    return [("five_metrics", data[:first_len]), ("full_catalogue", data[first_len:])]


def main():
    if os.path.isdir(SEEDS):
        shutil.rmtree(SEEDS)
    work = tempfile.mkdtemp(prefix="lt-seeds-")
    try:
        all_torrents = torrents(work)
        for name, data in all_torrents:
            put("metainfo", name, data)
        mk = dict(all_torrents)["mktorrent_multi.torrent"]
        tr = dict(all_torrents)["transmission_single.torrent"]
        for name in ["mktorrent_multi.torrent", "transmission_single.torrent", "lt_sample.torrent"]:
            put("bencode", name, dict(all_torrents)[name])
        for name, data in [("int", b"i-42e"), ("list", b"l4:spami0ee"),
                           ("nested", b"d1:ad1:bl1:cee1:di9223372036854775807ee"),
                           ("empty_dict", b"de"), ("prefix", b"d1:ai1ee" + b"trailing")]:
            put("bencode", name, data)

        ih = lt.torrent_info(lt.bdecode(mk)).info_hash().to_bytes()
        magnets = [
            "magnet:?xt=urn:btih:%s&dn=multi&tr=http%%3A%%2F%%2F127.0.0.1%%3A6969%%2Fannounce" % ih.hex(),
            "magnet:?xt=urn:btih:%s" % __import__("base64").b32encode(ih).decode(),
            "magnet:?xt=urn:btih:%s&x.pe=127.0.0.1:7001&x.pe=[::1]:7002&ws=http://127.0.0.1/seed"
            "&tr.1=udp://127.0.0.1:6969&dn=a+b%%20c" % ih.hex().upper(),
            "magnet:?xt=urn:btmh:1220%s" % hashlib.sha256(b"x").hexdigest(),
            lt.make_magnet_uri(lt.torrent_info(lt.bdecode(tr))),
            # A hybrid: libtorrent writes both btih and btmh.
            lt.make_magnet_uri(lt.torrent_info(lt.bdecode(dict(all_torrents)["lt_v2.torrent"]))),
        ]
        for i, m in enumerate(magnets):
            put("magnet", "magnet%d" % i, m.encode())

        # The ext_message target reads the extended id first: 0 the
        # handshake, 2 (lt's ut_metadata id) a BEP 9 message.
        for name, data in ext_handshakes():
            put("ext_message", name, b"\x00" + data)
        for name, data in [
            ("ut_metadata_request", b"d8:msg_typei0e5:piecei0ee"),
            ("ut_metadata_reject", b"d8:msg_typei2e5:piecei3ee"),
            ("ut_metadata_data", b"d8:msg_typei1e5:piecei0e10:total_sizei40ee" + b"x" * 40),
        ]:
            put("ext_message", name, b"\x02" + data)
        for name, data in peer_streams():
            put("peer_stream", name, data)
        for name, data in pex_messages():
            put("pex", name, data)
        for name, data in lsd_announces():
            put("lsd", name, data)

        http, udp = opentracker_replies(work, ih)
        for name, body in http:
            if name == "scrape":
                put("http_tracker", name, b"\x01" + ih + body)
            else:
                put("http_tracker", name, b"\x00" + body)
        put("http_tracker", "dict_peers6", b"\x00" + bencode({
            "interval": 1800, "min interval": 60, "tracker id": "abc", "warning message": "w",
            "peers": [{"ip": "127.0.0.1", "port": 7001, "peer id": b"-LT0010-000000000001"},
                      {"ip": "::1", "port": 7002}],
            "peers6": bytes(15) + b"\1" + struct.pack(">H", 7003)}))
        for name, url in [("url_plain", "http://127.0.0.1:6969/announce"),
                          ("url_query_fragment", "https://t.example/x/announce.php?passkey=abc&#frag"),
                          ("url_udp", "udp://127.0.0.1:6969")]:
            put("http_tracker", name, b"\x02" + url.encode())
        for name, packet in udp:
            put("udp_tracker", name, b"\x00" + packet)
        put("udp_tracker", "announce_v6", b"\x01" + struct.pack(">IIIII", 1, 9, 1800, 1, 2)
            + bytes(15) + b"\1" + struct.pack(">H", 7004))

        for name, data in resume_data(mk):
            put("resume", name, data)
        for name, data in krpc_messages():
            put("krpc", name, data)
        for name, data in utp_scripts():
            put("utp", name, data)
        for name, data in stats_snapshots():
            put("stats_binary", name, data)
    finally:
        shutil.rmtree(work)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(SEEDS) for f in fs)
    print("seeds: %d bytes" % total)
    if total > 2 << 20:
        sys.exit("seed corpora exceed 2 MiB")


if __name__ == "__main__":
    main()
