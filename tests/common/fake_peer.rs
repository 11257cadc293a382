//! A scripted BitTorrent peer on 127.0.0.1 for tests of the extension
//! protocol (BEP 10), metadata exchange (BEP 9) and peer exchange (BEP 11).
//!
//! It listens on a free port, answers every handshake for its torrent with
//! the extension bit set (and no piece: it never sends a bitfield), sends an
//! extension handshake advertising `ut_metadata` and `ut_pex`, and answers
//! metadata requests the way its [`Metadata`] behaviour says: honestly, with
//! bytes that do not hash to the info-hash, with an absurd size, with a
//! reject, or not at all. It can also send one `ut_pex` message naming
//! chosen addresses. Everything the other side does is kept in a
//! [`Record`] the test reads, so a test can assert what lt sent (its
//! extension handshake, its metadata requests, any `ut_pex` message) and
//! whether anyone dialled a peer it should never have dialled.
//!
//! Real clients hand us the behaviours that matter for honest peers; this
//! peer exists for the dishonest ones, which no real client can be made to
//! play. It was checked against libtorrent-rasterbar: a libtorrent session
//! given a magnet link gets the metadata from the honest behaviour and
//! raises `metadata_failed` for the wrong bytes.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use lt::proto::bencode::{self, Value};
use lt::proto::types::{InfoHash, PeerId};
use lt::proto::wire::{decode_message, encode_message, ExtHandshake, Handshake, Message, MAX_MESSAGE_LEN};

/// The id under which this peer wants `ut_metadata` messages.
pub const UT_METADATA_ID: u8 = 3;
/// The id under which this peer wants `ut_pex` messages (libtorrent's).
pub const UT_PEX_ID: u8 = 1;
/// Metadata is exchanged in pieces of 16 KiB (BEP 9).
pub const METADATA_PIECE: usize = 16 * 1024;
/// The size [`Metadata::AbsurdSize`] claims: 2 GiB, far above any sane
/// limit (libtorrent's `max_metadata_size` is 30 MiB).
pub const ABSURD_METADATA_SIZE: u32 = 1 << 31;

/// How long a blocking read waits before the connection looks at the stop
/// flag again.
const POLL: Duration = Duration::from_millis(100);

/// How the peer answers `ut_metadata` requests (BEP 9 `msg_type` 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metadata {
    /// The real info dictionary, piece by piece (`msg_type` 1).
    Honest,
    /// An info dictionary of the same size and shape with one byte of its
    /// piece hashes changed: valid bencode that does not hash to the
    /// info-hash.
    WrongBytes,
    /// `metadata_size` and `total_size` of [`ABSURD_METADATA_SIZE`]; a data
    /// message carries the first real 16 KiB.
    AbsurdSize,
    /// A reject (`msg_type` 2) for every request.
    Reject,
    /// No answer at all.
    Silent,
}

/// What the fake peer serves and sends.
#[derive(Clone, Debug)]
pub struct FakePeerOpts {
    /// The torrent it answers handshakes for; a handshake for any other
    /// torrent is recorded and the connection closed.
    pub info_hash: InfoHash,
    /// The info dictionary's bytes. Empty: the peer advertises no
    /// `metadata_size` (a peer that only listens, or only sends PEX).
    pub info: Vec<u8>,
    /// How metadata requests are answered.
    pub metadata: Metadata,
    /// Addresses to announce in one `ut_pex` message (as `added`), sent
    /// after the other side's extension handshake. Empty: none is sent.
    pub pex_added: Vec<SocketAddr>,
    /// The extended id to send that message with when the other side
    /// advertises no `ut_pex` (a private torrent should not): a peer that
    /// ignores what was advertised, to test that it is not believed.
    pub pex_id_if_unadvertised: Option<u8>,
}

impl FakePeerOpts {
    /// A peer for `info_hash` serving `info` with the given behaviour.
    pub fn new(info_hash: InfoHash, info: Vec<u8>, metadata: Metadata) -> FakePeerOpts {
        FakePeerOpts { info_hash, info, metadata, pex_added: Vec::new(), pex_id_if_unadvertised: None }
    }

    /// A peer that serves nothing and records who connects.
    pub fn listener(info_hash: InfoHash) -> FakePeerOpts {
        FakePeerOpts::new(info_hash, Vec::new(), Metadata::Silent)
    }
}

/// What the fake peer saw, over all its connections.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// TCP connections accepted (whether or not a handshake followed).
    pub connections: u32,
    /// The BitTorrent handshakes received.
    pub handshakes: Vec<Handshake>,
    /// The extension handshakes received (decoded).
    pub ext_handshakes: Vec<ExtHandshake>,
    /// The metadata pieces requested (`ut_metadata` `msg_type` 0).
    pub metadata_requests: Vec<i64>,
    /// Every `ut_pex` message received, raw.
    pub pex_messages: Vec<Vec<u8>>,
    /// The IPv4 addresses in the `added` lists of those messages.
    pub pex_added: Vec<SocketAddr>,
    /// `ut_pex` messages this peer sent.
    pub pex_sent: u32,
    /// Connections the other side closed (rather than this peer stopping).
    pub closed_by_remote: u32,
    /// Connections this peer closed after a handshake it does not take: an
    /// encrypted one (MSE), or one for another torrent.
    pub refused: u32,
}

/// A running fake peer; stops (and joins its threads) when dropped.
pub struct FakePeer {
    addr: SocketAddr,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl FakePeer {
    /// Starts listening on a free port of 127.0.0.1.
    pub fn start(opts: FakePeerOpts) -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake peer: bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let record = Arc::new(Mutex::new(Record::default()));
        let stop = Arc::new(AtomicBool::new(false));
        // Peer ids differ between fake peers: libtorrent drops the second
        // connection of a peer id it is already connected to.
        let mut peer_id = *b"-FK0001-000000000000";
        peer_id[8..].copy_from_slice(format!("{:012}", addr.port()).as_bytes());
        let shared = Shared {
            opts: Arc::new(opts),
            peer_id: PeerId(peer_id),
            record: record.clone(),
            stop: stop.clone(),
        };
        let accept_thread = std::thread::spawn(move || accept_loop(listener, shared));
        FakePeer { addr, record, stop, accept_thread: Some(accept_thread) }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A copy of what it has seen so far.
    pub fn record(&self) -> Record {
        self.record.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the record; panics with `what` and the
    /// record after `timeout`.
    pub fn wait_until(&self, what: &str, timeout: Duration, done: impl Fn(&Record) -> bool) -> Record {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.record();
            if done(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "fake peer {}: no {what} within {timeout:?}; saw {r:?}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

/// What every thread of one fake peer shares.
#[derive(Clone)]
struct Shared {
    opts: Arc<FakePeerOpts>,
    peer_id: PeerId,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    fn note(&self, f: impl FnOnce(&mut Record)) {
        f(&mut self.record.lock().unwrap());
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

fn accept_loop(listener: TcpListener, shared: Shared) {
    let mut connections = Vec::new();
    while !shared.stopped() {
        match listener.accept() {
            Ok((stream, _)) => {
                shared.note(|r| r.connections += 1);
                let s = shared.clone();
                connections.push(std::thread::spawn(move || match serve(stream, &s) {
                    Err(Closed::ByRemote) if !s.stopped() => s.note(|r| r.closed_by_remote += 1),
                    Err(Closed::Refused) => s.note(|r| r.refused += 1),
                    _ => {}
                }));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("fake peer: accept failed: {e}"),
        }
    }
    for c in connections {
        let _ = c.join();
    }
}

/// Why a connection ended before the peer stopped.
#[derive(Debug)]
enum Closed {
    /// The other side closed it, or sent what is not BitTorrent after the
    /// handshake.
    ByRemote,
    /// This peer closed it: the handshake was not a plaintext BitTorrent
    /// handshake (libtorrent tries the encrypted one first) or was for
    /// another torrent.
    Refused,
}

/// One connection, blocking reads with a short timeout so it notices the
/// stop flag.
struct Conn<'a> {
    stream: TcpStream,
    buf: BytesMut,
    shared: &'a Shared,
}

impl Conn<'_> {
    /// Reads more bytes into `buf`. `Ok(false)`: nothing yet, or stopping.
    fn fill(&mut self) -> Result<bool, Closed> {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(Closed::ByRemote),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(false),
            Err(_) => Err(Closed::ByRemote),
        }
    }

    fn send(&mut self, msg: &Message) -> Result<(), Closed> {
        let mut out = BytesMut::new();
        encode_message(msg, &mut out);
        self.stream.write_all(&out).map_err(|_| Closed::ByRemote)
    }

    fn send_extended(&mut self, id: u8, payload: Vec<u8>) -> Result<(), Closed> {
        self.send(&Message::Extended { id, payload: payload.into() })
    }
}

/// Serves one connection until the other side closes it (`Err`) or the
/// peer stops (`Ok`).
fn serve(stream: TcpStream, shared: &Shared) -> Result<(), Closed> {
    let setup = stream.set_nonblocking(false).and_then(|_| stream.set_read_timeout(Some(POLL)));
    setup.map_err(|_| Closed::ByRemote)?;
    let mut conn = Conn { stream, buf: BytesMut::new(), shared };
    while conn.buf.len() < Handshake::LEN {
        if shared.stopped() {
            return Ok(());
        }
        conn.fill()?;
    }
    let theirs = Handshake::decode(&conn.buf.split_to(Handshake::LEN)).map_err(|_| Closed::Refused)?;
    shared.note(|r| r.handshakes.push(theirs));
    let opts = &shared.opts;
    if theirs.info_hash != opts.info_hash {
        return Err(Closed::Refused);
    }
    // The extension bit only: without the fast extension, a peer with no
    // piece may stay silent instead of sending have_none.
    let mut ours = Handshake::new(opts.info_hash, shared.peer_id);
    ours.reserved = [0, 0, 0, 0, 0, 0x10, 0, 0];
    conn.stream.write_all(&ours.encode()).map_err(|_| Closed::ByRemote)?;
    conn.send_extended(0, our_ext_handshake(opts).encode())?;

    let mut their_ids: Option<BTreeMap<String, u8>> = None;
    let mut pex_sent = false;
    while !shared.stopped() {
        let msg = match decode_message(&mut conn.buf, MAX_MESSAGE_LEN) {
            Ok(Some(msg)) => msg,
            Ok(None) => {
                conn.fill()?;
                continue;
            }
            Err(_) => return Err(Closed::ByRemote),
        };
        let Message::Extended { id, payload } = msg else { continue };
        match id {
            0 => {
                let hs = ExtHandshake::decode(&payload).map_err(|_| Closed::ByRemote)?;
                their_ids = Some(hs.m.clone());
                shared.note(|r| r.ext_handshakes.push(hs));
            }
            UT_METADATA_ID => {
                let ut_metadata = their_ids.as_ref().and_then(|m| m.get("ut_metadata")).copied();
                if let (Some(reply_id), Some(piece)) = (ut_metadata, metadata_request(&payload)) {
                    shared.note(|r| r.metadata_requests.push(piece));
                    if let Some(reply) = metadata_reply(opts, piece) {
                        conn.send_extended(reply_id, reply)?;
                    }
                }
            }
            UT_PEX_ID => {
                let added = pex_added(&payload);
                shared.note(|r| {
                    r.pex_added.extend(added);
                    r.pex_messages.push(payload.to_vec());
                });
            }
            _ => {}
        }
        // The PEX message goes out once, after the other side's extension
        // handshake told us its id for ut_pex.
        let ids = their_ids.as_ref().filter(|_| !pex_sent && !opts.pex_added.is_empty());
        if let Some(ids) = ids {
            let pex_id = ids.get("ut_pex").copied().filter(|id| *id != 0).or(opts.pex_id_if_unadvertised);
            if let Some(pex_id) = pex_id {
                conn.send_extended(pex_id, pex_message(&opts.pex_added))?;
                shared.note(|r| r.pex_sent += 1);
            }
            pex_sent = true;
        }
    }
    Ok(())
}

fn our_ext_handshake(opts: &FakePeerOpts) -> ExtHandshake {
    let metadata_size = match opts.metadata {
        _ if opts.info.is_empty() => None,
        Metadata::AbsurdSize => Some(ABSURD_METADATA_SIZE),
        _ => Some(opts.info.len() as u32),
    };
    ExtHandshake {
        m: BTreeMap::from([("ut_metadata".to_string(), UT_METADATA_ID), ("ut_pex".to_string(), UT_PEX_ID)]),
        client: Some("lt test fake peer".into()),
        metadata_size,
        ..ExtHandshake::default()
    }
}

/// The piece asked for by a `ut_metadata` request, or `None` for any other
/// `ut_metadata` message (or one that is not a dictionary).
fn metadata_request(payload: &[u8]) -> Option<i64> {
    let (v, _) = bencode::decode_prefix(payload, bencode::Limits::default()).ok()?;
    (v.get("msg_type")?.as_int()? == 0).then(|| v.get("piece").and_then(Value::as_int)).flatten()
}

/// The answer to a request for `piece`, per the behaviour; `None` for
/// silence.
fn metadata_reply(opts: &FakePeerOpts, piece: i64) -> Option<Vec<u8>> {
    let reject = || bencode::dict([("msg_type", Value::Int(2)), ("piece", Value::Int(piece))]).encode();
    let data = |served: &[u8], total_size: i64| {
        let start = usize::try_from(piece).ok()?.checked_mul(METADATA_PIECE)?;
        let chunk =
            served.get(start..(start + METADATA_PIECE).min(served.len())).filter(|c| !c.is_empty())?;
        let mut out = bencode::dict([
            ("msg_type", Value::Int(1)),
            ("piece", Value::Int(piece)),
            ("total_size", Value::Int(total_size)),
        ])
        .encode();
        out.extend_from_slice(chunk);
        Some(out)
    };
    let size = opts.info.len() as i64;
    match opts.metadata {
        Metadata::Silent => None,
        Metadata::Reject => Some(reject()),
        Metadata::Honest => Some(data(&opts.info, size).unwrap_or_else(reject)),
        Metadata::WrongBytes => Some(data(&wrong_info(&opts.info), size).unwrap_or_else(reject)),
        Metadata::AbsurdSize => {
            Some(data(&opts.info, i64::from(ABSURD_METADATA_SIZE)).unwrap_or_else(reject))
        }
    }
}

/// `info` with the first byte of its `pieces` string changed: the same
/// size and still valid bencode, but another SHA-1.
pub fn wrong_info(info: &[u8]) -> Vec<u8> {
    let key = b"6:pieces";
    let at = info.windows(key.len()).position(|w| w == key).expect("an info dictionary has 'pieces'");
    let digits = at + key.len();
    let colon = digits + info[digits..].iter().position(|b| *b == b':').expect("'pieces' is a string");
    let mut wrong = info.to_vec();
    wrong[colon + 1] ^= 0xff;
    wrong
}

/// A `ut_pex` message adding `peers` (IPv4 only), each flagged reachable
/// (0x10, libtorrent's "outgoing connection possible").
pub fn pex_message(peers: &[SocketAddr]) -> Vec<u8> {
    let mut added = Vec::new();
    for p in peers {
        let SocketAddr::V4(v4) = p else { panic!("fake peer: PEX of IPv6 addresses is not written") };
        added.extend_from_slice(&v4.ip().octets());
        added.extend_from_slice(&v4.port().to_be_bytes());
    }
    let flags = vec![0x10u8; peers.len()];
    bencode::dict([
        ("added", Value::Bytes(&added)),
        ("added.f", Value::Bytes(&flags)),
        ("dropped", Value::Bytes(b"")),
    ])
    .encode()
}

/// The IPv4 addresses in a `ut_pex` message's `added` list; none when the
/// message is not a dictionary.
pub fn pex_added(payload: &[u8]) -> Vec<SocketAddr> {
    let Ok((v, _)) = bencode::decode_prefix(payload, bencode::Limits::default()) else { return Vec::new() };
    let added = v.get("added").and_then(Value::as_bytes).unwrap_or_default();
    added
        .chunks_exact(6)
        .map(|c| {
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
                u16::from_be_bytes([c[4], c[5]]),
            )
        })
        .collect()
}
