//! Finding peers: trackers, and (as they land) the DHT, peer exchange and
//! local service discovery. Every source hands what it finds to
//! `SessionCore::peers_found`, which applies the rules that hold for all of
//! them (a private torrent takes peers only from its trackers, BEP 27).

pub mod dht;
pub(crate) mod lsd;
pub mod tracker;

use super::stats::Metric;

/// Where a peer address came from: libtorrent's `peer_source_flags_t`
/// bits, so `lt_peer_info_t.source` reads as it does in libtorrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PeerSource {
    Tracker = 1,
    Dht = 2,
    Pex = 4,
    Lsd = 8,
    ResumeData = 16,
    Incoming = 32,
    /// Given by the application (`lt_params_add_peer`, `lt_torrent_connect_peer`).
    /// libtorrent has no bit for it; lt uses the next one.
    Api = 64,
}

impl PeerSource {
    /// Every source, in bit order.
    pub const ALL: [PeerSource; 7] = [
        PeerSource::Tracker,
        PeerSource::Dht,
        PeerSource::Pex,
        PeerSource::Lsd,
        PeerSource::ResumeData,
        PeerSource::Incoming,
        PeerSource::Api,
    ];

    /// The source's bit in `lt_peer_info_t.source`.
    pub fn bit(self) -> u8 {
        self as u8
    }

    /// Lower-case name, as in libtorrent's `peer_source_flags` ("tracker", "dht", ...).
    pub fn name(self) -> &'static str {
        match self {
            PeerSource::Tracker => "tracker",
            PeerSource::Dht => "dht",
            PeerSource::Pex => "pex",
            PeerSource::Lsd => "lsd",
            PeerSource::ResumeData => "resume_data",
            PeerSource::Incoming => "incoming",
            PeerSource::Api => "api",
        }
    }

    /// The counter of peer addresses learnt from this source.
    pub fn metric(self) -> Metric {
        match self {
            PeerSource::Tracker => Metric::PeersFromTracker,
            PeerSource::Dht => Metric::PeersFromDht,
            PeerSource::Pex => Metric::PeersFromPex,
            PeerSource::Lsd => Metric::PeersFromLsd,
            PeerSource::ResumeData => Metric::PeersFromResumeData,
            PeerSource::Incoming => Metric::PeersFromIncoming,
            PeerSource::Api => Metric::PeersFromApi,
        }
    }

    /// Whether a private torrent (BEP 27) may use peers from here: only
    /// its trackers, what the user gave it and peers that dial in.
    pub fn allowed_for_private(self) -> bool {
        !matches!(self, PeerSource::Dht | PeerSource::Pex | PeerSource::Lsd)
    }
}
