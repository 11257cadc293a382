//! One peer connection: handshake, the message loop, request pipelining
//! and uploads.
//!
//! Each connection has two tasks. The reader task owns the protocol state
//! and decodes messages; the writer task owns the socket's write half,
//! batches outgoing messages and serves upload requests (reading blocks on
//! the blocking pool). Separate halves mean a peer that stops reading can
//! never stall our reading, and vice versa.
//!
//! # What lt accepts from peers, and why
//!
//! Strict where strictness protects lt (lengths, indices, sizes), tolerant
//! where real clients bend the BEPs. Read from libtorrent, transmission,
//! aria2 and rtorrent (libtorrent-rakshasa); docs/wire-quirks.md has what
//! each sends and tolerates, with references:
//! - The extension handshake may come before the piece-set message; every
//!   one of those clients sends it first.
//! - A bitfield, have_all or have_none at any time replaces the peer's
//!   piece set: aria2 sends a whole bitfield instead of many haves and
//!   have_all when it finishes, libtorrent a new one when super-seeding
//!   ends. A peer with nothing may send no piece-set message at all.
//! - Spare bits set in a bitfield are cleared, as libtorrent, transmission
//!   and rtorrent do (aria2 disconnects; lt never sends them set).
//! - A request without `interested` counts as interest (libtorrent does the
//!   same). Requests for pieces lt lacks, outside the torrent, or while
//!   choked are rejected (fast extension) or ignored, and counted; only a
//!   peer that sends more than `MAX_INVALID_REQUESTS` that can never be
//!   served is disconnected.
//! - A piece message inside the torrent that is not a block lt asked for
//!   (unaligned, partial, or no longer requested) is dropped as waste;
//!   one outside the torrent ends the connection.
//! - Unknown message ids, a wrong-length bitfield, and fast-extension
//!   messages without the fast bit end the connection: all four clients
//!   do the same, and lt must know a message's meaning to stay in sync.
//! - Extended messages with an id lt did not offer are ignored.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

use super::alerts::{AlertKind, ErrorInfo};
use super::bandwidth;
use super::discovery::PeerSource;
use super::error::{Error, ErrorKind, Failure, Operation};
use super::metadata::MAX_REQUESTS_PER_PEER;
use super::piece_picker::{Block, PeerKey};
use super::session::SessionCore;
use super::stats::{Counters, Metric, RateSampler};
use super::torrent::Torrent;
use super::transport::stream::{Encryption, Link, PeerSocket, ReadHalf, Transport, WriteHalf};
use crate::proto::bitfield::Bitfield;
use crate::proto::extension::{self, Extension, MetadataMessage, PeerExtensions};
use crate::proto::metainfo::MAX_TORRENT_SIZE;
use crate::proto::pex::{self, InboundRate, PexFlags, PexMessage, PexState};
use crate::proto::types::{PeerId, BLOCK_SIZE};
use crate::proto::wire::{self, BlockRequest, ExtHandshake, Handshake, HashRequest, Message};

/// Commands the torrent sends to a peer's task.
#[derive(Debug)]
pub(crate) enum PeerCmd {
    Have(u32),
    Choke,
    Unchoke,
    Cancel(Block),
    RecheckInterest,
    /// The torrent's metadata arrived: what the peer said it has can now
    /// be read (see `PendingPieces`).
    MetadataReady,
    Close(Failure),
}

/// Flag bits of a peer, as `lt_peer_info_t.flags` reports them.
pub mod flags {
    pub const INTERESTING: u32 = 1 << 0;
    pub const CHOKED: u32 = 1 << 1;
    pub const REMOTE_INTERESTED: u32 = 1 << 2;
    pub const REMOTE_CHOKED: u32 = 1 << 3;
    pub const SEED: u32 = 1 << 4;
    pub const INCOMING: u32 = 1 << 5;
    pub const SNUBBED: u32 = 1 << 6;
    pub const SUPPORTS_EXTENSIONS: u32 = 1 << 7;
    pub const SUPPORTS_FAST: u32 = 1 << 8;
    pub const OPTIMISTIC_UNCHOKE: u32 = 1 << 9;
    /// The connection runs over uTP (else TCP).
    pub const UTP_SOCKET: u32 = 1 << 10;
    /// The encrypted handshake ran and the payload is RC4.
    pub const RC4_ENCRYPTED: u32 = 1 << 11;
    /// The encrypted handshake ran and chose plaintext for the payload.
    pub const PLAINTEXT_ENCRYPTED: u32 = 1 << 12;
}

/// The flags counted by a session gauge.
const GAUGED_FLAGS: [u32; 4] =
    [flags::SEED, flags::SNUBBED, flags::SUPPORTS_EXTENSIONS, flags::OPTIMISTIC_UNCHOKE];

/// The session gauge that counts the peers with `bit` set.
fn flag_gauge(bit: u32) -> Option<Metric> {
    match bit {
        flags::SEED => Some(Metric::NumSeedPeers),
        flags::SNUBBED => Some(Metric::NumSnubbedPeers),
        flags::SUPPORTS_EXTENSIONS => Some(Metric::NumPeersExtensions),
        flags::OPTIMISTIC_UNCHOKE => Some(Metric::NumPeersUpUnchokedOptimistic),
        _ => None,
    }
}

/// What the rest of the engine sees of a connected peer.
pub struct PeerHandle {
    pub key: PeerKey,
    pub addr: SocketAddr,
    pub incoming: bool,
    tx: UnboundedSender<PeerCmd>,
    client: Mutex<String>,
    /// The port it accepts connections on, from its extension handshake
    /// (0: not known); for an incoming peer, the one to tell others.
    listen_port: AtomicU16,
    flags: AtomicU32,
    down_payload: AtomicI64,
    up_payload: AtomicI64,
    down_rate: AtomicI64,
    up_rate: AtomicI64,
    samplers: Mutex<[RateSampler; 2]>,
    num_pieces: AtomicU32,
    /// The torrent's pieces (0 until a magnet's metadata arrives).
    total_pieces: AtomicU32,
    outstanding: AtomicUsize,
    connected_at: Instant,
    rtt: Mutex<Rtt>,
    hash_failures: AtomicU32,
    /// `PeerSource` bits, as known when it connected.
    source: u8,
    /// The session's counters: the peer gauges follow its flags.
    counters: Arc<Counters>,
}

/// A snapshot of one peer for `lt_torrent_peers`.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    pub client: String,
    pub flags: u32,
    pub total_download: i64,
    pub total_upload: i64,
    pub download_rate: i64,
    pub upload_rate: i64,
    pub num_pieces: u32,
    pub progress: f64,
    pub outstanding_requests: u32,
    pub connected_ms: u64,
    /// Request-to-block times in microseconds: last, mean, min, max (0 until a block arrived).
    pub rtt_last_us: i64,
    pub rtt_avg_us: i64,
    pub rtt_min_us: i64,
    pub rtt_max_us: i64,
    /// Pieces that failed the hash check with blocks from this peer.
    pub hash_failures: u32,
    /// `PeerSource` bits: everywhere we heard of it.
    pub source: u8,
}

/// Request-to-block round-trip times of one peer.
#[derive(Clone, Copy, Debug, Default)]
struct Rtt {
    last_us: i64,
    sum_us: i64,
    count: i64,
    min_us: i64,
    max_us: i64,
}

impl PeerHandle {
    pub(crate) fn new(
        key: PeerKey,
        addr: SocketAddr,
        incoming: bool,
        source: u8,
        total_pieces: u32,
        tx: UnboundedSender<PeerCmd>,
        counters: Arc<Counters>,
    ) -> PeerHandle {
        let mut f = flags::CHOKED | flags::REMOTE_CHOKED;
        if incoming {
            f |= flags::INCOMING;
        }
        PeerHandle {
            key,
            addr,
            incoming,
            tx,
            client: Mutex::new(String::new()),
            listen_port: AtomicU16::new(0),
            flags: AtomicU32::new(f),
            down_payload: AtomicI64::new(0),
            up_payload: AtomicI64::new(0),
            down_rate: AtomicI64::new(0),
            up_rate: AtomicI64::new(0),
            samplers: Mutex::new(Default::default()),
            num_pieces: AtomicU32::new(0),
            total_pieces: AtomicU32::new(total_pieces),
            outstanding: AtomicUsize::new(0),
            connected_at: Instant::now(),
            rtt: Mutex::new(Rtt::default()),
            hash_failures: AtomicU32::new(0),
            source,
            counters,
        }
    }

    pub(crate) fn send(&self, cmd: PeerCmd) {
        let _ = self.tx.send(cmd);
    }

    /// Sets or clears a flag. The session gauges that count peers by a
    /// flag change here, when the flag does, so they are exact at every
    /// read without a pass over the peers.
    pub(crate) fn set_flag(&self, bit: u32, on: bool) {
        let old = if on {
            self.flags.fetch_or(bit, Ordering::Relaxed)
        } else {
            self.flags.fetch_and(!bit, Ordering::Relaxed)
        };
        if (old & bit != 0) != on {
            if let Some(m) = flag_gauge(bit) {
                self.counters.add(m, if on { 1 } else { -1 });
            }
        }
    }

    /// Records the requests in flight to this peer (and the session gauge).
    fn set_outstanding(&self, n: usize) {
        let old = self.outstanding.swap(n, Ordering::Relaxed);
        self.counters.add(Metric::NumOutstandingRequests, n as i64 - old as i64);
    }

    /// Takes a closed peer out of the flag and request gauges.
    fn leave_gauges(&self) {
        for bit in GAUGED_FLAGS {
            self.set_flag(bit, false);
        }
        self.set_outstanding(0);
    }

    fn has_flag(&self, bit: u32) -> bool {
        self.flags.load(Ordering::Relaxed) & bit != 0
    }

    pub fn is_snubbed(&self) -> bool {
        self.has_flag(flags::SNUBBED)
    }

    pub fn supports_extensions(&self) -> bool {
        self.has_flag(flags::SUPPORTS_EXTENSIONS)
    }

    pub fn outstanding_requests(&self) -> i64 {
        self.outstanding.load(Ordering::Relaxed) as i64
    }

    /// Where others can connect to this peer: the address we dialled, or
    /// for a peer that dialled us, its IP with the listen port it told us.
    pub(crate) fn reachable_addr(&self) -> Option<SocketAddr> {
        if !self.incoming {
            return Some(self.addr);
        }
        match self.listen_port.load(Ordering::Relaxed) {
            0 => None,
            port => Some(SocketAddr::new(self.addr.ip(), port)),
        }
    }

    pub fn is_seed(&self) -> bool {
        self.has_flag(flags::SEED)
    }

    pub fn peer_interested(&self) -> bool {
        self.has_flag(flags::REMOTE_INTERESTED)
    }

    /// Whether the peer chokes us.
    pub fn remote_choked(&self) -> bool {
        self.has_flag(flags::REMOTE_CHOKED)
    }

    pub fn am_choking(&self) -> bool {
        self.has_flag(flags::CHOKED)
    }

    pub fn down_rate(&self) -> i64 {
        self.down_rate.load(Ordering::Relaxed)
    }

    pub fn up_rate(&self) -> i64 {
        self.up_rate.load(Ordering::Relaxed)
    }

    pub(crate) fn update_rates(&self, now_ms: u64) {
        let mut s = self.samplers.lock();
        let d = s[0].sample(self.down_payload.load(Ordering::Relaxed), now_ms);
        let u = s[1].sample(self.up_payload.load(Ordering::Relaxed), now_ms);
        self.down_rate.store(d, Ordering::Relaxed);
        self.up_rate.store(u, Ordering::Relaxed);
    }

    fn record_rtt(&self, took: Duration) {
        let us = took.as_micros().min(i64::MAX as u128) as i64;
        let mut r = self.rtt.lock();
        r.last_us = us;
        r.sum_us = r.sum_us.saturating_add(us);
        r.min_us = if r.count == 0 { us } else { r.min_us.min(us) };
        r.max_us = r.max_us.max(us);
        r.count += 1;
    }

    /// Mean request-to-block time in microseconds (0 before any block).
    pub fn rtt_avg_us(&self) -> i64 {
        let r = self.rtt.lock();
        if r.count == 0 {
            0
        } else {
            r.sum_us / r.count
        }
    }

    /// Longest request-to-block time seen, in microseconds.
    pub fn rtt_max_us(&self) -> i64 {
        self.rtt.lock().max_us
    }

    pub(crate) fn add_hash_failure(&self) {
        self.hash_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn info(&self) -> PeerInfo {
        let num_pieces = self.num_pieces.load(Ordering::Relaxed);
        let rtt = *self.rtt.lock();
        PeerInfo {
            addr: self.addr,
            client: self.client.lock().clone(),
            flags: self.flags.load(Ordering::Relaxed),
            total_download: self.down_payload.load(Ordering::Relaxed),
            total_upload: self.up_payload.load(Ordering::Relaxed),
            download_rate: self.down_rate(),
            upload_rate: self.up_rate(),
            num_pieces,
            progress: match self.total_pieces.load(Ordering::Relaxed) {
                0 => 0.0,
                total => num_pieces as f64 / total as f64,
            },
            outstanding_requests: self.outstanding.load(Ordering::Relaxed) as u32,
            connected_ms: self.connected_at.elapsed().as_millis() as u64,
            rtt_last_us: rtt.last_us,
            rtt_avg_us: if rtt.count == 0 { 0 } else { rtt.sum_us / rtt.count },
            rtt_min_us: rtt.min_us,
            rtt_max_us: rtt.max_us,
            hash_failures: self.hash_failures.load(Ordering::Relaxed),
            source: self.source,
        }
    }
}

/// Names the client from an Azureus-style peer id ("-LT2080-..." ->
/// "libtorrent 2.0.8"), or answers "" when the style is unknown.
pub fn client_from_peer_id(id: &PeerId) -> String {
    let b = &id.0;
    if b[0] == b'-' && b[7] == b'-' {
        let name = match &b[1..3] {
            b"LT" => "libtorrent",
            b"lt" => "libTorrent",
            b"qB" => "qBittorrent",
            b"TR" => "Transmission",
            b"DE" => "Deluge",
            b"UT" => "uTorrent",
            b"BC" => "BitComet",
            b"AZ" => "Vuze",
            b"RQ" | b"rQ" => "rqbit",
            b"LX" => "lt",
            _ => "",
        };
        let ver: String = b[3..7].iter().map(|&c| c as char).filter(|c| c.is_ascii_alphanumeric()).collect();
        if !name.is_empty() {
            let dotted: Vec<String> = ver.chars().map(|c| c.to_string()).collect();
            return format!("{name} {}", dotted.join("."));
        }
    }
    if b.starts_with(b"A2-") {
        return "aria2".to_string();
    }
    String::new()
}

/// Dials `addr` for torrent `t` and runs the connection. Every way the
/// dial can fail (refused, timed out, a reply that is not a BitTorrent
/// handshake for this torrent) is counted and reported as a
/// `peer_disconnected` alert naming the operation.
pub(crate) fn spawn_outgoing(t: Arc<Torrent>, addr: SocketAddr, cancel: CancellationToken) {
    let rt = t.ses.runtime.clone();
    rt.spawn(async move {
        let ses = t.ses.clone();
        ses.counters.add(Metric::ConnectAttempts, 1);
        ses.counters.add(Metric::NumPeersHalfOpen, 1);
        let result = tokio::select! {
            r = super::transport::connect::dial(&ses, t.info_hash, addr) => r,
            _ = cancel.cancelled() => {
                ses.counters.add(Metric::NumPeersHalfOpen, -1);
                t.dial_failed(addr);
                ses.release_connection();
                return;
            }
        };
        ses.counters.add(Metric::NumPeersHalfOpen, -1);
        match result {
            Ok((stream, link, theirs)) => run(t, stream, link, addr, theirs, false).await,
            Err(failure) => {
                ses.counters.add(Metric::ConnectFailures, 1);
                t.dial_failed(addr);
                ses.release_connection();
                report_failure(&ses, Some(&t), addr, failure);
            }
        }
    });
}

/// Reads the rest of the peer's handshake within `timeout` and decodes
/// it: `have` holds its first bytes when they were read already (the
/// 20-byte protocol string of an accepted connection, or what came in the
/// encrypted handshake's initial payload).
pub(crate) async fn read_handshake_rest(
    ses: &SessionCore,
    stream: &mut (impl AsyncRead + Unpin),
    have: &[u8],
    timeout: Duration,
) -> Result<Handshake, Failure> {
    let mut buf = [0u8; Handshake::LEN];
    if have.len() > Handshake::LEN {
        return Err(handshake_error(format!(
            "{} bytes where a handshake has {}",
            have.len(),
            Handshake::LEN
        )));
    }
    buf[..have.len()].copy_from_slice(have);
    match tokio::time::timeout(timeout, stream.read_exact(&mut buf[have.len()..])).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            ses.counters.add(Metric::EofPeers, 1);
            return Err(handshake_error("connection closed before the handshake"));
        }
        Ok(Err(e)) => {
            return Err(Failure::new(Operation::SockRead, io_error(ses, "reading the handshake", e)))
        }
        Err(_) => {
            return Err(Failure::new(
                Operation::Handshake,
                Error::new(ErrorKind::Timeout, format!("no handshake within {} s", timeout.as_secs())),
            ))
        }
    }
    Handshake::decode(&buf).map_err(|e| {
        handshake_error(format!("not a BitTorrent handshake (encrypted or another protocol?): {e}"))
    })
}

/// A handshake that failed the protocol (not a handshake, the wrong
/// torrent, ourselves).
pub(crate) fn handshake_error(message: impl Into<String>) -> Failure {
    Failure::new(Operation::Handshake, Error::new(ErrorKind::Protocol, message))
}

/// Reports a connection that ended before or during the BitTorrent
/// session: a `peer_disconnected` alert with the operation (on the torrent
/// when it is known), the error counters and a debug log line.
pub(crate) fn report_failure(ses: &SessionCore, t: Option<&Torrent>, addr: SocketAddr, failure: Failure) {
    let Failure { op, error } = failure;
    tracing::debug!(peer = %addr, op = op.name(), reason = %error, "connection failed");
    let error = ErrorInfo { kind: error.kind(), message: error.message().to_string() };
    let kind = AlertKind::PeerDisconnected { peer: addr, op, error };
    match t {
        Some(t) => t.post(kind),
        None => ses.alerts.post(super::torrent::TorrentId::NONE, "", kind),
    }
}

/// Runs an established connection (handshakes exchanged) until it ends.
/// The caller has reserved a session connection slot; it is released here.
pub(crate) async fn run(
    t: Arc<Torrent>,
    stream: PeerSocket,
    link: Link,
    addr: SocketAddr,
    theirs: Handshake,
    incoming: bool,
) {
    let ses = t.ses.clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let (handle, cancel) = match t.register_peer(addr, incoming, tx) {
        Ok(registered) => registered,
        Err(error) => {
            ses.release_connection();
            if !incoming {
                t.dial_failed(addr);
            }
            ses.counters
                .add(if incoming { Metric::ErrorIncomingPeers } else { Metric::ErrorOutgoingPeers }, 1);
            report_failure(&ses, Some(&t), addr, Failure::new(Operation::Bittorrent, error));
            return;
        }
    };
    handle.set_flag(flags::SUPPORTS_EXTENSIONS, theirs.supports_extensions());
    handle.set_flag(flags::SUPPORTS_FAST, theirs.supports_fast());
    handle.set_flag(flags::UTP_SOCKET, link.transport == Transport::Utp);
    handle.set_flag(flags::RC4_ENCRYPTED, link.encryption == Encryption::Rc4);
    handle.set_flag(flags::PLAINTEXT_ENCRYPTED, link.encryption == Encryption::Plaintext);
    *handle.client.lock() = client_from_peer_id(&theirs.peer_id);
    let transport_gauge = match link.transport {
        Transport::Tcp => Metric::NumTcpPeers,
        Transport::Utp => Metric::NumUtpPeers,
    };
    ses.counters.add(Metric::NumPeersConnected, 1);
    ses.counters.add(transport_gauge, 1);
    tracing::debug!(peer = %addr, incoming, client = %handle.client.lock(), "peer connected");
    t.post(AlertKind::PeerConnect { peer: addr, incoming });

    let (read_half, write_half) = stream.into_split();
    let (wtx, wrx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn(writer_task(write_half, wrx, t.clone(), handle.clone(), queued.clone()));
    let lengths = t.lengths();
    let mut conn = Conn {
        t: t.clone(),
        handle: handle.clone(),
        has: Bitfield::new(lengths.num_pieces()),
        pending: t.meta().is_none().then(PendingPieces::default),
        peer_ext: PeerExtensions::default(),
        offered: offered_extensions(&t),
        peer_metadata_size: None,
        metadata_requests: Vec::new(),
        metadata_paused_until: None,
        metadata_budget: RequestBudget::new(),
        hash_budget: RequestBudget::new(),
        hash_requests: HashSet::new(),
        hash_asked: HashSet::new(),
        pex_out: PexState::default(),
        pex_sent_at: None,
        pex_in: InboundRate::default(),
        pex_taken: HashSet::new(),
        fast: theirs.supports_fast(),
        ext: theirs.supports_extensions(),
        dht: theirs.supports_dht(),
        am_interested: false,
        peer_choking: true,
        outstanding: HashMap::new(),
        pick_buf: Vec::new(),
        w: wtx,
        queued,
        last_recv: Instant::now(),
        peer_reqq: 250,
        invalid_requests: 0,
        ticks: 0,
        throttled: false,
    };
    let result = conn.run(read_half, rx, cancel).await;
    writer.abort();

    t.unregister_peer(&handle, &conn.has);
    handle.leave_gauges();
    conn.release_choke_gauge();
    if conn.am_interested {
        ses.counters.add(Metric::NumPeersDownInterested, -1);
    }
    ses.counters.add(Metric::NumPeersConnected, -1);
    ses.counters.add(transport_gauge, -1);
    ses.counters.add(Metric::Disconnects, 1);
    if handle.has_flag(flags::REMOTE_INTERESTED) {
        ses.counters.add(Metric::NumPeersUpInterested, -1);
    }
    ses.release_connection();
    let failure = match result {
        Ok(()) => Failure::new(Operation::Bittorrent, Error::new(ErrorKind::ShuttingDown, "closed by us")),
        Err(f) => {
            ses.counters
                .add(if incoming { Metric::ErrorIncomingPeers } else { Metric::ErrorOutgoingPeers }, 1);
            ses.counters.add(
                match link.transport {
                    Transport::Tcp => Metric::ErrorTcpPeers,
                    Transport::Utp => Metric::ErrorUtpPeers,
                },
                1,
            );
            if link.encryption != Encryption::None {
                ses.counters.add(Metric::ErrorEncryptedPeers, 1);
            }
            if link.encryption == Encryption::Rc4 {
                ses.counters.add(Metric::ErrorRc4Peers, 1);
            }
            if f.error.kind() == ErrorKind::Protocol {
                ses.counters.add(Metric::ProtocolErrors, 1);
                let error = ErrorInfo { kind: f.error.kind(), message: f.error.message().to_string() };
                t.post(AlertKind::PeerError { peer: addr, op: f.op, error });
            }
            f
        }
    };
    report_failure(&ses, Some(&t), addr, failure);
}

/// The per-type message counter of `msg`.
fn message_metric(msg: &Message, incoming: bool) -> Option<Metric> {
    use Metric as M;
    let (i, o) = match msg {
        Message::KeepAlive => return None,
        Message::Choke => (M::InChoke, M::OutChoke),
        Message::Unchoke => (M::InUnchoke, M::OutUnchoke),
        Message::Interested => (M::InInterested, M::OutInterested),
        Message::NotInterested => (M::InNotInterested, M::OutNotInterested),
        Message::Have(_) => (M::InHave, M::OutHave),
        Message::Bitfield(_) => (M::InBitfield, M::OutBitfield),
        Message::Request(_) => (M::InRequest, M::OutRequest),
        Message::Piece { .. } => (M::InPiece, M::OutPiece),
        Message::Cancel(_) => (M::InCancel, M::OutCancel),
        Message::Port(_) => (M::InDhtPort, M::OutDhtPort),
        Message::Suggest(_) => (M::InSuggest, M::OutSuggest),
        Message::HaveAll => (M::InHaveAll, M::OutHaveAll),
        Message::HaveNone => (M::InHaveNone, M::OutHaveNone),
        Message::Reject(_) => (M::InReject, M::OutReject),
        Message::AllowedFast(_) => (M::InAllowedFast, M::OutAllowedFast),
        Message::Extended { id: 0, .. } => (M::InExtHandshake, M::OutExtHandshake),
        Message::HashRequest(_) => (M::InHashRequest, M::OutHashRequest),
        Message::Hashes { .. } => (M::InHashes, M::OutHashes),
        Message::HashReject(_) => (M::InHashReject, M::OutHashReject),
        Message::Extended { .. } => (M::InExtended, M::OutExtended),
    };
    Some(if incoming { i } else { o })
}

/// Messages for the writer task.
enum Out {
    Msg(Message),
    Upload(BlockRequest),
    CancelUpload(BlockRequest),
    ClearUploads,
}

/// Requests outside the torrent a peer may send before it is disconnected
/// (libtorrent's figure for requests it cannot serve).
const MAX_INVALID_REQUESTS: u32 = 300;

/// Most hash requests (one piece layer each) outstanding to one peer.
const MAX_HASH_REQUESTS: usize = 16;

/// Blocks served to a peer per read from disk.
const UPLOAD_BATCH: usize = 16;

async fn writer_task(
    mut w: WriteHalf,
    mut rx: UnboundedReceiver<Out>,
    t: Arc<Torrent>,
    handle: Arc<PeerHandle>,
    queued: Arc<AtomicUsize>,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut uploads: VecDeque<BlockRequest> = VecDeque::new();
    let counters = t.ses.counters.clone();
    let ses = t.ses.clone();
    let limits = [&ses.up_limit, &t.up_limit];
    let apply = |o: Out, buf: &mut BytesMut, uploads: &mut VecDeque<BlockRequest>| match o {
        Out::Msg(m) => {
            if let Some(metric) = message_metric(&m, false) {
                counters.add(metric, 1);
            }
            wire::encode_message(&m, buf)
        }
        Out::Upload(r) => uploads.push_back(r),
        Out::CancelUpload(r) => {
            let before = uploads.len();
            uploads.retain(|u| *u != r);
            counters.add(Metric::CancelledPieceRequests, (before - uploads.len()) as i64);
        }
        Out::ClearUploads => uploads.clear(),
    };
    loop {
        if uploads.is_empty() && buf.is_empty() {
            match rx.recv().await {
                Some(o) => apply(o, &mut buf, &mut uploads),
                None => return,
            }
        }
        let chunk = bandwidth::chunk_all(&limits);
        while buf.len() < chunk.unwrap_or(1 << 20) {
            match rx.try_recv() {
                Ok(o) => apply(o, &mut buf, &mut uploads),
                Err(_) => break,
            }
        }
        queued.store(uploads.len(), Ordering::Relaxed);
        if !uploads.is_empty() {
            // Under an upload limit, one block at a time keeps the pace even.
            let n = uploads.len().min(if chunk.is_some() { 1 } else { UPLOAD_BATCH });
            let batch: Vec<BlockRequest> = uploads.drain(..n).collect();
            queued.store(uploads.len(), Ordering::Relaxed);
            // Requests are taken only for pieces we have, so the files exist.
            let Some(storage) = t.storage().cloned() else { continue };
            let mut out = std::mem::take(&mut buf);
            let started = Instant::now();
            let read = tokio::task::spawn_blocking(move || {
                for r in &batch {
                    out.extend_from_slice(&wire::piece_header(r.piece, r.begin, r.length));
                    let start = out.len();
                    out.resize(start + r.length as usize, 0);
                    storage.read(r.piece, r.begin, &mut out[start..])?;
                }
                Ok::<_, super::storage::StorageError>((out, batch))
            })
            .await;
            match read {
                Ok(Ok((out, batch))) => {
                    buf = out;
                    let payload: i64 = batch.iter().map(|r| r.length as i64).sum();
                    handle.up_payload.fetch_add(payload, Ordering::Relaxed);
                    t.counters.sent_payload.fetch_add(payload, Ordering::Relaxed);
                    t.ses.counters.add(Metric::SentPayloadBytes, payload);
                    t.ses.counters.add(Metric::BlocksRead, batch.len() as i64);
                    t.ses.counters.add(Metric::OutPiece, batch.len() as i64);
                    t.ses.counters.add(Metric::DiskReadBytes, payload);
                    t.ses.counters.add(Metric::DiskReadTime, started.elapsed().as_micros() as i64);
                    t.ses.counters.add(Metric::DiskReadOps, 1);
                }
                Ok(Err(e)) => {
                    let error = ErrorInfo { kind: ErrorKind::Io, message: e.to_string() };
                    t.file_error(error);
                    let failure = Failure::new(Operation::FileRead, Error::new(ErrorKind::Io, e.to_string()));
                    handle.send(PeerCmd::Close(failure));
                    return;
                }
                Err(_) => return,
            }
        }
        if !buf.is_empty() {
            // The flush matters under encryption: MseStream may hold the
            // encrypted tail of a write until it is flushed.
            let written = match w.write_all(&buf).await {
                Ok(()) => w.flush().await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                let failure = Failure::new(Operation::SockWrite, io_error(&ses, "writing", e));
                handle.send(PeerCmd::Close(failure));
                return;
            }
            let n = buf.len() as i64;
            t.counters.sent.fetch_add(n, Ordering::Relaxed);
            t.ses.counters.add(Metric::SentBytes, n);
            buf.clear();
            if chunk.is_some() {
                let wait = bandwidth::charge_all(&limits, n as usize, Instant::now());
                if !wait.is_zero() {
                    counters.add(Metric::LimiterUpWaits, 1);
                    counters.add(Metric::LimiterUpWaitUs, wait.as_micros() as i64);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// Reads what is there, at most `max` bytes when a rate limit applies.
async fn read_some(r: &mut ReadHalf, buf: &mut BytesMut, max: Option<usize>) -> std::io::Result<usize> {
    match max {
        None => r.read_buf(buf).await,
        Some(n) => r.take(n as u64).read_buf(buf).await,
    }
}

/// A socket error as a connection error, counted by its cause.
pub(crate) fn io_error(ses: &SessionCore, what: &str, e: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    let metric = match e.kind() {
        K::ConnectionReset => Some(Metric::ConnResetPeers),
        K::ConnectionRefused => Some(Metric::ConnRefusedPeers),
        K::ConnectionAborted => Some(Metric::ConnAbortedPeers),
        K::BrokenPipe => Some(Metric::BrokenPipePeers),
        _ => None,
    };
    if let Some(m) = metric {
        ses.counters.add(m, 1);
    }
    Error::new(ErrorKind::Io, format!("{what}: {e}"))
}

/// What a peer said it has before the torrent's metadata (and so its
/// number of pieces) was known; read when it arrives.
#[derive(Debug, Default)]
struct PendingPieces {
    /// The last bitfield, or `have_all` (true) / `have_none` (false).
    set: Option<PieceSet>,
    /// `have` messages since then, at most `MAX_PENDING_HAVES`.
    haves: Vec<u32>,
}

#[derive(Debug)]
enum PieceSet {
    Bitfield(bytes::Bytes),
    All(bool),
}

/// `have` messages kept for a torrent whose metadata is not known yet;
/// later ones are dropped (the peer's next bitfield or our interest
/// recovers them).
const MAX_PENDING_HAVES: usize = 1 << 16;

/// How fast a peer may have metadata pieces served: a burst, then a rate.
/// libtorrent caps the same thing at about 160 KiB/s through its send
/// buffer; ten 16 KiB pieces a second is in line with it.
const METADATA_BURST: f64 = 32.0;
const METADATA_PER_SECOND: f64 = 10.0;

/// A token bucket for the requests a peer may have served: metadata
/// pieces, and BEP 52 hash requests (each answer costs hashing a layer).
#[derive(Debug)]
struct RequestBudget {
    tokens: f64,
    at: Instant,
}

impl RequestBudget {
    fn new() -> RequestBudget {
        RequestBudget { tokens: METADATA_BURST, at: Instant::now() }
    }

    fn take(&mut self, now: Instant) -> bool {
        let dt = now.duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + dt * METADATA_PER_SECOND).min(METADATA_BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A metadata request unanswered this long frees its slot.
const METADATA_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// After a peer rejects a metadata request, lt asks it nothing for this
/// long (libtorrent's figure).
const METADATA_REJECT_PAUSE: Duration = Duration::from_secs(60);

/// The extensions lt offers on a torrent's connections. A private torrent
/// offers neither peer exchange nor its metadata, as libtorrent does; a
/// magnet's torrent counts as public until its metadata says otherwise.
fn offered_extensions(t: &Torrent) -> Vec<Extension> {
    if t.is_private() {
        Vec::new()
    } else {
        Extension::ALL.to_vec()
    }
}

/// The reader side's protocol state.
struct Conn {
    t: Arc<Torrent>,
    handle: Arc<PeerHandle>,
    has: Bitfield,
    /// While the metadata is unknown: the peer's piece messages.
    pending: Option<PendingPieces>,
    /// The ids the peer asked us to use for each extension.
    peer_ext: PeerExtensions,
    /// The extensions we offered it.
    offered: Vec<Extension>,
    /// The metadata size the peer announced (within `max_metadata_size`).
    peer_metadata_size: Option<u32>,
    /// Metadata pieces asked of it and when.
    metadata_requests: Vec<(u32, Instant)>,
    /// It rejected a metadata request: no more until then.
    metadata_paused_until: Option<Instant>,
    /// Metadata pieces it may have served.
    metadata_budget: RequestBudget,
    /// BEP 52 hash requests this peer may still have served.
    hash_budget: RequestBudget,
    /// Our hash requests to this peer not yet answered or rejected.
    hash_requests: HashSet<HashRequest>,
    /// Every hash request sent to this peer: none is sent twice (a peer
    /// that rejected or failed one is not asked again; others may be).
    hash_asked: HashSet<HashRequest>,
    /// What we told it through peer exchange, and when we last did.
    pex_out: PexState,
    pex_sent_at: Option<Instant>,
    /// When its PEX messages came (flood check).
    pex_in: InboundRate,
    /// Addresses taken from its PEX messages and not dropped since.
    pex_taken: HashSet<SocketAddr>,
    fast: bool,
    ext: bool,
    /// The peer runs a DHT node (its handshake's DHT bit).
    dht: bool,
    am_interested: bool,
    peer_choking: bool,
    outstanding: HashMap<Block, Instant>,
    pick_buf: Vec<Block>,
    w: UnboundedSender<Out>,
    queued: Arc<AtomicUsize>,
    last_recv: Instant,
    peer_reqq: usize,
    /// Requests that could never be served (outside the torrent).
    invalid_requests: u32,
    ticks: u64,
    /// Requests held back until the disk catches up.
    throttled: bool,
}

fn protocol(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Protocol, msg)
}

impl Conn {
    fn send(&self, m: Message) {
        let _ = self.w.send(Out::Msg(m));
    }

    async fn run(
        &mut self,
        mut r: ReadHalf,
        mut rx: UnboundedReceiver<PeerCmd>,
        cancel: CancellationToken,
    ) -> Result<(), Failure> {
        self.greet();
        self.request_layers();
        let mut buf = BytesMut::with_capacity(256 * 1024);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ses = self.t.ses.clone();
        let t = self.t.clone();
        let limits = [&ses.down_limit, &t.down_limit];
        let disk_ready = &ses.disk_ready;
        // While a download limit is in debt, reading waits until then.
        let mut read_again_at: Option<tokio::time::Instant> = None;
        loop {
            if buf.capacity() - buf.len() < 64 * 1024 {
                buf.reserve(256 * 1024);
            }
            let chunk = bandwidth::chunk_all(&limits);
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd)?,
                    None => return Ok(()),
                },
                _ = tokio::time::sleep_until(read_again_at.unwrap_or_else(tokio::time::Instant::now)),
                    if read_again_at.is_some() => read_again_at = None,
                n = read_some(&mut r, &mut buf, chunk), if read_again_at.is_none() => {
                    let n = n.map_err(|e| Failure::new(Operation::SockRead, io_error(&ses, "reading", e)))?;
                    if n == 0 {
                        self.t.ses.counters.add(Metric::EofPeers, 1);
                        let eof = Error::new(ErrorKind::Io, "connection closed by peer");
                        return Err(Failure::new(Operation::SockRead, eof));
                    }
                    self.last_recv = Instant::now();
                    self.t.counters.recv.fetch_add(n as i64, Ordering::Relaxed);
                    self.t.ses.counters.add(Metric::RecvBytes, n as i64);
                    if chunk.is_some() {
                        let wait = bandwidth::charge_all(&limits, n, self.last_recv);
                        if !wait.is_zero() {
                            ses.counters.add(Metric::LimiterDownWaits, 1);
                            ses.counters.add(Metric::LimiterDownWaitUs, wait.as_micros() as i64);
                            read_again_at = Some(tokio::time::Instant::now() + wait);
                        }
                    }
                    while let Some(msg) = wire::decode_message(&mut buf, wire::MAX_MESSAGE_LEN)
                        .map_err(|e| protocol(e.to_string()))?
                    {
                        self.message(msg)?;
                    }
                    self.fill_requests();
                }
                _ = tick.tick() => self.tick()?,
                _ = disk_ready.notified(), if self.throttled => self.fill_requests(),
            }
        }
    }

    /// Our first messages: what we have (bitfield or the fast extension's
    /// have_all/have_none, which must come first), then the extension
    /// handshake.
    fn greet(&mut self) {
        let have = self.t.have_bitfield();
        if self.pending.is_some() {
            // No metadata: we have nothing, and cannot size a bitfield.
            if self.fast {
                self.send(Message::HaveNone);
            }
        } else if self.fast && have.all() {
            self.send(Message::HaveAll);
        } else if self.fast && have.none() {
            self.send(Message::HaveNone);
        } else if !have.none() {
            self.send(Message::Bitfield(have.as_bytes().to_vec().into()));
        }
        if self.dht {
            // BEP 5: tell a DHT peer where our node listens.
            if let Some(port) = self.t.ses.dht_port() {
                self.send(Message::Port(port));
            }
        }
        if self.ext {
            let s = self.t.ses.settings.read();
            let metadata_size = self
                .t
                .meta()
                .filter(|_| self.offered.contains(&Extension::Metadata))
                .map(|m| m.info_bytes.len() as u32);
            let hs = ExtHandshake {
                m: extension::local_ids(self.offered.iter().copied()),
                client: Some(s.user_agent.clone()),
                listen_port: self.t.ses.listen_port(),
                reqq: Some(s.max_allowed_in_request_queue as u32),
                metadata_size,
                your_ip: Some(self.handle.addr.ip()),
            };
            drop(s);
            self.send(Message::Extended { id: 0, payload: hs.encode().into() });
        }
    }

    fn command(&mut self, cmd: PeerCmd) -> Result<(), Failure> {
        match cmd {
            PeerCmd::Have(piece) => {
                self.send(Message::Have(piece));
                self.update_interest();
            }
            PeerCmd::Choke => {
                self.handle.set_flag(flags::CHOKED, true);
                let _ = self.w.send(Out::ClearUploads);
                self.send(Message::Choke);
                self.t.ses.counters.add(Metric::NumPeersUpUnchoked, -1);
            }
            PeerCmd::Unchoke => {
                self.handle.set_flag(flags::CHOKED, false);
                self.send(Message::Unchoke);
                self.t.ses.counters.add(Metric::NumPeersUpUnchoked, 1);
            }
            PeerCmd::Cancel(block) => {
                if self.outstanding.remove(&block).is_some() {
                    let length = self.t.lengths().block_size(block.piece, block.index);
                    self.send(Message::Cancel(BlockRequest {
                        piece: block.piece,
                        begin: block.begin(),
                        length,
                    }));
                    self.handle.set_outstanding(self.outstanding.len());
                }
            }
            PeerCmd::RecheckInterest => self.update_interest(),
            PeerCmd::MetadataReady => self.metadata_ready().map_err(Failure::from)?,
            PeerCmd::Close(e) => return Err(e),
        }
        Ok(())
    }

    fn release_choke_gauge(&self) {
        if !self.handle.am_choking() {
            self.handle.set_flag(flags::CHOKED, true);
            self.t.ses.counters.add(Metric::NumPeersUpUnchoked, -1);
        }
    }

    fn update_interest(&mut self) {
        let interesting = self.t.is_interesting(&self.has);
        if interesting != self.am_interested {
            self.am_interested = interesting;
            self.handle.set_flag(flags::INTERESTING, interesting);
            self.t.ses.counters.add(Metric::NumPeersDownInterested, if interesting { 1 } else { -1 });
            self.send(if interesting { Message::Interested } else { Message::NotInterested });
        }
    }

    fn set_seed_flag(&self) {
        self.handle.num_pieces.store(self.has.count_ones(), Ordering::Relaxed);
        self.handle.set_flag(flags::SEED, self.has.all());
    }

    fn message(&mut self, msg: Message) -> Result<(), Error> {
        let lengths = self.t.lengths();
        if let Some(metric) = message_metric(&msg, true) {
            self.t.ses.counters.add(metric, 1);
        }
        if let Some(pending) = &mut self.pending {
            // Piece messages wait until the metadata says how many pieces
            // there are; everything else is handled as usual.
            match msg {
                Message::Have(piece) => {
                    if pending.haves.len() < MAX_PENDING_HAVES {
                        pending.haves.push(piece);
                    }
                    return Ok(());
                }
                Message::Bitfield(bytes) => {
                    *pending = PendingPieces { set: Some(PieceSet::Bitfield(bytes)), haves: Vec::new() };
                    return Ok(());
                }
                Message::HaveAll | Message::HaveNone if self.fast => {
                    let all = matches!(msg, Message::HaveAll);
                    *pending = PendingPieces { set: Some(PieceSet::All(all)), haves: Vec::new() };
                    return Ok(());
                }
                _ => {}
            }
        }
        match msg {
            Message::KeepAlive => {}
            Message::Choke => {
                self.peer_choking = true;
                self.handle.set_flag(flags::REMOTE_CHOKED, true);
                let blocks: Vec<Block> = self.outstanding.drain().map(|(b, _)| b).collect();
                self.t.abort_blocks(self.handle.key, blocks);
                self.handle.set_outstanding(0);
            }
            Message::Unchoke => {
                self.peer_choking = false;
                self.handle.set_flag(flags::REMOTE_CHOKED, false);
            }
            Message::Interested => {
                if !self.handle.peer_interested() {
                    self.handle.set_flag(flags::REMOTE_INTERESTED, true);
                    self.t.ses.counters.add(Metric::NumPeersUpInterested, 1);
                    self.t.peer_interested(&self.handle);
                }
            }
            Message::NotInterested => {
                if self.handle.peer_interested() {
                    self.handle.set_flag(flags::REMOTE_INTERESTED, false);
                    self.t.ses.counters.add(Metric::NumPeersUpInterested, -1);
                }
            }
            Message::Have(piece) => {
                if piece >= lengths.num_pieces() {
                    return Err(protocol(format!(
                        "have for piece {piece}, torrent has {}",
                        lengths.num_pieces()
                    )));
                }
                if !self.has.get(piece) {
                    self.has.set(piece, true);
                    self.set_seed_flag();
                    if self.t.peer_have(piece, &self.has) && !self.am_interested {
                        self.update_interest();
                    }
                }
            }
            // BEP 3 and BEP 6 allow the piece-set messages only first, but
            // aria2 sends have_none first and later a whole bitfield instead
            // of many haves (and have_all when it finishes). libtorrent
            // accepts a piece-set message at any time and lets it replace
            // what the peer had; so does lt. The size stays checked.
            Message::Bitfield(bytes) => {
                let bf = Bitfield::from_bytes(&bytes, lengths.num_pieces()).ok_or_else(|| {
                    protocol(format!("bitfield of {} bytes for {} pieces", bytes.len(), lengths.num_pieces()))
                })?;
                self.replace_piece_set(bf);
            }
            Message::HaveAll | Message::HaveNone => {
                // Without the fast extension these ids mean nothing agreed;
                // libtorrent disconnects too.
                if !self.fast {
                    return Err(protocol("have_all/have_none without the fast extension"));
                }
                let n = lengths.num_pieces();
                let bf = if matches!(msg, Message::HaveAll) { Bitfield::full(n) } else { Bitfield::new(n) };
                self.replace_piece_set(bf);
            }
            Message::Request(r) => self.on_request(r)?,
            Message::Cancel(r) => {
                let _ = self.w.send(Out::CancelUpload(r));
            }
            Message::Reject(r) => {
                if !self.fast {
                    return Err(protocol("reject without the fast extension"));
                }
                let block = Block { piece: r.piece, index: r.begin / BLOCK_SIZE };
                if self.outstanding.remove(&block).is_some() {
                    self.t.ses.counters.add(Metric::RejectedRequests, 1);
                    self.t.abort_blocks(self.handle.key, [block]);
                    self.handle.set_outstanding(self.outstanding.len());
                }
            }
            Message::Piece { piece, begin, data } => self.on_piece(piece, begin, &data)?,
            Message::Extended { id, payload } => self.extended(id, &payload)?,
            Message::Port(port) => {
                // The peer's DHT node: a candidate for our routing table
                // (the node pings it before taking it in).
                if let Some(dht) = self.t.ses.dht.read().as_ref() {
                    dht.add_node_hint(SocketAddr::new(self.handle.addr.ip(), port));
                }
            }
            Message::Suggest(_) | Message::AllowedFast(_) => {}
            Message::HashRequest(r) => self.on_hash_request(r),
            Message::Hashes { request, hashes } => {
                // Answers to requests we did not send are dropped.
                if self.hash_requests.remove(&request) {
                    match self.t.v2_hashes().and_then(|v2| v2.add_layer(&request, &hashes)) {
                        Some(pieces) => self.t.hashes_known(pieces),
                        None => tracing::debug!(peer = %self.handle.addr, "piece layer did not prove out"),
                    }
                }
                self.request_layers();
            }
            Message::HashReject(request) => {
                self.hash_requests.remove(&request);
                self.request_layers();
            }
        }
        Ok(())
    }

    /// Asks the peer for the runs of piece layers we lack (a v2-only
    /// torrent from a magnet, whose pieces cannot be checked without
    /// them), each at most once per connection, at most
    /// `MAX_HASH_REQUESTS` at a time. A hybrid's pieces are checked by
    /// their v1 hashes, so it asks for nothing: libtorrent answers hash
    /// requests only on connections it counts as v2 (made with the v2
    /// id), and closes others that send them; a v2-only torrent has no
    /// other id.
    fn request_layers(&mut self) {
        if self.t.meta().is_none_or(|m| m.has_v1) {
            return;
        }
        let Some(v2) = self.t.v2_hashes().cloned() else { return };
        for r in v2.layer_requests() {
            if self.hash_requests.len() >= MAX_HASH_REQUESTS {
                break;
            }
            if self.hash_asked.insert(r) {
                self.hash_requests.insert(r);
                self.send(Message::HashRequest(r));
            }
        }
    }

    /// BEP 52 `hash request`: answered from the piece layers we hold
    /// (with the uncle hashes asked for), or for block hashes from the
    /// piece's data on disk; rejected when we do not hold them, the
    /// request is out of the tree, or the peer asks faster than the
    /// request budget allows.
    fn on_hash_request(&mut self, r: HashRequest) {
        let v2 = self.hash_budget.take(Instant::now()).then(|| self.t.v2_hashes().cloned()).flatten();
        if let Some(v2) = &v2 {
            if let Some(piece) = v2.block_request_piece(&r) {
                if self.t.core.lock().picker.have(piece) {
                    self.answer_block_hashes(v2.clone(), r, piece);
                    return;
                }
            }
        }
        let answer = v2
            .and_then(|v2| v2.layer_tree(v2.file_for_root(&r.pieces_root)?))
            .and_then(|tree| tree.hashes(r.base, r.index, r.length, r.proof_layers));
        match answer {
            Some(hashes) => self.send(Message::Hashes { request: r, hashes }),
            None => self.send(Message::HashReject(r)),
        }
    }

    /// Answers a request for a piece's block hashes (libtorrent sends one
    /// after a piece failed its check, to find who sent the bad block):
    /// the piece is read and hashed off the network task, then the answer
    /// or a reject is queued.
    fn answer_block_hashes(&self, v2: Arc<super::v2::PieceHashes>, r: HashRequest, piece: u32) {
        let (t, w) = (self.t.clone(), self.w.clone());
        tokio::spawn(async move {
            let size = t.lengths().piece_size(piece) as usize;
            let answer = match t.storage().cloned() {
                Some(storage) => tokio::task::spawn_blocking(move || {
                    let mut data = vec![0; size];
                    storage.read(piece, 0, &mut data).ok()?;
                    v2.block_hashes(&r, piece, &data)
                })
                .await
                .ok()
                .flatten(),
                None => None,
            };
            let msg = match answer {
                Some(hashes) => Message::Hashes { request: r, hashes },
                None => Message::HashReject(r),
            };
            let _ = w.send(Out::Msg(msg));
        });
    }

    /// An extended message (BEP 10): the handshake, or one of the
    /// extensions we offered. Ids we did not offer are ignored.
    fn extended(&mut self, id: u8, payload: &[u8]) -> Result<(), Error> {
        if id == 0 {
            return self.ext_handshake(payload);
        }
        match Extension::from_local_id(id).filter(|e| self.offered.contains(e)) {
            Some(Extension::Metadata) => self.metadata_message(payload),
            Some(Extension::Pex) => self.pex_message(payload),
            None => Ok(()),
        }
    }

    /// The peer's extension handshake. A malformed one is ignored (the
    /// peer then simply has no extensions), as libtorrent does; an absurd
    /// `metadata_size` while we need the metadata ends the connection.
    fn ext_handshake(&mut self, payload: &[u8]) -> Result<(), Error> {
        let Ok(hs) = ExtHandshake::decode(payload) else { return Ok(()) };
        if let Some(v) = hs.client {
            *self.handle.client.lock() = v.chars().take(64).collect();
        }
        if let Some(q) = hs.reqq {
            self.peer_reqq = (q as usize).clamp(1, 5000);
        }
        self.peer_ext.update(&hs.m);
        if let Some(port) = hs.listen_port {
            self.handle.listen_port.store(port, Ordering::Relaxed);
        }
        if let Some(size) = hs.metadata_size {
            // Beyond lt's .torrent size limit the dictionary could not be parsed anyway.
            let max = self.t.ses.settings.read().max_metadata_size.min(MAX_TORRENT_SIZE as i64);
            if i64::from(size) > max {
                if self.t.meta().is_none() {
                    return Err(protocol(format!(
                        "metadata_size {size} is more than max_metadata_size ({max} bytes)"
                    )));
                }
            } else {
                self.peer_metadata_size = Some(size);
            }
        }
        self.request_metadata();
        Ok(())
    }

    /// A `ut_pex` message: the peers it names go to the torrent as PEX
    /// peers, at most `pex::MAX_PEX_PEERS` from one connection (its
    /// `dropped` entries free room), as libtorrent takes them. A peer that
    /// sends a malformed message or floods them is disconnected.
    fn pex_message(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.t.ses.counters.add(Metric::InPex, 1);
        if !self.pex_in.accept(Instant::now()) {
            return Err(protocol("ut_pex messages more often than libtorrent allows"));
        }
        let msg = PexMessage::decode(payload).map_err(|e| protocol(e.to_string()))?;
        for addr in &msg.dropped {
            self.pex_taken.remove(addr);
        }
        let mut found = Vec::new();
        for (addr, _) in msg.added {
            if self.pex_taken.len() >= pex::MAX_PEX_PEERS {
                break;
            }
            if self.pex_taken.insert(addr) {
                found.push(addr);
            }
        }
        if !found.is_empty() {
            self.t.ses.peers_found(&self.t.info_hash, &found, PeerSource::Pex);
        }
        Ok(())
    }

    /// Tells the peer, once its handshake says it speaks `ut_pex` and then
    /// at most once a minute, which of our peers joined and left since.
    fn send_pex(&mut self) {
        if !self.offered.contains(&Extension::Pex) {
            return;
        }
        let Some(id) = self.peer_ext.id(Extension::Pex) else { return };
        let now = Instant::now();
        if self.pex_sent_at.is_some_and(|at| now.duration_since(at) < pex::SEND_INTERVAL) {
            return;
        }
        let current: Vec<(SocketAddr, PexFlags)> = self
            .t
            .peers()
            .iter()
            .filter(|p| p.key != self.handle.key)
            .filter_map(|p| {
                let addr = p.reachable_addr()?;
                let mut flags = PexFlags::default();
                if p.is_seed() {
                    flags = flags | PexFlags::SEED;
                }
                if !p.incoming {
                    flags = flags | PexFlags::REACHABLE;
                }
                if p.has_flag(flags::UTP_SOCKET) {
                    flags = flags | PexFlags::UTP;
                }
                if p.has_flag(flags::RC4_ENCRYPTED | flags::PLAINTEXT_ENCRYPTED) {
                    flags = flags | PexFlags::ENCRYPTION;
                }
                Some((addr, flags))
            })
            .collect();
        self.pex_sent_at = Some(now);
        if let Some(msg) = self.pex_out.next_message(&current) {
            self.t.ses.counters.add(Metric::OutPex, 1);
            self.send(Message::Extended { id, payload: msg.encode().into() });
        }
    }

    /// A `ut_metadata` message: serve a request, take a piece, note a reject.
    fn metadata_message(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.t.ses.counters.add(Metric::InMetadata, 1);
        let msg = MetadataMessage::decode(payload).map_err(|e| protocol(e.to_string()))?;
        match msg {
            MetadataMessage::Request { piece } => self.serve_metadata(piece),
            MetadataMessage::Data { piece, total_size, data } => {
                let Some(i) = self.metadata_requests.iter().position(|(p, _)| *p == piece) else {
                    // Not asked of this peer (or timed out): of no use.
                    self.t.ses.counters.add(Metric::WastedBytes, data.len() as i64);
                    return Ok(());
                };
                self.metadata_requests.swap_remove(i);
                let key = self.handle.key;
                self.t.clone().metadata_piece(key, self.handle.addr, piece, total_size, data)?;
                self.request_metadata();
            }
            MetadataMessage::Reject { piece } => {
                if let Some(i) = self.metadata_requests.iter().position(|(p, _)| *p == piece) {
                    self.metadata_requests.swap_remove(i);
                    self.t.metadata_rejected(self.handle.key, piece);
                    self.metadata_paused_until = Some(Instant::now() + METADATA_REJECT_PAUSE);
                }
            }
        }
        Ok(())
    }

    /// Sends metadata piece `piece`, or a reject when we have no metadata,
    /// the piece does not exist, or the peer asks faster than
    /// `METADATA_PER_SECOND`.
    fn serve_metadata(&mut self, piece: u32) {
        let Some(id) = self.peer_ext.id(Extension::Metadata) else { return };
        let meta = self.t.meta().cloned();
        let info = meta.as_ref().map(|m| &m.info_bytes[..]).unwrap_or_default();
        let size = info.len() as u32;
        let len = extension::metadata_piece_len(size, piece) as usize;
        let msg = if len > 0 && self.metadata_budget.take(Instant::now()) {
            let start = (piece * extension::METADATA_PIECE_SIZE) as usize;
            MetadataMessage::Data { piece, total_size: size, data: &info[start..start + len] }
        } else {
            MetadataMessage::Reject { piece }
        };
        self.t.ses.counters.add(Metric::OutMetadata, 1);
        self.send(Message::Extended { id, payload: msg.encode().into() });
    }

    /// Asks the peer for metadata pieces while the torrent lacks its
    /// metadata and the peer offers it, at most
    /// `metadata::MAX_REQUESTS_PER_PEER` at a time.
    fn request_metadata(&mut self) {
        if self.pending.is_none() {
            return;
        }
        let (Some(id), Some(size)) = (self.peer_ext.id(Extension::Metadata), self.peer_metadata_size) else {
            return;
        };
        let now = Instant::now();
        if self.metadata_paused_until.is_some_and(|t| now < t) {
            return;
        }
        self.metadata_requests.retain(|(_, at)| now.duration_since(*at) < METADATA_REQUEST_TIMEOUT);
        while self.metadata_requests.len() < MAX_REQUESTS_PER_PEER {
            let Some(piece) = self.t.metadata_request(self.handle.key, size) else { break };
            self.metadata_requests.push((piece, now));
            self.t.ses.counters.add(Metric::OutMetadata, 1);
            let payload = MetadataMessage::Request { piece }.encode();
            self.send(Message::Extended { id, payload: payload.into() });
        }
    }

    /// The metadata arrived: the piece messages kept meanwhile become the
    /// peer's piece set, checked as they would have been on arrival.
    fn metadata_ready(&mut self) -> Result<(), Error> {
        let Some(pending) = self.pending.take() else { return Ok(()) };
        self.metadata_requests.clear();
        let n = self.t.lengths().num_pieces();
        self.handle.total_pieces.store(n, Ordering::Relaxed);
        self.offered = offered_extensions(&self.t);
        let mut bf = match pending.set {
            Some(PieceSet::Bitfield(bytes)) => Bitfield::from_bytes(&bytes, n)
                .ok_or_else(|| protocol(format!("bitfield of {} bytes for {n} pieces", bytes.len())))?,
            Some(PieceSet::All(true)) => Bitfield::full(n),
            Some(PieceSet::All(false)) | None => Bitfield::new(n),
        };
        for piece in pending.haves {
            if piece >= n {
                return Err(protocol(format!("have for piece {piece}, torrent has {n}")));
            }
            bf.set(piece, true);
        }
        self.has = Bitfield::new(n);
        self.replace_piece_set(bf);
        self.request_layers();
        self.fill_requests();
        Ok(())
    }

    /// The peer's whole piece set, from a bitfield, have_all or have_none:
    /// replaces what it had, in the availability counts too.
    fn replace_piece_set(&mut self, bf: Bitfield) {
        let old = std::mem::replace(&mut self.has, bf);
        self.set_seed_flag();
        let interesting = self.t.peer_bitfield(&old, &self.has);
        if interesting != self.am_interested {
            self.update_interest();
        }
        if self.has.all() && self.t.core.lock().picker.is_seed() {
            // Two seeds have nothing to say to each other.
            let _ = self
                .handle
                .tx
                .send(PeerCmd::Close(Error::new(ErrorKind::ShuttingDown, "both sides are seeds").into()));
        }
    }

    /// A request for a block. Requests outside the torrent, for pieces we
    /// lack or while choked are rejected (or, without the fast extension,
    /// ignored) and counted rather than fatal, as libtorrent does: clients
    /// race chokes and have messages. Only a peer that keeps sending
    /// requests that can never be served is disconnected.
    fn on_request(&mut self, r: BlockRequest) -> Result<(), Error> {
        let lengths = self.t.lengths();
        self.t.ses.counters.add(Metric::PieceRequests, 1);
        if !self.handle.peer_interested() {
            // A request implies interest; libtorrent treats it the same way.
            self.handle.set_flag(flags::REMOTE_INTERESTED, true);
            self.t.ses.counters.add(Metric::NumPeersUpInterested, 1);
            self.t.peer_interested(&self.handle);
        }
        if r.piece >= lengths.num_pieces() || !lengths.is_valid_request(r.piece, r.begin, r.length) {
            self.t.ses.counters.add(Metric::InvalidPieceRequests, 1);
            self.invalid_requests += 1;
            if self.invalid_requests > MAX_INVALID_REQUESTS {
                return Err(protocol(format!(
                    "{} invalid requests, the last for piece {} offset {} length {}",
                    self.invalid_requests, r.piece, r.begin, r.length
                )));
            }
            if self.fast {
                self.send(Message::Reject(r));
            }
            return Ok(());
        }
        let limit = self.t.ses.settings.read().max_allowed_in_request_queue as usize;
        let we_have = self.t.core.lock().picker.have(r.piece);
        if self.handle.am_choking() {
            self.t.ses.counters.add(Metric::ChokedPieceRequests, 1);
        } else if !we_have {
            self.t.ses.counters.add(Metric::InvalidPieceRequests, 1);
        }
        if self.handle.am_choking() || !we_have || self.queued.load(Ordering::Relaxed) >= limit {
            if self.fast {
                self.send(Message::Reject(r));
            }
            return Ok(());
        }
        let _ = self.w.send(Out::Upload(r));
        Ok(())
    }

    /// A block of data. One outside the torrent is a protocol error (as in
    /// libtorrent); one inside it that is not a whole block as we request
    /// them was not asked for and is dropped as waste.
    fn on_piece(&mut self, piece: u32, begin: u32, data: &[u8]) -> Result<(), Error> {
        let lengths = self.t.lengths();
        if !lengths.is_valid_request(piece, begin, data.len() as u32) {
            return Err(protocol(format!(
                "piece message out of range: piece {piece} offset {begin} length {}",
                data.len()
            )));
        }
        let n = data.len() as i64;
        let block = Block { piece, index: begin / BLOCK_SIZE };
        if begin % BLOCK_SIZE != 0 || data.len() as u32 != lengths.block_size(piece, block.index) {
            self.t.ses.counters.add(Metric::RecvPayloadBytes, n);
            self.t.ses.counters.add(Metric::WastedBytes, n);
            return Ok(());
        }
        self.handle.down_payload.fetch_add(n, Ordering::Relaxed);
        self.t.counters.recv_payload.fetch_add(n, Ordering::Relaxed);
        self.t.ses.counters.add(Metric::RecvPayloadBytes, n);
        // A block not (or no longer) requested from this peer is still
        // handed to the picker, which decides whether it is of use.
        if let Some(requested_at) = self.outstanding.remove(&block) {
            self.handle.record_rtt(requested_at.elapsed());
        }
        self.handle.set_outstanding(self.outstanding.len());
        self.handle.set_flag(flags::SNUBBED, false);
        let others = self.t.block_received(self.handle.key, self.handle.addr, block, data);
        if !others.is_empty() {
            self.t.cancel_block(&others, block);
        }
        Ok(())
    }

    /// Keeps the request pipeline full: enough requests to cover
    /// `request_queue_time` seconds at the peer's current rate.
    fn fill_requests(&mut self) {
        if self.peer_choking || !self.am_interested {
            return;
        }
        // Backpressure: while too much received data waits for the disk,
        // ask for nothing more; the disk wakes us when it catches up.
        self.throttled = self.t.ses.disk_backlogged();
        if self.throttled {
            return;
        }
        let s = self.t.ses.settings.read();
        let max = (s.max_out_request_queue as usize).min(self.peer_reqq);
        let by_rate =
            (self.handle.down_rate() as usize * s.request_queue_time as usize) / BLOCK_SIZE as usize;
        drop(s);
        let target = by_rate.clamp(16.min(max), max);
        if self.outstanding.len() >= target {
            return;
        }
        let want = target - self.outstanding.len();
        self.pick_buf.clear();
        let mut picked = std::mem::take(&mut self.pick_buf);
        self.t.pick_blocks(&self.has, self.handle.key, want, &mut picked);
        let now = Instant::now();
        let lengths = self.t.lengths();
        for b in &picked {
            let length = lengths.block_size(b.piece, b.index);
            self.outstanding.insert(*b, now);
            self.send(Message::Request(BlockRequest { piece: b.piece, begin: b.begin(), length }));
        }
        self.t.ses.counters.add(Metric::BlocksRequested, picked.len() as i64);
        self.pick_buf = picked;
        self.handle.set_outstanding(self.outstanding.len());
        if self.outstanding.is_empty() && self.am_interested && !self.t.is_interesting(&self.has) {
            self.update_interest();
        }
    }

    fn tick(&mut self) -> Result<(), Error> {
        self.ticks += 1;
        let s = self.t.ses.settings.read();
        let peer_timeout = Duration::from_secs(s.peer_timeout as u64);
        let request_timeout = Duration::from_secs(s.request_timeout as u64);
        drop(s);
        if self.last_recv.elapsed() > peer_timeout {
            self.t.ses.counters.add(Metric::TimeoutPeers, 1);
            return Err(Error::new(ErrorKind::Timeout, "peer sent nothing for too long"));
        }
        // Requests unanswered for too long go back to the picker so other
        // peers can take them; this peer is marked snubbed.
        if self.last_recv.elapsed() > request_timeout && !self.outstanding.is_empty() {
            let blocks: Vec<Block> = self.outstanding.drain().map(|(b, _)| b).collect();
            self.t.ses.counters.add(Metric::TimedOutRequests, blocks.len() as i64);
            self.t.ses.counters.add(Metric::SnubbedPeers, 1);
            self.t.abort_blocks(self.handle.key, blocks);
            self.handle.set_outstanding(0);
            self.handle.set_flag(flags::SNUBBED, true);
        }
        if self.ticks % 60 == 0 {
            self.send(Message::KeepAlive);
        }
        self.request_metadata();
        self.send_pex();
        self.fill_requests();
        Ok(())
    }
}
