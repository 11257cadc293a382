//! BitTorrent v2 (BEP 52) against libtorrent-rasterbar on 127.0.0.1:
//! v2-only and hybrid torrents made by libtorrent move both ways with the bytes
//! compared, and a hybrid is one swarm reachable by its v1 and its
//! truncated v2 info-hash, with the v2 handshake bit set. Needs Debian's
//! python3-libtorrent (2.0, which makes v2 torrents).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{files_equal, free_port, local, make_data, tempdir, LtPeer, SeedOpts};
use lt::engine::stats::Metric;
use lt::engine::{AddTorrentParams, AlertType, Session, Settings, TorrentId, TorrentSource, TorrentState};
use lt::proto::metainfo::Metainfo;
use lt::proto::types::{InfoHash, PeerId};
use lt::proto::wire::Handshake;

/// Files whose sizes are not multiples of the piece size, so the hybrid
/// has pad files, one file smaller than a piece.
const LAYOUT: &[(&str, u64)] = &[("v2t/a.bin", 3_000_007), ("v2t/b.bin", 40_000), ("v2t/c/d.bin", 1_300_001)];
const PIECE: u32 = 64 * 1024;
const WAIT: Duration = Duration::from_secs(240);

fn settings() -> Settings {
    Settings {
        listen_interfaces: format!("127.0.0.1:{}", free_port()),
        alert_mask: lt::engine::alerts::category::ALL as i64,
        ..Settings::default()
    }
}

/// Makes a torrent of `path` with libtorrent's create_torrent in the
/// given format (`""` for libtorrent 2.0's default, a hybrid).
fn make_torrent(path: &Path, out: &Path, flags: &str) {
    let script = format!(
        "import libtorrent as lt, os, sys\n\
         fs = lt.file_storage()\n\
         lt.add_files(fs, sys.argv[1])\n\
         t = lt.create_torrent(fs, {PIECE}{flags})\n\
         lt.set_piece_hashes(t, os.path.dirname(sys.argv[1]))\n\
         open(sys.argv[2], 'wb').write(lt.bencode(t.generate()))\n"
    );
    let out =
        Command::new("/usr/bin/python3").args(["-c", &script]).arg(path).arg(out).output().expect("python3");
    assert!(out.status.success(), "create_torrent failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Data (from `seed`, so no two tests share an info-hash) and its
/// torrent made with create_torrent `flags`, loaded.
fn made(dir: &Path, seed: u64, flags: &str) -> (std::path::PathBuf, Arc<Metainfo>) {
    let data = dir.join("data");
    make_data(&data, LAYOUT, seed);
    let file = dir.join("v2t.torrent");
    make_torrent(&data.join("v2t"), &file, flags);
    let meta = Arc::new(Metainfo::from_bytes(&std::fs::read(&file).unwrap()).unwrap());
    assert!(meta.info_hash_v2.is_some(), "libtorrent made a v2 torrent");
    assert!(meta.piece_layers.iter().any(|l| !l.is_empty()), "with piece layers");
    (file, meta)
}

/// A hybrid torrent (libtorrent 2.0's default).
fn hybrid(dir: &Path, seed: u64) -> (std::path::PathBuf, Arc<Metainfo>) {
    let (file, meta) = made(dir, seed, "");
    assert!(meta.has_v1, "libtorrent made a hybrid torrent");
    (file, meta)
}

/// A v2-only torrent.
fn v2_only(dir: &Path, seed: u64) -> (std::path::PathBuf, Arc<Metainfo>) {
    let (file, meta) = made(dir, seed, ", flags=lt.create_torrent.v2_only");
    assert!(!meta.has_v1, "libtorrent made a v2-only torrent");
    assert_eq!(meta.info_hash, truncated_v2(&meta), "the swarm id is the truncated v2 hash");
    (file, meta)
}

fn assert_same(a: &Path, b: &Path) {
    for (name, _) in LAYOUT {
        assert!(files_equal(&a.join(name), &b.join(name)), "{name} differs");
    }
}

fn wait_state(ses: &Session, id: TorrentId, state: TorrentState) {
    let deadline = Instant::now() + WAIT;
    while ses.torrent_status(id).unwrap().state != state {
        assert!(Instant::now() < deadline, "not {state:?}: {:?}", ses.torrent_status(id).unwrap());
        let _ = ses.wait_for_alert(Duration::from_millis(100));
    }
}

fn truncated_v2(meta: &Metainfo) -> InfoHash {
    let mut id = [0u8; 20];
    id.copy_from_slice(&meta.info_hash_v2.expect("v2 hash")[..20]);
    InfoHash(id)
}

/// lt downloads `source` (the torrent or a magnet of it) from a
/// libtorrent seeder of `file`; no piece fails its hash, none is thrown
/// away (a v2 piece is not downloaded before its hash is known), and the
/// bytes match. Answers the session's counters and the torrent's .torrent
/// file as lt would save it.
fn download_from_libtorrent(dir: &Path, file: &Path, source: TorrentSource) -> (Box<[i64]>, Vec<u8>) {
    let seeder = LtPeer::seed(file, &dir.join("data"), &SeedOpts::default());
    let ses = Session::new(settings()).unwrap();
    let mut p = AddTorrentParams::new(source, dir.join("lt"));
    p.peers.push(local(seeder.port));
    let id = ses.add_torrent(p).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(a) = ses.wait_for_alert(Duration::from_millis(100)) {
            assert_ne!(a.alert_type(), AlertType::HashFailed, "a piece failed: {}", a.message);
            if a.alert_type() == AlertType::TorrentFinished && a.torrent == id {
                break;
            }
        }
        assert!(Instant::now() < deadline, "not finished: {:?}", ses.torrent_status(id).unwrap());
    }
    assert_same(&dir.join("data"), &dir.join("lt"));
    let status = ses.torrent_status(id).unwrap();
    assert_eq!(status.pieces_done, status.pieces_total);
    assert_eq!(status.total_wasted, 0, "no piece downloaded twice");
    (ses.stats_snapshot(), ses.torrent(id).unwrap().torrent_file().unwrap())
}

/// The saved .torrent is `meta` again: the same info dictionary and every
/// piece layer (those a magnet's peers sent included).
fn assert_saved_whole(saved: &[u8], meta: &Metainfo) {
    let saved = Metainfo::from_bytes(saved).expect("the saved torrent loads");
    assert_eq!(saved.info_hash_v2, meta.info_hash_v2);
    assert_eq!(saved.piece_layers, meta.piece_layers);
}

/// lt seeds `meta` (checking the data first); a libtorrent downloader
/// of `file` gets the same bytes.
fn seed_to_libtorrent(dir: &Path, file: &Path, meta: Arc<Metainfo>) {
    let ses = Session::new(settings()).unwrap();
    let id = ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), dir.join("data"))).unwrap();
    wait_state(&ses, id, TorrentState::Seeding);
    let back = dir.join("back");
    let mut leecher = LtPeer::download(file, &back, &[local(ses.listen_port().unwrap())]);
    leecher.wait_download(WAIT).expect("libtorrent finished downloading from lt");
    assert_same(&dir.join("data"), &back);
}

#[test]
fn lt_downloads_a_hybrid_torrent_from_libtorrent() {
    let dir = tempdir("v2-hybrid-down");
    let (file, meta) = hybrid(&dir.path, 121);
    download_from_libtorrent(&dir.path, &file, TorrentSource::Metainfo(meta));
}

#[test]
fn libtorrent_downloads_a_hybrid_torrent_from_lt() {
    let dir = tempdir("v2-hybrid-up");
    let (file, meta) = hybrid(&dir.path, 122);
    seed_to_libtorrent(&dir.path, &file, meta);
}

#[test]
fn lt_downloads_a_v2_only_torrent_from_libtorrent() {
    let dir = tempdir("v2-only-down");
    let (file, meta) = v2_only(&dir.path, 125);
    let (_, saved) = download_from_libtorrent(&dir.path, &file, TorrentSource::Metainfo(meta.clone()));
    assert_saved_whole(&saved, &meta);
}

#[test]
fn libtorrent_downloads_a_v2_only_torrent_from_lt() {
    let dir = tempdir("v2-only-up");
    let (file, meta) = v2_only(&dir.path, 126);
    seed_to_libtorrent(&dir.path, &file, meta);
}

/// Sends a handshake for `ih` to lt and reads its answer; `None` when lt
/// closes the connection instead.
fn handshake_with(port: u16, ih: InfoHash) -> Option<Handshake> {
    let mut s = TcpStream::connect(local(port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(&Handshake::new(ih, PeerId([b'x'; 20])).with_v2().encode()).unwrap();
    let mut buf = [0u8; Handshake::LEN];
    s.read_exact(&mut buf).ok()?;
    Some(Handshake::decode(&buf).expect("a handshake"))
}

#[test]
fn a_hybrid_answers_to_both_its_ids_with_the_v2_bit() {
    let dir = tempdir("v2-ids");
    let (_, meta) = hybrid(&dir.path, 123);
    let (v1, v2) = (meta.info_hash, truncated_v2(&meta));
    assert_ne!(v1, v2);
    let ses = Session::new(settings()).unwrap();
    let id =
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), dir.path.join("data"))).unwrap();
    wait_state(&ses, id, TorrentState::Seeding);
    let port = ses.listen_port().unwrap();
    for ih in [v1, v2] {
        let answer = handshake_with(port, ih).expect("lt answers");
        assert_eq!(answer.info_hash, ih, "answered with the id the peer came for");
        assert!(answer.supports_v2(), "v2 bit set");
    }
    assert!(handshake_with(port, InfoHash([0x5a; 20])).is_none(), "an unknown id is refused");
    // Removing the torrent forgets both ids.
    ses.remove_torrent(id, false).unwrap();
    assert!(handshake_with(port, v2).is_none());
    assert!(handshake_with(port, v1).is_none());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn libtorrent_downloads_a_hybrid_magnet_from_lt() {
    let dir = tempdir("v2-magnet-up");
    let (_, meta) = hybrid(&dir.path, 124);
    let uri = format!(
        "magnet:?xt=urn:btih:{}&xt=urn:btmh:1220{}",
        meta.info_hash.to_hex(),
        hex(&meta.info_hash_v2.expect("v2 hash"))
    );
    let ses = Session::new(settings()).unwrap();
    let id = ses
        .add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.path.join("data")))
        .unwrap();
    wait_state(&ses, id, TorrentState::Seeding);
    let uri = format!("{uri}&x.pe=127.0.0.1:{}", ses.listen_port().unwrap());
    let back = dir.path.join("back");
    let mut leecher = LtPeer::magnet(&uri, &back);
    leecher.wait_download(WAIT).expect("libtorrent finished the magnet download from lt");
    assert_same(&dir.path.join("data"), &back);
}

#[test]
fn lt_downloads_a_v2_only_magnet_from_libtorrent() {
    // A btmh-only link: the metadata is checked by SHA-256, and the piece
    // layers it lacks come from libtorrent by hash request.
    let dir = tempdir("v2-magnet-down");
    let (file, meta) = v2_only(&dir.path, 125);
    let uri = format!("magnet:?xt=urn:btmh:1220{}", hex(&meta.info_hash_v2.expect("v2 hash")));
    let magnet = lt::proto::magnet::Magnet::parse(&uri).unwrap();
    assert_eq!(magnet.info_hash, meta.info_hash, "the link names the v2-only swarm");
    let (counters, saved) = download_from_libtorrent(&dir.path, &file, TorrentSource::Magnet(magnet));
    assert_saved_whole(&saved, &meta);
    // Every file of more than one piece had its layer asked for, in runs
    // of at most 512 nodes, from the one seeder, and sent; none refused.
    let piece = u64::from(meta.lengths.piece_length());
    let runs: i64 = meta
        .files
        .iter()
        .map(|f| f.length.div_ceil(piece))
        .filter(|pieces| *pieces > 1)
        .map(|pieces| pieces.div_ceil(pieces.next_power_of_two().min(512)) as i64)
        .sum();
    assert!(runs > 0, "the torrent needs piece layers");
    assert_eq!(counters[Metric::OutHashRequest as usize], runs);
    assert_eq!(counters[Metric::InHashes as usize], runs);
    assert_eq!(counters[Metric::InHashReject as usize], 0);
}
