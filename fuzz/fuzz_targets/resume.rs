//! Fast-resume data: files on disk that another program, a crash or a user
//! may have changed.
//!
//! Accepted data must respect the documented bounds and survive an
//! encode/decode round trip unchanged (the engine saves what it loaded).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::proto::resume::{self, ResumeData};

fuzz_target!(|data: &[u8]| {
    let Ok(rd) = ResumeData::decode(data) else { return };
    assert!(rd.file_priority.iter().chain(&rd.piece_priority).all(|p| *p <= 7), "priority above 7");
    let encoded = rd.encode();
    let again = ResumeData::decode(&encoded).expect("encoded resume data decodes");
    assert_eq!(again, rd);
    // decode_for adds only checks against the torrent's shape: given the
    // shape the data itself implies, it answers the same data, and an
    // inconsistent shape is refused.
    let consistent_pieces =
        rd.pieces.is_empty() || rd.piece_priority.is_empty() || rd.pieces.len() == rd.piece_priority.len();
    let consistent_files = rd.file_sizes.is_empty() || rd.file_priority.len() <= rd.file_sizes.len();
    let pieces = rd.pieces.len().max(rd.piece_priority.len());
    let pieces = u32::try_from(pieces).expect("piece lists are bounded");
    let files = if rd.file_sizes.is_empty() { rd.file_priority.len() } else { rd.file_sizes.len() };
    let fitted = resume::decode_for(data, &rd.info_hash, pieces, files);
    if consistent_pieces && consistent_files {
        assert_eq!(fitted, Ok(rd));
    } else {
        assert!(fitted.is_err(), "an inconsistent shape was accepted");
    }
});
