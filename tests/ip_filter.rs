//! The session's IP and port filters with real peers on loopback: a
//! blocked seeder is never connected, whether it comes from the
//! application, a tracker (opentracker), PEX or the DHT, and an allowed one
//! is (the download completes); IPv6 rules; a connected peer is closed when
//! a new filter blocks it; each refusal posts peer_blocked and counts.
//! Peers told apart by address listen on 127.0.0.2 (all of 127/8 is
//! loopback on Linux).

mod common;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_peer::{FakePeer, FakePeerOpts};
use common::swarm::{make_torrent, same, settings, wait_for, WAIT};
use common::{free_port, metric, tempdir, Opentracker};
use lt::engine::alerts::AlertKind;
use lt::engine::ip_filter::{BlockReason, IpFilter, PortFilter};
use lt::engine::{AddTorrentParams, Alert, AlertType, Session, Settings, TorrentId, TorrentSource};
use lt::proto::ip_filter::BLOCKED;
use lt::proto::metainfo::Metainfo;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A filter blocking `first..=last`.
fn blocking(first: &str, last: &str) -> IpFilter {
    let mut f = IpFilter::new();
    f.add_rule(ip(first), ip(last), BLOCKED).unwrap();
    f
}

/// A seeding session listening on `listen` ("127.0.0.2:0", "[::1]:0").
fn seed_on(meta: &Arc<Metainfo>, data: &Path, listen: &str, trackers: &[String]) -> Session {
    let ses = Session::new(Settings { listen_interfaces: listen.into(), ..settings() }).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), data);
    p.trackers = trackers.iter().map(|t| (t.clone(), 0)).collect();
    ses.add_torrent(p).unwrap();
    wait_for(&ses, "the seed's check", |a| a.alert_type() == AlertType::TorrentChecked);
    ses
}

fn seed_addr(ses: &Session, ip: &str) -> SocketAddr {
    SocketAddr::new(self::ip(ip), ses.listen_port().unwrap())
}

fn download_params(meta: &Arc<Metainfo>, save: &Path, peers: &[SocketAddr]) -> AddTorrentParams {
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), save);
    p.peers = peers.to_vec();
    p
}

fn is_blocked(a: &Alert, peer: SocketAddr, reason: BlockReason) -> bool {
    matches!(&a.kind, AlertKind::PeerBlocked { peer: p, reason: r } if *p == peer && *r == reason)
}

fn connected_to(alerts: &[Alert], peer: SocketAddr) -> bool {
    alerts.iter().any(|a| matches!(&a.kind, AlertKind::PeerConnect { peer: p, .. } if *p == peer))
}

/// The application names two seeders; the one on a blocked address is
/// refused (peer_blocked, reason 0, counted) and never connected; the
/// download completes from the other.
#[test]
fn api_peer_blocked_and_allowed_one_completes() {
    let dir = tempdir("ipf-api");
    let meta = make_torrent(&dir.path, &[("a.bin", 700_001)], 32 * 1024);
    let blocked_seed = seed_on(&meta, &dir.path, "127.0.0.2:0", &[]);
    let allowed_seed = seed_on(&meta, &dir.path, "127.0.0.1:0", &[]);
    let blocked = seed_addr(&blocked_seed, "127.0.0.2");
    let allowed = seed_addr(&allowed_seed, "127.0.0.1");

    let ses = Session::new(settings()).unwrap();
    ses.set_ip_filter(blocking("127.0.0.2", "127.0.0.2"));
    let save = dir.path.join("down");
    let id = ses.add_torrent(download_params(&meta, &save, &[blocked, allowed])).unwrap();
    let seen = wait_for(&ses, "the download", |a| a.alert_type() == AlertType::TorrentFinished);
    assert!(seen.iter().any(|a| a.torrent == id && is_blocked(a, blocked, BlockReason::IpFilter)));
    assert!(!connected_to(&seen, blocked), "the blocked seeder was connected");
    assert!(connected_to(&seen, allowed));
    assert!(same(&dir.path.join("content/a.bin"), &save.join("content/a.bin")));
    // The API again: refused again, and the blocked seeder never saw us.
    ses.torrent(id).unwrap().connect_peer(blocked);
    wait_for(&ses, "the second refusal", |a| is_blocked(a, blocked, BlockReason::IpFilter));
    assert_eq!(metric(&ses, "peer.blocked_by_ip_filter"), 2);
    assert_eq!(metric(&blocked_seed, "peer.incoming_connections"), 0);
}

/// The port filter judges the ports we dial: a seeder on a blocked port
/// is refused (reason 1); once the filter allows it, it is dialled.
#[test]
fn port_filter_blocks_dialling_until_lifted() {
    let dir = tempdir("ipf-port");
    let meta = make_torrent(&dir.path, &[("a.bin", 300_007)], 32 * 1024);
    let port = free_port();
    let seed = seed_on(&meta, &dir.path, &format!("127.0.0.1:{port}"), &[]);
    let addr = seed_addr(&seed, "127.0.0.1");

    let ses = Session::new(settings()).unwrap();
    let mut pf = PortFilter::new();
    pf.add_rule(port - 1, port + 1, BLOCKED).unwrap();
    ses.set_port_filter(pf.clone());
    assert_eq!(ses.port_filter(), pf);
    let save = dir.path.join("down");
    let id = ses.add_torrent(download_params(&meta, &save, &[addr])).unwrap();
    let seen = wait_for(&ses, "the refusal", |a| is_blocked(a, addr, BlockReason::PortFilter));
    assert!(!connected_to(&seen, addr));
    assert_eq!(metric(&ses, "peer.blocked_by_port_filter"), 1);
    assert_eq!(metric(&ses, "peer.blocked_by_ip_filter"), 0);

    ses.set_port_filter(PortFilter::new());
    ses.torrent(id).unwrap().connect_peer(addr);
    wait_for(&ses, "the download", |a| a.alert_type() == AlertType::TorrentFinished);
    assert!(same(&dir.path.join("content/a.bin"), &save.join("content/a.bin")));
}

/// A peer connected and downloading is closed when a new filter blocks
/// it: peer_blocked and peer_disconnected follow, and the torrent has no
/// peer left.
#[test]
fn new_filter_closes_a_connected_peer() {
    let dir = tempdir("ipf-close");
    let meta = make_torrent(&dir.path, &[("a.bin", 4_000_037)], 32 * 1024);
    let seed = seed_on(&meta, &dir.path, "127.0.0.1:0", &[]);
    let addr = seed_addr(&seed, "127.0.0.1");

    let ses = Session::new(settings()).unwrap();
    let mut p = download_params(&meta, &dir.path.join("down"), &[addr]);
    // Slow enough that the download is still running when the filter comes.
    p.download_limit = 20_000;
    let id = ses.add_torrent(p).unwrap();
    wait_for(
        &ses,
        "the connection",
        |a| matches!(&a.kind, AlertKind::PeerConnect { peer, .. } if *peer == addr),
    );

    // Overlapping rules: the later allows 127.0.0.2-3 inside the blocked
    // 127.0.0.0/24, and 127.0.0.1 stays blocked.
    let mut f = blocking("127.0.0.0", "127.0.0.255");
    f.add_rule(ip("127.0.0.2"), ip("127.0.0.3"), 0).unwrap();
    ses.set_ip_filter(f.clone());
    assert_eq!(ses.ip_filter(), f);
    let mut blocked = false;
    let mut disconnected = false;
    wait_for(&ses, "peer_blocked and peer_disconnected", |a| {
        blocked |= is_blocked(a, addr, BlockReason::IpFilter);
        disconnected |= matches!(&a.kind, AlertKind::PeerDisconnected { peer, .. } if *peer == addr);
        blocked && disconnected
    });
    let deadline = Instant::now() + WAIT;
    while ses.torrent_status(id).unwrap().num_peers != 0 {
        assert!(Instant::now() < deadline, "the peer is still counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ses.torrent_status(id).unwrap().progress < 1.0);
    assert_eq!(metric(&ses, "peer.blocked_by_ip_filter"), 1);
}

/// IPv6: a seeder on ::1 is blocked by an IPv6 rule; with the rule removed
/// again (remove_rule) it is dialled and the download completes.
#[test]
fn ipv6_rule_and_remove_rule() {
    let dir = tempdir("ipf-v6");
    let meta = make_torrent(&dir.path, &[("a.bin", 300_007)], 32 * 1024);
    let seed = seed_on(&meta, &dir.path, "[::1]:0", &[]);
    let addr = seed_addr(&seed, "::1");

    let ses = Session::new(Settings { listen_interfaces: "[::1]:0".into(), ..settings() }).unwrap();
    let mut f = blocking("::", "::ffff");
    ses.set_ip_filter(f.clone());
    let save = dir.path.join("down");
    let id = ses.add_torrent(download_params(&meta, &save, &[addr])).unwrap();
    let seen = wait_for(&ses, "the refusal", |a| is_blocked(a, addr, BlockReason::IpFilter));
    assert!(!connected_to(&seen, addr));

    assert_eq!(f.remove_rule(ip("::"), ip("::ffff")), Ok(1));
    ses.set_ip_filter(f);
    ses.torrent(id).unwrap().connect_peer(addr);
    wait_for(&ses, "the download", |a| a.alert_type() == AlertType::TorrentFinished);
    assert!(same(&dir.path.join("content/a.bin"), &save.join("content/a.bin")));
}

/// Peers from a tracker: opentracker lists the seeder (127.0.0.1); a
/// downloader blocking 127.0.0.1 refuses it (under the torrent), and the
/// seeder, which learns the downloader from the tracker too, is refused
/// when it dials in (a session alert: no torrent yet).
#[test]
fn tracker_peers_and_incoming_are_blocked() {
    let dir = tempdir("ipf-tracker");
    let meta = make_torrent(&dir.path, &[("a.bin", 300_007)], 32 * 1024);
    let tracker = Opentracker::start(&[meta.info_hash.to_hex()]);
    let url = tracker.http_announce_url();
    let seed = seed_on(&meta, &dir.path, "127.0.0.1:0", std::slice::from_ref(&url));
    let seed_addr = seed_addr(&seed, "127.0.0.1");
    tracker.wait_lists_seed(&meta.info_hash);

    let ses = Session::new(settings()).unwrap();
    ses.set_ip_filter(blocking("127.0.0.1", "127.0.0.1"));
    let mut p = download_params(&meta, &dir.path.join("down"), &[]);
    p.trackers = vec![(url, 0)];
    let id = ses.add_torrent(p).unwrap();
    let seen = wait_for(&ses, "the tracker's peer refused", |a| {
        a.torrent == id && is_blocked(a, seed_addr, BlockReason::IpFilter)
    });
    assert!(!connected_to(&seen, seed_addr));
    // The seeder hears of us at its next announce; make it announce now.
    let seed_id = seed.torrents()[0];
    seed.torrent(seed_id).unwrap().force_reannounce();
    let seen = wait_for(&ses, "the seeder's connection refused", |a| {
        a.torrent == TorrentId::NONE
            && matches!(&a.kind, AlertKind::PeerBlocked { peer, reason: BlockReason::IpFilter } if peer.ip() == seed_addr.ip())
    });
    assert!(!seen.iter().any(|a| a.alert_type() == AlertType::PeerConnect));
    assert_eq!(ses.torrent_status(id).unwrap().num_peers, 0);
    assert!(metric(&ses, "peer.blocked_by_ip_filter") >= 2);
}

/// Peers from PEX: a peer we may talk to announces one on a blocked
/// address; it is refused, and nothing ever connects to its listener.
#[test]
fn pex_peers_are_blocked() {
    let dir = tempdir("ipf-pex");
    let meta = make_torrent(&dir.path, &[("a.bin", 300_007)], 32 * 1024);
    let listener = TcpListener::bind("127.0.0.2:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let hidden = listener.local_addr().unwrap();
    let mut opts = FakePeerOpts::listener(meta.info_hash);
    opts.pex_added = vec![hidden];
    let announcer = FakePeer::start(opts);

    let ses = Session::new(settings()).unwrap();
    ses.set_ip_filter(blocking("127.0.0.2", "127.0.0.2"));
    let id = ses.add_torrent(download_params(&meta, &dir.path.join("down"), &[announcer.addr()])).unwrap();
    wait_for(&ses, "the PEX peer refused", |a| {
        a.torrent == id && is_blocked(a, hidden, BlockReason::IpFilter)
    });
    assert_eq!(announcer.record().pex_sent, 1);
    assert!(listener.accept().is_err(), "the blocked PEX peer was dialled");
    assert!(ses.torrent(id).unwrap().peers().iter().all(|p| p.addr != hidden));
}

/// An lt session with a DHT node on 127.0.0.1 bootstrapping from
/// `bootstrap` (as tests/dht.rs sets them up); no LSD, so the DHT is the
/// only way its torrents learn of peers.
fn dht_session(bootstrap: &str) -> Session {
    Session::new(Settings {
        listen_interfaces: format!("127.0.0.1:{}", free_port()),
        enable_dht: true,
        enable_lsd: false,
        dht_bootstrap_nodes: bootstrap.into(),
        dht_restrict_routing_ips: false,
        dht_restrict_search_ips: false,
        dht_enforce_node_id: false,
        dht_block_ratelimit: 100_000,
        dht_upload_rate_limit: 0,
        dht_announce_interval: 10,
        ..settings()
    })
    .unwrap()
}

/// Peers from the DHT: six lt nodes, one seeding; the downloader, given no
/// peer, finds the seeder in the DHT and refuses it while 127.0.0.1 is
/// blocked; with the filter lifted, its next lookup finds the seeder again
/// and the download completes. (The DHT's own traffic is not filtered, as
/// in libtorrent: the filter judges peers.)
#[test]
fn dht_peers_are_blocked_until_the_filter_is_lifted() {
    let dir = tempdir("ipf-dht");
    let meta = make_torrent(&dir.path, &[("a.bin", 300_007)], 32 * 1024);
    let first = dht_session("");
    let boot = format!("127.0.0.1:{}", first.listen_port().unwrap());
    let nodes: Vec<Session> = (0..4).map(|_| dht_session(&boot)).collect();
    let seed = dht_session(&boot);
    seed.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir.path)).unwrap();
    let seed_addr = seed_addr(&seed, "127.0.0.1");

    let ses = dht_session(&boot);
    ses.set_ip_filter(blocking("127.0.0.1", "127.0.0.1"));
    let save = dir.path.join("down");
    let id = ses.add_torrent(download_params(&meta, &save, &[])).unwrap();
    let seen = wait_for(&ses, "the DHT's peer refused", |a| {
        a.torrent == id && is_blocked(a, seed_addr, BlockReason::IpFilter)
    });
    assert!(!connected_to(&seen, seed_addr));
    assert_eq!(ses.torrent_status(id).unwrap().num_peers, 0);

    ses.set_ip_filter(IpFilter::new());
    ses.torrent(id).unwrap().force_dht_announce().unwrap();
    let seen =
        wait_for(&ses, "the download", |a| a.alert_type() == AlertType::TorrentFinished && a.torrent == id);
    assert!(!seen.iter().any(|a| a.alert_type() == AlertType::PeerBlocked));
    assert!(same(&dir.path.join("content/a.bin"), &save.join("content/a.bin")));
    drop(nodes);
}

/// A session that takes no incoming connections says so for each one it
/// refuses, as libtorrent does: peer_blocked with reason 5 (TCP disabled)
/// for a peer dialling over TCP, 4 (uTP disabled) for one over uTP, with
/// no torrent named; neither counts as an incoming connection.
#[test]
fn incoming_connections_on_a_disabled_transport_are_reported() {
    let dir = tempdir("ipf-transport");
    let meta = make_torrent(&dir.path, &[("a.bin", 100_001)], 32 * 1024);
    let closed =
        Session::new(Settings { enable_incoming_tcp: false, enable_incoming_utp: false, ..settings() })
            .unwrap();
    closed.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir.path)).unwrap();
    let target = seed_addr(&closed, "127.0.0.1");
    let tcp_only = Session::new(Settings { enable_outgoing_utp: false, ..settings() }).unwrap();
    tcp_only.add_torrent(download_params(&meta, &dir.path.join("tcp"), &[target])).unwrap();
    wait_for(&closed, "the TCP refusal", |a| {
        a.torrent == TorrentId::NONE
            && matches!(&a.kind, AlertKind::PeerBlocked { peer, reason: BlockReason::TcpDisabled } if peer.ip() == target.ip())
    });
    let utp_only = Session::new(Settings { enable_outgoing_tcp: false, ..settings() }).unwrap();
    utp_only.add_torrent(download_params(&meta, &dir.path.join("utp"), &[target])).unwrap();
    let utp_addr = SocketAddr::new(target.ip(), utp_only.listen_port().unwrap());
    wait_for(&closed, "the uTP refusal", |a| is_blocked(a, utp_addr, BlockReason::UtpDisabled));
    assert_eq!(metric(&closed, "peer.incoming_connections"), 0);
    assert_eq!(metric(&closed, "peer.blocked_by_ip_filter"), 0, "no filter was involved");
}
