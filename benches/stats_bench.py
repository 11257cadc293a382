#!/usr/bin/python3
"""Statistics latency, lt next to libtorrent-rasterbar in the same run:
the post_session_stats -> session_stats alert round trip (median, p90,
p99) and the size of the metric catalogue; plus lt's lt_session_stats
call time (libtorrent has no direct read). Run after
`cargo build --release --example stats_bench`:

    /usr/bin/python3 benches/stats_bench.py
"""
import json
import os
import subprocess
import time

import libtorrent as lt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pct(v, p):
    v = sorted(v)
    return v[int((len(v) - 1) * p)]


def libtorrent_round_trip(rounds=20000):
    ses = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                      "enable_upnp": False, "enable_natpmp": False, "dht_bootstrap_nodes": ""})
    ses.pop_alerts()
    trips = []
    for _ in range(rounds):
        t = time.perf_counter()
        ses.post_session_stats()
        while True:
            a = ses.wait_for_alert(1000)
            got = [x for x in ses.pop_alerts() if isinstance(x, lt.session_stats_alert)]
            if got:
                break
        trips.append((time.perf_counter() - t) * 1e6)
    return trips, len(lt.session_stats_metrics())


def main():
    trips, metrics = libtorrent_round_trip()
    lib = {"client": "libtorrent " + lt.__version__, "metrics": metrics,
           "post_to_alert_us": {"p50": round(pct(trips, 0.5), 2), "p90": round(pct(trips, 0.9), 2),
                                "p99": round(pct(trips, 0.99), 2)},
           "note": "measured through the Python binding, which adds its own call overhead"}
    out = subprocess.run([os.path.join(ROOT, "target/release/examples/stats_bench")], capture_output=True,
                         text=True, check=True).stdout
    ours = json.loads(out)
    print(json.dumps({"libtorrent": lib, "lt": ours,
                      "post_to_alert_p50_ratio": round(ours["post_to_alert_us"]["p50"] / lib["post_to_alert_us"]["p50"], 4)},
                     indent=1))


if __name__ == "__main__":
    main()
