//! BEP 14 local service discovery announces: any datagram on the
//! multicast group, from anyone on the local network.
//!
//! An accepted announce names a real port and at least one distinct,
//! non-zero info-hash, and (when it fits in a datagram) re-encodes to
//! bytes that parse to the same announce (the engine sends its own
//! through the same type).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::proto::lsd::{Announce, MAX_PACKET_LEN};
use lt::proto::types::InfoHash;

fuzz_target!(|data: &[u8]| {
    let Ok(a) = Announce::parse(data) else { return };
    assert!(data.len() <= MAX_PACKET_LEN);
    assert_ne!(a.port, 0);
    assert!(!a.info_hashes.is_empty());
    assert!(!a.info_hashes.contains(&InfoHash::default()));
    for (i, ih) in a.info_hashes.iter().enumerate() {
        assert!(!a.info_hashes[i + 1..].contains(ih), "duplicate info-hash");
    }
    for ipv6 in [false, true] {
        let bytes = a.encode(ipv6);
        if bytes.len() <= MAX_PACKET_LEN {
            assert_eq!(Announce::parse(&bytes).expect("an encoded announce parses"), a);
        }
    }
});
