//! BEP 11 `ut_pex` payloads from peers.
//!
//! An accepted message keeps its bounds (at most 100 added and 100 dropped
//! peers, only dialable addresses, only the flag bits BEP 11 defines) and
//! re-encodes to a payload that decodes to the same peers (the engine sends
//! its own through the same type; an IPv4-mapped entry of the IPv6 lists
//! moves to the IPv4 ones, so only the order may change). The difference builder, fed the
//! decoded peers, stays within the same bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::proto::pex::{PexFlags, PexMessage, PexState, MAX_PEERS_PER_MESSAGE};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = PexMessage::decode(data) else { return };
    assert!(msg.added.len() <= MAX_PEERS_PER_MESSAGE && msg.dropped.len() <= MAX_PEERS_PER_MESSAGE);
    for addr in msg.added.iter().map(|(a, _)| a).chain(&msg.dropped) {
        assert!(addr.port() != 0 && !addr.ip().is_unspecified() && !addr.ip().is_multicast());
    }
    assert!(msg.added.iter().all(|(_, f)| PexFlags::KNOWN.contains(*f)));
    let again = PexMessage::decode(&msg.encode()).expect("an encoded message decodes");
    let sorted = |m: &PexMessage| {
        let (mut a, mut d) = (m.added.clone(), m.dropped.clone());
        a.sort();
        d.sort();
        (a, d)
    };
    assert_eq!(sorted(&again), sorted(&msg));
    let mut state = PexState::default();
    if let Some(next) = state.next_message(&msg.added) {
        assert!(next.added.len() <= MAX_PEERS_PER_MESSAGE && next.dropped.is_empty());
        assert!(state.advertised().len() <= msg.added.len());
    }
    let gone = state.next_message(&[]);
    assert!(gone.is_none_or(|m| m.added.is_empty() && m.dropped.len() <= MAX_PEERS_PER_MESSAGE));
});
