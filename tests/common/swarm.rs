//! lt against lt in one process: settings for loopback sessions, torrents
//! made from generated files, waiting for alerts, a seeding session.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lt::engine::create::{create_torrent, CreateOptions};
use lt::engine::{
    AddTorrentParams, Alert, AlertType, Session, Settings, TorrentId, TorrentSource, TorrentState,
};
use lt::proto::metainfo::Metainfo;

pub const WAIT: Duration = Duration::from_secs(120);

pub fn settings() -> Settings {
    Settings {
        listen_interfaces: "127.0.0.1:0".into(),
        alert_mask: lt::engine::alerts::category::ALL as i64,
        ..Settings::default()
    }
}

/// Writes deterministic files under `dir/content` and answers the parsed torrent.
pub fn make_torrent(dir: &Path, files: &[(&str, usize)], piece_length: u32) -> Arc<Metainfo> {
    make_torrent_in(dir, "content", files, piece_length, 12345)
}

/// Writes files from `seed` under `dir/name` (the torrent's name) and
/// answers the parsed torrent.
pub fn make_torrent_in(
    dir: &Path,
    name: &str,
    files: &[(&str, usize)],
    piece_length: u32,
    seed: u32,
) -> Arc<Metainfo> {
    let content = dir.join(name);
    let mut x: u32 = seed.max(1);
    for (name, size) in files {
        let path = content.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let data: Vec<u8> = (0..*size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        std::fs::write(path, data).unwrap();
    }
    let opts = CreateOptions { piece_length: Some(piece_length), ..Default::default() };
    let bytes = create_torrent(&content, &opts, &mut |_, _| {}).unwrap();
    Arc::new(Metainfo::from_bytes(&bytes).unwrap())
}

pub fn wait_for(ses: &Session, what: &str, mut f: impl FnMut(&Alert) -> bool) -> Vec<Alert> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Some(a) = ses.wait_for_alert(Duration::from_millis(200)) {
            let done = f(&a);
            seen.push(a);
            if done {
                return seen;
            }
        }
    }
    panic!("timed out waiting for {what}; saw {:?}", seen.iter().map(|a| &a.message).collect::<Vec<_>>());
}

pub fn same(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

pub fn seed(meta: &Arc<Metainfo>, data_dir: &Path) -> (Session, TorrentId) {
    let ses = Session::new(settings()).unwrap();
    let id = ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), data_dir)).unwrap();
    wait_for(&ses, "the seed's check", |a| a.alert_type() == AlertType::TorrentChecked);
    assert_eq!(ses.torrent_status(id).unwrap().state, TorrentState::Seeding);
    (ses, id)
}
