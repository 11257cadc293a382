//! Gauges are exact at every read: they change where the state changes,
//! so a read right after a call counts what the call did, with no waiting
//! for a periodic pass.

mod common;

use std::time::{Duration, Instant};

use common::swarm::{make_torrent, make_torrent_in, seed, settings, wait_for, WAIT};
use common::tempdir;
use lt::engine::stats::Metric;
use lt::engine::{AddTorrentParams, AlertType, Session, Settings, TorrentSource, TorrentState};

fn gauge(ses: &Session, m: Metric) -> i64 {
    ses.counters().get(m)
}

/// The state gauges add up to the number of torrents.
fn assert_add_up(ses: &Session) {
    let by_state: i64 = [
        Metric::NumCheckingTorrents,
        Metric::NumDownloadingTorrents,
        Metric::NumSeedingTorrents,
        Metric::NumStoppedTorrents,
        Metric::NumQueuedTorrents,
    ]
    .iter()
    .map(|m| gauge(ses, *m))
    .sum();
    assert_eq!(by_state, gauge(ses, Metric::NumTorrents));
}

#[test]
fn torrent_gauges_count_each_call_at_once() {
    let dir = tempdir("gauges");
    let ses = Session::new(settings()).unwrap();
    let mut ids = Vec::new();
    for i in 0..50u32 {
        let meta = make_torrent_in(&dir.path, &format!("t{i}"), &[("f.bin", 20_000)], 16 * 1024, i + 1);
        let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta), dir.path.join("save"));
        p.paused = true;
        ids.push(ses.add_torrent(p).unwrap());
        // No sleep: the add itself moved the gauges.
        assert_eq!(gauge(&ses, Metric::NumTorrents), i as i64 + 1);
        assert_eq!(gauge(&ses, Metric::NumStoppedTorrents), i as i64 + 1);
    }
    assert_add_up(&ses);

    // Resuming one: it downloads (nothing on disk, no check) at once.
    ses.resume_torrent(ids[0]).unwrap();
    assert_eq!(gauge(&ses, Metric::NumStoppedTorrents), 49);
    assert_eq!(gauge(&ses, Metric::NumDownloadingTorrents), 1);
    assert_add_up(&ses);

    // Auto-managed: counted at once, paused by the user clears it.
    ses.torrent(ids[1]).unwrap().set_auto_managed(true);
    assert_eq!(gauge(&ses, Metric::NumAutoManagedTorrents), 1);
    ses.pause_torrent(ids[0]).unwrap();
    assert_eq!(gauge(&ses, Metric::NumDownloadingTorrents), 0);
    assert_eq!(gauge(&ses, Metric::NumStoppedTorrents), 50);

    // Session pause counts every torrent stopped, even those running.
    ses.resume_torrent(ids[2]).unwrap();
    assert_eq!(gauge(&ses, Metric::NumDownloadingTorrents), 1);
    ses.pause();
    assert_eq!(gauge(&ses, Metric::NumStoppedTorrents), 50);
    ses.resume();
    assert_eq!(gauge(&ses, Metric::NumDownloadingTorrents), 1);

    for (i, id) in ids.iter().enumerate() {
        ses.remove_torrent(*id, false).unwrap();
        assert_eq!(gauge(&ses, Metric::NumTorrents), 49 - i as i64);
        assert_add_up(&ses);
    }
    for m in [Metric::NumStoppedTorrents, Metric::NumDownloadingTorrents, Metric::NumAutoManagedTorrents] {
        assert_eq!(gauge(&ses, m), 0, "{m:?}");
    }
}

#[test]
fn queue_gauges_follow_the_queue() {
    let dir = tempdir("gauges-queue");
    let ses = Session::new(Settings { active_downloads: 1, active_limit: 1, ..settings() }).unwrap();
    for i in 0..3u32 {
        let meta = make_torrent_in(&dir.path, &format!("q{i}"), &[("f.bin", 20_000)], 16 * 1024, i + 1);
        let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta), dir.path.join("save"));
        p.auto_managed = true;
        ses.add_torrent(p).unwrap();
        assert_eq!(gauge(&ses, Metric::NumTorrents), i as i64 + 1);
        assert_eq!(gauge(&ses, Metric::NumAutoManagedTorrents), i as i64 + 1);
    }
    // The queue starts one; the others wait, counted as queued.
    let deadline = Instant::now() + WAIT;
    while gauge(&ses, Metric::NumDownloadingTorrents) != 1
        || gauge(&ses, Metric::NumQueuedDownloadTorrents) != 2
    {
        assert!(Instant::now() < deadline, "the queue never settled");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(gauge(&ses, Metric::NumQueuedTorrents), 2);
    assert_add_up(&ses);
    // A magnet link's torrent has no pieces yet, but it is a download: it
    // queues as one, not as a seed.
    let uri = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=queued";
    let magnet = lt::proto::magnet::Magnet::parse(uri).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Magnet(magnet), dir.path.join("save"));
    p.auto_managed = true;
    let id = ses.add_torrent(p).unwrap();
    assert_eq!(ses.torrent_status(id).unwrap().queue_position, 3);
    while gauge(&ses, Metric::NumQueuedDownloadTorrents) != 3 {
        assert!(Instant::now() < deadline, "the magnet never queued as a download");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(gauge(&ses, Metric::NumQueuedSeedingTorrents), 0);
    assert_add_up(&ses);
}

#[test]
fn peer_gauges_return_to_zero_when_peers_leave() {
    let dir = tempdir("gauges-peers");
    let meta = make_torrent(&dir.path, &[("p.bin", 600_000)], 32 * 1024);
    let (seeder, _) = seed(&meta, &dir.path);
    let port = seeder.listen_port().unwrap();
    let ses = Session::new(settings()).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.path.join("leech"));
    p.peers.push(format!("127.0.0.1:{port}").parse().unwrap());
    let id = ses.add_torrent(p).unwrap();
    wait_for(&ses, "torrent_finished", |a| a.alert_type() == AlertType::TorrentFinished);
    assert_eq!(ses.torrent_status(id).unwrap().state, TorrentState::Seeding);
    // While connected, the seeder counts as a seed with extensions.
    if gauge(&ses, Metric::NumPeersConnected) == 1 {
        assert_eq!(gauge(&ses, Metric::NumSeedPeers), 1);
        assert_eq!(gauge(&ses, Metric::NumPeersExtensions), 1);
    }
    assert_eq!(
        gauge(&ses, Metric::NumOutstandingRequests),
        0,
        "nothing is requested from a finished download"
    );
    ses.pause_torrent(id).unwrap();
    let deadline = Instant::now() + WAIT;
    while gauge(&ses, Metric::NumPeersConnected) > 0 {
        assert!(Instant::now() < deadline, "peers never left");
        std::thread::sleep(Duration::from_millis(20));
    }
    for m in [
        Metric::NumSeedPeers,
        Metric::NumPeersExtensions,
        Metric::NumSnubbedPeers,
        Metric::NumOutstandingRequests,
        Metric::NumPeersUpUnchokedOptimistic,
        Metric::WriteCacheBlocks,
    ] {
        assert_eq!(gauge(&ses, m), 0, "{m:?}");
    }
    assert_eq!(gauge(&seeder, Metric::WriteCacheBlocks), 0);
}
