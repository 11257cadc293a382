//! The demo swarm: one session seeds a torrent of generated data, another
//! downloads it over loopback, with a progress bar and a live stats line.
//!
//!     cargo run --release --example demo [-- --size-mib 256]
//!
//! Everything stays on 127.0.0.1; no DHT, no trackers, no outside traffic.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lt::engine::create::{create_torrent, CreateOptions};
use lt::engine::stats::Metric;
use lt::engine::{AddTorrentParams, AlertKind, Session, Settings, TorrentSource, TorrentState};
use lt::proto::metainfo::Metainfo;

fn main() {
    let size_mib = std::env::args()
        .skip_while(|a| a != "--size-mib")
        .nth(1)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(256);
    if let Err(e) = run(size_mib) {
        eprintln!("demo failed: {e}");
        std::process::exit(1);
    }
}

fn run(size_mib: u64) -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::temp_dir().join(format!("lt-demo-{}", std::process::id()));
    let seed_dir = root.join("seed");
    let leech_dir = root.join("leech");
    std::fs::create_dir_all(&leech_dir)?;

    println!("lt {} demo: {size_mib} MiB swarm on 127.0.0.1", env!("CARGO_PKG_VERSION"));
    let content = seed_dir.join("demo-data");
    let total = size_mib << 20;
    let t0 = Instant::now();
    write_data(
        &content,
        &[
            ("video.bin", total * 6 / 10 + 12345),
            ("readme.txt", 0),
            ("assets/pack.bin", total - total * 6 / 10 - 12345),
        ],
    )?;
    println!("  generated {} MiB of data in {:.1} s", size_mib, t0.elapsed().as_secs_f64());

    let t0 = Instant::now();
    let torrent = create_torrent(
        &content,
        &CreateOptions { created_by: Some("lt demo".into()), ..Default::default() },
        &mut |_, _| {},
    )?;
    let meta = Arc::new(Metainfo::from_bytes(&torrent)?);
    println!(
        "  created torrent {} ({} pieces of {} KiB) in {:.1} s",
        meta.info_hash,
        meta.lengths.num_pieces(),
        meta.lengths.piece_length() / 1024,
        t0.elapsed().as_secs_f64()
    );

    let settings = Settings { listen_interfaces: "127.0.0.1:0".into(), ..Settings::default() };
    let seeder = Session::new(settings.clone())?;
    let leecher = Session::new(settings)?;
    let seed_port = seeder.listen_port().ok_or("seeder has no listen port")?;

    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &seed_dir);
    p.seed_mode = true;
    seeder.add_torrent(p)?;

    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &leech_dir);
    p.peers.push(format!("127.0.0.1:{seed_port}").parse()?);
    let id = leecher.add_torrent(p)?;

    let start = Instant::now();
    let deadline = start + Duration::from_secs(600);
    loop {
        while let Some(a) = leecher.pop_alert() {
            if let AlertKind::TorrentError { error } | AlertKind::FileError { error } = &a.kind {
                return Err(format!("download failed: {}", error.message).into());
            }
        }
        let st = leecher.torrent_status(id)?;
        let c = leecher.counters();
        // The rate counters cover the last whole second; before the first
        // one has passed, show the average so far.
        let rate = match c.get(Metric::RecvPayloadRate) {
            0 => c.get(Metric::RecvPayloadBytes) as f64 / start.elapsed().as_secs_f64().max(1e-3),
            r => r as f64,
        };
        print!(
            "\r  [{:<40}] {:5.1}%  {:7.1} MB/s  peers {}  pieces {}/{}   ",
            "#".repeat((st.progress * 40.0) as usize),
            st.progress * 100.0,
            rate / 1e6,
            st.num_peers,
            st.pieces_done,
            st.pieces_total
        );
        std::io::stdout().flush()?;
        if matches!(st.state, TorrentState::Seeding | TorrentState::Finished) {
            break;
        }
        if Instant::now() > deadline {
            return Err("download did not finish in 10 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let secs = start.elapsed().as_secs_f64();
    println!();

    let mut verified = 0;
    for f in &meta.files {
        if !same_file(&seed_dir.join(&f.path), &leech_dir.join(&f.path))? {
            return Err(format!("{} differs from the original", f.path.display()).into());
        }
        verified += 1;
    }
    let c = leecher.counters();
    println!("  downloaded {size_mib} MiB in {secs:.2} s: {:.1} MB/s", total as f64 / secs / 1e6);
    println!("  verified: {verified} files identical to the seed's, every piece SHA-1 checked");
    println!(
        "  leecher stats: payload {} B, protocol overhead {} B, wasted {} B, hash failures {}, blocks written {}",
        c.get(Metric::RecvPayloadBytes),
        c.get(Metric::RecvBytes) - c.get(Metric::RecvPayloadBytes),
        c.get(Metric::WastedBytes),
        c.get(Metric::NumPieceFailed),
        c.get(Metric::BlocksWritten)
    );
    let s = seeder.counters();
    println!(
        "  seeder stats: payload sent {} B, blocks read {}",
        s.get(Metric::SentPayloadBytes),
        s.get(Metric::BlocksRead)
    );
    drop(leecher);
    drop(seeder);
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// Writes deterministic pseudo-random files (xorshift), quickly.
fn write_data(dir: &Path, files: &[(&str, u64)]) -> std::io::Result<()> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for (name, size) in files {
        let path: PathBuf = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        let mut left = *size;
        let mut chunk = vec![0u8; 1 << 20];
        while left > 0 {
            for w in chunk.chunks_exact_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                w.copy_from_slice(&state.to_le_bytes());
            }
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        f.flush()?;
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}
