//! Alerts: what happened in the engine, queued for the application.
//!
//! The queue is bounded by the `alert_queue_size` setting. When it is full
//! the newest alert is dropped, counted, and its type remembered; the next
//! pop then answers an `alerts_dropped` alert first (libtorrent's scheme).
//! Posting never blocks the engine. The category mask is checked before an
//! alert's message is built.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::RwLock;

use super::error::{ErrorKind, Operation};
use super::stats::{Counters, Metric};
use super::torrent::{TorrentId, TorrentState};
use crate::proto::types::InfoHash;

/// Category bits, libtorrent's `alert_category_t` values.
pub mod category {
    pub const ERROR: u32 = 1 << 0;
    pub const PEER: u32 = 1 << 1;
    pub const PORT_MAPPING: u32 = 1 << 2;
    pub const STORAGE: u32 = 1 << 3;
    pub const TRACKER: u32 = 1 << 4;
    pub const CONNECT: u32 = 1 << 5;
    pub const STATUS: u32 = 1 << 6;
    pub const IP_BLOCK: u32 = 1 << 8;
    pub const PERFORMANCE_WARNING: u32 = 1 << 9;
    pub const DHT: u32 = 1 << 10;
    pub const STATS: u32 = 1 << 11;
    pub const SESSION_LOG: u32 = 1 << 13;
    pub const TORRENT_LOG: u32 = 1 << 14;
    pub const PEER_LOG: u32 = 1 << 15;
    pub const INCOMING_REQUEST: u32 = 1 << 16;
    pub const DHT_LOG: u32 = 1 << 17;
    pub const DHT_OPERATION: u32 = 1 << 18;
    pub const PORT_MAPPING_LOG: u32 = 1 << 19;
    pub const PICKER_LOG: u32 = 1 << 20;
    pub const FILE_PROGRESS: u32 = 1 << 21;
    pub const PIECE_PROGRESS: u32 = 1 << 22;
    pub const UPLOAD: u32 = 1 << 23;
    pub const BLOCK_PROGRESS: u32 = 1 << 24;
    pub const ALL: u32 = 0x7fff_ffff;
    /// libtorrent's default mask: errors only.
    pub const DEFAULT: u32 = ERROR;

    /// Every category bit with its name, in bit order: the table the C
    /// constants `LT_ALERT_CATEGORY_<NAME>` are checked against.
    pub const NAMED: &[(&str, u32)] = &[
        ("error", ERROR),
        ("peer", PEER),
        ("port_mapping", PORT_MAPPING),
        ("storage", STORAGE),
        ("tracker", TRACKER),
        ("connect", CONNECT),
        ("status", STATUS),
        ("ip_block", IP_BLOCK),
        ("performance_warning", PERFORMANCE_WARNING),
        ("dht", DHT),
        ("stats", STATS),
        ("session_log", SESSION_LOG),
        ("torrent_log", TORRENT_LOG),
        ("peer_log", PEER_LOG),
        ("incoming_request", INCOMING_REQUEST),
        ("dht_log", DHT_LOG),
        ("dht_operation", DHT_OPERATION),
        ("port_mapping_log", PORT_MAPPING_LOG),
        ("picker_log", PICKER_LOG),
        ("file_progress", FILE_PROGRESS),
        ("piece_progress", PIECE_PROGRESS),
        ("upload", UPLOAD),
        ("block_progress", BLOCK_PROGRESS),
    ];
}

macro_rules! alert_types {
    ($($variant:ident = $num:literal, $name:literal, $cat:expr;)*) => {
        /// Alert types, numbered as libtorrent's `alert_type` so a libtorrent
        /// user's tables carry over. Append-only.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum AlertType { $($variant = $num,)* }

        impl AlertType {
            /// Every type, in number order.
            pub const ALL: &'static [AlertType] = &[$(AlertType::$variant,)*];

            /// libtorrent's name without the `_alert` suffix, e.g. "torrent_finished".
            pub fn name(self) -> &'static str {
                match self { $(AlertType::$variant => $name,)* }
            }

            /// The category bits of this type (0: always posted).
            pub fn category(self) -> u32 {
                use category::*;
                match self { $(AlertType::$variant => $cat,)* }
            }

            /// Answers to an explicit request (read a piece, save resume
            /// data, move storage, rename a file) are posted whatever the
            /// mask, as libtorrent does: the application is waiting for them.
            pub fn always_posted(self) -> bool {
                matches!(
                    self,
                    AlertType::ReadPiece
                        | AlertType::FileRenamed
                        | AlertType::FileRenameFailed
                        | AlertType::StorageMoved
                        | AlertType::StorageMovedFailed
                        | AlertType::SaveResumeData
                        | AlertType::SaveResumeDataFailed
                )
            }

            /// The type with number `n`, if there is one.
            pub fn from_u32(n: u32) -> Option<AlertType> {
                match n { $($num => Some(AlertType::$variant),)* _ => None }
            }
        }
    };
}

alert_types! {
    TorrentRemoved = 4, "torrent_removed", STATUS;
    ReadPiece = 5, "read_piece", STORAGE;
    FileRenamed = 7, "file_renamed", STORAGE;
    FileRenameFailed = 8, "file_rename_failed", STORAGE;
    Performance = 9, "performance", PERFORMANCE_WARNING;
    StateChanged = 10, "state_changed", STATUS;
    TrackerError = 11, "tracker_error", TRACKER | ERROR;
    TrackerWarning = 12, "tracker_warning", TRACKER | ERROR;
    ScrapeReply = 13, "scrape_reply", TRACKER;
    ScrapeFailed = 14, "scrape_failed", TRACKER | ERROR;
    TrackerReply = 15, "tracker_reply", TRACKER;
    DhtReply = 16, "dht_reply", DHT | TRACKER;
    TrackerAnnounce = 17, "tracker_announce", TRACKER;
    HashFailed = 18, "hash_failed", STATUS;
    PeerBan = 19, "peer_ban", PEER;
    PeerError = 22, "peer_error", PEER;
    PeerConnect = 23, "peer_connect", CONNECT;
    PeerDisconnected = 24, "peer_disconnected", CONNECT;
    TorrentFinished = 26, "torrent_finished", STATUS;
    PieceFinished = 27, "piece_finished", PIECE_PROGRESS;
    StorageMoved = 33, "storage_moved", STORAGE;
    StorageMovedFailed = 34, "storage_moved_failed", STORAGE;
    TorrentDeleted = 35, "torrent_deleted", STORAGE;
    TorrentDeleteFailed = 36, "torrent_delete_failed", STORAGE | ERROR;
    SaveResumeData = 37, "save_resume_data", STORAGE;
    SaveResumeDataFailed = 38, "save_resume_data_failed", STORAGE | ERROR;
    TorrentPaused = 39, "torrent_paused", STATUS;
    TorrentResumed = 40, "torrent_resumed", STATUS;
    TorrentChecked = 41, "torrent_checked", STATUS;
    UrlSeed = 42, "url_seed", PEER | ERROR;
    FileError = 43, "file_error", STATUS | ERROR | STORAGE;
    MetadataFailed = 44, "metadata_failed", ERROR;
    MetadataReceived = 45, "metadata_received", STATUS;
    ListenFailed = 48, "listen_failed", STATUS | ERROR;
    ListenSucceeded = 49, "listen_succeeded", STATUS;
    FastresumeRejected = 53, "fastresume_rejected", STATUS | ERROR;
    PeerBlocked = 54, "peer_blocked", IP_BLOCK;
    DhtAnnounce = 55, "dht_announce", DHT;
    DhtGetPeers = 56, "dht_get_peers", DHT;
    DhtBootstrap = 62, "dht_bootstrap", DHT;
    LsdPeer = 60, "lsd_peer", PEER;
    TorrentError = 64, "torrent_error", ERROR | STATUS;
    IncomingConnection = 66, "incoming_connection", PEER;
    AddTorrent = 67, "add_torrent", STATUS;
    StateUpdate = 68, "state_update", 0;
    SessionStats = 70, "session_stats", 0;
    DhtError = 73, "dht_error", ERROR | DHT;
    DhtStats = 83, "dht_stats", 0;
    LsdError = 82, "lsd_error", ERROR;
    AlertsDropped = 95, "alerts_dropped", 0;
}

/// Why a peer connection ended (the `peer_disconnected` payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    pub message: String,
}

/// An alert's payload, one variant per type.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertKind {
    AddTorrent,
    TorrentRemoved,
    TorrentDeleted,
    TorrentDeleteFailed {
        error: ErrorInfo,
    },
    StateChanged {
        prev: TorrentState,
        state: TorrentState,
    },
    TorrentFinished,
    TorrentPaused,
    TorrentResumed,
    TorrentChecked,
    TorrentError {
        error: ErrorInfo,
    },
    FileError {
        error: ErrorInfo,
    },
    PieceFinished {
        piece: u32,
    },
    HashFailed {
        piece: u32,
    },
    ReadPiece {
        piece: u32,
        data: Vec<u8>,
    },
    ReadPieceFailed {
        piece: u32,
        error: ErrorInfo,
    },
    FileRenamed {
        file: u32,
        new_name: String,
    },
    FileRenameFailed {
        file: u32,
        error: ErrorInfo,
    },
    StorageMoved {
        path: String,
    },
    StorageMovedFailed {
        path: String,
        error: ErrorInfo,
    },
    SaveResumeData {
        data: Vec<u8>,
    },
    SaveResumeDataFailed {
        error: ErrorInfo,
    },
    FastresumeRejected {
        reason: String,
    },
    MetadataReceived,
    MetadataFailed {
        peer: SocketAddr,
        error: ErrorInfo,
    },
    ScrapeFailed {
        url: String,
        error: ErrorInfo,
    },
    PeerConnect {
        peer: SocketAddr,
        incoming: bool,
    },
    PeerDisconnected {
        peer: SocketAddr,
        op: Operation,
        error: ErrorInfo,
    },
    PeerBan {
        peer: SocketAddr,
    },
    /// A peer refused or closed by the IP or port filter.
    PeerBlocked {
        peer: SocketAddr,
        reason: super::ip_filter::BlockReason,
    },
    PeerError {
        peer: SocketAddr,
        op: Operation,
        error: ErrorInfo,
    },
    IncomingConnection {
        peer: SocketAddr,
    },
    LsdPeer {
        peer: SocketAddr,
    },
    LsdError {
        local: IpAddr,
        error: ErrorInfo,
    },
    TrackerAnnounce {
        url: String,
        event: &'static str,
    },
    TrackerReply {
        url: String,
        num_peers: u32,
    },
    TrackerWarning {
        url: String,
        message: String,
    },
    TrackerError {
        url: String,
        error: ErrorInfo,
        times_in_row: u32,
    },
    UrlSeed {
        url: String,
        error: ErrorInfo,
    },
    ScrapeReply {
        url: String,
        complete: u32,
        incomplete: u32,
        downloaded: u32,
    },
    ListenSucceeded {
        addr: SocketAddr,
    },
    ListenFailed {
        addr: String,
        error: ErrorInfo,
    },
    SessionStats {
        counters: Box<[i64]>,
    },
    StateUpdate {
        statuses: Vec<super::torrent::TorrentStatus>,
    },
    Performance {
        event: super::thresholds::ThresholdEvent,
    },
    AlertsDropped {
        count: u64,
        types: u128,
    },
    DhtReply {
        num_peers: u32,
    },
    DhtAnnounce {
        ip: IpAddr,
        port: u16,
        info_hash: InfoHash,
    },
    DhtGetPeers {
        info_hash: InfoHash,
    },
    DhtBootstrap,
    DhtError {
        op: Operation,
        error: ErrorInfo,
    },
    DhtStats {
        stats: DhtStats,
    },
}

/// The routing table and lookups of the session's DHT node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhtStats {
    /// Our node id.
    pub node_id: [u8; 20],
    /// Per bucket holding nodes: (bucket depth = bits shared with our id,
    /// live nodes, replacement nodes).
    pub buckets: Vec<(u32, u32, u32)>,
    /// Per running lookup: (target, kind, nodes that answered, queries in flight).
    pub lookups: Vec<DhtLookupStatus>,
}

/// One running DHT lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhtLookupStatus {
    pub target: [u8; 20],
    /// "bootstrap", "refresh", "get_peers" or "announce".
    pub kind: &'static str,
    pub answered: u32,
    pub in_flight: u32,
}

impl AlertKind {
    pub fn alert_type(&self) -> AlertType {
        use AlertKind as K;
        use AlertType as T;
        match self {
            K::AddTorrent => T::AddTorrent,
            K::TorrentRemoved => T::TorrentRemoved,
            K::TorrentDeleted => T::TorrentDeleted,
            K::TorrentDeleteFailed { .. } => T::TorrentDeleteFailed,
            K::StateChanged { .. } => T::StateChanged,
            K::TorrentFinished => T::TorrentFinished,
            K::TorrentPaused => T::TorrentPaused,
            K::TorrentResumed => T::TorrentResumed,
            K::TorrentChecked => T::TorrentChecked,
            K::TorrentError { .. } => T::TorrentError,
            K::FileError { .. } => T::FileError,
            K::PieceFinished { .. } => T::PieceFinished,
            K::HashFailed { .. } => T::HashFailed,
            K::ReadPiece { .. } | K::ReadPieceFailed { .. } => T::ReadPiece,
            K::FileRenamed { .. } => T::FileRenamed,
            K::FileRenameFailed { .. } => T::FileRenameFailed,
            K::StorageMoved { .. } => T::StorageMoved,
            K::StorageMovedFailed { .. } => T::StorageMovedFailed,
            K::SaveResumeData { .. } => T::SaveResumeData,
            K::SaveResumeDataFailed { .. } => T::SaveResumeDataFailed,
            K::FastresumeRejected { .. } => T::FastresumeRejected,
            K::MetadataReceived => T::MetadataReceived,
            K::MetadataFailed { .. } => T::MetadataFailed,
            K::ScrapeFailed { .. } => T::ScrapeFailed,
            K::PeerConnect { .. } => T::PeerConnect,
            K::PeerDisconnected { .. } => T::PeerDisconnected,
            K::PeerBan { .. } => T::PeerBan,
            K::PeerBlocked { .. } => T::PeerBlocked,
            K::PeerError { .. } => T::PeerError,
            K::IncomingConnection { .. } => T::IncomingConnection,
            K::LsdPeer { .. } => T::LsdPeer,
            K::LsdError { .. } => T::LsdError,
            K::TrackerAnnounce { .. } => T::TrackerAnnounce,
            K::TrackerReply { .. } => T::TrackerReply,
            K::TrackerWarning { .. } => T::TrackerWarning,
            K::TrackerError { .. } => T::TrackerError,
            K::UrlSeed { .. } => T::UrlSeed,
            K::ScrapeReply { .. } => T::ScrapeReply,
            K::ListenSucceeded { .. } => T::ListenSucceeded,
            K::ListenFailed { .. } => T::ListenFailed,
            K::SessionStats { .. } => T::SessionStats,
            K::StateUpdate { .. } => T::StateUpdate,
            K::Performance { .. } => T::Performance,
            K::AlertsDropped { .. } => T::AlertsDropped,
            K::DhtReply { .. } => T::DhtReply,
            K::DhtAnnounce { .. } => T::DhtAnnounce,
            K::DhtGetPeers { .. } => T::DhtGetPeers,
            K::DhtBootstrap => T::DhtBootstrap,
            K::DhtError { .. } => T::DhtError,
            K::DhtStats { .. } => T::DhtStats,
        }
    }

    /// The human-readable message, with the torrent's name where there is one.
    fn describe(&self, name: &str) -> String {
        use AlertKind as K;
        match self {
            K::AddTorrent => format!("{name}: added"),
            K::TorrentRemoved => format!("{name}: removed"),
            K::TorrentDeleted => format!("{name}: files deleted"),
            K::TorrentDeleteFailed { error } => format!("{name}: deleting files failed: {}", error.message),
            K::StateChanged { prev, state } => {
                format!("{name}: state changed from {} to {}", prev.name(), state.name())
            }
            K::TorrentFinished => format!("{name}: finished downloading"),
            K::TorrentPaused => format!("{name}: paused"),
            K::TorrentResumed => format!("{name}: resumed"),
            K::TorrentChecked => format!("{name}: files checked"),
            K::TorrentError { error } => format!("{name}: error: {}", error.message),
            K::FileError { error } => format!("{name}: file error: {}", error.message),
            K::PieceFinished { piece } => format!("{name}: piece {piece} finished"),
            K::HashFailed { piece } => format!("{name}: hash check failed for piece {piece}"),
            K::ReadPiece { piece, data } => format!("{name}: read piece {piece} ({} bytes)", data.len()),
            K::ReadPieceFailed { piece, error } => {
                format!("{name}: reading piece {piece} failed: {}", error.message)
            }
            K::FileRenamed { file, new_name } => format!("{name}: file {file} renamed to {new_name}"),
            K::FileRenameFailed { file, error } => {
                format!("{name}: renaming file {file} failed: {}", error.message)
            }
            K::StorageMoved { path } => format!("{name}: storage moved to {path}"),
            K::StorageMovedFailed { path, error } => {
                format!("{name}: moving storage to {path} failed: {}", error.message)
            }
            K::SaveResumeData { data } => format!("{name}: resume data saved ({} bytes)", data.len()),
            K::SaveResumeDataFailed { error } => {
                format!("{name}: saving resume data failed: {}", error.message)
            }
            K::FastresumeRejected { reason } => {
                format!("{name}: resume data not trusted, checking files: {reason}")
            }
            K::MetadataReceived => format!("{name}: metadata received"),
            K::MetadataFailed { peer, error } => {
                format!("{name}: metadata from {peer} refused: {}", error.message)
            }
            K::ScrapeFailed { url, error } => format!("{name}: scrape of {url} failed: {}", error.message),
            K::PeerConnect { peer, incoming } => {
                let dir = if *incoming { "incoming" } else { "outgoing" };
                format!("{name}: peer {peer} connected ({dir})")
            }
            K::PeerDisconnected { peer, op, error } => {
                let who = if name.is_empty() { String::new() } else { format!("{name}: ") };
                format!("{who}peer {peer} disconnected ({}): {}", op.name(), error.message)
            }
            K::PeerBan { peer } => format!("{name}: peer {peer} banned"),
            K::PeerBlocked { peer, reason } => {
                let who = if name.is_empty() { String::new() } else { format!("{name}: ") };
                format!("{who}peer {peer} blocked by the {}", reason.describe())
            }
            K::PeerError { peer, op, error } => {
                format!("{name}: peer {peer} error ({}): {}", op.name(), error.message)
            }
            K::IncomingConnection { peer } => format!("incoming connection from {peer}"),
            K::LsdPeer { peer } => format!("{name}: local service discovery found peer {peer}"),
            K::LsdError { local, error } => {
                format!("local service discovery on {local} failed: {}", error.message)
            }
            K::TrackerAnnounce { url, event } => format!("{name}: announcing to {url} (event {event})"),
            K::TrackerReply { url, num_peers } => format!("{name}: {url} replied with {num_peers} peers"),
            K::TrackerWarning { url, message } => format!("{name}: warning from {url}: {message}"),
            K::TrackerError { url, error, times_in_row } => {
                format!("{name}: {url} failed ({times_in_row} in a row): {}", error.message)
            }
            K::UrlSeed { url, error } => format!("{name}: web seed {url}: {}", error.message),
            K::ScrapeReply { url, complete, incomplete, downloaded } => format!(
                "{name}: scrape of {url}: {complete} seeds, {incomplete} downloaders, {downloaded} completed downloads"
            ),
            K::ListenSucceeded { addr } => format!("listening on {addr}"),
            K::ListenFailed { addr, error } => format!("listening on {addr} failed: {}", error.message),
            K::SessionStats { counters } => format!("session stats ({} values)", counters.len()),
            K::StateUpdate { statuses } => format!("{} torrents changed", statuses.len()),
            K::Performance { event } => {
                use super::thresholds::Severity;
                let what = event.watched.name();
                match event.severity {
                    Severity::Cleared => format!("{name}: {what} back to normal"),
                    s => format!(
                        "{name}: {what} is {} (threshold {}): {}",
                        event.value,
                        event.threshold,
                        if s == Severity::Critical { "critical" } else { "warning" }
                    ),
                }
            }
            K::AlertsDropped { count, .. } => {
                format!("{count} alerts dropped: the queue was full (raise alert_queue_size or pop faster)")
            }
            K::DhtReply { num_peers } => format!("{name}: DHT lookup found {num_peers} peers"),
            K::DhtAnnounce { ip, port, info_hash } => {
                format!("incoming DHT announce of {info_hash} from {}", std::net::SocketAddr::new(*ip, *port))
            }
            K::DhtGetPeers { info_hash } => format!("incoming DHT get_peers of {info_hash}"),
            K::DhtBootstrap => "DHT bootstrap done".to_string(),
            K::DhtError { op, error } => format!("DHT error ({}): {}", op.name(), error.message),
            K::DhtStats { stats } => format!(
                "DHT stats: {} nodes in {} buckets, {} lookups",
                stats.buckets.iter().map(|b| b.1).sum::<u32>(),
                stats.buckets.len(),
                stats.lookups.len()
            ),
        }
    }
}

/// One alert as the application receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub kind: AlertKind,
    /// The torrent it concerns; `TorrentId::NONE` for session alerts.
    pub torrent: TorrentId,
    /// Microseconds since the session started.
    pub timestamp_us: i64,
    pub message: String,
}

impl Alert {
    pub fn alert_type(&self) -> AlertType {
        self.kind.alert_type()
    }

    pub fn category(&self) -> u32 {
        self.alert_type().category()
    }
}

/// A callback run (on an engine thread) when the queue goes from empty to
/// not empty. It must not block.
pub type NotifyFn = Box<dyn Fn() + Send + Sync>;

/// The session's alert queue, shared by every part of the engine.
pub struct AlertQueue {
    tx: Sender<Alert>,
    rx: Receiver<Alert>,
    mask: AtomicU32,
    limit: AtomicUsize,
    dropped_count: AtomicU64,
    dropped_types: [AtomicU64; 2],
    notify: RwLock<Option<NotifyFn>>,
    start: Instant,
    counters: Arc<Counters>,
}

impl AlertQueue {
    pub fn new(mask: u32, limit: usize, start: Instant, counters: Arc<Counters>) -> AlertQueue {
        let (tx, rx) = crossbeam_channel::unbounded();
        AlertQueue {
            tx,
            rx,
            mask: AtomicU32::new(mask),
            limit: AtomicUsize::new(limit.max(1)),
            dropped_count: AtomicU64::new(0),
            dropped_types: [AtomicU64::new(0), AtomicU64::new(0)],
            notify: RwLock::new(None),
            start,
            counters,
        }
    }

    pub fn set_mask(&self, mask: u32) {
        self.mask.store(mask, Ordering::Relaxed);
    }

    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit.max(1), Ordering::Relaxed);
    }

    pub fn set_notify(&self, f: Option<NotifyFn>) {
        *self.notify.write() = f;
    }

    /// Whether an alert of this type would be queued (its category is in
    /// the mask, or it has none).
    pub fn enabled(&self, t: AlertType) -> bool {
        let cat = t.category();
        cat == 0 || t.always_posted() || cat & self.mask.load(Ordering::Relaxed) != 0
    }

    /// Number of alerts waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    pub fn now_us(&self) -> i64 {
        self.start.elapsed().as_micros() as i64
    }

    /// Queues an alert if its category is enabled. `name` is the torrent's
    /// name for the message ("" for session alerts).
    pub fn post(&self, torrent: TorrentId, name: &str, kind: AlertKind) {
        let t = kind.alert_type();
        if !self.enabled(t) {
            return;
        }
        let was_empty = self.rx.is_empty();
        if self.rx.len() >= self.limit.load(Ordering::Relaxed) {
            self.dropped_count.fetch_add(1, Ordering::Relaxed);
            let bit = (t as u32).min(127);
            self.dropped_types[(bit / 64) as usize].fetch_or(1 << (bit % 64), Ordering::Relaxed);
            self.counters.add(Metric::AlertsDropped, 1);
            return;
        }
        let message = kind.describe(if name.is_empty() { "session" } else { name });
        let alert = Alert { kind, torrent, timestamp_us: self.now_us(), message };
        // The receiver lives in self, so the channel cannot be disconnected.
        let _ = self.tx.send(alert);
        self.counters.add(Metric::AlertsPosted, 1);
        if was_empty {
            if let Some(f) = self.notify.read().as_ref() {
                f();
            }
        }
    }

    fn take_dropped(&self) -> Option<Alert> {
        let count = self.dropped_count.swap(0, Ordering::Relaxed);
        if count == 0 {
            return None;
        }
        let lo = self.dropped_types[0].swap(0, Ordering::Relaxed) as u128;
        let hi = self.dropped_types[1].swap(0, Ordering::Relaxed) as u128;
        let kind = AlertKind::AlertsDropped { count, types: lo | (hi << 64) };
        let message = kind.describe("session");
        Some(Alert { kind, torrent: TorrentId::NONE, timestamp_us: self.now_us(), message })
    }

    /// The next alert, without waiting. An `alerts_dropped` alert comes first
    /// when alerts were lost since the last pop.
    pub fn pop(&self) -> Option<Alert> {
        self.take_dropped().or_else(|| self.rx.try_recv().ok())
    }

    /// The next alert, waiting up to `timeout` for one.
    pub fn wait(&self, timeout: Duration) -> Option<Alert> {
        if let Some(a) = self.take_dropped() {
            return Some(a);
        }
        self.rx.recv_timeout(timeout).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(limit: usize) -> AlertQueue {
        AlertQueue::new(category::ALL, limit, Instant::now(), Arc::new(Counters::new()))
    }

    #[test]
    fn mask_filters_before_queueing() {
        let q = queue(10);
        q.set_mask(category::ERROR);
        q.post(TorrentId(1), "t", AlertKind::PieceFinished { piece: 1 });
        assert!(q.pop().is_none());
        q.post(TorrentId(1), "t", AlertKind::SessionStats { counters: Box::new([]) });
        assert_eq!(q.pop().map(|a| a.alert_type()), Some(AlertType::SessionStats));
    }

    #[test]
    fn overflow_is_counted_and_reported_first() {
        let q = queue(2);
        for piece in 0..5 {
            q.post(TorrentId(1), "t", AlertKind::PieceFinished { piece });
        }
        assert_eq!(q.counters.get(Metric::AlertsDropped), 3);
        let first = q.pop().unwrap();
        match first.kind {
            AlertKind::AlertsDropped { count, types } => {
                assert_eq!(count, 3);
                assert_ne!(types & (1u128 << AlertType::PieceFinished as u32), 0);
            }
            other => panic!("expected alerts_dropped, got {other:?}"),
        }
        assert_eq!(q.pop().unwrap().kind, AlertKind::PieceFinished { piece: 0 });
        assert_eq!(q.pop().unwrap().kind, AlertKind::PieceFinished { piece: 1 });
        assert!(q.pop().is_none());
    }

    #[test]
    fn notify_fires_on_empty_to_non_empty() {
        use std::sync::atomic::AtomicUsize;
        let q = queue(10);
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        q.set_notify(Some(Box::new(move || {
            h.fetch_add(1, Ordering::SeqCst);
        })));
        q.post(TorrentId(1), "t", AlertKind::TorrentPaused);
        q.post(TorrentId(1), "t", AlertKind::TorrentResumed);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        q.pop();
        q.pop();
        q.post(TorrentId(1), "t", AlertKind::TorrentPaused);
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(AlertType::TorrentFinished as u32, 26);
        assert_eq!(AlertType::TorrentFinished.name(), "torrent_finished");
        assert_eq!(AlertType::from_u32(70), Some(AlertType::SessionStats));
        assert_eq!(AlertType::from_u32(71), None);
    }
}
