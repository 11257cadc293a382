//! What our node keeps for others: write tokens, the peers announced to
//! us per info-hash, and the per-IP rate limit of incoming messages.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use crate::proto::dht::NodeId;

/// How often the token secret changes; a token stays valid for two
/// periods (BEP 5: tokens up to ten minutes old are accepted).
pub const TOKEN_ROTATION: Duration = Duration::from_secs(5 * 60);
/// Length of our tokens (libtorrent's too).
const TOKEN_LEN: usize = 4;

/// Write tokens: the first bytes of SHA-1(secret, IP). Two secrets, the
/// current and the previous, so a token lives 5 to 10 minutes.
pub struct Tokens {
    current: [u8; 16],
    previous: [u8; 16],
    rotated_at: Instant,
}

impl Tokens {
    pub fn new(now: Instant) -> Tokens {
        Tokens { current: rand::random(), previous: rand::random(), rotated_at: now }
    }

    fn make(secret: &[u8; 16], ip: &IpAddr) -> [u8; TOKEN_LEN] {
        let mut h = Sha1::new();
        h.update(secret);
        match ip {
            IpAddr::V4(a) => h.update(a.octets()),
            IpAddr::V6(a) => h.update(a.octets()),
        }
        let d = h.finalize();
        [d[0], d[1], d[2], d[3]]
    }

    /// Rotates the secrets when `TOKEN_ROTATION` has passed.
    pub fn maybe_rotate(&mut self, now: Instant) {
        if now.duration_since(self.rotated_at) >= TOKEN_ROTATION {
            self.previous = self.current;
            self.current = rand::random();
            self.rotated_at = now;
        }
    }

    /// The token we hand to a node at `ip` in a get_peers reply.
    pub fn issue(&self, ip: &IpAddr) -> Vec<u8> {
        Tokens::make(&self.current, ip).to_vec()
    }

    /// Whether `token` was issued by us to `ip` in the last two periods.
    pub fn verify(&self, token: &[u8], ip: &IpAddr) -> bool {
        token == Tokens::make(&self.current, ip) || token == Tokens::make(&self.previous, ip)
    }
}

/// Peers announced to us expire after this (libtorrent: 1.5 times its
/// 30-minute announce interval).
pub const PEER_LIFETIME: Duration = Duration::from_secs(45 * 60);

#[derive(Clone, Copy, Debug)]
struct StoredPeer {
    added: Instant,
    seed: bool,
}

/// The peers announced to us, per info-hash, bounded in both directions.
#[derive(Default)]
pub struct PeerStore {
    torrents: HashMap<NodeId, HashMap<SocketAddr, StoredPeer>>,
}

impl PeerStore {
    /// Records an announce. When the store is at `max_torrents` a new
    /// info-hash replaces the one with the fewest peers (libtorrent's rule:
    /// popular torrents are worth more to the network); a torrent at
    /// `max_peers` drops its oldest peer.
    pub fn announce(
        &mut self,
        ih: NodeId,
        peer: SocketAddr,
        seed: bool,
        now: Instant,
        max_torrents: usize,
        max_peers: usize,
    ) {
        if !self.torrents.contains_key(&ih) && self.torrents.len() >= max_torrents {
            let smallest = self.torrents.iter().min_by_key(|(_, p)| p.len()).map(|(k, _)| *k);
            if let Some(k) = smallest {
                self.torrents.remove(&k);
            }
        }
        let peers = self.torrents.entry(ih).or_default();
        if !peers.contains_key(&peer) && peers.len() >= max_peers {
            if let Some(oldest) = peers.iter().min_by_key(|(_, p)| p.added).map(|(a, _)| *a) {
                peers.remove(&oldest);
            }
        }
        peers.insert(peer, StoredPeer { added: now, seed });
    }

    /// Up to `max` peers of `ih` in random order (so every peer gets
    /// handed out), without seeds when `noseed` (BEP 33).
    pub fn get(&self, ih: &NodeId, max: usize, noseed: bool) -> Vec<SocketAddr> {
        use rand::seq::IteratorRandom;
        let Some(peers) = self.torrents.get(ih) else { return Vec::new() };
        peers
            .iter()
            .filter(|(_, p)| !(noseed && p.seed))
            .map(|(a, _)| *a)
            .choose_multiple(&mut rand::thread_rng(), max)
    }

    /// Drops expired peers and torrents left without peers.
    pub fn expire(&mut self, now: Instant) {
        self.torrents.retain(|_, peers| {
            peers.retain(|_, p| now.duration_since(p.added) < PEER_LIFETIME);
            !peers.is_empty()
        });
    }

    /// The number of info-hashes and of peers stored.
    pub fn size(&self) -> (usize, usize) {
        (self.torrents.len(), self.torrents.values().map(HashMap::len).sum())
    }
}

/// The window over which incoming messages are counted per IP.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// Senders tracked at once; beyond it the quietest is forgotten, so a
/// flood of spoofed sources cannot grow the table.
const MAX_TRACKED_SENDERS: usize = 256;

#[derive(Clone, Copy, Debug)]
struct Sender {
    count: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
}

/// Drops the messages of an IP that sends more than `rate` a second on
/// average over 10 seconds, and ignores it for `block` afterwards (the
/// `dht_block_ratelimit` and `dht_block_timeout` settings).
#[derive(Default)]
pub struct RateLimiter {
    senders: HashMap<IpAddr, Sender>,
}

/// The verdict on one incoming message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// The sender is (still) blocked.
    Drop,
    /// The sender just exceeded the limit and is blocked from now on.
    Block,
}

impl RateLimiter {
    pub fn check(&mut self, ip: IpAddr, now: Instant, rate: u32, block: Duration) -> Verdict {
        if !self.senders.contains_key(&ip) && self.senders.len() >= MAX_TRACKED_SENDERS {
            let quietest = self
                .senders
                .iter()
                .filter(|(_, s)| s.blocked_until.is_none_or(|t| t <= now))
                .min_by_key(|(_, s)| s.count)
                .map(|(ip, _)| *ip);
            match quietest {
                Some(q) => {
                    self.senders.remove(&q);
                }
                // Every tracked sender is blocked: a newcomer in a flood is dropped.
                None => return Verdict::Drop,
            }
        }
        let s = self.senders.entry(ip).or_insert(Sender { count: 0, window_start: now, blocked_until: None });
        if let Some(until) = s.blocked_until {
            if now < until {
                return Verdict::Drop;
            }
            *s = Sender { count: 0, window_start: now, blocked_until: None };
        }
        if now.duration_since(s.window_start) >= RATE_WINDOW {
            s.count = 0;
            s.window_start = now;
        }
        s.count += 1;
        if s.count > rate.saturating_mul(RATE_WINDOW.as_secs() as u32) {
            s.blocked_until = Some(now + block);
            return Verdict::Block;
        }
        Verdict::Accept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_rotate_and_bind_to_the_ip() {
        let t0 = Instant::now();
        let mut tokens = Tokens::new(t0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let tok = tokens.issue(&ip);
        assert_eq!(tok.len(), TOKEN_LEN);
        assert!(tokens.verify(&tok, &ip));
        assert!(!tokens.verify(&tok, &other), "a token is for one IP");
        assert!(!tokens.verify(b"nope", &ip));
        tokens.maybe_rotate(t0 + Duration::from_secs(60));
        assert!(tokens.verify(&tok, &ip), "no rotation before 5 minutes");
        tokens.maybe_rotate(t0 + TOKEN_ROTATION);
        assert!(tokens.verify(&tok, &ip), "the previous secret still counts");
        assert_ne!(tokens.issue(&ip), tok);
        tokens.maybe_rotate(t0 + TOKEN_ROTATION * 2);
        assert!(!tokens.verify(&tok, &ip), "two rotations later it is refused");
    }

    #[test]
    fn peer_store_is_bounded_and_expires() {
        let now = Instant::now();
        let mut s = PeerStore::default();
        let ih = |b: u8| NodeId([b; 20]);
        let peer = |n: u16| SocketAddr::new([10, 0, 0, 1].into(), n);
        for n in 1..=10 {
            s.announce(ih(1), peer(n), n % 2 == 0, now + Duration::from_secs(n as u64), 2, 4);
        }
        assert_eq!(s.size(), (1, 4), "at most 4 peers per torrent");
        assert_eq!(s.get(&ih(1), 100, false).len(), 4);
        assert_eq!(s.get(&ih(1), 2, false).len(), 2, "dht_max_peers_reply");
        assert_eq!(s.get(&ih(1), 100, true).len(), 2, "noseed leaves out the seeds");
        s.announce(ih(2), peer(1), false, now, 2, 4);
        s.announce(ih(3), peer(1), false, now, 2, 4);
        assert_eq!(s.size().0, 2, "at most 2 torrents");
        assert_eq!(s.get(&ih(1), 100, false).len(), 4, "the biggest one stays");
        s.expire(now + PEER_LIFETIME + Duration::from_secs(10));
        assert_eq!(s.size(), (0, 0));
    }

    #[test]
    fn rate_limiter_blocks_a_flood_then_forgives() {
        let now = Instant::now();
        let mut r = RateLimiter::default();
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let block = Duration::from_secs(300);
        let accepted = (0..100).filter(|_| r.check(ip, now, 5, block) == Verdict::Accept).count();
        assert_eq!(accepted, 50, "5 a second over 10 seconds");
        assert_eq!(r.check(ip, now + Duration::from_secs(60), 5, block), Verdict::Drop, "still blocked");
        assert_eq!(
            r.check("198.51.100.8".parse().unwrap(), now, 5, block),
            Verdict::Accept,
            "others are not"
        );
        assert_eq!(r.check(ip, now + block, 5, block), Verdict::Accept, "forgiven after the timeout");
    }
}
