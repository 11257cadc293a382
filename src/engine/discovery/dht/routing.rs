//! The routing table: the nodes we know, in k-buckets by how many leading
//! bits their id shares with ours (BEP 5).
//!
//! Bucket `i` holds nodes whose id shares exactly `i` leading bits with
//! ours, so the table is the fully split form of BEP 5's tree: the buckets
//! far from us fill first and the close ones stay nearly empty. Each bucket
//! keeps up to `K` nodes that answered us and a replacement cache of up to
//! `K` more, which take the place of nodes that stop answering.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::proto::dht::{NodeEntry, NodeId};

/// Nodes per bucket (BEP 5's k).
pub const K: usize = 8;
/// A bucket with no node heard from for this long is refreshed with a
/// lookup of a random id in it (BEP 5: 15 minutes).
pub const BUCKET_REFRESH: Duration = Duration::from_secs(15 * 60);
/// A node not heard from for this long is pinged to check it is alive.
pub const NODE_STALE: Duration = Duration::from_secs(15 * 60);

/// One known node.
#[derive(Clone, Debug)]
pub struct Node {
    pub id: NodeId,
    pub addr: SocketAddr,
    /// When it last answered a query of ours or sent us one.
    pub last_seen: Instant,
    /// Queries of ours it left unanswered since its last answer.
    pub fail_count: u32,
    /// It has answered one of our queries (not only queried us).
    pub confirmed: bool,
}

impl Node {
    pub fn entry(&self) -> NodeEntry {
        NodeEntry { id: self.id, addr: self.addr }
    }
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    live: Vec<Node>,
    replacements: Vec<Node>,
    /// When a node of this bucket last answered (or the bucket was last refreshed).
    last_active: Option<Instant>,
}

/// The rules a node must pass to enter the table.
#[derive(Clone, Copy, Debug)]
pub struct Admission {
    /// At most one node per /24 (IPv4) or /64 (IPv6) in a bucket.
    pub restrict_ips: bool,
}

/// The routing table of one DHT node.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Bucket>,
}

/// Whether two addresses are in the same /24 (IPv4) or /64 (IPv6).
fn same_prefix(a: &IpAddr, b: &IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
        (IpAddr::V6(a), IpAddr::V6(b)) => a.octets()[..8] == b.octets()[..8],
        _ => false,
    }
}

impl RoutingTable {
    pub fn new(own: NodeId) -> RoutingTable {
        RoutingTable { own, buckets: vec![Bucket::default(); 160] }
    }

    pub fn own_id(&self) -> NodeId {
        self.own
    }

    fn bucket_index(&self, id: &NodeId) -> Option<usize> {
        let bits = self.own.common_prefix_bits(id);
        (bits < 160).then_some(bits)
    }

    /// A node answered us (`confirmed`) or queried us: it is added, moved
    /// to the front of its bucket's fresh nodes, or cached as a
    /// replacement when the bucket is full of nodes that answer.
    /// Answers whether the node is now in the live part of the table.
    pub fn node_seen(&mut self, entry: NodeEntry, confirmed: bool, rules: Admission, now: Instant) -> bool {
        let Some(i) = self.bucket_index(&entry.id) else { return false };
        let b = &mut self.buckets[i];
        if let Some(n) = b.live.iter_mut().find(|n| n.id == entry.id) {
            if n.addr != entry.addr {
                // Same id from another address: keep the one we know
                // answers (BEP 42 discourages id reuse; an attacker may try).
                return true;
            }
            n.last_seen = now;
            if confirmed {
                n.fail_count = 0;
                n.confirmed = true;
                b.last_active = Some(now);
            }
            return true;
        }
        if rules.restrict_ips && b.live.iter().any(|n| same_prefix(&n.addr.ip(), &entry.addr.ip())) {
            return false;
        }
        let node = Node { id: entry.id, addr: entry.addr, last_seen: now, fail_count: 0, confirmed };
        if confirmed {
            b.last_active = Some(now);
        }
        if b.live.len() < K && confirmed {
            b.replacements.retain(|n| n.id != entry.id);
            b.live.push(node);
            return true;
        }
        // Full: a node that stopped answering makes room for one that answers.
        if confirmed {
            if let Some(worst) =
                b.live.iter().enumerate().filter(|(_, n)| n.fail_count > 0).max_by_key(|(_, n)| n.fail_count)
            {
                let w = worst.0;
                b.replacements.retain(|n| n.id != entry.id);
                b.live[w] = node;
                return true;
            }
        }
        if let Some(r) = b.replacements.iter_mut().find(|n| n.id == entry.id) {
            r.last_seen = now;
            r.addr = entry.addr;
            r.confirmed |= confirmed;
            return false;
        }
        if b.replacements.len() >= K {
            // The oldest unconfirmed one goes first, then the oldest.
            let victim = b
                .replacements
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| (n.confirmed, n.last_seen))
                .map(|(i, _)| i)
                .unwrap_or(0);
            b.replacements.remove(victim);
        }
        b.replacements.push(node);
        false
    }

    /// Whether a node with this id would go into the live part of its
    /// bucket (there is room): such a node is worth a ping.
    pub fn wants(&self, id: &NodeId) -> bool {
        self.bucket_index(id).is_some_and(|i| {
            let b = &self.buckets[i];
            b.live.len() < K && !b.live.iter().any(|n| n.id == *id)
        })
    }

    /// Whether `id` is in the live part of the table.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.bucket_index(id).is_some_and(|i| self.buckets[i].live.iter().any(|n| n.id == *id))
    }

    /// A query to the node at `addr` with id `id` went unanswered. After
    /// `max_fail` failures in a row the node is removed and the freshest
    /// confirmed replacement takes its place.
    pub fn node_failed(&mut self, id: &NodeId, addr: SocketAddr, max_fail: u32) {
        let Some(i) = self.bucket_index(id) else { return };
        let b = &mut self.buckets[i];
        b.replacements.retain(|n| !(n.id == *id && n.addr == addr));
        let Some(pos) = b.live.iter().position(|n| n.id == *id && n.addr == addr) else { return };
        b.live[pos].fail_count += 1;
        // A node that never answered does not get many chances.
        let limit = if b.live[pos].confirmed { max_fail } else { 1 };
        if b.live[pos].fail_count >= limit {
            b.live.remove(pos);
            if let Some(best) = b
                .replacements
                .iter()
                .enumerate()
                .filter(|(_, n)| n.confirmed)
                .max_by_key(|(_, n)| n.last_seen)
                .map(|(i, _)| i)
            {
                let n = b.replacements.remove(best);
                b.live.push(n);
            }
        }
    }

    /// Up to `count` live nodes closest to `target`, closest first.
    pub fn closest(&self, target: &NodeId, count: usize) -> Vec<NodeEntry> {
        let mut all: Vec<&Node> = self.buckets.iter().flat_map(|b| b.live.iter()).collect();
        all.sort_by(|a, b| target.cmp_distance(&a.id, &b.id));
        all.into_iter().take(count).map(Node::entry).collect()
    }

    /// The depth libtorrent's splitting table would have with these live
    /// nodes: its last bucket holds every node sharing at least `depth - 1`
    /// leading bits with our id and splits when that is more than `K`.
    /// A shallow table knows few nodes near us.
    pub fn depth(&self) -> usize {
        let mut sharing = self.buckets.iter().map(|b| b.live.len()).sum::<usize>();
        for (d, b) in self.buckets.iter().enumerate() {
            if sharing <= K {
                return d + 1;
            }
            sharing -= b.live.len();
        }
        self.buckets.len()
    }

    /// The number of live nodes and of replacements.
    pub fn size(&self) -> (usize, usize) {
        self.buckets.iter().fold((0, 0), |(l, r), b| (l + b.live.len(), r + b.replacements.len()))
    }

    /// Per bucket that holds anything: (index, live nodes, replacements).
    pub fn bucket_sizes(&self) -> Vec<(usize, usize, usize)> {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.live.is_empty() || !b.replacements.is_empty())
            .map(|(i, b)| (i, b.live.len(), b.replacements.len()))
            .collect()
    }

    /// Every live node (for the saved state).
    pub fn all_nodes(&self) -> Vec<NodeEntry> {
        self.buckets.iter().flat_map(|b| b.live.iter().map(Node::entry)).collect()
    }

    /// The live node least recently heard from, if it is older than
    /// `NODE_STALE` (one per call: liveness pings are spread out).
    pub fn stale_node(&self, now: Instant) -> Option<NodeEntry> {
        self.buckets
            .iter()
            .flat_map(|b| b.live.iter())
            .filter(|n| now.duration_since(n.last_seen) >= NODE_STALE)
            .min_by_key(|n| n.last_seen)
            .map(Node::entry)
    }

    /// The depth of a bucket to refresh: the shallowest one that is not
    /// empty-and-beyond-the-deepest-used and was not active for
    /// `BUCKET_REFRESH`. Marks it active so it is not picked again at once.
    pub fn bucket_to_refresh(&mut self, now: Instant) -> Option<usize> {
        let deepest = self.buckets.iter().rposition(|b| !b.live.is_empty())?;
        let i = (0..=deepest).find(|i| {
            let b = &self.buckets[*i];
            b.last_active.is_none_or(|t| now.duration_since(t) >= BUCKET_REFRESH)
        })?;
        self.buckets[i].last_active = Some(now);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Admission = Admission { restrict_ips: false };

    fn node_at(own: &NodeId, depth: usize, n: u16) -> NodeEntry {
        NodeEntry {
            id: own.random_at_depth(depth),
            addr: SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 6881)),
        }
    }

    #[test]
    fn buckets_hold_k_and_cache_k_replacements() {
        let own = NodeId::random();
        let mut t = RoutingTable::new(own);
        let now = Instant::now();
        let nodes: Vec<_> = (0..20).map(|n| node_at(&own, 0, n)).collect();
        for n in &nodes {
            t.node_seen(*n, true, OPEN, now);
        }
        assert_eq!(t.size(), (K, K), "8 live, 8 replacements, the rest dropped");
        assert_eq!(t.bucket_sizes(), vec![(0, K, K)]);
        // A live node fails: once it is out, a confirmed replacement moves in.
        for _ in 0..3 {
            t.node_failed(&nodes[0].id, nodes[0].addr, 3);
        }
        assert!(!t.contains(&nodes[0].id));
        assert_eq!(t.size(), (K, K - 1));
        assert!(t.closest(&own, 100).len() == K);
    }

    #[test]
    fn unconfirmed_nodes_wait_and_ip_restriction_applies() {
        let own = NodeId::random();
        let mut t = RoutingTable::new(own);
        let now = Instant::now();
        let a = node_at(&own, 3, 1);
        assert!(!t.node_seen(a, false, OPEN, now), "a node that only queried us is not live");
        assert!(t.wants(&a.id));
        assert!(t.node_seen(a, true, OPEN, now));
        let same_net = NodeEntry { id: own.random_at_depth(3), addr: "10.0.0.77:1".parse().unwrap() };
        assert!(!t.node_seen(same_net, true, Admission { restrict_ips: true }, now));
        assert!(t.node_seen(same_net, true, OPEN, now));
    }

    /// Memory of a table that heard of 100,000 nodes spread over the id
    /// space, as a node in a large DHT does: only the buckets near our id
    /// depth are full, so it stays small.
    #[test]
    fn a_full_table_stays_small() {
        let own = NodeId::random();
        let mut t = RoutingTable::new(own);
        let now = Instant::now();
        for n in 0..100_000u32 {
            let entry = NodeEntry { id: NodeId::random(), addr: SocketAddr::from((n.to_be_bytes(), 6881)) };
            t.node_seen(entry, true, OPEN, now);
        }
        let (live, cached) = t.size();
        let heap: usize = t
            .buckets
            .iter()
            .map(|b| (b.live.capacity() + b.replacements.capacity()) * std::mem::size_of::<Node>())
            .sum();
        let total = heap + std::mem::size_of_val(t.buckets.as_slice());
        println!(
            "{live} live + {cached} cached nodes in {} buckets: {} bytes per entry, {total} bytes in all",
            t.bucket_sizes().len(),
            std::mem::size_of::<Node>()
        );
        assert!((100..=160 * K).contains(&live), "{live} live nodes");
        assert!(total < 64 * 1024, "{total} bytes");
    }

    /// The depth follows libtorrent's splitting table: one bucket until
    /// more than `K` nodes are known, then one more for each level at which
    /// more than `K` nodes share that many leading bits with us.
    #[test]
    fn depth_is_that_of_a_splitting_table() {
        let own = NodeId::random();
        let mut t = RoutingTable::new(own);
        let now = Instant::now();
        let mut port = 1;
        let mut add = |t: &mut RoutingTable, depth: usize, count: u16| {
            for _ in 0..count {
                t.node_seen(node_at(&own, depth, port), true, OPEN, now);
                port += 1;
            }
        };
        assert_eq!(t.depth(), 1);
        add(&mut t, 0, 5);
        add(&mut t, 1, 3);
        assert_eq!(t.depth(), 1, "eight nodes fit one bucket");
        add(&mut t, 2, 1);
        assert_eq!(t.depth(), 2, "nine do not: the four sharing a bit split off");
        add(&mut t, 3, 5);
        assert_eq!(t.depth(), 3);
    }

    #[test]
    fn closest_orders_by_xor_distance() {
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own);
        let now = Instant::now();
        for d in [1usize, 5, 40, 100] {
            t.node_seen(node_at(&own, d, d as u16), true, OPEN, now);
        }
        let target = own.random_at_depth(100);
        let got = t.closest(&target, 2);
        assert_eq!(own.common_prefix_bits(&got[0].id), 100);
        assert_eq!(own.common_prefix_bits(&got[1].id), 40);
        assert_eq!(t.bucket_to_refresh(now + BUCKET_REFRESH), Some(0));
        assert_eq!(t.bucket_to_refresh(now + BUCKET_REFRESH), Some(1), "refreshed ones are skipped");
    }
}
