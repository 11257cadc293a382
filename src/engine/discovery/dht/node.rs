//! The DHT node's logic, without sockets or timers: it takes datagrams,
//! ticks and requests with the time as a parameter, and leaves the
//! datagrams to send and the events to report in its outbox.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::lookup::{AnnounceArgs, Lookup, LookupKind};
use super::routing::{Admission, RoutingTable, K};
use super::store::{PeerStore, RateLimiter, Tokens, Verdict};
use crate::engine::settings::Settings;
use crate::engine::stats::{Counters, Metric};
use crate::proto::dht::krpc::{self, error_code, Body, Message, Query, Response};
use crate::proto::dht::{node_id, NodeEntry, NodeId};

/// After this a query in flight no longer holds back its lookup: another
/// goes out in its place (libtorrent's short timeout).
pub const SHORT_TIMEOUT: Duration = Duration::from_secs(1);
/// After this an unanswered query has failed (libtorrent's timeout).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the node does its maintenance: a liveness ping, a bucket
/// refresh, a new bootstrap when the table is empty.
const MAINTENANCE: Duration = Duration::from_secs(5);
/// How long an empty table waits before bootstrapping again.
const REBOOTSTRAP: Duration = Duration::from_secs(30);
/// How often a shallow table looks up our own id again (libtorrent's
/// self-refresh, every 10 minutes while its depth is under 4).
const SELF_REFRESH: Duration = Duration::from_secs(10 * 60);
/// The depth under which the table refreshes itself.
const SHALLOW: usize = 4;

/// The settings the node reads, copied from the session's at each call so
/// a change applies at once.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub read_only: bool,
    pub restrict_routing_ips: bool,
    pub restrict_search_ips: bool,
    pub enforce_node_id: bool,
    pub max_fail_count: u32,
    pub search_branching: usize,
    pub max_peers_reply: usize,
    pub max_torrents: usize,
    pub max_peers: usize,
    pub block_ratelimit: u32,
    pub block_timeout: Duration,
    pub upload_rate_limit: u64,
}

impl Config {
    pub fn from_settings(s: &Settings) -> Config {
        Config {
            read_only: s.dht_read_only,
            restrict_routing_ips: s.dht_restrict_routing_ips,
            restrict_search_ips: s.dht_restrict_search_ips,
            enforce_node_id: s.dht_enforce_node_id,
            max_fail_count: s.dht_max_fail_count as u32,
            search_branching: s.dht_search_branching as usize,
            max_peers_reply: s.dht_max_peers_reply as usize,
            max_torrents: s.dht_max_torrents as usize,
            max_peers: s.dht_max_peers as usize,
            block_ratelimit: s.dht_block_ratelimit as u32,
            block_timeout: Duration::from_secs(s.dht_block_timeout as u64),
            upload_rate_limit: s.dht_upload_rate_limit as u64,
        }
    }
}

/// What the node tells the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A get_peers lookup found new peers for `info_hash`.
    PeersFound { info_hash: NodeId, peers: Vec<SocketAddr> },
    /// A get_peers lookup ended (after its announces, if any).
    LookupDone { info_hash: NodeId, num_peers: usize, announced_to: usize },
    /// A node announced itself as a peer of `info_hash` to us.
    IncomingAnnounce { info_hash: NodeId, peer: SocketAddr },
    /// A node asked us for peers of `info_hash`.
    IncomingGetPeers { info_hash: NodeId },
    /// The bootstrap lookup ended.
    Bootstrapped { nodes: usize },
}

/// Why a query was sent, so its answer goes to the right place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// Checking that a node is alive (or meeting one we heard of).
    Ping,
    Lookup(u64),
    /// An announce_peer at the end of lookup; nothing waits for it.
    Announce,
}

#[derive(Clone, Debug)]
struct Transaction {
    addr: SocketAddr,
    id: Option<NodeId>,
    sent: Instant,
    slow: bool,
    purpose: Purpose,
}

/// A running lookup, for the dht_stats alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupStatus {
    pub target: NodeId,
    pub kind: &'static str,
    pub answered: usize,
    pub in_flight: usize,
}

/// One DHT node. A node speaks one address family: an IPv4 node keeps
/// IPv4 nodes and peers, an IPv6 one (BEP 32) IPv6 ones, each in its own
/// routing table, as libtorrent runs a node per listen socket.
pub struct Node {
    ipv6: bool,
    table: RoutingTable,
    tokens: Tokens,
    store: PeerStore,
    limiter: RateLimiter,
    transactions: HashMap<[u8; 2], Transaction>,
    next_tid: u16,
    lookups: HashMap<u64, Lookup>,
    next_lookup: u64,
    /// Datagrams to send.
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    events: Vec<Event>,
    counters: Arc<Counters>,
    /// Bytes the upload limit still allows, refilled with time.
    send_budget: f64,
    budget_at: Instant,
    last_maintenance: Instant,
    last_expiry: Instant,
    bootstrap_nodes: Vec<SocketAddr>,
    /// Nodes of a saved routing table: asked at the bootstrap by their
    /// distance to our id, and their answers checked against their ids.
    saved_nodes: Vec<NodeEntry>,
    last_bootstrap: Option<Instant>,
    last_self_refresh: Option<Instant>,
    /// What this node last added to each session gauge it shares with a
    /// node of the other family, so each adds only its own change.
    reported: Vec<(Metric, i64)>,
}

impl Node {
    /// An IPv4 node.
    pub fn new(id: NodeId, counters: Arc<Counters>, now: Instant) -> Node {
        Node::for_family(false, id, counters, now)
    }

    /// An IPv4 node, or an IPv6 one when `ipv6`.
    pub fn for_family(ipv6: bool, id: NodeId, counters: Arc<Counters>, now: Instant) -> Node {
        Node {
            ipv6,
            table: RoutingTable::new(id),
            tokens: Tokens::new(now),
            store: PeerStore::default(),
            limiter: RateLimiter::default(),
            transactions: HashMap::new(),
            next_tid: rand::random(),
            lookups: HashMap::new(),
            next_lookup: 1,
            outbox: Vec::new(),
            events: Vec::new(),
            counters,
            // Full: the first refill caps it at one second's worth.
            send_budget: f64::INFINITY,
            budget_at: now,
            last_maintenance: now,
            last_expiry: now,
            bootstrap_nodes: Vec::new(),
            saved_nodes: Vec::new(),
            last_bootstrap: None,
            last_self_refresh: None,
            reported: Vec::new(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.table.own_id()
    }

    /// Takes the datagrams to send and the events to report.
    pub fn drain(&mut self) -> (Vec<(SocketAddr, Vec<u8>)>, Vec<Event>) {
        (std::mem::take(&mut self.outbox), std::mem::take(&mut self.events))
    }

    // ---- sending -------------------------------------------------------------

    /// Queues a datagram unless the upload limit is spent (then it is
    /// dropped and counted, as libtorrent drops it). Burst: one second.
    fn send(&mut self, to: SocketAddr, bytes: Vec<u8>, cfg: &Config, now: Instant) -> bool {
        if cfg.upload_rate_limit > 0 {
            let rate = cfg.upload_rate_limit as f64;
            let elapsed = now.duration_since(self.budget_at).as_secs_f64();
            self.send_budget = (self.send_budget + elapsed * rate).min(rate);
            self.budget_at = now;
            if self.send_budget < bytes.len() as f64 {
                self.counters.add(Metric::DhtMessagesOutDropped, 1);
                return false;
            }
            self.send_budget -= bytes.len() as f64;
        }
        self.counters.add(Metric::DhtMessagesOut, 1);
        self.counters.add(Metric::DhtBytesOut, bytes.len() as i64);
        self.outbox.push((to, bytes));
        true
    }

    fn send_query(
        &mut self,
        to: SocketAddr,
        id: Option<NodeId>,
        query: Query,
        purpose: Purpose,
        cfg: &Config,
        now: Instant,
    ) -> bool {
        let tid = loop {
            self.next_tid = self.next_tid.wrapping_add(1);
            let t = self.next_tid.to_be_bytes();
            if !self.transactions.contains_key(&t) {
                break t;
            }
        };
        let metric = match query {
            Query::Ping => Metric::DhtPingOut,
            Query::FindNode { .. } => Metric::DhtFindNodeOut,
            Query::GetPeers { .. } => Metric::DhtGetPeersOut,
            Query::AnnouncePeer { .. } => Metric::DhtAnnouncePeerOut,
        };
        let bytes = Message::query(tid.to_vec(), self.id(), query, cfg.read_only).encode();
        if !self.send(to, bytes, cfg, now) {
            return false;
        }
        self.counters.add(metric, 1);
        self.transactions.insert(tid, Transaction { addr: to, id, sent: now, slow: false, purpose });
        self.gauge(Metric::DhtAllocatedObservers, self.transactions.len() as i64);
        true
    }

    /// Pings `addr` (a node heard of from a peer's PORT message, or one to
    /// check): if it answers it enters the routing table.
    pub fn ping(&mut self, addr: SocketAddr, cfg: &Config, now: Instant) {
        self.send_query(addr, None, Query::Ping, Purpose::Ping, cfg, now);
    }

    // ---- lookups -------------------------------------------------------------

    fn start_lookup(&mut self, lookup: Lookup, cfg: &Config, now: Instant) -> u64 {
        let lid = self.next_lookup;
        self.next_lookup += 1;
        self.lookups.insert(lid, lookup);
        self.gauge(Metric::DhtLookups, self.lookups.len() as i64);
        self.step(lid, cfg, now);
        lid
    }

    /// Bootstraps from `nodes` (addresses whose ids we do not know: the
    /// `dht_bootstrap_nodes` setting), `saved` (the nodes of a saved
    /// routing table) and the routing table. An empty table bootstraps
    /// again from the same every 30 seconds.
    pub fn bootstrap(&mut self, nodes: Vec<SocketAddr>, saved: Vec<NodeEntry>, cfg: &Config, now: Instant) {
        self.bootstrap_nodes = nodes;
        self.saved_nodes = saved;
        self.rebootstrap(cfg, now);
    }

    fn rebootstrap(&mut self, cfg: &Config, now: Instant) {
        self.last_bootstrap = Some(now);
        let own = self.id();
        let mut start = self.table.closest(&own, K);
        start.extend(self.saved_nodes.iter().filter(|n| self.acceptable(&n.id, &n.addr, cfg)));
        let lookup =
            Lookup::new(own, LookupKind::Bootstrap, &start, &self.bootstrap_nodes, cfg.restrict_search_ips);
        self.start_lookup(lookup, cfg, now);
    }

    /// Looks up peers of `info_hash`, and announces us to the closest
    /// nodes at the end when `announce` is set.
    pub fn get_peers(
        &mut self,
        info_hash: NodeId,
        announce: Option<AnnounceArgs>,
        cfg: &Config,
        now: Instant,
    ) {
        let start = self.table.closest(&info_hash, K * 2);
        let lookup =
            Lookup::new(info_hash, LookupKind::GetPeers { announce }, &start, &[], cfg.restrict_search_ips);
        self.start_lookup(lookup, cfg, now);
    }

    /// Sends the queries a lookup wants, or finishes it.
    fn step(&mut self, lid: u64, cfg: &Config, now: Instant) {
        let Some(lookup) = self.lookups.get_mut(&lid) else { return };
        let queries = lookup.next_queries(cfg.search_branching);
        let (target, kind) = (lookup.target, lookup.kind);
        for (id, addr) in queries {
            let q = match kind {
                // A seed has no use for other seeds (BEP 33's noseed).
                LookupKind::GetPeers { announce } => {
                    Query::GetPeers { info_hash: target, noseed: announce.is_some_and(|a| a.seed) }
                }
                LookupKind::Bootstrap | LookupKind::Refresh => Query::FindNode { target },
            };
            if !self.send_query(addr, id, q, Purpose::Lookup(lid), cfg, now) {
                if let Some(l) = self.lookups.get_mut(&lid) {
                    l.on_failure(&addr);
                }
            }
        }
        if self.lookups.get(&lid).is_some_and(Lookup::is_done) {
            if let Some(l) = self.lookups.remove(&lid) {
                self.gauge(Metric::DhtLookups, self.lookups.len() as i64);
                self.finish(l, cfg, now);
            }
        }
    }

    fn finish(&mut self, l: Lookup, cfg: &Config, now: Instant) {
        match l.kind {
            LookupKind::Bootstrap => self.events.push(Event::Bootstrapped { nodes: self.table.size().0 }),
            LookupKind::Refresh => {}
            LookupKind::GetPeers { announce } => {
                let mut announced_to = 0;
                if let Some(a) = announce.filter(|_| !cfg.read_only) {
                    for (id, addr, token) in l.announce_targets() {
                        let q = Query::AnnouncePeer {
                            info_hash: l.target,
                            port: a.port,
                            implied_port: false,
                            token,
                            seed: a.seed,
                        };
                        announced_to +=
                            self.send_query(addr, Some(id), q, Purpose::Announce, cfg, now) as usize;
                    }
                }
                self.events.push(Event::LookupDone {
                    info_hash: l.target,
                    num_peers: l.num_peers(),
                    announced_to,
                });
            }
        }
    }

    // ---- incoming --------------------------------------------------------------

    fn admission(cfg: &Config) -> Admission {
        Admission { restrict_ips: cfg.restrict_routing_ips }
    }

    /// Whether node `id` at `addr` may enter the table and lookups: of
    /// our family, and with an id that matches its address when BEP 42 is
    /// enforced.
    fn acceptable(&self, id: &NodeId, addr: &SocketAddr, cfg: &Config) -> bool {
        addr.is_ipv6() == self.ipv6 && (!cfg.enforce_node_id || node_id::verify(id, &addr.ip()))
    }

    /// Handles one datagram from `from`.
    pub fn incoming(&mut self, from: SocketAddr, packet: &[u8], cfg: &Config, now: Instant) {
        self.counters.add(Metric::DhtBytesIn, packet.len() as i64);
        match self.limiter.check(from.ip(), now, cfg.block_ratelimit, cfg.block_timeout) {
            Verdict::Accept => {}
            Verdict::Block => {
                self.counters.add(Metric::DhtBlockedSenders, 1);
                self.counters.add(Metric::DhtMessagesInDropped, 1);
                return;
            }
            Verdict::Drop => {
                self.counters.add(Metric::DhtMessagesInDropped, 1);
                return;
            }
        }
        let msg = match krpc::decode(packet) {
            Ok(m) => m,
            Err(e) => {
                self.counters.add(Metric::DhtMessagesInDropped, 1);
                self.malformed(from, packet, &e, cfg, now);
                return;
            }
        };
        self.counters.add(Metric::DhtMessagesIn, 1);
        match msg.body {
            Body::Query { id, query } => self.on_query(from, msg.tid, id, query, msg.read_only, cfg, now),
            Body::Response { id, response } => self.on_response(from, &msg.tid, id, response, cfg, now),
            Body::Error { .. } => self.on_error(from, &msg.tid, cfg, now),
        }
    }

    /// A malformed query gets a protocol error back (BEP 5) and is counted
    /// by method; anything else malformed is only dropped.
    fn malformed(&mut self, from: SocketAddr, packet: &[u8], e: &krpc::Error, cfg: &Config, now: Instant) {
        let Some((tid, method)) = krpc::query_header(packet) else { return };
        let metric = match method.as_slice() {
            b"announce_peer" => Some(Metric::DhtInvalidAnnounce),
            b"get_peers" => Some(Metric::DhtInvalidGetPeers),
            b"find_node" => Some(Metric::DhtInvalidFindNode),
            _ => None,
        };
        if let Some(m) = metric {
            self.counters.add(m, 1);
        }
        if cfg.read_only {
            return;
        }
        let code = if matches!(e, krpc::Error::UnknownQuery(_)) {
            error_code::METHOD_UNKNOWN
        } else {
            error_code::PROTOCOL
        };
        let reply = Message::error(tid, code, &e.to_string()).encode();
        self.send(from, reply, cfg, now);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_query(
        &mut self,
        from: SocketAddr,
        tid: Vec<u8>,
        id: NodeId,
        query: Query,
        sender_read_only: bool,
        cfg: &Config,
        now: Instant,
    ) {
        let metric = match query {
            Query::Ping => Metric::DhtPingIn,
            Query::FindNode { .. } => Metric::DhtFindNodeIn,
            Query::GetPeers { .. } => Metric::DhtGetPeersIn,
            Query::AnnouncePeer { .. } => Metric::DhtAnnouncePeerIn,
        };
        self.counters.add(metric, 1);
        // BEP 43: a read-only node answers nothing.
        if cfg.read_only {
            self.counters.add(Metric::DhtMessagesInDropped, 1);
            return;
        }
        // A node that queries us may be a good one to know; read-only nodes
        // cannot be queried, so they stay out (BEP 43).
        if !sender_read_only && self.acceptable(&id, &from, cfg) && id != self.id() {
            let entry = NodeEntry { id, addr: from };
            let wanted = self.table.wants(&id);
            self.table.node_seen(entry, false, Self::admission(cfg), now);
            if wanted && !self.transactions.values().any(|t| t.addr == from) {
                self.send_query(from, Some(id), Query::Ping, Purpose::Ping, cfg, now);
            }
        }
        let mut response = Response::default();
        match query {
            Query::Ping => {}
            Query::FindNode { target } => response.nodes = self.table.closest(&target, K),
            Query::GetPeers { info_hash, noseed } => {
                self.events.push(Event::IncomingGetPeers { info_hash });
                response.token = Some(self.tokens.issue(&from.ip()));
                response.values = self.store.get(&info_hash, cfg.max_peers_reply, noseed);
                response.nodes = self.table.closest(&info_hash, K);
            }
            Query::AnnouncePeer { info_hash, port, implied_port, token, seed } => {
                if !self.tokens.verify(&token, &from.ip()) {
                    self.counters.add(Metric::DhtInvalidAnnounce, 1);
                    let reply = Message::error(tid, error_code::PROTOCOL, "invalid token").encode();
                    self.send(from, reply, cfg, now);
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                let peer = SocketAddr::new(from.ip(), port);
                self.store.announce(info_hash, peer, seed, now, cfg.max_torrents, cfg.max_peers);
                self.events.push(Event::IncomingAnnounce { info_hash, peer });
                self.update_store_gauges();
            }
        }
        let reply = Message::response(tid, self.id(), response, from).encode();
        self.send(from, reply, cfg, now);
    }

    fn take_transaction(&mut self, from: SocketAddr, tid: &[u8]) -> Option<Transaction> {
        let key: [u8; 2] = tid.try_into().ok()?;
        // An answer must come from the address we asked.
        if self.transactions.get(&key)?.addr != from {
            return None;
        }
        let t = self.transactions.remove(&key);
        self.gauge(Metric::DhtAllocatedObservers, self.transactions.len() as i64);
        t
    }

    fn on_response(
        &mut self,
        from: SocketAddr,
        tid: &[u8],
        id: NodeId,
        r: Response,
        cfg: &Config,
        now: Instant,
    ) {
        let Some(t) = self.take_transaction(from, tid) else {
            self.counters.add(Metric::DhtMessagesInDropped, 1);
            return;
        };
        let good = self.acceptable(&id, &from, cfg) && t.id.is_none_or(|want| want == id) && id != self.id();
        if !good {
            if let Purpose::Lookup(lid) = t.purpose {
                if let Some(l) = self.lookups.get_mut(&lid) {
                    l.on_failure(&from);
                }
                self.step(lid, cfg, now);
            }
            return;
        }
        self.table.node_seen(NodeEntry { id, addr: from }, true, Self::admission(cfg), now);
        self.update_table_gauges();
        if let Purpose::Lookup(lid) = t.purpose {
            let nodes: Vec<_> =
                r.nodes.into_iter().filter(|n| self.acceptable(&n.id, &n.addr, cfg)).collect();
            let Some(l) = self.lookups.get_mut(&lid) else { return };
            let new_peers = l.on_answer(&from, id, &nodes, &r.values, r.token);
            if !new_peers.is_empty() {
                let info_hash = l.target;
                self.events.push(Event::PeersFound { info_hash, peers: new_peers });
            }
            self.step(lid, cfg, now);
        }
    }

    fn on_error(&mut self, from: SocketAddr, tid: &[u8], cfg: &Config, now: Instant) {
        let Some(t) = self.take_transaction(from, tid) else {
            self.counters.add(Metric::DhtMessagesInDropped, 1);
            return;
        };
        if let Purpose::Lookup(lid) = t.purpose {
            if let Some(l) = self.lookups.get_mut(&lid) {
                l.on_failure(&from);
            }
            self.step(lid, cfg, now);
        }
    }

    // ---- time ------------------------------------------------------------------

    /// Times queries out, moves lookups on, and every few seconds does the
    /// maintenance: token rotation, peer expiry, a liveness ping, a bucket
    /// refresh, a new bootstrap when the table is empty.
    pub fn tick(&mut self, cfg: &Config, now: Instant) {
        let mut failed = Vec::new();
        let mut slow = Vec::new();
        for (key, t) in self.transactions.iter_mut() {
            let age = now.duration_since(t.sent);
            if age >= QUERY_TIMEOUT {
                failed.push(*key);
            } else if age >= SHORT_TIMEOUT && !t.slow {
                t.slow = true;
                slow.push((t.addr, t.purpose));
            }
        }
        let mut touched = Vec::new();
        for (addr, purpose) in slow {
            if let Purpose::Lookup(lid) = purpose {
                if let Some(l) = self.lookups.get_mut(&lid) {
                    l.on_slow(&addr);
                    touched.push(lid);
                }
            }
        }
        for key in failed {
            let Some(t) = self.transactions.remove(&key) else { continue };
            if let Some(id) = t.id {
                self.table.node_failed(&id, t.addr, cfg.max_fail_count);
            }
            if let Purpose::Lookup(lid) = t.purpose {
                if let Some(l) = self.lookups.get_mut(&lid) {
                    l.on_failure(&t.addr);
                    touched.push(lid);
                }
            }
        }
        self.gauge(Metric::DhtAllocatedObservers, self.transactions.len() as i64);
        touched.sort_unstable();
        touched.dedup();
        for lid in touched {
            self.step(lid, cfg, now);
        }
        self.update_table_gauges();
        if now.duration_since(self.last_maintenance) >= MAINTENANCE {
            self.last_maintenance = now;
            self.maintain(cfg, now);
        }
    }

    fn maintain(&mut self, cfg: &Config, now: Instant) {
        self.tokens.maybe_rotate(now);
        if now.duration_since(self.last_expiry) >= Duration::from_secs(60) {
            self.last_expiry = now;
            self.store.expire(now);
            self.update_store_gauges();
        }
        let bootstrapping = self.lookups.values().any(|l| l.kind == LookupKind::Bootstrap);
        if self.table.size().0 == 0 {
            let due = self.last_bootstrap.is_none_or(|t| now.duration_since(t) >= REBOOTSTRAP);
            let anyone = !self.bootstrap_nodes.is_empty() || !self.saved_nodes.is_empty();
            if due && !bootstrapping && anyone {
                self.rebootstrap(cfg, now);
            }
            return;
        }
        if let Some(n) = self.table.stale_node(now) {
            if !self.transactions.values().any(|t| t.addr == n.addr) {
                self.send_query(n.addr, Some(n.id), Query::Ping, Purpose::Ping, cfg, now);
            }
        }
        let refreshing = self.lookups.values().any(|l| l.kind == LookupKind::Refresh);
        if bootstrapping || refreshing {
            return;
        }
        // A table that knows few nodes near us asks for them again, first at
        // the maintenance after the bootstrap: nodes that joined while we
        // bootstrapped are found then, not at the next bucket refresh.
        let self_due = self.last_self_refresh.is_none_or(|t| now.duration_since(t) >= SELF_REFRESH);
        if self_due && self.table.depth() < SHALLOW {
            self.last_self_refresh = Some(now);
            let own = self.id();
            let start = self.table.closest(&own, K);
            let lookup = Lookup::new(own, LookupKind::Refresh, &start, &[], cfg.restrict_search_ips);
            self.start_lookup(lookup, cfg, now);
            return;
        }
        if let Some(depth) = self.table.bucket_to_refresh(now) {
            let own = self.id();
            let target = own.random_at_depth(depth);
            let start = self.table.closest(&target, K);
            let lookup = Lookup::new(target, LookupKind::Refresh, &start, &[], cfg.restrict_search_ips);
            self.start_lookup(lookup, cfg, now);
        }
    }

    fn update_table_gauges(&mut self) {
        let (live, cached) = self.table.size();
        self.gauge(Metric::DhtNodes, live as i64);
        self.gauge(Metric::DhtNodeCache, cached as i64);
    }

    fn update_store_gauges(&mut self) {
        let (torrents, peers) = self.store.size();
        self.gauge(Metric::DhtTorrents, torrents as i64);
        self.gauge(Metric::DhtPeers, peers as i64);
    }

    /// Sets this node's share of a session gauge: the IPv4 and IPv6 nodes
    /// each add their own change, so the gauge holds their sum.
    fn gauge(&mut self, m: Metric, value: i64) {
        let last = match self.reported.iter_mut().find(|(k, _)| *k == m) {
            Some((_, v)) => v,
            None => {
                self.reported.push((m, 0));
                &mut self.reported.last_mut().expect("just pushed").1
            }
        };
        let delta = value - *last;
        *last = value;
        if delta != 0 {
            self.counters.add(m, delta);
        }
    }

    // ---- state -----------------------------------------------------------------

    /// The live nodes of the routing table (for the saved state).
    pub fn nodes_of_table(&self) -> Vec<NodeEntry> {
        self.table.all_nodes()
    }

    /// Per bucket holding anything: (depth, live nodes, replacements).
    pub fn buckets(&self) -> Vec<(usize, usize, usize)> {
        self.table.bucket_sizes()
    }

    /// The lookups running now.
    pub fn lookups(&self) -> Vec<LookupStatus> {
        self.lookups
            .values()
            .map(|l| {
                let (answered, in_flight) = l.progress();
                let kind = match l.kind {
                    LookupKind::Bootstrap => "bootstrap",
                    LookupKind::Refresh => "refresh",
                    LookupKind::GetPeers { announce: Some(_) } => "announce",
                    LookupKind::GetPeers { announce: None } => "get_peers",
                };
                LookupStatus { target: l.target, kind, answered, in_flight }
            })
            .collect()
    }

    /// The number of live nodes in the routing table.
    pub fn num_nodes(&self) -> usize {
        self.table.size().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes wired together in memory: datagrams go from outbox to
    /// `incoming` of the node at the address, at a time the test sets.
    struct Net {
        nodes: Vec<(SocketAddr, Node, Config)>,
        now: Instant,
        events: Vec<(usize, Event)>,
        /// Datagrams to this node wait in `held` (a slow link).
        hold_to: Option<usize>,
        held: Vec<(SocketAddr, usize, Vec<u8>)>,
    }

    fn open_config() -> Config {
        let s = Settings {
            dht_restrict_routing_ips: false,
            dht_restrict_search_ips: false,
            dht_upload_rate_limit: 0,
            dht_block_ratelimit: 1000,
            ..Settings::default()
        };
        Config::from_settings(&s)
    }

    impl Net {
        fn new(n: usize, cfg: Config) -> Net {
            Net::on(false, n, cfg)
        }

        /// `n` nodes on 127.0.0.1, or on ::1 when `ipv6`.
        fn on(ipv6: bool, n: usize, cfg: Config) -> Net {
            let now = Instant::now();
            let ip: std::net::IpAddr =
                if ipv6 { "::1".parse().unwrap() } else { "127.0.0.1".parse().unwrap() };
            let nodes = (0..n)
                .map(|i| {
                    let addr = SocketAddr::new(ip, 10_000 + i as u16);
                    (addr, Node::for_family(ipv6, NodeId::random(), Arc::new(Counters::new()), now), cfg)
                })
                .collect();
            Net { nodes, now, events: Vec::new(), hold_to: None, held: Vec::new() }
        }

        fn run(&mut self, f: impl FnOnce(&mut Node, &Config, Instant), i: usize) {
            let (_, node, cfg) = &mut self.nodes[i];
            f(node, cfg, self.now);
            self.deliver();
        }

        /// Delivers every queued datagram, and those they cause, in order.
        fn deliver(&mut self) {
            for _ in 0..10_000 {
                let mut moved = false;
                for i in 0..self.nodes.len() {
                    let from = self.nodes[i].0;
                    let (out, events) = self.nodes[i].1.drain();
                    self.events.extend(events.into_iter().map(|e| (i, e)));
                    for (to, bytes) in out {
                        moved = true;
                        if let Some(j) = self.nodes.iter().position(|n| n.0 == to) {
                            if self.hold_to == Some(j) {
                                self.held.push((from, j, bytes));
                                continue;
                            }
                            let (_, node, cfg) = &mut self.nodes[j];
                            node.incoming(from, &bytes, cfg, self.now);
                        }
                    }
                }
                if !moved {
                    return;
                }
            }
            panic!("datagrams kept flowing");
        }

        /// Delivers what was held, and what that causes.
        fn release(&mut self) {
            self.hold_to = None;
            for (from, j, bytes) in std::mem::take(&mut self.held) {
                let (_, node, cfg) = &mut self.nodes[j];
                node.incoming(from, &bytes, cfg, self.now);
            }
            self.deliver();
        }

        fn counter(&self, i: usize, m: Metric) -> i64 {
            self.nodes[i].1.counters.get(m)
        }
    }

    fn bootstrap_all(net: &mut Net) {
        let first = net.nodes[0].0;
        for i in 1..net.nodes.len() {
            net.run(|n, cfg, now| n.bootstrap(vec![first], Vec::new(), cfg, now), i);
        }
        // A second round lets early nodes learn of the later ones.
        for i in 0..net.nodes.len() {
            net.run(|n, cfg, now| n.bootstrap(vec![first], Vec::new(), cfg, now), i);
        }
    }

    #[test]
    fn twenty_nodes_find_each_others_announces() {
        twenty_nodes(false);
    }

    /// BEP 32: the same on IPv6, with `nodes6` and 18-byte peers.
    #[test]
    fn twenty_ipv6_nodes_find_each_others_announces() {
        twenty_nodes(true);
    }

    fn twenty_nodes(ipv6: bool) {
        let mut net = Net::on(ipv6, 20, open_config());
        bootstrap_all(&mut net);
        assert!(net.events.iter().any(|(_, e)| matches!(e, Event::Bootstrapped { nodes } if *nodes > 0)));
        for i in 0..20 {
            assert!(net.nodes[i].1.num_nodes() >= 8, "node {i} knows {} nodes", net.nodes[i].1.num_nodes());
        }
        let ih = NodeId::random();
        net.run(|n, cfg, now| n.get_peers(ih, Some(AnnounceArgs { port: 7777, seed: true }), cfg, now), 5);
        let announced = net.events.iter().find_map(|(i, e)| match e {
            Event::LookupDone { info_hash, announced_to, .. } if *i == 5 && *info_hash == ih => {
                Some(*announced_to)
            }
            _ => None,
        });
        assert_eq!(announced, Some(K), "announced to the 8 closest nodes");
        let stored: usize = (0..20).map(|i| net.nodes[i].1.store.size().1).sum();
        assert_eq!(stored, K);
        net.events.clear();
        net.run(|n, cfg, now| n.get_peers(ih, None, cfg, now), 17);
        let found: Vec<SocketAddr> = net
            .events
            .iter()
            .filter_map(|(i, e)| match e {
                Event::PeersFound { info_hash, peers } if *i == 17 && *info_hash == ih => Some(peers.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(found, vec![SocketAddr::new(net.nodes[5].0.ip(), 7777)], "one peer, reported once");
        assert!(net
            .events
            .iter()
            .any(|(i, e)| *i == 17 && matches!(e, Event::LookupDone { num_peers: 1, .. })));
    }

    /// Two nodes bootstrap from a third while it has not yet confirmed the
    /// first (its ping is on a slow link): neither learns of the other from
    /// the bootstrap. The shallow table's self-refresh at the next
    /// maintenance finds the other node, not a bucket refresh 15 minutes on.
    #[test]
    fn nodes_that_joined_together_meet_at_the_next_maintenance() {
        let mut net = Net::new(3, open_config());
        let first = net.nodes[0].0;
        net.hold_to = Some(1);
        net.run(|n, cfg, now| n.bootstrap(vec![first], Vec::new(), cfg, now), 1);
        net.run(|n, cfg, now| n.bootstrap(vec![first], Vec::new(), cfg, now), 2);
        net.release();
        assert_eq!(net.nodes[0].1.num_nodes(), 2);
        assert_eq!(net.nodes[2].1.num_nodes(), 1, "the bootstrap found only the first node");
        for _ in 0..6 {
            net.now += Duration::from_secs(1);
            for i in 0..3 {
                net.run(|n, cfg, now| n.tick(cfg, now), i);
            }
        }
        assert_eq!(net.nodes[1].1.num_nodes(), 2);
        assert_eq!(net.nodes[2].1.num_nodes(), 2);
    }

    /// The traffic of an idle DHT, in simulated time: eight nodes, nothing
    /// looked up, for an hour after the bootstrap. What remains is the
    /// upkeep: a ping to each node not heard from in 15 minutes and a
    /// refresh lookup of each bucket not active for 15 minutes.
    #[test]
    fn an_idle_node_sends_a_few_messages_a_minute() {
        let mut net = Net::new(8, open_config());
        bootstrap_all(&mut net);
        let totals = |net: &Net| {
            (0..8).fold((0, 0), |(m, b), i| {
                (m + net.counter(i, Metric::DhtMessagesOut), b + net.counter(i, Metric::DhtBytesOut))
            })
        };
        let before = totals(&net);
        let minutes = 60;
        for _ in 0..minutes * 60 {
            net.now += Duration::from_secs(1);
            for i in 0..8 {
                net.run(|n, cfg, now| n.tick(cfg, now), i);
            }
        }
        let after = totals(&net);
        let per_node_minute = |x: i64| x as f64 / 8.0 / minutes as f64;
        let (msgs, bytes) = (per_node_minute(after.0 - before.0), per_node_minute(after.1 - before.1));
        println!("idle node: {msgs:.1} messages and {bytes:.0} bytes sent per minute");
        assert!(msgs > 0.0, "stale nodes are pinged and buckets refreshed");
        assert!(msgs < 10.0, "{msgs} messages a minute is not idle");
        assert!(net.nodes.iter().all(|n| n.1.num_nodes() == 7), "every node still knows every other");
    }

    #[test]
    fn a_restarted_node_bootstraps_from_its_saved_table_alone() {
        let mut net = Net::new(10, open_config());
        bootstrap_all(&mut net);
        let (id, saved) = (net.nodes[4].1.id(), net.nodes[4].1.nodes_of_table());
        // Lookups query the K closest nodes only: the one node farthest
        // from node 4 may never have met it (about one run in fifteen).
        assert!(saved.len() >= K, "{} nodes saved", saved.len());
        net.nodes[4].1 = Node::new(id, Arc::new(Counters::new()), net.now);
        assert_eq!(net.nodes[4].1.num_nodes(), 0);
        net.run(|n, cfg, now| n.bootstrap(Vec::new(), saved.clone(), cfg, now), 4);
        // The bootstrap asks the K closest to our id; the others come back
        // as they query us or a refresh asks them.
        assert_eq!(net.nodes[4].1.num_nodes(), K, "the saved nodes answered and are back");
        // A saved node whose id changed is not taken for the old one.
        let stale = NodeEntry { id: NodeId::random(), addr: net.nodes[5].0 };
        let mut fresh = Node::new(NodeId::random(), Arc::new(Counters::new()), net.now);
        let cfg = open_config();
        fresh.bootstrap(Vec::new(), vec![stale], &cfg, net.now);
        let (out, _) = fresh.drain();
        let tid = krpc::decode(&out[0].1).unwrap().tid;
        let reply = Message::response(tid, net.nodes[5].1.id(), Response::default(), out[0].0).encode();
        fresh.incoming(stale.addr, &reply, &cfg, net.now);
        assert_eq!(fresh.num_nodes(), 0);
    }

    fn query(tid: &[u8], id: NodeId, q: Query, ro: bool) -> Vec<u8> {
        Message::query(tid.to_vec(), id, q, ro).encode()
    }

    /// Feeds one packet to a fresh node and answers what it sent back.
    fn answer(node: &mut Node, cfg: &Config, from: SocketAddr, packet: &[u8], now: Instant) -> Vec<Message> {
        node.incoming(from, packet, cfg, now);
        let (out, _) = node.drain();
        out.into_iter().filter(|(to, _)| *to == from).map(|(_, b)| krpc::decode(&b).unwrap()).collect()
    }

    #[test]
    fn announce_needs_our_token_for_that_ip() {
        let cfg = open_config();
        let now = Instant::now();
        let mut node = Node::new(NodeId::random(), Arc::new(Counters::new()), now);
        let a: SocketAddr = "10.0.0.1:6881".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:6881".parse().unwrap();
        let ih = NodeId::random();
        let replies = answer(
            &mut node,
            &cfg,
            a,
            &query(b"g1", NodeId::random(), Query::GetPeers { info_hash: ih, noseed: false }, false),
            now,
        );
        let token = match &replies.last().unwrap().body {
            Body::Response { response, .. } => response.token.clone().unwrap(),
            other => panic!("{other:?}"),
        };
        let announce = |tok: &[u8]| Query::AnnouncePeer {
            info_hash: ih,
            port: 5000,
            implied_port: false,
            token: tok.to_vec(),
            seed: false,
        };
        // Another IP cannot use a's token, and a made-up token fails.
        for (from, tok) in [(b, token.clone()), (a, b"fake".to_vec())] {
            let r =
                answer(&mut node, &cfg, from, &query(b"a1", NodeId::random(), announce(&tok), false), now);
            assert!(matches!(r.last().unwrap().body, Body::Error { code: error_code::PROTOCOL, .. }));
        }
        assert_eq!(node.counters.get(Metric::DhtInvalidAnnounce), 2);
        assert_eq!(node.store.size(), (0, 0));
        let r = answer(&mut node, &cfg, a, &query(b"a2", NodeId::random(), announce(&token), false), now);
        assert!(matches!(r.last().unwrap().body, Body::Response { .. }));
        assert_eq!(node.store.get(&ih, 10, false), vec!["10.0.0.1:5000".parse::<SocketAddr>().unwrap()]);
        // Ten minutes later (two rotations) the token is stale.
        let later = now + super::super::store::TOKEN_ROTATION * 2 + MAINTENANCE;
        node.tick(&cfg, now + super::super::store::TOKEN_ROTATION + MAINTENANCE);
        node.tick(&cfg, later);
        let r = answer(&mut node, &cfg, a, &query(b"a3", NodeId::random(), announce(&token), false), later);
        assert!(matches!(r.last().unwrap().body, Body::Error { .. }));
        // A malformed announce is answered with an error and counted.
        let bad = b"d1:ad2:id20:abcdefghij0123456789e1:q13:announce_peer1:t2:xy1:y1:qe";
        let r = answer(&mut node, &cfg, a, bad, later);
        assert!(matches!(r[0].body, Body::Error { code: error_code::PROTOCOL, .. }));
        assert_eq!(node.counters.get(Metric::DhtInvalidAnnounce), 4);
    }

    #[test]
    fn read_only_nodes_answer_nothing_and_are_not_added() {
        let mut net = Net::new(3, open_config());
        net.nodes[2].2.read_only = true;
        bootstrap_all(&mut net);
        let (ro_addr, ro_id) = (net.nodes[2].0, net.nodes[2].1.id());
        assert!(net.nodes[2].1.num_nodes() >= 1, "a read-only node still learns the network");
        for i in 0..2 {
            assert!(!net.nodes[i].1.table.contains(&ro_id), "node {i} must not route to a read-only node");
        }
        assert!(net.counter(2, Metric::DhtMessagesInDropped) == 0, "no one queried it");
        // Queried directly, it stays silent.
        let now = net.now;
        let (_, ro, cfg) = &mut net.nodes[2];
        let replies = answer(
            ro,
            cfg,
            "10.9.9.9:1".parse().unwrap(),
            &query(b"p1", NodeId::random(), Query::Ping, false),
            now,
        );
        assert!(replies.is_empty());
        assert_eq!(ro.counters.get(Metric::DhtPingIn), 1);
        // And its own queries say ro=1.
        ro.ping("10.9.9.9:1".parse().unwrap(), cfg, now);
        let (out, _) = ro.drain();
        assert!(krpc::decode(&out[0].1).unwrap().read_only);
        assert_ne!(ro_addr, out[0].0);
    }

    #[test]
    fn bep42_enforcement_keeps_forged_ids_out() {
        let now = Instant::now();
        let public: SocketAddr = "203.0.113.5:6881".parse().unwrap();
        let forged = NodeId([0x42; 20]);
        let genuine = node_id::generate(&public.ip());
        for (enforce, id, admitted) in [(true, forged, false), (true, genuine, true), (false, forged, true)] {
            let cfg = Config { enforce_node_id: enforce, ..open_config() };
            let mut node = Node::new(NodeId::random(), Arc::new(Counters::new()), now);
            node.ping(public, &cfg, now);
            let (out, _) = node.drain();
            let tid = krpc::decode(&out[0].1).unwrap().tid;
            let reply = Message::response(tid, id, Response::default(), out[0].0).encode();
            node.incoming(public, &reply, &cfg, now);
            assert_eq!(node.table.contains(&id), admitted, "enforce={enforce} id={id}");
        }
    }

    #[test]
    fn a_flooding_ip_is_blocked_and_the_upload_limit_drops_replies() {
        let cfg = Config { block_ratelimit: 5, upload_rate_limit: 0, ..open_config() };
        let now = Instant::now();
        let mut node = Node::new(NodeId::random(), Arc::new(Counters::new()), now);
        let flood: SocketAddr = "198.51.100.1:1".parse().unwrap();
        let ping = query(b"pp", NodeId::random(), Query::Ping, false);
        let answered = (0..100).filter(|_| !answer(&mut node, &cfg, flood, &ping, now).is_empty()).count();
        assert_eq!(answered, 50, "5 a second over 10 seconds, then blocked");
        assert_eq!(node.counters.get(Metric::DhtBlockedSenders), 1);
        assert_eq!(node.counters.get(Metric::DhtMessagesInDropped), 50);
        // The upload limit: 200 bytes a second allows a few replies, then drops.
        let cfg = Config { upload_rate_limit: 200, ..open_config() };
        let mut node = Node::new(NodeId::random(), Arc::new(Counters::new()), now);
        let later = now + Duration::from_secs(1);
        // Read-only senders, so the node does not ping them back.
        let ro_ping = query(b"pp", NodeId::random(), Query::Ping, true);
        let sent = (0..20u8)
            .filter(|i| {
                !answer(&mut node, &cfg, SocketAddr::from(([10, 0, 0, *i], 1)), &ro_ping, later).is_empty()
            })
            .count();
        assert!(sent > 0 && sent < 20, "{sent} replies within 200 bytes");
        assert_eq!(node.counters.get(Metric::DhtMessagesOutDropped), 20 - sent as i64);
    }

    #[test]
    fn unanswered_queries_time_out_and_fail_the_node() {
        let cfg = Config { max_fail_count: 1, ..open_config() };
        let now = Instant::now();
        let mut node = Node::new(NodeId::random(), Arc::new(Counters::new()), now);
        let peer: SocketAddr = "10.0.0.5:1".parse().unwrap();
        let id = NodeId::random();
        node.table.node_seen(NodeEntry { id, addr: peer }, true, Admission { restrict_ips: false }, now);
        node.get_peers(NodeId::random(), None, &cfg, now);
        assert_eq!(node.counters.get(Metric::DhtAllocatedObservers), 1);
        node.tick(&cfg, now + QUERY_TIMEOUT);
        assert_eq!(node.counters.get(Metric::DhtAllocatedObservers), 0);
        assert!(!node.table.contains(&id), "removed after dht_max_fail_count failures");
        let (_, events) = node.drain();
        assert!(events.iter().any(|e| matches!(e, Event::LookupDone { num_peers: 0, .. })));
    }
}
