//! Bencode from anywhere: torrent files, tracker replies, resume data and
//! extension messages all go through this decoder first.
//!
//! Besides "no panic, no sanitizer report", checks that the length the
//! decoder says it used is the value's real extent (the info-hash and BEP 9
//! depend on it), and that encoding a decoded value decodes back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::proto::bencode::{self, Limits};

fuzz_target!(|data: &[u8]| {
    if let Ok((value, used)) = bencode::decode_prefix(data, Limits::default()) {
        assert!(used <= data.len(), "decode_prefix used {used} of {} bytes", data.len());
        let exact = bencode::decode(&data[..used]).expect("the prefix decode_prefix used decodes alone");
        assert_eq!(exact, value);
        let encoded = value.encode();
        assert_eq!(encoded.len(), bencode::encoded_len(&value));
        assert_eq!(bencode::decode(&encoded).expect("an encoding decodes"), value);
    }
    // The tolerant decoder (for .torrent files) never panics, stays within
    // the input, and agrees with the strict one wherever that one accepts.
    if let Ok((value, used)) = bencode::decode_lenient(data, Limits::default()) {
        assert!(used <= data.len());
        if let Ok((strict, strict_used)) = bencode::decode_prefix(data, Limits::default()) {
            assert_eq!(value, strict);
            assert_eq!(used, strict_used);
        }
    }
    if let Ok(value) = bencode::decode(data) {
        if let Some(dict) = value.as_dict() {
            // raw_dict_value_lenient (used for the info dictionary) must find
            // bytes that decode to the same value, for every key.
            for (key, inner) in dict {
                let raw = bencode::raw_dict_value_lenient(data, key, Limits::default())
                    .expect("raw_dict_value_lenient accepts what decode accepts")
                    .expect("a key of the root dictionary is found");
                assert_eq!(&bencode::decode(raw).expect("the raw value decodes"), inner);
            }
        }
    }
});
