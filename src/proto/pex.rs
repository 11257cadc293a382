//! Peer exchange (BEP 11): the payload of the `ut_pex` extended message,
//! and the pure bookkeeping around it (what changed since the last message,
//! how often a peer may send one).
//!
//! The payload is a bencoded dictionary:
//! `added` (compact IPv4 peers, 6 bytes each), `added.f` (one flag byte per
//! added IPv4 peer), `dropped`, and the IPv6 forms `added6`, `added6.f`,
//! `dropped6` (18 bytes per peer).
//!
//! The limits are libtorrent's (src/ut_pex.cpp, 2.0): it lists at most 100
//! added peers in one message (`max_peer_entries`), rebuilds and sends the
//! message at most once a minute, refuses a payload over 500 KiB
//! (`pex_message_too_large`, the peer is disconnected), and disconnects a
//! peer that sends a seventh message within 60 seconds (`too_frequent_pex`:
//! it remembers the times of the last six, so a burst that waited behind a
//! rate limit is not punished). It takes at most `max_pex_peers` (50)
//! addresses from one connection in total, which the engine applies across
//! messages with [`MAX_PEX_PEERS`].

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::bencode::{self, Value};

/// The extension's name in the BEP 10 handshake's `m` dictionary.
pub const EXTENSION_NAME: &str = "ut_pex";

/// Largest payload accepted: libtorrent disconnects a peer whose `ut_pex`
/// message is longer (`pex_message_too_large`).
pub const MAX_PAYLOAD_LEN: usize = 500 * 1024;

/// Most added peers (IPv4 and IPv6 together) one message carries: what
/// libtorrent sends at most (`max_peer_entries`). Dropped peers have the
/// same bound. Decoding keeps the first this many of each list and ignores
/// the rest; honest senders stay within it (the µTorrent and Azureus
/// convention is 50), and a message built by [`PexState`] never exceeds it.
pub const MAX_PEERS_PER_MESSAGE: usize = 100;

/// Most peer addresses taken through PEX from one connection in total:
/// libtorrent's `max_pex_peers` default. A peer's `dropped` entries free
/// room again. The engine applies it; decoding cannot, as it spans messages.
pub const MAX_PEX_PEERS: usize = 50;

/// How often a message is sent to one peer: once a minute, as libtorrent
/// and BEP 11's "no more than once per minute" ask.
pub const SEND_INTERVAL: Duration = Duration::from_secs(60);

/// Messages a peer may send within [`SEND_INTERVAL`] before it is
/// disconnected for flooding: libtorrent keeps the times of the last six
/// and refuses a seventh within 60 seconds of the oldest.
pub const MAX_MESSAGES_PER_INTERVAL: usize = 6;

/// Bencode limits for the payload: a flat dictionary of strings. Extra keys
/// from other extensions fit; deep or huge structures are refused.
const LIMITS: bencode::Limits = bencode::Limits { max_depth: 4, max_items: 256 };

const V4_LEN: usize = 6;
const V6_LEN: usize = 18;

/// The flag byte BEP 11 sends with each added peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// The peer prefers encrypted connections (MSE).
    pub const ENCRYPTION: PexFlags = PexFlags(0x01);
    /// The peer is a seed or upload-only.
    pub const SEED: PexFlags = PexFlags(0x02);
    /// The peer supports uTP.
    pub const UTP: PexFlags = PexFlags(0x04);
    /// The peer supports the `ut_holepunch` extension (BEP 55).
    pub const HOLEPUNCH: PexFlags = PexFlags(0x08);
    /// The sender connected to the peer itself: the address is reachable.
    pub const REACHABLE: PexFlags = PexFlags(0x10);
    /// Every bit BEP 11 defines. Others are cleared when decoding, as
    /// libtorrent clears its internal 0x80 bit: a stray bit must not
    /// mean something once a later version gives it a meaning.
    pub const KNOWN: PexFlags = PexFlags(0x1f);

    pub fn contains(self, other: PexFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for PexFlags {
    type Output = PexFlags;
    fn bitor(self, rhs: PexFlags) -> PexFlags {
        PexFlags(self.0 | rhs.0)
    }
}

/// Why a `ut_pex` payload was refused. libtorrent disconnects the peer for
/// each of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PexError {
    #[error("ut_pex message of {0} bytes, more than {MAX_PAYLOAD_LEN}")]
    TooLarge(usize),
    #[error("ut_pex message: {0}")]
    Bencode(String),
    #[error("ut_pex message is not a dictionary")]
    NotADictionary,
}

/// One `ut_pex` message: peers the sender connected to since its last
/// message (with their flags) and peers it disconnected from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PexMessage {
    pub added: Vec<(SocketAddr, PexFlags)>,
    pub dropped: Vec<SocketAddr>,
}

impl PexMessage {
    /// Parses a payload. Strict about shape (a bencoded dictionary of at
    /// most [`MAX_PAYLOAD_LEN`] bytes), tolerant as libtorrent's `bdecode`
    /// is about form (keys in any order, the first of repeated keys wins,
    /// bytes after the dictionary ignored) and about content: a missing key or one of the wrong type is an empty list; a list
    /// whose length is not a multiple of 6 (18) bytes is read up to its
    /// last whole entry; a missing or short `added.f` gives the peers
    /// without a flag byte no flags (libtorrent then ignores the whole
    /// `added` list, which loses peers for no safety gain); addresses with
    /// port 0, unspecified, multicast or broadcast addresses are skipped;
    /// each list is cut at [`MAX_PEERS_PER_MESSAGE`].
    pub fn decode(payload: &[u8]) -> Result<PexMessage, PexError> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(PexError::TooLarge(payload.len()));
        }
        let (v, _) =
            bencode::decode_lenient(payload, LIMITS).map_err(|e| PexError::Bencode(e.to_string()))?;
        if v.as_dict().is_none() {
            return Err(PexError::NotADictionary);
        }
        let bytes = |key: &str| v.get(key).and_then(Value::as_bytes).unwrap_or_default();
        let mut added = Vec::new();
        for (list, flags, len) in [("added", "added.f", V4_LEN), ("added6", "added6.f", V6_LEN)] {
            let flags = bytes(flags);
            for (i, entry) in bytes(list).chunks_exact(len).enumerate() {
                if added.len() == MAX_PEERS_PER_MESSAGE {
                    break;
                }
                let f = flags.get(i).map_or(PexFlags::default(), |b| PexFlags(b & PexFlags::KNOWN.0));
                added.extend(compact_addr(entry).map(|a| (a, f)));
            }
        }
        let mut dropped = Vec::new();
        for (list, len) in [("dropped", V4_LEN), ("dropped6", V6_LEN)] {
            let room = MAX_PEERS_PER_MESSAGE - dropped.len();
            dropped.extend(bytes(list).chunks_exact(len).filter_map(compact_addr).take(room));
        }
        Ok(PexMessage { added, dropped })
    }

    /// The payload to send. Every key is present, empty lists too, as
    /// libtorrent sends them. IPv4-mapped IPv6 addresses go in the IPv4
    /// lists. The caller keeps the lists within [`MAX_PEERS_PER_MESSAGE`]
    /// ([`PexState`] does).
    pub fn encode(&self) -> Vec<u8> {
        let (mut a4, mut f4, mut a6, mut f6, mut d4, mut d6) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (addr, flags) in &self.added {
            if put_compact(*addr, &mut a4, &mut a6) {
                f4.push(flags.0);
            } else {
                f6.push(flags.0);
            }
        }
        for addr in &self.dropped {
            put_compact(*addr, &mut d4, &mut d6);
        }
        bencode::dict([
            ("added", Value::Bytes(&a4)),
            ("added.f", Value::Bytes(&f4)),
            ("added6", Value::Bytes(&a6)),
            ("added6.f", Value::Bytes(&f6)),
            ("dropped", Value::Bytes(&d4)),
            ("dropped6", Value::Bytes(&d6)),
        ])
        .encode()
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.dropped.is_empty()
    }
}

/// A compact peer (4 or 16 address bytes, then the port, big-endian), or
/// `None` for an address no one can dial.
fn compact_addr(entry: &[u8]) -> Option<SocketAddr> {
    let (ip, port) = entry.split_at(entry.len() - 2);
    let ip = match <[u8; 4]>::try_from(ip) {
        Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
        Err(_) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?)),
    };
    Some(SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]]))).filter(dialable)
}

/// Appends `addr` in compact form to the IPv4 or the IPv6 list; answers
/// whether it went to the IPv4 one.
fn put_compact(addr: SocketAddr, v4: &mut Vec<u8>, v6: &mut Vec<u8>) -> bool {
    let port = addr.port().to_be_bytes();
    match addr.ip().to_canonical() {
        IpAddr::V4(ip) => {
            v4.extend_from_slice(&ip.octets());
            v4.extend_from_slice(&port);
            true
        }
        IpAddr::V6(ip) => {
            v6.extend_from_slice(&ip.octets());
            v6.extend_from_slice(&port);
            false
        }
    }
}

/// What we told one torrent's peers so far, to build the next message as a
/// difference, as libtorrent does: the first message lists the connected
/// peers, later ones what joined and what left since. A message lists at
/// most [`MAX_PEERS_PER_MESSAGE`] added and as many dropped peers; the rest
/// stay untold (or told) and go into the next message.
#[derive(Clone, Debug, Default)]
pub struct PexState {
    advertised: BTreeSet<SocketAddr>,
}

impl PexState {
    /// The next message, given the peers to advertise now (connected peers
    /// we may tell others about, with their flags) in the order to prefer
    /// them; `None` when nothing changed (libtorrent then sends nothing).
    /// Call it at most once per [`SEND_INTERVAL`].
    pub fn next_message(&mut self, current: &[(SocketAddr, PexFlags)]) -> Option<PexMessage> {
        let now: BTreeSet<SocketAddr> = current.iter().map(|(a, _)| *a).collect();
        let mut msg = PexMessage::default();
        for (addr, flags) in current {
            if msg.added.len() == MAX_PEERS_PER_MESSAGE {
                break;
            }
            if dialable(addr) && !self.advertised.contains(addr) && !msg.added.iter().any(|(a, _)| a == addr)
            {
                msg.added.push((*addr, *flags));
            }
        }
        msg.dropped = self.advertised.difference(&now).take(MAX_PEERS_PER_MESSAGE).copied().collect();
        for addr in &msg.dropped {
            self.advertised.remove(addr);
        }
        self.advertised.extend(msg.added.iter().map(|(a, _)| *a));
        (!msg.is_empty()).then_some(msg)
    }

    /// The peers told to others and not dropped since.
    pub fn advertised(&self) -> &BTreeSet<SocketAddr> {
        &self.advertised
    }
}

/// Whether anyone could dial `addr`: decoding skips the others, and
/// [`PexState`] never advertises them.
fn dialable(addr: &SocketAddr) -> bool {
    let ip = addr.ip();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    addr.port() != 0 && !ip.is_unspecified() && !ip.is_multicast() && !broadcast
}

/// The times of one peer's last messages, to refuse a flood as libtorrent
/// does (see [`MAX_MESSAGES_PER_INTERVAL`]).
#[derive(Clone, Debug, Default)]
pub struct InboundRate {
    /// Oldest first; at most `MAX_MESSAGES_PER_INTERVAL` entries.
    recent: std::collections::VecDeque<Instant>,
}

impl InboundRate {
    /// Records a message received at `now`; answers `false` when it is one
    /// too many within [`SEND_INTERVAL`] (the peer should be disconnected).
    pub fn accept(&mut self, now: Instant) -> bool {
        if self.recent.len() == MAX_MESSAGES_PER_INTERVAL {
            let oldest = self.recent[0];
            if now.saturating_duration_since(oldest) < SEND_INTERVAL {
                return false;
            }
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A payload with the given byte strings under the given keys.
    fn payload(pairs: &[(&str, &[u8])]) -> Vec<u8> {
        bencode::dict(pairs.iter().map(|(k, v)| (*k, Value::Bytes(v)))).encode()
    }

    #[test]
    fn round_trip_v4_and_v6_with_flags() {
        let msg = PexMessage {
            added: vec![
                (v4("10.0.0.1:6881"), PexFlags::SEED | PexFlags::REACHABLE),
                (v4("[2001:db8::1]:51413"), PexFlags::UTP),
                (v4("10.0.0.2:1"), PexFlags::default()),
            ],
            dropped: vec![v4("10.0.0.9:9"), v4("[2001:db8::9]:9")],
        };
        let bytes = msg.encode();
        let back = PexMessage::decode(&bytes).unwrap();
        // IPv4 entries come first after a round trip (they have their own list).
        let mut want = msg.added.clone();
        want.sort_by_key(|(a, _)| a.is_ipv6());
        assert_eq!(back.added, want);
        assert_eq!(back.dropped, msg.dropped);
        assert!(back.added[0].1.contains(PexFlags::SEED));
        assert!(!back.added[0].1.contains(PexFlags::UTP));
    }

    #[test]
    fn the_encoding_is_libtorrents() {
        let msg = PexMessage { added: vec![(v4("1.2.3.4:258"), PexFlags::SEED)], dropped: vec![] };
        assert_eq!(
            msg.encode(),
            b"d5:added6:\x01\x02\x03\x04\x01\x027:added.f1:\x026:added60:8:added6.f0:7:dropped0:8:dropped60:e"
        );
    }

    #[test]
    fn missing_keys_and_wrong_types_are_empty_lists() {
        assert_eq!(PexMessage::decode(b"de").unwrap(), PexMessage::default());
        let m = PexMessage::decode(b"d5:addedi5e7:droppedle6:added6d1:xi1eee").unwrap();
        assert_eq!(m, PexMessage::default());
        // Unknown keys are ignored.
        let m = PexMessage::decode(&payload(&[("added", &[9, 9, 9, 9, 0, 80]), ("zz", b"x")])).unwrap();
        assert_eq!(m.added, vec![(v4("9.9.9.9:80"), PexFlags::default())]);
        // Keys out of order, a repeated key (the first wins), bytes after the end.
        let m =
            PexMessage::decode(b"d7:dropped0:5:added6:\x09\x09\x09\x09\x00\x505:added0:e trailing").unwrap();
        assert_eq!(m.added, vec![(v4("9.9.9.9:80"), PexFlags::default())]);
    }

    #[test]
    fn short_or_long_flag_strings() {
        let added = [[1, 1, 1, 1, 0, 1], [2, 2, 2, 2, 0, 2]].concat();
        let m = PexMessage::decode(&payload(&[("added", &added), ("added.f", &[0x02])])).unwrap();
        assert_eq!(m.added, vec![(v4("1.1.1.1:1"), PexFlags::SEED), (v4("2.2.2.2:2"), PexFlags::default())]);
        let m = PexMessage::decode(&payload(&[("added", &added[..6]), ("added.f", &[0x01, 0x02, 0x04])]))
            .unwrap();
        assert_eq!(m.added, vec![(v4("1.1.1.1:1"), PexFlags::ENCRYPTION)]);
        // Bits BEP 11 does not define are cleared.
        let m = PexMessage::decode(&payload(&[("added", &added[..6]), ("added.f", &[0xff])])).unwrap();
        assert_eq!(m.added[0].1, PexFlags::KNOWN);
    }

    #[test]
    fn lengths_not_a_multiple_of_the_entry_size_keep_whole_entries() {
        let mut added = vec![1, 1, 1, 1, 0, 1];
        added.extend_from_slice(&[7, 7, 7]);
        let mut added6 = vec![0u8; 15];
        added6.extend_from_slice(&[1, 0x1a, 0xe1]);
        added6.extend_from_slice(&[5; 17]);
        let m =
            PexMessage::decode(&payload(&[("added", &added), ("added6", &added6), ("dropped", &[1, 2, 3])]))
                .unwrap();
        assert_eq!(
            m.added,
            vec![(v4("1.1.1.1:1"), PexFlags::default()), (v4("[::1]:6881"), PexFlags::default())]
        );
        assert!(m.dropped.is_empty());
    }

    #[test]
    fn undialable_addresses_are_skipped() {
        let bad = [
            [1, 2, 3, 4, 0, 0],          // port 0
            [0, 0, 0, 0, 0, 80],         // unspecified
            [224, 0, 0, 1, 0, 80],       // multicast
            [255, 255, 255, 255, 0, 80], // broadcast
            [5, 6, 7, 8, 0, 80],         // fine
        ]
        .concat();
        let mut bad6 = vec![0u8; 16];
        bad6.extend_from_slice(&[0, 80]); // :: unspecified
        let m =
            PexMessage::decode(&payload(&[("added", &bad), ("dropped", &bad), ("added6", &bad6)])).unwrap();
        assert_eq!(m.added, vec![(v4("5.6.7.8:80"), PexFlags::default())]);
        assert_eq!(m.dropped, vec![v4("5.6.7.8:80")]);
    }

    #[test]
    fn absurd_lists_are_cut_and_huge_payloads_refused() {
        let many: Vec<u8> = (0..1000u32).flat_map(|i| [10, 0, (i >> 8) as u8, i as u8, 0, 80]).collect();
        let flags = vec![0x02u8; 1000];
        let m = PexMessage::decode(&payload(&[("added", &many), ("added.f", &flags), ("dropped", &many)]))
            .unwrap();
        assert_eq!(m.added.len(), MAX_PEERS_PER_MESSAGE);
        assert_eq!(m.dropped.len(), MAX_PEERS_PER_MESSAGE);
        assert_eq!(m.added[0], (v4("10.0.0.0:80"), PexFlags::SEED));
        let huge = payload(&[("added", &vec![1u8; MAX_PAYLOAD_LEN])]);
        assert_eq!(PexMessage::decode(&huge), Err(PexError::TooLarge(huge.len())));
    }

    #[test]
    fn malformed_payloads_are_errors() {
        assert_eq!(PexMessage::decode(b"li1ee"), Err(PexError::NotADictionary));
        assert_eq!(PexMessage::decode(b"5:added"), Err(PexError::NotADictionary));
        for bad in [&b""[..], b"d", b"d5:added", b"d5:added99:xe", b"d5:addedi1x", b"x"] {
            assert!(matches!(PexMessage::decode(bad), Err(PexError::Bencode(_))), "{bad:?}");
        }
        let deep = [&b"d1:a"[..], &b"l".repeat(10), &b"e".repeat(11)].concat();
        assert!(matches!(PexMessage::decode(&deep), Err(PexError::Bencode(_))));
    }

    #[test]
    fn state_sends_a_full_list_then_differences() {
        let mut s = PexState::default();
        let (a, b, c) = (v4("1.1.1.1:1"), v4("2.2.2.2:2"), v4("3.3.3.3:3"));
        let first = s.next_message(&[(a, PexFlags::SEED), (b, PexFlags::default())]).unwrap();
        assert_eq!(first.added, vec![(a, PexFlags::SEED), (b, PexFlags::default())]);
        assert!(first.dropped.is_empty());
        assert_eq!(s.next_message(&[(b, PexFlags::default()), (a, PexFlags::SEED)]), None, "nothing changed");
        let next = s.next_message(&[(b, PexFlags::default()), (c, PexFlags::UTP)]).unwrap();
        assert_eq!(next.added, vec![(c, PexFlags::UTP)]);
        assert_eq!(next.dropped, vec![a]);
        assert_eq!(s.advertised().iter().copied().collect::<Vec<_>>(), vec![b, c]);
        // Undialable and repeated entries are never advertised.
        assert_eq!(
            s.next_message(&[
                (b, PexFlags::default()),
                (c, PexFlags::UTP),
                (v4("0.0.0.0:5"), PexFlags::SEED)
            ]),
            None
        );
    }

    #[test]
    fn state_spreads_big_changes_over_several_messages() {
        let mut s = PexState::default();
        let peers: Vec<_> = (0..250u32)
            .map(|i| (v4(&format!("10.0.{}.{}:80", i / 256, i % 256)), PexFlags::default()))
            .collect();
        let sizes: Vec<usize> =
            std::iter::from_fn(|| s.next_message(&peers).map(|m| m.added.len())).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let sizes: Vec<usize> = std::iter::from_fn(|| s.next_message(&[]).map(|m| m.dropped.len())).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let full = PexState::default().next_message(&peers).unwrap();
        assert_eq!(
            PexMessage::decode(&full.encode()).unwrap(),
            full,
            "a full message is within what we decode"
        );
    }

    #[test]
    fn a_seventh_message_within_a_minute_is_a_flood() {
        let mut r = InboundRate::default();
        let t0 = Instant::now();
        for i in 0..6 {
            assert!(r.accept(t0 + Duration::from_secs(i)));
        }
        assert!(!r.accept(t0 + Duration::from_secs(59)));
        assert!(r.accept(t0 + Duration::from_secs(60)), "the oldest is a minute old");
        assert!(!r.accept(t0 + Duration::from_secs(60)), "the next oldest is not");
        // Once a minute, forever, is fine.
        let mut r = InboundRate::default();
        assert!((0..20).all(|i| r.accept(t0 + SEND_INTERVAL * i)));
    }
}
