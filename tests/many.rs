//! Many torrents in one session, lt against lt on 127.0.0.1: the queue,
//! rate limits, file priorities, moving storage, resume data (including a
//! process killed mid-download) and the other torrent controls.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::swarm::{make_torrent, make_torrent_in, same, settings, wait_for, WAIT};
use common::tempdir;
use lt::engine::stats::Metric;
use lt::engine::{
    AddTorrentParams, AlertKind, AlertType, ErrorKind, QueueMove, Session, Settings, TorrentId,
    TorrentSource, TorrentState,
};
use lt::proto::metainfo::Metainfo;

/// A session seeding every torrent in `metas` from `data_dir`.
fn seed_all(metas: &[Arc<Metainfo>], data_dir: &Path, s: Settings) -> Session {
    let ses = Session::new(s).unwrap();
    for m in metas {
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(m.clone()), data_dir)).unwrap();
    }
    let mut checked = 0;
    wait_for(&ses, "the seeds' checks", |a| {
        checked += (a.alert_type() == AlertType::TorrentChecked) as usize;
        checked == metas.len()
    });
    ses
}

fn peer_of(ses: &Session) -> SocketAddr {
    format!("127.0.0.1:{}", ses.listen_port().unwrap()).parse().unwrap()
}

fn params(meta: &Arc<Metainfo>, save: &Path, peer: SocketAddr) -> AddTorrentParams {
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), save);
    p.peers.push(peer);
    p
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_done(ses: &Session, id: TorrentId) -> bool {
    matches!(ses.torrent_status(id).unwrap().state, TorrentState::Seeding | TorrentState::Finished)
}

#[test]
fn queue_runs_two_downloads_at_a_time_in_queue_order() {
    let dir = tempdir("queue");
    let metas: Vec<_> = (0..5)
        .map(|i| make_torrent_in(&dir.path, &format!("q{i}"), &[("f.bin", 1_200_000)], 32 * 1024, 100 + i))
        .collect();
    let seeder = seed_all(&metas, &dir.path, settings());
    let leecher = Session::new(Settings { active_downloads: 2, ..settings() }).unwrap();
    let save = dir.path.join("leech");
    let ids: Vec<TorrentId> = metas
        .iter()
        .map(|m| {
            let mut p = params(m, &save, peer_of(&seeder));
            p.auto_managed = true;
            p.download_limit = 1_000_000;
            leecher.add_torrent(p).unwrap()
        })
        .collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(leecher.torrent_status(*id).unwrap().queue_position, i as i64);
    }
    let mut finished: Vec<TorrentId> = Vec::new();
    let mut seen_two = false;
    let mut seen_queued = 0;
    wait_until("all five downloads", || {
        let statuses: Vec<_> = ids.iter().map(|id| leecher.torrent_status(*id).unwrap()).collect();
        let running = statuses
            .iter()
            .filter(|s| s.state == TorrentState::Downloading && !s.queued && !s.paused)
            .count();
        assert!(running <= 2, "{running} downloads run with active_downloads = 2");
        seen_two |= running == 2;
        seen_queued = seen_queued.max(leecher.counters().get(Metric::NumQueuedTorrents));
        for s in &statuses {
            if s.state == TorrentState::Seeding && !finished.contains(&s.id) {
                finished.push(s.id);
            }
        }
        finished.len() == ids.len()
    });
    assert!(seen_two, "two downloads ran at once");
    assert!(seen_queued >= 2, "the queued-torrent gauge counted the waiting torrents ({seen_queued})");
    // Two run at a time, so a torrent can only finish after everything
    // two places ahead of it in the queue.
    for (k, id) in finished.iter().enumerate() {
        let pos = ids.iter().position(|x| x == id).unwrap();
        assert!(pos <= k + 1, "torrent {pos} of the queue finished as number {k}: {finished:?}");
    }
    for m in &metas {
        assert!(same(&dir.path.join(&m.name).join("f.bin"), &save.join(&m.name).join("f.bin")));
    }
    let c = leecher.counters();
    assert!(c.get(Metric::QueueStarts) >= 5);
    assert_eq!(
        leecher.torrent_status(ids[0]).unwrap().queue_position,
        -1,
        "finished torrents leave the queue"
    );
}

#[test]
fn queue_positions_move_and_renumber() {
    let dir = tempdir("qmove");
    let ses = Session::new(settings()).unwrap();
    let ids: Vec<TorrentId> = (0..4)
        .map(|i| {
            let m = make_torrent_in(&dir.path, &format!("m{i}"), &[("f.bin", 50_000)], 16 * 1024, 7 + i);
            let mut p = AddTorrentParams::new(TorrentSource::Metainfo(m), dir.path.join("save"));
            p.paused = true;
            ses.add_torrent(p).unwrap()
        })
        .collect();
    let pos = |ses: &Session| {
        ids.iter().map(|id| ses.torrent_status(*id).unwrap().queue_position).collect::<Vec<_>>()
    };
    assert_eq!(pos(&ses), [0, 1, 2, 3]);
    ses.queue_move(ids[3], QueueMove::Top).unwrap();
    assert_eq!(pos(&ses), [1, 2, 3, 0]);
    ses.queue_move(ids[1], QueueMove::Bottom).unwrap();
    assert_eq!(pos(&ses), [1, 3, 2, 0]);
    ses.queue_move(ids[0], QueueMove::Up).unwrap();
    assert_eq!(pos(&ses), [0, 3, 2, 1]);
    ses.queue_move(ids[0], QueueMove::Down).unwrap();
    assert_eq!(pos(&ses), [1, 3, 2, 0]);
    ses.remove_torrent(ids[3], false).unwrap();
    let left: Vec<_> = ids[..3].iter().map(|id| ses.torrent_status(*id).unwrap().queue_position).collect();
    assert_eq!(left, [0, 2, 1], "positions behind a removed torrent move up");
    assert_eq!(ses.queue_move(ids[3], QueueMove::Up).unwrap_err().kind(), ErrorKind::InvalidHandle);
}

/// Payload bytes per second over 10 s of a transfer, measured from the
/// first second after data started flowing.
fn measured_rate(total: impl Fn() -> i64) -> f64 {
    wait_until("data to flow", || total() > 0);
    std::thread::sleep(Duration::from_secs(1));
    let (t0, b0) = (Instant::now(), total());
    std::thread::sleep(Duration::from_secs(10));
    (total() - b0) as f64 / t0.elapsed().as_secs_f64()
}

fn assert_within_10_percent(what: &str, got: f64, limit: i64) {
    let ratio = got / limit as f64;
    eprintln!("{what}: {got:.0} B/s against {limit} ({ratio:.3})");
    assert!((0.9..=1.1).contains(&ratio), "{what}: {got:.0} B/s against a limit of {limit} ({ratio:.3})");
}

const RATE: i64 = 1 << 20;

#[test]
fn session_download_limit_holds_within_10_percent() {
    let dir = tempdir("dlimit");
    let meta = make_torrent(&dir.path, &[("big.bin", 24 << 20)], 64 * 1024);
    let seeder = seed_all(std::slice::from_ref(&meta), &dir.path, settings());
    let leecher = Session::new(Settings { download_rate_limit: RATE, ..settings() }).unwrap();
    let id = leecher.add_torrent(params(&meta, &dir.path.join("leech"), peer_of(&seeder))).unwrap();
    let got = measured_rate(|| leecher.torrent_status(id).unwrap().total_payload_download);
    assert_within_10_percent("session download limit", got, RATE);
    assert!(leecher.counters().get(Metric::LimiterDownWaits) > 0);
}

#[test]
fn torrent_download_limit_holds_within_10_percent() {
    let dir = tempdir("tlimit");
    let meta = make_torrent(&dir.path, &[("big.bin", 24 << 20)], 64 * 1024);
    let seeder = seed_all(std::slice::from_ref(&meta), &dir.path, settings());
    let leecher = Session::new(settings()).unwrap();
    let mut p = params(&meta, &dir.path.join("leech"), peer_of(&seeder));
    p.download_limit = RATE;
    let id = leecher.add_torrent(p).unwrap();
    let got = measured_rate(|| leecher.torrent_status(id).unwrap().total_payload_download);
    assert_within_10_percent("torrent download limit", got, RATE);
    assert_eq!(leecher.torrent_status(id).unwrap().download_limit, RATE);
}

#[test]
fn upload_limit_holds_within_10_percent() {
    let dir = tempdir("ulimit");
    let meta = make_torrent(&dir.path, &[("big.bin", 24 << 20)], 64 * 1024);
    let seeder =
        seed_all(std::slice::from_ref(&meta), &dir.path, Settings { upload_rate_limit: RATE, ..settings() });
    let leecher = Session::new(settings()).unwrap();
    leecher.add_torrent(params(&meta, &dir.path.join("leech"), peer_of(&seeder))).unwrap();
    let got = measured_rate(|| seeder.counters().get(Metric::SentPayloadBytes));
    assert_within_10_percent("session upload limit", got, RATE);
}

#[test]
fn skipped_file_is_not_downloaded() {
    let dir = tempdir("prio");
    let piece = 32 * 1024;
    let files = [("a.bin", 300_000), ("b.bin", 400_000), ("c.bin", 300_000)];
    let meta = make_torrent(&dir.path, &files, piece as u32);
    let seeder = seed_all(std::slice::from_ref(&meta), &dir.path, settings());
    let leecher = Session::new(settings()).unwrap();
    let save = dir.path.join("leech");
    let mut p = params(&meta, &save, peer_of(&seeder));
    p.file_priorities = vec![4, 0, 4];
    let id = leecher.add_torrent(p).unwrap();
    wait_for(&leecher, "torrent_finished", |a| a.alert_type() == AlertType::TorrentFinished);
    let st = leecher.torrent_status(id).unwrap();
    assert_eq!(st.state, TorrentState::Finished, "not all pieces: finished, not seeding");
    assert!(st.total_wanted < st.total_size);
    for name in ["a.bin", "c.bin"] {
        assert!(same(&dir.path.join("content").join(name), &save.join("content").join(name)), "{name}");
    }
    // b.bin holds at most the bytes of the two pieces it shares with a and c.
    let b = save.join("content/b.bin");
    if b.exists() {
        let data = std::fs::read(&b).unwrap();
        let start = 300_000usize; // b's offset in the torrent
        let first_inner = start.div_ceil(piece) * piece - start;
        let last_inner = (start + 400_000) / piece * piece - start;
        assert!(data.len() <= 400_000);
        let inner = &data[first_inner.min(data.len())..last_inner.min(data.len())];
        assert!(inner.iter().all(|x| *x == 0), "bytes of pieces inside the skipped file were written");
    }
    let c = leecher.counters();
    let blocks_b_inner = ((300_000 + 400_000) / piece - 300_000usize.div_ceil(piece)) * (piece / 16384);
    let all_blocks = meta.lengths.total_length().div_ceil(16384) as i64;
    assert!(c.get(Metric::BlocksWritten) <= all_blocks - blocks_b_inner as i64);
}

#[test]
fn move_storage_while_downloading() {
    let dir = tempdir("move");
    let files = [("a.bin", 3_000_000), ("sub/b.bin", 2_000_000)];
    let meta = make_torrent(&dir.path, &files, 64 * 1024);
    let seeder = seed_all(std::slice::from_ref(&meta), &dir.path, settings());
    let leecher = Session::new(settings()).unwrap();
    let old = dir.path.join("old");
    let new = dir.path.join("new");
    let mut p = params(&meta, &old, peer_of(&seeder));
    p.download_limit = 2_000_000;
    let id = leecher.add_torrent(p).unwrap();
    let t = leecher.torrent(id).unwrap();
    wait_until("some pieces", || leecher.torrent_status(id).unwrap().pieces_done > 5);
    t.move_storage(new.clone()).unwrap();
    wait_for(&leecher, "storage_moved", |a| a.alert_type() == AlertType::StorageMoved);
    assert!(!is_done(&leecher, id), "the move finished before the download did");
    t.set_download_limit(0).unwrap();
    wait_until("the download", || is_done(&leecher, id));
    assert_eq!(leecher.torrent_status(id).unwrap().save_path, new);
    for (name, _) in files {
        assert!(same(&dir.path.join("content").join(name), &new.join("content").join(name)), "{name}");
    }
    let left: Vec<_> = walk(&old);
    assert!(left.is_empty(), "files left in the old place: {left:?}");
    assert_eq!(leecher.counters().get(Metric::StorageMoves), 1);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Downloads `meta` completely into `save` and answers the session.
fn download(meta: &Arc<Metainfo>, save: &Path, seeder: &Session) -> (Session, TorrentId) {
    let leecher = Session::new(settings()).unwrap();
    let id = leecher.add_torrent(params(meta, save, peer_of(seeder))).unwrap();
    wait_for(&leecher, "torrent_finished", |a| a.alert_type() == AlertType::TorrentFinished);
    (leecher, id)
}

fn save_resume(ses: &Session, id: TorrentId) -> Vec<u8> {
    ses.torrent(id).unwrap().save_resume_data();
    let alerts = wait_for(ses, "save_resume_data", |a| a.alert_type() == AlertType::SaveResumeData);
    let AlertKind::SaveResumeData { data } = &alerts.last().unwrap().kind else { unreachable!() };
    data.clone()
}

#[test]
fn resume_data_round_trip_skips_the_check() {
    let dir = tempdir("resume");
    let meta = make_torrent(&dir.path, &[("a.bin", 700_000), ("b.bin", 300_000)], 32 * 1024);
    let seeder = seed_all(std::slice::from_ref(&meta), &dir.path, settings());
    let save = dir.path.join("leech");
    let (leecher, id) = download(&meta, &save, &seeder);
    leecher.torrent(id).unwrap().set_max_connections(7);
    let blob = save_resume(&leecher, id);
    let before = leecher.torrent_status(id).unwrap();
    drop(leecher);

    // Same files: the pieces are trusted, nothing is read back.
    let ses = Session::new(settings()).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save);
    p.resume_data = Some(blob.clone());
    let id = ses.add_torrent(p).unwrap();
    let st = ses.torrent_status(id).unwrap();
    assert_eq!(st.state, TorrentState::Seeding);
    assert_eq!(st.pieces_done, meta.lengths.num_pieces());
    assert_eq!(st.total_payload_download, before.total_payload_download);
    assert_eq!(st.max_connections, 7);
    assert_eq!(st.added_time, before.added_time);
    assert_eq!(ses.counters().get(Metric::ResumeAccepted), 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ses.counters().get(Metric::PiecesChecked), 0, "no piece was hashed");
    drop(ses);

    // A file changed since: the data is not trusted, the files are checked.
    let f = save.join("content/b.bin");
    let mut data = std::fs::read(&f).unwrap();
    data[1000] ^= 0xff;
    std::fs::write(&f, &data).unwrap();
    let ses = Session::new(settings()).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save);
    p.resume_data = Some(blob.clone());
    let id = ses.add_torrent(p).unwrap();
    wait_for(&ses, "fastresume_rejected", |a| a.alert_type() == AlertType::FastresumeRejected);
    wait_for(&ses, "torrent_checked", |a| a.alert_type() == AlertType::TorrentChecked);
    let st = ses.torrent_status(id).unwrap();
    assert_eq!(st.pieces_done, meta.lengths.num_pieces() - 1, "the damaged piece is found");
    assert_eq!(ses.counters().get(Metric::ResumeRechecked), 1);
    drop(ses);

    // Corrupted data and data for another torrent are refused.
    let ses = Session::new(settings()).unwrap();
    let mut bad = blob.clone();
    let cut = bad.len() / 2;
    bad.truncate(cut);
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save);
    p.resume_data = Some(bad);
    assert_eq!(ses.add_torrent(p).unwrap_err().kind(), ErrorKind::InvalidResumeData);
    let other = make_torrent_in(&dir.path, "other", &[("x.bin", 10_000)], 16 * 1024, 99);
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(other), &save);
    p.resume_data = Some(blob);
    let err = ses.add_torrent(p).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResumeData);
    assert!(ses.torrents().is_empty());
}

#[test]
fn controls_read_rename_recheck_and_session_pause() {
    let dir = tempdir("controls");
    let meta = make_torrent(&dir.path, &[("a.bin", 200_000), ("b.bin", 100_000)], 32 * 1024);
    let seeder = seed_all(std::slice::from_ref(&meta), &dir.path, settings());
    let save = dir.path.join("leech");
    let (ses, id) = download(&meta, &save, &seeder);
    let t = ses.torrent(id).unwrap();

    t.read_piece(1).unwrap();
    let alerts = wait_for(&ses, "read_piece", |a| a.alert_type() == AlertType::ReadPiece);
    let AlertKind::ReadPiece { piece: 1, data } = &alerts.last().unwrap().kind else { panic!("wrong alert") };
    let a = std::fs::read(dir.path.join("content/a.bin")).unwrap();
    assert_eq!(&data[..], &a[32 * 1024..64 * 1024]);
    assert_eq!(t.read_piece(10_000).unwrap_err().kind(), ErrorKind::InvalidArgument);

    t.rename_file(1, "renamed/b2.bin").unwrap();
    wait_for(&ses, "file_renamed", |a| a.alert_type() == AlertType::FileRenamed);
    assert!(same(&save.join("renamed/b2.bin"), &dir.path.join("content/b.bin")));
    assert!(!save.join("content/b.bin").exists());
    assert!(t.rename_file(0, "../escape.bin").is_err(), "a name leaving the save path is refused");

    t.force_recheck();
    wait_for(&ses, "torrent_checked", |a| a.alert_type() == AlertType::TorrentChecked);
    let st = ses.torrent_status(id).unwrap();
    assert_eq!(st.pieces_done, meta.lengths.num_pieces(), "the renamed file is checked where it is now");
    assert_eq!(st.state, TorrentState::Seeding);

    ses.pause();
    let st = ses.torrent_status(id).unwrap();
    assert!(st.session_paused && !st.paused);
    std::thread::sleep(Duration::from_millis(1500));
    let c = ses.counters();
    assert_eq!(c.get(Metric::NumStoppedTorrents), 1);
    assert_eq!(c.get(Metric::SessionPaused), 1);
    ses.resume();
    assert!(!ses.torrent_status(id).unwrap().session_paused);
}

/// The child half of the crash test: downloads from the parent's seeder,
/// saving resume data every 200 ms; the parent kills it mid-download, then
/// runs it again to finish from the saved data.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var("LT_CRASH_CHILD") else { return };
    let [torrent, save, resume, peer, limit]: [&str; 5] =
        spec.split('|').collect::<Vec<_>>().try_into().expect("spec");
    let meta = Arc::new(Metainfo::from_bytes(&std::fs::read(torrent).unwrap()).unwrap());
    let ses = Session::new(settings()).unwrap();
    let mut p = params(&meta, Path::new(save), peer.parse().unwrap());
    p.download_limit = limit.parse().unwrap();
    p.resume_data = std::fs::read(resume).ok();
    let id = ses.add_torrent(p).unwrap();
    loop {
        let data = save_resume(&ses, id);
        let tmp = format!("{resume}.tmp");
        std::fs::write(&tmp, &data).unwrap();
        std::fs::rename(&tmp, resume).unwrap();
        if is_done(&ses, id) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = ses.torrent_status(id).unwrap();
    println!("CRASH-CHILD-DONE {} {}", st.total_payload_download, st.total_wasted);
}

#[test]
fn sigkill_mid_download_resumes_and_verifies() {
    let dir = tempdir("crash");
    let meta = make_torrent(&dir.path, &[("a.bin", 6_000_000), ("b.bin", 2_000_000)], 64 * 1024);
    let seeder = seed_all(std::slice::from_ref(&meta), &dir.path, settings());
    let torrent = dir.path.join("t.torrent");
    let mut tbytes = b"d4:info".to_vec();
    tbytes.extend_from_slice(&meta.info_bytes);
    tbytes.push(b'e');
    std::fs::write(&torrent, &tbytes).unwrap();
    let save = dir.path.join("leech");
    let resume = dir.path.join("resume.dat");
    let spawn = |limit: i64| {
        let spec = format!(
            "{}|{}|{}|{}|{limit}",
            torrent.display(),
            save.display(),
            resume.display(),
            peer_of(&seeder)
        );
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("LT_CRASH_CHILD", spec)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // First run: slow, killed once the saved data lists a third of the pieces.
    let mut child = spawn(2_000_000);
    let n = meta.lengths.num_pieces() as usize;
    let saved_pieces = || -> usize {
        let Ok(blob) = std::fs::read(&resume) else { return 0 };
        lt::proto::resume::ResumeData::decode(&blob).map_or(0, |r| r.pieces.iter().filter(|h| **h).count())
    };
    wait_until("a third of the pieces saved", || saved_pieces() >= n / 3);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let saved = lt::proto::resume::ResumeData::decode(&std::fs::read(&resume).unwrap()).unwrap();
    let had = saved.pieces.iter().filter(|h| **h).count();
    assert!(had < n, "the first run finished before it was killed");

    // Second run: no limit, from the last saved resume data.
    let out = spawn(0).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "second run failed: {stdout}");
    // libtest may print "test crash_child ... " before the line.
    let line = stdout.split("CRASH-CHILD-DONE").nth(1).expect("done line");
    let nums: Vec<i64> = line.split_whitespace().take(2).map(|x| x.parse().unwrap()).collect();
    for name in ["a.bin", "b.bin"] {
        assert!(same(&dir.path.join("content").join(name), &save.join("content").join(name)), "{name}");
    }
    // The total carries on from the saved one, so the second run got
    // (total - saved total): at most the pieces the saved data lacked.
    let second_run = nums[0] - saved.total_downloaded;
    let not_saved = (n - had) as i64 * meta.lengths.piece_length() as i64;
    assert!(
        second_run <= not_saved + nums[1],
        "second run downloaded {second_run} bytes; the {} unsaved pieces are {not_saved}",
        n - had
    );
}
