//! A torrent in a session: its pieces, peers, trackers and state.
//!
//! The torrent's mutable state (`Core`) sits behind one short-held mutex.
//! Peer tasks lock it to pick blocks and to hand in received data; the
//! torrent's own task locks it once a second for rates, choking, peer
//! connections and announces. No lock is held across an `.await`.
//! Reading a torrent's status from the C API takes the same lock briefly:
//! there is no round trip through a channel.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};
use tokio_util::sync::CancellationToken;

use super::alerts::{AlertKind, ErrorInfo};
use super::bandwidth::RateLimit;
use super::discovery::tracker::{self, TrackerEntry, TrackerList};
use super::discovery::PeerSource;
use super::error::{Error, ErrorKind, Failure, Operation};
use super::gauges::{Class, CoreGuard, CoreLock};
use super::ip_filter::BlockReason;
use super::metadata::{DataOutcome, MetadataFetch};
use super::peer::{self, PeerCmd, PeerHandle};
use super::piece_picker::{Block, PeerKey, PiecePicker, Received, DEFAULT_PRIORITY};
use super::session::SessionCore;
use super::stats::{Metric, RateSampler};
use super::storage::Storage;
use super::v2::{self, Check, PieceHashes};
use super::webseed::{self, WebSeeds};
use crate::proto::bitfield::Bitfield;
use crate::proto::metainfo::Metainfo;
use crate::proto::tracker::AnnounceEvent;
use crate::proto::types::{InfoHash, Lengths, BLOCK_SIZE};

/// A torrent's id in its session: unique, never reused, 0 means none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TorrentId(pub u64);

impl TorrentId {
    pub const NONE: TorrentId = TorrentId(0);
}

/// Where a torrent is in its life, numbered as libtorrent's `state_t`.
/// Being paused is a flag beside the state, as in libtorrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum TorrentState {
    CheckingFiles = 1,
    DownloadingMetadata = 2,
    Downloading = 3,
    Finished = 4,
    Seeding = 5,
}

impl TorrentState {
    pub fn name(self) -> &'static str {
        match self {
            TorrentState::CheckingFiles => "checking_files",
            TorrentState::DownloadingMetadata => "downloading_metadata",
            TorrentState::Downloading => "downloading",
            TorrentState::Finished => "finished",
            TorrentState::Seeding => "seeding",
        }
    }
}

/// A snapshot of one torrent, as `lt_torrent_status` returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct TorrentStatus {
    pub id: TorrentId,
    pub info_hash: InfoHash,
    pub name: String,
    pub save_path: PathBuf,
    pub state: TorrentState,
    /// libtorrent's `torrent_flags::paused`, the one meaning of "paused" in
    /// the C struct, JSON, CSV and Prometheus: the torrent is stopped by
    /// the user (`queued` false) or held by the queue (`queued` true). A
    /// session pause (`session_paused`) and an error (`error`) are apart.
    pub paused: bool,
    pub error: Option<ErrorInfo>,
    /// Fraction of the wanted bytes that are verified, 0.0 to 1.0.
    pub progress: f64,
    pub pieces_done: u32,
    pub pieces_total: u32,
    pub total_done: u64,
    pub total_wanted: u64,
    pub total_wanted_done: u64,
    pub total_size: u64,
    pub download_rate: i64,
    pub upload_rate: i64,
    pub download_payload_rate: i64,
    pub upload_payload_rate: i64,
    pub total_download: i64,
    pub total_upload: i64,
    pub total_payload_download: i64,
    pub total_payload_upload: i64,
    pub total_wasted: i64,
    pub num_hash_failures: i64,
    pub num_peers: u32,
    pub num_seeds: u32,
    /// Seeds and downloaders in the swarm as the last tracker reply said (-1: unknown).
    pub list_seeds: i64,
    pub list_peers: i64,
    /// Mean and largest of the connected peers' mean request-to-block times (µs).
    pub avg_peer_rtt_us: i64,
    pub max_peer_rtt_us: i64,
    /// Highest payload rates seen over one second.
    pub peak_download_rate: i64,
    pub peak_upload_rate: i64,
    /// Seconds the torrent ran (not paused), ran finished, and ran seeding.
    pub active_time_s: i64,
    pub finished_time_s: i64,
    pub seeding_time_s: i64,
    /// Seconds to finish at the current payload rate; -1 when unknown.
    pub eta_s: i64,
    /// Complete copies of the torrent among the connected peers (libtorrent's
    /// distributed copies: the rarest piece's count plus the fraction of
    /// pieces more common than it); -1 when there are no peers.
    pub distributed_copies: f64,
    /// Whether the queue starts and stops the torrent.
    pub auto_managed: bool,
    /// Stopped because the whole session is paused.
    pub session_paused: bool,
    /// Stopped by the queue, waiting for a slot.
    pub queued: bool,
    /// Position in the download queue (0 first); -1 once finished.
    pub queue_position: i64,
    /// Pieces are picked in order.
    pub sequential: bool,
    /// The per-torrent limits in bytes per second (0: none).
    pub download_limit: i64,
    pub upload_limit: i64,
    /// Most peer connections (the `max_peers_per_torrent` setting unless set per torrent).
    pub max_connections: u32,
    /// When the torrent was added and when it last finished (unix seconds, 0: never).
    pub added_time: i64,
    pub completed_time: i64,
}

/// Per-torrent traffic totals, bumped by the peer tasks.
#[derive(Default)]
pub(crate) struct TorrentCounters {
    pub recv: AtomicI64,
    pub sent: AtomicI64,
    pub recv_payload: AtomicI64,
    pub sent_payload: AtomicI64,
    pub wasted: AtomicI64,
    pub hash_failures: AtomicI64,
}

/// A block being assembled into a piece, with who sent each block (for
/// banning peers that send corrupt data).
struct PieceBuffer {
    data: Vec<u8>,
    senders: Vec<Option<(PeerKey, SocketAddr)>>,
}

/// What we keep of a piece that failed its check, to find the peer that
/// sent the bad block once the piece passes (libtorrent's "smart ban").
struct FailedPiece {
    block_hashes: Vec<[u8; 20]>,
    senders: Vec<Option<(PeerKey, SocketAddr)>>,
}

/// A peer address we know of and may dial.
#[derive(Clone, Debug)]
pub(crate) struct KnownPeer {
    /// `PeerSource` bits of everywhere we heard of it.
    pub sources: u8,
    pub failures: u32,
    pub connected: bool,
    pub last_attempt: Option<Instant>,
}

pub(crate) struct Core {
    pub state: TorrentState,
    /// The metadata is known (mirrors `Torrent::meta().is_some()` for code
    /// that holds only the core).
    pub has_metadata: bool,
    /// A magnet's metadata download.
    pub(crate) fetch: MetadataFetch,
    /// The metadata just arrived: the torrent's task checks existing files.
    metadata_arrived: bool,
    /// In a session: counted in its gauges (see `gauges`).
    pub listed: bool,
    /// What this torrent adds to the session's gauges now.
    pub(crate) gauge_class: Class,
    /// Paused by the user.
    pub paused: bool,
    /// Stopped by the queue (auto-managed torrents only).
    pub queued: bool,
    /// Stopped because the whole session is paused.
    pub session_paused: bool,
    pub auto_managed: bool,
    /// Whether peers, trackers and picking run: none of the reasons to
    /// stop holds. Changed only by `Torrent::apply_run_state`.
    pub running: bool,
    /// A recheck of the files was asked for.
    pub recheck: bool,
    pub queue_position: i64,
    /// Most peers; 0: the `max_peers_per_torrent` setting.
    pub max_connections: u32,
    pub file_priority: Vec<u8>,
    pub added_time: i64,
    pub completed_time: i64,
    pub error: Option<ErrorInfo>,
    pub picker: PiecePicker,
    buffers: HashMap<u32, PieceBuffer>,
    failed: HashMap<u32, FailedPiece>,
    pub peers: HashMap<PeerKey, Arc<PeerHandle>>,
    pub known: HashMap<SocketAddr, KnownPeer>,
    banned: HashSet<BanKey>,
    hash_failures: HashMap<BanKey, u32>,
    pub trackers: TrackerList,
    /// The web seeds (BEP 19) and their tasks.
    pub(crate) web_seeds: WebSeeds,
    next_peer_key: PeerKey,
    /// Cancelled when the torrent pauses or is removed: ends its peers.
    pub run: CancellationToken,
    rates: [RateSampler; 4],
    pub rate_values: [i64; 4],
    pub list_seeds: i64,
    pub list_peers: i64,
    pub checking_progress: (u32, u32),
    /// Whether the `completed` event is still owed to trackers.
    pub announce_completed: bool,
    optimistic: Option<PeerKey>,
    last_optimistic: Option<Instant>,
    peaks: [i64; 2],
    times: Times,
}

/// Time accumulated in each condition, updated once a second.
#[derive(Clone, Copy, Debug, Default)]
struct Times {
    last_tick: Option<Instant>,
    active: Duration,
    finished: Duration,
    seeding: Duration,
}

impl KnownPeer {
    pub(crate) fn new(source: PeerSource) -> KnownPeer {
        KnownPeer { sources: source.bit(), failures: 0, connected: false, last_attempt: None }
    }
}

/// What a ban applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BanKey {
    Ip(IpAddr),
    Endpoint(SocketAddr),
}

impl Core {
    /// Every wanted piece is had (never before the metadata is known).
    pub(crate) fn is_finished(&self) -> bool {
        self.has_metadata && self.picker.is_finished()
    }

    pub(crate) fn is_banned(&self, addr: &SocketAddr) -> bool {
        self.banned.contains(&BanKey::Ip(addr.ip())) || self.banned.contains(&BanKey::Endpoint(*addr))
    }

    /// Received blocks held in memory until their piece is complete.
    pub(crate) fn blocks_in_memory(&self) -> usize {
        self.buffers.values().map(|b| b.senders.iter().flatten().count()).sum()
    }
}

/// What a torrent has once its metadata is known: from the start when it
/// was added from a .torrent, when the info dictionary arrives for a magnet.
pub(crate) struct Loaded {
    pub meta: Arc<Metainfo>,
    pub storage: Arc<dyn Storage>,
    /// The v2 hashes of the pieces, for a v2 or hybrid torrent.
    pub v2: Option<Arc<PieceHashes>>,
}

impl Loaded {
    pub fn new(meta: Arc<Metainfo>, storage: Arc<dyn Storage>) -> Loaded {
        let v2 = PieceHashes::new(&meta).map(Arc::new);
        Loaded { meta, storage, v2 }
    }

    /// A picker for these pieces that leaves alone, until their hashes
    /// arrive, the pieces of a v2-only torrent whose piece layer is not
    /// known (a torrent from a magnet): their data could not be checked.
    fn new_picker(&self) -> PiecePicker {
        let mut picker = PiecePicker::new(self.meta.lengths);
        if let (Some(v2), false) = (&self.v2, self.meta.has_v1) {
            for piece in (0..self.meta.lengths.num_pieces()).filter(|p| !v2.is_known(*p)) {
                picker.set_hash_known(piece, false);
            }
        }
        picker
    }
}

/// A torrent in a session. Shared (`Arc`) by its task, its peers and the API.
pub struct Torrent {
    pub id: TorrentId,
    pub info_hash: InfoHash,
    loaded: std::sync::OnceLock<Loaded>,
    /// Where a magnet's files go once its metadata arrives.
    pub(crate) save_path: PathBuf,
    /// The name until the metadata says it: the magnet's `dn`, or the
    /// info-hash in hex.
    magnet_name: String,
    /// A magnet's `ws` web seeds.
    magnet_web_seeds: Vec<String>,
    pub(crate) down_limit: RateLimit,
    pub(crate) up_limit: RateLimit,
    pub(crate) ses: Arc<SessionCore>,
    pub(crate) core: CoreLock,
    pub(crate) counters: TorrentCounters,
    /// Cancelled when the torrent is removed or the session stops.
    pub(crate) removed: CancellationToken,
    pub(crate) wake: tokio::sync::Notify,
}

/// How a torrent starts.
#[derive(Default)]
pub(crate) struct StartOptions {
    pub paused: bool,
    pub auto_managed: bool,
    pub session_paused: bool,
    pub seed_mode: bool,
    pub sequential: bool,
    /// Peers to dial, with where they came from (the params or resume data).
    pub peers: Vec<(SocketAddr, PeerSource)>,
    pub extra_trackers: Vec<(String, u32)>,
    /// Web seeds besides the torrent's own `url-list` (a magnet's `ws`):
    /// downloaded from, and written into the saved .torrent.
    pub web_seeds: Vec<String>,
    /// Per file, 0 (skip) to 7; missing entries are 4.
    pub file_priorities: Vec<u8>,
    pub download_limit: i64,
    pub upload_limit: i64,
    pub max_connections: u32,
    /// Pieces known to be on disk (from trusted resume data).
    pub have: Option<Vec<bool>>,
    pub piece_priorities: Vec<u8>,
    pub added_time: i64,
    pub completed_time: i64,
    pub totals: [i64; 2],
    pub times_s: [i64; 3],
}

impl Torrent {
    /// A torrent of `info_hash`; `loaded` is `None` for a magnet link
    /// whose metadata is still to come from peers.
    pub(crate) fn new(
        id: TorrentId,
        info_hash: InfoHash,
        loaded: Option<Loaded>,
        save_path: PathBuf,
        magnet_name: Option<String>,
        ses: Arc<SessionCore>,
        opts: &StartOptions,
    ) -> Arc<Torrent> {
        let mut trackers = Vec::new();
        for (tier, urls) in loaded.iter().flat_map(|l| l.meta.trackers.iter().enumerate()) {
            for url in urls {
                trackers.push(TrackerEntry::new(url.clone(), tier as u32));
            }
        }
        let mut trackers = TrackerList::new(trackers);
        for (url, tier) in &opts.extra_trackers {
            trackers.add(url, *tier);
        }
        let mut file_priority = opts.file_priorities.clone();
        let mut picker = PiecePicker::new(Lengths::NONE);
        if let Some(l) = &loaded {
            picker = l.new_picker();
            if opts.seed_mode {
                for p in 0..l.meta.lengths.num_pieces() {
                    picker.set_have(p);
                }
            }
            if let Some(have) = &opts.have {
                for (p, _) in have.iter().enumerate().filter(|(_, h)| **h) {
                    picker.set_have(p as u32);
                }
            }
            file_priority.resize(l.meta.files.len(), DEFAULT_PRIORITY);
            apply_file_priorities(&mut picker, &l.meta, &file_priority);
            for (p, prio) in opts.piece_priorities.iter().enumerate() {
                picker.set_piece_priority(p as u32, *prio);
            }
        }
        picker.set_sequential(opts.sequential);
        let known = opts.peers.iter().map(|(a, source)| (*a, KnownPeer::new(*source))).collect();
        let web_seeds = WebSeeds::new(loaded.iter().flat_map(|l| &l.meta.web_seeds).chain(&opts.web_seeds));
        let state = if loaded.is_none() {
            TorrentState::DownloadingMetadata
        } else if picker.is_finished() {
            TorrentState::Seeding
        } else {
            TorrentState::Downloading
        };
        // An auto-managed torrent waits for the queue to give it a slot.
        let queued = opts.auto_managed && !opts.paused;
        let running = !opts.paused && !opts.session_paused && !queued;
        let core = Core {
            state,
            has_metadata: loaded.is_some(),
            fetch: MetadataFetch::default(),
            metadata_arrived: false,
            listed: false,
            gauge_class: Class::default(),
            paused: opts.paused,
            queued,
            session_paused: opts.session_paused,
            auto_managed: opts.auto_managed,
            running,
            recheck: false,
            queue_position: -1,
            max_connections: opts.max_connections,
            file_priority,
            added_time: opts.added_time,
            completed_time: opts.completed_time,
            error: None,
            picker,
            buffers: HashMap::new(),
            failed: HashMap::new(),
            peers: HashMap::new(),
            known,
            banned: HashSet::new(),
            hash_failures: HashMap::new(),
            trackers,
            web_seeds,
            next_peer_key: 1,
            run: ses.shutdown.child_token(),
            rates: Default::default(),
            rate_values: [0; 4],
            list_seeds: -1,
            list_peers: -1,
            checking_progress: (0, 0),
            announce_completed: false,
            optimistic: None,
            last_optimistic: None,
            peaks: [0; 2],
            times: Times {
                last_tick: None,
                active: Duration::from_secs(opts.times_s[0].max(0) as u64),
                finished: Duration::from_secs(opts.times_s[1].max(0) as u64),
                seeding: Duration::from_secs(opts.times_s[2].max(0) as u64),
            },
        };
        let core = CoreLock::new(core, &ses);
        let counters = TorrentCounters::default();
        counters.recv_payload.store(opts.totals[0], Ordering::Relaxed);
        counters.sent_payload.store(opts.totals[1], Ordering::Relaxed);
        let slot = std::sync::OnceLock::new();
        if let Some(l) = loaded {
            let _ = slot.set(l);
        }
        Arc::new(Torrent {
            id,
            info_hash,
            removed: ses.shutdown.child_token(),
            loaded: slot,
            save_path,
            magnet_name: magnet_name.unwrap_or_else(|| info_hash.to_hex()),
            magnet_web_seeds: opts.web_seeds.clone(),
            down_limit: RateLimit::new(opts.download_limit),
            up_limit: RateLimit::new(opts.upload_limit),
            ses,
            core,
            counters,
            wake: tokio::sync::Notify::new(),
        })
    }

    /// The parsed .torrent, once known (a magnet's arrives from peers).
    pub fn meta(&self) -> Option<&Arc<Metainfo>> {
        self.loaded.get().map(|l| &l.meta)
    }

    /// A v2 or hybrid torrent (known once its metadata is).
    pub(crate) fn is_v2(&self) -> bool {
        self.meta().is_some_and(|m| m.info_hash_v2.is_some())
    }

    /// The ids peers, trackers and the DHT know this torrent's swarm by:
    /// the info-hash, and for a hybrid also its truncated v2 info-hash.
    pub(crate) fn swarm_ids(&self) -> Vec<InfoHash> {
        std::iter::once(self.info_hash).chain(self.meta().and_then(|m| v2_swarm_id(m))).collect()
    }

    /// A run of piece layer arrived from a peer and proved out: these
    /// pieces can be checked, so they may be downloaded now.
    pub(crate) fn hashes_known(&self, pieces: std::ops::Range<u32>) {
        let mut core = self.core.lock();
        for piece in pieces {
            core.picker.set_hash_known(piece, true);
        }
    }

    /// The v2 hashes of the pieces, for a v2 or hybrid torrent whose
    /// metadata is known.
    pub(crate) fn v2_hashes(&self) -> Option<&Arc<PieceHashes>> {
        self.loaded.get()?.v2.as_ref()
    }

    /// The files, once the metadata is known.
    pub(crate) fn storage(&self) -> Option<&Arc<dyn Storage>> {
        self.loaded.get().map(|l| &l.storage)
    }

    /// The metadata and files, or the `NoMetadata` error for what needs them.
    pub(crate) fn loaded(&self) -> Result<&Loaded, Error> {
        self.loaded.get().ok_or_else(|| {
            Error::new(
                ErrorKind::NoMetadata,
                format!("torrent {}: its metadata has not arrived yet", self.info_hash),
            )
        })
    }

    /// The piece geometry; `Lengths::NONE` until the metadata is known.
    pub(crate) fn lengths(&self) -> Lengths {
        self.meta().map_or(Lengths::NONE, |m| m.lengths)
    }

    /// Private (BEP 27): peers only from trackers, the application and
    /// incoming connections; no DHT, PEX or LSD. A magnet's torrent counts
    /// as public until its metadata says otherwise.
    pub fn is_private(&self) -> bool {
        self.meta().is_some_and(|m| m.private)
    }

    /// The torrent's name; before a magnet's metadata, its `dn` or the info-hash.
    pub fn name(&self) -> &str {
        self.meta().map_or(&self.magnet_name, |m| &m.name)
    }

    pub(crate) fn post(&self, kind: AlertKind) {
        self.ses.alerts.post(self.id, self.name(), kind);
    }

    fn set_state(&self, core: &mut Core, state: TorrentState) {
        if core.state != state {
            let prev = core.state;
            core.state = state;
            tracing::info!(id = self.id.0, from = prev.name(), to = state.name(), "torrent state changed");
            self.post(AlertKind::StateChanged { prev, state });
        }
    }

    /// A snapshot of the torrent's status.
    pub fn status(&self) -> TorrentStatus {
        let core = self.core.lock();
        let lengths = self.lengths();
        let wanted = core.picker.bytes_wanted();
        let wanted_done = core.picker.bytes_wanted_done();
        let progress = match core.state {
            TorrentState::CheckingFiles => {
                let (done, total) = core.checking_progress;
                if total == 0 {
                    0.0
                } else {
                    done as f64 / total as f64
                }
            }
            TorrentState::DownloadingMetadata => {
                let (done, total) = core.fetch.progress();
                if total == 0 {
                    0.0
                } else {
                    done as f64 / total as f64
                }
            }
            _ if wanted == 0 => 1.0,
            _ => wanted_done as f64 / wanted as f64,
        };
        let c = &self.counters;
        let rtts: Vec<i64> = core.peers.values().map(|p| p.rtt_avg_us()).filter(|r| *r > 0).collect();
        let remaining = wanted.saturating_sub(wanted_done) as i64;
        let rate = core.rate_values[2];
        let eta_s = if !core.has_metadata {
            -1
        } else if remaining == 0 {
            0
        } else if rate > 0 {
            remaining / rate
        } else {
            -1
        };
        TorrentStatus {
            avg_peer_rtt_us: if rtts.is_empty() { 0 } else { rtts.iter().sum::<i64>() / rtts.len() as i64 },
            max_peer_rtt_us: core.peers.values().map(|p| p.rtt_max_us()).max().unwrap_or(0),
            peak_download_rate: core.peaks[0],
            peak_upload_rate: core.peaks[1],
            active_time_s: core.times.active.as_secs() as i64,
            finished_time_s: core.times.finished.as_secs() as i64,
            seeding_time_s: core.times.seeding.as_secs() as i64,
            eta_s,
            distributed_copies: if core.peers.is_empty() { -1.0 } else { core.picker.distributed_copies() },
            auto_managed: core.auto_managed,
            session_paused: core.session_paused,
            queued: core.queued,
            queue_position: core.queue_position,
            sequential: core.picker.is_sequential(),
            download_limit: self.down_limit.rate(),
            upload_limit: self.up_limit.rate(),
            max_connections: self.max_connections(&core) as u32,
            added_time: core.added_time,
            completed_time: core.completed_time,
            id: self.id,
            info_hash: self.info_hash,
            name: self.name().to_string(),
            save_path: self.storage().map_or_else(|| self.save_path.clone(), |s| s.save_path()),
            state: core.state,
            paused: core.paused || core.queued,
            error: core.error.clone(),
            progress,
            pieces_done: core.picker.num_have(),
            pieces_total: lengths.num_pieces(),
            total_done: core.picker.bytes_have(),
            total_wanted: wanted,
            total_wanted_done: wanted_done,
            total_size: lengths.total_length(),
            download_rate: core.rate_values[0],
            upload_rate: core.rate_values[1],
            download_payload_rate: core.rate_values[2],
            upload_payload_rate: core.rate_values[3],
            total_download: c.recv.load(Ordering::Relaxed),
            total_upload: c.sent.load(Ordering::Relaxed),
            total_payload_download: c.recv_payload.load(Ordering::Relaxed),
            total_payload_upload: c.sent_payload.load(Ordering::Relaxed),
            total_wasted: c.wasted.load(Ordering::Relaxed),
            num_hash_failures: c.hash_failures.load(Ordering::Relaxed),
            // Web seeds are peer connections in libtorrent, and seeds.
            num_peers: (core.peers.len() + core.web_seeds.connected()) as u32,
            num_seeds: (core.peers.values().filter(|p| p.is_seed()).count() + core.web_seeds.connected())
                as u32,
            list_seeds: core.list_seeds,
            list_peers: core.list_peers,
        }
    }

    /// The connected peers.
    pub fn peers(&self) -> Vec<Arc<PeerHandle>> {
        let mut v: Vec<_> = self.core.lock().peers.values().cloned().collect();
        v.sort_by_key(|p| p.key);
        v
    }

    /// Whether the torrent is running and not checking its files.
    pub(crate) fn is_active(core: &Core) -> bool {
        core.running && core.state != TorrentState::CheckingFiles
    }

    /// The most peers this torrent takes.
    fn max_connections(&self, core: &Core) -> usize {
        match core.max_connections {
            0 => self.ses.settings.read().max_peers_per_torrent as usize,
            n => n as usize,
        }
    }

    // ---- called by peer tasks -------------------------------------------

    /// Registers a connected peer; `None` when the torrent does not take
    /// peers now (paused, banned address, too many peers).
    pub(crate) fn register_peer(
        &self,
        addr: SocketAddr,
        incoming: bool,
        tx: tokio::sync::mpsc::UnboundedSender<PeerCmd>,
    ) -> Result<(Arc<PeerHandle>, CancellationToken), Error> {
        let mut core = self.core.lock();
        let refuse = |why: &str| Err(Error::new(ErrorKind::Protocol, format!("refused: {why}")));
        if !Torrent::is_active(&core) {
            return refuse("the torrent is not active");
        }
        if core.is_banned(&addr) {
            return refuse("the peer is banned");
        }
        // A filter set while this connection was being made.
        let blocked = if incoming {
            self.ses.accept_blocked(&addr).then_some(BlockReason::IpFilter)
        } else {
            self.ses.dial_blocked(&addr)
        };
        if let Some(reason) = blocked {
            drop(core);
            self.ses.report_blocked(Some(self), addr, reason);
            return refuse(&format!("blocked by the {}", reason.describe()));
        }
        if core.peers.len() >= self.max_connections(&core) {
            self.ses.counters.add(Metric::TorrentConnectionLimitRefusals, 1);
            return Err(Error::new(ErrorKind::LimitReached, "refused: the torrent's connection limit"));
        }
        if !self.ses.settings.read().allow_multiple_connections_per_ip
            && core.peers.values().any(|p| p.addr.ip() == addr.ip())
        {
            return refuse("already connected to this IP (allow_multiple_connections_per_ip is off)");
        }
        if core.peers.values().any(|p| p.addr == addr) {
            return refuse("already connected to this endpoint");
        }
        let key = core.next_peer_key;
        core.next_peer_key += 1;
        // An incoming peer's address has its ephemeral port: it is not a
        // peer we could dial, so it does not join the known peers.
        let source = if incoming {
            self.ses.counters.add(Metric::PeersFromIncoming, 1);
            PeerSource::Incoming.bit() | core.known.get(&addr).map_or(0, |k| k.sources)
        } else {
            let known = core.known.entry(addr).or_insert(KnownPeer::new(PeerSource::Api));
            known.connected = true;
            known.sources
        };
        let handle = Arc::new(PeerHandle::new(
            key,
            addr,
            incoming,
            source,
            self.lengths().num_pieces(),
            tx,
            self.ses.counters.clone(),
        ));
        core.peers.insert(key, handle.clone());
        Ok((handle, core.run.child_token()))
    }

    /// Forgets a peer whose connection ended.
    pub(crate) fn unregister_peer(&self, handle: &PeerHandle, has: &Bitfield) {
        let mut core = self.core.lock();
        if core.peers.remove(&handle.key).is_none() {
            return;
        }
        core.picker.remove_peer_bitfield(has);
        core.picker.remove_peer(handle.key);
        core.fetch.peer_left(handle.key);
        if let Some(k) = core.known.get_mut(&handle.addr) {
            k.connected = false;
        }
        if core.optimistic == Some(handle.key) {
            core.optimistic = None;
        }
    }

    // ---- metadata (BEP 9) -----------------------------------------------

    /// The next metadata piece to ask a peer for that offers `size` bytes
    /// of it; `None` when the metadata is known or nothing is to be asked.
    pub(crate) fn metadata_request(&self, key: PeerKey, size: u32) -> Option<u32> {
        let mut core = self.core.lock();
        if core.has_metadata || !core.running {
            return None;
        }
        core.fetch.next_request(key, size, Instant::now())
    }

    /// A peer will not send a metadata piece.
    pub(crate) fn metadata_rejected(&self, key: PeerKey, piece: u32) {
        self.core.lock().fetch.on_reject(key, piece);
    }

    /// A piece of metadata from a peer. The error is for a peer whose
    /// metadata did not hash to the info-hash: it is to be disconnected.
    pub(crate) fn metadata_piece(
        self: &Arc<Self>,
        key: PeerKey,
        addr: SocketAddr,
        piece: u32,
        total_size: u32,
        data: &[u8],
    ) -> Result<(), Error> {
        let outcome = {
            let mut core = self.core.lock();
            if core.has_metadata {
                return Ok(());
            }
            core.fetch.on_data(&self.info_hash, key, piece, total_size, data)
        };
        match outcome {
            DataOutcome::Ignored(why) => {
                tracing::debug!(id = self.id.0, peer = %addr, piece, why, "metadata piece ignored");
                self.ses.counters.add(Metric::WastedBytes, data.len() as i64);
                Ok(())
            }
            DataOutcome::Stored => Ok(()),
            DataOutcome::Complete(info) => {
                self.set_metadata(info);
                Ok(())
            }
            DataOutcome::HashFailed { blamed } => {
                tracing::warn!(id = self.id.0, peer = %addr, ?blamed, "metadata does not match the info-hash");
                let error = Error::new(
                    ErrorKind::InvalidTorrent,
                    format!("the metadata does not hash to the info-hash {}", self.info_hash),
                );
                match blamed {
                    Some(k) => {
                        let peer = self.core.lock().peers.get(&k).map(|p| p.addr).unwrap_or(addr);
                        let info = ErrorInfo { kind: error.kind(), message: error.message().to_string() };
                        self.post(AlertKind::MetadataFailed { peer, error: info });
                        if k == key {
                            return Err(error);
                        }
                        self.close_peer(k, error);
                        Ok(())
                    }
                    // Several peers sent parts: nobody can be blamed, the
                    // fetch goes on one peer at a time (see `metadata`).
                    None => Ok(()),
                }
            }
        }
    }

    /// Ends the connection to peer `key` with `error`.
    fn close_peer(&self, key: PeerKey, error: Error) {
        if let Some(p) = self.core.lock().peers.get(&key) {
            p.send(PeerCmd::Close(Failure::new(Operation::Bittorrent, error)));
        }
    }

    /// The info dictionary arrived and hashes to the info-hash: parse it,
    /// set up the files and start downloading. A dictionary that hashes
    /// right but is not a torrent lt can use stops the torrent with an error.
    fn set_metadata(self: &Arc<Self>, info: Vec<u8>) {
        let meta = match Metainfo::from_info_bytes(&info) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                let error = ErrorInfo {
                    kind: ErrorKind::InvalidTorrent,
                    message: format!("the metadata matches the info-hash but cannot be used: {e}"),
                };
                tracing::warn!(id = self.id.0, error = %error.message, "unusable metadata");
                if self.stop_with(&error) {
                    self.post(AlertKind::TorrentError { error });
                }
                return;
            }
        };
        let storage = super::session::open_storage(&meta, self.save_path.clone());
        let loaded = Loaded::new(meta.clone(), storage);
        let mut picker = loaded.new_picker();
        if self.loaded.set(loaded).is_err() {
            return;
        }
        if let Some(ih) = v2_swarm_id(&meta) {
            self.ses.add_swarm_id(ih, self.id);
        }
        let mut core = self.core.lock();
        picker.set_sequential(core.picker.is_sequential());
        let mut prios = std::mem::take(&mut core.file_priority);
        prios.resize(meta.files.len(), DEFAULT_PRIORITY);
        apply_file_priorities(&mut picker, &meta, &prios);
        core.file_priority = prios;
        core.picker = picker;
        core.has_metadata = true;
        core.fetch = MetadataFetch::default();
        core.metadata_arrived = true;
        let state = if core.picker.is_finished() { TorrentState::Seeding } else { TorrentState::Downloading };
        self.set_state(&mut core, state);
        for p in core.peers.values() {
            p.send(PeerCmd::MetadataReady);
        }
        drop(core);
        tracing::info!(id = self.id.0, name = %meta.name, size = info.len(), "metadata received");
        self.post(AlertKind::MetadataReceived);
        self.wake.notify_one();
    }

    /// The .torrent file: the info dictionary as received (or loaded), the
    /// trackers the torrent knows now and its web seeds, so an application
    /// can save a magnet link's torrent.
    pub fn torrent_file(&self) -> Result<Vec<u8>, Error> {
        use crate::proto::bencode::Value;
        let meta = &self.loaded()?.meta;
        let tiers = self.core.lock().trackers.tiers();
        let mut head = std::collections::BTreeMap::new();
        if let Some(first) = tiers.first().and_then(|t| t.first()) {
            head.insert(&b"announce"[..], Value::Bytes(first.as_bytes()));
            let list =
                tiers.iter().map(|t| Value::List(t.iter().map(|u| Value::Bytes(u.as_bytes())).collect()));
            head.insert(&b"announce-list"[..], Value::List(list.collect()));
        }
        // "info" sorts after both keys: the raw dictionary goes last, as is.
        let mut out = Value::Dict(head).encode();
        out.pop();
        out.extend_from_slice(b"4:info");
        out.extend_from_slice(&meta.info_bytes);
        // "piece layers" (BEP 52) sorts after "info": the layers known now,
        // those a magnet's peers sent included, so the file is complete.
        let layers = self.v2_hashes().map(|v2| v2.complete_layers()).unwrap_or_default();
        if !layers.is_empty() {
            let flat: Vec<([u8; 32], Vec<u8>)> =
                layers.into_iter().map(|(root, nodes)| (root, nodes.concat())).collect();
            let dict = flat.iter().map(|(root, bytes)| (&root[..], Value::Bytes(bytes))).collect();
            out.extend_from_slice(b"12:piece layers");
            out.extend_from_slice(&Value::Dict(dict).encode());
        }
        // "url-list" sorts after "piece layers".
        let mut seeds: Vec<&str> = meta.web_seeds.iter().map(String::as_str).collect();
        for ws in &self.magnet_web_seeds {
            if !seeds.contains(&ws.as_str()) {
                seeds.push(ws);
            }
        }
        if !seeds.is_empty() {
            let list = Value::List(seeds.iter().map(|u| Value::Bytes(u.as_bytes())).collect());
            out.extend_from_slice(b"8:url-list");
            out.extend_from_slice(&list.encode());
        }
        out.push(b'e');
        Ok(out)
    }

    pub(crate) fn have_bitfield(&self) -> Bitfield {
        self.core.lock().picker.have_bitfield().clone()
    }

    /// Replaces a peer's pieces (`old`, empty at first) with `has` in the
    /// availability counts; answers whether we are interested in it.
    pub(crate) fn peer_bitfield(&self, old: &Bitfield, has: &Bitfield) -> bool {
        let mut core = self.core.lock();
        core.picker.remove_peer_bitfield(old);
        core.picker.add_peer_bitfield(has);
        core.picker.is_interesting(has)
    }

    /// A `have` from a peer; answers whether we are interested in it now.
    pub(crate) fn peer_have(&self, piece: u32, has: &Bitfield) -> bool {
        let mut core = self.core.lock();
        core.picker.add_peer_have(piece);
        core.picker.is_interesting(has)
    }

    pub(crate) fn is_interesting(&self, has: &Bitfield) -> bool {
        self.core.lock().picker.is_interesting(has)
    }

    /// Picks up to `max` blocks for a peer.
    pub(crate) fn pick_blocks(&self, has: &Bitfield, key: PeerKey, max: usize, out: &mut Vec<Block>) {
        let mut core = self.core.lock();
        if !Torrent::is_active(&core) {
            return;
        }
        let before = core.picker.endgame_picks();
        core.picker.pick_blocks(has, key, max, out);
        let endgame = core.picker.endgame_picks() - before;
        if endgame > 0 {
            self.ses.counters.add(Metric::EndgameRequests, endgame as i64);
        }
    }

    /// Gives blocks back to the picker (choked, rejected, timed out, closed).
    pub(crate) fn abort_blocks(&self, key: PeerKey, blocks: impl IntoIterator<Item = Block>) {
        let mut core = self.core.lock();
        for b in blocks {
            core.picker.abort_request(b, key);
        }
    }

    /// Takes a received block. Answers the peers that also had it requested
    /// (so they can be sent a cancel in endgame). When the block completes
    /// a piece, the piece is hashed and written off the network threads.
    pub(crate) fn block_received(
        self: &Arc<Self>,
        key: PeerKey,
        addr: SocketAddr,
        block: Block,
        data: &[u8],
    ) -> Vec<PeerKey> {
        let lengths = self.lengths();
        let mut core = self.core.lock();
        let others = core.picker.requesters(block).filter(|k| *k != key).collect::<Vec<_>>();
        let outcome = core.picker.on_block_received(block, key);
        let piece_complete = match outcome {
            Received::New { piece_complete } => piece_complete,
            Received::Duplicate | Received::NotRequested => {
                self.counters.wasted.fetch_add(data.len() as i64, Ordering::Relaxed);
                self.ses.counters.add(Metric::WastedBytes, data.len() as i64);
                self.ses.counters.add(Metric::RedundantBytes, data.len() as i64);
                return Vec::new();
            }
        };
        let piece_size = lengths.piece_size(block.piece) as usize;
        let nblocks = lengths.blocks_in_piece(block.piece) as usize;
        let buf = core
            .buffers
            .entry(block.piece)
            .or_insert_with(|| PieceBuffer { data: vec![0; piece_size], senders: vec![None; nblocks] });
        let begin = block.begin() as usize;
        if let Some(dst) = buf.data.get_mut(begin..begin + data.len()) {
            dst.copy_from_slice(data);
        }
        if let Some(s) = buf.senders.get_mut(block.index as usize) {
            if s.replace((key, addr)).is_none() {
                self.ses.counters.add(Metric::WriteCacheBlocks, 1);
            }
        }
        if piece_complete {
            if let Some(buf) = core.buffers.remove(&block.piece) {
                drop(core);
                self.spawn_verify(block.piece, buf);
            }
        }
        others
    }

    /// Forgets the blocks of unfinished pieces held in memory.
    fn drop_buffers(&self, core: &mut Core) {
        let blocks = core.blocks_in_memory() as i64;
        core.buffers.clear();
        self.ses.counters.add(Metric::WriteCacheBlocks, -blocks);
    }

    fn spawn_verify(self: &Arc<Self>, piece: u32, buf: PieceBuffer) {
        let t = self.clone();
        self.ses.counters.add(Metric::DiskQueueDepth, 1);
        self.ses.counters.add(Metric::DiskQueuedBytes, buf.data.len() as i64);
        let hashes = self.loaded.get().map(|l| (l.meta.clone(), l.v2.clone()));
        let storage = self.storage().cloned();
        self.ses.runtime.spawn_blocking(move || {
            let c = &t.ses.counters;
            let started = Instant::now();
            let check = match &hashes {
                Some((meta, v2)) => v2::check_piece(meta, v2.as_deref(), piece, &buf.data),
                None => Check::Fail,
            };
            let ok = check == Check::Pass;
            c.add(Metric::DiskHashTime, started.elapsed().as_micros() as i64);
            let started = Instant::now();
            let write = match &storage {
                Some(storage) if ok => Some(storage.write_piece(piece, &buf.data)),
                _ => None,
            };
            if matches!(write, Some(Ok(()))) {
                c.add(Metric::DiskWriteTime, started.elapsed().as_micros() as i64);
                c.add(Metric::DiskWriteOps, 1);
                c.add(Metric::DiskWriteBytes, buf.data.len() as i64);
            }
            t.ses.counters.add(Metric::DiskQueueDepth, -1);
            c.add(Metric::WriteCacheBlocks, -(buf.senders.iter().flatten().count() as i64));
            t.ses.disk_done(buf.data.len() as i64);
            if check == Check::Inconsistent {
                t.inconsistent_hashes(piece);
            }
            t.piece_verified(piece, buf, check, write);
        });
    }

    /// A hybrid torrent whose v1 and v2 hashes disagree about a piece can
    /// never complete: it stops with an error, as in libtorrent.
    fn inconsistent_hashes(self: &Arc<Self>, piece: u32) {
        let error = ErrorInfo {
            kind: ErrorKind::InvalidTorrent,
            message: format!("the torrent's v1 and v2 hashes disagree about piece {piece}"),
        };
        tracing::error!(id = self.id.0, piece, "inconsistent v1 and v2 hashes");
        if self.stop_with(&error) {
            self.ses.counters.add(Metric::TorrentErrors, 1);
            self.post(AlertKind::TorrentError { error });
        }
    }

    fn piece_verified(
        self: &Arc<Self>,
        piece: u32,
        buf: PieceBuffer,
        check: Check,
        write: Option<Result<(), super::storage::StorageError>>,
    ) {
        let mut core = self.core.lock();
        if check == Check::Unknown {
            // A v2 piece whose layer has not arrived: picked again later,
            // its senders not blamed.
            core.picker.on_hash_failed(piece);
            self.counters.wasted.fetch_add(buf.data.len() as i64, Ordering::Relaxed);
            self.ses.counters.add(Metric::WastedBytes, buf.data.len() as i64);
            return;
        }
        let ok = check == Check::Pass;
        if let Some(Err(e)) = write {
            core.picker.on_hash_failed(piece);
            let error = ErrorInfo { kind: ErrorKind::Io, message: e.to_string() };
            drop(core);
            self.file_error(error);
            return;
        }
        if !ok {
            core.picker.on_hash_failed(piece);
            self.counters.hash_failures.fetch_add(1, Ordering::Relaxed);
            self.counters.wasted.fetch_add(buf.data.len() as i64, Ordering::Relaxed);
            self.ses.counters.add(Metric::NumPieceFailed, 1);
            self.ses.counters.add(Metric::WastedBytes, buf.data.len() as i64);
            self.ses.counters.add(Metric::FailedBytes, buf.data.len() as i64);
            let (to_ban, bad_web_seeds) = self.record_failure(&mut core, piece, &buf);
            drop(core);
            tracing::warn!(id = self.id.0, piece, "piece failed the hash check");
            self.post(AlertKind::HashFailed { piece });
            for addr in to_ban {
                self.ban(addr);
            }
            self.web_seeds_sent_bad_data(&bad_web_seeds);
            return;
        }
        core.picker.on_hash_passed(piece);
        let blocks = self.lengths().blocks_in_piece(piece) as i64;
        self.ses.counters.add(Metric::NumPiecePassed, 1);
        self.ses.counters.add(Metric::BlocksWritten, blocks);
        let (culprits, bad_web_seeds) = self.smart_ban(&mut core, piece, &buf);
        for p in core.peers.values() {
            p.send(PeerCmd::Have(piece));
        }
        let finished = core.is_finished() && core.state == TorrentState::Downloading;
        if finished {
            let state = if core.picker.is_seed() { TorrentState::Seeding } else { TorrentState::Finished };
            self.set_state(&mut core, state);
            core.announce_completed = core.picker.is_seed();
            for p in core.peers.values() {
                p.send(PeerCmd::RecheckInterest);
            }
        }
        drop(core);
        self.post(AlertKind::PieceFinished { piece });
        for addr in culprits {
            self.ban(addr);
        }
        self.web_seeds_sent_bad_data(&bad_web_seeds);
        if finished {
            if let Some(Err(e)) = self.storage().map(|s| s.flush()) {
                tracing::warn!(error = %e, "flush after finishing failed");
            }
            self.core.lock().completed_time = unix_now();
            self.ses.queue_membership(self, false);
            self.ses.counters.add(Metric::TorrentsFinished, 1);
            self.post(AlertKind::TorrentFinished);
            self.wake.notify_one();
        }
    }

    /// Counts a hash failure against the peers that sent the piece. A peer
    /// that sent the whole piece alone is charged a failure; peers are
    /// banned once they reach `max_hash_failures_per_peer`. A web seed that
    /// sent the whole piece alone is answered to be banned at once (with
    /// the peers to ban). The block hashes are kept so the culprit can be
    /// found when the piece passes.
    fn record_failure(
        &self,
        core: &mut Core,
        piece: u32,
        buf: &PieceBuffer,
    ) -> (Vec<SocketAddr>, Vec<PeerKey>) {
        let web: HashSet<PeerKey> =
            buf.senders.iter().flatten().map(|(k, _)| *k).filter(|k| webseed::is_web_seed(*k)).collect();
        let senders: HashSet<SocketAddr> = if web.is_empty() {
            buf.senders.iter().flatten().map(|(_, a)| *a).collect()
        } else {
            HashSet::new()
        };
        let keys: HashSet<PeerKey> = buf.senders.iter().flatten().map(|(k, _)| *k).collect();
        for k in &keys {
            if let Some(p) = core.peers.get(k) {
                p.add_hash_failure();
            }
        }
        let limit = self.ses.settings.read().max_hash_failures_per_peer as u32;
        let mut ban = Vec::new();
        if senders.len() == 1 {
            for addr in senders {
                let key = self.ban_key(addr);
                let n = core.hash_failures.entry(key).or_insert(0);
                *n += 1;
                if *n >= limit {
                    ban.push(addr);
                }
            }
        }
        let block_hashes = buf.data.chunks(BLOCK_SIZE as usize).map(|b| Sha1::digest(b).into()).collect();
        core.failed.insert(piece, FailedPiece { block_hashes, senders: buf.senders.clone() });
        let all_from_web_seed = web.len() == 1 && keys.len() == 1;
        (ban, if all_from_web_seed { web.into_iter().collect() } else { Vec::new() })
    }

    /// When a piece that once failed passes, every block whose bytes differ
    /// from the failed attempt was bad: its sender is banned (peers by
    /// address, web seeds by key).
    fn smart_ban(&self, core: &mut Core, piece: u32, good: &PieceBuffer) -> (Vec<SocketAddr>, Vec<PeerKey>) {
        let Some(failed) = core.failed.remove(&piece) else { return (Vec::new(), Vec::new()) };
        let (mut ban, mut web) = (Vec::new(), Vec::new());
        for (i, chunk) in good.data.chunks(BLOCK_SIZE as usize).enumerate() {
            let h: [u8; 20] = Sha1::digest(chunk).into();
            if failed.block_hashes.get(i) != Some(&h) {
                let Some(Some((key, addr))) = failed.senders.get(i) else { continue };
                if webseed::is_web_seed(*key) {
                    if !web.contains(key) {
                        web.push(*key);
                    }
                } else if !ban.contains(addr) {
                    ban.push(*addr);
                }
            }
        }
        (ban, web)
    }

    /// What a ban applies to: the IP address, or (when several peers may
    /// share an address, `allow_multiple_connections_per_ip`) the endpoint.
    fn ban_key(&self, addr: SocketAddr) -> BanKey {
        if self.ses.settings.read().allow_multiple_connections_per_ip {
            BanKey::Endpoint(addr)
        } else {
            BanKey::Ip(addr.ip())
        }
    }

    /// Bans a peer: its connections close and it is never dialled again.
    pub(crate) fn ban(&self, addr: SocketAddr) {
        let key = self.ban_key(addr);
        let mut core = self.core.lock();
        if !core.banned.insert(key) {
            return;
        }
        let peers: Vec<_> = core.peers.values().filter(|p| core.is_banned(&p.addr)).cloned().collect();
        drop(core);
        self.ses.counters.add(Metric::BannedPeers, 1);
        self.ses.counters.add(Metric::BannedForHashFailure, 1);
        tracing::warn!(peer = %addr, "peer banned for corrupt data");
        self.post(AlertKind::PeerBan { peer: addr });
        for p in peers {
            p.send(PeerCmd::Close(Error::new(ErrorKind::Protocol, "banned: sent corrupt data").into()));
        }
    }

    /// Records the error and ends the torrent's peers; false when an
    /// error had stopped it already.
    fn stop_with(self: &Arc<Self>, error: &ErrorInfo) -> bool {
        let mut core = self.core.lock();
        if core.error.is_some() {
            return false;
        }
        core.error = Some(error.clone());
        self.apply_run_state(core);
        true
    }

    /// A disk error: the torrent stops with it (status first, so a reader
    /// woken by the alert sees it), then file_error and torrent_error alerts.
    pub(crate) fn file_error(self: &Arc<Self>, error: ErrorInfo) {
        if !self.stop_with(&error) {
            return;
        }
        tracing::error!(id = self.id.0, error = %error.message, "file error, torrent stopped");
        self.ses.counters.add(Metric::TorrentErrors, 1);
        self.post(AlertKind::FileError { error: error.clone() });
        self.post(AlertKind::TorrentError { error });
    }

    // ---- control --------------------------------------------------------

    /// Starts or stops peers and trackers when the reasons to stop
    /// (user pause, queue, session pause, error) changed. The one place
    /// `running` changes: stopping ends the peers and tells trackers
    /// `stopped`; starting announces `started` again.
    pub(crate) fn apply_run_state(self: &Arc<Self>, mut core: CoreGuard<'_>) {
        let run = !core.paused && !core.queued && !core.session_paused && core.error.is_none();
        if run == core.running {
            return;
        }
        core.running = run;
        core.times.last_tick = None;
        self.ses.set_running(self.id, run);
        if run {
            core.run = self.ses.shutdown.child_token();
            core.trackers.restart();
            drop(core);
            self.wake.notify_one();
        } else {
            core.run.cancel();
            core.rate_values = [0; 4];
            drop(core);
            let t = self.clone();
            self.ses.runtime.spawn(async move { tracker::announce(&t, AnnounceEvent::Stopped).await });
        }
        self.ses.queue_changed();
    }

    /// Pauses the torrent: peers disconnect, trackers are told `stopped`.
    /// The torrent stops being auto-managed, so the queue leaves it paused
    /// (libtorrent's advice for a user's pause).
    pub fn pause(self: &Arc<Self>) {
        let mut core = self.core.lock();
        if core.paused {
            return;
        }
        core.paused = true;
        core.auto_managed = false;
        core.queued = false;
        self.apply_run_state(core);
        self.post(AlertKind::TorrentPaused);
    }

    /// Resumes a paused torrent; clears an error.
    pub fn resume(self: &Arc<Self>) {
        let mut core = self.core.lock();
        if !core.paused && core.error.is_none() {
            return;
        }
        core.paused = false;
        core.error = None;
        self.apply_run_state(core);
        self.post(AlertKind::TorrentResumed);
    }

    /// Lets the queue start and stop the torrent (or takes that away).
    pub fn set_auto_managed(self: &Arc<Self>, on: bool) {
        let mut core = self.core.lock();
        core.auto_managed = on;
        if !on && core.queued {
            core.queued = false;
            self.apply_run_state(core);
        } else {
            drop(core);
            self.ses.queue_changed();
        }
    }

    /// The queue's decision: stop (`true`) or start this auto-managed torrent.
    pub(crate) fn set_queued(self: &Arc<Self>, queued: bool) -> bool {
        let mut core = self.core.lock();
        if core.queued == queued || !core.auto_managed {
            return false;
        }
        core.queued = queued;
        self.apply_run_state(core);
        self.post(if queued { AlertKind::TorrentPaused } else { AlertKind::TorrentResumed });
        true
    }

    /// The whole session paused or resumed.
    pub(crate) fn set_session_paused(self: &Arc<Self>, paused: bool) {
        let mut core = self.core.lock();
        core.session_paused = paused;
        self.apply_run_state(core);
    }

    /// Checks every piece on disk again; the torrent runs on afterwards.
    pub fn force_recheck(&self) {
        self.core.lock().recheck = true;
        self.ses.counters.add(Metric::ForcedRechecks, 1);
        self.wake.notify_one();
    }

    /// Sets file priorities (0: skip, 1 to 7); pieces take the highest
    /// priority of the files they overlap.
    pub fn set_file_priorities(self: &Arc<Self>, prios: &[u8]) {
        let mut core = self.core.lock();
        for (dst, p) in core.file_priority.iter_mut().zip(prios) {
            *dst = (*p).min(7);
        }
        let prios = core.file_priority.clone();
        // Before a magnet's metadata the priorities wait in `file_priority`.
        if let Some(meta) = self.meta() {
            apply_file_priorities(&mut core.picker, meta, &prios);
        }
        self.priorities_changed(core);
    }

    pub fn set_file_priority(self: &Arc<Self>, file: usize, prio: u8) -> Result<(), Error> {
        check_priority(prio)?;
        let mut prios = self.core.lock().file_priority.clone();
        let n = prios.len();
        let slot = prios
            .get_mut(file)
            .ok_or_else(|| Error::invalid_argument(format!("file index {file} out of range ({n} files)")))?;
        *slot = prio;
        self.set_file_priorities(&prios);
        Ok(())
    }

    pub fn set_piece_priority(self: &Arc<Self>, piece: u32, prio: u8) -> Result<(), Error> {
        check_priority(prio)?;
        let n = self.loaded()?.meta.lengths.num_pieces();
        if piece >= n {
            return Err(Error::invalid_argument(format!("piece index {piece} out of range ({n} pieces)")));
        }
        let mut core = self.core.lock();
        core.picker.set_piece_priority(piece, prio);
        self.priorities_changed(core);
        Ok(())
    }

    /// After priorities changed: a finished torrent with new wanted pieces
    /// downloads again, one with none left is finished; peers re-evaluate
    /// their interest.
    fn priorities_changed(self: &Arc<Self>, mut core: CoreGuard<'_>) {
        let finished = core.is_finished();
        let state = match core.state {
            TorrentState::CheckingFiles | TorrentState::DownloadingMetadata => core.state,
            _ if !finished => TorrentState::Downloading,
            _ if core.picker.is_seed() => TorrentState::Seeding,
            _ => TorrentState::Finished,
        };
        let was_finished = matches!(core.state, TorrentState::Finished | TorrentState::Seeding);
        self.set_state(&mut core, state);
        for p in core.peers.values() {
            p.send(PeerCmd::RecheckInterest);
        }
        drop(core);
        if was_finished != finished {
            self.ses.queue_membership(self, !finished);
        }
        self.wake.notify_one();
    }

    /// Each file's priority, by index.
    pub fn file_priorities(&self) -> Vec<u8> {
        self.core.lock().file_priority.clone()
    }

    pub fn set_sequential(&self, on: bool) {
        self.core.lock().picker.set_sequential(on);
    }

    /// Per-torrent rate limits in bytes per second (0: none).
    pub fn set_download_limit(&self, rate: i64) -> Result<(), Error> {
        self.down_limit.set_rate(check_rate(rate)?);
        Ok(())
    }

    pub fn set_upload_limit(&self, rate: i64) -> Result<(), Error> {
        self.up_limit.set_rate(check_rate(rate)?);
        Ok(())
    }

    /// Most peer connections (0: the `max_peers_per_torrent` setting).
    pub fn set_max_connections(&self, n: u32) {
        self.core.lock().max_connections = n;
    }

    // ---- the torrent's task ---------------------------------------------

    /// Runs the torrent until it is removed or the session stops: checks
    /// files first if needed, then once a second updates rates, chokes,
    /// dials peers and announces.
    pub(crate) async fn run(self: Arc<Self>, check_files: bool) {
        if self.meta().is_some() {
            self.prepare_files(check_files).await;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n: u64 = 0;
        loop {
            let (running, recheck, arrived) = {
                let mut core = self.core.lock();
                (core.running, std::mem::take(&mut core.recheck), std::mem::take(&mut core.metadata_arrived))
            };
            if arrived {
                let check = self.storage().is_some_and(|s| s.any_file_exists());
                self.prepare_files(check).await;
                continue;
            }
            if recheck && self.meta().is_some() {
                self.recheck().await;
                continue;
            }
            if running {
                tokio::select! {
                    _ = self.removed.cancelled() => break,
                    _ = tick.tick() => {}
                    _ = self.wake.notified() => {}
                }
            } else {
                // A stopped torrent costs nothing until something wakes it.
                tokio::select! {
                    _ = self.removed.cancelled() => break,
                    _ = self.wake.notified() => {}
                }
                self.update_rates();
                continue;
            }
            n += 1;
            self.update_rates();
            if n % 10 == 1 && self.meta().is_some() {
                self.choke_round();
            }
            self.connect_peers();
            self.start_web_seeds();
            let t = self.clone();
            tracker::maybe_announce(&t).await;
        }
    }

    /// Checks the files on disk when asked, then creates the empty ones.
    async fn prepare_files(self: &Arc<Self>, check: bool) {
        if check {
            self.check_files().await;
        }
        if let Some(Err(e)) = self.storage().map(|s| s.create_empty_files()) {
            let error = ErrorInfo { kind: ErrorKind::Io, message: e.to_string() };
            self.file_error(error);
        }
    }

    /// Forgets what is had, ends the peers and checks the files again.
    async fn recheck(self: &Arc<Self>) {
        {
            let mut core = self.core.lock();
            core.run.cancel();
            core.run = self.ses.shutdown.child_token();
            core.picker.reset_have();
            self.drop_buffers(&mut core);
        }
        self.check_files().await;
    }

    async fn check_files(self: &Arc<Self>) {
        let Ok(loaded) = self.loaded() else { return };
        let (meta, storage, v2) = (loaded.meta.clone(), loaded.storage.clone(), loaded.v2.clone());
        let num = meta.lengths.num_pieces();
        {
            let mut core = self.core.lock();
            self.set_state(&mut core, TorrentState::CheckingFiles);
            core.checking_progress = (0, num);
        }
        let threads = self.ses.settings.read().hashing_threads.max(1) as u32;
        let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..threads {
            let t = self.clone();
            let next = next.clone();
            let (meta, storage, v2) = (meta.clone(), storage.clone(), v2.clone());
            tasks.push(self.ses.runtime.spawn_blocking(move || -> Result<(), String> {
                loop {
                    if t.removed.is_cancelled() {
                        return Ok(());
                    }
                    let piece = next.fetch_add(1, Ordering::Relaxed);
                    if piece >= num {
                        return Ok(());
                    }
                    let started = Instant::now();
                    let data = storage.read_piece(piece).map_err(|e| e.to_string())?;
                    t.ses.counters.add(Metric::DiskReadTime, started.elapsed().as_micros() as i64);
                    t.ses.counters.add(Metric::DiskReadOps, 1);
                    let check = match data {
                        Some(d) => {
                            t.ses
                                .counters
                                .add(Metric::BlocksRead, d.len().div_ceil(BLOCK_SIZE as usize) as i64);
                            v2::check_piece(&meta, v2.as_deref(), piece, &d)
                        }
                        None => Check::Fail,
                    };
                    if check == Check::Inconsistent {
                        t.inconsistent_hashes(piece);
                    }
                    let good = check == Check::Pass;
                    t.ses.counters.add(Metric::PiecesChecked, 1);
                    let mut core = t.core.lock();
                    if good {
                        core.picker.set_have(piece);
                    }
                    core.checking_progress.0 += 1;
                }
            }));
        }
        let mut failure = None;
        for task in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failure = Some(e),
                Err(e) => failure = Some(format!("check task failed: {e}")),
            }
        }
        if let Some(message) = failure {
            let error = ErrorInfo { kind: ErrorKind::Io, message };
            self.file_error(error);
        }
        let mut core = self.core.lock();
        let state = if !core.is_finished() {
            TorrentState::Downloading
        } else if core.picker.is_seed() {
            TorrentState::Seeding
        } else {
            TorrentState::Finished
        };
        self.set_state(&mut core, state);
        let finished = core.is_finished();
        drop(core);
        // What the check found decides the queue: a finished torrent
        // leaves it, one with pieces to get joins it.
        self.ses.queue_membership(self, !finished);
        self.post(AlertKind::TorrentChecked);
    }

    fn update_rates(&self) {
        let now_ms = self.ses.start.elapsed().as_millis() as u64;
        let c = &self.counters;
        let totals = [
            c.recv.load(Ordering::Relaxed),
            c.sent.load(Ordering::Relaxed),
            c.recv_payload.load(Ordering::Relaxed),
            c.sent_payload.load(Ordering::Relaxed),
        ];
        let mut core = self.core.lock();
        for (i, total) in totals.iter().enumerate() {
            core.rate_values[i] = core.rates[i].sample(*total, now_ms);
        }
        for p in core.peers.values() {
            p.update_rates(now_ms);
        }
        core.peaks[0] = core.peaks[0].max(core.rate_values[2]);
        core.peaks[1] = core.peaks[1].max(core.rate_values[3]);
        let now = Instant::now();
        let dt = core.times.last_tick.map(|t| now.duration_since(t)).unwrap_or_default();
        core.times.last_tick = Some(now);
        if Torrent::is_active(&core) {
            core.times.active += dt;
            if matches!(core.state, TorrentState::Finished | TorrentState::Seeding) {
                core.times.finished += dt;
            }
            if core.state == TorrentState::Seeding {
                core.times.seeding += dt;
            }
        }
    }

    /// Tit-for-tat: unchoke the interested peers that give us the most
    /// (or, when seeding, that take the most), plus one optimistic slot
    /// that rotates every 30 s.
    fn choke_round(&self) {
        self.ses.counters.add(Metric::ChokeRounds, 1);
        let slots = self.ses.settings.read().unchoke_slots_limit;
        let mut core = self.core.lock();
        let seeding = core.is_finished();
        let mut interested: Vec<Arc<PeerHandle>> =
            core.peers.values().filter(|p| p.peer_interested()).cloned().collect();
        interested.sort_by_key(|p| std::cmp::Reverse(if seeding { p.up_rate() } else { p.down_rate() }));
        let regular = if slots == 0 { interested.len() } else { (slots as usize).saturating_sub(1).max(1) };
        let mut unchoke: HashSet<PeerKey> = interested.iter().take(regular).map(|p| p.key).collect();
        let rotate = core.last_optimistic.is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
            || core.optimistic.is_none_or(|k| !core.peers.contains_key(&k));
        if rotate {
            let candidates: Vec<_> = interested.iter().filter(|p| !unchoke.contains(&p.key)).collect();
            core.optimistic = if candidates.is_empty() {
                None
            } else {
                self.ses.counters.add(Metric::OptimisticRotations, 1);
                use rand::Rng;
                Some(candidates[rand::thread_rng().gen_range(0..candidates.len())].key)
            };
            core.last_optimistic = Some(Instant::now());
        }
        // The optimistic slot's peer, unless it earned a regular slot.
        let optimistic = core.optimistic.filter(|k| !unchoke.contains(k));
        if let Some(k) = optimistic {
            unchoke.insert(k);
        }
        for p in core.peers.values() {
            let should_unchoke = unchoke.contains(&p.key);
            if should_unchoke == p.am_choking() {
                p.send(if should_unchoke { PeerCmd::Unchoke } else { PeerCmd::Choke });
            }
            p.set_flag(peer::flags::OPTIMISTIC_UNCHOKE, Some(p.key) == optimistic);
        }
    }

    /// Dials known peers while below the connection limits.
    fn connect_peers(self: &Arc<Self>) {
        let settings = self.ses.settings.read().clone();
        let mut core = self.core.lock();
        if !Torrent::is_active(&core) {
            return;
        }
        let mut room = self.max_connections(&core).saturating_sub(core.peers.len());
        let now = Instant::now();
        let mut dial = Vec::new();
        let max_fail = settings.max_failcount as u32;
        let banned: HashSet<SocketAddr> = core.known.keys().filter(|a| core.is_banned(a)).copied().collect();
        // Addresses known before the filter blocked them (the params,
        // resume data, the API): forgotten and reported, never dialled.
        let mut blocked = Vec::new();
        core.known.retain(|addr, k| match self.ses.dial_blocked(addr) {
            Some(reason) if !k.connected => {
                blocked.push((*addr, reason));
                false
            }
            _ => true,
        });
        for (addr, k) in core.known.iter_mut() {
            if room == 0 {
                break;
            }
            if k.connected || k.failures >= max_fail || banned.contains(addr) {
                continue;
            }
            let backoff = Duration::from_secs(10u64 << k.failures.min(6));
            if k.last_attempt.is_some_and(|t| now.duration_since(t) < backoff) {
                continue;
            }
            if !self.ses.try_reserve_connection() {
                self.ses.counters.add(Metric::ConnectionLimitRefusals, 1);
                break;
            }
            k.last_attempt = Some(now);
            k.connected = true;
            room -= 1;
            dial.push(*addr);
        }
        let run = core.run.clone();
        drop(core);
        for (addr, reason) in blocked {
            self.ses.report_blocked(Some(self), addr, reason);
        }
        for addr in dial {
            peer::spawn_outgoing(self.clone(), addr, run.child_token());
        }
    }

    /// An outgoing connection attempt failed before the handshake.
    pub(crate) fn dial_failed(&self, addr: SocketAddr) {
        let mut core = self.core.lock();
        if let Some(k) = core.known.get_mut(&addr) {
            k.connected = false;
            k.failures += 1;
        }
    }

    /// Adds peer addresses learnt from `source`; each new one is counted
    /// under its source. A private torrent's sources are checked by
    /// `SessionCore::peers_found`, the way in for discovery.
    pub(crate) fn add_peers(&self, addrs: impl IntoIterator<Item = SocketAddr>, source: PeerSource) {
        let mut core = self.core.lock();
        let mut added = 0;
        let mut blocked = Vec::new();
        for a in addrs {
            if self.ses.is_own_address(&a) {
                continue;
            }
            if let Some(reason) = self.ses.dial_blocked(&a) {
                blocked.push((a, reason));
                continue;
            }
            core.known
                .entry(a)
                .or_insert_with(|| {
                    added += 1;
                    KnownPeer::new(source)
                })
                .sources |= source.bit();
        }
        drop(core);
        for (a, reason) in blocked {
            self.ses.report_blocked(Some(self), a, reason);
        }
        if added > 0 {
            self.ses.counters.add(source.metric(), added);
            self.wake.notify_one();
        }
    }

    /// Dials a peer now, even one that failed before (unless the IP or
    /// port filter blocks it: then a peer_blocked alert says so).
    pub fn connect_peer(&self, addr: SocketAddr) {
        if let Some(reason) = self.ses.dial_blocked(&addr) {
            self.ses.report_blocked(Some(self), addr, reason);
            return;
        }
        let mut core = self.core.lock();
        let k = core.known.entry(addr).or_insert_with(|| {
            self.ses.counters.add(Metric::PeersFromApi, 1);
            KnownPeer::new(PeerSource::Api)
        });
        k.sources |= PeerSource::Api.bit();
        k.failures = 0;
        k.last_attempt = None;
        drop(core);
        self.wake.notify_one();
    }

    /// Adds a tracker to the torrent.
    pub fn add_tracker(&self, url: &str, tier: u32) {
        let mut core = self.core.lock();
        core.trackers.add(url, tier);
        drop(core);
        self.wake.notify_one();
    }

    /// Asks a tracker for the swarm's seeds and downloaders (a
    /// `scrape_reply` or `scrape_failed` alert follows).
    pub fn scrape_tracker(self: &Arc<Self>) {
        let t = self.clone();
        self.ses.runtime.spawn(async move { tracker::scrape(&t).await });
    }

    /// Announces to trackers now.
    pub fn force_reannounce(&self) {
        let mut core = self.core.lock();
        core.trackers.force();
        drop(core);
        self.wake.notify_one();
    }

    /// Looks the torrent up in the DHT and announces it there now, instead
    /// of at its next turn. `NotSupported` when the DHT is off;
    /// `InvalidArgument` for a private torrent, which never uses the DHT.
    pub fn force_dht_announce(&self) -> Result<(), Error> {
        if self.is_private() {
            return Err(Error::invalid_argument("a private torrent does not use the DHT (BEP 27)"));
        }
        let dht = self.ses.dht.read().clone();
        let dht = dht.ok_or_else(|| Error::new(ErrorKind::NotSupported, "the DHT is off (enable_dht)"))?;
        dht.force_announce(self.info_hash);
        Ok(())
    }

    /// Removes the torrent from its session; its task and peers stop.
    pub(crate) fn shut_down(&self) {
        let mut core = self.core.lock();
        core.listed = false;
        self.drop_buffers(&mut core);
        core.run.cancel();
        drop(core);
        self.removed.cancel();
    }

    /// Connected peers that unchoke us.
    pub(crate) fn peers_unchoking_us(&self) -> usize {
        self.core.lock().peers.values().filter(|p| !p.remote_choked()).count()
    }

    /// A peer became interested: unchoke it at once when a slot is free,
    /// rather than making it wait for the next choke round.
    pub(crate) fn peer_interested(&self, handle: &PeerHandle) {
        let slots = self.ses.settings.read().unchoke_slots_limit as usize;
        let core = self.core.lock();
        let unchoked = core.peers.values().filter(|p| !p.am_choking()).count();
        if handle.am_choking() && (slots == 0 || unchoked < slots) {
            handle.send(PeerCmd::Unchoke);
        }
    }

    /// Tells the peers in `keys` to cancel their request for `block`.
    pub(crate) fn cancel_block(&self, keys: &[PeerKey], block: Block) {
        let core = self.core.lock();
        for k in keys {
            if let Some(p) = core.peers.get(k) {
                p.send(PeerCmd::Cancel(block));
            }
        }
    }
}

/// Seconds since the Unix epoch now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Sets each piece's priority to the highest of the files it overlaps
/// (pad files do not count), so a piece shared by a skipped and a wanted
/// file is still downloaded.
fn apply_file_priorities(picker: &mut PiecePicker, meta: &Metainfo, file_priority: &[u8]) {
    let lengths = meta.lengths;
    let mut piece_prio = vec![0u8; lengths.num_pieces() as usize];
    let plen = lengths.piece_length() as u64;
    for (f, prio) in meta.files.iter().zip(file_priority) {
        if f.pad || f.length == 0 {
            continue;
        }
        let first = (f.offset / plen) as usize;
        let last = ((f.offset + f.length - 1) / plen) as usize;
        for p in piece_prio.iter_mut().take(last + 1).skip(first) {
            *p = (*p).max(*prio);
        }
    }
    for (p, prio) in piece_prio.into_iter().enumerate() {
        picker.set_piece_priority(p as u32, prio);
    }
}

fn check_priority(prio: u8) -> Result<(), Error> {
    if prio > 7 {
        return Err(Error::invalid_argument(format!("priority {prio} is above 7")));
    }
    Ok(())
}

fn check_rate(rate: i64) -> Result<i64, Error> {
    if rate < 0 {
        return Err(Error::invalid_argument(format!("rate {rate} is negative (0: no limit)")));
    }
    Ok(rate)
}

/// A hybrid torrent's second swarm id: its v2 info-hash truncated to 20
/// bytes (a v2-only torrent's info-hash already is that; a v1 one has
/// none).
pub(crate) fn v2_swarm_id(meta: &Metainfo) -> Option<InfoHash> {
    let v2 = meta.info_hash_v2?;
    let mut id = [0u8; 20];
    id.copy_from_slice(&v2[..20]);
    (InfoHash(id) != meta.info_hash).then_some(InfoHash(id))
}
