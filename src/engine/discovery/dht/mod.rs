//! The session's Mainline DHT node (BEP 5) and the announcer that looks up
//! and announces every running public torrent on its own schedule.
//!
//! [`node::Node`] is the logic, fed with the time; [`Dht`] owns it behind
//! a lock, feeds it the datagrams of the listen interface's UDP socket and
//! a 250 ms tick, sends what it asks, and turns its events into peers for
//! torrents (`SessionCore::peers_found`, which applies BEP 27) and alerts.

pub mod lookup;
pub mod node;
pub mod routing;
pub mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use self::lookup::AnnounceArgs;
use self::node::{Config, Event, Node};
use super::PeerSource;
use crate::engine::alerts::{AlertKind, AlertType, DhtLookupStatus, DhtStats, ErrorInfo};
use crate::engine::error::{ErrorKind, Operation};
use crate::engine::session::SessionCore;
use crate::engine::settings::{parse_bootstrap_nodes, DhtState};
use crate::engine::torrent::TorrentId;
use crate::engine::transport::udp::UdpTransport;
use crate::engine::transport::DatagramHandler;
use crate::proto::dht::{node_id, NodeId};
use crate::proto::types::InfoHash;

/// How often the node's timers run (the short query timeout is 1 s).
const TICK: Duration = Duration::from_millis(250);
/// New torrents start their first lookup at most this often, so a session
/// starting with many torrents spreads them out instead of flooding.
const NEW_TORRENT_SPACING: Duration = Duration::from_secs(1);
/// A torrent whose lookup reached no node tries again after this, not
/// after the whole announce interval.
const RETRY_EMPTY: Duration = Duration::from_secs(30);

/// When each torrent next looks up and announces.
#[derive(Default)]
struct Announcer {
    next: HashMap<InfoHash, Instant>,
    /// The earliest time the next newly seen torrent may go.
    next_new_slot: Option<Instant>,
}

/// The DHT node of a session.
pub struct Dht {
    node: Mutex<Node>,
    transport: Arc<UdpTransport>,
    ses: Weak<SessionCore>,
    announcer: Mutex<Announcer>,
}

impl Dht {
    /// Starts a node on `transport`: its id and table from `saved` (a
    /// loaded session state) or fresh, a bootstrap from the saved nodes and
    /// `dht_bootstrap_nodes`, and its timer task.
    pub(crate) fn start(
        ses: &Arc<SessionCore>,
        transport: Arc<UdpTransport>,
        saved: Option<DhtState>,
    ) -> Arc<Dht> {
        let now = Instant::now();
        let saved = saved.unwrap_or_default();
        let ip = transport.local_addr().ip();
        // BEP 42: an id bound to our address when it is a public one; on a
        // local network or an unspecified address no one can check it.
        let id = saved.node_id.unwrap_or_else(|| {
            if node_id::is_local(&ip) {
                NodeId::random()
            } else {
                node_id::generate(&ip)
            }
        });
        let dht = Arc::new(Dht {
            node: Mutex::new(Node::new(id, ses.counters.clone(), now)),
            transport: transport.clone(),
            ses: Arc::downgrade(ses),
            announcer: Mutex::new(Announcer::default()),
        });
        transport.set_dht_handler(Some(dht.clone()));
        tracing::info!(id = %id, addr = %transport.local_addr(), "dht node started");
        let spec = ses.settings.read().dht_bootstrap_nodes.clone();
        let saved_nodes = saved.nodes;
        let d = dht.clone();
        ses.runtime.spawn(async move {
            let addrs = d.resolve(&spec).await;
            let Some(ses) = d.ses.upgrade() else { return };
            let cfg = Config::from_settings(&ses.settings.read());
            d.with_node(|n| n.bootstrap(addrs, saved_nodes, &cfg, Instant::now()));
            let shutdown = ses.shutdown.clone();
            drop(ses);
            d.run(shutdown).await;
        });
        dht
    }

    /// Resolves the bootstrap host names (IPv4 only, as the node is);
    /// a name that does not resolve is reported as a dht_error alert.
    async fn resolve(&self, spec: &str) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for (host, port) in parse_bootstrap_nodes(spec).unwrap_or_default() {
            match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(addrs) => out.extend(addrs.filter(SocketAddr::is_ipv4)),
                Err(e) => {
                    if let Some(ses) = self.ses.upgrade() {
                        let error = ErrorInfo { kind: ErrorKind::Io, message: format!("{host}:{port}: {e}") };
                        ses.alerts.post(
                            TorrentId::NONE,
                            "",
                            AlertKind::DhtError { op: Operation::HostnameLookup, error },
                        );
                    }
                }
            }
        }
        out
    }

    fn config(&self) -> Option<Config> {
        Some(Config::from_settings(&self.ses.upgrade()?.settings.read()))
    }

    /// Runs `f` on the node, then sends what it queued and reports its events.
    fn with_node<R>(&self, f: impl FnOnce(&mut Node) -> R) -> R {
        let (r, (out, events)) = {
            let mut n = self.node.lock();
            let r = f(&mut n);
            (r, n.drain())
        };
        for (to, bytes) in out {
            self.transport.send_to(&bytes, to);
        }
        if !events.is_empty() {
            self.report(events);
        }
        r
    }

    fn report(&self, events: Vec<Event>) {
        let Some(ses) = self.ses.upgrade() else { return };
        for e in events {
            match e {
                Event::PeersFound { info_hash, peers } => {
                    ses.peers_found(&InfoHash(info_hash.0), &peers, PeerSource::Dht)
                }
                Event::LookupDone { info_hash, num_peers, announced_to } => {
                    let ih = InfoHash(info_hash.0);
                    if announced_to == 0 && num_peers == 0 {
                        // Nobody answered: try again soon rather than in 15 minutes.
                        if let Some(at) = self.announcer.lock().next.get_mut(&ih) {
                            *at = (*at).min(Instant::now() + RETRY_EMPTY);
                        }
                    }
                    if let Some(t) = ses.find_by_hash(&ih) {
                        t.post(AlertKind::DhtReply { num_peers: num_peers as u32 });
                    }
                }
                Event::IncomingAnnounce { info_hash, peer } => {
                    if ses.alerts.enabled(AlertType::DhtAnnounce) {
                        let kind = AlertKind::DhtAnnounce {
                            ip: peer.ip(),
                            port: peer.port(),
                            info_hash: InfoHash(info_hash.0),
                        };
                        ses.alerts.post(TorrentId::NONE, "", kind);
                    }
                }
                Event::IncomingGetPeers { info_hash } => {
                    if ses.alerts.enabled(AlertType::DhtGetPeers) {
                        ses.alerts.post(
                            TorrentId::NONE,
                            "",
                            AlertKind::DhtGetPeers { info_hash: InfoHash(info_hash.0) },
                        );
                    }
                }
                Event::Bootstrapped { nodes } => {
                    tracing::info!(nodes, "dht bootstrap done");
                    ses.alerts.post(TorrentId::NONE, "", AlertKind::DhtBootstrap);
                }
            }
        }
    }

    async fn run(self: Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(cfg) = self.config() else { return };
            let now = Instant::now();
            self.with_node(|n| n.tick(&cfg, now));
            self.announce_due(&cfg, now);
        }
    }

    /// Starts the lookups of torrents whose time has come: every running,
    /// public torrent, first soon after it starts (new torrents at most one
    /// a second), then every `dht_announce_interval`.
    fn announce_due(&self, cfg: &Config, now: Instant) {
        let Some(ses) = self.ses.upgrade() else { return };
        // Without a node to ask a lookup ends at once; wait for the bootstrap.
        if self.node.lock().num_nodes() == 0 {
            return;
        }
        let interval = Duration::from_secs(ses.settings.read().dht_announce_interval as u64);
        let port = ses.listen_port().unwrap_or(self.transport.local_addr().port());
        let eligible: Vec<_> =
            ses.running_torrents().into_iter().filter(|t| !t.is_private() && t.core.lock().running).collect();
        let mut due = Vec::new();
        {
            let mut a = self.announcer.lock();
            a.next.retain(|ih, _| eligible.iter().any(|t| t.info_hash == *ih));
            for t in &eligible {
                let at = match a.next.get(&t.info_hash) {
                    Some(at) => *at,
                    None => {
                        let slot = a.next_new_slot.map_or(now, |s| s.max(now));
                        a.next_new_slot = Some(slot + NEW_TORRENT_SPACING);
                        a.next.insert(t.info_hash, slot);
                        slot
                    }
                };
                if at <= now {
                    a.next.insert(t.info_hash, now + interval);
                    // Without metadata the picker is empty, and "has every
                    // piece" would hold vacuously: a magnet is never a seed.
                    let c = t.core.lock();
                    due.push((t.info_hash, c.has_metadata && c.picker.is_seed()));
                }
            }
        }
        for (ih, seed) in due {
            let announce = Some(AnnounceArgs { port, seed });
            self.with_node(|n| n.get_peers(NodeId(ih.0), announce, cfg, now));
        }
    }

    /// Looks up and announces `ih` at the next tick (the torrent's
    /// `force_dht_announce`).
    pub(crate) fn force_announce(&self, ih: InfoHash) {
        self.announcer.lock().next.insert(ih, Instant::now());
    }

    /// Pings a node learnt from a peer's PORT message: if it answers, it
    /// joins the routing table.
    pub fn add_node_hint(&self, addr: SocketAddr) {
        if !addr.is_ipv4() || addr.port() == 0 {
            return;
        }
        let Some(cfg) = self.config() else { return };
        self.with_node(|n| n.ping(addr, &cfg, Instant::now()));
    }

    /// The node id and routing table, for the session state.
    pub(crate) fn state(&self) -> DhtState {
        let n = self.node.lock();
        DhtState { node_id: Some(n.id()), nodes: n.nodes_of_table() }
    }

    /// Our node id.
    pub fn node_id(&self) -> NodeId {
        self.node.lock().id()
    }

    /// The routing table per bucket and the running lookups.
    pub(crate) fn stats(&self) -> DhtStats {
        let n = self.node.lock();
        DhtStats {
            node_id: n.id().0,
            buckets: n.buckets().into_iter().map(|(d, l, r)| (d as u32, l as u32, r as u32)).collect(),
            lookups: n
                .lookups()
                .into_iter()
                .map(|l| DhtLookupStatus {
                    target: l.target.0,
                    kind: l.kind,
                    answered: l.answered as u32,
                    in_flight: l.in_flight as u32,
                })
                .collect(),
        }
    }
}

impl DatagramHandler for Dht {
    fn on_datagram(&self, from: SocketAddr, packet: &[u8]) {
        let Some(cfg) = self.config() else { return };
        self.with_node(|n| n.incoming(from, packet, &cfg, Instant::now()));
    }
}
