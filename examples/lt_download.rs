//! Downloads one torrent with lt and reports time and CPU, for benchmarks
//! against other clients fed by the same seeder:
//!
//!     cargo run --release --example lt_download -- FILE.torrent SAVE_DIR [IP:PORT ...]
//!
//! Prints one JSON line: elapsed wall seconds, CPU seconds of the process,
//! MB/s, and the payload and protocol bytes received.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lt::engine::alerts::category;
use lt::engine::stats::Metric;
use lt::engine::{AddTorrentParams, AlertKind, Session, Settings, TorrentSource, TorrentState};
use lt::proto::metainfo::Metainfo;

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: lt_download FILE.torrent SAVE_DIR [IP:PORT ...]");
        std::process::exit(2);
    }
    let bytes = std::fs::read(&args[0]).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args[0]);
        std::process::exit(1)
    });
    let meta = Arc::new(Metainfo::from_bytes(&bytes).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args[0]);
        std::process::exit(1)
    }));
    // Status alerts too: the state change to seeding wakes the wait below at
    // once, so the reported time has no polling delay in it.
    let settings = Settings {
        listen_interfaces: "127.0.0.1:0".into(),
        alert_mask: (category::ERROR | category::STATUS) as i64,
        ..Settings::default()
    };
    let ses = Session::new(settings).expect("session");
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &args[1]);
    for peer in &args[2..] {
        p.peers.push(peer.parse().expect("peer is ip:port"));
    }
    let start = Instant::now();
    let id = ses.add_torrent(p).expect("add torrent");
    loop {
        if let Some(a) = ses.wait_for_alert(Duration::from_millis(100)) {
            if let AlertKind::TorrentError { error } | AlertKind::FileError { error } = &a.kind {
                eprintln!("failed: {}", error.message);
                std::process::exit(1);
            }
        }
        let st = ses.torrent_status(id).expect("status");
        if matches!(st.state, TorrentState::Seeding | TorrentState::Finished) {
            break;
        }
        if start.elapsed() > Duration::from_secs(3600) {
            eprintln!("timed out");
            std::process::exit(1);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let c = ses.counters();
    println!(
        "{{\"client\": \"lt\", \"elapsed_s\": {secs:.3}, \"cpu_s\": {:.3}, \"mbps\": {:.1}, \"payload_bytes\": {}, \"recv_bytes\": {}, \"wasted_bytes\": {}}}",
        cpu_seconds(),
        meta.lengths.total_length() as f64 / secs / 1e6,
        c.get(Metric::RecvPayloadBytes),
        c.get(Metric::RecvBytes),
        c.get(Metric::WastedBytes)
    );
}
