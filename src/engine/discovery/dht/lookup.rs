//! Iterative lookups (BEP 5, Kademlia's node lookup): ask the closest
//! nodes known for the nodes they know closer to the target, a few queries
//! at a time, until the `K` closest nodes that answer have all answered.
//!
//! Sans-IO: the node feeds answers, failures and the branching factor in,
//! and sends the queries this asks for.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::routing::K;
use crate::proto::dht::{NodeEntry, NodeId};

/// Most candidates a lookup keeps (closest first); farther ones would
/// never be queried.
const MAX_CANDIDATES: usize = 100;

/// What a lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// find_node of our own id from the bootstrap nodes and saved nodes.
    Bootstrap,
    /// find_node of a random id in a bucket not heard from for a while.
    Refresh,
    /// get_peers of an info-hash, then announce_peer to the closest nodes
    /// when `announce` is set.
    GetPeers { announce: Option<AnnounceArgs> },
}

/// Our announce: the port peers reach us on, and whether we are a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnounceArgs {
    pub port: u16,
    pub seed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    InFlight,
    /// In flight past the short timeout: another query goes out in its place.
    Slow,
    Answered,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    /// Unknown for a bootstrap node until it answers.
    id: Option<NodeId>,
    addr: SocketAddr,
    state: State,
    token: Option<Vec<u8>>,
}

/// One running lookup.
#[derive(Clone, Debug)]
pub struct Lookup {
    pub target: NodeId,
    pub kind: LookupKind,
    candidates: Vec<Candidate>,
    /// One candidate per IP address (`dht_restrict_search_ips`).
    restrict_ips: bool,
    /// Peers found so far (get_peers), to report each once.
    peers: HashSet<SocketAddr>,
}

impl Lookup {
    /// A lookup of `target` starting from `start` (known nodes) and
    /// `bootstrap` (addresses whose ids are unknown).
    pub fn new(
        target: NodeId,
        kind: LookupKind,
        start: &[NodeEntry],
        bootstrap: &[SocketAddr],
        restrict_ips: bool,
    ) -> Lookup {
        let mut l = Lookup { target, kind, candidates: Vec::new(), restrict_ips, peers: HashSet::new() };
        for addr in bootstrap {
            l.insert(None, *addr);
        }
        l.add_nodes(start);
        l
    }

    fn insert(&mut self, id: Option<NodeId>, addr: SocketAddr) {
        let clash = |c: &Candidate| {
            c.addr == addr || id.is_some() && c.id == id || self.restrict_ips && c.addr.ip() == addr.ip()
        };
        if self.candidates.iter().any(clash) {
            return;
        }
        self.candidates.push(Candidate { id, addr, state: State::New, token: None });
        self.sort();
    }

    /// Unknown ids first (bootstrap nodes must be asked), then by distance.
    fn sort(&mut self) {
        let target = self.target;
        self.candidates.sort_by_key(|c| c.id.map(|id| target.distance(&id)));
        // Drop the farthest that were never asked.
        while self.candidates.len() > MAX_CANDIDATES {
            match self.candidates.iter().rposition(|c| c.state == State::New) {
                Some(i) => {
                    self.candidates.remove(i);
                }
                None => break,
            }
        }
    }

    /// Adds nodes an answer named.
    pub fn add_nodes(&mut self, nodes: &[NodeEntry]) {
        for n in nodes {
            self.insert(Some(n.id), n.addr);
        }
    }

    /// The queries to send now, given `branching` queries in flight at
    /// most: the closest candidates not yet asked, among the `K` closest
    /// that have not failed. They are marked in flight.
    pub fn next_queries(&mut self, branching: usize) -> Vec<(Option<NodeId>, SocketAddr)> {
        let mut in_flight = self.candidates.iter().filter(|c| c.state == State::InFlight).count();
        let mut considered = 0;
        let mut out = Vec::new();
        for c in self.candidates.iter_mut() {
            if considered >= K || in_flight >= branching {
                break;
            }
            match c.state {
                State::Failed | State::Slow => continue,
                State::Answered | State::InFlight => considered += 1,
                State::New => {
                    c.state = State::InFlight;
                    in_flight += 1;
                    considered += 1;
                    out.push((c.id, c.addr));
                }
            }
        }
        out
    }

    /// Whether the lookup is over: the `K` closest candidates that did not
    /// fail or stall have all answered, or nothing is left to ask.
    pub fn is_done(&self) -> bool {
        let live = || self.candidates.iter().filter(|c| !matches!(c.state, State::Failed | State::Slow));
        let waiting = live().take(K).any(|c| matches!(c.state, State::New | State::InFlight));
        !waiting
    }

    fn find(&mut self, addr: &SocketAddr) -> Option<&mut Candidate> {
        self.candidates.iter_mut().find(|c| c.addr == *addr)
    }

    /// `addr` answered as node `id` with `nodes`, `values` and a `token`.
    /// Answers the peers not reported before.
    pub fn on_answer(
        &mut self,
        addr: &SocketAddr,
        id: NodeId,
        nodes: &[NodeEntry],
        values: &[SocketAddr],
        token: Option<Vec<u8>>,
    ) -> Vec<SocketAddr> {
        if let Some(c) = self.find(addr) {
            c.state = State::Answered;
            c.token = token;
            c.id = Some(id);
        }
        self.sort();
        self.add_nodes(nodes);
        values.iter().copied().filter(|p| self.peers.insert(*p)).collect()
    }

    /// A query to `addr` passed the short timeout.
    pub fn on_slow(&mut self, addr: &SocketAddr) {
        if let Some(c) = self.find(addr) {
            if c.state == State::InFlight {
                c.state = State::Slow;
            }
        }
    }

    /// A query to `addr` failed (timed out, error reply, bad node id).
    pub fn on_failure(&mut self, addr: &SocketAddr) {
        if let Some(c) = self.find(addr) {
            c.state = State::Failed;
        }
    }

    /// The `K` closest nodes that answered with a token: where our
    /// announce_peer goes.
    pub fn announce_targets(&self) -> Vec<(NodeId, SocketAddr, Vec<u8>)> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Answered)
            .take(K)
            .filter_map(|c| Some((c.id?, c.addr, c.token.clone()?)))
            .collect()
    }

    /// Peers found so far.
    pub fn num_peers(&self) -> usize {
        self.peers.len()
    }

    /// Candidates that answered, and queries in flight.
    pub fn progress(&self) -> (usize, usize) {
        let count = |s: &[State]| self.candidates.iter().filter(|c| s.contains(&c.state)).count();
        (count(&[State::Answered]), count(&[State::InFlight, State::Slow]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(target: &NodeId, depth: usize, port: u16) -> NodeEntry {
        NodeEntry { id: target.random_at_depth(depth), addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    #[test]
    fn converges_on_the_closest_and_bounds_parallelism() {
        let target = NodeId::random();
        let start: Vec<_> = (0..10).map(|i| entry(&target, i, 1000 + i as u16)).collect();
        let mut l = Lookup::new(target, LookupKind::Refresh, &start, &[], false);
        let first = l.next_queries(3);
        assert_eq!(first.len(), 3, "branching bounds the queries in flight");
        assert!(l.next_queries(3).is_empty());
        // The closest answers with nodes closer still; they are asked next.
        let closer: Vec<_> = (50..53).map(|i| entry(&target, i, 2000 + i as u16)).collect();
        let (_, addr) = first[0];
        l.on_answer(&addr, NodeId::random(), &closer, &[], None);
        let next = l.next_queries(3);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].1, closer[2].addr, "the closest new node first");
        assert!(!l.is_done());
        // Everyone else fails or answers: the lookup ends.
        for _ in 0..20 {
            for (_, a) in l.next_queries(3) {
                l.on_failure(&a);
            }
            for a in [first[1].1, first[2].1, next[0].1] {
                l.on_failure(&a);
            }
        }
        assert!(l.is_done());
    }

    #[test]
    fn bootstrap_nodes_are_asked_first_and_search_ips_restrict() {
        let target = NodeId::random();
        let boot: SocketAddr = "127.0.0.2:6881".parse().unwrap();
        let known = [entry(&target, 100, 1)];
        let mut l = Lookup::new(target, LookupKind::Bootstrap, &known, &[boot], true);
        let q = l.next_queries(1);
        assert_eq!(q, vec![(None, boot)]);
        // A second node on 127.0.0.1 is not a new candidate under the restriction.
        l.add_nodes(&[entry(&target, 120, 2)]);
        assert_eq!(l.next_queries(5).len(), 1);
    }

    #[test]
    fn peers_are_reported_once_and_announce_goes_to_answering_nodes_with_tokens() {
        let target = NodeId::random();
        let start: Vec<_> = (0..3).map(|i| entry(&target, 10 + i, 3000 + i as u16)).collect();
        let mut l = Lookup::new(target, LookupKind::GetPeers { announce: None }, &start, &[], false);
        let q = l.next_queries(5);
        let peer: SocketAddr = "10.0.0.9:51413".parse().unwrap();
        assert_eq!(l.on_answer(&q[0].1, start[0].id, &[], &[peer], Some(b"t1".to_vec())), vec![peer]);
        assert!(l.on_answer(&q[1].1, start[1].id, &[], &[peer], None).is_empty(), "already reported");
        l.on_failure(&q[2].1);
        assert!(l.is_done());
        assert_eq!(l.num_peers(), 1);
        let targets = l.announce_targets();
        assert_eq!(targets.len(), 1, "only the node that gave a token");
        assert_eq!(targets[0].2, b"t1");
    }
}
