//! IPv6 on `::1`: lt downloads from a libtorrent seeder listening on `[::1]`
//! that it found through a tracker on `[::1]`, a libtorrent downloader on
//! `[::1]` finds lt the same way, and IPv4 and IPv6 listen sockets share one
//! port.
//!
//! The tracker here is a small one of the test's own: Debian's opentracker
//! is built IPv4-only (`opentracker -i ::1` answers "V4 Tracker is V4
//! only!"). It keeps the announces it is sent and answers with BEP 7's
//! `peers6`, which is all a tracker does for IPv6 peers.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{files_equal, free_port, make_data, make_torrent, metric, tempdir, LtPeer, SeedOpts};
use lt::engine::{AddTorrentParams, AlertType, Session, Settings, TorrentSource};
use lt::proto::metainfo::Metainfo;

const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const LAYOUT: &[(&str, u64)] = &[("six/a.bin", 3_000_011), ("six/b.bin", 1_500_000)];
const WAIT: Duration = Duration::from_secs(240);

/// Announces a tracker has seen, per info-hash: the peers' addresses.
type Swarms = Arc<Mutex<HashMap<Vec<u8>, Vec<SocketAddr>>>>;

/// An HTTP tracker on `[::1]` that lists every peer that announced.
struct Tracker6 {
    port: u16,
    swarms: Swarms,
    stop: Arc<AtomicBool>,
}

impl Tracker6 {
    fn start() -> Tracker6 {
        let listener = TcpListener::bind((V6, 0)).expect("IPv6 loopback (::1) is needed for this test");
        let port = listener.local_addr().unwrap().port();
        let swarms: Swarms = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (swarms.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    return;
                }
                if let Ok(conn) = conn {
                    Self::serve(conn, &s);
                }
            }
        });
        Tracker6 { port, swarms, stop }
    }

    fn url(&self) -> String {
        format!("http://[::1]:{}/announce", self.port)
    }

    fn peers(&self, info_hash: &[u8]) -> Vec<SocketAddr> {
        self.swarms.lock().unwrap().get(info_hash).cloned().unwrap_or_default()
    }

    fn serve(mut conn: TcpStream, swarms: &Swarms) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let line = String::from_utf8_lossy(&req).lines().next().unwrap_or("").to_string();
        let query =
            line.split_whitespace().nth(1).and_then(|t| t.split_once('?')).map(|(_, q)| q).unwrap_or("");
        let mut info_hash = None;
        let mut port = None;
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "info_hash" => info_hash = Some(percent_decode(v)),
                "port" => port = v.parse::<u16>().ok(),
                _ => {}
            }
        }
        let (Some(ih), Some(port)) = (info_hash, port) else { return };
        let me = SocketAddr::new(conn.peer_addr().unwrap().ip(), port);
        let others: Vec<SocketAddr> = {
            let mut swarms = swarms.lock().unwrap();
            let swarm = swarms.entry(ih).or_default();
            if !swarm.contains(&me) {
                swarm.push(me);
            }
            swarm.iter().filter(|p| **p != me).copied().collect()
        };
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for p in others {
            match p.ip() {
                IpAddr::V4(ip) => v4.extend_from_slice(&ip.octets()),
                IpAddr::V6(ip) => v6.extend_from_slice(&ip.octets()),
            }
            let out = if p.is_ipv4() { &mut v4 } else { &mut v6 };
            out.extend_from_slice(&p.port().to_be_bytes());
        }
        let mut body = format!("d8:intervali5e5:peers{}:", v4.len()).into_bytes();
        body.extend_from_slice(&v4);
        body.extend_from_slice(format!("6:peers6{}:", v6.len()).as_bytes());
        body.extend_from_slice(&v6);
        body.push(b'e');
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(head.as_bytes());
        let _ = conn.write_all(&body);
    }
}

impl Drop for Tracker6 {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect((V6, self.port));
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(0));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn load(path: &Path) -> Arc<Metainfo> {
    Arc::new(Metainfo::from_bytes(&std::fs::read(path).unwrap()).unwrap())
}

/// lt listening on 127.0.0.1 and ::1 with one port.
fn dual_stack() -> Settings {
    let port = free_port();
    Settings {
        listen_interfaces: format!("127.0.0.1:{port},[::1]:{port}"),
        alert_mask: lt::engine::alerts::category::ALL as i64,
        ..Settings::default()
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Data (from `seed`: each test its own, so no two tests share an
/// info-hash) and a torrent of it announced on `tracker`.
fn torrent_with_tracker(dir: &Path, tracker: &Tracker6, seed: u64) -> (std::path::PathBuf, Arc<Metainfo>) {
    let data = dir.join("data");
    make_data(&data, LAYOUT, seed);
    let file = dir.join("six.torrent");
    make_torrent(&data.join("six"), &file, 64 * 1024, &[tracker.url()], false);
    let meta = load(&file);
    (file, meta)
}

#[test]
fn lt_downloads_from_a_libtorrent_seeder_on_ipv6_found_through_an_ipv6_tracker() {
    let dir = tempdir("ipv6-down");
    let tracker = Tracker6::start();
    let (file, meta) = torrent_with_tracker(&dir.path, &tracker, 61);
    let seeder =
        LtPeer::seed(&file, &dir.path.join("data"), &SeedOpts { ip: Some(V6), ..SeedOpts::default() });
    let seeder_addr = SocketAddr::new(V6, seeder.port);
    wait_until("the seeder's announce", || tracker.peers(&meta.info_hash.0).contains(&seeder_addr));

    let ses = Session::new(dual_stack()).unwrap();
    let port = ses.listen_port().unwrap();
    let save = dir.path.join("lt");
    let id = ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &save)).unwrap();
    let mut saw_v6_peer = false;
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "the download did not finish: {:?}",
            ses.torrent_status(id).unwrap()
        );
        saw_v6_peer |= ses.torrent(id).unwrap().peers().iter().any(|p| p.addr == seeder_addr);
        if let Some(a) = ses.wait_for_alert(Duration::from_millis(100)) {
            if a.alert_type() == AlertType::TorrentFinished && a.torrent == id {
                break;
            }
        }
    }
    for (name, _) in LAYOUT {
        assert!(files_equal(&dir.path.join("data").join(name), &save.join(name)), "{name} differs");
    }
    assert!(saw_v6_peer, "the seeder was connected at [::1]:{}", seeder.port);
    assert!(
        tracker.peers(&meta.info_hash.0).contains(&SocketAddr::new(V6, port)),
        "lt announced over IPv6 with its listen port"
    );
}

#[test]
fn a_libtorrent_downloader_on_ipv6_finds_lt_through_an_ipv6_tracker() {
    let dir = tempdir("ipv6-up");
    let tracker = Tracker6::start();
    let (file, meta) = torrent_with_tracker(&dir.path, &tracker, 62);
    let ses = Session::new(dual_stack()).unwrap();
    let port = ses.listen_port().unwrap();
    ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.path.join("data")))
        .unwrap();
    wait_until("lt's announce", || tracker.peers(&meta.info_hash.0).contains(&SocketAddr::new(V6, port)));
    let save = dir.path.join("libtorrent");
    let mut downloader = LtPeer::download_on(V6, &file, &save);
    downloader.wait_download(WAIT).expect("libtorrent finished");
    for (name, _) in LAYOUT {
        assert!(files_equal(&dir.path.join("data").join(name), &save.join(name)), "{name} differs");
    }
    assert!(metric(&ses, "net.sent_payload_bytes") >= LAYOUT.iter().map(|(_, n)| *n as i64).sum::<i64>());
}

#[test]
fn ipv4_and_ipv6_listen_on_one_port_and_accept() {
    let ses =
        Session::new(Settings { listen_interfaces: "127.0.0.1:0,[::1]:0".into(), ..Settings::default() })
            .unwrap();
    let port = ses.listen_port().unwrap();
    assert_ne!(port, 0);
    TcpStream::connect(("127.0.0.1", port)).expect("IPv4 listener");
    TcpStream::connect((V6, port)).expect("IPv6 listener on the same port");
    let c = ses.counters();
    wait_until("two incoming connections", || c.get(lt::engine::stats::Metric::IncomingConnections) >= 2);
}
