//! How bytes reach peers: the listen sockets ([`listen`]), the byte stream
//! a peer connection runs on ([`stream`]), and the datagram socket shared
//! by the protocols that run over UDP ([`udp`]).
//!
//! A session has one UDP socket per listen interface, bound to the same
//! ip:port as the TCP listener (as libtorrent's is), so a NAT mapping or a
//! firewall rule for the listen port covers the DHT, uTP and UDP trackers
//! alike. Incoming datagrams are told apart by their shape ([`classify`])
//! and handed to the protocol that registered for that kind; kinds with no
//! handler (UDP tracker replies until those land, uTP when no
//! [`utp::UtpSocket`] is started) are counted and dropped.

pub mod connect;
pub mod listen;
pub mod mse;
pub mod stream;
pub mod udp;
pub mod utp;

use std::net::SocketAddr;

/// What an incoming datagram is, judged by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// A bencoded dictionary: a KRPC message of the DHT.
    Dht,
    /// A uTP header (BEP 29): version 1 in the low nibble of the first
    /// byte, a packet type 0..=4 in the high nibble, 20 bytes at least.
    Utp,
    /// A UDP tracker reply (BEP 15): a 32-bit action 0..=3 first.
    UdpTracker,
    /// Anything else.
    Unknown,
}

/// Smallest uTP packet: the header alone.
const UTP_HEADER: usize = 20;
/// Smallest UDP tracker reply: action and transaction id.
const TRACKER_HEADER: usize = 8;

/// Tells a datagram's protocol from its shape. The three shapes cannot be
/// confused: a dictionary starts with `d` (0x64), a uTP packet with 0x01,
/// 0x11, 0x21, 0x31 or 0x41, a tracker reply with 0x00.
pub fn classify(packet: &[u8]) -> PacketKind {
    match packet {
        [b'd', .., b'e'] => PacketKind::Dht,
        [first, ..] if packet.len() >= UTP_HEADER && first & 0x0f == 1 && first >> 4 <= 4 => PacketKind::Utp,
        [0, 0, 0, action, ..] if packet.len() >= TRACKER_HEADER && *action <= 3 => PacketKind::UdpTracker,
        _ => PacketKind::Unknown,
    }
}

/// A protocol that receives the datagrams of one [`PacketKind`]. Called
/// on the socket's receive task: it must not block (queue the work).
pub trait DatagramHandler: Send + Sync {
    fn on_datagram(&self, from: SocketAddr, packet: &[u8]);

    /// The socket's receive queue is empty (or a batch of datagrams was
    /// read): work deferred over a burst, such as uTP's acks, goes now.
    fn on_drained(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_told_apart() {
        assert_eq!(classify(b"d1:t2:aa1:y1:re"), PacketKind::Dht);
        assert_eq!(classify(b"d1:t2:aa"), PacketKind::Unknown, "a dictionary ends with e");
        let mut utp = [0u8; 20];
        for (ty, kind) in [(0u8, PacketKind::Utp), (4, PacketKind::Utp), (5, PacketKind::Unknown)] {
            utp[0] = ty << 4 | 1;
            assert_eq!(classify(&utp), kind, "uTP type {ty}");
        }
        assert_eq!(classify(&utp[..19]), PacketKind::Unknown, "shorter than a uTP header");
        let connect_reply = [0, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9, 9];
        assert_eq!(classify(&connect_reply), PacketKind::UdpTracker);
        assert_eq!(classify(&[0, 0, 0, 4, 1, 2, 3, 4]), PacketKind::Unknown, "no action 4");
        assert_eq!(classify(b""), PacketKind::Unknown);
    }
}
