//! The wire as other clients speak it, through raw TCP peers on 127.0.0.1:
//! piece-set messages later in the connection (aria2), requests lt cannot
//! serve, and every way a connection can fail before the BitTorrent
//! session starts, each reported with its operation.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::swarm::{make_torrent, seed, settings, wait_for, WAIT};
use common::tempdir;
use lt::engine::stats::Metric;
use lt::engine::{AddTorrentParams, AlertKind, Operation, Session, Settings, TorrentSource};
use lt::proto::metainfo::Metainfo;

/// A raw peer that has sent its handshake (fast extension on) and read ours.
struct RawPeer {
    s: TcpStream,
}

impl RawPeer {
    fn connect(port: u16, meta: &Metainfo) -> RawPeer {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut hs = vec![19u8];
        hs.extend_from_slice(b"BitTorrent protocol");
        hs.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x04]);
        hs.extend_from_slice(&meta.info_hash.0);
        hs.extend_from_slice(b"-A20000-rawpeer12345");
        s.write_all(&hs).unwrap();
        let mut reply = [0u8; 68];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(&reply[28..48], &meta.info_hash.0);
        RawPeer { s }
    }

    fn send(&mut self, id: u8, payload: &[u8]) {
        let mut m = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
        m.push(id);
        m.extend_from_slice(payload);
        self.s.write_all(&m).unwrap();
    }

    /// Reads messages until one with `id` arrives; answers its payload.
    fn wait_message(&mut self, id: u8) -> Vec<u8> {
        loop {
            let mut len = [0u8; 4];
            self.s.read_exact(&mut len).unwrap();
            let len = u32::from_be_bytes(len) as usize;
            if len == 0 {
                continue;
            }
            let mut body = vec![0u8; len];
            self.s.read_exact(&mut body).unwrap();
            if body[0] == id {
                return body[1..].to_vec();
            }
        }
    }

    fn request(&mut self, piece: u32, begin: u32, length: u32) {
        let mut p = piece.to_be_bytes().to_vec();
        p.extend_from_slice(&begin.to_be_bytes());
        p.extend_from_slice(&length.to_be_bytes());
        self.send(6, &p);
    }
}

const HAVE_ALL: u8 = 0x0e;
const HAVE_NONE: u8 = 0x0f;
const REJECT: u8 = 0x10;
const PIECE: u8 = 7;
const UNCHOKE: u8 = 1;

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pieces lt believes the one connected peer has.
fn peer_pieces(ses: &Session, id: lt::engine::TorrentId) -> Option<u32> {
    ses.torrent(id).unwrap().peers().first().map(|p| p.info().num_pieces)
}

/// aria2 starts with have_none, later sends a whole bitfield, and have_all
/// when it finishes; each replaces the peer's piece set and lt keeps
/// serving it. Requests lt cannot serve are rejected, not fatal.
#[test]
fn later_piece_set_messages_replace_and_bad_requests_are_rejected() {
    let dir = tempdir("pieceset");
    let meta = make_torrent(&dir.path, &[("p.bin", 300_000)], 32 * 1024);
    let n = meta.lengths.num_pieces();
    assert_eq!(n, 10);
    let (ses, id) = seed(&meta, &dir.path);
    let mut peer = RawPeer::connect(ses.listen_port().unwrap(), &meta);

    peer.send(HAVE_NONE, &[]);
    wait_until("the peer to be registered", || peer_pieces(&ses, id) == Some(0));
    // A bitfield after have_none: pieces 0, 1 and 9.
    peer.send(5, &[0b1100_0000, 0b0100_0000]);
    wait_until("the bitfield to replace have_none", || peer_pieces(&ses, id) == Some(3));
    // Another bitfield shrinks the set again: it replaces, never adds.
    peer.send(5, &[0b1000_0000, 0]);
    wait_until("the second bitfield to replace the first", || peer_pieces(&ses, id) == Some(1));

    // A request without `interested` first is taken as interest: lt
    // unchokes the peer (the request itself came while choked), then
    // serves the request sent again.
    peer.request(2, 0, 16 * 1024);
    peer.wait_message(UNCHOKE);
    peer.request(2, 0, 16 * 1024);
    let piece = peer.wait_message(PIECE);
    assert_eq!(&piece[..8], &[0, 0, 0, 2, 0, 0, 0, 0]);
    let data = std::fs::read(dir.path.join("content/p.bin")).unwrap();
    assert_eq!(&piece[8..], &data[2 * 32 * 1024..2 * 32 * 1024 + 16 * 1024]);

    // A request outside the torrent is rejected (fast extension) and
    // counted; the connection stays.
    let invalid_before = ses.counters().get(Metric::InvalidPieceRequests);
    peer.request(99, 0, 16 * 1024);
    let reject = peer.wait_message(REJECT);
    assert_eq!(&reject[..4], &99u32.to_be_bytes());
    assert_eq!(ses.counters().get(Metric::InvalidPieceRequests), invalid_before + 1);
    peer.request(0, 16 * 1024, 16 * 1024);
    let piece = peer.wait_message(PIECE);
    assert_eq!(&piece[..8], &[0, 0, 0, 0, 0, 0, 0x40, 0]);

    // have_all at the end: the peer is a seed now, and two seeds part
    // without any protocol error.
    peer.send(HAVE_ALL, &[]);
    let alerts =
        wait_for(&ses, "the seed-to-seed close", |a| matches!(a.kind, AlertKind::PeerDisconnected { .. }));
    let last = alerts.last().unwrap();
    assert!(last.message.contains("both sides are seeds"), "{}", last.message);
    assert!(!alerts.iter().any(|a| matches!(a.kind, AlertKind::PeerError { .. })), "no peer_error expected");
    assert_eq!(ses.counters().get(Metric::ProtocolErrors), 0);
}

/// The peer_disconnected alerts of a session until `f` holds for one.
fn wait_disconnect(ses: &Session, what: &str, f: impl Fn(&Operation, &str) -> bool) -> (Operation, String) {
    let alerts = wait_for(ses, what, |a| match &a.kind {
        AlertKind::PeerDisconnected { op, error, .. } => f(op, &error.message),
        _ => false,
    });
    match &alerts.last().unwrap().kind {
        AlertKind::PeerDisconnected { op, error, .. } => (*op, error.message.clone()),
        _ => unreachable!(),
    }
}

/// Outgoing connections that fail before the BitTorrent session: refused,
/// and answered with something that is not a handshake. Each is an alert
/// with the operation, and counted.
#[test]
fn outgoing_failures_are_reported_with_the_operation() {
    let dir = tempdir("dialfail");
    let meta = make_torrent(&dir.path, &[("d.bin", 50_000)], 32 * 1024);
    // Plain TCP dials: the listener below speaks to one connection.
    let ses = Session::new(Settings { out_enc_policy: 2, enable_outgoing_utp: false, ..settings() }).unwrap();
    let p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.path.join("leech"));
    let id = ses.add_torrent(p).unwrap();
    let t = ses.torrent(id).unwrap();

    // Nothing listens on this port: the dial is refused.
    let closed: SocketAddr = format!("127.0.0.1:{}", common::free_port()).parse().unwrap();
    t.connect_peer(closed);
    let (op, msg) = wait_disconnect(&ses, "a refused dial", |_, m| m.contains("connecting"));
    assert_eq!(op, Operation::Connect);
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    wait_until("the failure count", || ses.counters().get(Metric::ConnectFailures) >= 1);
    assert!(ses.counters().get(Metric::ConnRefusedPeers) >= 1);

    // A listener that answers the handshake with bytes of another protocol
    // (as an encrypted-only client would).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut hs = [0u8; 68];
        s.read_exact(&mut hs).unwrap();
        s.write_all(&[0xa5; 68]).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    });
    t.connect_peer(addr);
    let (op, msg) =
        wait_disconnect(&ses, "a garbled handshake", |_, m| m.contains("not a BitTorrent handshake"));
    assert_eq!(op, Operation::Handshake);
    assert!(msg.contains("encrypted"), "{msg}");
    wait_until("both failures counted", || ses.counters().get(Metric::ConnectFailures) >= 2);
    drop(ses);
    server.join().unwrap();
}

/// Incoming connections that fail before the BitTorrent session: closed
/// at once, garbage, an info-hash the session does not have. Each is a
/// peer_disconnected alert with the operation and the reason, and counted.
#[test]
fn incoming_failures_are_reported_with_the_operation() {
    let dir = tempdir("acceptfail");
    let meta = make_torrent(&dir.path, &[("i.bin", 50_000)], 32 * 1024);
    let (ses, id) = seed(&meta, &dir.path);
    let port = ses.listen_port().unwrap();
    let errors_before = ses.counters().get(Metric::ErrorIncomingPeers);

    drop(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let (op, msg) = wait_disconnect(&ses, "a connection closed at once", |_, m| m.contains("closed before"));
    assert_eq!(op, Operation::Handshake);
    assert!(msg.contains("before the handshake"), "{msg}");

    // Bytes that are not a plain handshake are taken for the encrypted one
    // (as libtorrent takes them): a key, then no sync hash within the 532
    // bytes where it must be.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&[0x5a; 700]).unwrap();
    let (op, msg) = wait_disconnect(&ses, "garbage", |_, m| m.contains("sync_hash_not_found"));
    assert_eq!(op, Operation::Encryption);
    assert!(msg.contains("encrypted handshake"), "{msg}");

    let other = Arc::new({
        let d2 = tempdir("acceptfail-other");
        make_torrent(&d2.path, &[("o.bin", 1000)], 32 * 1024)
    });
    let mut s2 = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut hs = vec![19u8];
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0; 8]);
    hs.extend_from_slice(&other.info_hash.0);
    hs.extend_from_slice(b"-XX0000-unknownhash!");
    s2.write_all(&hs).unwrap();
    let (op, msg) =
        wait_disconnect(&ses, "an unknown info-hash", |_, m| m.contains("no torrent with info-hash"));
    assert_eq!(op, Operation::Handshake);
    assert!(msg.contains(&other.info_hash.to_string()), "{msg}");

    wait_until("three incoming errors counted", || {
        ses.counters().get(Metric::ErrorIncomingPeers) >= errors_before + 3
    });
    assert_eq!(ses.counters().get(Metric::NumPeersConnected), 0);

    // Past the torrent's connection limit: the handshake completes, then
    // the torrent refuses the peer, and says so.
    ses.torrent(id).unwrap().set_max_connections(1);
    let _first = RawPeer::connect(port, &meta);
    wait_until("the first peer", || ses.counters().get(Metric::NumPeersConnected) == 1);
    let _second = RawPeer::connect(port, &meta);
    let (op, msg) = wait_disconnect(&ses, "the limit", |_, m| m.contains("connection limit"));
    assert_eq!(op, Operation::Bittorrent);
    assert!(msg.starts_with("refused"), "{msg}");
    assert_eq!(ses.counters().get(Metric::TorrentConnectionLimitRefusals), 1);
    assert_eq!(ses.counters().get(Metric::NumPeersConnected), 1);
}

/// With more interested peers than unchoke slots, the choker gives one
/// peer the optimistic slot: its flag is set and the gauge counts it.
#[test]
fn the_optimistic_unchoke_is_flagged_and_counted() {
    use lt::engine::peer::flags;
    let dir = tempdir("optimistic");
    let meta = make_torrent(&dir.path, &[("o.bin", 200_000)], 32 * 1024);
    let ses = Session::new(Settings { unchoke_slots_limit: 2, ..settings() }).unwrap();
    let id =
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir.path)).unwrap();
    wait_for(&ses, "the seed's check", |a| a.alert_type() == lt::engine::AlertType::TorrentChecked);
    let port = ses.listen_port().unwrap();
    let mut peers: Vec<RawPeer> = (0..4).map(|_| RawPeer::connect(port, &meta)).collect();
    for p in &mut peers {
        p.send(2, &[]); // interested
    }
    wait_until("an optimistic unchoke", || ses.counters().get(Metric::NumPeersUpUnchokedOptimistic) == 1);
    let flagged = ses
        .torrent(id)
        .unwrap()
        .peers()
        .iter()
        .filter(|p| p.info().flags & flags::OPTIMISTIC_UNCHOKE != 0)
        .count();
    assert_eq!(flagged, 1);
    drop(peers);
    wait_until("the peers to leave", || ses.counters().get(Metric::NumPeersConnected) == 0);
    assert_eq!(ses.counters().get(Metric::NumPeersUpUnchokedOptimistic), 0);
}
