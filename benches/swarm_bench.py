#!/usr/bin/python3
"""Swarm benchmark: one libtorrent-rasterbar seeder on 127.0.0.1, then a
libtorrent downloader and lt's downloader (examples/lt_download) fetch the
same torrent from it, one after the other, in the same run. Reports MB/s,
wall and CPU seconds of each and lt's ratio to libtorrent as JSON.

    cargo build --release --example lt_download
    /usr/bin/python3 benches/swarm_bench.py [--size-mib 1024] [--piece-kib 256] [--rounds 1]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "tests", "peers", "lt_peer.py")
LT_BIN = os.path.join(ROOT, "target", "release", "examples", "lt_download")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def same_tree(a, b):
    for dirpath, _, files in os.walk(a):
        for f in files:
            pa = os.path.join(dirpath, f)
            if ".pad" in pa:
                continue
            pb = os.path.join(b, os.path.relpath(pa, a))
            if subprocess.run(["cmp", "-s", pa, pb]).returncode != 0:
                return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--piece-kib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    if not os.path.exists(LT_BIN):
        sys.exit("build it first: cargo build --release --example lt_download")
    work = tempfile.mkdtemp(prefix="lt-bench-")
    try:
        size = a.size_mib << 20
        layout = "bench/data.bin:%d" % size
        subprocess.run(["/usr/bin/python3", PEER, "make-data", "--dir", work + "/seed", "--layout", layout, "--seed", "9"], check=True)
        torrent = work + "/bench.torrent"
        subprocess.run(["/usr/bin/python3", PEER, "make-torrent", "--path", work + "/seed/bench", "--out", torrent,
                        "--piece-size", str(a.piece_kib * 1024)], check=True)
        port = free_port()
        seeder = subprocess.Popen(["/usr/bin/python3", PEER, "seed", "--torrent", torrent, "--save-path", work + "/seed",
                                   "--port", str(port)], stdout=subprocess.PIPE, text=True)
        for line in seeder.stdout:
            if '"ready"' in line:
                break
        subprocess.Popen(["cat"], stdin=seeder.stdout, stdout=subprocess.DEVNULL)
        results = {"libtorrent": [], "lt": []}
        for r in range(a.rounds):
            for client in ("libtorrent", "lt"):
                save = "%s/%s-%d" % (work, client, r)
                if client == "libtorrent":
                    cmd = ["/usr/bin/python3", PEER, "download", "--torrent", torrent, "--save-path", save,
                           "--port", str(free_port()), "--connect", "127.0.0.1:%d" % port, "--timeout", "600"]
                else:
                    cmd = [LT_BIN, torrent, save, "127.0.0.1:%d" % port]
                subprocess.run(["sync"])
                t0 = time.time()
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                wall = time.time() - t0
                last = [l for l in out.splitlines() if "elapsed_s" in l][-1]
                rep = json.loads(last)
                ok = same_tree(work + "/seed/bench", save + "/bench")
                results[client].append({"elapsed_s": rep["elapsed_s"], "cpu_s": rep["cpu_s"],
                                        "mbps": round(size / rep["elapsed_s"] / 1e6, 1),
                                        "process_wall_s": round(wall, 2), "verified": ok})
                shutil.rmtree(save, ignore_errors=True)
        seeder.terminate()
        best = {c: min(v, key=lambda x: x["elapsed_s"]) for c, v in results.items()}
        print(json.dumps({
            "size_mib": a.size_mib, "piece_kib": a.piece_kib, "results": results,
            "lt_time_ratio_vs_libtorrent": round(best["lt"]["elapsed_s"] / best["libtorrent"]["elapsed_s"], 2),
            "lt_cpu_ratio_vs_libtorrent": round(best["lt"]["cpu_s"] / max(best["libtorrent"]["cpu_s"], 1e-9), 2),
        }, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
