//! HTTP tracker replies (announce and scrape bodies), from any server a
//! torrent names.
//!
//! Input: the first byte picks announce (even) or scrape (odd); for scrape
//! the next 20 bytes are the info-hash looked up. The rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::proto::bencode::{self, Value};
use lt::proto::tracker::{parse_http_announce, parse_http_scrape, MAX_PEERS};
use lt::proto::types::InfoHash;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        if let Ok(reply) = parse_http_announce(rest) {
            assert!(reply.peers.len() <= MAX_PEERS, "{} peers kept", reply.peers.len());
            for p in &reply.peers {
                assert_ne!(p.port(), 0, "a peer without a port cannot be dialled");
                assert!(!p.ip().is_unspecified(), "{p} cannot be dialled");
            }
        }
    } else if let Some((hash, body)) = rest.split_first_chunk::<20>() {
        let Ok(info) = parse_http_scrape(body, &InfoHash(*hash)) else { return };
        // The figures are the entry's own integers (absent: 0).
        let root = bencode::decode(body).expect("an accepted reply is bencode");
        let entry = root.get("files").and_then(Value::as_dict).and_then(|f| f.get(&hash[..]));
        let entry = entry.expect("an accepted reply has the hash's entry");
        let figure = |key| entry.get(key).and_then(Value::as_int).unwrap_or(0);
        assert_eq!(
            (figure("complete"), figure("incomplete"), figure("downloaded")),
            (i64::from(info.complete), i64::from(info.incomplete), i64::from(info.downloaded))
        );
    }
});
