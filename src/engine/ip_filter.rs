//! The session's IP and port filters applied to peers, as libtorrent
//! applies them.
//!
//! - Outgoing: an address learnt from any source (trackers, the
//!   application, resume data, PEX, the DHT, LSD) is judged when it
//!   arrives (`Torrent::add_peers`) and again just before it is dialled
//!   (`Torrent::connect_peers`, which every source goes through), so a
//!   filter set later still holds. The IP filter is asked first, then the
//!   port filter (libtorrent applies the port filter to the peers it dials
//!   only).
//! - Incoming: the IP filter is asked as soon as the connection is
//!   accepted, before its handshake is read.
//! - A new filter: the known addresses it blocks are forgotten and the
//!   connected peers it blocks are closed.
//!
//! Every refusal counts in `peer.blocked_by_ip_filter` or
//! `peer.blocked_by_port_filter` and posts a `peer_blocked` alert with
//! libtorrent's reason number.

use std::net::SocketAddr;
use std::sync::Arc;

use super::alerts::AlertKind;
use super::error::{Error, ErrorKind, Failure, Operation};
use super::peer::PeerCmd;
use super::session::SessionCore;
use super::stats::Metric;
use super::torrent::{Torrent, TorrentId};
pub use crate::proto::ip_filter::{IpFilter, PortFilter};

/// Largest blocklist file read (`lt_ip_filter_import_file`): the largest
/// public lists are some tens of megabytes.
pub const MAX_BLOCKLIST_FILE: u64 = 512 << 20;

/// Why a peer was blocked: libtorrent's `peer_blocked_alert::reason_t`
/// numbers. lt has neither i2p nor privileged-port rules, so only the two
/// filters' reasons occur.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum BlockReason {
    IpFilter = 0,
    PortFilter = 1,
    /// An incoming uTP connection while `enable_incoming_utp` is off.
    UtpDisabled = 4,
    /// An incoming TCP connection while `enable_incoming_tcp` is off.
    TcpDisabled = 5,
}

impl BlockReason {
    /// libtorrent's number.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The filter's name, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            BlockReason::IpFilter => "IP filter",
            BlockReason::PortFilter => "port filter",
            BlockReason::UtpDisabled => "incoming uTP disabled",
            BlockReason::TcpDisabled => "incoming TCP disabled",
        }
    }

    /// The counter of refusals for this reason (libtorrent counts none for
    /// the disabled transports; neither does lt).
    fn metric(self) -> Option<Metric> {
        match self {
            BlockReason::IpFilter => Some(Metric::PeersBlockedIpFilter),
            BlockReason::PortFilter => Some(Metric::PeersBlockedPortFilter),
            BlockReason::UtpDisabled | BlockReason::TcpDisabled => None,
        }
    }
}

/// The session's filters. Each is replaced whole (copy on write), so a
/// check holds the read lock for one lookup only.
#[derive(Clone, Default)]
pub(crate) struct Filters {
    pub ip: Arc<IpFilter>,
    pub port: Arc<PortFilter>,
}

impl SessionCore {
    /// Why dialling `addr` is refused, if it is.
    pub(crate) fn dial_blocked(&self, addr: &SocketAddr) -> Option<BlockReason> {
        let f = self.filters.read();
        if f.ip.is_blocked(addr.ip()) {
            Some(BlockReason::IpFilter)
        } else if f.port.is_blocked(addr.port()) {
            Some(BlockReason::PortFilter)
        } else {
            None
        }
    }

    /// Whether a connection from `addr` is refused (the IP filter only: an
    /// incoming peer's port is an ephemeral one).
    pub(crate) fn accept_blocked(&self, addr: &SocketAddr) -> bool {
        self.filters.read().ip.is_blocked(addr.ip())
    }

    /// Counts a refusal and posts its `peer_blocked` alert, under the
    /// torrent when there is one (an incoming connection refused before its
    /// handshake has none).
    pub(crate) fn report_blocked(&self, torrent: Option<&Torrent>, peer: SocketAddr, reason: BlockReason) {
        tracing::debug!(%peer, reason = reason.describe(), "peer blocked");
        if let Some(metric) = reason.metric() {
            self.counters.add(metric, 1);
        }
        let kind = AlertKind::PeerBlocked { peer, reason };
        match torrent {
            Some(t) => t.post(kind),
            None => self.alerts.post(TorrentId::NONE, "", kind),
        }
    }

    /// The filters now.
    pub(crate) fn filters(&self) -> Filters {
        self.filters.read().clone()
    }

    /// Replaces the filters and applies them to every torrent's known and
    /// connected peers.
    pub(crate) fn set_filters(&self, filters: Filters) {
        *self.filters.write() = filters;
        let torrents: Vec<Arc<Torrent>> = self.torrents.read().values().cloned().collect();
        for t in torrents {
            t.apply_filters();
        }
    }
}

impl Torrent {
    /// Forgets the known addresses the filters block now and closes the
    /// connected peers they block (outgoing ones by IP or port, incoming
    /// ones by IP); each is reported.
    pub(crate) fn apply_filters(&self) {
        let mut blocked = Vec::new();
        let mut core = self.core.lock();
        core.known.retain(|addr, k| match self.ses.dial_blocked(addr) {
            // A connected one is closed below; its entry goes with it.
            Some(reason) if !k.connected => {
                blocked.push((*addr, reason));
                false
            }
            _ => true,
        });
        for p in core.peers.values() {
            let reason = if p.incoming {
                self.ses.accept_blocked(&p.addr).then_some(BlockReason::IpFilter)
            } else {
                self.ses.dial_blocked(&p.addr)
            };
            if let Some(reason) = reason {
                let error = Error::new(ErrorKind::Protocol, format!("blocked by the {}", reason.describe()));
                p.send(PeerCmd::Close(Failure::new(Operation::Bittorrent, error)));
                blocked.push((p.addr, reason));
            }
        }
        for (addr, _) in &blocked {
            if core.known.get(addr).is_some_and(|k| k.connected) {
                core.known.remove(addr);
            }
        }
        drop(core);
        for (addr, reason) in blocked {
            self.ses.report_blocked(Some(self), addr, reason);
        }
    }
}
