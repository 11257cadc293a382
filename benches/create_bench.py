#!/usr/bin/python3
"""Creating a torrent of one 1 GiB file with 256 KiB pieces: lt (the C API
through ctypes: lt_create_torrent_generate, v1 and hybrid), mktorrent
(`-t 2`, v1) and libtorrent-rasterbar from Python (v1 and hybrid), runs
interleaved so load changes hit every tool alike. Prints per tool the
median wall time with min-max, user/sys CPU seconds, and the rate as a
share of the bound: SHA-1 (v1), SHA-256 (v2) or both (hybrid) hashing
from memory on every core at once, measured in the same run between the
tools (Python's hashlib, which is OpenSSL with SHA-NI here). Also the
speed of one core and the load average before and after.

The file is made once (in $CREATE_BENCH_DIR, default /tmp/lt-create-bench)
and read once before timing, so every run hashes from a warm page cache:
this measures hashing and the copy out of the cache, not the disk.

Run after `cargo build --release --lib` (or set LT_LIB to a liblt.so):

    /usr/bin/python3 benches/create_bench.py [runs]
"""
import ctypes
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import time

import libtorrent as lt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 1 << 30
PIECE = 256 * 1024
WORK = os.environ.get("CREATE_BENCH_DIR", "/tmp/lt-create-bench")
DATA = os.path.join(WORK, "one.bin")


def make_data():
    os.makedirs(WORK, exist_ok=True)
    if not os.path.exists(DATA) or os.path.getsize(DATA) != SIZE:
        block = os.urandom(1 << 20)
        with open(DATA, "wb") as f:
            for i in range(SIZE >> 20):
                # Different bytes per MiB so no piece repeats.
                f.write(i.to_bytes(8, "little") + block[8:])
    with open(DATA, "rb") as f:
        while f.read(16 << 20):
            pass


def load_lt():
    path = os.environ.get("LT_LIB") or os.path.join(ROOT, "target/release/liblt.so")
    lib = ctypes.CDLL(path)
    lib.lt_create_torrent_new.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.lt_create_torrent_set_piece_size.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.lt_create_torrent_set_format.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.lt_create_torrent_generate.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                               ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
    lib.lt_create_torrent_free.argtypes = [ctypes.c_void_p]
    lib.lt_free.argtypes = [ctypes.c_void_p]
    return path, lib


def lt_create(lib, fmt):
    ct = ctypes.c_void_p()
    assert lib.lt_create_torrent_new(DATA.encode(), ctypes.byref(ct)) == 0
    assert lib.lt_create_torrent_set_piece_size(ct, PIECE) == 0
    assert lib.lt_create_torrent_set_format(ct, fmt) == 0
    out, n = ctypes.c_void_p(), ctypes.c_size_t()
    rc = lib.lt_create_torrent_generate(ct, None, None, ctypes.byref(out), ctypes.byref(n))
    lib.lt_create_torrent_free(ct)
    assert rc == 0, rc
    lib.lt_free(out)


def libtorrent_create(flags):
    fs = lt.file_storage()
    lt.add_files(fs, DATA)
    ct = lt.create_torrent(fs, PIECE, flags=flags)
    lt.set_piece_hashes(ct, WORK)
    ct.generate()


def mktorrent():
    out = os.path.join(WORK, "mk.torrent")
    if os.path.exists(out):
        os.remove(out)
    subprocess.run(["mktorrent", "-t", "2", "-l", "18", "-o", out, DATA], check=True,
                   stdout=subprocess.DEVNULL)


def timed(fn):
    """Wall seconds, and user and sys CPU seconds of this process and its
    children (mktorrent) together."""
    r0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    r1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    user = (r1.ru_utime - r0.ru_utime) + (c1.ru_utime - c0.ru_utime)
    sys_ = (r1.ru_stime - r0.ru_stime) + (c1.ru_stime - c0.ru_stime)
    return wall, user, sys_


def hash_speed(name, threads):
    """MB/s of `name` hashing from memory on `threads` cores at once, each
    hashing its own 256 MiB in 256 KiB chunks (hashlib lets go of the GIL
    for large inputs). On every core, the bound a torrent creator works
    against."""
    import threading
    chunk = os.urandom(256 * 1024)

    def work():
        h = hashlib.new(name)
        for _ in range(1024):
            h.update(chunk)
        h.digest()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    t = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return threads * (256 << 20) / (time.perf_counter() - t) / 1e6


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    make_data()
    path, lib = load_lt()
    tools = [
        ("lt v1", lambda: lt_create(lib, 1)),
        ("lt hybrid", lambda: lt_create(lib, 3)),
        ("lt v2", lambda: lt_create(lib, 2)),
        ("mktorrent -t 2 v1", mktorrent),
        ("libtorrent v1", lambda: libtorrent_create(lt.create_torrent.v1_only)),
        ("libtorrent hybrid", lambda: libtorrent_create(0)),
    ]
    print(f"liblt: {path}; {os.cpu_count()} cores; libtorrent {lt.__version__}")
    print(f"load average before: {os.getloadavg()}")
    print(f"one core (hashlib): SHA-1 {hash_speed('sha1', 1):.0f} MB/s, SHA-256 {hash_speed('sha256', 1):.0f} MB/s")
    bound = {"sha1": [], "sha256": []}
    results = {name: [] for name, _ in tools}
    for _ in range(runs):
        for algo in bound:
            bound[algo].append(hash_speed(algo, os.cpu_count()))
        for name, fn in tools:
            results[name].append(timed(fn))
    sha1, sha256 = (statistics.median(bound[a]) for a in ("sha1", "sha256"))
    print(f"all {os.cpu_count()} cores from memory, median of {runs}: SHA-1 {sha1:.0f} MB/s, "
          f"SHA-256 {sha256:.0f} MB/s")
    print(f"1 GiB, 256 KiB pieces, warm page cache, {runs} interleaved runs each")
    print(f"{'tool':<20} {'wall median (min-max) s':<28} {'user s':>7} {'sys s':>7} {'MB/s':>7} {'of bound':>8}")
    for name, rs in results.items():
        walls = [r[0] for r in rs]
        med = statistics.median(walls)
        user = statistics.median(r[1] for r in rs)
        sys_ = statistics.median(r[2] for r in rs)
        # v1 is bounded by SHA-1; hybrid does both, so its bound is the two
        # hashes' times added; v2 by SHA-256.
        rate = SIZE / med / 1e6
        bound_rate = sha256 if "v2" in name else 1 / (1 / sha1 + 1 / sha256) if "hybrid" in name else sha1
        print(f"{name:<20} {med:6.3f} ({min(walls):.3f}-{max(walls):.3f}){'':<10} {user:7.2f} {sys_:7.2f} "
              f"{rate:7.0f} {100 * rate / bound_rate:7.0f}%")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
