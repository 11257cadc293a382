#!/usr/bin/python3
"""Transport benchmark: uTP and the encrypted handshake, lt beside
libtorrent-rasterbar, on loopback.

Each configuration is one seeder and one downloader dialling it, both on
127.0.0.1, each side lt (examples/lt_peer, release build) or libtorrent
(tests/peers/lt_peer.py, its seeder with `high_performance_seed()`):

  utp   lt->lt, libtorrent->libtorrent, lt->libtorrent, libtorrent->lt
        (seeder->downloader), with TCP off on both sides: every byte
        goes over uTP.
  rc4 / plain
        over TCP with RC4 forced both ways, or with encryption disabled
        both ways, for lt->lt and libtorrent->libtorrent: the difference
        is what encryption costs.

The configurations run interleaved, round after round (one warm-up round
first, not counted). Per run it measures the download's wall time (from the
downloader's start to its exit), the downloader's user and system CPU
(os.wait4), and the seeder's user and system CPU over the same interval
(/proc/PID/stat). After each run the download is compared with the seed by
SHA-1, deleted and synced. Reported per configuration: median, min and max
of MB/s and of CPU seconds per GiB moved (seeder and downloader, user and
system apart), as a table and as JSON.

    cargo build --release --example lt_peer
    /usr/bin/python3 benches/transport_bench.py [--size-mib 256] [--rounds 3] [--only utp,rc4,plain]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from swarm_bench import PEER, PYTHON, ROOT, free_port, log, tree_digests  # noqa: E402

LT_PEER = os.path.join(ROOT, "target", "release", "examples", "lt_peer")
TICKS = os.sysconf("SC_CLK_TCK")

UTP_ONLY = ["enable_outgoing_tcp=false", "enable_incoming_tcp=false"]
TCP_ONLY = ["enable_outgoing_utp=false", "enable_incoming_utp=false"]
RC4_FORCED = ["out_enc_policy=0", "in_enc_policy=0", "allowed_enc_level=2"]
ENC_OFF = ["out_enc_policy=2", "in_enc_policy=2"]


def lt_args(settings):
    out = []
    for s in settings:
        out += ["--set", s]
    return out


def proc_cpu(pid):
    """User and system CPU seconds of process `pid` so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


class Seeder:
    def __init__(self, kind, torrent, data, mode, work):
        if kind == "lt":
            settings = (UTP_ONLY if mode == "utp" else TCP_ONLY) + (RC4_FORCED if mode == "rc4" else [])
            if mode == "plain":
                settings += ENC_OFF
            cmd = [LT_PEER, "seed", torrent, data] + lt_args(settings)
        else:
            self.port = free_port()
            cmd = [PYTHON, PEER, "seed", "--torrent", torrent, "--save-path", data, "--port", str(self.port),
                   "--high-performance", "--transport", "utp" if mode == "utp" else "tcp",
                   "--encryption", {"rc4": "forced", "plain": "disabled"}.get(mode, "default")]
        self.err = open(os.path.join(work, "seeder.err"), "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, text=True)
        deadline = time.time() + 300
        while True:
            line = self.proc.stdout.readline()
            if not line:
                sys.exit("the %s seeder exited: see %s" % (kind, self.err.name))
            if '"ready"' in line:
                self.port = json.loads(line)["port"]
                break
            if time.time() > deadline:
                sys.exit("the %s seeder did not get ready" % kind)
        # libtorrent's seeder prints a status line a second: drain it.
        subprocess.Popen(["cat"], stdin=self.proc.stdout, stdout=subprocess.DEVNULL)

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.err.close()


def downloader_cmd(kind, torrent, save, port, mode):
    if kind == "lt":
        settings = (UTP_ONLY if mode == "utp" else TCP_ONLY) + (RC4_FORCED if mode == "rc4" else [])
        if mode == "plain":
            settings += ENC_OFF
        return [LT_PEER, "download", torrent, save, "127.0.0.1:%d" % port] + lt_args(settings)
    return [PYTHON, PEER, "download", "--torrent", torrent, "--save-path", save, "--port", str(free_port()),
            "--connect", "127.0.0.1:%d" % port, "--timeout", "3600",
            "--transport", "utp" if mode == "utp" else "tcp",
            "--encryption", {"rc4": "forced", "plain": "disabled"}.get(mode, "default")]


def run_once(cfg, torrent, data, work, want, size):
    mode, seeder_kind, downloader_kind = cfg
    save = os.path.join(work, "download")
    shutil.rmtree(save, ignore_errors=True)
    seeder = Seeder(seeder_kind, torrent, data, mode, work)
    try:
        s0 = seeder.cpu()
        t0 = time.monotonic()
        child = subprocess.Popen(downloader_cmd(downloader_kind, torrent, save, seeder.port, mode),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, status, ru = os.wait4(child.pid, 0)
        wall = time.monotonic() - t0
        s1 = seeder.cpu()
        out = child.stdout.read()
        if os.waitstatus_to_exitcode(status) != 0 or '"finished"' not in out:
            sys.exit("%s failed:\n%s\n%s" % (cfg, out[-2000:], child.stderr.read()[-2000:]))
    finally:
        seeder.stop()
    if tree_digests(save) != want:
        sys.exit("%s: the download differs from the seed" % (cfg,))
    shutil.rmtree(save)
    os.sync()
    gib = size / (1 << 30)
    return {"wall_s": wall, "mbps": size / wall / 1e6,
            "down_user": ru.ru_utime / gib, "down_sys": ru.ru_stime / gib,
            "seed_user": (s1[0] - s0[0]) / gib, "seed_sys": (s1[1] - s0[1]) / gib}


KEYS = [("mbps", "MB/s", "%.1f"), ("seed_user", "seed user s/GiB", "%.2f"), ("seed_sys", "seed sys s/GiB", "%.2f"),
        ("down_user", "down user s/GiB", "%.2f"), ("down_sys", "down sys s/GiB", "%.2f")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3, help="measured rounds, after one warm-up round")
    ap.add_argument("--only", default="utp,rc4,plain", help="comma-separated modes to run")
    ap.add_argument("--json-out", metavar="FILE")
    a = ap.parse_args()
    if not os.path.exists(LT_PEER):
        sys.exit("build it first: cargo build --release --example lt_peer")
    modes = a.only.split(",")
    configs = []
    if "utp" in modes:
        configs += [("utp", s, d) for s in ("lt", "libtorrent") for d in ("lt", "libtorrent")]
    for m in ("rc4", "plain"):
        if m in modes:
            configs += [(m, "lt", "lt"), (m, "libtorrent", "libtorrent")]
    work = tempfile.mkdtemp(prefix="lt-transport-bench-")
    try:
        data = os.path.join(work, "data")
        subprocess.run([PYTHON, PEER, "make-data", "--dir", data, "--layout", "bench.bin:%d" % (a.size_mib << 20),
                        "--seed", "7"], check=True)
        torrent = os.path.join(work, "bench.torrent")
        subprocess.run([PYTHON, PEER, "make-torrent", "--path", os.path.join(data, "bench.bin"), "--out", torrent],
                       check=True)
        want = tree_digests(data)
        size = a.size_mib << 20
        runs = {c: [] for c in configs}
        for r in range(a.rounds + 1):
            for c in configs:
                rec = run_once(c, torrent, data, work, want, size)
                log("round %d %s %s->%s: %.1f MB/s" % (r, c[0], c[1], c[2], rec["mbps"]))
                if r > 0:
                    runs[c].append(rec)
        report = []
        print("%-6s %-22s " % ("mode", "seeder -> downloader") + " ".join("%-22s" % t for _, t, _ in KEYS))
        for c in configs:
            row = {"mode": c[0], "seeder": c[1], "downloader": c[2]}
            cells = []
            for k, _, fmt in KEYS:
                v = [x[k] for x in runs[c]]
                row[k] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
                cells.append("%-22s" % ((fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(v), min(v), max(v))))
            report.append(row)
            print("%-6s %-22s " % (c[0], "%s -> %s" % (c[1], c[2])) + " ".join(cells))
        print(json.dumps({"size_mib": a.size_mib, "rounds": a.rounds, "results": report}))
        if a.json_out:
            with open(a.json_out, "w") as f:
                json.dump({"size_mib": a.size_mib, "rounds": a.rounds, "results": report}, f, indent=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
