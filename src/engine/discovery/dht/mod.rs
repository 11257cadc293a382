//! The session's Mainline DHT node (BEP 5) and the announcer that looks up
//! and announces every running public torrent on its own schedule.
//!
//! [`node::Node`] is the logic, fed with the time; [`Dht`] owns one per
//! address family (IPv4, and IPv6 per BEP 32 when the session listens on
//! IPv6) behind a lock, feeds each the datagrams of its listen interface's
//! UDP socket and a 250 ms tick, sends what it asks, and turns its events
//! into peers for torrents (`SessionCore::peers_found`, which applies BEP
//! 27) and alerts. Both nodes share the node id, the announce schedule and
//! the session's DHT counters.

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

/// One node and the socket it runs on.
struct Instance {
    node: Mutex<Node>,
    transport: Arc<UdpTransport>,
}

/// The DHT of a session: an IPv4 node, an IPv6 node, or both.
pub struct Dht {
    instances: Vec<Instance>,
    ses: Weak<SessionCore>,
    announcer: Mutex<Announcer>,
}

/// Routes one socket's DHT datagrams to its node.
struct Handler {
    dht: Weak<Dht>,
    index: usize,
}

impl DatagramHandler for Handler {
    fn on_datagram(&self, from: SocketAddr, packet: &[u8]) {
        let Some(dht) = self.dht.upgrade() else { return };
        let Some(cfg) = dht.config() else { return };
        dht.with_node(self.index, |n| n.incoming(from, packet, &cfg, Instant::now()));
    }
}

impl Dht {
    /// Starts a node on the first IPv4 and on the first IPv6 socket of
    /// `transports` (`None` when there is neither): the id and tables from
    /// `saved` (a loaded session state) or fresh, a bootstrap from the saved
    /// nodes and `dht_bootstrap_nodes` of each node's family, and the timer
    /// task.
    pub(crate) fn start(
        ses: &Arc<SessionCore>,
        transports: &[Arc<UdpTransport>],
        saved: Option<DhtState>,
    ) -> Option<Arc<Dht>> {
        let now = Instant::now();
        let saved = saved.unwrap_or_default();
        let chosen: Vec<Arc<UdpTransport>> = [false, true]
            .iter()
            .filter_map(|v6| transports.iter().find(|t| t.local_addr().is_ipv6() == *v6).cloned())
            .collect();
        let ip = chosen.first()?.local_addr().ip();
        // BEP 42: an id bound to our address when it is a public one; on a
        // local network or an unspecified address no one can check it.
        let id = saved.node_id.unwrap_or_else(|| {
            if node_id::is_local(&ip) {
                NodeId::random()
            } else {
                node_id::generate(&ip)
            }
        });
        let instances = chosen
            .iter()
            .map(|t| Instance {
                node: Mutex::new(Node::for_family(t.local_addr().is_ipv6(), id, ses.counters.clone(), now)),
                transport: t.clone(),
            })
            .collect();
        let dht = Arc::new(Dht {
            instances,
            ses: Arc::downgrade(ses),
            announcer: Mutex::new(Announcer::default()),
        });
        for (index, inst) in dht.instances.iter().enumerate() {
            inst.transport.set_dht_handler(Some(Arc::new(Handler { dht: Arc::downgrade(&dht), index })));
            tracing::info!(id = %id, addr = %inst.transport.local_addr(), "dht node started");
        }
        let spec = ses.settings.read().dht_bootstrap_nodes.clone();
        let saved_nodes = saved.nodes;
        let d = dht.clone();
        ses.runtime.spawn(async move {
            let addrs = d.resolve(&spec).await;
            let Some(ses) = d.ses.upgrade() else { return };
            let cfg = Config::from_settings(&ses.settings.read());
            for (i, inst) in d.instances.iter().enumerate() {
                let v6 = inst.transport.local_addr().is_ipv6();
                let boot = addrs.iter().filter(|a| a.is_ipv6() == v6).copied().collect();
                let saved = saved_nodes.iter().filter(|n| n.addr.is_ipv6() == v6).copied().collect();
                d.with_node(i, |n| n.bootstrap(boot, saved, &cfg, Instant::now()));
            }
            let shutdown = ses.shutdown.clone();
            drop(ses);
            d.run(shutdown).await;
        });
        Some(dht)
    }

    /// Resolves the bootstrap host names (both families: each node takes
    /// its own); a name that does not resolve is reported as a dht_error
    /// alert.
    async fn resolve(&self, spec: &str) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for (host, port) in parse_bootstrap_nodes(spec).unwrap_or_default() {
            match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(addrs) => out.extend(addrs),
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

    /// Runs `f` on node `index`, then sends what it queued and reports
    /// its events.
    fn with_node<R>(&self, index: usize, f: impl FnOnce(&mut Node) -> R) -> R {
        let inst = &self.instances[index];
        let (r, (out, events)) = {
            let mut n = inst.node.lock();
            let r = f(&mut n);
            (r, n.drain())
        };
        for (to, bytes) in out {
            inst.transport.send_to(&bytes, to);
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
            for i in 0..self.instances.len() {
                self.with_node(i, |n| n.tick(&cfg, now));
            }
            self.announce_due(&cfg, now);
        }
    }

    /// Starts the lookups of torrents whose time has come: every running,
    /// public torrent, first soon after it starts (new torrents at most one
    /// a second), then every `dht_announce_interval`.
    fn announce_due(&self, cfg: &Config, now: Instant) {
        let Some(ses) = self.ses.upgrade() else { return };
        // Without a node to ask a lookup ends at once; wait for the bootstrap.
        let ready: Vec<usize> =
            (0..self.instances.len()).filter(|i| self.instances[*i].node.lock().num_nodes() > 0).collect();
        if ready.is_empty() {
            return;
        }
        let interval = Duration::from_secs(ses.settings.read().dht_announce_interval as u64);
        let port = ses.listen_port().unwrap_or(self.instances[0].transport.local_addr().port());
        let eligible: Vec<_> =
            ses.running_torrents().into_iter().filter(|t| !t.is_private() && t.core.lock().running).collect();
        let mut due = Vec::new();
        {
            let mut a = self.announcer.lock();
            // A hybrid torrent is announced under both its ids, as
            // libtorrent does: v1 and v2 peers look it up by different ones.
            let ids: Vec<_> =
                eligible.iter().flat_map(|t| t.swarm_ids().into_iter().map(move |ih| (ih, t))).collect();
            a.next.retain(|ih, _| ids.iter().any(|(id, _)| id == ih));
            for (ih, t) in ids {
                let at = match a.next.get(&ih) {
                    Some(at) => *at,
                    None => {
                        let slot = a.next_new_slot.map_or(now, |s| s.max(now));
                        a.next_new_slot = Some(slot + NEW_TORRENT_SPACING);
                        a.next.insert(ih, slot);
                        slot
                    }
                };
                if at <= now {
                    a.next.insert(ih, now + interval);
                    // Without metadata the picker is empty, and "has every
                    // piece" would hold vacuously: a magnet is never a seed.
                    let c = t.core.lock();
                    due.push((ih, c.has_metadata && c.picker.is_seed()));
                }
            }
        }
        for (ih, seed) in due {
            let announce = Some(AnnounceArgs { port, seed });
            for &i in &ready {
                self.with_node(i, |n| n.get_peers(NodeId(ih.0), announce, cfg, now));
            }
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
        if addr.port() == 0 {
            return;
        }
        let Some(i) =
            self.instances.iter().position(|x| x.transport.local_addr().is_ipv6() == addr.is_ipv6())
        else {
            return;
        };
        let Some(cfg) = self.config() else { return };
        self.with_node(i, |n| n.ping(addr, &cfg, Instant::now()));
    }

    /// The node id and the routing tables of both families, for the
    /// session state.
    pub(crate) fn state(&self) -> DhtState {
        let nodes = self.instances.iter().flat_map(|x| x.node.lock().nodes_of_table()).collect();
        DhtState { node_id: Some(self.node_id()), nodes }
    }

    /// Our node id (the same on both families).
    pub fn node_id(&self) -> NodeId {
        self.instances[0].node.lock().id()
    }

    /// The routing table per bucket and the running lookups of the first
    /// node (IPv4 when the session listens on IPv4).
    pub(crate) fn stats(&self) -> DhtStats {
        let n = self.instances[0].node.lock();
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
