//! BEP 42: a node id bound to the node's IP address, so that one host
//! cannot choose ids at will and crowd a part of the id space.
//!
//! The first 21 bits of the id are the top of CRC32-C over the masked IP
//! address with three random bits `r` mixed in; the last byte carries `r`.
//! Addresses of local networks are exempt (their ids cannot be checked).

use std::net::IpAddr;

use super::NodeId;

const V4_MASK: [u8; 4] = [0x03, 0x0f, 0x3f, 0xff];
const V6_MASK: [u8; 8] = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];

/// CRC32-C (Castagnoli), bit by bit: it runs over 4 or 8 bytes per id, so
/// a table would cost more than it saves.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// The CRC over `ip` masked and mixed with `r` (only its low 3 bits count).
fn ip_crc(ip: &IpAddr, r: u8) -> u32 {
    match ip {
        IpAddr::V4(a) => {
            let mut b = a.octets();
            for (x, m) in b.iter_mut().zip(V4_MASK) {
                *x &= m;
            }
            b[0] |= (r & 7) << 5;
            crc32c(&b)
        }
        IpAddr::V6(a) => {
            let mut b: [u8; 8] = a.octets()[..8].try_into().unwrap_or([0; 8]);
            for (x, m) in b.iter_mut().zip(V6_MASK) {
                *x &= m;
            }
            b[0] |= (r & 7) << 5;
            crc32c(&b)
        }
    }
}

/// The id BEP 42 gives `ip` with random byte `r` and the other random
/// bytes from `rest` (17 bytes: 16 for the middle, one for byte 2's low bits).
pub fn generate_with(ip: &IpAddr, r: u8, rest: [u8; 17]) -> NodeId {
    let c = ip_crc(ip, r);
    let mut id = [0u8; 20];
    id[0] = (c >> 24) as u8;
    id[1] = (c >> 16) as u8;
    id[2] = ((c >> 8) as u8 & 0xf8) | (rest[16] & 7);
    id[3..19].copy_from_slice(&rest[..16]);
    id[19] = r;
    NodeId(id)
}

/// A fresh id for a node whose external address is `ip`.
pub fn generate(ip: &IpAddr) -> NodeId {
    generate_with(ip, rand::random(), rand::random())
}

/// Whether `ip` is on a local network, loopback or link-local: BEP 42 does
/// not apply to such addresses.
pub fn is_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_private() || a.is_loopback() || a.is_link_local() || a.is_unspecified(),
        IpAddr::V6(a) => {
            let seg0 = a.segments()[0];
            a.is_loopback() || a.is_unspecified() || (seg0 & 0xffc0) == 0xfe80 || (seg0 & 0xfe00) == 0xfc00
        }
    }
}

/// Whether `id` is a valid BEP 42 id for a node sending from `ip` (always
/// true for local addresses).
pub fn verify(id: &NodeId, ip: &IpAddr) -> bool {
    if is_local(ip) {
        return true;
    }
    let c = ip_crc(ip, id.0[19]);
    id.0[0] == (c >> 24) as u8 && id.0[1] == (c >> 16) as u8 && (id.0[2] & 0xf8) == ((c >> 8) as u8 & 0xf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of BEP 42: IP, r, and the first three bytes of the id
    /// (the third with its random low bits masked off).
    const VECTORS: &[(&str, u8, [u8; 3])] = &[
        ("124.31.75.21", 1, [0x5f, 0xbf, 0xb8]),
        ("21.75.31.124", 86, [0x5a, 0x3c, 0xe8]),
        ("65.23.51.170", 22, [0xa5, 0xd4, 0x30]),
        ("84.124.73.14", 65, [0x1b, 0x03, 0x20]),
        ("43.213.53.83", 90, [0xe5, 0x6f, 0x68]),
    ];

    #[test]
    fn bep42_examples() {
        for (ip, r, prefix) in VECTORS {
            let ip: IpAddr = ip.parse().unwrap();
            let id = generate_with(&ip, *r, [0; 17]);
            assert_eq!([id.0[0], id.0[1], id.0[2] & 0xf8], *prefix, "{ip}");
            assert_eq!(id.0[19], *r);
            assert!(verify(&id, &ip));
            let other: IpAddr = "8.8.8.8".parse().unwrap();
            assert!(!verify(&id, &other), "{ip}'s id must not pass for another address");
        }
    }

    #[test]
    fn random_ids_verify_and_local_addresses_are_exempt() {
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..50 {
            assert!(verify(&generate(&ip), &ip));
        }
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(verify(&generate(&v6), &v6));
        let any = NodeId([0xaa; 20]);
        assert!(!verify(&any, &ip));
        for local in ["127.0.0.1", "10.1.2.3", "192.168.1.1", "172.16.0.1", "::1", "fe80::1"] {
            assert!(verify(&any, &local.parse().unwrap()), "{local} is exempt");
        }
    }
}
