//! Local service discovery (BEP 14) on a loopback multicast group: two lt
//! sessions find each other and one downloads from the other; lt and
//! libtorrent-rasterbar hear each other's announces; a private torrent is
//! never announced and takes no peer from LSD.
//!
//! The sessions join the group on 127.0.0.1, so nothing leaves the host.
//! When multicast does not work on this host's loopback (the probe below
//! says why), each test runs itself again inside a network namespace it
//! makes (`ip netns`, as root). When that is impossible too, the test says
//! so and passes, unless `LT_REQUIRE_NETNS=1` asks it to fail.
//! `LT_LSD_NETNS=1` takes the namespace path even when the host's loopback
//! would do (to check that path). Two tests always run in a namespace of
//! their own, as they change what the host's network would share: a
//! second interface, and the LSD port held without reuse (`lsd_error`).

mod common;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::swarm::{make_torrent_in, same, settings, WAIT};
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

/// A seed for file contents no other run shares. The group on the host's
/// loopback is shared by every process on the host, other runs of these
/// tests included: torrents with fixed contents would have the same
/// info-hashes there, and each run would take the other's peers.
fn unique_seed() -> u32 {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    (std::process::id() << 12) ^ nanos ^ N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

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

/// Says `text` on the test's real stderr: libtest captures `eprintln!` of
/// passing tests, and a skipped test must say so.
fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
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
    say(&format!("{name}: {why}; running in a network namespace"));
    match run_in_namespace(name, &[]) {
        Ok(()) => {}
        Err(e) if std::env::var("LT_REQUIRE_NETNS").as_deref() == Ok("1") => {
            panic!("{name} cannot run: {why}, and {e}")
        }
        Err(e) => say(&format!(
            "{name} SKIPPED: cannot test local service discovery here: {why}, and {e} \
             (LT_REQUIRE_NETNS=1 makes this a failure)"
        )),
    }
}

/// Makes a namespace with `lo` up and what the `ip -n NS ...` commands
/// `setup` add, runs this binary's test `name` in it and removes the
/// namespace. `Err` when the namespace cannot be made; a failure of the
/// test inside is a panic here.
fn run_in_namespace(name: &str, setup: &[&[&str]]) -> Result<(), String> {
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
    for args in setup {
        ip(&[&["-n", &ns][..], args].concat())?;
    }
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
        let files = [("a.bin", 3_000_017), ("b.bin", 1_000_003)];
        let meta = make_torrent_in(&dir.path, "content", &files, 64 * 1024, unique_seed());
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
    make_torrent_in(dir, "private", &[("p.bin", 100_000)], 32 * 1024, unique_seed());
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
        let public = make_torrent_in(&dir.path, "public", &[("q.bin", 100_000)], 32 * 1024, unique_seed());
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
        // The counters move just after the datagrams leave: wait for them.
        until("three announces counted", || ses.counters().get(Metric::LsdAnnouncesSent) == 3);
        until("our own announces to come back", || ses.counters().get(Metric::LsdAnnouncesOwn) == 3);

        // Another client announces both torrents: the public one takes the
        // peer, the private one refuses it.
        let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let announce = Announce {
            port: other.port(),
            info_hashes: vec![private.info_hash, public.info_hash],
            cookie: Some(0x1234),
        };
        listener.send_to(&announce.encode(false), SocketAddr::from(GROUP_V4)).unwrap();
        let c = ses.counters();
        until("the announce to be handled", || {
            c.get(Metric::PeersRefusedPrivate) == 1 && c.get(Metric::PeersFromLsd) == 1
        });
        assert!(ses.counters().get(Metric::LsdAnnouncesReceived) >= 1);
        // The alert follows the counter: collect until it is there.
        let mut lsd_peers: Vec<(TorrentId, SocketAddr)> = Vec::new();
        until("the lsd_peer alert", || {
            lsd_peers.extend(drain(&ses).into_iter().filter_map(|a| match a.kind {
                AlertKind::LsdPeer { peer } => Some((a.torrent, peer)),
                _ => None,
            }));
            !lsd_peers.is_empty()
        });
        assert_eq!(lsd_peers, vec![(public_id, other)]);
    });
}

/// libtorrent-rasterbar seeding `torrent` from `save_path` on
/// 127.0.0.1:`port` with LSD on: prints `ready` once seeding, then one
/// `lsd_peer <message>` line per peer its LSD hears.
const LIBTORRENT_LSD_SEEDER: &str = r#"
import sys, libtorrent as lt
torrent, save_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ses = lt.session({"listen_interfaces": "127.0.0.1:%d" % port, "enable_lsd": True,
                  "enable_dht": False, "enable_upnp": False, "enable_natpmp": False,
                  "dht_bootstrap_nodes": "", "allow_multiple_connections_per_ip": True,
                  "enable_outgoing_utp": False, "enable_incoming_utp": False,
                  "alert_mask": lt.alert.category_t.all_categories})
h = ses.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save_path})
ready = False
while True:
    ses.wait_for_alert(200)
    for a in ses.pop_alerts():
        if a.what() == "lsd_peer":
            print("lsd_peer " + a.message(), flush=True)
    if not ready and h.status().is_seeding:
        ready = True
        print("ready", flush=True)
"#;

/// A child process killed when dropped, its stdout lines on a channel.
struct Child {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Child {
    /// Waits for a line for which `f` holds.
    fn wait_line(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if f(&line) => return line,
                Ok(_) => {}
                Err(e) => panic!("libtorrent: no {what} ({e})"),
            }
        }
    }
}

#[test]
fn lt_and_libtorrent_find_each_other() {
    on_multicast_loopback("lt_and_libtorrent_find_each_other", || {
        use std::io::BufRead;
        let python = "/usr/bin/python3";
        assert!(std::path::Path::new(python).exists(), "{python} (python3-libtorrent) is missing");
        let dir = tempdir("lsd-libtorrent");
        make_torrent_in(&dir.path, "content", &[("c.bin", 2_000_003)], 64 * 1024, unique_seed());
        let opts = CreateOptions { piece_length: Some(64 * 1024), ..Default::default() };
        let bytes = create_torrent(&dir.path.join("content"), &opts, &mut |_, _| {}).unwrap();
        let torrent_file = dir.path.join("c.torrent");
        std::fs::write(&torrent_file, &bytes).unwrap();
        let meta = Arc::new(Metainfo::from_bytes(&bytes).unwrap());

        // lt announces every 2 s, so libtorrent, which joins the group
        // after lt's first announce, still hears one.
        let leecher =
            Session::new(Settings { local_service_announce_interval: 2, ..lsd_settings() }).unwrap();
        let save = dir.path.join("leech");
        let id = leecher.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), &save)).unwrap();

        let lt_port = common::free_port();
        let mut child = Command::new(python)
            .args(["-c", LIBTORRENT_LSD_SEEDER])
            .arg(&torrent_file)
            .arg(&dir.path)
            .arg(lt_port.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start libtorrent");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let seeder = Child { child, lines };
        seeder.wait_line("ready", |l| l == "ready");

        // lt hears libtorrent's announce, dials it and downloads.
        let mut lsd_peers = Vec::new();
        until("the download from libtorrent", || {
            lsd_peers.extend(drain(&leecher).into_iter().filter_map(|a| match a.kind {
                AlertKind::LsdPeer { peer } => Some(peer),
                _ => None,
            }));
            leecher.torrent_status(id).unwrap().state == TorrentState::Seeding
        });
        assert!(same(&dir.path.join("content/c.bin"), &save.join("content/c.bin")));
        let libtorrent: SocketAddr = format!("127.0.0.1:{lt_port}").parse().unwrap();
        assert!(lsd_peers.contains(&libtorrent), "lsd_peer alerts: {lsd_peers:?}");
        assert!(leecher.counters().get(Metric::PeersFromLsd) >= 1);
        // libtorrent parses our announce: it names lt's listen port.
        let ours = format!("127.0.0.1:{} ", leecher.listen_port().unwrap());
        seeder.wait_line("lsd_peer for lt", |l| l.starts_with("lsd_peer") && l.contains(&ours));
    });
}

#[test]
fn lsd_turns_on_and_off_on_a_running_session() {
    on_multicast_loopback("lsd_turns_on_and_off_on_a_running_session", || {
        let dir = tempdir("lsd-toggle");
        let meta = make_torrent_in(&dir.path, "toggle", &[("t.bin", 50_000)], 32 * 1024, unique_seed());
        let listener = group_socket();
        let ses = Session::new(settings()).unwrap();
        assert!(!ses.settings().enable_lsd, "off by default");
        let port = ses.listen_port().unwrap();
        let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir.path);
        p.seed_mode = true;
        ses.add_torrent(p).unwrap();
        for round in 1..=2 {
            // Turned on, the session joins and announces its torrent at once.
            ses.apply_settings(lsd_settings()).unwrap();
            let seen = announced_by(&listener, port, |seen| !seen.is_empty());
            assert_eq!(seen, vec![meta.info_hash], "round {round}");
            ses.apply_settings(settings()).unwrap();
        }
        // Both rounds are counted (the counter moves just after the
        // datagram leaves).
        until("both rounds' announces counted", || ses.counters().get(Metric::LsdAnnouncesSent) >= 2);
    });
}

/// Runs `body` only in a network namespace of its own, made with `setup`
/// (for what must not touch the host's network).
fn in_own_namespace(name: &str, setup: &[&[&str]], body: impl FnOnce()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        return body();
    }
    match run_in_namespace(name, setup) {
        Ok(()) => {}
        Err(e) if std::env::var("LT_REQUIRE_NETNS").as_deref() == Ok("1") => panic!("{name} cannot run: {e}"),
        Err(e) => say(&format!("{name} SKIPPED: it needs a network namespace, and {e}")),
    }
}

#[test]
fn a_loopback_session_takes_no_announce_from_another_interface() {
    // A second interface exists only in a namespace of our own: a bridge
    // without ports, so nothing it sends goes anywhere.
    let setup: [&[&str]; 3] = [
        &["link", "add", "ltlsd0", "type", "bridge"],
        &["addr", "add", "10.9.9.1/24", "dev", "ltlsd0"],
        &["link", "set", "ltlsd0", "up"],
    ];
    in_own_namespace("a_loopback_session_takes_no_announce_from_another_interface", &setup, scope_body);
}

/// The session on 127.0.0.1 and the other client on the bridge.
fn scope_body() {
    let dir = tempdir("lsd-scope");
    let meta = make_torrent_in(&dir.path, "scope", &[("s.bin", 50_000)], 32 * 1024, unique_seed());
    let ses = Session::new(lsd_settings()).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir.path);
    p.seed_mode = true;
    let id = ses.add_torrent(p).unwrap();
    // Another client on the bridge's network, which joined the group there.
    let bridge = {
        use socket2::{Domain, Protocol, Socket, Type};
        let iface = Ipv4Addr::new(10, 9, 9, 1);
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_reuse_address(true).unwrap();
        s.bind(&SocketAddr::from(GROUP_V4).into()).unwrap();
        s.join_multicast_v4(GROUP_V4.ip(), &iface).unwrap();
        s.set_multicast_if_v4(&iface).unwrap();
        UdpSocket::from(s)
    };
    let announce = |port| Announce { port, info_hashes: vec![meta.info_hash], cookie: Some(7) }.encode(false);
    // Sent on the bridge first, then on lo: once the second is taken, the
    // first would have been too.
    bridge.send_to(&announce(7001), SocketAddr::from(GROUP_V4)).unwrap();
    group_socket().send_to(&announce(7002), SocketAddr::from(GROUP_V4)).unwrap();
    until("the announce on lo", || ses.counters().get(Metric::PeersFromLsd) >= 1);
    let peers: Vec<SocketAddr> = drain(&ses)
        .into_iter()
        .filter_map(|a| match a.kind {
            AlertKind::LsdPeer { peer } if a.torrent == id => Some(peer),
            _ => None,
        })
        .collect();
    assert_eq!(peers, vec!["127.0.0.1:7002".parse::<SocketAddr>().unwrap()]);
    assert_eq!(ses.counters().get(Metric::PeersFromLsd), 1);
}

#[test]
fn a_port_lsd_cannot_share_is_an_lsd_error() {
    // Only in a namespace: holding the LSD port on the host would break
    // every other LSD client there.
    in_own_namespace("a_port_lsd_cannot_share_is_an_lsd_error", &[], || {
        // Bound without reuse-address: nobody else may bind the port.
        let _holder = UdpSocket::bind(SocketAddr::from(GROUP_V4)).unwrap();
        let ses = Session::new(lsd_settings()).unwrap();
        let errors: Vec<_> = drain(&ses)
            .into_iter()
            .filter_map(|a| match a.kind {
                AlertKind::LsdError { local, error } => Some((local, error.kind, a.message)),
                _ => None,
            })
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (local, kind, message) = &errors[0];
        assert_eq!(*local, std::net::IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(*kind, lt::engine::ErrorKind::Io);
        assert!(message.contains("239.192.152.143:6771"), "{message}");
        // Turned off and on again, it tries again (and fails again).
        ses.apply_settings(settings()).unwrap();
        ses.apply_settings(lsd_settings()).unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let a = ses.wait_for_alert(Duration::from_millis(200));
            if a.is_some_and(|a| matches!(a.kind, AlertKind::LsdError { .. })) {
                break;
            }
            assert!(Instant::now() < deadline, "no second lsd_error");
        }
    });
}
