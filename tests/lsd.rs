//! Local service discovery (BEP 14) on a loopback multicast group: two lt
//! sessions find each other and one downloads from the other; a private
//! torrent is never announced and takes no peer from LSD.
//!
//! The sessions join the group on 127.0.0.1, so nothing leaves the host.
//! When multicast does not work on this host's loopback (the probe below
//! says why), each test runs itself again inside a network namespace it
//! makes (`ip netns`, as root). When that is impossible too, the test says
//! so and passes, unless `LT_REQUIRE_NETNS=1` asks it to fail.
//! `LT_LSD_NETNS=1` takes the namespace path even when the host's loopback
//! would do (to check that path).

mod common;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::swarm::{make_torrent, make_torrent_in, same, settings, WAIT};
use common::tempdir;
use lt::engine::create::{create_torrent, CreateOptions};
use lt::engine::discovery::PeerSource;
use lt::engine::stats::Metric;
use lt::engine::{AddTorrentParams, AlertKind, Session, Settings, TorrentId, TorrentSource, TorrentState};
use lt::proto::lsd::{Announce, GROUP_V4};
use lt::proto::metainfo::Metainfo;
use lt::proto::types::InfoHash;

/// Set in the copy of the test binary that runs inside the namespace.
const CHILD_ENV: &str = "LT_LSD_IN_NETNS";

fn lsd_settings() -> Settings {
    Settings { enable_lsd: true, ..settings() }
}

/// A socket on the LSD group and port, joined on 127.0.0.1, sharing the
/// port with the sessions (as a second client on the host would).
fn group_socket() -> UdpSocket {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&SocketAddr::from(GROUP_V4).into()).unwrap();
    s.join_multicast_v4(GROUP_V4.ip(), &Ipv4Addr::LOCALHOST).unwrap();
    s.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    s.set_multicast_ttl_v4(1).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    s.into()
}

/// Whether a datagram sent to the group on 127.0.0.1 comes back here; the
/// reason when it does not. Uses a port of its own, not LSD's.
fn loopback_multicast_works() -> Result<(), String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let probe = || -> std::io::Result<bool> {
        let rx = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        rx.bind(&SocketAddr::new((*GROUP_V4.ip()).into(), 0).into())?;
        rx.join_multicast_v4(GROUP_V4.ip(), &Ipv4Addr::LOCALHOST)?;
        let rx: UdpSocket = rx.into();
        rx.set_read_timeout(Some(Duration::from_secs(2)))?;
        let to = SocketAddr::new((*GROUP_V4.ip()).into(), rx.local_addr()?.port());
        let tx = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        tx.set_multicast_if_v4(&Ipv4Addr::LOCALHOST)?;
        tx.set_multicast_ttl_v4(1)?;
        tx.send_to(b"lt-lsd-probe", &to.into())?;
        let mut buf = [0u8; 32];
        Ok(matches!(rx.recv_from(&mut buf), Ok((12, _))) && &buf[..12] == b"lt-lsd-probe")
    };
    match probe() {
        Ok(true) => Ok(()),
        Ok(false) => Err("a datagram sent to 239.192.152.143 on 127.0.0.1 did not come back".into()),
        Err(e) => Err(format!("multicast on 127.0.0.1 failed: {e}")),
    }
}

/// Runs `body` where loopback multicast works: here, or in a fresh network
/// namespace through a copy of this test binary running only `name`.
fn on_multicast_loopback(name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        return body();
    }
    let forced = std::env::var("LT_LSD_NETNS").as_deref() == Ok("1");
    let why = match loopback_multicast_works() {
        Ok(()) if !forced => return body(),
        Ok(()) => "LT_LSD_NETNS=1".to_string(),
        Err(why) => why,
    };
    eprintln!("{name}: {why}; running in a network namespace");
    match run_in_namespace(name) {
        Ok(()) => {}
        Err(e) if std::env::var("LT_REQUIRE_NETNS").as_deref() == Ok("1") => {
            panic!("{name} cannot run: {why}, and {e}")
        }
        Err(e) => eprintln!("{name} SKIPPED: cannot test local service discovery here: {why}, and {e}"),
    }
}

/// Makes a namespace with only `lo`, runs this binary's test `name` in it
/// and removes the namespace. `Err` when the namespace cannot be made;
/// a failure of the test inside is a panic here.
fn run_in_namespace(name: &str) -> Result<(), String> {
    let ns = format!("lt-lsd-{}-{name}", std::process::id());
    let ip = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("ip").args(args).output().map_err(|e| format!("running ip: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("ip {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        }
    };
    ip(&["netns", "add", &ns])?;
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _remove = Remove(ns.clone());
    ip(&["-n", &ns, "link", "set", "lo", "up"])?;
    let exe = std::env::current_exe().map_err(|e| format!("finding the test binary: {e}"))?;
    let status = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .status()
        .map_err(|e| format!("running the test in the namespace: {e}"))?;
    assert!(status.success(), "{name} failed inside network namespace {ns}");
    Ok(())
}

/// Waits until `f` holds, checking every 20 ms; panics with `what` after `WAIT`.
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every alert waiting in `ses`, popped.
fn drain(ses: &Session) -> Vec<lt::engine::Alert> {
    std::iter::from_fn(|| ses.pop_alert()).collect()
}

#[test]
fn two_sessions_find_each_other_and_download() {
    on_multicast_loopback("two_sessions_find_each_other_and_download", || {
        let dir = tempdir("lsd");
        let meta = make_torrent(&dir.path, &[("a.bin", 3_000_017), ("b.bin", 1_000_003)], 64 * 1024);
        let seeder = Session::new(lsd_settings()).unwrap();
        // A download limit stretches the transfer over seconds, so the
        // connection is there to be seen in the peer lists below.
        let leecher = Session::new(Settings { download_rate_limit: 1_000_000, ..lsd_settings() }).unwrap();
        let seed_id = seeder
            .add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir.path))
            .unwrap();
        let save = dir.path.join("leech");
        // No tracker, no peer: LSD is the only way the two can meet.
        assert!(meta.trackers.is_empty());
        let leech_id =
            leecher.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save)).unwrap();

        let mut lsd_sources_seen = 0;
        let mut lsd_peer_alerts = Vec::new();
        let deadline = Instant::now() + WAIT;
        loop {
            for (ses, id) in [(&seeder, seed_id), (&leecher, leech_id)] {
                let t = ses.torrent(id).unwrap();
                lsd_sources_seen +=
                    t.peers().iter().filter(|p| p.info().source & PeerSource::Lsd.bit() != 0).count();
                for a in drain(ses) {
                    if let AlertKind::LsdPeer { peer } = a.kind {
                        assert_eq!(a.torrent, id);
                        lsd_peer_alerts.push(peer);
                    }
                }
            }
            if leecher.torrent_status(leech_id).unwrap().state == TorrentState::Seeding {
                break;
            }
            assert!(Instant::now() < deadline, "the download did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
        for f in ["a.bin", "b.bin"] {
            assert!(same(&dir.path.join("content").join(f), &save.join("content").join(f)), "{f} differs");
        }
        // The peer was learnt through LSD, shown as such and counted.
        assert!(lsd_sources_seen > 0, "no connected peer had the LSD source bit");
        let from_lsd = |s: &Session| s.counters().get(Metric::PeersFromLsd);
        assert!(from_lsd(&seeder) + from_lsd(&leecher) >= 1);
        let ports: HashSet<u16> = [&seeder, &leecher].iter().map(|s| s.listen_port().unwrap()).collect();
        assert!(!lsd_peer_alerts.is_empty(), "no lsd_peer alert");
        for peer in &lsd_peer_alerts {
            assert!(peer.ip().is_loopback() && ports.contains(&peer.port()), "lsd_peer for {peer}");
        }
        // Each session announces (the seeder once its check is over, at
        // most 4 s later), hears the other's announces, and hears its own
        // come back and ignores them (one group, one host).
        for s in [&seeder, &leecher] {
            let c = s.counters();
            until("announces sent, heard and ignored", || {
                c.get(Metric::LsdAnnouncesSent) >= 1
                    && c.get(Metric::LsdAnnouncesReceived) >= 1
                    && c.get(Metric::LsdAnnouncesOwn) >= 1
            });
            assert_eq!(c.get(Metric::LsdInvalid), 0);
        }
    });
}

/// A torrent created from generated files with the private flag.
fn private_torrent(dir: &std::path::Path) -> Arc<Metainfo> {
    make_torrent_in(dir, "private", &[("p.bin", 100_000)], 32 * 1024, 777);
    let opts = CreateOptions { piece_length: Some(32 * 1024), private: true, ..Default::default() };
    let bytes = create_torrent(&dir.join("private"), &opts, &mut |_, _| {}).unwrap();
    let meta = Arc::new(Metainfo::from_bytes(&bytes).unwrap());
    assert!(meta.private);
    meta
}

/// Reads announces from `socket` until `stop` says so; answers the
/// info-hashes announced by the session listening on `port`, in order.
fn announced_by(socket: &UdpSocket, port: u16, mut stop: impl FnMut(&[InfoHash]) -> bool) -> Vec<InfoHash> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    while !stop(&seen) {
        assert!(Instant::now() < deadline, "timed out reading announces; saw {seen:?}");
        let Ok((n, _)) = socket.recv_from(&mut buf) else { continue };
        if let Ok(a) = Announce::parse(&buf[..n]) {
            if a.port == port {
                seen.extend(a.info_hashes);
            }
        }
    }
    seen
}

#[test]
fn a_private_torrent_is_not_announced_and_takes_no_lsd_peer() {
    on_multicast_loopback("a_private_torrent_is_not_announced_and_takes_no_lsd_peer", || {
        let dir = tempdir("lsd-private");
        let private = private_torrent(&dir.path);
        let public = make_torrent_in(&dir.path, "public", &[("q.bin", 100_000)], 32 * 1024, 778);
        let listener = group_socket();
        let ses = Session::new(lsd_settings()).unwrap();
        let port = ses.listen_port().unwrap();
        // Seed mode: both run at once, without a check. The private one
        // starts first, so its turn to be announced comes first.
        let add = |meta: &Arc<Metainfo>| -> TorrentId {
            let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir.path);
            p.seed_mode = true;
            ses.add_torrent(p).unwrap()
        };
        add(&private);
        let public_id = add(&public);

        // The public torrent goes out three times (0, 2 and 6 s); the
        // private one never, though its turn came before.
        let seen = announced_by(&listener, port, |seen| {
            seen.iter().filter(|ih| **ih == public.info_hash).count() == 3
        });
        assert!(!seen.contains(&private.info_hash), "the private torrent was announced: {seen:?}");
        assert_eq!(seen, vec![public.info_hash; 3]);
        until("our own announces to come back", || ses.counters().get(Metric::LsdAnnouncesOwn) >= 3);
        assert_eq!(ses.counters().get(Metric::LsdAnnouncesSent), 3);

        // Another client announces both torrents: the public one takes the
        // peer, the private one refuses it.
        let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let announce = Announce {
            port: other.port(),
            info_hashes: vec![private.info_hash, public.info_hash],
            cookie: Some(0x1234),
        };
        listener.send_to(&announce.encode(false), SocketAddr::from(GROUP_V4)).unwrap();
        until("the announce to be handled", || ses.counters().get(Metric::PeersRefusedPrivate) == 1);
        assert_eq!(ses.counters().get(Metric::PeersFromLsd), 1);
        assert!(ses.counters().get(Metric::LsdAnnouncesReceived) >= 1);
        let lsd_peers: Vec<(TorrentId, SocketAddr)> = drain(&ses)
            .into_iter()
            .filter_map(|a| match a.kind {
                AlertKind::LsdPeer { peer } => Some((a.torrent, peer)),
                _ => None,
            })
            .collect();
        assert_eq!(lsd_peers, vec![(public_id, other)]);
    });
}
