//! lt as one side of a transfer, for benchmarks that pair it with itself
//! or with other clients (benches/transport_bench.py):
//!
//!     lt_peer seed FILE.torrent DATA_DIR [--set NAME=VALUE ...]
//!     lt_peer download FILE.torrent SAVE_DIR IP:PORT [--set NAME=VALUE ...]
//!
//! `--set` changes a session setting by its name (`enable_outgoing_tcp=false`,
//! `out_enc_policy=0`, ...). `seed` listens on 127.0.0.1, prints
//! `{"event": "ready", "port": P}` once the data is checked and seeds until
//! killed. `download` dials the peer, prints one JSON line when every piece
//! is in (wall seconds from the add, CPU seconds of the process, MB/s) and
//! exits; 1 on an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lt::engine::alerts::category;
use lt::engine::settings::{SettingType, SETTINGS};
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

fn fail(msg: String) -> ! {
    eprintln!("lt_peer: {msg}");
    std::process::exit(1)
}

/// Applies `NAME=VALUE` to `s`, by the setting's type.
fn set(s: &mut Settings, spec: &str) {
    let (name, value) = spec.split_once('=').unwrap_or_else(|| fail(format!("--set {spec}: not NAME=VALUE")));
    let Some((_, ty, _)) = SETTINGS.iter().find(|(n, _, _)| *n == name) else {
        fail(format!("--set: no setting named {name}"))
    };
    let r = match ty {
        SettingType::Int => {
            s.set_int(name, value.parse().unwrap_or_else(|_| fail(format!("--set {spec}: not an integer"))))
        }
        SettingType::Bool => {
            s.set_bool(name, value.parse().unwrap_or_else(|_| fail(format!("--set {spec}: not true/false"))))
        }
        SettingType::Str => s.set_str(name, value),
    };
    r.unwrap_or_else(|e| fail(format!("--set {spec}: {e}")));
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut settings = Settings {
        listen_interfaces: "127.0.0.1:0".into(),
        alert_mask: (category::ERROR | category::STATUS) as i64,
        ..Settings::default()
    };
    while let Some(i) = args.iter().position(|a| a == "--set") {
        let spec = args.get(i + 1).cloned().unwrap_or_else(|| fail("--set needs NAME=VALUE".into()));
        set(&mut settings, &spec);
        args.drain(i..i + 2);
    }
    let (mode, torrent, dir) = match args.as_slice() {
        [m, t, d, ..] if m == "seed" || m == "download" => (m.clone(), t.clone(), d.clone()),
        _ => fail("usage: lt_peer seed|download FILE.torrent DIR [IP:PORT] [--set NAME=VALUE ...]".into()),
    };
    let bytes = std::fs::read(&torrent).unwrap_or_else(|e| fail(format!("{torrent}: {e}")));
    let meta = Arc::new(Metainfo::from_bytes(&bytes).unwrap_or_else(|e| fail(format!("{torrent}: {e}"))));
    let ses = Session::new(settings).unwrap_or_else(|e| fail(format!("session: {e}")));
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir);
    if mode == "download" {
        let peer = args.get(3).unwrap_or_else(|| fail("download needs the peer's IP:PORT".into()));
        p.peers.push(peer.parse().unwrap_or_else(|_| fail(format!("{peer}: not IP:PORT"))));
    }
    let start = Instant::now();
    let cpu0 = cpu_seconds();
    let id = ses.add_torrent(p).unwrap_or_else(|e| fail(format!("add: {e}")));
    let mut ready = false;
    loop {
        if let Some(a) = ses.wait_for_alert(Duration::from_millis(50)) {
            if let AlertKind::TorrentError { error } | AlertKind::FileError { error } = &a.kind {
                fail(error.message.clone());
            }
        }
        let st = ses.torrent_status(id).unwrap_or_else(|e| fail(format!("status: {e}")));
        let complete = matches!(st.state, TorrentState::Seeding | TorrentState::Finished);
        if mode == "seed" && complete && !ready {
            println!("{{\"event\": \"ready\", \"port\": {}}}", ses.listen_port().unwrap_or(0));
            ready = true;
        }
        if mode == "download" && complete {
            let elapsed = start.elapsed().as_secs_f64();
            println!(
                "{{\"event\": \"finished\", \"elapsed_s\": {:.3}, \"cpu_s\": {:.3}, \"mbps\": {:.1}}}",
                elapsed,
                cpu_seconds() - cpu0,
                meta.lengths.total_length() as f64 / elapsed / 1e6
            );
            return;
        }
    }
}
