//! The byte stream a peer sends after the 68-byte handshake, decoded as the
//! engine decodes it: bytes are appended to a read buffer as they arrive
//! and `decode_message` is called until it needs more.
//!
//! Input: the first byte seeds the sizes of the reads the stream is split
//! into; the rest is the stream. Checks that the split does not change the
//! outcome (same messages, same error), that "need more" consumes nothing,
//! that every message re-encodes to exactly the bytes it was decoded from,
//! that bitfields and extension handshakes go through their parsers, and
//! that BEP 52 `hashes` messages stay within their bound.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use lt::proto::bitfield::Bitfield;
use lt::proto::wire::{self, ExtHandshake, Message, WireError, MAX_MESSAGE_LEN};

/// What a whole stream decodes to: the messages with the bytes each came
/// from, and how decoding stopped (an error, or needing more bytes).
struct Outcome {
    messages: Vec<(Message, Vec<u8>)>,
    error: Option<WireError>,
}

/// Feeds `stream` in reads whose sizes come from `sizes` (cycled), like the
/// engine's read loop.
fn decode_in_reads(stream: &[u8], sizes: &[usize]) -> Outcome {
    let mut buf = BytesMut::new();
    let mut out = Outcome { messages: Vec::new(), error: None };
    let mut rest = stream;
    let mut reads = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*reads.next().expect("sizes is not empty")).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            let before = buf.clone();
            match wire::decode_message(&mut buf, MAX_MESSAGE_LEN) {
                Ok(Some(msg)) => {
                    let used = before.len() - buf.len();
                    assert_eq!(&before[used..], &buf[..], "decode_message took bytes from the middle");
                    out.messages.push((msg, before[..used].to_vec()));
                }
                Ok(None) => {
                    assert_eq!(buf, before, "needing more bytes must consume nothing");
                    break;
                }
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        }
    }
    out
}

/// Read sizes from a seed byte: a few short reads (as a slow peer's
/// segments arrive) mixed with larger ones.
fn read_sizes(seed: u8) -> Vec<usize> {
    let mut x = u32::from(seed) | 0x100;
    (0..8)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 4 {
                0 => 1 + (x >> 8) as usize % 4,
                1 => 1 + (x >> 8) as usize % 32,
                2 => 1 + (x >> 8) as usize % 512,
                _ => 1 + (x >> 8) as usize % 65536,
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else { return };
    let whole = decode_in_reads(stream, &[stream.len().max(1)]);
    let split = decode_in_reads(stream, &read_sizes(seed));
    assert_eq!(whole.error, split.error);
    assert_eq!(whole.messages, split.messages);
    for (msg, bytes) in &whole.messages {
        let mut encoded = BytesMut::new();
        wire::encode_message(msg, &mut encoded);
        assert_eq!(&encoded[..], &bytes[..], "{msg:?} does not re-encode to its bytes");
        match msg {
            Message::Bitfield(b) => {
                let pieces = (b.len() as u32 * 8).saturating_sub(u32::from(seed % 8));
                let bf = Bitfield::from_bytes(b, pieces).expect("a bitfield of the right size is accepted");
                assert_eq!(bf.len(), pieces);
                assert!(bf.count_ones() <= pieces);
            }
            Message::Hashes { hashes, .. } => assert!(hashes.len() <= wire::MAX_HASHES_IN_MESSAGE),
            Message::Extended { id: 0, payload } => {
                if let Ok(hs) = ExtHandshake::decode(payload) {
                    assert_eq!(ExtHandshake::decode(&hs.encode()).as_ref(), Ok(&hs));
                }
            }
            _ => {}
        }
    }
});
