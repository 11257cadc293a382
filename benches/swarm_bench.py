#!/usr/bin/python3
"""Download benchmark: lt against libtorrent-rasterbar, on loopback, measured
the same way for both.

One libtorrent seeder on 127.0.0.1 runs with libtorrent's
`high_performance_seed()` settings (plus the loopback overrides of
tests/peers/lt_peer.py), so the seeder is not what limits the rate.
opentracker on 127.0.0.1 is the torrent's tracker: every downloader finds
the seeder through it, as a user's client would. Then lt
(examples/lt_download, release build) and libtorrent (lt_peer.py download)
download the same torrent in turn, interleaved (A B A B ...), one warm-up
round first and not counted. After each download the benchmark reads the
files back and compares their SHA-1 with the seed's (as a user opening them
would), deletes them and syncs, so every download starts in the state the
machine is in after another one was read back and deleted.

Each downloader is a child process measured by os.wait4: its user and
system CPU seconds and peak RSS, and the wall time from spawn to exit
(children are started by a small launcher process, so that no child
inherits this script's peak RSS; see LAUNCHER). The
downloader also reports its own download time (torrent added to all pieces
had). Reported per client: median, min and max of each, the ratios
lt/libtorrent of the medians, as a table and as JSON.

    cargo build --release --example lt_download
    /usr/bin/python3 benches/swarm_bench.py [--size-mib 1024] [--piece-kib 256] [--rounds 5]

`--extra NAME=PATH` adds another lt_download binary (say, a candidate
change) to the interleaving. `--perf DIR` records every download with
`perf record -g` into DIR (the CPU figures then include perf's own).
"""
import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import libtorrent as lt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "tests", "peers", "lt_peer.py")
LT_BIN = os.path.join(ROOT, "target", "release", "examples", "lt_download")
PYTHON = "/usr/bin/python3"
OPENTRACKER = "/usr/bin/opentracker"

# Each metric: key in a run's record, column title, format.
METRICS = [
    ("download_s", "download s", "%.2f"),
    ("process_s", "process s", "%.2f"),
    ("user_s", "user s", "%.2f"),
    ("sys_s", "sys s", "%.2f"),
    ("max_rss_mib", "peak RSS MiB", "%.0f"),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    """A port free for TCP and UDP on 127.0.0.1 now."""
    while True:
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            tcp.close()
            udp.close()


def mem_free_mib():
    """MemFree from /proc/meminfo: how much memory is free, not merely
    reclaimable. Where a buffered write's page-cache memory comes from
    depends on it, so each run records it."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemFree:"):
                return int(line.split()[1]) // 1024
    return None


def tree_digests(top):
    """SHA-1 of every file under `top` by relative path, read in 1 MiB
    chunks as a program opening the files would."""
    out = {}
    for dirpath, _, files in os.walk(top):
        for name in files:
            path = os.path.join(dirpath, name)
            h = hashlib.sha1()
            with open(path, "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
            out[os.path.relpath(path, top)] = h.hexdigest()
    return out


class Opentracker:
    """opentracker on 127.0.0.1 accepting one info-hash (Debian's build has
    a whitelist; it chroots to its directory and drops to nobody)."""

    def __init__(self, work, port, info_hash_hex):
        self.dir = os.path.join(work, "opentracker")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        whitelist = os.path.join(self.dir, "whitelist.txt")
        with open(whitelist, "w") as f:
            f.write(info_hash_hex + "\n")
        os.chmod(whitelist, 0o644)
        self.port = port
        self.proc = subprocess.Popen([OPENTRACKER, "-i", "127.0.0.1", "-p", str(self.port), "-P", str(self.port),
                                      "-d", self.dir, "-w", "whitelist.txt"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    sys.exit("opentracker did not start on port %d" % self.port)
                time.sleep(0.05)

    def seeders(self, info_hash):
        """Complete peers the tracker knows for `info_hash` (20 bytes)."""
        url = "http://127.0.0.1:%d/scrape?info_hash=%s" % (self.port, urllib.parse.quote_from_bytes(info_hash))
        with urllib.request.urlopen(url, timeout=5) as r:
            reply = lt.bdecode(r.read())
        files = reply.get(b"files", {}) if reply else {}
        return files.get(info_hash, {}).get(b"complete", 0)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


# The process that starts the downloaders. Linux carries the peak RSS of
# the process that forks (or vforks) a child into the child's ru_maxrss, so
# children started by this script would report at least this script's RSS
# (Python with libtorrent loaded). They are started instead by this small
# interpreter (`python3 -S`, nothing imported but os and json), whose own RSS
# is the floor; the benchmark measures it and prints it. It reads one JSON
# request a line (argv, stdout and stderr paths), forks, execs, reaps the
# child with os.wait4 and answers one JSON line.
LAUNCHER = r"""
import json, os, sys, time
for line in sys.stdin:
    req = json.loads(line)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
                f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(f, fd)
                os.close(f)
            os.execvp(req["argv"][0], req["argv"])
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    print(json.dumps({"exit": os.waitstatus_to_exitcode(status), "process_s": wall, "user_s": ru.ru_utime,
                      "sys_s": ru.ru_stime, "max_rss_mib": ru.ru_maxrss / 1024}), flush=True)
"""


class Launcher:
    """Starts and measures children through the small LAUNCHER process."""

    def __init__(self, work):
        self.work = work
        self.proc = subprocess.Popen([PYTHON, "-S", "-c", LAUNCHER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def run(self, cmd):
        """Runs `cmd` to its end; answers its stdout and what os.wait4
        measured: wall seconds from fork to reaping, user and system CPU
        seconds, peak RSS in MiB."""
        out = os.path.join(self.work, "child.out")
        err = os.path.join(self.work, "child.err")
        self.proc.stdin.write(json.dumps({"argv": cmd, "stdout": out, "stderr": err}) + "\n")
        self.proc.stdin.flush()
        rec = json.loads(self.proc.stdout.readline())
        stdout = open(out, errors="replace").read()
        if rec.pop("exit") != 0:
            sys.exit("%s failed:\n%s\n%s" % (shlex.join(cmd), stdout[-2000:], open(err, errors="replace").read()[-2000:]))
        return stdout, rec

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait()


def summary(runs, key):
    values = [r[key] for r in runs]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--piece-kib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5, help="measured rounds, after one warm-up round")
    ap.add_argument("--lt-bin", default=LT_BIN)
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                    help="another lt_download binary to interleave")
    ap.add_argument("--perf", metavar="DIR", help="record every download with perf record -g into DIR")
    ap.add_argument("--json-out", metavar="FILE", help="also write the JSON report to FILE")
    ap.add_argument("--work-dir", default=None, help="where data and downloads go (default: a new temp dir)")
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit("--rounds must be at least 1")
    clients = [("lt", a.lt_bin), ("libtorrent", None)]
    for spec in a.extra:
        name, _, path = spec.partition("=")
        if not name or not path:
            sys.exit("--extra takes NAME=PATH")
        clients.append((name, os.path.abspath(path)))
    for name, path in clients:
        if path and not os.access(path, os.X_OK):
            sys.exit("%s: %s is missing; build it: cargo build --release --example lt_download" % (name, path))
    if a.perf:
        os.makedirs(a.perf, exist_ok=True)

    command = shlex.join([PYTHON] + [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    header = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "libtorrent": lt.__version__,
        "load_at_start": os.getloadavg(),
        "mem_free_mib_at_start": mem_free_mib(),
        "size_mib": a.size_mib,
        "piece_kib": a.piece_kib,
        "rounds": a.rounds,
        "warmup_rounds": 1,
        "order": [c for c, _ in clients],
        "perf": bool(a.perf),
    }
    print("# command: %s" % command)
    print("# %s, kernel %s, %d CPUs, libtorrent %s, load %.2f %.2f %.2f, MemFree %d MiB" % (
        header["date"], header["kernel"], header["cpus"], header["libtorrent"], *header["load_at_start"],
        header["mem_free_mib_at_start"]))
    print("# %d MiB, %d KiB pieces, 1 warm-up round + %d measured rounds, order per round: %s" % (
        a.size_mib, a.piece_kib, a.rounds, " ".join(header["order"])))
    sys.stdout.flush()

    work = tempfile.mkdtemp(prefix="lt-bench-", dir=a.work_dir)
    tracker = None
    seeder = None
    launcher = Launcher(work)
    try:
        size = a.size_mib << 20
        seed_dir = os.path.join(work, "seed")
        log("making %d MiB of data" % a.size_mib)
        subprocess.run([PYTHON, PEER, "make-data", "--dir", seed_dir, "--layout", "bench/data.bin:%d" % size,
                        "--seed", "9"], check=True)
        expected = tree_digests(seed_dir)
        # The tracker's port goes into the torrent, and the torrent's
        # info-hash into the tracker's whitelist: choose the port first.
        tracker_port = free_port()
        torrent = os.path.join(work, "bench.torrent")
        subprocess.run([PYTHON, PEER, "make-torrent", "--path", os.path.join(seed_dir, "bench"), "--out", torrent,
                        "--piece-size", str(a.piece_kib * 1024),
                        "--tracker", "http://127.0.0.1:%d/announce" % tracker_port], check=True)
        info_hash = lt.torrent_info(torrent).info_hashes().v1.to_bytes()
        tracker = Opentracker(work, tracker_port, info_hash.hex())

        seed_port = free_port()
        seeder = subprocess.Popen([PYTHON, PEER, "seed", "--high-performance", "--torrent", torrent,
                                   "--save-path", seed_dir, "--port", str(seed_port)],
                                  stdout=subprocess.PIPE, text=True)
        for line in seeder.stdout:
            if '"ready"' in line:
                break
        else:
            sys.exit("the seeder exited before it was ready")
        # Its status lines are not needed; keep the pipe drained.
        subprocess.Popen(["cat"], stdin=seeder.stdout, stdout=subprocess.DEVNULL)
        deadline = time.time() + 30
        while tracker.seeders(info_hash) < 1:
            if time.time() > deadline:
                sys.exit("the seeder never announced to the tracker")
            time.sleep(0.2)

        # What libtorrent's figures include beyond the download: starting
        # the Python interpreter and importing libtorrent.
        _, startup = launcher.run([PYTHON, "-c", "import libtorrent"])
        _, floor = launcher.run(["/bin/true"])

        results = {name: [] for name, _ in clients}
        for rnd in range(a.rounds + 1):
            for name, path in clients:
                save = os.path.join(work, "dl-%s-%d" % (name, rnd))
                if path is None:
                    cmd = [PYTHON, PEER, "download", "--torrent", torrent, "--save-path", save,
                           "--port", str(free_port()), "--timeout", "600"]
                else:
                    cmd = [path, torrent, save]
                if a.perf:
                    cmd = ["perf", "record", "-g", "-q", "-o",
                           os.path.join(a.perf, "%s-%d.data" % (name, rnd)), "--"] + cmd
                subprocess.run(["sync"], check=True)
                free_before = mem_free_mib()
                stdout, rec = launcher.run(cmd)
                rec["mem_free_mib_before"] = free_before
                report = json.loads([l for l in stdout.splitlines() if "elapsed_s" in l][-1])
                rec["download_s"] = report["elapsed_s"]
                if "rss_file_mib" in report:
                    rec["rss_file_mib_at_finish"] = report["rss_file_mib"]
                got = tree_digests(save)
                if got != expected:
                    sys.exit("%s round %d: the files read back differ from the seed's" % (name, rnd))
                shutil.rmtree(save)
                subprocess.run(["sync"], check=True)
                rec["round"] = rnd
                log("%s round %d%s: download %.2f s, process %.2f s, user %.2f s, sys %.2f s, RSS %.0f MiB"
                    " (MemFree before: %d MiB)" % (
                        name, rnd, " (warm-up)" if rnd == 0 else "", rec["download_s"], rec["process_s"],
                        rec["user_s"], rec["sys_s"], rec["max_rss_mib"], free_before))
                if rnd > 0:
                    results[name].append(rec)

        stats = {name: {key: summary(runs, key) for key, _, _ in METRICS} for name, runs in results.items()}
        base = stats["libtorrent"]
        ratios = {name: {key: s[key]["median"] / base[key]["median"] for key, _, _ in METRICS}
                  for name, s in stats.items() if name != "libtorrent"}

        print()
        print("| client | " + " | ".join(title for _, title, _ in METRICS) + " |")
        print("|---|" + "---|" * len(METRICS))
        for name, s in stats.items():
            cells = []
            for key, _, fmt in METRICS:
                m = s[key]
                cells.append((fmt + " [" + fmt + "-" + fmt + "]") % (m["median"], m["min"], m["max"]))
            print("| %s | %s |" % (name, " | ".join(cells)))
        for name, r in ratios.items():
            print("| %s/libtorrent | %s |" % (name, " | ".join("%.2f" % r[key] for key, _, _ in METRICS)))
        print()
        print("median [min-max] of %d rounds; download s: torrent added to all pieces had, as the client reports it;"
              % a.rounds)
        print("process s, user s, sys s, peak RSS: the child process from spawn to exit (os.wait4).")
        print("libtorrent's process figures include Python's start and `import libtorrent`, alone: "
              "%.2f s, user %.2f s, sys %.2f s, RSS %.0f MiB." % (
                  startup["process_s"], startup["user_s"], startup["sys_s"], startup["max_rss_mib"]))
        mapped = [r["rss_file_mib_at_finish"] for r in results["libtorrent"] if "rss_file_mib_at_finish" in r]
        if mapped:
            print("libtorrent maps the files it downloads: of its RSS, %.0f MiB (median) were file pages at finish."
                  % statistics.median(mapped))
        print("Peak RSS cannot read below the launcher's own, %.1f MiB (/bin/true through it)." % floor["max_rss_mib"])
        header["load_at_end"] = os.getloadavg()
        print("# load at end %.2f %.2f %.2f" % header["load_at_end"])
        report = {"header": header, "runs": results, "summary": stats, "ratio_to_libtorrent": ratios,
                  "python_import_libtorrent": startup, "rss_floor_mib": floor["max_rss_mib"]}
        text = json.dumps(report, indent=1)
        print()
        print(text)
        if a.json_out:
            with open(a.json_out, "w") as f:
                f.write(text + "\n")
    finally:
        if seeder is not None:
            seeder.terminate()
            seeder.wait()
        if tracker is not None:
            tracker.stop()
        launcher.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
