//! HTTP trackers: reply bodies (announce and scrape) from any server a
//! torrent names, and the announce and scrape URLs built from the tracker
//! URL a torrent or magnet link gives (also untrusted).
//!
//! Input: the first byte picks announce (0 mod 3), scrape (1 mod 3; the
//! next 20 bytes are the info-hash looked up) or URL building (2 mod 3).
//! The rest is the body, or the tracker URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::proto::bencode::{self, Value};
use lt::proto::tracker::{
    http_announce_url, http_scrape_url, parse_http_announce, parse_http_scrape, AnnounceEvent,
    AnnounceRequest, MAX_PEERS,
};
use lt::proto::types::{InfoHash, PeerId};

fn announce(body: &[u8]) {
    let Ok(reply) = parse_http_announce(body) else { return };
    assert!(reply.peers.len() <= MAX_PEERS, "{} peers kept", reply.peers.len());
    for p in &reply.peers {
        assert_ne!(p.port(), 0, "a peer without a port cannot be dialled");
        assert!(!p.ip().is_unspecified(), "{p} cannot be dialled");
    }
}

fn scrape(hash: &[u8; 20], body: &[u8]) {
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

fn urls(tracker: &str) {
    let req = AnnounceRequest {
        info_hash: InfoHash([0xab; 20]),
        peer_id: PeerId(*b"-LT0010-abcdefghijkl"),
        port: 6881,
        uploaded: 1,
        downloaded: 2,
        left: 3,
        event: AnnounceEvent::Started,
        num_want: Some(50),
        key: 0x1234,
        tracker_id: Some(tracker.to_owned()),
        addresses: Vec::new(),
    };
    let base = tracker.split_once('#').map_or(tracker, |(u, _)| u);
    let url = http_announce_url(tracker, &req);
    let query = url.strip_prefix(base).expect("the announce URL starts with the tracker's, fragment cut");
    assert!(query.contains("info_hash=%AB%AB") && query.contains("&event=started"), "{url}");
    assert!(!query.contains('#'), "a query after a fragment is never sent: {url}");
    if let Some(scrape) = http_scrape_url(tracker, &[req.info_hash]) {
        assert!(scrape.contains("scrape") && scrape.contains("info_hash=%AB%AB"), "{scrape}");
        assert!(!scrape.contains('#'), "{scrape}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => announce(rest),
        1 => {
            if let Some((hash, body)) = rest.split_first_chunk::<20>() {
                scrape(hash, body);
            }
        }
        _ => {
            if let Ok(tracker) = std::str::from_utf8(rest) {
                urls(tracker);
            }
        }
    }
});
