//! lt against real peers on 127.0.0.1: libtorrent-rasterbar as seeder and
//! as downloader, opentracker over HTTP and UDP, and a seeder that serves
//! corrupt data. Needs Debian's python3-libtorrent and opentracker (.ci/run
//! installs them).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{files_equal, free_port, make_data, make_torrent, tempdir, LtPeer, Opentracker, SeedOpts};
use lt::engine::stats::Metric;
use lt::engine::{
    AddTorrentParams, Alert, AlertKind, AlertType, Session, Settings, TorrentId, TorrentSource, TorrentState,
};
use lt::proto::metainfo::Metainfo;

/// ≥ 20 MiB, 3 files, one empty, sizes not multiples of the piece size.
const LAYOUT: &[(&str, u64)] =
    &[("multi/a.bin", 11_000_007), ("multi/empty.txt", 0), ("multi/sub/b.bin", 13_000_003)];
const PIECE: u32 = 256 * 1024;
const WAIT: Duration = Duration::from_secs(240);

fn settings() -> Settings {
    Settings {
        listen_interfaces: format!("127.0.0.1:{}", free_port()),
        alert_mask: lt::engine::alerts::category::ALL as i64,
        ..Settings::default()
    }
}

fn load(path: &Path) -> Arc<Metainfo> {
    Arc::new(Metainfo::from_bytes(&std::fs::read(path).unwrap()).unwrap())
}

fn wait_finished(ses: &Session, id: TorrentId) -> Vec<Alert> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Some(a) = ses.wait_for_alert(Duration::from_millis(200)) {
            let done = a.alert_type() == AlertType::TorrentFinished && a.torrent == id;
            seen.push(a);
            if done {
                return seen;
            }
        }
    }
    let st = ses.torrent_status(id).unwrap();
    panic!(
        "download did not finish: {:?} {}/{} pieces, {} peers; alerts: {:#?}",
        st.state,
        st.pieces_done,
        st.pieces_total,
        st.num_peers,
        seen.iter().rev().take(30).map(|a| &a.message).collect::<Vec<_>>()
    );
}

fn assert_same_files(a: &Path, b: &Path) {
    for (name, _) in LAYOUT {
        assert!(files_equal(&a.join(name), &b.join(name)), "{name} differs");
    }
}

/// libtorrent seeds a torrent announced on opentracker at `url_of`; lt
/// finds the seeder through the tracker alone and downloads it.
fn download_via_tracker(udp: bool) {
    let dir = tempdir(if udp { "udp" } else { "http" });
    let seed_dir = dir.path.join("seed");
    make_data(&seed_dir, LAYOUT, 1);
    // The tracker URL goes into the torrent, and the whitelist needs the
    // info-hash: make the torrent once with a placeholder port, read its
    // hash... the hash covers only the info dict, so the URL can follow.
    let probe = dir.path.join("probe.torrent");
    make_torrent(&seed_dir.join("multi"), &probe, PIECE, &[], false);
    let ih = load(&probe).info_hash;
    let tracker = Opentracker::start(&[ih.to_hex()]);
    let url = if udp { tracker.udp_announce_url() } else { tracker.http_announce_url() };
    let torrent = dir.path.join("t.torrent");
    make_torrent(&seed_dir.join("multi"), &torrent, PIECE, std::slice::from_ref(&url), false);
    let meta = load(&torrent);
    assert_eq!(meta.info_hash, ih);
    assert_eq!(meta.trackers, vec![vec![url.clone()]]);

    let _seeder = LtPeer::seed(&torrent, &seed_dir, &SeedOpts::default());
    tracker.wait_lists_seed(&meta.info_hash);
    let ses = Session::new(settings()).unwrap();
    let save = dir.path.join("leech");
    let id = ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save)).unwrap();
    let alerts = wait_finished(&ses, id);

    let replies: Vec<_> = alerts
        .iter()
        .filter_map(|a| match &a.kind {
            AlertKind::TrackerReply { url: u, num_peers } => Some((u.clone(), *num_peers)),
            _ => None,
        })
        .collect();
    assert!(replies.iter().any(|(u, n)| *u == url && *n >= 1), "no tracker reply with peers: {replies:?}");
    assert!(alerts.iter().any(|a| matches!(&a.kind, AlertKind::TrackerAnnounce { event: "started", .. })));
    assert_same_files(&seed_dir, &save);
    let st = ses.torrent_status(id).unwrap();
    assert_eq!(st.state, TorrentState::Seeding);
    assert!(st.list_seeds >= 1, "the tracker's seed count is kept");
    assert!(ses.counters().get(Metric::TrackerAnnounces) >= 1);
    assert_eq!(ses.counters().get(Metric::TrackerErrors), 0);

    // A scrape asks the same tracker for the swarm's size.
    ses.torrent(id).unwrap().scrape_tracker();
    let deadline = Instant::now() + WAIT;
    let (complete, incomplete) = loop {
        assert!(Instant::now() < deadline, "no scrape reply");
        match ses.wait_for_alert(Duration::from_millis(200)).map(|a| a.kind) {
            Some(AlertKind::ScrapeReply { url: u, complete, incomplete }) => {
                assert_eq!(u, url);
                break (complete, incomplete);
            }
            Some(AlertKind::ScrapeFailed { error, .. }) => panic!("scrape failed: {}", error.message),
            _ => {}
        }
    };
    assert!(complete >= 1, "the scrape counts the seeder ({complete} seeds, {incomplete} downloaders)");
    let st = ses.torrent_status(id).unwrap();
    assert_eq!((st.list_seeds, st.list_peers), (complete as i64, incomplete as i64));
    assert_eq!(ses.counters().get(Metric::TrackerScrapes), 1);
    assert_eq!(ses.counters().get(Metric::TrackerScrapeErrors), 0);
}

/// One libtorrent session seeds 20 torrents; lt downloads all of them at
/// once in one session and every file is verified.
#[test]
fn twenty_torrents_from_one_libtorrent_seeder() {
    let dir = tempdir("twenty");
    let seed_dir = dir.path.join("seed");
    let names: Vec<String> = (0..20).map(|i| format!("t{i:02}.bin")).collect();
    let layout: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 1_000_003)).collect();
    make_data(&seed_dir, &layout, 20);
    let torrents: Vec<_> = names
        .iter()
        .map(|n| {
            let out = dir.path.join(format!("{n}.torrent"));
            make_torrent(&seed_dir.join(n), &out, 64 * 1024, &[], false);
            out
        })
        .collect();
    let refs: Vec<&Path> = torrents.iter().map(|t| t.as_path()).collect();
    let seeder = LtPeer::seed_many(&refs, &seed_dir, &SeedOpts::default());
    let peer: SocketAddr = format!("127.0.0.1:{}", seeder.port).parse().unwrap();
    let ses = Session::new(settings()).unwrap();
    let save = dir.path.join("leech");
    let mut ids = Vec::new();
    for t in &torrents {
        let mut p = AddTorrentParams::new(TorrentSource::Metainfo(load(t)), &save);
        p.peers.push(peer);
        ids.push(ses.add_torrent(p).unwrap());
    }
    let deadline = Instant::now() + WAIT;
    let mut finished = std::collections::HashSet::new();
    while finished.len() < ids.len() {
        assert!(Instant::now() < deadline, "only {} of 20 torrents finished", finished.len());
        if let Some(a) = ses.wait_for_alert(Duration::from_millis(200)) {
            if a.alert_type() == AlertType::TorrentFinished {
                finished.insert(a.torrent);
            }
        }
    }
    for n in &names {
        assert!(files_equal(&seed_dir.join(n), &save.join(n)), "{n} differs");
    }
    std::thread::sleep(Duration::from_millis(1200));
    let c = ses.counters();
    assert_eq!(c.get(Metric::NumTorrents), 20);
    assert_eq!(c.get(Metric::NumSeedingTorrents), 20);
    assert!(c.get(Metric::RecvPayloadBytes) >= 20 * 1_000_003);
}

#[test]
fn lt_downloads_from_libtorrent_via_http_tracker() {
    download_via_tracker(false);
}

#[test]
fn lt_downloads_from_libtorrent_via_udp_tracker() {
    download_via_tracker(true);
}

#[test]
fn libtorrent_downloads_from_lt() {
    let dir = tempdir("ltseeds");
    let seed_dir = dir.path.join("seed");
    make_data(&seed_dir, LAYOUT, 2);
    let torrent = dir.path.join("t.torrent");
    make_torrent(&seed_dir.join("multi"), &torrent, PIECE, &[], false);
    let ses = Session::new(settings()).unwrap();
    let id =
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(load(&torrent)), &seed_dir)).unwrap();
    let deadline = Instant::now() + WAIT;
    while ses.torrent_status(id).unwrap().state != TorrentState::Seeding {
        assert!(Instant::now() < deadline, "lt did not finish checking");
        std::thread::sleep(Duration::from_millis(100));
    }
    let port = ses.listen_port().unwrap();
    let back = dir.path.join("back");
    let mut leecher = LtPeer::download(&torrent, &back, &[format!("127.0.0.1:{port}").parse().unwrap()]);
    let report = leecher.wait_download(WAIT).expect("libtorrent finished downloading from lt");
    assert!(report.contains("elapsed_s"), "{report}");
    assert_same_files(&seed_dir, &back);
    let total: u64 = LAYOUT.iter().map(|(_, s)| s).sum();
    assert!(ses.counters().get(Metric::SentPayloadBytes) >= total as i64);
    assert!(ses.torrent_status(id).unwrap().total_payload_upload >= total as i64);
}

#[test]
fn corrupt_peer_is_banned_and_the_download_completes() {
    let dir = tempdir("corrupt");
    let seed_dir = dir.path.join("seed");
    make_data(&seed_dir, LAYOUT, 3);
    let torrent = dir.path.join("t.torrent");
    make_torrent(&seed_dir.join("multi"), &torrent, PIECE, &[], false);
    let meta = load(&torrent);
    let bad = LtPeer::seed(
        &torrent,
        &seed_dir,
        &SeedOpts { corrupt_pieces: meta.lengths.num_pieces(), ..SeedOpts::default() },
    );
    let good = LtPeer::seed(&torrent, &seed_dir, &SeedOpts::default());
    let bad_addr: SocketAddr = format!("127.0.0.1:{}", bad.port).parse().unwrap();
    let good_addr: SocketAddr = format!("127.0.0.1:{}", good.port).parse().unwrap();

    let ses = Session::new(settings()).unwrap();
    let save = dir.path.join("leech");
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save);
    // The corrupt peer first, so it surely serves some blocks.
    p.peers = vec![bad_addr];
    let id = ses.add_torrent(p).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    ses.torrent(id).unwrap().connect_peer(good_addr);
    let alerts = wait_finished(&ses, id);

    assert!(alerts.iter().any(|a| a.alert_type() == AlertType::HashFailed), "hash_failed raised");
    let banned: Vec<_> = alerts
        .iter()
        .filter_map(|a| match a.kind {
            AlertKind::PeerBan { peer } => Some(peer),
            _ => None,
        })
        .collect();
    // Both seeders are on 127.0.0.1: a ban is by address, so it names the
    // corrupt seeder's endpoint.
    assert!(banned.contains(&bad_addr), "the corrupt peer was banned: {banned:?}");
    assert_same_files(&seed_dir, &save);
    let c = ses.counters();
    assert!(c.get(Metric::NumPieceFailed) >= 1);
    assert!(c.get(Metric::WastedBytes) >= PIECE as i64);
    assert!(c.get(Metric::BannedPeers) >= 1);
    assert!(ses.torrent_status(id).unwrap().num_hash_failures >= 1);
}

#[test]
fn tracker_tiers_are_tried_in_order_and_stopped_is_sent_at_shutdown() {
    let dir = tempdir("tiers");
    let seed_dir = dir.path.join("seed");
    let layout: &[(&str, u64)] = &[("small/a.bin", 3_000_001), ("small/b.bin", 1)];
    make_data(&seed_dir, layout, 4);
    let probe = dir.path.join("probe.torrent");
    make_torrent(&seed_dir.join("small"), &probe, 64 * 1024, &[], false);
    let tracker = Opentracker::start(&[load(&probe).info_hash.to_hex()]);
    // Tier 0 is a tracker that refuses connections; tier 1 works.
    let dead = format!("http://127.0.0.1:{}/announce", free_port());
    let good = tracker.http_announce_url();
    let torrent = dir.path.join("t.torrent");
    make_torrent(&seed_dir.join("small"), &torrent, 64 * 1024, &[dead.clone(), good.clone()], false);
    let meta = load(&torrent);
    assert_eq!(meta.trackers, vec![vec![dead.clone()], vec![good.clone()]]);

    let _seeder = LtPeer::seed(&torrent, &seed_dir, &SeedOpts::default());
    tracker.wait_lists_seed(&load(&torrent).info_hash);
    let mut ses = Session::new(settings()).unwrap();
    let save = dir.path.join("leech");
    let id = ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), &save)).unwrap();
    let alerts = wait_finished(&ses, id);
    let first_error = alerts
        .iter()
        .position(|a| matches!(&a.kind, AlertKind::TrackerError { url, .. } if *url == dead))
        .expect("tier 0 was tried and failed");
    let first_reply = alerts
        .iter()
        .position(|a| matches!(&a.kind, AlertKind::TrackerReply { url, .. } if *url == good))
        .expect("tier 1 answered");
    assert!(first_error < first_reply, "tier 0 is tried before tier 1");
    assert!(files_equal(&seed_dir.join("small/a.bin"), &save.join("small/a.bin")));
    assert!(ses.counters().get(Metric::TrackerErrors) >= 1);

    // An orderly shutdown tells the tracker that answered: event=stopped.
    ses.shutdown();
    let mut rest = Vec::new();
    while let Some(a) = ses.pop_alert() {
        rest.push(a);
    }
    let stopped = rest
        .iter()
        .position(|a| matches!(&a.kind, AlertKind::TrackerAnnounce { url, event: "stopped" } if *url == good))
        .expect("stopped announced at shutdown");
    assert!(
        rest[stopped..]
            .iter()
            .any(|a| matches!(&a.kind, AlertKind::TrackerReply { url, .. } if *url == good)),
        "the tracker answered the stopped announce"
    );
    assert!(!rest
        .iter()
        .any(|a| matches!(&a.kind, AlertKind::TrackerAnnounce { url, event: "stopped" } if *url == dead)));
}
