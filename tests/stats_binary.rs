//! The binary statistics snapshot of a live session: a download between
//! two sessions on 127.0.0.1, then the leecher's snapshot decoded and
//! compared with its counters.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lt::engine::create::{create_torrent, CreateOptions};
use lt::engine::export::binary::{decode, HEADER_LEN};
use lt::engine::export::ExportFormat;
use lt::engine::stats::{find_metric, Metric, METRICS};
use lt::engine::{AddTorrentParams, Session, Settings, TorrentSource, TorrentState};
use lt::proto::metainfo::Metainfo;

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// The body of an HTTP/1.0 GET of `path` that answered 200.
fn http_get(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let end = reply.windows(4).position(|w| w == b"\r\n\r\n").expect("a header") + 4;
    let head = String::from_utf8_lossy(&reply[..end]);
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/octet-stream"), "{head}");
    reply.split_off(end)
}

#[test]
fn snapshot_of_a_session_after_a_download() {
    let dir = std::env::temp_dir().join(format!("lt-stats-binary-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let content = dir.join("data");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("a.bin"), vec![5u8; 200_000]).unwrap();
    let opts = CreateOptions { piece_length: Some(32 * 1024), ..Default::default() };
    let meta =
        Arc::new(Metainfo::from_bytes(&create_torrent(&content, &opts, &mut |_, _| {}).unwrap()).unwrap());
    let pieces = meta.lengths.num_pieces() as i64;

    let base = Settings { listen_interfaces: "127.0.0.1:0".into(), ..Settings::default() };
    let seeder = Session::new(base.clone()).unwrap();
    let base = Settings { stats_listen: "127.0.0.1:0".into(), ..base };
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir);
    p.seed_mode = true;
    seeder.add_torrent(p).unwrap();
    let ses = Session::new(base).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.join("leech"));
    p.peers.push(format!("127.0.0.1:{}", seeder.listen_port().unwrap()).parse().unwrap());
    let id = ses.add_torrent(p).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ses.torrent_status(id).unwrap().state != TorrentState::Seeding {
        assert!(Instant::now() < deadline, "download did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }

    let before = now_us();
    let bytes = ses.export_stats_binary();
    let after = now_us();
    let counters = ses.counters().snapshot();

    assert_eq!(bytes.len(), HEADER_LEN + 8 * METRICS.len());
    let (snap, used) = decode(&bytes).unwrap();
    assert_eq!(used, bytes.len());
    assert!(before <= snap.timestamp_us && snap.timestamp_us <= after);
    let named = snap.metrics().unwrap();
    assert_eq!(named.len(), METRICS.len());
    let value = |name: &str| snap.values[find_metric(name).unwrap()];

    assert_eq!(value("ses.num_torrents"), 1);
    assert_eq!(value("ses.num_piece_passed"), pieces);
    assert!(value("net.recv_payload_bytes") >= meta.lengths.total_length() as i64);
    // Counters that cannot move between the snapshot and the read after it.
    for m in [Metric::NumTorrents, Metric::NumPiecePassed, Metric::TorrentsAdded] {
        assert_eq!(snap.values[m as usize], counters[m as usize], "{}", METRICS[m as usize].name);
    }
    // The endpoint serves the same snapshot as GET /stats.bin.
    let served = http_get(ses.stats_listen_addr().expect("endpoint on"), "/stats.bin");
    let (snap, used) = decode(&served).unwrap();
    assert_eq!(used, served.len());
    assert_eq!(snap.values.len(), METRICS.len());
    assert_eq!(snap.values[Metric::NumPiecePassed as usize], pieces);
    // The text exports refuse the binary format rather than mangle it.
    assert!(ses.export_stats(ExportFormat::Binary).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
