//! BEP 10 extension messages. The extension handshake (extended id 0) is
//! the only extended payload proto parses; the engine ignores the others.
//!
//! An accepted handshake keeps its bounds and re-encodes to a payload that
//! decodes to the same handshake (the engine sends its own through the same type).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::proto::wire::{ExtHandshake, MAX_EXTENSIONS};

fuzz_target!(|data: &[u8]| {
    if let Ok(hs) = ExtHandshake::decode(data) {
        assert!(hs.m.len() <= MAX_EXTENSIONS);
        assert_ne!(hs.listen_port, Some(0));
        assert_ne!(hs.reqq, Some(0));
        assert_ne!(hs.metadata_size, Some(0));
        let again = ExtHandshake::decode(&hs.encode()).expect("an encoded handshake decodes");
        assert_eq!(again, hs);
    }
});
