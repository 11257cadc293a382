//! The Mainline DHT's wire formats (BEP 5), sans-IO: node ids and their XOR
//! distance, the compact node and peer formats, KRPC messages ([`krpc`]) and
//! BEP 42 node ids bound to an IP address ([`node_id`]).
//!
//! IPv4 is what the node speaks today; the types keep `SocketAddr` so BEP 32
//! (`nodes6`, `values` of 18 bytes) can be added without changing callers.

pub mod krpc;
pub mod node_id;

use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A 160-bit DHT node id (or a target: an info-hash lives in the same space).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    /// A uniformly random id (for targets of bucket refreshes; our own id
    /// comes from [`node_id::generate`]).
    pub fn random() -> NodeId {
        NodeId(rand::random())
    }

    /// `self XOR other`, the Kademlia distance.
    pub fn distance(&self, other: &NodeId) -> NodeId {
        NodeId(std::array::from_fn(|i| self.0[i] ^ other.0[i]))
    }

    /// The number of leading bits `self` and `other` share (160 when equal).
    /// The routing table's bucket of a node is this count against our id.
    pub fn common_prefix_bits(&self, other: &NodeId) -> usize {
        for i in 0..20 {
            let x = self.0[i] ^ other.0[i];
            if x != 0 {
                return i * 8 + x.leading_zeros() as usize;
            }
        }
        160
    }

    /// Orders `a` and `b` by their distance to `self` (closer first).
    pub fn cmp_distance(&self, a: &NodeId, b: &NodeId) -> Ordering {
        self.distance(a).cmp(&self.distance(b))
    }

    /// A random id that shares exactly `bits` leading bits with `self`
    /// (bit `bits` flipped), for refreshing the bucket at that depth.
    pub fn random_at_depth(&self, bits: usize) -> NodeId {
        let mut out = NodeId::random();
        if bits >= 160 {
            return *self;
        }
        for i in 0..bits {
            let (byte, mask) = (i / 8, 0x80u8 >> (i % 8));
            out.0[byte] = (out.0[byte] & !mask) | (self.0[byte] & mask);
        }
        let (byte, mask) = (bits / 8, 0x80u8 >> (bits % 8));
        out.0[byte] = (out.0[byte] & !mask) | (!self.0[byte] & mask);
        out
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::types::hex(&self.0))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::types::hex(&self.0))
    }
}

impl From<super::types::InfoHash> for NodeId {
    fn from(ih: super::types::InfoHash) -> NodeId {
        NodeId(ih.0)
    }
}

/// A node as the compact formats carry it: its id and its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeEntry {
    pub id: NodeId,
    pub addr: SocketAddr,
}

/// Size of one IPv4 entry in a `nodes` string: id, address, port.
pub const COMPACT_NODE_V4: usize = 26;
/// Size of one IPv6 entry in a `nodes6` string (BEP 32).
pub const COMPACT_NODE_V6: usize = 38;
/// Size of one IPv4 peer in a `values` list: address, port.
pub const COMPACT_PEER_V4: usize = 6;
/// Size of one IPv6 peer in a `values` list (BEP 32).
pub const COMPACT_PEER_V6: usize = 18;

/// Encodes an address and port as BEP 5's "compact peer info": 6 bytes
/// for IPv4, 18 for IPv6 (BEP 32).
pub fn encode_compact_peer(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr {
        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Decodes 6 (IPv4) or 18 (IPv6) bytes of compact peer info.
pub fn decode_compact_peer(b: &[u8]) -> Option<SocketAddr> {
    let (ip, port) = match b.len() {
        COMPACT_PEER_V4 => (IpAddr::from(<[u8; 4]>::try_from(&b[..4]).ok()?), &b[4..]),
        COMPACT_PEER_V6 => (IpAddr::from(<[u8; 16]>::try_from(&b[..16]).ok()?), &b[16..]),
        _ => return None,
    };
    Some(SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]])))
}

/// Encodes the nodes of one family as a `nodes` string (IPv4, 26 bytes
/// each) or a `nodes6` string (IPv6, 38 bytes each); the others are
/// skipped.
pub fn encode_compact_nodes(nodes: &[NodeEntry], ipv6: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nodes.iter().filter(|n| n.addr.is_ipv6() == ipv6) {
        out.extend_from_slice(&n.id.0);
        encode_compact_peer(&n.addr, &mut out);
    }
    out
}

/// Decodes a `nodes` (IPv4) or `nodes6` (IPv6) string; `None` when its
/// length is not a whole number of entries.
pub fn decode_compact_nodes(b: &[u8], ipv6: bool) -> Option<Vec<NodeEntry>> {
    let size = if ipv6 { COMPACT_NODE_V6 } else { COMPACT_NODE_V4 };
    if b.len() % size != 0 {
        return None;
    }
    b.chunks_exact(size)
        .map(|c| {
            Some(NodeEntry { id: NodeId(c[..20].try_into().ok()?), addr: decode_compact_peer(&c[20..])? })
        })
        .collect()
}
