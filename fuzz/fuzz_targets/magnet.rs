//! Magnet links pasted by users.
//!
//! A parsed link must survive `to_uri` and a second parse unchanged, since
//! the engine stores links and hands them back through the API.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::proto::magnet::{Magnet, MAX_LIST};

fuzz_target!(|data: &[u8]| {
    let Ok(uri) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Magnet::parse(uri) {
        assert!(m.trackers.len() <= MAX_LIST && m.peers.len() <= MAX_LIST && m.web_seeds.len() <= MAX_LIST);
        let again = Magnet::parse(&m.to_uri()).expect("to_uri output parses");
        assert_eq!(again, m);
    }
});
