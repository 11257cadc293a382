#!/usr/bin/python3
"""Many paused torrents in one session, lt next to libtorrent-rasterbar in
the same run: resident memory per paused torrent, time to add N paused
torrents (parsing the .torrent bytes included), and time to tear the
session down with all N in it. Each engine runs in its own process so RSS
baselines are clean: lt through examples/many_torrents (the C API), and
libtorrent twice (async_add_torrent, then add_torrent) by this script
re-invoking itself. Nothing listens beyond 127.0.0.1; DHT, LSD, UPnP and
NAT-PMP are off and the torrents have no trackers.

    cargo build --release --example many_torrents
    /usr/bin/python3 benches/many_torrents.py [--count 10000] [--rounds 1] [--json] [--lt-bin PATH]
"""
import argparse
import gc
import hashlib
import json
import resource
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LT_BIN = os.path.join(ROOT, "target", "release", "examples", "many_torrents")
PIECE = 262144
LENGTH = 4 << 20


def bencode(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, list):
        return b"l" + b"".join(bencode(v) for v in x) + b"e"
    if isinstance(x, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in x.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(type(x))


def make_torrent(i, seed=1):
    # 16 made-up piece hashes, deterministic per (seed, i): the data never
    # exists and the torrents stay paused.
    pieces = b"".join(hashlib.sha1(b"many_torrents:%d:%d:%d" % (seed, i, k)).digest()
                      for k in range(LENGTH // PIECE))
    return bencode({"info": {"length": LENGTH, "name": "t%05d.bin" % i, "piece length": PIECE, "pieces": pieces}})


def write_blobs(path, n):
    with open(path, "wb") as f:
        for i in range(n):
            t = make_torrent(i)
            f.write(struct.pack("<I", len(t)))
            f.write(t)


def read_blobs(path):
    with open(path, "rb") as f:
        data = f.read()
    out, at = [], 0
    while at < len(data):
        (n,) = struct.unpack_from("<I", data, at)
        out.append(data[at + 4:at + 4 + n])
        at += 4 + n
    return out


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def libtorrent_run(blobs_path, save_path, mode):
    """One libtorrent run in this (fresh) process; returns the same fields
    as examples/many_torrents."""
    import libtorrent as lt

    blobs = read_blobs(blobs_path)
    n = len(blobs)
    ses = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                      "enable_upnp": False, "enable_natpmp": False, "dht_bootstrap_nodes": "",
                      "alert_queue_size": max(2 * n, 2000)})
    time.sleep(0.2)
    ses.pop_alerts()
    gc.collect()

    rss_before = rss_kib()
    slices = []
    errors = []
    t0 = time.perf_counter()
    slice_t = t0
    if mode == "async":
        added = 0
        for i, b in enumerate(blobs):
            atp = lt.add_torrent_params()
            atp.ti = lt.torrent_info(lt.bdecode(b))
            atp.save_path = save_path
            atp.flags = lt.torrent_flags.paused
            ses.async_add_torrent(atp)
            if (i + 1) % 1000 == 0 or i + 1 == n:
                slices.append(time.perf_counter() - slice_t)
                slice_t = time.perf_counter()
        while added < n:
            ses.wait_for_alert(1000)
            for a in ses.pop_alerts():
                if isinstance(a, lt.add_torrent_alert):
                    added += 1
                    if a.error.value():
                        errors.append(a.error.message())
            if time.perf_counter() - t0 > 600:
                sys.exit("libtorrent: only %d of %d add_torrent alerts after 600 s" % (added, n))
    else:
        for i, b in enumerate(blobs):
            atp = lt.add_torrent_params()
            atp.ti = lt.torrent_info(lt.bdecode(b))
            atp.save_path = save_path
            atp.flags = lt.torrent_flags.paused
            ses.add_torrent(atp)
            if (i + 1) % 1000 == 0 or i + 1 == n:
                slices.append(time.perf_counter() - slice_t)
                slice_t = time.perf_counter()
    add_s = time.perf_counter() - t0
    if errors:
        sys.exit("libtorrent: %d adds failed, first: %s" % (len(errors), errors[0]))

    t1 = time.perf_counter()
    handles = ses.get_torrents()
    list_s = time.perf_counter() - t1
    count = len(handles)
    del handles
    if count != n:
        sys.exit("libtorrent (%s) has %d torrents, expected %d" % (mode, count, n))

    # Same settling as the lt example, then drop queued alerts so they do
    # not count as per-torrent memory.
    time.sleep(0.5)
    ses.pop_alerts()
    gc.collect()
    rss_after = rss_kib()

    # CPU the session burns per wall second with N idle paused torrents.
    c0, w0 = cpu_s(), time.perf_counter()
    time.sleep(float(os.environ.get("LT_BENCH_IDLE_S", "2")))
    idle_cpu = (cpu_s() - c0) / (time.perf_counter() - w0)

    t2 = time.perf_counter()
    del ses  # the destructor waits for the session's shutdown
    gc.collect()
    free_s = time.perf_counter() - t2
    return {"n": n, "rss_before_kib": rss_before, "rss_after_kib": rss_after,
            "kib_per_torrent": round((rss_after - rss_before) / n, 3), "add_s": round(add_s, 4),
            "list_s": round(list_s, 6), "free_s": round(free_s, 4), "idle_cpu_s_per_s": round(idle_cpu, 6),
            "add_per_1000_s": [round(s, 4) for s in slices]}


def run_child(cmd, what):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("%s failed (exit %d):\n%s%s" % (what, p.returncode, p.stdout, p.stderr))
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit("%s printed no JSON:\n%s%s" % (what, p.stdout, p.stderr))
    rep = json.loads(lines[-1])
    return rep


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "libtorrent-child":
        mode, blobs, save = sys.argv[2], sys.argv[3], sys.argv[4]
        print(json.dumps(libtorrent_run(blobs, save, mode)))
        return

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=1, help="best of R rounds (each figure separately)")
    ap.add_argument("--json", action="store_true", help="print everything as JSON")
    ap.add_argument("--lt-bin", default=LT_BIN, help="lt example binary (default: the release build)")
    ap.add_argument("--idle-seconds", type=float, default=2.0,
                    help="how long idle CPU is measured (both engines, through LT_BENCH_IDLE_S)")
    a = ap.parse_args()
    os.environ["LT_BENCH_IDLE_S"] = str(a.idle_seconds)
    if not os.path.exists(a.lt_bin):
        sys.exit("%s is missing; build it first: CARGO_BUILD_JOBS=1 cargo build --release --example many_torrents"
                 % a.lt_bin)
    import libtorrent as lt
    version = lt.__version__

    work = tempfile.mkdtemp(prefix="lt-many-")
    try:
        blobs = os.path.join(work, "torrents.bin")
        write_blobs(blobs, a.count)
        runs = {"lt": [], "libtorrent_async": [], "libtorrent_sync": []}
        for r in range(a.rounds):
            for name in runs:
                save = os.path.join(work, "save-%s-%d" % (name, r))
                os.mkdir(save)
                if name == "lt":
                    cmd = [a.lt_bin, blobs, save]
                else:
                    cmd = ["/usr/bin/python3", os.path.abspath(__file__), "libtorrent-child",
                           name.split("_")[1], blobs, save]
                rep = run_child(cmd, name)
                if rep["n"] != a.count:
                    sys.exit("%s reports n=%d, expected %d" % (name, rep["n"], a.count))
                if os.listdir(save):
                    sys.exit("%s wrote into the save path: %s" % (name, os.listdir(save)[:5]))
                runs[name].append(rep)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    keys = ("kib_per_torrent", "add_s", "list_s", "free_s", "idle_cpu_s_per_s")
    best = {name: {k: min(r[k] for r in v) for k in keys} for name, v in runs.items()}
    # add per 1,000 of the round with the best add time (shows growth with N)
    slices = {name: min(v, key=lambda r: r["add_s"])["add_per_1000_s"] for name, v in runs.items()}

    def ratio(k, other):
        d = best[other][k]
        return round(best["lt"][k] / d, 3) if d > 0 else None

    # list is left out: ids from the C API vs Python handle objects.
    rkeys = ("kib_per_torrent", "add_s", "free_s", "idle_cpu_s_per_s")
    ratios = {other: {k: ratio(k, other) for k in rkeys} for other in ("libtorrent_async", "libtorrent_sync")}
    if a.json:
        print(json.dumps({"count": a.count, "rounds": a.rounds, "libtorrent_version": version, "best": best,
                          "add_per_1000_s": slices, "lt_ratio_vs": ratios, "runs": runs}, indent=1))
        return

    print("%d paused torrents in one session, best of %d round(s); libtorrent %s" % (a.count, a.rounds, version))
    row = "%-18s %12s %9s %10s %9s %9s"
    print(row % ("", "KiB/torrent", "add s", "list s", "free s", "idle cpu"))
    for name in runs:
        b = best[name]
        print(row % (name, "%.3f" % b["kib_per_torrent"], "%.4f" % b["add_s"], "%.6f" % b["list_s"],
                     "%.4f" % b["free_s"], "%.6f" % b["idle_cpu_s_per_s"]))
    for other in ratios:
        cell = lambda k: "%.3f" % ratios[other][k] if ratios[other][k] is not None else "-"
        print(row % ("lt/" + other.replace("libtorrent_", "lib_"), cell("kib_per_torrent"), cell("add_s"), "",
                     cell("free_s"), cell("idle_cpu_s_per_s")))
    ltr = min(runs["lt"], key=lambda r: r["add_s"])
    print("lt add split: %.4f s in lt_params_set_torrent_data (parse), %.4f s in lt_add_torrent"
          % (ltr["parse_s"], ltr["add_call_s"]))
    print("add per 1,000 (s):")
    for name in runs:
        print("  %-16s %s" % (name, " ".join("%.3f" % x for x in slices[name])))
    print("list: lt_session_torrents (ids) vs get_torrents() (Python handle objects), not compared")
    print("free: lt_session_free vs `del ses` (libtorrent's destructor waits for its shutdown)")
    print("idle cpu: CPU seconds per wall second over %s s with the N paused torrents in the session"
          % os.environ["LT_BENCH_IDLE_S"])


if __name__ == "__main__":
    main()
