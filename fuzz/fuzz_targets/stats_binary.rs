//! The binary statistics snapshot reader: a log file of snapshots is read
//! back by programs that did not write it, possibly cut short or corrupt.
//!
//! A decoded snapshot lies within the input and holds its header and
//! values; encoding what was decoded gives bytes that decode to the same
//! snapshot, and byte for byte the input when it had no fields of a later
//! version. Naming the values never panics, whatever the count and hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::engine::export::binary::{decode, encode, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok((snap, used)) = decode(data) else { return };
    assert!(used <= data.len());
    assert!(used >= HEADER_LEN + 8 * snap.values.len());
    let _ = snap.metrics();
    let bytes = encode(snap.timestamp_us, snap.schema_hash, &snap.values);
    assert_eq!(decode(&bytes).expect("an encoded snapshot decodes"), (snap, bytes.len()));
    if used == bytes.len() && usize::from(u16::from_le_bytes([data[6], data[7]])) == HEADER_LEN {
        assert_eq!(&data[..used], &bytes[..]);
    }
});
