//! uTP (BEP 29): reliable, congestion-controlled byte streams over the
//! listen interface's shared UDP socket.
//!
//! One [`UtpSocket`] per [`UdpTransport`] demultiplexes packets to
//! connections by (peer address, connection id). Packets are processed on
//! the UDP receive task, in place: no task, no channel and no allocation
//! per packet beyond the payload's one copy into the receive queue. One
//! timer task per socket ticks every [`TICK`] for retransmission timeouts,
//! SYN and FIN resends and delayed acks. Acks are otherwise sent when the
//! UDP socket's receive queue is drained, so a burst of packets is acked
//! once, as libtorrent does.

pub mod conn;
pub mod ledbat;
pub mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::conn::{Conn, Failure, Output, State};
pub use self::stream::UtpStream;
use super::udp::{UdpTransport, GSO_MAX_BYTES};
use super::DatagramHandler;
use crate::engine::settings::Settings;
use crate::engine::stats::{Counters, Metric};
use crate::proto::utp::{decode, Header, PacketType};

/// Period of the timer task.
const TICK: Duration = Duration::from_millis(10);
/// Incoming connections waiting for `accept`; SYNs beyond get RESET.
const ACCEPT_BACKLOG: usize = 64;
/// How long an incoming connection may wait for the peer's first packet
/// after our answer to its SYN (which proves the peer's address) before
/// it is dropped.
const PROOF_TIMEOUT_US: u64 = 10_000_000;

/// The uTP settings (libtorrent's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtpConfig {
    /// LEDBAT's target queuing delay, milliseconds.
    pub target_delay_ms: u64,
    /// Bytes the window may grow by per round trip when the delay is 0.
    pub gain_factor: i64,
    /// Lowest retransmission timeout, milliseconds.
    pub min_timeout_ms: u64,
    /// SYN resends before a connect fails.
    pub syn_resends: u32,
    /// FIN resends before the connection is given up.
    pub fin_resends: u32,
    /// Data packet resends before the connection fails.
    pub num_resends: u32,
    /// Time a connect may take, milliseconds.
    pub connect_timeout_ms: u64,
    /// Percent of the window kept on loss.
    pub loss_multiplier: i64,
    /// Connections the socket holds at most; SYNs beyond are dropped
    /// unanswered (libtorrent's SYN-flood guard: twice connections_limit).
    pub max_connections: usize,
}

impl UtpConfig {
    pub fn from_settings(s: &Settings) -> UtpConfig {
        UtpConfig {
            target_delay_ms: s.utp_target_delay as u64,
            gain_factor: s.utp_gain_factor,
            min_timeout_ms: s.utp_min_timeout as u64,
            syn_resends: s.utp_syn_resends as u32,
            fin_resends: s.utp_fin_resends as u32,
            num_resends: s.utp_num_resends as u32,
            connect_timeout_ms: s.utp_connect_timeout as u64,
            loss_multiplier: s.utp_loss_multiplier,
            max_connections: (s.connections_limit as usize).saturating_mul(2),
        }
    }

    fn target_delay_us(&self) -> u32 {
        (self.target_delay_ms * 1000).min(u64::from(u32::MAX)) as u32
    }
}

/// A connection and the tasks waiting on it.
struct Slot {
    conn: Conn,
    read_waker: Option<std::task::Waker>,
    write_waker: Option<std::task::Waker>,
    /// The socket forgot the connection while a stream still holds it.
    removed: bool,
}

/// What a stream and the socket share of one connection.
struct Shared {
    slot: Mutex<Slot>,
    peer: SocketAddr,
    socket: Arc<Inner>,
    /// An incoming connection whose peer has not yet acked our answer to
    /// its SYN: its source address may be forged, so it is not accepted
    /// yet. Holds the ack that proves it and the time it must come by.
    unproven: Mutex<Option<(u16, u64)>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.slot.get_mut().removed {
            self.socket.deleted.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Shared {
    /// Runs `f` on the connection with an output to the peer, then wakes
    /// the stream if `f` made progress it waits for.
    fn with<R>(&self, f: impl FnOnce(&mut Conn, &mut dyn Output, u64) -> R) -> R {
        self.with_slot(|slot, out, now| f(&mut slot.conn, out, now))
    }

    /// [`Shared::with`] with the wakers at hand, for a stream that
    /// registers its waker under the same lock it checked the state in.
    fn with_slot<R>(&self, f: impl FnOnce(&mut Slot, &mut dyn Output, u64) -> R) -> R {
        let now = self.socket.now_us();
        let mut out = Batch::new(&self.socket.udp, self.peer);
        let mut slot = self.slot.lock();
        let r = f(&mut slot, &mut out, now);
        out.finish(&mut slot.conn);
        let wake = slot.conn.take_wake();
        let read = if wake.read { slot.read_waker.take() } else { None };
        let write = if wake.write { slot.write_waker.take() } else { None };
        drop(slot);
        if let Some(w) = read {
            w.wake();
        }
        if let Some(w) = write {
            w.wake();
        }
        r
    }
}

/// An [`Output`] onto the shared UDP socket that gathers a run of packets
/// of one size (a congestion window's worth of full data packets) and
/// sends it with one system call when the kernel segments
/// ([`UdpTransport::send_segments`]). A shorter packet ends a run. What is
/// gathered leaves at [`Batch::flush`], which the owner calls while it
/// still holds the connection's lock, so packets leave in sequence order;
/// packets of a run the socket refused are then handed back to the
/// connection ([`Conn::refused`]) to be sent again.
struct Batch<'a> {
    udp: &'a UdpTransport,
    to: SocketAddr,
    buf: Vec<u8>,
    seg_len: usize,
    /// Sequence number of each gathered packet that is not an ack (a run
    /// is at most [`RUN_SEGMENTS`], so no allocation per call).
    seqs: [Option<u16>; RUN_SEGMENTS],
    count: usize,
    /// Sequence numbers of packets the socket refused.
    refused: Vec<u16>,
}

/// Most packets one [`Batch`] run carries (the kernel takes up to
/// `GSO_MAX_SEGMENTS`). Fewer than the kernel allows: a whole window in
/// one run lands in a slow receiver's socket at once and its tail is
/// lost. Seeding 256 MiB over loopback (benches/transport_bench.py
/// pairs, medians of 4), runs of 64 / 16 / 8: to lt 317 / 306 / 274 MB/s,
/// to libtorrent 33 / 84 / 66 MB/s; one datagram per call, in other runs
/// of the same benchmark: 169–173 and 36–68.
const RUN_SEGMENTS: usize = 16;
const _: () = assert!(RUN_SEGMENTS <= super::udp::GSO_MAX_SEGMENTS);

thread_local! {
    /// A batch's buffer, kept between calls so a send does not allocate.
    static BATCH_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl<'a> Batch<'a> {
    fn new(udp: &'a UdpTransport, to: SocketAddr) -> Batch<'a> {
        let mut buf = BATCH_BUF.with(|b| b.take());
        buf.clear();
        Batch { udp, to, buf, seg_len: 0, seqs: [None; RUN_SEGMENTS], count: 0, refused: Vec::new() }
    }

    /// Sends what is gathered; answers whether all of it left (what did
    /// not is in `refused`).
    fn flush(&mut self) -> bool {
        let count = std::mem::take(&mut self.count);
        if count == 0 {
            return true;
        }
        let sent = self.udp.send_segments(&self.buf, self.seg_len, self.to);
        self.refused.extend(self.seqs[sent.min(count)..count].iter().flatten());
        self.buf.clear();
        sent >= count
    }

    /// Flushes, then tells `conn` which packets must go again.
    fn finish(&mut self, conn: &mut Conn) {
        self.flush();
        if !self.refused.is_empty() {
            conn.refused(&self.refused);
            self.refused.clear();
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        // Owners call `finish`; this only catches a path that did not.
        self.flush();
        BATCH_BUF.with(|b| b.set(std::mem::take(&mut self.buf)));
    }
}

impl Output for Batch<'_> {
    fn send(&mut self, packet: &[u8]) -> bool {
        if !self.udp.segments_in_one_call() {
            // What is gathered goes first, to keep the order.
            return self.flush() && self.udp.send_to(packet, self.to);
        }
        let ends_run = self.count > 0
            && (packet.len() > self.seg_len
                || self.count == RUN_SEGMENTS
                || self.buf.len() + packet.len() > GSO_MAX_BYTES);
        // When the run this packet ends is refused, the packet is not
        // taken either: the connection keeps it to send later, as it does
        // when a single send is refused.
        if ends_run && !self.flush() {
            return false;
        }
        if self.count == 0 {
            self.seg_len = packet.len();
        }
        self.buf.extend_from_slice(packet);
        self.seqs[self.count] = match decode(packet) {
            Ok((h, _)) if h.ty != PacketType::State => Some(h.seq_nr),
            _ => None,
        };
        self.count += 1;
        // A shorter packet can only be a run's last segment.
        if packet.len() < self.seg_len {
            self.flush();
        }
        true
    }
}

struct Inner {
    udp: Arc<UdpTransport>,
    counters: Arc<Counters>,
    cfg: Mutex<UtpConfig>,
    conns: Mutex<HashMap<(SocketAddr, u16), Arc<Shared>>>,
    /// Connections that received a packet since the socket's receive queue
    /// was last drained: their acks go out then.
    pending_acks: Mutex<Vec<Arc<Shared>>>,
    accepting: AtomicBool,
    accept_tx: mpsc::Sender<UtpStream>,
    accept_rx: tokio::sync::Mutex<mpsc::Receiver<UtpStream>>,
    /// Addresses whose SYN was refused because the socket is not
    /// accepting, for the session's `peer_blocked` alerts; bounded (a
    /// full queue drops them: the refusal itself does not wait).
    refused_tx: mpsc::Sender<SocketAddr>,
    refused_rx: tokio::sync::Mutex<mpsc::Receiver<SocketAddr>>,
    /// Connections removed from `conns` whose stream is still alive.
    deleted: AtomicI64,
    epoch: Instant,
    shutdown: CancellationToken,
    /// What this socket last added to each gauge `tick` sets.
    reported: Mutex<[i64; 6]>,
}

impl Inner {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Answers a packet no connection takes with RESET (never a RESET).
    fn send_reset(&self, h: &Header, to: SocketAddr) {
        if h.ty == PacketType::Reset {
            return;
        }
        let reset = Header {
            ty: PacketType::Reset,
            connection_id: h.connection_id,
            timestamp_us: self.now_us() as u32,
            timestamp_diff_us: 0,
            wnd_size: 0,
            seq_nr: rand::random(),
            ack_nr: h.seq_nr,
            sack: None,
        };
        let mut buf = [0u8; crate::proto::utp::HEADER_LEN];
        reset.encode(&mut buf);
        if self.udp.send_to(&buf, to) {
            self.counters.add(Metric::UtpPacketsOut, 1);
        }
    }

    fn remove(&self, key: (SocketAddr, u16)) {
        if let Some(shared) = self.conns.lock().remove(&key) {
            let mut slot = shared.slot.lock();
            if Arc::strong_count(&shared) > 1 && !slot.removed {
                slot.removed = true;
                self.deleted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn on_syn(self: &Arc<Self>, h: &Header, from: SocketAddr) {
        let key = (from, h.connection_id.wrapping_add(1));
        let existing = self.conns.lock().get(&key).cloned();
        if let Some(shared) = existing {
            // A resent SYN: our answer was lost; the connection answers again.
            shared.with(|c, out, now| c.on_packet(h, &[], now, out));
            return;
        }
        if !self.accepting.load(Ordering::Relaxed) || self.shutdown.is_cancelled() {
            self.send_reset(h, from);
            if !self.shutdown.is_cancelled() {
                let _ = self.refused_tx.try_send(from);
            }
            return;
        }
        let cfg = *self.cfg.lock();
        if self.conns.lock().len() >= cfg.max_connections {
            // A SYN flood, or more peers than the session would take.
            self.counters.add(Metric::UtpInvalidPktsIn, 1);
            return;
        }
        let mut out = Batch::new(&self.udp, from);
        let initial_seq: u16 = rand::random();
        let now = self.now_us();
        let mut conn =
            Conn::accept(cfg, self.counters.clone(), h, initial_seq, from.is_ipv6(), now, &mut out);
        // The answer leaves before the connection can be found.
        out.finish(&mut conn);
        // The peer's packets after our STATE ack the seq before our first.
        let proof = initial_seq.wrapping_sub(1);
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot { conn, read_waker: None, write_waker: None, removed: false }),
            peer: from,
            socket: self.clone(),
            unproven: Mutex::new(Some((proof, now + PROOF_TIMEOUT_US))),
        });
        self.conns.lock().insert(key, shared);
    }

    /// Hands an incoming connection to `accept` once a packet acks our
    /// answer to its SYN: a forged source address cannot, so spoofed SYNs
    /// never take the session's connection slots.
    fn maybe_accept(&self, shared: &Arc<Shared>, h: &Header, key: (SocketAddr, u16)) {
        let mut unproven = shared.unproven.lock();
        let Some((proof, _)) = *unproven else { return };
        if h.ty == PacketType::Syn || h.ack_nr != proof {
            return;
        }
        *unproven = None;
        drop(unproven);
        if self.accept_tx.try_send(UtpStream::new(shared.clone())).is_err() {
            // Backlog full: the stream was dropped with the error; forget
            // the connection and tell the peer at once.
            shared.with(|c, _, _| c.abort());
            self.remove(key);
            self.send_reset(h, key.0);
        }
    }

    fn tick(&self) {
        let conns: Vec<((SocketAddr, u16), Arc<Shared>)> =
            self.conns.lock().iter().map(|(k, v)| (*k, v.clone())).collect();
        let mut gauges = [0i64; 4];
        let mut finished = Vec::new();
        let now_us = self.now_us();
        for (key, shared) in conns {
            if shared.unproven.lock().is_some_and(|(_, by)| now_us > by) {
                // Its peer never acked our STATE: most likely a forged SYN.
                shared.with(|c, _, _| c.abort());
                finished.push(key);
                continue;
            }
            let (done, gauge) = shared.with(|c, out, now| {
                c.on_tick(now, out);
                (c.is_finished(), c.state())
            });
            gauges[gauge as usize] += 1;
            if done {
                finished.push(key);
            }
        }
        for key in finished {
            self.remove(key);
        }
        let values = [
            (Metric::NumUtpSynSent, gauges[State::SynSent as usize]),
            (Metric::NumUtpConnected, gauges[State::Connected as usize]),
            (Metric::NumUtpFinSent, gauges[State::FinSent as usize]),
            (Metric::NumUtpCloseWait, gauges[State::CloseWait as usize]),
            (Metric::NumUtpIdle, (ACCEPT_BACKLOG - self.accept_tx.capacity()) as i64),
            (Metric::NumUtpDeleted, self.deleted.load(Ordering::Relaxed)),
        ];
        // The IPv4 and IPv6 sockets share the session's gauges: each adds
        // its own change, so a gauge holds their sum.
        let mut reported = self.reported.lock();
        for (i, (metric, value)) in values.into_iter().enumerate() {
            let delta = value - reported[i];
            if delta != 0 {
                self.counters.add(metric, delta);
                reported[i] = value;
            }
        }
    }

    fn abort_all(&self) {
        let conns: Vec<Arc<Shared>> = self.conns.lock().drain().map(|(_, v)| v).collect();
        for shared in conns {
            shared.with(|c, _, _| c.abort());
        }
    }
}

/// The uTP endpoint of one UDP socket: dials, accepts, and routes packets
/// to connections.
pub struct UtpSocket {
    inner: Arc<Inner>,
}

impl UtpSocket {
    /// Starts the socket's timer task (call inside the runtime) and
    /// registers on `udp` as its uTP handler. Incoming connections are
    /// refused until [`UtpSocket::set_accepting`]. On `shutdown` every
    /// connection fails with `ConnectionAborted` and the handler is removed.
    pub fn start(
        udp: Arc<UdpTransport>,
        counters: Arc<Counters>,
        cfg: UtpConfig,
        shutdown: CancellationToken,
    ) -> Arc<UtpSocket> {
        let (accept_tx, accept_rx) = mpsc::channel(ACCEPT_BACKLOG);
        let (refused_tx, refused_rx) = mpsc::channel(ACCEPT_BACKLOG);
        let inner = Arc::new(Inner {
            udp: udp.clone(),
            counters,
            cfg: Mutex::new(cfg),
            conns: Mutex::new(HashMap::new()),
            pending_acks: Mutex::new(Vec::new()),
            accepting: AtomicBool::new(false),
            accept_tx,
            accept_rx: tokio::sync::Mutex::new(accept_rx),
            refused_tx,
            refused_rx: tokio::sync::Mutex::new(refused_rx),
            deleted: AtomicI64::new(0),
            reported: Mutex::new([0; 6]),
            epoch: Instant::now(),
            shutdown: shutdown.clone(),
        });
        let socket = Arc::new(UtpSocket { inner: inner.clone() });
        udp.set_utp_handler(Some(socket.clone()));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = ticks.tick() => inner.tick(),
                }
            }
            udp.set_utp_handler(None);
            inner.abort_all();
            inner.tick();
        });
        socket
    }

    /// Ends every connection at once and forgets it (the session is
    /// closing): a connection and its socket refer to each other until
    /// then.
    pub fn close_all(&self) {
        self.inner.abort_all();
    }

    /// Applies changed settings to the socket and every connection.
    pub fn set_config(&self, cfg: UtpConfig) {
        *self.inner.cfg.lock() = cfg;
        let conns: Vec<Arc<Shared>> = self.inner.conns.lock().values().cloned().collect();
        for shared in conns {
            shared.slot.lock().conn.set_config(cfg);
        }
    }

    /// Accepts incoming connections (`enable_incoming_utp`) or refuses them
    /// with RESET.
    pub fn set_accepting(&self, on: bool) {
        self.inner.accepting.store(on, Ordering::Relaxed);
    }

    /// The UDP address the socket receives on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.udp.local_addr()
    }

    /// Opens a connection to `addr`. Fails with `TimedOut` after
    /// `utp_connect_timeout` without an answer, `ConnectionRefused` when the
    /// peer answers RESET, `ConnectionAborted` when the socket shuts down.
    pub async fn connect(&self, addr: SocketAddr) -> std::io::Result<UtpStream> {
        let inner = &self.inner;
        if inner.shutdown.is_cancelled() {
            return Err(Failure::Aborted.io_error());
        }
        let shared = {
            let mut conns = inner.conns.lock();
            // Our receive id and the peer's (ours + 1) must both be free.
            let recv_id = loop {
                let id: u16 = rand::random();
                if !conns.contains_key(&(addr, id)) && !conns.contains_key(&(addr, id.wrapping_add(1))) {
                    break id;
                }
            };
            let mut out = Batch::new(&inner.udp, addr);
            let mut conn = Conn::connect(
                *inner.cfg.lock(),
                inner.counters.clone(),
                recv_id,
                rand::random(),
                addr.is_ipv6(),
                inner.now_us(),
                &mut out,
            );
            out.finish(&mut conn);
            let shared = Arc::new(Shared {
                slot: Mutex::new(Slot { conn, read_waker: None, write_waker: None, removed: false }),
                peer: addr,
                socket: inner.clone(),
                unproven: Mutex::new(None),
            });
            conns.insert((addr, recv_id), shared.clone());
            shared
        };
        let stream = UtpStream::new(shared);
        stream.wait_connected().await?;
        Ok(stream)
    }

    /// The next incoming connection; `None` once the socket shut down.
    pub async fn accept(&self) -> Option<UtpStream> {
        let mut rx = self.inner.accept_rx.lock().await;
        tokio::select! {
            _ = self.inner.shutdown.cancelled() => None,
            s = rx.recv() => s,
        }
    }

    /// The next address whose connection was refused with RESET because
    /// the socket is not accepting (`enable_incoming_utp` off); `None`
    /// once the socket shuts down.
    pub async fn next_refused(&self) -> Option<SocketAddr> {
        let mut rx = self.inner.refused_rx.lock().await;
        tokio::select! {
            _ = self.inner.shutdown.cancelled() => None,
            a = rx.recv() => a,
        }
    }
}

impl DatagramHandler for UtpSocket {
    fn on_datagram(&self, from: SocketAddr, packet: &[u8]) {
        let inner = &self.inner;
        let (h, payload) = match decode(packet) {
            Ok(p) => p,
            Err(_) => {
                inner.counters.add(Metric::UtpInvalidPktsIn, 1);
                return;
            }
        };
        let shared = inner.conns.lock().get(&(from, h.connection_id)).cloned();
        let Some(shared) = shared else {
            if h.ty == PacketType::Syn {
                inner.on_syn(&h, from);
            } else {
                inner.counters.add(Metric::UtpInvalidPktsIn, 1);
                inner.send_reset(&h, from);
            }
            return;
        };
        let finished = shared.with(|c, out, now| {
            c.on_packet(&h, payload, now, out);
            c.is_finished()
        });
        if finished {
            inner.remove((from, h.connection_id));
        } else {
            inner.maybe_accept(&shared, &h, (from, h.connection_id));
            let mut pending = inner.pending_acks.lock();
            // Runs of packets of one connection come in a row.
            if !pending.last().is_some_and(|last| Arc::ptr_eq(last, &shared)) {
                pending.push(shared);
            }
        }
    }

    fn on_drained(&self) {
        let pending = std::mem::take(&mut *self.inner.pending_acks.lock());
        for shared in pending {
            shared.with(|c, out, now| c.flush_ack(now, out));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stats::Counters;

    fn packet(ty: PacketType, seq_nr: u16, len: usize) -> Vec<u8> {
        let h = Header {
            ty,
            connection_id: 1,
            timestamp_us: 0,
            timestamp_diff_us: 0,
            wnd_size: 0,
            seq_nr,
            ack_nr: 0,
            sack: None,
        };
        let mut p = vec![0u8; len.max(h.encoded_len())];
        h.encode(&mut p);
        p
    }

    /// A run the socket refuses (here: an IPv6 peer from an IPv4 socket)
    /// is reported packet by packet, acks left out, so the connection can
    /// send it again.
    #[tokio::test]
    async fn a_refused_run_is_reported_by_sequence_number() {
        let udp = UdpTransport::bind("127.0.0.1:0".parse().unwrap(), Arc::new(Counters::new())).unwrap();
        let mut out = Batch::new(&udp, "[::1]:9".parse().unwrap());
        for seq in 10..13 {
            assert!(out.send(&packet(PacketType::Data, seq, 1000)));
        }
        assert!(out.send(&packet(PacketType::State, 13, 20)), "a shorter packet ends the run");
        assert!(out.flush(), "the short packet sent the run already");
        assert_eq!(out.refused, vec![10, 11, 12]);
    }

    /// Gathered runs reach the peer as their packets, in order, with a
    /// size change starting a new run.
    #[tokio::test]
    async fn gathered_packets_arrive_in_order() {
        let udp = UdpTransport::bind("127.0.0.1:0".parse().unwrap(), Arc::new(Counters::new())).unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let sizes = [1000, 1000, 1000, 1200, 1200, 300, 1000, 20];
        let want: Vec<Vec<u8>> =
            sizes.iter().enumerate().map(|(i, &n)| packet(PacketType::Data, i as u16, n)).collect();
        let mut out = Batch::new(&udp, peer.local_addr().unwrap());
        for p in &want {
            assert!(out.send(p));
        }
        assert!(out.flush());
        assert!(out.refused.is_empty());
        let mut buf = [0u8; 2048];
        for p in &want {
            let n = peer.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &p[..]);
        }
    }
}
