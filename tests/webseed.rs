//! Web seeds (BEP 19) on loopback: lt downloads from the HTTP server in
//! tests/common/http_seed.rs, alone and beside a libtorrent seeder.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::http_seed::HttpSeed;
use common::swarm::{self, wait_for};
use common::{local, metric, tempdir, LtPeer, SeedOpts};
use lt::engine::create::{create_torrent, CreateOptions};
use lt::engine::{AddTorrentParams, AlertKind, AlertType, Session, Settings, TorrentId, TorrentSource};
use lt::proto::metainfo::Metainfo;
use lt::proto::resume::ResumeData;

const PIECE: u32 = 32 * 1024;

/// Deterministic bytes.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Writes `files` under `dir/name` and makes a torrent of them with the
/// web seeds `seeds` in its url-list.
fn multi_file(dir: &Path, name: &str, files: &[(&str, usize)], seeds: &[String]) -> Arc<Metainfo> {
    for (i, (file, size)) in files.iter().enumerate() {
        let path = dir.join(name).join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes(*size, 7 + i as u32)).unwrap();
    }
    make(&dir.join(name), seeds)
}

fn make(content: &Path, seeds: &[String]) -> Arc<Metainfo> {
    let opts = CreateOptions { piece_length: Some(PIECE), web_seeds: seeds.to_vec(), ..Default::default() };
    let bytes = create_torrent(content, &opts, &mut |_, _| {}).unwrap();
    Arc::new(Metainfo::from_bytes(&bytes).unwrap())
}

fn session(tune: impl FnOnce(&mut Settings)) -> Session {
    let mut s = swarm::settings();
    tune(&mut s);
    Session::new(s).unwrap()
}

fn add(ses: &Session, meta: &Arc<Metainfo>, save: &Path) -> TorrentId {
    ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), save)).unwrap()
}

fn wait_finished(ses: &Session, id: TorrentId) {
    wait_for(ses, "torrent_finished", |a| a.alert_type() == AlertType::TorrentFinished && a.torrent == id);
}

/// Every file of `meta` is the same under both roots.
fn assert_same_files(meta: &Metainfo, src: &Path, dst: &Path) {
    for f in meta.files.iter().filter(|f| !f.pad) {
        assert!(swarm::same(&src.join(&f.path), &dst.join(&f.path)), "{} differs", f.path.display());
    }
}

#[test]
fn multi_file_torrent_from_a_web_seed_alone() {
    let dir = tempdir("ws-multi");
    let server = HttpSeed::start(&dir.path);
    // No trailing slash: lt adds it. A piece spans the three files.
    let seed_url = server.url("/files");
    let files = [("a.bin", 40_000), ("dir/with space.bin", 70_000), ("c+d.bin", 30_000)];
    let meta = multi_file(&dir.path.join("files"), "content", &files, std::slice::from_ref(&seed_url));
    let save = dir.path.join("out");
    let ses = session(|_| {});
    let id = add(&ses, &meta, &save);
    assert_eq!(ses.torrent(id).unwrap().url_seeds(), vec![seed_url]);
    wait_finished(&ses, id);
    assert_same_files(&meta, &dir.path.join("files"), &save);
    let total = meta.lengths.total_length() as i64;
    assert_eq!(metric(&ses, "net.recv_webseed_payload_bytes"), total);
    assert_eq!(ses.torrent_status(id).unwrap().total_payload_download, total);
    let log = server.log();
    assert!(log.paths.contains(&"/files/content/dir/with space.bin".to_string()), "{:?}", log.paths);
    assert_eq!(log.not_found, 0);
    assert_eq!(log.body_bytes, total as u64);
}

#[test]
fn single_file_torrent_by_directory_and_by_full_url() {
    let dir = tempdir("ws-single");
    let server = HttpSeed::start(&dir.path);
    let data_dir = dir.path.join("d");
    std::fs::create_dir_all(&data_dir).unwrap();
    std::fs::write(data_dir.join("one file.bin"), bytes(150_000, 3)).unwrap();
    let meta = make(&data_dir.join("one file.bin"), &[]);
    for (i, url) in [server.url("/d/"), server.url("/d/one%20file.bin")].into_iter().enumerate() {
        let save = dir.path.join(format!("out{i}"));
        let ses = session(|_| {});
        let id = add(&ses, &meta, &save);
        ses.torrent(id).unwrap().add_url_seed(&url).unwrap();
        wait_finished(&ses, id);
        assert_same_files(&meta, &data_dir, &save);
        assert_eq!(metric(&ses, "net.recv_webseed_payload_bytes"), 150_000, "{url}");
    }
    assert_eq!(server.log().not_found, 0);
}

#[test]
fn a_redirect_is_followed() {
    let dir = tempdir("ws-redirect");
    let server = HttpSeed::start(&dir.path);
    server.set(|b| b.redirect = Some(("/moved".into(), "/files".into())));
    let meta = multi_file(&dir.path.join("files"), "content", &[("x.bin", 50_000), ("y.bin", 20_000)], &[]);
    let save = dir.path.join("out");
    let ses = session(|_| {});
    let id = add(&ses, &meta, &save);
    ses.torrent(id).unwrap().add_url_seed(&server.url("/moved/")).unwrap();
    wait_finished(&ses, id);
    assert_same_files(&meta, &dir.path.join("files"), &save);
    let log = server.log();
    assert!(log.redirected > 0);
    assert_eq!(log.body_bytes, 70_000);
}

#[test]
fn unavailable_seed_is_retried_after_retry_after() {
    let dir = tempdir("ws-503");
    let server = HttpSeed::start(&dir.path);
    server.set(|b| {
        b.unavailable = 1;
        b.retry_after_secs = 1;
    });
    let url = server.url("/files/");
    let meta =
        multi_file(&dir.path.join("files"), "content", &[("x.bin", 60_000)], std::slice::from_ref(&url));
    let save = dir.path.join("out");
    let ses = session(|_| {});
    let id = add(&ses, &meta, &save);
    let seen = wait_for(&ses, "url_seed alert", |a| a.alert_type() == AlertType::UrlSeed);
    let AlertKind::UrlSeed { url: alert_url, error } = &seen.last().unwrap().kind else { unreachable!() };
    assert_eq!(alert_url, &url);
    assert!(error.message.contains("503"), "{}", error.message);
    assert_eq!(metric(&ses, "web_seed.errors"), 1);
    wait_finished(&ses, id);
    assert_same_files(&meta, &dir.path.join("files"), &save);
    assert_eq!(server.log().unavailable, 1);
    assert_eq!(ses.torrent(id).unwrap().url_seeds(), vec![url]);
}

#[test]
fn url_seeds_are_added_and_removed_on_a_running_torrent() {
    let dir = tempdir("ws-api");
    let server = HttpSeed::start(&dir.path);
    let meta = multi_file(&dir.path.join("files"), "content", &[("x.bin", 40_000)], &[]);
    let save = dir.path.join("out");
    let ses = session(|_| {});
    let id = add(&ses, &meta, &save);
    let t = ses.torrent(id).unwrap();
    assert!(t.url_seeds().is_empty());
    assert!(t.add_url_seed("ftp://127.0.0.1/x").is_err());
    let wrong = server.url("/nowhere/");
    t.add_url_seed(&wrong).unwrap();
    t.add_url_seed(&wrong).unwrap();
    assert_eq!(t.url_seeds(), vec![wrong.clone()]);
    // The wrong seed answers 404: a url_seed alert, then it waits 30 s.
    let seen = wait_for(&ses, "url_seed alert", |a| a.alert_type() == AlertType::UrlSeed);
    assert!(seen.last().unwrap().message.contains("404"), "{}", seen.last().unwrap().message);
    t.remove_url_seed(&wrong).unwrap();
    assert_eq!(t.remove_url_seed(&wrong).unwrap_err().kind(), lt::engine::ErrorKind::InvalidArgument);
    assert!(t.url_seeds().is_empty());
    let good = server.url("/files/");
    t.add_url_seed(&good).unwrap();
    wait_finished(&ses, id);
    assert_same_files(&meta, &dir.path.join("files"), &save);
    // Resume data keeps the added seed (libtorrent's "url-list"), and a
    // torrent added with it has the seed again.
    t.save_resume_data();
    let seen = wait_for(&ses, "resume data", |a| a.alert_type() == AlertType::SaveResumeData);
    let AlertKind::SaveResumeData { data } = &seen.last().unwrap().kind else { unreachable!() };
    assert_eq!(ResumeData::decode(data).unwrap().url_seeds, vec![good.clone()]);
    let other = session(|_| {});
    let mut params = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save);
    params.resume_data = Some(data.clone());
    let id = other.add_torrent(params).unwrap();
    assert_eq!(other.torrent(id).unwrap().url_seeds(), vec![good]);
}

#[test]
fn a_magnet_links_ws_is_a_web_seed() {
    let url = "http://127.0.0.1:1/seed dir/";
    let uri =
        format!("magnet:?xt=urn:btih:{}&ws=http%3A%2F%2F127.0.0.1%3A1%2Fseed%20dir%2F", "ab".repeat(20));
    let magnet = lt::proto::magnet::Magnet::parse(&uri).unwrap();
    let dir = tempdir("ws-magnet");
    let ses = session(|_| {});
    let id = ses.add_torrent(AddTorrentParams::new(TorrentSource::Magnet(magnet), &dir.path)).unwrap();
    assert_eq!(ses.torrent(id).unwrap().url_seeds(), vec![url.to_string()]);
}

/// A .torrent of `meta` on disk, for libtorrent.
fn torrent_file(ses: &Session, id: TorrentId, path: &Path) {
    std::fs::write(path, ses.torrent(id).unwrap().torrent_file().unwrap()).unwrap();
}

#[test]
fn web_seed_and_libtorrent_seeder_together() {
    let dir = tempdir("ws-mixed");
    let server = HttpSeed::start(&dir.path);
    let files = [("a.bin", 900_000), ("b b.bin", 700_000)];
    let meta = multi_file(&dir.path.join("files"), "content", &files, &[server.url("/files")]);
    let save = dir.path.join("out");
    // One piece per request, so the web seed never holds much of the torrent.
    let ses = session(|s| s.urlseed_max_request_bytes = PIECE as i64);
    let id = add(&ses, &meta, &save);
    // The web seed alone delivers a piece; then it slows down and the
    // libtorrent seeder joins, so both sources are sure to deliver.
    wait_for(&ses, "a piece from the web seed", |a| a.alert_type() == AlertType::PieceFinished);
    server.set(|b| b.delay = Duration::from_secs(2));
    let torrent_path = dir.path.join("t.torrent");
    torrent_file(&ses, id, &torrent_path);
    let seeder = LtPeer::seed(&torrent_path, &dir.path.join("files"), &SeedOpts::default());
    ses.torrent(id).unwrap().connect_peer(local(seeder.port));
    wait_finished(&ses, id);
    assert_same_files(&meta, &dir.path.join("files"), &save);
    let from_web = metric(&ses, "net.recv_webseed_payload_bytes");
    let all = metric(&ses, "net.recv_payload_bytes");
    assert!(from_web >= PIECE as i64, "the web seed sent {from_web} bytes");
    assert!(all - from_web > 0, "the libtorrent seeder sent nothing (web {from_web}, all {all})");
    assert!(all >= meta.lengths.total_length() as i64);
    assert_eq!(metric(&ses, "ses.num_piece_failed"), 0);
}

#[test]
fn corrupt_web_seed_is_banned_and_the_peer_finishes() {
    let dir = tempdir("ws-corrupt");
    let server = HttpSeed::start(&dir.path);
    server.set(|b| b.corrupt = true);
    let url = server.url("/files/");
    let meta = multi_file(
        &dir.path.join("files"),
        "content",
        &[("a.bin", 300_000), ("b.bin", 100_000)],
        std::slice::from_ref(&url),
    );
    let save = dir.path.join("out");
    let ses = session(|_| {});
    let id = add(&ses, &meta, &save);
    // The web seed alone first, so its corrupt piece is certain to fail.
    let seen = wait_for(
        &ses,
        "the web seed's ban",
        |a| matches!(&a.kind, AlertKind::UrlSeed { error, .. } if error.message.contains("banned")),
    );
    assert!(seen.iter().any(|a| a.alert_type() == AlertType::HashFailed));
    let AlertKind::UrlSeed { url: banned, .. } = &seen.last().unwrap().kind else { unreachable!() };
    assert_eq!(banned, &url);
    let t = ses.torrent(id).unwrap();
    assert!(t.url_seeds().is_empty());
    assert!(ses.torrent_status(id).unwrap().num_hash_failures >= 1);
    assert_eq!(metric(&ses, "web_seed.banned"), 1);
    let torrent_path = dir.path.join("t.torrent");
    torrent_file(&ses, id, &torrent_path);
    let seeder = LtPeer::seed(&torrent_path, &dir.path.join("files"), &SeedOpts::default());
    t.connect_peer(local(seeder.port));
    wait_finished(&ses, id);
    assert_same_files(&meta, &dir.path.join("files"), &save);
    assert_eq!(metric(&ses, "peer.banned_peers"), 0);
}
