//! lt against lt on 127.0.0.1: seeding, downloading, checking existing
//! data, disk errors, pause and resume, through the engine's Rust API.

mod common;

use std::time::{Duration, Instant};

use common::swarm::{make_torrent, same, seed, settings, wait_for, WAIT};
use common::tempdir;
use lt::engine::stats::Metric;
use lt::engine::{AddTorrentParams, AlertKind, AlertType, Session, TorrentSource, TorrentState};

#[test]
fn lt_seeds_to_lt_and_figures_are_true() {
    let dir = tempdir("swarm");
    let files = [("a.bin", 1_000_003), ("empty.txt", 0), ("sub/b.bin", 2_500_001)];
    let meta = make_torrent(&dir.path, &files, 64 * 1024);
    let content_parent = dir.path.clone();
    let (seeder, _) = seed(&meta, &content_parent);
    let port = seeder.listen_port().unwrap();

    let leecher = Session::new(settings()).unwrap();
    let save = dir.path.join("leech");
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save);
    p.peers.push(format!("127.0.0.1:{port}").parse().unwrap());
    let id = leecher.add_torrent(p).unwrap();
    let alerts = wait_for(&leecher, "torrent_finished", |a| a.alert_type() == AlertType::TorrentFinished);

    // Alerts in order: added, connected, every piece, finished.
    let pos = |t: AlertType| alerts.iter().position(|a| a.alert_type() == t);
    assert!(pos(AlertType::AddTorrent).unwrap() < pos(AlertType::PeerConnect).unwrap());
    let pieces = alerts.iter().filter(|a| a.alert_type() == AlertType::PieceFinished).count();
    assert_eq!(pieces as u32, meta.lengths.num_pieces());

    for (name, _) in files {
        assert!(
            same(&dir.path.join("content").join(name), &save.join("content").join(name)),
            "{name} differs"
        );
    }
    let st = leecher.torrent_status(id).unwrap();
    assert_eq!(st.state, TorrentState::Seeding);
    assert_eq!(st.progress, 1.0);
    assert_eq!(st.pieces_done, meta.lengths.num_pieces());

    let c = leecher.counters();
    let n = meta.lengths.total_length() as i64;
    assert!(c.get(Metric::RecvPayloadBytes) >= n);
    assert!(c.get(Metric::RecvPayloadBytes) <= n + c.get(Metric::WastedBytes));
    assert!(c.get(Metric::RecvBytes) > c.get(Metric::RecvPayloadBytes), "protocol bytes are counted too");
    let blocks: i64 = (0..meta.lengths.num_pieces()).map(|p| meta.lengths.blocks_in_piece(p) as i64).sum();
    assert_eq!(c.get(Metric::BlocksWritten), blocks);
    assert_eq!(c.get(Metric::NumPieceFailed), 0);
    assert_eq!(c.get(Metric::NumPeersConnected), leecher.torrent(id).unwrap().peers().len() as i64);
    let s = seeder.counters();
    assert!(s.get(Metric::SentPayloadBytes) >= n);
    assert!(s.get(Metric::BlocksRead) >= blocks);

    // Per-message counters on both sides agree with the transfer.
    assert!(c.get(Metric::InPiece) >= blocks);
    assert!(c.get(Metric::OutRequest) >= blocks);
    assert_eq!(c.get(Metric::BlocksRequested), c.get(Metric::OutRequest));
    assert_eq!(c.get(Metric::InExtHandshake), 1);
    assert_eq!(c.get(Metric::OutExtHandshake), 1);
    assert!(c.get(Metric::OutInterested) >= 1 && s.get(Metric::InInterested) >= 1);
    assert!(s.get(Metric::OutUnchoke) >= 1 && c.get(Metric::InUnchoke) >= 1);
    assert_eq!(s.get(Metric::InRequest), c.get(Metric::OutRequest));
    assert_eq!(s.get(Metric::PieceRequests), s.get(Metric::InRequest));
    assert!(s.get(Metric::OutPiece) >= blocks);
    assert_eq!(s.get(Metric::OutHaveAll), 1, "a seed announces have_all to a fast-extension peer");
    assert_eq!(c.get(Metric::InHaveAll), 1);
    assert_eq!(c.get(Metric::DiskWriteBytes), n);
    assert_eq!(s.get(Metric::PiecesChecked), meta.lengths.num_pieces() as i64);
    assert_eq!(c.get(Metric::DiskWriteOps), meta.lengths.num_pieces() as i64);
    assert!(c.get(Metric::DiskHashTime) > 0 && c.get(Metric::DiskWriteTime) > 0);
    assert!(s.get(Metric::DiskReadOps) >= meta.lengths.num_pieces() as i64);
    assert_eq!(c.get(Metric::TorrentsAdded), 1);
    assert_eq!(c.get(Metric::TorrentsFinished), 1);
    assert!(c.get(Metric::AlertsPosted) >= alerts.len() as i64);
}

#[test]
fn readding_finished_data_checks_and_seeds_without_download() {
    let dir = tempdir("readd");
    let meta = make_torrent(&dir.path, &[("x.bin", 700_001), ("y.bin", 300_000)], 32 * 1024);
    let ses = Session::new(settings()).unwrap();
    let id =
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir.path)).unwrap();
    let alerts = wait_for(&ses, "torrent_checked", |a| a.alert_type() == AlertType::TorrentChecked);
    assert!(alerts
        .iter()
        .any(|a| matches!(a.kind, AlertKind::StateChanged { state: TorrentState::CheckingFiles, .. })));
    let st = ses.torrent_status(id).unwrap();
    assert_eq!(st.state, TorrentState::Seeding);
    assert_eq!(st.pieces_done, meta.lengths.num_pieces());
    assert_eq!(st.total_payload_download, 0);
    assert_eq!(ses.counters().get(Metric::RecvPayloadBytes), 0);
    assert_eq!(st.queue_position, -1, "what the check found complete leaves the download queue");

    // A damaged piece is found by the check and wanted again.
    ses.remove_torrent(id, false).unwrap();
    wait_for(&ses, "torrent_removed", |a| a.alert_type() == AlertType::TorrentRemoved);
    let path = dir.path.join("content/x.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[40_000] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let id =
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir.path)).unwrap();
    wait_for(&ses, "torrent_checked", |a| a.alert_type() == AlertType::TorrentChecked);
    let st = ses.torrent_status(id).unwrap();
    assert_eq!(st.state, TorrentState::Downloading);
    assert_eq!(st.pieces_done, meta.lengths.num_pieces() - 1);
    assert_eq!(st.queue_position, 0);
}

#[test]
fn disk_error_raises_file_error_and_stops_the_torrent() {
    let dir = tempdir("diskerr");
    let meta = make_torrent(&dir.path, &[("f.bin", 300_000)], 32 * 1024);
    let (seeder, _) = seed(&meta, &dir.path);
    std::fs::write(dir.path.join("blocker"), b"a file, not a directory").unwrap();
    let leecher = Session::new(settings()).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.path.join("blocker/save"));
    p.peers.push(format!("127.0.0.1:{}", seeder.listen_port().unwrap()).parse().unwrap());
    let id = leecher.add_torrent(p).unwrap();
    let alerts = wait_for(&leecher, "file_error", |a| a.alert_type() == AlertType::FileError);
    let AlertKind::FileError { error } = &alerts.last().unwrap().kind else { unreachable!() };
    assert!(error.message.contains("blocker/save"), "{}", error.message);
    let st = leecher.torrent_status(id).unwrap();
    assert!(st.error.is_some());
    assert!(st.pieces_done < meta.lengths.num_pieces());
    // The session keeps working: the stopped torrent is counted.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(leecher.counters().get(Metric::NumStoppedTorrents), 1);
}

#[test]
fn pause_disconnects_and_resume_finishes() {
    let dir = tempdir("pause");
    let meta = make_torrent(&dir.path, &[("p.bin", 2_000_000)], 32 * 1024);
    let (seeder, _) = seed(&meta, &dir.path);
    let leecher = Session::new(settings()).unwrap();
    let save = dir.path.join("leech");
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save);
    p.paused = true;
    p.peers.push(format!("127.0.0.1:{}", seeder.listen_port().unwrap()).parse().unwrap());
    let id = leecher.add_torrent(p).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let st = leecher.torrent_status(id).unwrap();
    assert!(st.paused);
    assert_eq!(st.num_peers, 0);
    assert_eq!(st.pieces_done, 0);
    leecher.resume_torrent(id).unwrap();
    wait_for(&leecher, "torrent_finished", |a| a.alert_type() == AlertType::TorrentFinished);
    assert!(same(&dir.path.join("content/p.bin"), &save.join("content/p.bin")));
    leecher.pause_torrent(id).unwrap();
    wait_for(&leecher, "torrent_paused", |a| a.alert_type() == AlertType::TorrentPaused);
    let deadline = Instant::now() + Duration::from_secs(10);
    while leecher.torrent_status(id).unwrap().num_peers > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(leecher.torrent_status(id).unwrap().num_peers, 0);
}

/// A raw TCP peer that completes the handshake and then breaks the
/// protocol: lt disconnects it, counts it and says why.
#[test]
fn malformed_peer_messages_disconnect_and_count() {
    use std::io::{Read, Write};
    let dir = tempdir("malformed");
    let meta = make_torrent(&dir.path, &[("m.bin", 100_000)], 32 * 1024);
    let (ses, _) = seed(&meta, &dir.path);
    let port = ses.listen_port().unwrap();
    let cases: [(&str, Vec<u8>); 4] = [
        ("have out of range", vec![0, 0, 0, 5, 4, 0, 0, 0, 99]),
        ("unknown id", vec![0, 0, 0, 1, 0xff]),
        ("oversized length", vec![0x7f, 0xff, 0xff, 0xff]),
        ("piece past the torrent", vec![0, 0, 0, 13, 7, 0, 0, 0, 99, 0, 0, 0, 0, 1, 2, 3, 4]),
    ];
    for (i, (what, bytes)) in cases.iter().enumerate() {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut hs = vec![19u8];
        hs.extend_from_slice(b"BitTorrent protocol");
        hs.extend_from_slice(&[0; 8]);
        hs.extend_from_slice(&meta.info_hash.0);
        hs.extend_from_slice(b"-XX0000-malformed!!!");
        s.write_all(&hs).unwrap();
        let mut reply = [0u8; 68];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(&reply[28..48], &meta.info_hash.0);
        s.write_all(bytes).unwrap();
        // lt closes the connection: reads end (after its bitfield).
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        let deadline = Instant::now() + WAIT;
        while ses.counters().get(Metric::ProtocolErrors) < i as i64 + 1 {
            assert!(Instant::now() < deadline, "{what}: not counted as a protocol error");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let errors: Vec<String> = std::iter::from_fn(|| ses.pop_alert())
        .filter_map(|a| match a.kind {
            AlertKind::PeerError { error, .. } => Some(error.message),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[0].contains("have for piece 99"), "{errors:?}");
    assert!(errors[1].contains("unknown message id 255"), "{errors:?}");
    assert!(errors[2].contains("too large"), "{errors:?}");
    assert!(errors[3].contains("piece message out of range"), "{errors:?}");
    assert_eq!(ses.counters().get(Metric::NumPeersConnected), 0);
}

/// A magnet link to an lt seeder: metadata from lt over ut_metadata (the
/// info dictionary is larger than one 16 KiB piece), then the data; the
/// saved .torrent has the original info dictionary byte for byte.
#[test]
fn magnet_from_lt_gets_metadata_and_data() {
    let dir = tempfile::tempdir().unwrap();
    // 1200 pieces of 16 KiB: 24 000 bytes of piece hashes, two metadata pieces.
    let meta = make_torrent(dir.path(), &[("a.bin", 1200 * 16384 - 5)], 16384);
    assert!(meta.info_bytes.len() > 16384);
    let (seeder, _) = seed(&meta, dir.path());
    let port = seeder.listen_port().unwrap();
    let uri = format!(
        "magnet:?xt=urn:btih:{}&dn=early+name&x.pe=127.0.0.1:{port}&ws=http%3A%2F%2F127.0.0.1%3A1%2Fseed",
        meta.info_hash.to_hex()
    );
    let magnet = lt::proto::magnet::Magnet::parse(&uri).unwrap();
    let out = dir.path().join("out");
    let leech = Session::new(settings()).unwrap();
    let id = leech.add_torrent(AddTorrentParams::new(TorrentSource::Magnet(magnet), &out)).unwrap();
    let st = leech.torrent_status(id).unwrap();
    assert_eq!(st.name, "early name");
    assert_eq!(
        leech.torrent_metadata(id).unwrap_err().kind(),
        lt::engine::ErrorKind::NoMetadata,
        "no metadata before it arrives"
    );
    wait_for(&leech, "metadata_received", |a| a.alert_type() == AlertType::MetadataReceived);
    assert_eq!(leech.torrent_status(id).unwrap().name, "content");
    wait_for(&leech, "torrent_finished", |a| a.alert_type() == AlertType::TorrentFinished);
    assert!(same(&dir.path().join("content/a.bin"), &out.join("content/a.bin")));
    let saved = leech.torrent_metadata(id).unwrap();
    let again = lt::proto::metainfo::Metainfo::from_bytes(&saved).unwrap();
    assert_eq!(again.info_bytes, meta.info_bytes);
    assert_eq!(again.info_hash, meta.info_hash);
    assert_eq!(again.web_seeds, vec!["http://127.0.0.1:1/seed".to_string()], "the magnet's ws is kept");
    assert!(common::metric(&leech, "ses.num_outgoing_metadata") >= 2, "two pieces asked for");
    assert!(common::metric(&leech, "ses.num_incoming_metadata") >= 2);
    assert!(common::metric(&seeder, "ses.num_outgoing_metadata") >= 2, "the seeder served them");

    // Resume data saved now carries the info dictionary: the same magnet,
    // with no peer at all, starts as the complete torrent it was.
    leech.torrent(id).unwrap().save_resume_data();
    let alerts = wait_for(&leech, "save_resume_data", |a| a.alert_type() == AlertType::SaveResumeData);
    let AlertKind::SaveResumeData { data } = &alerts.last().unwrap().kind else { unreachable!() };
    drop(leech);
    let again = Session::new(settings()).unwrap();
    let bare = lt::proto::magnet::Magnet::parse(&format!("magnet:?xt=urn:btih:{}", meta.info_hash.to_hex()))
        .unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Magnet(bare), &out);
    p.resume_data = Some(data.clone());
    let id = again.add_torrent(p).unwrap();
    let st = again.torrent_status(id).unwrap();
    assert_eq!(st.name, "content", "the metadata came with the resume data");
    assert_eq!(st.state, TorrentState::Seeding, "resume data trusted: no check, no download");
    let file = lt::proto::metainfo::Metainfo::from_bytes(&again.torrent_metadata(id).unwrap()).unwrap();
    assert_eq!(file.info_bytes, meta.info_bytes);
}

/// Peer exchange between lt sessions: C knows only the seeder A; A tells
/// it about B (which dialled A, so A passes on B's listen port from its
/// extension handshake), and C connects to B as a PEX peer. A uploads
/// slowly so that B and C are still downloading (two seeds would part).
#[test]
fn pex_introduces_a_peer() {
    use lt::engine::discovery::PeerSource;
    let dir = tempfile::tempdir().unwrap();
    let meta = make_torrent(dir.path(), &[("a.bin", 4_000_000)], 16384);
    let a = Session::new(lt::engine::Settings { upload_rate_limit: 50_000, ..settings() }).unwrap();
    let a_id =
        a.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.path())).unwrap();
    wait_for(&a, "the seed's check", |al| al.alert_type() == AlertType::TorrentChecked);
    let a_addr: std::net::SocketAddr = format!("127.0.0.1:{}", a.listen_port().unwrap()).parse().unwrap();
    let join = |name: &str| {
        let ses = Session::new(settings()).unwrap();
        let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.path().join(name));
        p.peers.push(a_addr);
        let id = ses.add_torrent(p).unwrap();
        (ses, id)
    };
    let (b, b_id) = join("b");
    let deadline = Instant::now() + WAIT;
    while a.torrent(a_id).unwrap().peers().is_empty() {
        assert!(Instant::now() < deadline, "b never connected to a");
        std::thread::sleep(Duration::from_millis(20));
    }
    let b_port = b.listen_port().unwrap();
    let (c, c_id) = join("c");
    let deadline = Instant::now() + WAIT;
    loop {
        let peers = c.torrent(c_id).unwrap().peers();
        if let Some(p) = peers.iter().find(|p| p.addr.port() == b_port) {
            assert_ne!(p.info().source & PeerSource::Pex.bit(), 0, "b is known to c through PEX");
            break;
        }
        assert!(Instant::now() < deadline, "c never connected to b");
        std::thread::sleep(Duration::from_millis(50));
    }
    let count = common::metric;
    assert!(count(&a, "ses.num_outgoing_pex") >= 1);
    assert!(count(&c, "ses.num_incoming_pex") >= 1);
    assert!(count(&c, "peer.peers_from_pex") >= 1);
    assert_eq!(b.torrent_status(b_id).unwrap().state, TorrentState::Downloading, "b was still downloading");
}
