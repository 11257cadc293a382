//! The DHT on 127.0.0.1 only: lt finds a libtorrent seeder through a DHT of
//! libtorrent sessions given nothing but a trackerless torrent, a
//! libtorrent session finds an lt seeder the same way, twenty lt sessions
//! find one another's torrents, and a node's routing table survives a
//! restart through the saved session state. No public node is ever
//! contacted: every session's bootstrap nodes are set explicitly.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::swarm::make_torrent_in;
use common::{files_equal, free_port, make_data, make_torrent, tempdir};
use lt::engine::stats::Metric;
use lt::engine::{AddTorrentParams, Alert, AlertKind, AlertType, Session, Settings, TorrentSource};
use lt::proto::metainfo::Metainfo;

const WAIT: Duration = Duration::from_secs(240);

/// An lt session with a DHT node on 127.0.0.1 that bootstraps from
/// `bootstrap` ("" for none), with the loopback restrictions off: every
/// node here shares one IP address.
fn dht_settings(bootstrap: &str) -> Settings {
    Settings {
        listen_interfaces: format!("127.0.0.1:{}", free_port()),
        alert_mask: lt::engine::alerts::category::ALL as i64,
        enable_dht: true,
        dht_bootstrap_nodes: bootstrap.into(),
        dht_restrict_routing_ips: false,
        dht_restrict_search_ips: false,
        dht_enforce_node_id: false,
        dht_block_ratelimit: 100_000,
        dht_upload_rate_limit: 0,
        dht_announce_interval: 10,
        network_threads: 1,
        ..Settings::default()
    }
}

fn load(path: &Path) -> Arc<Metainfo> {
    Arc::new(Metainfo::from_bytes(&std::fs::read(path).unwrap()).unwrap())
}

/// Waits for an alert `f` accepts; panics with the last messages after `WAIT`.
fn wait_alert(ses: &Session, what: &str, mut f: impl FnMut(&Alert) -> bool) -> Alert {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Some(a) = ses.wait_for_alert(Duration::from_millis(100)) {
            if f(&a) {
                return a;
            }
            seen.push(a.message);
        }
    }
    panic!("no {what} within {WAIT:?}; last alerts: {:#?}", seen.iter().rev().take(30).collect::<Vec<_>>());
}

/// Waits until `f` holds, polling.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// tests/peers/lt_dht.py: a DHT of libtorrent sessions in one process.
struct LtDht {
    ports: Vec<u16>,
    child: Child,
    lines: Receiver<String>,
}

impl LtDht {
    /// `n` sessions; the last seeds or downloads `torrent` when given.
    fn start(n: usize, bootstrap: &[String], role: Option<(&str, &Path, &Path)>) -> LtDht {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/lt_dht.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script);
        for p in &ports {
            cmd.args(["--port", &p.to_string()]);
        }
        for b in bootstrap {
            cmd.args(["--bootstrap", b]);
        }
        if let Some((what, torrent, save)) = role {
            cmd.arg(format!("--{what}")).arg(torrent).arg("--save-path").arg(save);
        }
        let mut child =
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("python3-libtorrent");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        LtDht { ports, child, lines }
    }

    fn wait_line(&self, want: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(want) => return line,
                Ok(_) => {}
                Err(e) => panic!("lt_dht.py: no '{want}': {e}"),
            }
        }
    }

    fn first(&self) -> String {
        format!("127.0.0.1:{}", self.ports[0])
    }
}

impl Drop for LtDht {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A trackerless .torrent made by libtorrent, with its data.
fn libtorrent_torrent(dir: &Path) -> PathBuf {
    make_data(&dir.join("data"), &[("dht/one.bin", 3_000_001), ("dht/two.bin", 700_000)], 42);
    let torrent = dir.join("dht.torrent");
    make_torrent(&dir.join("data/dht"), &torrent, 64 * 1024, &[], false);
    torrent
}

fn same_tree(a: &Path, b: &Path) {
    for name in ["one.bin", "two.bin"] {
        assert!(files_equal(&a.join(name), &b.join(name)), "{name} differs");
    }
}

#[test]
fn lt_finds_a_libtorrent_seeder_through_the_dht_alone() {
    let dir = tempdir("dht-lt-leech");
    let torrent = libtorrent_torrent(&dir.path);
    let meta = load(&torrent);
    assert!(meta.trackers.is_empty(), "a trackerless torrent");
    let swarm = LtDht::start(8, &[], Some(("seed", &torrent, &dir.path.join("data"))));
    swarm.wait_line("\"ready\"");
    swarm.wait_line("\"seeding\"");
    let ses = Session::new(dht_settings(&swarm.first())).unwrap();
    wait_alert(&ses, "dht_bootstrap", |a| a.alert_type() == AlertType::DhtBootstrap);
    assert!(ses.counters().get(Metric::DhtNodes) > 0, "the routing table holds nodes after the bootstrap");
    let added = Instant::now();
    let save = dir.path.join("lt");
    let id = ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save)).unwrap();
    let mut found_at = None;
    wait_alert(&ses, "torrent_finished", |a| {
        if let AlertKind::DhtReply { num_peers } = a.kind {
            if num_peers > 0 && found_at.is_none() {
                found_at = Some(added.elapsed());
            }
        }
        a.alert_type() == AlertType::TorrentFinished && a.torrent == id
    });
    same_tree(&dir.path.join("data/dht"), &save.join("dht"));
    let c = ses.counters();
    // The seeder never dials (lt_dht.py): lt found its address in the DHT.
    assert!(found_at.is_some(), "a dht_reply with the seeder");
    assert!(c.get(Metric::PeersFromDht) >= 1, "the seeder's address came from the DHT");
    assert!(c.get(Metric::DhtGetPeersOut) > 0 && c.get(Metric::DhtAnnouncePeerOut) > 0);
    assert!(c.get(Metric::DhtMessagesIn) > 0 && c.get(Metric::DhtBytesIn) > 0);
    println!(
        "dht-only: seeder found in {:?} (first dht_reply with peers), download finished in {:?}",
        found_at.expect("a dht_reply with peers"),
        added.elapsed()
    );

    // A magnet link with nothing but the info-hash: the DHT gives the
    // seeder, the seeder the metadata and the data. (The first session
    // goes, so that the libtorrent seeder is the only one.)
    drop(ses);
    let ses = Session::new(dht_settings(&swarm.first())).unwrap();
    wait_alert(&ses, "dht_bootstrap", |a| a.alert_type() == AlertType::DhtBootstrap);
    let magnet =
        lt::proto::magnet::Magnet::parse(&format!("magnet:?xt=urn:btih:{}", meta.info_hash)).unwrap();
    let save = dir.path.join("magnet");
    let added = Instant::now();
    let id = ses.add_torrent(AddTorrentParams::new(TorrentSource::Magnet(magnet), &save)).unwrap();
    let mut metadata_at = None;
    wait_alert(&ses, "the magnet's torrent_finished", |a| {
        if a.alert_type() == AlertType::MetadataReceived {
            metadata_at = Some(added.elapsed());
        }
        a.alert_type() == AlertType::TorrentFinished && a.torrent == id
    });
    same_tree(&dir.path.join("data/dht"), &save.join("dht"));
    println!(
        "dht-only magnet: metadata in {:?}, download finished in {:?}",
        metadata_at.expect("metadata_received"),
        added.elapsed()
    );
}

#[test]
fn a_libtorrent_session_finds_an_lt_seeder_through_the_dht() {
    let dir = tempdir("dht-lt-seed");
    let torrent = libtorrent_torrent(&dir.path);
    let meta = load(&torrent);
    // The DHT first, lt joins it and seeds; then libtorrent downloads.
    let nodes = LtDht::start(6, &[], None);
    nodes.wait_line("\"ready\"");
    let ses = Session::new(dht_settings(&nodes.first())).unwrap();
    let id =
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), dir.path.join("data"))).unwrap();
    wait_alert(&ses, "the seed's announce", |a| {
        matches!(a.kind, AlertKind::DhtReply { .. }) && a.torrent == id
    });
    assert!(ses.counters().get(Metric::DhtAnnouncePeerOut) > 0, "lt announced itself");
    let save = dir.path.join("libtorrent");
    let leech = LtDht::start(2, &[nodes.first()], Some(("download", &torrent, &save)));
    leech.wait_line("\"finished\"");
    same_tree(&dir.path.join("data/dht"), &save.join("dht"));
    // lt is the only seed in this DHT: every byte came from it.
    let size = 3_000_001 + 700_000;
    assert!(ses.counters().get(Metric::SentPayloadBytes) >= size, "libtorrent downloaded from lt");
    assert!(ses.counters().get(Metric::DhtGetPeersIn) > 0, "libtorrent asked lt's node too");
}

/// `n` lt sessions in one DHT: the first bootstraps from nobody, the others from it.
fn lt_swarm(n: usize) -> Vec<Session> {
    let first = Session::new(dht_settings("")).unwrap();
    let boot = format!("127.0.0.1:{}", first.listen_port().unwrap());
    let mut all = vec![first];
    for _ in 1..n {
        all.push(Session::new(dht_settings(&boot)).unwrap());
    }
    all
}

#[test]
fn twenty_lt_sessions_find_one_anothers_torrents_and_the_table_survives_a_restart() {
    const N: usize = 20;
    let dir = tempdir("dht-twenty");
    let sessions = lt_swarm(N);
    let metas: Vec<_> = (0..N)
        .map(|i| {
            make_torrent_in(
                &dir.path.join(format!("src{i}")),
                &format!("t{i}"),
                &[("f.bin", 40_000 + i)],
                16384,
                i as u32 + 1,
            )
        })
        .collect();
    // Session i seeds torrent i and downloads torrent i+1, knowing no peer.
    let mut downloads = Vec::new();
    for (i, ses) in sessions.iter().enumerate() {
        let seed = AddTorrentParams::new(
            TorrentSource::Metainfo(metas[i].clone()),
            dir.path.join(format!("src{i}")),
        );
        ses.add_torrent(seed).unwrap();
        let j = (i + 1) % N;
        let save = dir.path.join(format!("dl{i}"));
        let id =
            ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(metas[j].clone()), &save)).unwrap();
        downloads.push((id, j, save));
    }
    for (i, (id, j, save)) in downloads.iter().enumerate() {
        wait_alert(&sessions[i], "torrent_finished", |a| {
            a.alert_type() == AlertType::TorrentFinished && a.torrent == *id
        });
        let src = dir.path.join(format!("src{j}/t{j}/f.bin"));
        assert!(
            files_equal(&src, &save.join(format!("t{j}/f.bin"))),
            "session {i}'s download of torrent {j}"
        );
    }
    // No tracker, no peer given: for each torrent, its seeder or its
    // downloader found the other in the DHT (the other side may have
    // dialled in), so at least one DHT address per torrent.
    let from_dht: i64 = sessions.iter().map(|s| s.counters().get(Metric::PeersFromDht)).sum();
    assert!(from_dht >= N as i64, "{from_dht} peer addresses from the DHT");
    let nodes: Vec<i64> = sessions.iter().map(|s| s.counters().get(Metric::DhtNodes)).collect();
    assert!(nodes.iter().all(|n| *n >= 8), "every routing table holds k nodes or more: {nodes:?}");
    let node_size = std::mem::size_of::<lt::engine::discovery::dht::routing::Node>();
    println!(
        "routing tables: {nodes:?} nodes; {node_size} bytes per node entry, {} bytes for the largest table",
        node_size as i64 * nodes.iter().max().unwrap()
    );

    // Restart session 7 from its saved state with no bootstrap node: its
    // id and table come back, and it still finds torrent 3's seeder.
    let mut sessions = sessions;
    let old = sessions.remove(7);
    let old_id = old.dht().unwrap().node_id();
    let state = old.save_state();
    drop(old);
    let mut s = dht_settings("");
    s.load_state(&state).unwrap();
    s.dht_bootstrap_nodes.clear();
    s.listen_interfaces = format!("127.0.0.1:{}", free_port());
    assert!(s.dht_state.as_ref().is_some_and(|d| d.nodes.len() >= 8), "the state holds the routing table");
    let again = Session::new(s).unwrap();
    assert_eq!(again.dht().unwrap().node_id(), old_id, "the node id survives");
    wait_until("the restored routing table to answer", || again.counters().get(Metric::DhtNodes) >= 8);
    let save = dir.path.join("again");
    let id =
        again.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(metas[3].clone()), &save)).unwrap();
    wait_alert(&again, "torrent_finished", |a| {
        a.alert_type() == AlertType::TorrentFinished && a.torrent == id
    });
    assert!(files_equal(&dir.path.join("src3/t3/f.bin"), &save.join("t3/f.bin")));
}

/// BEP 32: sessions listening on 127.0.0.1 and ::1 run a node on each. Six
/// such sessions bootstrap their IPv6 nodes from the first one's `[::1]`
/// address alone (the IPv4 nodes have no bootstrap node and stay empty),
/// find one another's torrents over the IPv6 DHT, and the saved state keeps
/// the IPv6 table (`nodes6`).
#[test]
fn dual_stack_sessions_find_one_anothers_torrents_over_the_ipv6_dht() {
    const N: usize = 6;
    let dir = tempdir("dht-ipv6");
    let on_both = |bootstrap: &str| {
        let port = free_port();
        Settings { listen_interfaces: format!("127.0.0.1:{port},[::1]:{port}"), ..dht_settings(bootstrap) }
    };
    let first = Session::new(on_both("")).unwrap();
    let boot = format!("[::1]:{}", first.listen_port().unwrap());
    let mut sessions = vec![first];
    for _ in 1..N {
        sessions.push(Session::new(on_both(&boot)).unwrap());
    }
    let metas: Vec<_> = (0..N)
        .map(|i| {
            make_torrent_in(
                &dir.path.join(format!("src{i}")),
                &format!("s{i}"),
                &[("f.bin", 30_000 + i)],
                16384,
                40 + i as u32,
            )
        })
        .collect();
    let mut downloads = Vec::new();
    for (i, ses) in sessions.iter().enumerate() {
        let seed = AddTorrentParams::new(
            TorrentSource::Metainfo(metas[i].clone()),
            dir.path.join(format!("src{i}")),
        );
        ses.add_torrent(seed).unwrap();
        let j = (i + 1) % N;
        let save = dir.path.join(format!("dl{i}"));
        let id =
            ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(metas[j].clone()), &save)).unwrap();
        downloads.push((id, j, save));
    }
    for (i, (id, j, save)) in downloads.iter().enumerate() {
        wait_alert(&sessions[i], "torrent_finished", |a| {
            a.alert_type() == AlertType::TorrentFinished && a.torrent == *id
        });
        assert!(files_equal(&dir.path.join(format!("src{j}/s{j}/f.bin")), &save.join(format!("s{j}/f.bin"))));
    }
    // The saved state carries the IPv6 table (`nodes6`) and loads back.
    let mut restored = Settings::default();
    restored.load_state(&sessions[3].save_state()).unwrap();
    let nodes = restored.dht_state.unwrap().nodes;
    assert!(nodes.len() >= 2, "the IPv6 table: {nodes:?}");
    assert!(nodes.iter().all(|n| n.addr.is_ipv6()), "no bootstrap node, no IPv4 node: {nodes:?}");
}

#[test]
fn force_announce_private_torrents_and_the_dht_stats_alert() {
    let dir = tempdir("dht-force");
    let sessions = lt_swarm(3);
    wait_until("a routing table", || sessions[2].counters().get(Metric::DhtNodes) >= 2);
    let meta = make_torrent_in(&dir.path, "c", &[("f.bin", 20_000)], 16384, 9);
    let id =
        sessions[2].add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), &dir.path)).unwrap();
    let t = sessions[2].torrent(id).unwrap();
    wait_alert(&sessions[2], "the first dht_reply", |a| matches!(a.kind, AlertKind::DhtReply { .. }));
    let before = sessions[2].counters().get(Metric::DhtGetPeersOut);
    t.force_dht_announce().unwrap();
    wait_alert(&sessions[2], "the forced dht_reply", |a| matches!(a.kind, AlertKind::DhtReply { .. }));
    assert!(sessions[2].counters().get(Metric::DhtGetPeersOut) > before, "a new lookup went out");
    // Another node got our announce.
    wait_alert(&sessions[0], "dht_announce", |a| matches!(a.kind, AlertKind::DhtAnnounce { .. }));
    assert!(
        sessions[0].counters().get(Metric::DhtTorrents) + sessions[1].counters().get(Metric::DhtTorrents)
            >= 1
    );

    sessions[2].post_dht_stats();
    let a = wait_alert(&sessions[2], "dht_stats", |a| a.alert_type() == AlertType::DhtStats);
    let AlertKind::DhtStats { stats } = a.kind else { unreachable!() };
    let in_buckets: u32 = stats.buckets.iter().map(|b| b.1).sum();
    assert_eq!(in_buckets as i64, sessions[2].counters().get(Metric::DhtNodes));
    assert_eq!(stats.node_id, sessions[2].dht().unwrap().node_id().0);

    // A session without the DHT refuses, as does a private torrent.
    let plain =
        Session::new(Settings { listen_interfaces: "127.0.0.1:0".into(), ..Settings::default() }).unwrap();
    let meta = make_torrent_in(&dir.path, "d", &[("g.bin", 1000)], 16384, 3);
    let id = plain.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), &dir.path)).unwrap();
    let err = plain.torrent(id).unwrap().force_dht_announce().unwrap_err();
    assert_eq!(err.kind(), lt::engine::ErrorKind::NotSupported);
    assert!(plain.dht().is_none());
}

#[test]
fn a_private_torrent_never_touches_the_dht() {
    use lt::engine::create::{create_torrent, CreateOptions};
    let dir = tempdir("dht-private");
    let sessions = lt_swarm(3);
    wait_until("a routing table", || sessions[2].counters().get(Metric::DhtNodes) >= 2);
    let content = dir.path.join("secret");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("s.bin"), vec![7u8; 30_000]).unwrap();
    let opts = CreateOptions { piece_length: Some(16384), private: true, ..Default::default() };
    let private =
        Arc::new(Metainfo::from_bytes(&create_torrent(&content, &opts, &mut |_, _| {}).unwrap()).unwrap());
    let public = make_torrent_in(&dir.path, "open", &[("o.bin", 30_000)], 16384, 5);
    let ses = &sessions[2];
    let private_id =
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(private.clone()), &dir.path)).unwrap();
    let public_id =
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(public.clone()), &dir.path)).unwrap();
    let err = ses.torrent(private_id).unwrap().force_dht_announce().unwrap_err();
    assert_eq!(err.kind(), lt::engine::ErrorKind::InvalidArgument);
    // Two rounds of the public torrent's lookups (the private one was added
    // first, so it would have gone first).
    for _ in 0..2 {
        ses.torrent(public_id).unwrap().force_dht_announce().unwrap();
        wait_alert(ses, "the public torrent's dht_reply", |a| {
            let dht_reply = matches!(a.kind, AlertKind::DhtReply { .. });
            assert!(!(dht_reply && a.torrent == private_id), "a DHT lookup of the private torrent");
            dht_reply && a.torrent == public_id
        });
    }
    // The other nodes saw lookups and announces of the public info-hash only.
    let mut seen = Vec::new();
    for other in &sessions[..2] {
        while let Some(a) = other.pop_alert() {
            if let AlertKind::DhtGetPeers { info_hash } | AlertKind::DhtAnnounce { info_hash, .. } = a.kind {
                seen.push(info_hash);
            }
        }
    }
    assert!(seen.contains(&public.info_hash), "the public torrent was looked up");
    assert!(!seen.contains(&private.info_hash), "the private torrent never was");
}

/// One UDP socket, routed by the packet's shape: a uTP SYN reaches uTP
/// (answered with ST_STATE), a malformed DHT query the DHT (answered with a
/// protocol error), a UDP tracker reply and noise are counted and dropped.
#[test]
fn udp_packets_are_routed_by_their_shape() {
    let ses = Session::new(dht_settings("")).unwrap();
    let port = ses.listen_port().unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = ("127.0.0.1", port);
    let mut utp = [0u8; 20];
    utp[0] = 0x41; // ST_SYN, version 1
    utp[2..4].copy_from_slice(&77u16.to_be_bytes()); // its connection id
    utp[16..18].copy_from_slice(&1u16.to_be_bytes()); // seq_nr
    sock.send_to(&utp, to).unwrap();
    sock.send_to(&[0, 0, 0, 1, 9, 9, 9, 9, 0, 0, 0, 0], to).unwrap(); // an announce reply
    sock.send_to(b"hello", to).unwrap();
    sock.send_to(b"d1:q4:ping1:t2:aa1:y1:qe", to).unwrap(); // a query without arguments
    let c = ses.counters();
    wait_until("four datagrams", || c.get(Metric::UdpPacketsIn) >= 4);
    assert_eq!(c.get(Metric::UdpUtpDropped), 0, "uTP has a handler");
    assert_eq!(c.get(Metric::UdpTrackerDropped), 1);
    assert_eq!(c.get(Metric::UdpUnknownDropped), 1);
    assert_eq!(c.get(Metric::DhtMessagesInDropped), 1, "the malformed query is dropped");
    // ... and answered with a protocol error; the SYN with ST_STATE.
    let mut buf = [0u8; 512];
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let (mut krpc_error, mut utp_state) = (false, false);
    while !(krpc_error && utp_state) {
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        if buf[0] == b'd' {
            let reply = lt::proto::dht::krpc::decode(&buf[..n]).unwrap();
            assert_eq!(reply.tid, b"aa");
            assert!(matches!(reply.body, lt::proto::dht::krpc::Body::Error { code: 203, .. }));
            krpc_error = true;
        } else {
            assert_eq!(buf[0], 0x21, "ST_STATE, version 1");
            assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 77, "sent to the SYN's connection id");
            utp_state = true;
        }
    }
}

/// Measurement, not a check (run with `--ignored --nocapture`): the DHT
/// traffic of an idle node in a DHT of eight lt sessions over one minute.
#[test]
#[ignore]
fn measure_idle_traffic_per_minute() {
    let sessions = lt_swarm(8);
    wait_until("full routing tables", || sessions.iter().all(|s| s.counters().get(Metric::DhtNodes) >= 7));
    std::thread::sleep(Duration::from_secs(10));
    let c = sessions[4].counters();
    let read = || {
        [Metric::DhtMessagesOut, Metric::DhtBytesOut, Metric::DhtMessagesIn, Metric::DhtBytesIn]
            .map(|m| c.get(m))
    };
    let before = read();
    std::thread::sleep(Duration::from_secs(60));
    let after = read();
    let d: Vec<i64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    println!("idle minute: {} messages / {} bytes out, {} messages / {} bytes in", d[0], d[1], d[2], d[3]);
}

/// BEP 5's PORT message: two lt sessions with DHT nodes and no bootstrap
/// node meet as BitTorrent peers; each tells the other its DHT port, and
/// each routing table takes the other's node.
#[test]
fn port_messages_seed_the_routing_tables() {
    let dir = tempdir("dht-port");
    let meta = make_torrent_in(&dir.path, "content", &[("a.bin", 100_000)], 16384, 7);
    let a = Session::new(dht_settings("")).unwrap();
    a.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir.path)).unwrap();
    let b = Session::new(dht_settings("")).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.path.join("b"));
    p.peers.push(format!("127.0.0.1:{}", a.listen_port().unwrap()).parse().unwrap());
    b.add_torrent(p).unwrap();
    for (ses, name) in [(&a, "a"), (&b, "b")] {
        wait_until(&format!("{name}'s routing table to take the other's node"), || {
            ses.refresh_live_gauges();
            ses.counters().get(Metric::DhtNodes) >= 1
        });
        assert!(ses.counters().get(Metric::OutDhtPort) >= 1, "{name} sent PORT");
        assert!(ses.counters().get(Metric::InDhtPort) >= 1, "{name} received PORT");
    }
}
