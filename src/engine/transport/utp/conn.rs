//! One uTP connection's state machine, without sockets or clocks: packets
//! come in through [`Conn::on_packet`], go out through an [`Output`], and
//! time is an argument (microseconds since the socket started). The socket
//! drives it from its receive task and timer; the fuzz target drives it
//! with arbitrary packets.
//!
//! Behaviour follows libtorrent's `utp_stream.cpp`: the SYN/STATE handshake,
//! a cumulative ack plus selective acks, fast retransmit after three
//! duplicate acks or three packets selectively acked past a hole, a
//! retransmission timeout that resends the oldest packet and marks the
//! rest lost, LEDBAT on the peer's timestamp differences, the advertised
//! receive window, and MTU probing by growing packet sizes.

use std::collections::VecDeque;
use std::sync::Arc;

use super::ledbat::{DelayHistory, DelaySample, Ledbat, Rtt, MAX_RTO_US};
use super::UtpConfig;
use crate::engine::stats::{Counters, Metric};
use crate::proto::utp::{seq_diff, seq_less, Header, PacketType, Sack, HEADER_LEN};

/// Where a connection's packets go.
pub trait Output {
    /// Sends one datagram to the peer; answers false when the socket
    /// refused it (its buffer is full), so the packet is kept for later.
    /// An output that gathers packets and learns of a refusal only when it
    /// sends them reports it through [`Conn::refused`] instead.
    fn send(&mut self, packet: &[u8]) -> bool;
}

/// Bytes received and not yet read, plus reordered packets, at most.
/// Also the window we advertise when nothing is buffered.
pub const RECV_BUFFER: usize = 1 << 20;
/// Bytes written and not yet acked, at most: a write waits beyond this.
pub const SEND_BUFFER: usize = 1 << 20;
/// Packets received ahead of a hole that are kept (libtorrent's reorder
/// buffer is bounded the same way by its receive window).
const REORDER_LIMIT: usize = 1024;
/// Duplicate acks (or packets selectively acked past a hole) that mean a
/// packet was lost.
const DUP_ACK_THRESHOLD: usize = 3;
/// In-order data packets received before an ack goes out at once rather
/// than when the socket's receive queue is drained or at the next tick.
const ACK_EVERY: u32 = 16;
/// IP packet size every IPv4/IPv6 path carries (IPv6's minimum MTU).
const MTU_FLOOR: usize = 1280;
/// IP packet size probed up to (Ethernet).
const MTU_CEILING: usize = 1500;
/// Stop probing once floor and ceiling are this close (bytes).
const MTU_PROBE_GRANULARITY: usize = 16;
/// A packet's 4-byte-aligned selective ack covers this many packets.
const SACK_BYTES: usize = 4;
/// Received payloads shorter than this are appended to the previous one.
const SMALL_CHUNK: usize = 512;
/// How long a peer that closed its receive window may stay silent while
/// we probe it before the connection fails: probing a closed window is not
/// a lost path, but a peer that answers no probe for this long is gone.
const WINDOW_PROBE_SILENCE_US: u64 = 60_000_000;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Our SYN is out, no answer yet.
    SynSent,
    /// Handshake done; data flows both ways.
    Connected,
    /// Our FIN is queued or out, not yet acked.
    FinSent,
    /// Our FIN is acked, or the connection failed; waiting for the stream
    /// to be dropped or the peer's FIN.
    CloseWait,
}

/// How a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The peer answered RESET to our SYN.
    Refused,
    /// The peer sent RESET.
    Reset,
    /// SYN, data or FIN went unacknowledged too many times.
    TimedOut,
    /// The socket shut down.
    Aborted,
}

impl Failure {
    pub fn io_error(self) -> std::io::Error {
        use std::io::ErrorKind;
        let kind = match self {
            Failure::Refused => ErrorKind::ConnectionRefused,
            Failure::Reset => ErrorKind::ConnectionReset,
            Failure::TimedOut => ErrorKind::TimedOut,
            Failure::Aborted => ErrorKind::ConnectionAborted,
        };
        std::io::Error::new(kind, format!("uTP: {self:?}"))
    }
}

/// A packet sent and not yet acked.
struct Sent {
    /// Header space and payload; the header is rewritten on each send.
    buf: Vec<u8>,
    ty: PacketType,
    sent_at_us: u64,
    transmissions: u32,
    /// Lost (timeout or fast retransmit): to be sent again, not in flight.
    need_resend: bool,
    /// Selectively acked: arrived, only the cumulative ack is missing.
    sacked: bool,
    /// Sent larger than the MTU floor to learn whether the path carries it.
    probe: bool,
}

impl Sent {
    fn payload(&self) -> usize {
        self.buf.len() - HEADER_LEN
    }

    /// The round trip its ack arriving `now` measures, if it measures one.
    /// Karn's rule, and more: neither a resent packet nor one sent once but
    /// since given up as lost (a timeout marks everything in flight). The
    /// latter's ack may be one the peer held back or that was itself lost;
    /// taking it made each timeout the next RTT, and the RTO climbed to a
    /// minute against libtorrent under load.
    fn rtt_sample(&self, now: u64) -> Option<u64> {
        (self.transmissions == 1 && !self.need_resend).then(|| now.saturating_sub(self.sent_at_us))
    }
}

/// Data written and not yet sent, already in packet-sized buffers with
/// room for the header, so sending copies nothing.
struct Unsent {
    buf: Vec<u8>,
    /// Payload bytes this packet may hold.
    capacity: usize,
    probe: bool,
}

/// Received payload not yet read: whole packets, the first one partly read.
#[derive(Default)]
struct RecvQueue {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already read.
    offset: usize,
    bytes: usize,
}

/// What the stream side should be woken for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wake {
    pub read: bool,
    pub write: bool,
}

/// One connection.
pub struct Conn {
    cfg: UtpConfig,
    counters: Arc<Counters>,
    state: State,
    failure: Option<Failure>,
    /// Id the peer puts in packets to us, and the one we put in ours.
    pub recv_id: u16,
    send_id: u16,
    /// Sequence number of the next packet we send.
    seq_nr: u16,
    /// Highest sequence number the peer acked cumulatively.
    acked_seq: u16,
    /// Last in-order sequence number received.
    ack_nr: u16,
    /// Our microsecond clock minus the peer's timestamp on its last packet:
    /// echoed in every header so the peer measures its delay.
    /// When the peer's last packet arrived (our clock, microseconds).
    last_heard_us: u64,
    reply_micro: u32,

    /// Sent, unacked packets; seq `acked_seq + 1 + i` at index `i`.
    sent: VecDeque<Sent>,
    unsent: VecDeque<Unsent>,
    /// Payload bytes in `unsent`.
    unsent_bytes: usize,
    /// Payload bytes in `sent`.
    sent_bytes: usize,
    /// Payload bytes out on the wire (sent, not acked, not lost or sacked).
    in_flight: usize,
    /// Packets in `sent` marked `need_resend`.
    resend_count: usize,
    /// The peer's receive window.
    peer_wnd: usize,
    /// A FIN was asked for and is queued after the data.
    fin_queued: bool,
    /// Our FIN's sequence number once it is in `sent`.
    fin_seq: Option<u16>,
    /// The stream handle was dropped.
    closed_by_user: bool,

    duplicate_acks: usize,
    /// Lowest sequence number fast retransmit may still resend.
    fast_resend_seq: u16,
    /// Losses of packets before this were already answered by a window cut.
    loss_seq: u16,

    ledbat: Ledbat,
    delays: DelayHistory,
    rtt: Rtt,
    /// Lowest RTT seen: a one-way delay above it is impossible.
    min_rtt_us: u64,
    /// When the retransmission timer fires (if anything is outstanding).
    timeout_at: u64,
    /// Consecutive timeouts: the RTO doubles with each.
    backoff: u32,
    /// When the SYN was first sent: connect fails past utp_connect_timeout.
    syn_started_us: u64,

    recv: RecvQueue,
    /// Packets received ahead of a hole: index `i` is seq `ack_nr + 2 + i`.
    reorder: VecDeque<Option<Vec<u8>>>,
    reorder_bytes: usize,
    /// The peer's FIN sequence number, once seen.
    peer_fin: Option<u16>,
    /// All data up to the peer's FIN has arrived.
    eof: bool,
    /// Received data packets not yet acked.
    ack_pending: u32,
    /// The window in our last packet: a read that opens it wide sends an update.
    advertised_wnd: usize,

    /// Payload size of ordinary packets (the proven MTU floor).
    mss: usize,
    mtu_floor: usize,
    mtu_ceiling: usize,
    /// The probe in flight, if any.
    mtu_probe_seq: Option<u16>,

    wake: Wake,
}

impl Conn {
    fn new(
        cfg: UtpConfig,
        counters: Arc<Counters>,
        recv_id: u16,
        send_id: u16,
        seq_nr: u16,
        ipv6: bool,
    ) -> Conn {
        let ip_overhead = if ipv6 { 48 } else { 28 };
        let mss = MTU_FLOOR - ip_overhead - HEADER_LEN;
        Conn {
            cfg,
            counters,
            state: State::SynSent,
            failure: None,
            recv_id,
            send_id,
            seq_nr,
            acked_seq: seq_nr.wrapping_sub(1),
            ack_nr: 0,
            reply_micro: 0,
            last_heard_us: 0,
            sent: VecDeque::new(),
            unsent: VecDeque::new(),
            unsent_bytes: 0,
            sent_bytes: 0,
            in_flight: 0,
            resend_count: 0,
            peer_wnd: RECV_BUFFER,
            fin_queued: false,
            fin_seq: None,
            closed_by_user: false,
            duplicate_acks: 0,
            fast_resend_seq: seq_nr,
            loss_seq: seq_nr.wrapping_sub(1),
            ledbat: Ledbat::new(MTU_CEILING),
            delays: DelayHistory::new(),
            rtt: Rtt::default(),
            min_rtt_us: u64::MAX,
            timeout_at: u64::MAX,
            backoff: 0,
            syn_started_us: 0,
            recv: RecvQueue::default(),
            reorder: VecDeque::new(),
            reorder_bytes: 0,
            peer_fin: None,
            eof: false,
            ack_pending: 0,
            advertised_wnd: RECV_BUFFER,
            mss,
            mtu_floor: mss,
            mtu_ceiling: MTU_CEILING - ip_overhead - HEADER_LEN,
            mtu_probe_seq: None,
            wake: Wake::default(),
        }
    }

    /// Opens a connection: sends the SYN. `recv_id` is ours to receive on;
    /// the peer sends to us with it, we send with `recv_id + 1`.
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        cfg: UtpConfig,
        counters: Arc<Counters>,
        recv_id: u16,
        initial_seq: u16,
        ipv6: bool,
        now: u64,
        out: &mut dyn Output,
    ) -> Conn {
        let mut c = Conn::new(cfg, counters, recv_id, recv_id.wrapping_add(1), initial_seq, ipv6);
        c.syn_started_us = now;
        let mut buf = vec![0u8; HEADER_LEN];
        let seq = c.seq_nr;
        c.seq_nr = c.seq_nr.wrapping_add(1);
        c.fast_resend_seq = c.seq_nr;
        let header = c.header(PacketType::Syn, seq, now);
        // The SYN carries our receive id (the peer's send id) per BEP 29.
        Header { connection_id: recv_id, ..header }.encode(&mut buf);
        // Refused by the socket, it goes again at the first SYN resend.
        c.emit(&buf, out);
        c.sent.push_back(Sent {
            buf,
            ty: PacketType::Syn,
            sent_at_us: now,
            transmissions: 1,
            need_resend: false,
            sacked: false,
            probe: false,
        });
        c.timeout_at = now + c.syn_interval();
        c
    }

    /// Answers a peer's SYN: the connection is established at once (the
    /// STATE we send is the SYN's ack; our first DATA confirms it).
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        cfg: UtpConfig,
        counters: Arc<Counters>,
        syn: &Header,
        initial_seq: u16,
        ipv6: bool,
        now: u64,
        out: &mut dyn Output,
    ) -> Conn {
        let mut c =
            Conn::new(cfg, counters, syn.connection_id.wrapping_add(1), syn.connection_id, initial_seq, ipv6);
        c.state = State::Connected;
        c.ack_nr = syn.seq_nr;
        c.reply_micro = (now as u32).wrapping_sub(syn.timestamp_us);
        c.last_heard_us = now;
        c.peer_wnd = syn.wnd_size as usize;
        c.send_state(now, out);
        c
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn failure(&self) -> Option<Failure> {
        self.failure
    }

    /// Whether the socket may forget the connection: it failed, or both
    /// directions are closed, or the stream is gone and our FIN is acked.
    pub fn is_finished(&self) -> bool {
        self.failure.is_some() || (self.state == State::CloseWait && (self.eof || self.closed_by_user))
    }

    /// Takes what happened since the last call that a stream waits for.
    pub fn take_wake(&mut self) -> Wake {
        std::mem::take(&mut self.wake)
    }

    /// Bytes that can be read now.
    pub fn readable(&self) -> usize {
        self.recv.bytes
    }

    /// Whether the peer's FIN and all data before it arrived.
    pub fn eof(&self) -> bool {
        self.eof
    }

    /// Bytes a write may queue now.
    pub fn writable(&self) -> usize {
        SEND_BUFFER.saturating_sub(self.unsent_bytes + self.sent_bytes)
    }

    /// Whether our FIN is queued (writes are refused after it).
    pub fn write_closed(&self) -> bool {
        self.fin_queued || self.fin_seq.is_some()
    }

    /// Current payload size of a full packet.
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// The congestion window in bytes.
    pub fn cwnd(&self) -> usize {
        self.ledbat.window()
    }

    /// Applies changed settings.
    pub fn set_config(&mut self, cfg: UtpConfig) {
        self.cfg = cfg;
    }

    fn rto(&self) -> u64 {
        let base = self.rtt.rto(self.cfg.min_timeout_ms * 1000);
        base.saturating_mul(1 << self.backoff.min(16)).min(MAX_RTO_US)
    }

    fn syn_interval(&self) -> u64 {
        self.cfg.connect_timeout_ms * 1000 / (u64::from(self.cfg.syn_resends) + 1)
    }

    fn recv_window(&self) -> usize {
        RECV_BUFFER.saturating_sub(self.recv.bytes + self.reorder_bytes)
    }

    fn header(&self, ty: PacketType, seq_nr: u16, now: u64) -> Header {
        Header {
            ty,
            connection_id: self.send_id,
            timestamp_us: now as u32,
            timestamp_diff_us: self.reply_micro,
            wnd_size: self.recv_window() as u32,
            seq_nr,
            ack_nr: self.ack_nr,
            sack: None,
        }
    }

    fn emit(&mut self, packet: &[u8], out: &mut dyn Output) -> bool {
        let ok = out.send(packet);
        if ok {
            self.counters.add(Metric::UtpPacketsOut, 1);
        }
        ok
    }

    /// Sends an ack (STATE), with a selective ack when packets wait in the
    /// reorder buffer.
    fn send_state(&mut self, now: u64, out: &mut dyn Output) {
        let mut header = self.header(PacketType::State, self.seq_nr, now);
        if self.reorder.iter().any(Option::is_some) {
            let mut sack = Sack::with_len(self.reorder.len().div_ceil(8).max(SACK_BYTES));
            for (i, slot) in self.reorder.iter().enumerate() {
                if slot.is_some() {
                    sack.set(i);
                }
            }
            header.sack = Some(sack);
        }
        let mut buf = [0u8; HEADER_LEN + 2 + crate::proto::utp::MAX_SACK_LEN];
        let n = header.encode(&mut buf);
        if self.emit(&buf[..n], out) {
            self.ack_pending = 0;
            self.advertised_wnd = header.wnd_size as usize;
        }
    }

    /// Handles one packet of this connection (already matched by address
    /// and connection id).
    pub fn on_packet(&mut self, h: &Header, payload: &[u8], now: u64, out: &mut dyn Output) {
        self.counters.add(Metric::UtpPacketsIn, 1);
        if self.failure.is_some() {
            return;
        }
        match h.ty {
            PacketType::Reset => {
                self.fail(if self.state == State::SynSent { Failure::Refused } else { Failure::Reset });
                return;
            }
            PacketType::Syn => {
                // Our STATE was lost: the peer asks again.
                if self.state != State::SynSent && h.seq_nr == self.ack_nr {
                    self.send_state(now, out);
                } else {
                    self.counters.add(Metric::UtpInvalidPktsIn, 1);
                }
                return;
            }
            _ => {}
        }
        if self.state == State::SynSent {
            if h.ty == PacketType::Data && payload.is_empty() {
                self.counters.add(Metric::UtpInvalidPktsIn, 1);
                return;
            }
            // The first packet of the acceptor: its STATE carries the seq
            // of its first DATA, a DATA its own seq.
            self.ack_nr = h.seq_nr.wrapping_sub(1);
            self.state = State::Connected;
            self.wake.write = true;
            self.wake.read = true;
        }
        // An ack of packets we never sent is forged or corrupt.
        if seq_less(self.seq_nr.wrapping_sub(1), h.ack_nr) {
            self.counters.add(Metric::UtpInvalidPktsIn, 1);
            return;
        }
        self.reply_micro = (now as u32).wrapping_sub(h.timestamp_us);
        self.last_heard_us = now;
        self.peer_wnd = h.wnd_size as usize;
        self.on_ack(h, now, out);
        match h.ty {
            PacketType::Data | PacketType::Fin => self.on_data(h, payload, now, out),
            _ => {}
        }
        self.flush(now, out);
        self.check_closed();
    }

    /// Processes the ack fields of any packet.
    fn on_ack(&mut self, h: &Header, now: u64, out: &mut dyn Output) {
        let in_flight_before = self.in_flight;
        let mut acked_bytes = 0usize;
        let mut rtt_sample = None;
        let newly = seq_diff(h.ack_nr, self.acked_seq);
        if newly > 0 {
            for _ in 0..newly {
                let Some(p) = self.sent.pop_front() else { break };
                self.account_acked(&p, now, &mut acked_bytes, &mut rtt_sample);
            }
            self.acked_seq = h.ack_nr;
            self.duplicate_acks = 0;
            if seq_less(self.fast_resend_seq, self.acked_seq.wrapping_add(1)) {
                self.fast_resend_seq = self.acked_seq.wrapping_add(1);
            }
        } else if newly == 0 && h.ty == PacketType::State && h.sack.is_none() && !self.sent.is_empty() {
            self.duplicate_acks += 1;
        }
        let mut lost_by_sack = None;
        // A selective ack is relative to its packet's ack_nr: one that came
        // late (an older ack_nr) describes packets we no longer index so.
        let sack = h.sack.as_ref().filter(|_| h.ack_nr == self.acked_seq);
        if let Some(sack) = sack {
            // Bit i is seq ack_nr + 2 + i, i.e. sent index i + 1 now.
            let mut seen_after = 0;
            for i in (0..sack.bits().min(self.sent.len().saturating_sub(1))).rev() {
                let idx = i + 1;
                if sack.get(i) {
                    seen_after += 1;
                    let p = &mut self.sent[idx];
                    if !p.sacked {
                        p.sacked = true;
                        rtt_sample = p.rtt_sample(now).or(rtt_sample);
                        if p.need_resend {
                            p.need_resend = false;
                            self.resend_count -= 1;
                        } else {
                            self.in_flight -= p.payload();
                        }
                        acked_bytes += p.payload();
                    }
                } else if seen_after >= DUP_ACK_THRESHOLD {
                    let seq = self.acked_seq.wrapping_add(1 + idx as u16);
                    if !self.sent[idx].sacked && !seq_less(seq, self.fast_resend_seq) {
                        lost_by_sack = Some(idx);
                    }
                }
            }
            // The packet right after the cumulative ack, missing while three
            // after it arrived.
            if seen_after >= DUP_ACK_THRESHOLD && !self.sent.is_empty() {
                let seq = self.acked_seq.wrapping_add(1);
                if !seq_less(seq, self.fast_resend_seq) {
                    lost_by_sack = Some(0);
                }
            }
        }
        if let Some(rtt) = rtt_sample {
            // Karn: the backed-off timer stays until a packet sent once is
            // acked, else an RTT grown above the RTO would time out every
            // window and never be measured.
            self.backoff = 0;
            self.rtt.sample(rtt);
            self.min_rtt_us = self.min_rtt_us.min(rtt);
        }
        if acked_bytes > 0 {
            self.timeout_at = if self.sent.is_empty() { u64::MAX } else { now + self.rto() };
            self.wake.write = true;
            let sample = if h.timestamp_diff_us == 0 || h.timestamp_diff_us == i32::MAX as u32 {
                None
            } else {
                Some(self.delays.add(h.timestamp_diff_us, now))
            };
            if let Some(delay) = sample {
                let delay = u64::from(delay).min(self.min_rtt_us) as u32;
                let saturated = in_flight_before + acked_bytes + self.mss > self.ledbat.window();
                let verdict = self.ledbat.on_ack(
                    acked_bytes,
                    in_flight_before.max(acked_bytes),
                    delay,
                    self.cfg.target_delay_us(),
                    self.cfg.gain_factor,
                    self.mss,
                    saturated,
                );
                self.counters.add(
                    match verdict {
                        DelaySample::AboveTarget => Metric::UtpSamplesAboveTarget,
                        DelaySample::BelowTarget => Metric::UtpSamplesBelowTarget,
                    },
                    1,
                );
            }
        }
        let lost = if self.duplicate_acks >= DUP_ACK_THRESHOLD && !self.sent.is_empty() {
            let seq = self.acked_seq.wrapping_add(1);
            (!seq_less(seq, self.fast_resend_seq)).then_some(0)
        } else {
            None
        };
        if let Some(idx) = lost.or(lost_by_sack) {
            self.fast_retransmit(idx, now, out);
        }
    }

    fn account_acked(&mut self, p: &Sent, now: u64, acked_bytes: &mut usize, rtt: &mut Option<u64>) {
        self.sent_bytes -= p.payload();
        if p.need_resend {
            self.resend_count -= 1;
        } else if !p.sacked {
            self.in_flight -= p.payload();
        }
        if !p.sacked {
            *acked_bytes += p.payload();
            *rtt = p.rtt_sample(now).or(*rtt);
        }
        if p.probe {
            // The path carried the probe: its size is the new floor.
            self.mtu_floor = self.mtu_floor.max(p.payload());
            self.mss = self.mtu_floor;
            self.mtu_probe_seq = None;
        }
        if p.ty == PacketType::Fin {
            self.state = State::CloseWait;
            self.wake.write = true;
        }
    }

    /// Packets [`Output::send`] took but the socket then refused, by
    /// sequence number: kept to send again, as if `send` had answered
    /// false. Others (acks, packets already acked) are ignored.
    pub fn refused(&mut self, seqs: &[u16]) {
        for &seq in seqs {
            let Ok(idx) = usize::try_from(seq_diff(seq, self.acked_seq.wrapping_add(1))) else { continue };
            let Some(p) = self.sent.get_mut(idx) else { continue };
            if p.sacked || p.need_resend || p.transmissions == 0 {
                continue;
            }
            p.transmissions -= 1;
            p.need_resend = true;
            self.resend_count += 1;
            self.in_flight -= p.payload();
        }
    }

    /// Resends the packet at `idx` of `sent` before its timer, once.
    fn fast_retransmit(&mut self, idx: usize, now: u64, out: &mut dyn Output) {
        let seq = self.acked_seq.wrapping_add(1 + idx as u16);
        self.fast_resend_seq = seq.wrapping_add(1);
        self.duplicate_acks = 0;
        self.counters.add(Metric::UtpFastRetransmit, 1);
        self.on_lost(seq, idx);
        self.resend(idx, now, out);
    }

    /// A packet was found lost: cut the window once per window of data.
    fn on_lost(&mut self, seq: u16, idx: usize) {
        self.counters.add(Metric::UtpPacketLoss, 1);
        if self.mtu_probe_seq == Some(seq) {
            // A lost probe says the path may not carry that size; it is not
            // congestion.
            self.mtu_ceiling = self.sent[idx].payload().saturating_sub(1).max(self.mtu_floor);
            self.mtu_probe_seq = None;
            return;
        }
        if seq_less(self.loss_seq, seq) {
            self.ledbat.on_loss(self.cfg.loss_multiplier, self.mss);
            self.loss_seq = self.seq_nr.wrapping_sub(1);
        }
    }

    /// (Re)sends `sent[idx]` with fresh ack fields; answers whether it left.
    fn resend(&mut self, idx: usize, now: u64, out: &mut dyn Output) -> bool {
        let seq = self.acked_seq.wrapping_add(1 + idx as u16);
        let mut header = self.header(self.sent[idx].ty, seq, now);
        if self.sent[idx].ty == PacketType::Syn {
            header.connection_id = self.recv_id;
        }
        let p = &mut self.sent[idx];
        header.encode(&mut p.buf);
        let was_resend = p.need_resend;
        let first = p.transmissions == 0;
        // The buffer is taken out to send it while `self` is borrowed.
        let buf = std::mem::take(&mut p.buf);
        let ok = out.send(&buf);
        let p = &mut self.sent[idx];
        p.buf = buf;
        if !ok {
            return false;
        }
        self.counters.add(Metric::UtpPacketsOut, 1);
        if !first {
            self.counters.add(Metric::UtpPacketResend, 1);
        }
        if p.ty == PacketType::Data {
            self.counters.add(Metric::UtpPayloadPktsOut, 1);
        }
        p.transmissions += 1;
        p.sent_at_us = now;
        if was_resend {
            p.need_resend = false;
            self.resend_count -= 1;
            self.in_flight += p.payload();
        } else if first {
            self.in_flight += p.payload();
        }
        // Otherwise a fast retransmit: the packet is still counted in flight.
        self.ack_pending = 0;
        if self.timeout_at == u64::MAX {
            self.timeout_at = now + self.rto();
        }
        true
    }

    /// Takes in a DATA or FIN packet.
    fn on_data(&mut self, h: &Header, payload: &[u8], now: u64, out: &mut dyn Output) {
        if h.ty == PacketType::Fin {
            if let Some(seq) = self.peer_fin {
                if seq != h.seq_nr {
                    self.counters.add(Metric::UtpInvalidPktsIn, 1);
                    return;
                }
            }
            self.peer_fin = Some(h.seq_nr);
        } else {
            self.counters.add(Metric::UtpPayloadPktsIn, 1);
        }
        if self.eof || self.peer_fin.is_some_and(|fin| seq_less(fin, h.seq_nr)) {
            // Nothing counts after the FIN.
            self.counters.add(Metric::UtpRedundantPktsIn, 1);
            self.send_state(now, out);
            return;
        }
        let ahead = seq_diff(h.seq_nr, self.ack_nr);
        if ahead <= 0 {
            // Seen before: our ack was lost, send it again.
            self.counters.add(Metric::UtpRedundantPktsIn, 1);
            self.send_state(now, out);
            return;
        }
        if payload.len() > self.recv_window() {
            // No room: dropped unacked; the ack tells the peer the window.
            self.send_state(now, out);
            return;
        }
        if ahead == 1 {
            self.deliver(payload.to_vec());
            self.ack_nr = h.seq_nr;
            // reorder[0] is now the next expected packet: take the run that
            // follows; popping the first hole leaves reorder[0] at ack_nr + 2.
            let filled_hole = !self.reorder.is_empty();
            while let Some(slot) = self.reorder.pop_front() {
                let Some(chunk) = slot else { break };
                self.reorder_bytes -= chunk.len();
                self.deliver(chunk);
                self.ack_nr = self.ack_nr.wrapping_add(1);
            }
            while matches!(self.reorder.back(), Some(None)) {
                self.reorder.pop_back();
            }
            self.check_eof();
            self.ack_pending += 1;
            if self.ack_pending >= ACK_EVERY || self.eof || filled_hole {
                self.send_state(now, out);
            }
        } else {
            let idx = (ahead - 2) as usize;
            if idx >= REORDER_LIMIT {
                return;
            }
            if self.reorder.len() <= idx {
                self.reorder.resize(idx + 1, None);
            }
            if self.reorder[idx].is_some() {
                self.counters.add(Metric::UtpRedundantPktsIn, 1);
            } else {
                self.reorder_bytes += payload.len();
                self.reorder[idx] = Some(payload.to_vec());
            }
            // Out of order: ack at once so the sender sees the hole.
            self.send_state(now, out);
        }
    }

    fn deliver(&mut self, chunk: Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        self.recv.bytes += chunk.len();
        // A small payload joins the last chunk: a peer sending one-byte
        // packets must not make a buffer per byte of the window.
        match self.recv.chunks.back_mut() {
            Some(last) if chunk.len() < SMALL_CHUNK => last.extend_from_slice(&chunk),
            _ => self.recv.chunks.push_back(chunk),
        }
        self.wake.read = true;
    }

    fn check_eof(&mut self) {
        if self.peer_fin == Some(self.ack_nr) && !self.eof {
            self.eof = true;
            self.wake.read = true;
        }
    }

    fn check_closed(&mut self) {
        if self.state == State::CloseWait && (self.eof || self.closed_by_user) {
            self.wake.read = true;
            self.wake.write = true;
        }
    }

    fn fail(&mut self, failure: Failure) {
        if self.failure.is_none() {
            self.failure = Some(failure);
            self.state = State::CloseWait;
            self.wake = Wake { read: true, write: true };
        }
    }

    /// The socket shut down.
    pub fn abort(&mut self) {
        self.fail(Failure::Aborted);
    }

    /// Copies received bytes into `buf`; answers how many. A read that
    /// opens a window the peer saw nearly shut sends a window update.
    pub fn read(&mut self, buf: &mut [u8], now: u64, out: &mut dyn Output) -> usize {
        let mut n = 0;
        while n < buf.len() {
            let Some(front) = self.recv.chunks.front() else { break };
            let available = &front[self.recv.offset..];
            let take = available.len().min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&available[..take]);
            n += take;
            self.recv.offset += take;
            if self.recv.offset == front.len() {
                self.recv.chunks.pop_front();
                self.recv.offset = 0;
            }
        }
        self.recv.bytes -= n;
        if n > 0
            && self.state != State::SynSent
            && self.failure.is_none()
            && self.advertised_wnd < RECV_BUFFER / 4
            && self.recv_window() >= RECV_BUFFER / 2
        {
            self.send_state(now, out);
        }
        n
    }

    /// Queues `data` for sending (as much as [`Conn::writable`] allows) and
    /// sends what the windows allow; answers the bytes taken.
    pub fn write(&mut self, data: &[u8], now: u64, out: &mut dyn Output) -> usize {
        let n = data.len().min(self.writable());
        let mut rest = &data[..n];
        while !rest.is_empty() {
            let need_new = self.unsent.back().is_none_or(|u| u.buf.len() - HEADER_LEN >= u.capacity);
            if need_new {
                let (capacity, probe) = self.next_packet_size();
                let mut buf = Vec::with_capacity(HEADER_LEN + capacity);
                buf.resize(HEADER_LEN, 0);
                self.unsent.push_back(Unsent { buf, capacity, probe });
            }
            let last = self.unsent.back_mut().expect("pushed above");
            let room = last.capacity - (last.buf.len() - HEADER_LEN);
            let take = room.min(rest.len());
            last.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            self.unsent_bytes += take;
        }
        self.flush(now, out);
        n
    }

    /// Payload size for the next new packet: a probe halfway between the
    /// proven floor and the ceiling while they differ and none is out.
    fn next_packet_size(&mut self) -> (usize, bool) {
        let probing = self.unsent.iter().any(|u| u.probe) || self.mtu_probe_seq.is_some();
        if !probing && self.mtu_ceiling > self.mtu_floor + MTU_PROBE_GRANULARITY {
            ((self.mtu_floor + self.mtu_ceiling).div_ceil(2), true)
        } else {
            (self.mss, false)
        }
    }

    /// Queues our FIN after the data written so far.
    pub fn shutdown(&mut self, now: u64, out: &mut dyn Output) {
        if !self.write_closed() && self.failure.is_none() {
            self.fin_queued = true;
            self.flush(now, out);
        }
    }

    /// The stream was dropped: finish sending, then FIN.
    pub fn close(&mut self, now: u64, out: &mut dyn Output) {
        self.closed_by_user = true;
        if self.state == State::SynSent {
            self.fail(Failure::Aborted);
            return;
        }
        self.shutdown(now, out);
        self.check_closed();
    }

    fn send_window(&self) -> usize {
        self.ledbat.window().min(self.peer_wnd)
    }

    /// Sends lost packets again, then new ones, as far as the congestion
    /// and receive windows allow.
    fn flush(&mut self, now: u64, out: &mut dyn Output) {
        self.send_packets(now, out, false);
    }

    /// [`Conn::flush`]; with `probe_window`, the next packet goes out even
    /// if the peer's window is too small, when nothing else is out (a lost
    /// window update would otherwise stall both sides).
    fn send_packets(&mut self, now: u64, out: &mut dyn Output, probe_window: bool) {
        if self.state == State::SynSent || self.failure.is_some() {
            return;
        }
        // Lost packets first, oldest first.
        if self.resend_count > 0 {
            for idx in 0..self.sent.len() {
                if self.resend_count == 0 {
                    break;
                }
                if !self.sent[idx].need_resend {
                    continue;
                }
                let len = self.sent[idx].payload();
                if self.in_flight > 0 && self.in_flight + len > self.send_window() {
                    return;
                }
                if !self.resend(idx, now, out) {
                    return;
                }
            }
        }
        while let Some(front) = self.unsent.front() {
            let len = front.buf.len() - HEADER_LEN;
            let full = len >= front.capacity;
            // Nagle: a partial packet waits while anything is in flight.
            if !full && (self.unsent.len() > 1 || !self.sent.is_empty()) && !self.fin_queued {
                break;
            }
            if len > self.peer_wnd && !(probe_window && self.sent.is_empty()) {
                if self.sent.is_empty() && self.timeout_at == u64::MAX {
                    self.timeout_at = now + self.rto();
                }
                break;
            }
            if self.in_flight > 0 && self.in_flight + len > self.send_window() {
                break;
            }
            let u = self.unsent.pop_front().expect("front exists");
            let seq = self.seq_nr;
            self.seq_nr = self.seq_nr.wrapping_add(1);
            if u.probe {
                self.mtu_probe_seq = Some(seq);
            }
            self.unsent_bytes -= len;
            self.sent_bytes += len;
            self.sent.push_back(Sent {
                buf: u.buf,
                ty: PacketType::Data,
                sent_at_us: now,
                transmissions: 0,
                need_resend: false,
                sacked: false,
                probe: u.probe,
            });
            let idx = self.sent.len() - 1;
            if !self.resend(idx, now, out) {
                // Kept as lost: the next flush sends it.
                self.sent[idx].need_resend = true;
                self.resend_count += 1;
                return;
            }
        }
        if self.fin_queued && self.unsent.is_empty() {
            self.fin_queued = false;
            let seq = self.seq_nr;
            self.seq_nr = self.seq_nr.wrapping_add(1);
            self.fin_seq = Some(seq);
            self.state = State::FinSent;
            self.sent.push_back(Sent {
                buf: vec![0u8; HEADER_LEN],
                ty: PacketType::Fin,
                sent_at_us: now,
                transmissions: 0,
                need_resend: false,
                sacked: false,
                probe: false,
            });
            let idx = self.sent.len() - 1;
            if !self.resend(idx, now, out) {
                self.sent[idx].need_resend = true;
                self.resend_count += 1;
            }
        }
    }

    /// Acks what arrived since the last ack; called when the socket's
    /// receive queue is empty and by the timer.
    pub fn flush_ack(&mut self, now: u64, out: &mut dyn Output) {
        if self.ack_pending > 0 && self.failure.is_none() {
            self.send_state(now, out);
        }
    }

    /// The timer: SYN resends and connect timeout, the retransmission
    /// timeout, delayed acks.
    pub fn on_tick(&mut self, now: u64, out: &mut dyn Output) {
        if self.failure.is_some() {
            return;
        }
        self.flush_ack(now, out);
        if now < self.timeout_at {
            if self.resend_count > 0 || !self.unsent.is_empty() {
                // Packets the socket refused earlier.
                self.flush(now, out);
            }
            return;
        }
        if self.state == State::SynSent {
            if now.saturating_sub(self.syn_started_us) >= self.cfg.connect_timeout_ms * 1000 {
                self.fail(Failure::TimedOut);
                return;
            }
            self.counters.add(Metric::UtpTimeout, 1);
            self.sent[0].need_resend = true;
            self.resend_count = 1;
            self.resend(0, now, out);
            self.timeout_at = now + self.syn_interval();
            return;
        }
        if self.sent.is_empty() {
            self.timeout_at = u64::MAX;
            self.send_packets(now, out, true);
            return;
        }
        self.counters.add(Metric::UtpTimeout, 1);
        let limit = match self.sent[0].ty {
            PacketType::Fin => self.cfg.fin_resends,
            _ => self.cfg.num_resends,
        };
        // A packet held back by the peer's closed window is a probe of that
        // window, not evidence of a dead path, as long as the peer still
        // answers now and then.
        let window_probe = self.peer_wnd < self.sent[0].payload()
            && now.saturating_sub(self.last_heard_us) < WINDOW_PROBE_SILENCE_US;
        if self.sent[0].transmissions > limit && !window_probe {
            self.fail(Failure::TimedOut);
            return;
        }
        let had_in_flight = self.in_flight > 0;
        let only_probe = self.sent.len() == 1 && self.mtu_probe_seq == Some(self.acked_seq.wrapping_add(1));
        if only_probe {
            self.mtu_ceiling = self.sent[0].payload().saturating_sub(1).max(self.mtu_floor);
        } else {
            self.ledbat.on_timeout(had_in_flight, self.mss);
            self.loss_seq = self.seq_nr.wrapping_sub(1);
        }
        self.mtu_probe_seq = None;
        for p in self.sent.iter_mut() {
            if !p.need_resend && !p.sacked {
                p.need_resend = true;
                self.resend_count += 1;
                self.in_flight -= p.payload();
            }
        }
        if self.fast_resend_seq == self.acked_seq.wrapping_add(1) {
            self.fast_resend_seq = self.fast_resend_seq.wrapping_add(1);
        }
        self.backoff += 1;
        self.timeout_at = now + self.rto();
        if self.sent[0].need_resend {
            self.resend(0, now, out);
        }
        self.flush(now, out);
    }

    /// Gauge bucket of this connection, for the num_utp_* metrics.
    pub fn gauge(&self) -> Metric {
        match self.state {
            State::SynSent => Metric::NumUtpSynSent,
            State::Connected => Metric::NumUtpConnected,
            State::FinSent => Metric::NumUtpFinSent,
            State::CloseWait => Metric::NumUtpCloseWait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::utp::decode;

    #[derive(Default)]
    struct Wire {
        packets: Vec<Vec<u8>>,
        refuse: bool,
    }

    impl Output for Wire {
        fn send(&mut self, packet: &[u8]) -> bool {
            if self.refuse {
                return false;
            }
            self.packets.push(packet.to_vec());
            true
        }
    }

    fn cfg() -> UtpConfig {
        UtpConfig::from_settings(&crate::engine::settings::Settings::default())
    }

    /// Moves every packet from `from`'s wire into `to`, dropping those
    /// `drop` says.
    fn deliver(
        wire: &mut Wire,
        to: &mut Conn,
        out: &mut Wire,
        now: u64,
        mut drop: impl FnMut(usize) -> bool,
    ) {
        for (i, p) in std::mem::take(&mut wire.packets).into_iter().enumerate() {
            if drop(i) {
                continue;
            }
            let (h, payload) = decode(&p).unwrap();
            to.on_packet(&h, payload, now, out);
        }
    }

    fn pair() -> (Conn, Conn, Wire, Wire) {
        let counters = Arc::new(Counters::new());
        let (mut wa, mut wb) = (Wire::default(), Wire::default());
        let mut a = Conn::connect(cfg(), counters.clone(), 100, 5, false, 0, &mut wa);
        let (syn, _) = decode(&wa.packets[0]).unwrap();
        assert_eq!(syn.ty, PacketType::Syn);
        assert_eq!(syn.connection_id, 100);
        let b = Conn::accept(cfg(), counters, &syn, 65530, false, 0, &mut wb);
        wa.packets.clear();
        let (state, _) = decode(&wb.packets[0]).unwrap();
        assert_eq!((state.ty, state.connection_id, state.ack_nr), (PacketType::State, 100, 5));
        deliver(&mut wb, &mut a, &mut wa, 1, |_| false);
        assert_eq!(a.state(), State::Connected);
        (a, b, wa, wb)
    }

    fn read_all(c: &mut Conn, out: &mut Wire) -> Vec<u8> {
        let mut v = vec![0u8; c.readable()];
        let n = c.read(&mut v, 0, out);
        v.truncate(n);
        v
    }

    #[test]
    fn data_flows_in_order_after_loss_and_reordering() {
        let (mut a, mut b, mut wa, mut wb) = pair();
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(a.write(&data, 10, &mut wa), data.len());
        a.shutdown(10, &mut wa);
        let mut got = Vec::new();
        let mut now = 10;
        for round in 0..200 {
            now += 10_000;
            // Drop every 5th packet in the first rounds, and reverse order.
            wa.packets.reverse();
            deliver(&mut wa, &mut b, &mut wb, now, |i| round < 3 && i % 5 == 0);
            b.flush_ack(now, &mut wb);
            got.extend(read_all(&mut b, &mut wb));
            deliver(&mut wb, &mut a, &mut wa, now, |_| false);
            a.on_tick(now, &mut wa);
            b.on_tick(now, &mut wb);
            if b.eof() && a.state() == State::CloseWait {
                break;
            }
        }
        assert_eq!(got, data);
        assert!(b.eof());
        assert_eq!(a.state(), State::CloseWait, "our FIN was acked");
        assert!(a.counters.get(Metric::UtpPacketResend) > 0);
        assert!(a.failure().is_none());
    }

    /// Acks that come only after a timeout gave their packets up as lost
    /// take no RTT sample from them: the RTO stays where the path's real
    /// round trips put it instead of growing with every timeout.
    #[test]
    fn packets_given_up_as_lost_give_no_rtt_sample() {
        let (mut a, mut b, mut wa, mut wb) = pair();
        // Prompt round trips of 1 ms, which also open the window.
        for round in 0..6u64 {
            let t = 10 + round * 10_000;
            a.write(&vec![7u8; 4 * a.mss], t, &mut wa);
            deliver(&mut wa, &mut b, &mut wb, t + 500, |_| false);
            b.flush_ack(t + 500, &mut wb);
            read_all(&mut b, &mut wb);
            deliver(&mut wb, &mut a, &mut wa, t + 1_000, |_| false);
        }
        assert!(a.sent.is_empty());
        let srtt = a.rtt.srtt();
        assert!(srtt.is_some_and(|s| s <= 1_000), "{srtt:?}");
        let rto = a.rto();
        // Packets arrive; their ack is held past the timeout.
        let t = 100_000;
        a.write(&vec![9u8; 4 * a.mss], t, &mut wa);
        let sent = wa.packets.len();
        assert!(sent >= 2, "{sent} packets");
        deliver(&mut wa, &mut b, &mut wb, t + 1_000, |_| false);
        b.flush_ack(t + 1_000, &mut wb);
        let held = std::mem::take(&mut wb.packets);
        a.on_tick(t + rto + 1, &mut wa);
        assert_eq!(a.counters.get(Metric::UtpTimeout), 1);
        wb.packets = held;
        deliver(&mut wb, &mut a, &mut wa, t + rto + 2, |_| false);
        assert!(a.sent.is_empty(), "everything was acked");
        assert_eq!(a.rtt.srtt(), srtt, "no sample from the packets the timeout gave up");
        assert_eq!(a.rto(), 2 * rto, "the timer stays backed off until a valid sample");
        let t = t + rto + 10_000;
        a.write(&[1u8; 100], t, &mut wa);
        deliver(&mut wa, &mut b, &mut wb, t + 500, |_| false);
        b.flush_ack(t + 500, &mut wb);
        deliver(&mut wb, &mut a, &mut wa, t + 1_000, |_| false);
        assert_eq!(a.rto(), rto, "a packet sent once and acked resets it");
    }

    /// A packet the output took and the socket refused later is sent again
    /// on the next tick, counted in flight once.
    #[test]
    fn packets_refused_after_send_are_sent_again() {
        let (mut a, mut b, mut wa, mut wb) = pair();
        a.write(&[3u8; 100], 10, &mut wa);
        let (h, _) = decode(&wa.packets[0]).unwrap();
        let in_flight = a.in_flight;
        wa.packets.clear();
        a.refused(&[h.seq_nr, h.seq_nr.wrapping_add(1), h.seq_nr.wrapping_sub(5)]);
        assert_eq!((a.resend_count, a.in_flight), (1, in_flight - 100));
        a.on_tick(20, &mut wa);
        assert_eq!(wa.packets.len(), 1, "sent again");
        assert_eq!(a.in_flight, in_flight);
        deliver(&mut wa, &mut b, &mut wb, 30, |_| false);
        assert_eq!(read_all(&mut b, &mut wb), vec![3u8; 100]);
    }

    #[test]
    fn unanswered_data_times_out_after_num_resends() {
        let (mut a, _b, mut wa, _wb) = pair();
        a.write(b"hello", 0, &mut wa);
        let mut now = 0;
        let mut sends = 0;
        while a.failure().is_none() && now < 600_000_000 {
            now += 10_000;
            sends += wa.packets.drain(..).filter(|p| decode(p).unwrap().0.ty == PacketType::Data).count();
            a.on_tick(now, &mut wa);
        }
        assert_eq!(a.failure(), Some(Failure::TimedOut));
        assert_eq!(sends as u32, 1 + a.cfg.num_resends);
    }

    #[test]
    fn syn_is_resent_then_connect_times_out() {
        let counters = Arc::new(Counters::new());
        let mut w = Wire::default();
        let mut c = Conn::connect(cfg(), counters, 1, 1, false, 0, &mut w);
        let mut now = 0;
        while c.failure().is_none() {
            now += 10_000;
            c.on_tick(now, &mut w);
        }
        assert_eq!(c.failure(), Some(Failure::TimedOut));
        assert_eq!(w.packets.len() as u32, 1 + c.cfg.syn_resends);
        assert!(now >= c.cfg.connect_timeout_ms * 1000);
        let (h, _) = decode(&w.packets[1]).unwrap();
        assert_eq!((h.ty, h.connection_id), (PacketType::Syn, 1), "a resent SYN keeps the receive id");
    }

    #[test]
    fn reset_refuses_and_resets() {
        let counters = Arc::new(Counters::new());
        let mut w = Wire::default();
        let mut c = Conn::connect(cfg(), counters, 1, 1, false, 0, &mut w);
        let reset = Header {
            ty: PacketType::Reset,
            connection_id: 1,
            timestamp_us: 0,
            timestamp_diff_us: 0,
            wnd_size: 0,
            seq_nr: 0,
            ack_nr: 0,
            sack: None,
        };
        c.on_packet(&reset, &[], 5, &mut w);
        assert_eq!(c.failure(), Some(Failure::Refused));
        let (mut a, _b, mut wa, _) = pair();
        a.on_packet(&Header { connection_id: 100, ..reset }, &[], 5, &mut wa);
        assert_eq!(a.failure(), Some(Failure::Reset));
        assert!(a.is_finished());
    }

    #[test]
    fn the_receive_window_is_honoured() {
        let (mut a, mut b, mut wa, mut wb) = pair();
        let data = vec![7u8; 3 * RECV_BUFFER];
        let mut written = 0;
        let mut now = 0;
        let mut got = 0;
        for round in 0..2000 {
            now += 10_000;
            written += a.write(&data[written..], now, &mut wa);
            deliver(&mut wa, &mut b, &mut wb, now, |_| false);
            b.flush_ack(now, &mut wb);
            assert!(b.readable() <= RECV_BUFFER);
            // The reader pauses for a while: the window closes.
            if !(100..300).contains(&round) {
                got += read_all(&mut b, &mut wb).len();
            }
            deliver(&mut wb, &mut a, &mut wa, now, |_| false);
            a.on_tick(now, &mut wa);
            if got == data.len() {
                break;
            }
        }
        assert_eq!(got, data.len());
        assert!(a.failure().is_none());
    }

    /// A peer that closes its window and then goes silent does not keep
    /// the connection (and its buffers) forever: window probes are exempt
    /// from the resend limit only while the peer still answers.
    #[test]
    fn a_silent_peer_with_a_closed_window_is_given_up() {
        let (mut a, mut b, mut wa, mut wb) = pair();
        let data = vec![7u8; 3 * RECV_BUFFER];
        let mut written = 0;
        let mut now = 0;
        // b never reads: its window fills and closes.
        for _ in 0..400 {
            now += 10_000;
            written += a.write(&data[written..], now, &mut wa);
            deliver(&mut wa, &mut b, &mut wb, now, |_| false);
            b.flush_ack(now, &mut wb);
            deliver(&mut wb, &mut a, &mut wa, now, |_| false);
            a.on_tick(now, &mut wa);
        }
        assert!(a.failure().is_none(), "probing a closed window is not a failure");
        // Then b is gone.
        let silent_from = now;
        while a.failure().is_none() && now < silent_from + 600_000_000 {
            now += 100_000;
            wa.packets.clear();
            a.on_tick(now, &mut wa);
        }
        assert_eq!(a.failure(), Some(Failure::TimedOut));
        assert!(now - silent_from >= WINDOW_PROBE_SILENCE_US, "not before the silence limit");
    }

    #[test]
    fn mtu_probes_raise_the_packet_size() {
        let (mut a, mut b, mut wa, mut wb) = pair();
        let floor = a.mss();
        let data = vec![1u8; 200_000];
        let mut written = 0;
        for now in (1..500).map(|i| i * 10_000) {
            written += a.write(&data[written..], now, &mut wa);
            deliver(&mut wa, &mut b, &mut wb, now, |_| false);
            b.flush_ack(now, &mut wb);
            read_all(&mut b, &mut wb);
            deliver(&mut wb, &mut a, &mut wa, now, |_| false);
        }
        assert!(a.mss() > floor + 100, "{} > {floor}", a.mss());
        assert!(a.mss() <= MTU_CEILING - 28 - HEADER_LEN);
    }

    #[test]
    fn refused_sends_are_kept() {
        let (mut a, mut b, mut wa, mut wb) = pair();
        wa.refuse = true;
        a.write(b"kept", 0, &mut wa);
        assert!(wa.packets.is_empty());
        wa.refuse = false;
        a.on_tick(2_000_000, &mut wa);
        deliver(&mut wa, &mut b, &mut wb, 2_000_000, |_| false);
        assert_eq!(read_all(&mut b, &mut wb), b"kept");
    }
}
