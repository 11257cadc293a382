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
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

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
/// Size of one IPv4 peer in a `values` list: address, port.
pub const COMPACT_PEER_V4: usize = 6;

/// Encodes an IPv4 address and port as 6 bytes (BEP 5 "compact peer info").
pub fn encode_compact_peer(addr: &SocketAddrV4, out: &mut Vec<u8>) {
    out.extend_from_slice(&addr.ip().octets());
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Decodes 6 bytes of compact peer info.
pub fn decode_compact_peer(b: &[u8]) -> Option<SocketAddrV4> {
    let b: &[u8; 6] = b.try_into().ok()?;
    Some(SocketAddrV4::new(Ipv4Addr::new(b[0], b[1], b[2], b[3]), u16::from_be_bytes([b[4], b[5]])))
}

/// Encodes IPv4 nodes as a `nodes` string (26 bytes each); nodes with an
/// IPv6 address are skipped (they belong in BEP 32's `nodes6`).
pub fn encode_compact_nodes(nodes: &[NodeEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * COMPACT_NODE_V4);
    for n in nodes {
        if let SocketAddr::V4(a) = n.addr {
            out.extend_from_slice(&n.id.0);
            encode_compact_peer(&a, &mut out);
        }
    }
    out
}
