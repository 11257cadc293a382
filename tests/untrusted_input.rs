//! Every parser of untrusted bytes answers an error value for random and
//! mutated input, never a panic (a stand-in for fuzzing on stable Rust).

use proptest::prelude::*;

use lt::proto::{bencode, magnet::Magnet, metainfo::Metainfo, tracker, wire};

/// A valid torrent to mutate.
fn seed_torrent() -> Vec<u8> {
    let pieces = "a".repeat(40);
    format!(
        "d8:announce13:http://t/anno13:announce-listll13:http://t/annoee4:infod5:filesld6:lengthi20000e4:pathl1:a1:beed6:lengthi0e4:pathl1:ceee4:name1:x12:piece lengthi16384e6:pieces40:{pieces}ee"
    )
    .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn bencode_random(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = bencode::decode(&bytes);
    }

    #[test]
    fn metainfo_random(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Metainfo::from_bytes(&bytes);
        let _ = Metainfo::from_info_bytes(&bytes);
    }

    #[test]
    fn metainfo_mutated(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut t = seed_torrent();
        prop_assert!(Metainfo::from_bytes(&t).is_ok());
        for (at, b) in flips {
            let n = t.len();
            t[at % n] = b;
        }
        let n = t.len();
        let _ = Metainfo::from_bytes(&t);
        let _ = Metainfo::from_bytes(&t[..cut % n]);
    }

    #[test]
    fn magnet_random(s in ".{0,300}") {
        let _ = Magnet::parse(&s);
        let _ = Magnet::parse(&format!("magnet:?{s}"));
        let _ = Magnet::parse(&format!("magnet:?xt=urn:btih:{s}"));
    }

    #[test]
    fn tracker_replies_random(bytes in proptest::collection::vec(any::<u8>(), 0..512), v6 in any::<bool>()) {
        let _ = tracker::parse_http_announce(&bytes);
        let _ = tracker::parse_http_scrape(&bytes, &lt::proto::types::InfoHash([1; 20]));
        let _ = tracker::parse_udp_response(&bytes, v6);
        let mut d = b"d5:peers".to_vec();
        d.extend_from_slice(&bytes);
        let _ = tracker::parse_http_announce(&d);
    }

    #[test]
    fn wire_random(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = bytes::BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = wire::decode_message(&mut b, wire::MAX_MESSAGE_LEN) {}
        let _ = wire::Handshake::decode(&bytes);
        let _ = wire::ExtHandshake::decode(&bytes);
    }
}
