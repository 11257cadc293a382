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
    // The text exports refuse the binary format rather than mangle it.
    assert!(ses.export_stats(ExportFormat::Binary).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
