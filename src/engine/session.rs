//! The session: shared resources (runtime, listen sockets, alert queue,
//! counters, HTTP client) and the torrents that use them. This is the Rust
//! API that the tests drive and the C API wraps.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::alerts::{Alert, AlertKind, AlertQueue, ErrorInfo, NotifyFn};
use super::bandwidth::RateLimit;
use super::discovery::dht::Dht;
use super::discovery::PeerSource;
use super::error::{Error, ErrorKind, Failure, Operation, Result};
use super::ip_filter::{BlockReason, Filters, IpFilter, PortFilter};
use super::peer;
use super::queue::{self, QueueEntry, QueueLimits};
use super::settings::{parse_listen_interfaces, Settings};
use super::stats::{Counters, Metric, RateSampler};
use super::storage::{FsStorage, Storage, StorageFile};
use super::torrent::{v2_swarm_id, Loaded, StartOptions, Torrent, TorrentId, TorrentState, TorrentStatus};
use super::transport::connect;
use super::transport::listen;
use super::transport::stream::PeerSocket;
use super::transport::stream::Transport;
use super::transport::udp::UdpTransport;
use super::transport::utp::{UtpConfig, UtpSocket};
use crate::proto::magnet::Magnet;
use crate::proto::metainfo::Metainfo;
use crate::proto::tracker::AnnounceEvent;
use crate::proto::types::{InfoHash, PeerId};
use crate::proto::wire::Handshake;

/// What a torrent is added from.
#[derive(Clone, Debug)]
pub enum TorrentSource {
    Metainfo(Arc<Metainfo>),
    Magnet(Magnet),
}

/// Everything needed to add a torrent.
#[derive(Clone, Debug)]
pub struct AddTorrentParams {
    pub source: TorrentSource,
    pub save_path: PathBuf,
    /// Start paused.
    pub paused: bool,
    /// Trust that every piece is on disk already: no check, seed at once.
    pub seed_mode: bool,
    /// Download pieces in order.
    pub sequential: bool,
    /// Peers to dial.
    pub peers: Vec<SocketAddr>,
    /// Trackers besides the torrent's own, with their tier.
    pub trackers: Vec<(String, u32)>,
    /// Let the queue start and stop the torrent (`active_downloads`, ...).
    pub auto_managed: bool,
    /// Per file, 0 (skip) to 7; missing entries are 4.
    pub file_priorities: Vec<u8>,
    /// Per-torrent rate limits in bytes per second (0: none).
    pub download_limit: i64,
    pub upload_limit: i64,
    /// Most peer connections (0: the `max_peers_per_torrent` setting).
    pub max_connections: u32,
    /// Fast-resume data from an earlier `save_resume_data`.
    pub resume_data: Option<Vec<u8>>,
}

impl AddTorrentParams {
    pub fn new(source: TorrentSource, save_path: impl Into<PathBuf>) -> AddTorrentParams {
        AddTorrentParams {
            source,
            save_path: save_path.into(),
            paused: false,
            seed_mode: false,
            sequential: false,
            peers: Vec::new(),
            trackers: Vec::new(),
            auto_managed: false,
            file_priorities: Vec::new(),
            download_limit: 0,
            upload_limit: 0,
            max_connections: 0,
            resume_data: None,
        }
    }
}

/// A magnet's `x.pe` peers that are IP addresses with a port; host names
/// are skipped (lt resolves no names for peers).
fn magnet_peers(m: &Magnet) -> Vec<SocketAddr> {
    m.peers
        .iter()
        .filter_map(|p| match p.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                tracing::info!(peer = %p, "magnet x.pe peer is not ip:port; skipped");
                None
            }
        })
        .collect()
}

/// The info dictionary in resume data, parsed, when it is the torrent of
/// `info_hash`.
fn resume_metadata(blob: &[u8], info_hash: &InfoHash) -> Option<Metainfo> {
    let rd = crate::proto::resume::ResumeData::decode(blob).ok()?;
    let meta = Metainfo::from_info_bytes(rd.info.as_deref()?).ok()?;
    (meta.info_hash == *info_hash).then_some(meta)
}

/// The files of `meta` under `save_path`.
pub(crate) fn open_storage(meta: &Metainfo, save_path: PathBuf) -> Arc<dyn Storage> {
    let files: Vec<StorageFile> = meta
        .files
        .iter()
        .map(|f| StorageFile {
            path: f.path.clone(),
            length: f.length,
            pad: f.pad,
            symlink: f.symlink.clone(),
        })
        .collect();
    Arc::new(FsStorage::new(save_path, files, meta.lengths))
}

/// Where to move a torrent in the download queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueMove {
    Up,
    Down,
    Top,
    Bottom,
}

/// What every part of the engine shares.
pub(crate) struct SessionCore {
    pub settings: RwLock<Settings>,
    pub alerts: AlertQueue,
    pub counters: Arc<Counters>,
    pub peer_id: PeerId,
    pub announce_key: u32,
    pub runtime: tokio::runtime::Handle,
    pub shutdown: CancellationToken,
    pub start: Instant,
    pub http: reqwest::Client,
    pub listen_addrs: RwLock<Vec<SocketAddr>>,
    connections: AtomicUsize,
    pub torrents: RwLock<BTreeMap<TorrentId, Arc<Torrent>>>,
    /// The torrents by info-hash (kept with `torrents`, under its lock order).
    by_hash: RwLock<HashMap<InfoHash, TorrentId>>,
    /// Unfinished torrents in download-queue order (index = queue position).
    queue: parking_lot::Mutex<Vec<TorrentId>>,
    /// Woken when the queue should be looked at again.
    requeue: tokio::sync::Notify,
    /// Samples procfs for the process and system figures, and when it last did.
    sys: parking_lot::Mutex<(super::sysinfo::SysSampler, Instant)>,
    /// Woken when the settings change.
    settings_changed: tokio::sync::Notify,
    /// The torrents whose peers and trackers run: the only ones the
    /// once-a-second threshold checks look at.
    running: parking_lot::Mutex<std::collections::HashSet<TorrentId>>,
    /// The whole session is paused.
    paused: AtomicBool,
    /// The session-wide rate limits.
    pub down_limit: RateLimit,
    pub up_limit: RateLimit,
    pub thresholds: parking_lot::Mutex<super::thresholds::Thresholds>,
    /// Woken when bytes waiting for the disk drop below the limit.
    pub disk_ready: tokio::sync::Notify,
    /// The statuses last delivered by `post_torrent_updates`.
    last_update: parking_lot::Mutex<std::collections::HashMap<TorrentId, TorrentStatus>>,
    /// The UDP socket of each listen interface (the DHT and uTP).
    pub udp: RwLock<Vec<Arc<UdpTransport>>>,
    /// The uTP socket on each of `udp`.
    pub utp: RwLock<Vec<Arc<UtpSocket>>>,
    /// The DHT node, when `enable_dht` is on and a UDP socket is open.
    pub dht: RwLock<Option<Arc<Dht>>>,
    /// Local service discovery's schedule and cookie.
    pub(crate) lsd: super::discovery::lsd::LsdShared,
    /// The IP and port filters (see `ip_filter`).
    pub(crate) filters: RwLock<super::ip_filter::Filters>,
}

impl SessionCore {
    /// Takes a connection slot if the session is below `connections_limit`.
    pub fn try_reserve_connection(&self) -> bool {
        let limit = self.settings.read().connections_limit as usize;
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .is_ok()
    }

    pub fn release_connection(&self) {
        let _ = self.connections.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// The port peers can reach us on (the first listen socket's).
    pub fn listen_port(&self) -> Option<u16> {
        self.listen_addrs.read().first().map(|a| a.port())
    }

    /// Whether `addr` is one of our own listen sockets (trackers hand us
    /// back to ourselves).
    pub fn is_own_address(&self, addr: &SocketAddr) -> bool {
        self.listen_addrs.read().iter().any(|l| {
            l.port() == addr.port()
                && (l.ip() == addr.ip() || l.ip().is_unspecified() && addr.ip().is_loopback())
        })
    }

    /// Peers some discovery found for the torrent with info-hash `ih`:
    /// handed to the torrent, unless it is gone or private and the source
    /// is one BEP 27 forbids (then they are counted and dropped).
    pub(crate) fn peers_found(&self, ih: &InfoHash, addrs: &[SocketAddr], source: PeerSource) {
        let Some(t) = self.find_by_hash(ih) else { return };
        if t.is_private() && !source.allowed_for_private() {
            self.counters.add(Metric::PeersRefusedPrivate, addrs.len() as i64);
            return;
        }
        t.add_peers(addrs.iter().copied(), source);
    }

    /// The torrents whose peers and trackers run now.
    pub(crate) fn running_torrents(&self) -> Vec<Arc<Torrent>> {
        let running = self.running.lock().clone();
        let all = self.torrents.read();
        running.iter().filter_map(|id| all.get(id).cloned()).collect()
    }

    /// The UDP port of our DHT node, when one runs (the listen port).
    pub(crate) fn dht_port(&self) -> Option<u16> {
        self.dht.read().as_ref()?;
        self.listen_port()
    }

    /// Our handshake for swarm id `ih`: the extension and fast bits, the
    /// DHT bit when our node runs, the v2 bit (BEP 52) for a v2 or hybrid
    /// torrent.
    pub(crate) fn handshake(&self, ih: InfoHash) -> Handshake {
        let mut h = Handshake::new(ih, self.peer_id);
        if self.dht_port().is_some() {
            h = h.with_dht();
        }
        if self.find_by_hash(&ih).is_some_and(|t| t.is_v2()) {
            h = h.with_v2();
        }
        h
    }

    /// The uTP socket to dial `addr` from: one of its address family.
    pub(crate) fn utp_socket_for(&self, addr: &SocketAddr) -> Option<Arc<UtpSocket>> {
        self.utp.read().iter().find(|u| u.local_addr().is_ipv6() == addr.is_ipv6()).cloned()
    }

    /// The torrent whose info-hash `req2` hides (MSE names the torrent by
    /// HASH('req2', info-hash)). Every swarm id is tried (a hybrid has
    /// two): one SHA-1 each, a few milliseconds for ten thousand torrents,
    /// once per encrypted connection.
    pub(crate) fn find_obfuscated(&self, req2: &[u8; 20]) -> Option<InfoHash> {
        self.by_hash.read().keys().copied().find(|ih| crate::proto::mse::req2_hash(&ih.0) == *req2)
    }

    /// A magnet's hybrid torrent learns its second swarm id with its
    /// metadata: peers may come for it from then on (unless another
    /// torrent already holds that id).
    pub(crate) fn add_swarm_id(&self, ih: InfoHash, id: TorrentId) {
        self.by_hash.write().entry(ih).or_insert(id);
    }

    pub(crate) fn find_by_hash(&self, ih: &InfoHash) -> Option<Arc<Torrent>> {
        let id = *self.by_hash.read().get(ih)?;
        self.torrents.read().get(&id).cloned()
    }

    /// Records whether a torrent's peers and trackers run.
    pub(crate) fn set_running(&self, id: TorrentId, running: bool) {
        let mut r = self.running.lock();
        if running {
            r.insert(id);
            self.lsd.torrent_started(id);
        } else {
            r.remove(&id);
        }
    }

    /// Asks the queue to look at the torrents again soon.
    pub(crate) fn queue_changed(&self) {
        self.requeue.notify_one();
    }

    /// Puts `t` at the bottom of the download queue, or takes it out (it
    /// finished); positions behind it move up.
    pub(crate) fn queue_membership(&self, t: &Torrent, member: bool) {
        let mut q = self.queue.lock();
        match (member, q.iter().position(|id| *id == t.id)) {
            // A torrent removed meanwhile (its check ended late) stays out.
            (true, None) if self.torrents.read().contains_key(&t.id) => {
                q.push(t.id);
                t.core.lock().queue_position = q.len() as i64 - 1;
            }
            (false, Some(i)) => {
                q.remove(i);
                t.core.lock().queue_position = -1;
                self.renumber(&q, i..q.len());
            }
            _ => {}
        }
        drop(q);
        self.queue_changed();
    }

    /// Writes the queue positions of `range` into the torrents.
    fn renumber(&self, q: &[TorrentId], range: std::ops::Range<usize>) {
        let torrents = self.torrents.read();
        for i in range {
            if let Some(t) = q.get(i).and_then(|id| torrents.get(id)) {
                t.core.lock().queue_position = i as i64;
            }
        }
    }

    /// Moves a torrent in the download queue; finished torrents are not in it.
    fn queue_move(&self, id: TorrentId, how: QueueMove) {
        let mut q = self.queue.lock();
        let Some(i) = q.iter().position(|x| *x == id) else { return };
        let last = q.len() - 1;
        let j = match how {
            QueueMove::Up => i.saturating_sub(1),
            QueueMove::Down => (i + 1).min(last),
            QueueMove::Top => 0,
            QueueMove::Bottom => last,
        };
        if i == j {
            return;
        }
        let x = q.remove(i);
        q.insert(j, x);
        self.renumber(&q, i.min(j)..i.max(j) + 1);
        drop(q);
        self.queue_changed();
    }

    /// Applies the queue's plan: stops first, so the limits are never
    /// exceeded, then starts.
    fn run_queue(&self) {
        let s = self.settings.read();
        let limits = QueueLimits {
            active_downloads: s.active_downloads,
            active_seeds: s.active_seeds,
            active_limit: s.active_limit,
        };
        drop(s);
        let torrents: Vec<_> = self.torrents.read().values().cloned().collect();
        let entries: Vec<QueueEntry> = torrents
            .iter()
            .map(|t| {
                let c = t.core.lock();
                QueueEntry {
                    id: t.id,
                    position: c.queue_position,
                    auto_managed: c.auto_managed,
                    held: c.paused || c.error.is_some() || c.session_paused,
                    checking: c.state == TorrentState::CheckingFiles,
                    finished: c.is_finished(),
                }
            })
            .collect();
        let plan = queue::plan(&entries, limits);
        let by_id: HashMap<TorrentId, &Arc<Torrent>> = torrents.iter().map(|t| (t.id, t)).collect();
        for stop in [true, false] {
            for (id, _) in plan.iter().filter(|(_, q)| *q == stop) {
                if by_id[id].set_queued(stop) {
                    self.counters.add(if stop { Metric::QueueStops } else { Metric::QueueStarts }, 1);
                }
            }
        }
    }

    /// Whether received data waiting to be hashed and written exceeds
    /// `max_queued_disk_bytes` (peers then stop requesting).
    pub fn disk_backlogged(&self) -> bool {
        self.counters.get(Metric::DiskQueuedBytes) > self.settings.read().max_queued_disk_bytes
    }

    /// Records that `bytes` left the disk queue; wakes throttled peers
    /// once it is below the limit.
    pub fn disk_done(&self, bytes: i64) {
        self.counters.add(Metric::DiskQueuedBytes, -bytes);
        if !self.disk_backlogged() {
            self.disk_ready.notify_waiters();
        }
    }

    /// Refreshes the gauges that change without an event the engine sees:
    /// the uptime, and the alert queue's length (the application pops).
    /// Every other gauge changes where its state does.
    /// The process and system figures come from procfs, read here at most
    /// once a second, so a session nobody reads does no reads at all.
    pub(crate) fn refresh_live_gauges(&self) {
        self.counters.set(Metric::UptimeMs, self.start.elapsed().as_millis() as i64);
        self.counters.set(Metric::AlertsQueued, self.alerts.len() as i64);
        // A reader that finds another refreshing does not wait for it.
        if let Some(mut sys) = self.sys.try_lock() {
            if sys.1.elapsed() >= Duration::from_secs(1) {
                set_sys_figures(&self.counters, sys.0.sample());
                sys.1 = Instant::now();
            }
        }
    }

    /// Posts a session_stats alert with every counter's value now.
    fn post_stats(&self) {
        self.refresh_live_gauges();
        let counters = self.counters.snapshot();
        self.alerts.post(TorrentId::NONE, "", AlertKind::SessionStats { counters });
    }
}

/// A BitTorrent session. Dropping it shuts it down in an orderly, bounded
/// way: trackers are told `stopped`, peers closed, files flushed.
pub struct Session {
    core: Arc<SessionCore>,
    runtime: Option<tokio::runtime::Runtime>,
    next_id: AtomicU64,
    stats_addr: RwLock<Option<SocketAddr>>,
    /// Removals still telling trackers and deleting files; shutdown waits.
    removals: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Session {
    /// Starts a session: its runtime, listen sockets and background tasks.
    pub fn new(settings: Settings) -> Result<Session> {
        settings.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.network_threads as usize)
            .max_blocking_threads((settings.aio_threads + settings.hashing_threads) as usize + 4)
            .thread_name("lt-net")
            .enable_all()
            .build()
            .map_err(|e| Error::new(ErrorKind::Io, format!("starting the runtime: {e}")))?;
        let counters = Arc::new(Counters::new());
        let (settings_down, settings_up) = (settings.download_rate_limit, settings.upload_rate_limit);
        let start = Instant::now();
        let alerts = AlertQueue::new(
            settings.alert_mask as u32,
            settings.alert_queue_size as usize,
            start,
            counters.clone(),
        );
        let http = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .no_proxy()
            .redirect(reqwest::redirect::Policy::custom(redirect_policy))
            .build()
            .map_err(|e| Error::new(ErrorKind::Io, format!("HTTP client: {e}")))?;
        let core = Arc::new(SessionCore {
            peer_id: PeerId::generate(&settings.peer_fingerprint),
            announce_key: rand::random(),
            settings: RwLock::new(settings),
            alerts,
            counters,
            runtime: runtime.handle().clone(),
            shutdown: CancellationToken::new(),
            start,
            http,
            listen_addrs: RwLock::new(Vec::new()),
            connections: AtomicUsize::new(0),
            torrents: RwLock::new(BTreeMap::new()),
            by_hash: RwLock::new(HashMap::new()),
            queue: parking_lot::Mutex::new(Vec::new()),
            requeue: tokio::sync::Notify::new(),
            settings_changed: tokio::sync::Notify::new(),
            sys: parking_lot::Mutex::new((super::sysinfo::SysSampler::new(), start)),
            running: parking_lot::Mutex::new(std::collections::HashSet::new()),
            paused: AtomicBool::new(false),
            down_limit: RateLimit::new(settings_down),
            up_limit: RateLimit::new(settings_up),
            last_update: parking_lot::Mutex::new(std::collections::HashMap::new()),
            thresholds: parking_lot::Mutex::new(Default::default()),
            disk_ready: tokio::sync::Notify::new(),
            udp: RwLock::new(Vec::new()),
            utp: RwLock::new(Vec::new()),
            dht: RwLock::new(None),
            lsd: super::discovery::lsd::LsdShared::new(),
            filters: RwLock::new(Default::default()),
        });
        set_sys_figures(&core.counters, core.sys.lock().0.sample());
        let session = Session {
            core,
            runtime: Some(runtime),
            next_id: AtomicU64::new(1),
            removals: parking_lot::Mutex::new(Vec::new()),
            stats_addr: RwLock::new(None),
        };
        session.open_listen_sockets();
        session.start_dht();
        session.start_stats_endpoint();
        super::discovery::lsd::start(&session.core);
        let core = session.core.clone();
        session.core.runtime.spawn(session_tick(core));
        let core = session.core.clone();
        session.core.runtime.spawn(periodic_stats(core));
        let core = session.core.clone();
        session.core.runtime.spawn(queue_task(core));
        Ok(session)
    }

    fn open_listen_sockets(&self) {
        let spec = self.core.settings.read().listen_interfaces.clone();
        let addrs = parse_listen_interfaces(&spec).unwrap_or_default();
        let mut ports = Vec::new();
        for addr in addrs {
            let _guard = self.core.runtime.enter();
            let bound = match listen::preferred(addr, &ports) {
                Some(same_port) => listen::bind_tcp(same_port).or_else(|_| listen::bind_tcp(addr)),
                None => listen::bind_tcp(addr),
            };
            match bound {
                Ok(listener) => {
                    let local = listener.local_addr().unwrap_or(addr);
                    ports.push(local.port());
                    self.core.listen_addrs.write().push(local);
                    tracing::info!(addr = %local, "listening for peers");
                    self.core.alerts.post(TorrentId::NONE, "", AlertKind::ListenSucceeded { addr: local });
                    let core = self.core.clone();
                    self.core.runtime.spawn(accept_loop(core, listener));
                    self.open_udp(local);
                }
                Err(e) => {
                    tracing::error!(addr = %addr, error = %e, "cannot listen");
                    let error = ErrorInfo { kind: ErrorKind::Io, message: e.to_string() };
                    self.core.alerts.post(
                        TorrentId::NONE,
                        "",
                        AlertKind::ListenFailed { addr: addr.to_string(), error },
                    );
                }
            }
        }
    }

    /// Binds the UDP socket of a listen interface to the TCP listener's
    /// ip:port and starts its receive loop. Without it the interface has no
    /// DHT: when the DHT is on, a failure is a listen_failed and a
    /// dht_error alert; when it is off, nothing needs the socket yet, so a
    /// failure is only logged.
    fn open_udp(&self, addr: SocketAddr) {
        let bound = {
            let _guard = self.core.runtime.enter();
            UdpTransport::bind(addr, self.core.counters.clone())
        };
        match bound {
            Ok(udp) => {
                tracing::info!(addr = %udp.local_addr(), "udp socket open");
                self.core.udp.write().push(udp.clone());
                self.core.runtime.spawn(udp.clone().run(self.core.shutdown.clone()));
                let utp = {
                    let _guard = self.core.runtime.enter();
                    let s = self.core.settings.read();
                    let utp = UtpSocket::start(
                        udp,
                        self.core.counters.clone(),
                        UtpConfig::from_settings(&s),
                        self.core.shutdown.clone(),
                    );
                    utp.set_accepting(s.enable_incoming_utp);
                    utp
                };
                self.core.utp.write().push(utp.clone());
                self.core.runtime.spawn(utp_accept_loop(self.core.clone(), utp));
            }
            Err(e) => {
                tracing::error!(addr = %addr, error = %e, "cannot open the udp socket");
                let error = ErrorInfo { kind: ErrorKind::Io, message: format!("udp: {e}") };
                if self.core.settings.read().enable_dht {
                    let kind =
                        AlertKind::DhtError { op: super::error::Operation::SockBind, error: error.clone() };
                    self.core.alerts.post(TorrentId::NONE, "", kind);
                    let kind = AlertKind::ListenFailed { addr: addr.to_string(), error };
                    self.core.alerts.post(TorrentId::NONE, "", kind);
                }
            }
        }
    }

    /// Starts the DHT (a node on the first IPv4 and on the first IPv6 UDP
    /// socket) when `enable_dht` is on, from the saved state the settings
    /// carry (taken out of them: it is used once).
    fn start_dht(&self) {
        let saved = self.core.settings.write().dht_state.take();
        if !self.core.settings.read().enable_dht {
            return;
        }
        let udp = self.core.udp.read().clone();
        let dht = {
            let _guard = self.core.runtime.enter();
            Dht::start(&self.core, &udp, saved)
        };
        match dht {
            Some(dht) => *self.core.dht.write() = Some(dht),
            None => {
                let error =
                    ErrorInfo { kind: ErrorKind::Io, message: "no UDP listen socket for the DHT".into() };
                let kind = AlertKind::DhtError { op: super::error::Operation::SockBind, error };
                self.core.alerts.post(TorrentId::NONE, "", kind);
            }
        }
    }

    /// The session's DHT node, when it runs.
    pub fn dht(&self) -> Option<Arc<Dht>> {
        self.core.dht.read().clone()
    }

    /// The session state for `Settings::load_state`: the settings that
    /// differ from the defaults and, when the DHT runs, its node id and
    /// routing table.
    pub fn save_state(&self) -> Vec<u8> {
        let mut s = self.settings();
        s.dht_state = self.dht().map(|d| d.state());
        s.save_state()
    }

    /// Posts a dht_stats alert with the DHT's routing table and lookups
    /// (an empty one when the DHT is off).
    pub fn post_dht_stats(&self) {
        let stats = self.dht().map(|d| d.stats()).unwrap_or_default();
        self.core.alerts.post(TorrentId::NONE, "", AlertKind::DhtStats { stats });
    }

    /// Stops the UDP sockets' protocols: the DHT and uTP let go of their
    /// sockets, and uTP of its connections (they hold each other until
    /// then).
    fn stop_udp(&self) {
        for udp in self.core.udp.read().iter() {
            udp.set_dht_handler(None);
            udp.set_utp_handler(None);
        }
        self.core.dht.write().take();
        for utp in self.core.utp.write().drain(..) {
            utp.close_all();
        }
    }

    fn start_stats_endpoint(&self) {
        let spec = self.core.settings.read().stats_listen.clone();
        let Ok(Some(addr)) = super::settings::parse_stats_listen(&spec) else { return };
        let weak = Arc::downgrade(&self.core);
        match self.core.runtime.block_on(super::export::serve(weak, addr)) {
            Ok((local, _task)) => {
                tracing::info!(addr = %local, "serving statistics over HTTP");
                *self.stats_addr.write() = Some(local);
            }
            Err(e) => {
                tracing::error!(addr = %addr, error = %e, "cannot serve statistics");
                let error = ErrorInfo { kind: ErrorKind::Io, message: format!("stats endpoint: {e}") };
                self.core.alerts.post(TorrentId::NONE, "", AlertKind::ListenFailed { addr: spec, error });
            }
        }
    }

    /// The port of the first listen socket, if one is open.
    pub fn listen_port(&self) -> Option<u16> {
        self.core.listen_port()
    }

    /// Replaces the settings; every one takes effect at once. A change to
    /// one the session reads only at its start (`settings::FIXED_AT_START`)
    /// is refused, and then nothing changes.
    pub fn apply_settings(&self, settings: Settings) -> Result<()> {
        settings.validate()?;
        self.core.settings.read().check_live_change(&settings)?;
        self.core.alerts.set_mask(settings.alert_mask as u32);
        self.core.alerts.set_limit(settings.alert_queue_size as usize);
        self.core.down_limit.set_rate(settings.download_rate_limit);
        self.core.up_limit.set_rate(settings.upload_rate_limit);
        for utp in self.core.utp.read().iter() {
            utp.set_config(UtpConfig::from_settings(&settings));
            utp.set_accepting(settings.enable_incoming_utp);
        }
        *self.core.settings.write() = settings;
        self.core.queue_changed();
        self.core.lsd.settings_changed();
        // One waiter (the stats timer); a permit is kept if it is not waiting.
        self.core.settings_changed.notify_one();
        Ok(())
    }

    pub fn settings(&self) -> Settings {
        self.core.settings.read().clone()
    }

    /// Replaces the session's IP filter: peers it blocks are not dialled
    /// nor accepted, and connected ones it blocks are closed now (see
    /// `ip_filter`).
    pub fn set_ip_filter(&self, filter: IpFilter) {
        let port = self.core.filters().port;
        self.core.set_filters(Filters { ip: Arc::new(filter), port });
    }

    /// The session's IP filter (empty: everything allowed).
    pub fn ip_filter(&self) -> IpFilter {
        (*self.core.filters().ip).clone()
    }

    /// Replaces the session's port filter, which judges the ports of the
    /// peers the session dials (libtorrent's rule); outgoing peers it
    /// blocks are closed now.
    pub fn set_port_filter(&self, filter: PortFilter) {
        let ip = self.core.filters().ip;
        self.core.set_filters(Filters { ip, port: Arc::new(filter) });
    }

    /// The session's port filter.
    pub fn port_filter(&self) -> PortFilter {
        (*self.core.filters().port).clone()
    }

    /// Adds a torrent and starts it (unless paused). The torrent file is
    /// validated here, so a bad one is refused with a clear error. A magnet
    /// link's torrent starts in `downloading_metadata` and fetches its info
    /// dictionary from peers (BEP 9), unless resume data carries it.
    pub fn add_torrent(&self, mut params: AddTorrentParams) -> Result<TorrentId> {
        if self.core.shutdown.is_cancelled() {
            return Err(Error::new(ErrorKind::ShuttingDown, "the session is shutting down"));
        }
        if params.save_path.as_os_str().is_empty() {
            return Err(Error::invalid_argument("save path is empty"));
        }
        let magnet = match &params.source {
            TorrentSource::Metainfo(_) => None,
            TorrentSource::Magnet(m) => Some(m.clone()),
        };
        if let Some(m) = &magnet {
            for (tier, url) in m.trackers.iter().enumerate() {
                params.trackers.push((url.clone(), tier as u32));
            }
            params.peers.extend(magnet_peers(m));
            // Resume data saved after the metadata arrived carries it, as
            // libtorrent's does: then the magnet is as good as the .torrent.
            if let Some(meta) = params.resume_data.as_deref().and_then(|b| resume_metadata(b, &m.info_hash)) {
                params.source = TorrentSource::Metainfo(Arc::new(meta));
            }
        }
        let mut opts = StartOptions {
            paused: params.paused,
            auto_managed: params.auto_managed,
            session_paused: self.core.paused.load(Ordering::Relaxed),
            seed_mode: params.seed_mode,
            sequential: params.sequential,
            peers: params.peers.into_iter().map(|a| (a, PeerSource::Api)).collect(),
            extra_trackers: params.trackers,
            file_priorities: params.file_priorities,
            download_limit: params.download_limit,
            upload_limit: params.upload_limit,
            max_connections: params.max_connections,
            added_time: super::torrent::unix_now(),
            web_seeds: magnet.as_ref().map(|m| m.web_seeds.clone()).unwrap_or_default(),
            ..StartOptions::default()
        };
        let mut check = false;
        let mut rejected = None;
        let (info_hash, loaded) = match params.source {
            TorrentSource::Metainfo(meta) => {
                let storage = open_storage(&meta, params.save_path.clone());
                check = !params.seed_mode && storage.any_file_exists();
                if let Some(blob) = &params.resume_data {
                    rejected = super::resume::apply(blob, &meta, storage.as_ref(), &mut opts)?;
                    check &= rejected.is_some();
                    let m = if rejected.is_some() { Metric::ResumeRechecked } else { Metric::ResumeAccepted };
                    self.core.counters.add(m, 1);
                }
                (meta.info_hash, Some(Loaded::new(meta, storage)))
            }
            TorrentSource::Magnet(m) => (m.info_hash, None),
        };
        let mut torrents = self.core.torrents.write();
        let mut by_hash = self.core.by_hash.write();
        let v2_id = loaded.as_ref().and_then(|l| v2_swarm_id(&l.meta));
        for ih in std::iter::once(info_hash).chain(v2_id) {
            if let Some(existing) = by_hash.get(&ih) {
                return Err(Error::new(
                    ErrorKind::DuplicateTorrent,
                    format!("torrent {ih} is already in the session (id {})", existing.0),
                ));
            }
        }
        let id = TorrentId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let name = magnet.and_then(|m| m.name);
        let t = Torrent::new(id, info_hash, loaded, params.save_path, name, self.core.clone(), &opts);
        torrents.insert(id, t.clone());
        for ih in t.swarm_ids() {
            by_hash.insert(ih, id);
        }
        drop(by_hash);
        drop(torrents);
        // From here it counts in the gauges (see `gauges`).
        let running = {
            let mut c = t.core.lock();
            c.listed = true;
            c.running
        };
        self.core.set_running(id, running);
        tracing::info!(id = id.0, info_hash = %t.info_hash, name = %t.name(), "torrent added");
        self.core.counters.add(Metric::TorrentsAdded, 1);
        if !t.core.lock().is_finished() {
            self.core.queue_membership(&t, true);
        }
        t.post(AlertKind::AddTorrent);
        if let Some(reason) = rejected {
            t.post(AlertKind::FastresumeRejected { reason });
        }
        if opts.paused {
            t.post(AlertKind::TorrentPaused);
        }
        self.core.queue_changed();
        self.core.runtime.spawn(t.clone().run(check));
        Ok(id)
    }

    /// The torrent with this id.
    pub fn torrent(&self, id: TorrentId) -> Result<Arc<Torrent>> {
        self.core.torrents.read().get(&id).cloned().ok_or_else(|| Error::invalid_handle(id.0))
    }

    /// Ids of every torrent, in the order they were added.
    pub fn torrents(&self) -> Vec<TorrentId> {
        self.core.torrents.read().keys().copied().collect()
    }

    /// The torrent's .torrent file: its info dictionary (for a magnet
    /// link, as received from peers) and the trackers it knows.
    /// `NoMetadata` until a magnet's metadata has arrived.
    pub fn torrent_metadata(&self, id: TorrentId) -> Result<Vec<u8>> {
        self.torrent(id)?.torrent_file()
    }

    pub fn torrent_status(&self, id: TorrentId) -> Result<TorrentStatus> {
        Ok(self.torrent(id)?.status())
    }

    pub fn pause_torrent(&self, id: TorrentId) -> Result<()> {
        self.torrent(id)?.pause();
        Ok(())
    }

    pub fn resume_torrent(&self, id: TorrentId) -> Result<()> {
        self.torrent(id)?.resume();
        Ok(())
    }

    /// Pauses every torrent (their own paused flags stay as they are).
    pub fn pause(&self) {
        self.set_paused(true);
    }

    /// Resumes the torrents a session pause stopped.
    pub fn resume(&self) {
        self.set_paused(false);
    }

    pub fn is_paused(&self) -> bool {
        self.core.paused.load(Ordering::Relaxed)
    }

    fn set_paused(&self, paused: bool) {
        if self.core.paused.swap(paused, Ordering::Relaxed) == paused {
            return;
        }
        self.core.counters.set(Metric::SessionPaused, paused as i64);
        let torrents: Vec<_> = self.core.torrents.read().values().cloned().collect();
        for t in torrents {
            t.set_session_paused(paused);
        }
    }

    /// Moves a torrent in the download queue.
    pub fn queue_move(&self, id: TorrentId, how: QueueMove) -> Result<()> {
        self.torrent(id)?;
        self.core.queue_move(id, how);
        Ok(())
    }

    /// Removes a torrent: its peers close, trackers are told `stopped`,
    /// and with `delete_files` its files are removed from disk.
    pub fn remove_torrent(&self, id: TorrentId, delete_files: bool) -> Result<()> {
        let t = self.core.torrents.write().remove(&id).ok_or_else(|| Error::invalid_handle(id.0))?;
        // Every swarm id of this torrent (a hybrid has two) goes.
        self.core.by_hash.write().retain(|_, owner| *owner != id);
        self.core.queue_membership(&t, false);
        t.shut_down();
        self.core.counters.add(Metric::TorrentsRemoved, 1);
        self.core.set_running(id, false);
        let core = self.core.clone();
        let task = self.core.runtime.spawn(async move {
            super::tracker::announce(&t, AnnounceEvent::Stopped).await;
            let storage = t.storage().cloned();
            let result = tokio::task::spawn_blocking(move || {
                // A magnet's torrent without metadata has no files.
                let Some(storage) = storage else { return Ok(()) };
                storage.flush()?;
                if delete_files {
                    storage.delete_files()?;
                }
                Ok::<_, super::storage::StorageError>(())
            })
            .await;
            t.post(AlertKind::TorrentRemoved);
            if delete_files {
                match result {
                    Ok(Ok(())) => t.post(AlertKind::TorrentDeleted),
                    Ok(Err(e)) => t.post(AlertKind::TorrentDeleteFailed {
                        error: ErrorInfo { kind: ErrorKind::Io, message: e.to_string() },
                    }),
                    Err(e) => t.post(AlertKind::TorrentDeleteFailed {
                        error: ErrorInfo { kind: ErrorKind::Io, message: e.to_string() },
                    }),
                }
            }
            drop(core);
        });
        let mut removals = self.removals.lock();
        removals.retain(|t| !t.is_finished());
        removals.push(task);
        Ok(())
    }

    // ---- alerts ----------------------------------------------------------

    pub fn pop_alert(&self) -> Option<Alert> {
        self.core.alerts.pop()
    }

    pub fn wait_for_alert(&self, timeout: Duration) -> Option<Alert> {
        self.core.alerts.wait(timeout)
    }

    /// Installs (or with `None` removes) the callback run when the alert
    /// queue goes from empty to not empty.
    pub fn set_alert_notify(&self, f: Option<NotifyFn>) {
        self.core.alerts.set_notify(f);
    }

    // ---- statistics --------------------------------------------------------

    pub fn counters(&self) -> &Counters {
        &self.core.counters
    }

    /// Posts a `session_stats` alert with a snapshot of every counter.
    pub fn post_session_stats(&self) {
        self.core.post_stats();
    }

    /// Refreshes the gauges that change without an engine event (uptime,
    /// queued alerts); call before reading `counters()`.
    pub fn refresh_live_gauges(&self) {
        self.core.refresh_live_gauges();
    }

    /// The session's statistics as JSON, CSV (one row per torrent) or
    /// Prometheus text; `ExportFormat::Binary` is refused (it is bytes:
    /// `export_stats_binary`).
    pub fn export_stats(&self, format: super::export::ExportFormat) -> Result<String> {
        super::export::export(&self.core, format)
    }

    /// The binary statistics snapshot now (`export::binary`): every metric
    /// as a little-endian `i64` behind a 32-byte header.
    pub fn export_stats_binary(&self) -> Vec<u8> {
        super::export::binary::export_binary(&self.core)
    }

    /// Where the `stats_listen` HTTP endpoint listens, if it is on.
    pub fn stats_listen_addr(&self) -> Option<SocketAddr> {
        *self.stats_addr.read()
    }

    /// Posts a state_update alert with the status of every torrent whose
    /// status changed since the previous call (every torrent, the first
    /// time), as libtorrent's `post_torrent_updates` does.
    pub fn post_torrent_updates(&self) {
        let torrents: Vec<_> = self.core.torrents.read().values().cloned().collect();
        let mut last = self.core.last_update.lock();
        let mut changed = Vec::new();
        let mut seen = std::collections::HashMap::with_capacity(torrents.len());
        for t in torrents {
            let st = t.status();
            if last.get(&t.id) != Some(&st) {
                changed.push(st.clone());
            }
            seen.insert(t.id, st);
        }
        *last = seen;
        drop(last);
        self.core.alerts.post(TorrentId::NONE, "", AlertKind::StateUpdate { statuses: changed });
    }

    /// The last 1,000 threshold crossings and returns to normal, oldest first.
    pub fn threshold_events(&self) -> Vec<super::thresholds::ThresholdEvent> {
        self.core.thresholds.lock().events()
    }

    /// The current value of every counter (uptime refreshed now).
    pub fn stats_snapshot(&self) -> Box<[i64]> {
        self.core.refresh_live_gauges();
        self.core.counters.snapshot()
    }

    /// Orderly shutdown, bounded by `stop_tracker_timeout` for the trackers
    /// and one second for the tasks. Called by `Drop` too.
    pub fn shutdown(&mut self) {
        let Some(runtime) = self.runtime.take() else { return };
        let torrents: Vec<_> = self.core.torrents.write().values().cloned().collect();
        let stop_timeout = Duration::from_secs(self.core.settings.read().stop_tracker_timeout as u64 + 1);
        let removals: Vec<_> = self.removals.lock().drain(..).collect();
        runtime.block_on(async {
            let mut tasks = removals;
            for t in &torrents {
                t.shut_down();
                let t = t.clone();
                tasks.push(tokio::spawn(async move {
                    super::tracker::announce(&t, AnnounceEvent::Stopped).await;
                }));
            }
            let _ = tokio::time::timeout(stop_timeout, async {
                for task in tasks {
                    let _ = task.await;
                }
            })
            .await;
        });
        self.core.shutdown.cancel();
        self.stop_udp();
        for t in &torrents {
            if let Some(Err(e)) = t.storage().map(|s| s.flush()) {
                tracing::warn!(error = %e, "flush at shutdown failed");
            }
        }
        self.core.torrents.write().clear();
        self.core.by_hash.write().clear();
        self.core.queue.lock().clear();
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether `url`'s host is this machine or the local network, by its
/// name or address literal (a name that resolves there is not caught).
fn is_local_target(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            let seg = ip.segments()[0];
            ip.is_loopback() || ip.is_unspecified() || seg & 0xffc0 == 0xfe80 || seg & 0xfe00 == 0xfc00
        }
        Err(_) => host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost"),
    }
}

/// How the HTTP client (trackers, web seeds) follows redirects. The URLs
/// come from torrents and magnet links, which anyone can write, so a
/// redirect may not lead from a public address to this machine or the
/// local network (libtorrent's `ssrf_mitigation` guards the same), nor
/// from https to http; at most 10 hops.
fn redirect_policy(attempt: reqwest::redirect::Attempt) -> reqwest::redirect::Action {
    let Some(first) = attempt.previous().first() else { return attempt.follow() };
    if attempt.previous().len() >= 10 {
        return attempt.error("more than 10 redirects");
    }
    if first.scheme() == "https" && attempt.url().scheme() != "https" {
        return attempt.error("a redirect from https to http");
    }
    if is_local_target(attempt.url()) && !is_local_target(first) {
        return attempt.error("a redirect from a public address to a local one");
    }
    attempt.follow()
}

/// Accepts peers on one TCP listen socket (unless `enable_incoming_tcp`
/// is off) and hands each to `accepted`.
async fn accept_loop(core: Arc<SessionCore>, listener: TcpListener) {
    loop {
        let next = tokio::select! {
            _ = core.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, addr) = match next {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !core.settings.read().enable_incoming_tcp {
            // libtorrent closes such a connection at once, unanswered, and
            // says so in a peer_blocked alert.
            core.report_blocked(None, addr, BlockReason::TcpDisabled);
            continue;
        }
        let _ = stream.set_nodelay(true);
        accepted(&core, PeerSocket::Tcp(stream), Transport::Tcp, addr);
    }
}

/// Accepts peers on one uTP socket, as `accept_loop` on a TCP listener.
async fn utp_accept_loop(core: Arc<SessionCore>, utp: Arc<UtpSocket>) {
    loop {
        let stream = tokio::select! {
            _ = core.shutdown.cancelled() => return,
            s = utp.accept() => match s {
                Some(s) => s,
                None => return,
            },
            refused = utp.next_refused() => {
                // Refused with RESET while enable_incoming_utp is off.
                if let Some(addr) = refused {
                    core.report_blocked(None, addr, BlockReason::UtpDisabled);
                }
                continue;
            }
        };
        let addr = stream.peer_addr();
        accepted(&core, PeerSocket::Boxed(Box::new(stream)), Transport::Utp, addr);
    }
}

/// An accepted connection: counted, checked against the connection limit,
/// and handed to a task that reads its handshake (see
/// `transport::connect::accept`) and runs it. A connection refused or
/// failed before that is counted and reported as a `peer_disconnected`
/// alert naming the operation.
fn accepted(core: &Arc<SessionCore>, socket: PeerSocket, transport: Transport, addr: SocketAddr) {
    if core.accept_blocked(&addr) {
        // Closed unanswered, before anything else is spent on it.
        core.report_blocked(None, addr, BlockReason::IpFilter);
        return;
    }
    core.counters.add(Metric::IncomingConnections, 1);
    core.counters.set(Metric::HasIncomingConnections, 1);
    core.alerts.post(TorrentId::NONE, "", AlertKind::IncomingConnection { peer: addr });
    if !core.try_reserve_connection() {
        let error = Error::new(ErrorKind::LimitReached, "connection limit reached");
        peer::report_failure(core, None, addr, Failure::new(Operation::SockAccept, error));
        return;
    }
    let core = core.clone();
    tokio::spawn(async move {
        match connect::accept(&core, socket, transport).await {
            Ok((t, socket, link, theirs)) => peer::run(t, socket, link, addr, theirs, true).await,
            Err((t, failure)) => {
                core.release_connection();
                core.counters.add(Metric::ErrorIncomingPeers, 1);
                peer::report_failure(&core, t.as_deref(), addr, failure);
            }
        }
    });
}

/// Once a second: session rates, uptime and the threshold checks.
async fn session_tick(core: Arc<SessionCore>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut samplers = [RateSampler::default(); 4];
    let mut watch = Watch::default();
    let pairs = [
        (Metric::RecvBytes, Metric::RecvRate),
        (Metric::SentBytes, Metric::SentRate),
        (Metric::RecvPayloadBytes, Metric::RecvPayloadRate),
        (Metric::SentPayloadBytes, Metric::SentPayloadRate),
    ];
    loop {
        tokio::select! {
            _ = core.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now_ms = core.start.elapsed().as_millis() as u64;
        for (s, (total, rate)) in samplers.iter_mut().zip(pairs) {
            let r = s.sample(core.counters.get(total), now_ms);
            core.counters.set(rate, r);
        }
        core.counters.set(Metric::UptimeMs, now_ms as i64);
        watch.check(&core);
    }
}

/// What the threshold checks remember between seconds.
#[derive(Default)]
struct Watch {
    /// (time, hash failures so far) over the last minute.
    failures: std::collections::VecDeque<(Instant, i64)>,
    /// Seconds in a row each torrent has been below the rate minimum.
    low_secs: std::collections::HashMap<TorrentId, u32>,
}

impl Watch {
    /// Reads the watched figures and posts a performance alert for each
    /// threshold crossed or back to normal.
    fn check(&mut self, core: &SessionCore) {
        use super::thresholds::{Reading, Watched};
        let s = core.settings.read().clone();
        let mut readings = Vec::new();
        let mut reading = |watched, torrent, value: i64, threshold: i64, over| {
            readings.push(Reading { watched, torrent, value, threshold, over })
        };
        if s.perf_alert_queue_percent > 0 {
            let pct = (core.alerts.len() * 100 / s.alert_queue_size.max(1) as usize) as i64;
            reading(
                Watched::AlertQueuePercent,
                TorrentId::NONE,
                pct,
                s.perf_alert_queue_percent,
                pct > s.perf_alert_queue_percent,
            );
        }
        if s.perf_disk_queue_bytes > 0 {
            let q = core.counters.get(Metric::DiskQueuedBytes);
            reading(
                Watched::DiskQueueBytes,
                TorrentId::NONE,
                q,
                s.perf_disk_queue_bytes,
                q > s.perf_disk_queue_bytes,
            );
        }
        let now = Instant::now();
        self.failures.push_back((now, core.counters.get(Metric::NumPieceFailed)));
        while self.failures.front().is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(60)) {
            self.failures.pop_front();
        }
        if s.perf_hash_failures_per_min > 0 {
            let first = self.failures.front().map_or(0, |f| f.1);
            let last = self.failures.back().map_or(0, |f| f.1);
            let n = last - first;
            reading(
                Watched::HashFailuresPerMinute,
                TorrentId::NONE,
                n,
                s.perf_hash_failures_per_min,
                n > s.perf_hash_failures_per_min,
            );
        }
        // Only running torrents have rates and peers to watch, and only
        // when a per-torrent threshold is on: an idle session with many
        // stopped torrents costs nothing here.
        let torrents: Vec<Arc<Torrent>> = if s.perf_download_rate_min > 0 || s.perf_peer_rtt_ms > 0 {
            let running = core.running.lock().clone();
            let all = core.torrents.read();
            running.iter().filter_map(|id| all.get(id).cloned()).collect()
        } else {
            Vec::new()
        };
        self.low_secs.retain(|id, _| torrents.iter().any(|t| t.id == *id));
        for t in &torrents {
            let st = t.status();
            let running = !st.paused && st.error.is_none();
            if s.perf_download_rate_min > 0
                && running
                && st.state == TorrentState::Downloading
                && t.peers_unchoking_us() > 0
            {
                let secs = self.low_secs.entry(t.id).or_insert(0);
                *secs = if st.download_payload_rate < s.perf_download_rate_min { *secs + 1 } else { 0 };
                let over = *secs >= s.perf_download_rate_secs as u32;
                reading(
                    Watched::DownloadRateLow,
                    t.id,
                    st.download_payload_rate,
                    s.perf_download_rate_min,
                    over,
                );
            } else {
                self.low_secs.remove(&t.id);
            }
            if s.perf_peer_rtt_ms > 0 && running && st.num_peers > 0 {
                let ms = st.avg_peer_rtt_us / 1000;
                reading(Watched::PeerRtt, t.id, ms, s.perf_peer_rtt_ms, ms > s.perf_peer_rtt_ms);
            }
        }
        let events = core.thresholds.lock().observe(&readings, core.alerts.now_us());
        for event in events {
            core.counters.add(Metric::PerformanceAlerts, 1);
            let name = torrents
                .iter()
                .find(|t| t.id == event.torrent)
                .map(|t| t.name().to_string())
                .unwrap_or_default();
            core.alerts.post(event.torrent, &name, AlertKind::Performance { event });
        }
    }
}

fn set_sys_figures(c: &Counters, f: super::sysinfo::SysFigures) {
    c.set(Metric::ProcessRssBytes, f.rss_bytes);
    c.set(Metric::ProcessCpuPermille, f.process_cpu_permille);
    c.set(Metric::SystemCpuPermille, f.system_cpu_permille);
    c.set(Metric::CpuCores, f.cpu_cores);
    c.set(Metric::MemoryTotalBytes, f.memory_total_bytes);
    c.set(Metric::MemoryAvailableBytes, f.memory_available_bytes);
}

/// Runs the queue whenever something it weighs changed (a torrent's
/// gauge class, a queue position, the settings); never on a timer.
async fn queue_task(core: Arc<SessionCore>) {
    loop {
        tokio::select! {
            _ = core.shutdown.cancelled() => return,
            _ = core.requeue.notified() => {}
        }
        // The queue starts and stops only auto-managed torrents: without
        // any, there is nothing to plan (adding many torrents stays linear).
        if core.counters.get(Metric::NumAutoManagedTorrents) > 0 {
            core.run_queue();
        }
    }
}

/// Posts a session_stats alert every `stats_interval_ms`; while that is 0
/// it sleeps until the settings change.
async fn periodic_stats(core: Arc<SessionCore>) {
    loop {
        let ms = core.settings.read().stats_interval_ms as u64;
        if ms == 0 {
            tokio::select! {
                _ = core.shutdown.cancelled() => return,
                _ = core.settings_changed.notified() => continue,
            }
        }
        tokio::select! {
            _ = core.shutdown.cancelled() => return,
            _ = core.settings_changed.notified() => continue,
            _ = tokio::time::sleep(Duration::from_millis(ms)) => core.post_stats(),
        }
    }
}

#[cfg(test)]
mod redirect_tests {
    #[test]
    fn local_redirect_targets_are_recognised() {
        for (url, local) in [
            ("http://127.0.0.1:80/a", true),
            ("http://[::1]:6969/announce", true),
            ("http://192.168.1.1/", true),
            ("http://[fd00::1]/", true),
            ("http://localhost:8080/", true),
            ("http://203.0.113.7/", false),
            ("http://[2001:db8::1]/", false),
            ("http://tracker.example.org/announce", false),
        ] {
            assert_eq!(super::is_local_target(&url.parse().unwrap()), local, "{url}");
        }
    }
}
