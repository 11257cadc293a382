//! Torrent files as users download them from anywhere.
//!
//! An accepted torrent must be self-consistent: the info-hash is the SHA-1
//! of the info bytes kept (the SHA-256 truncated for a v2-only torrent), the
//! v2 info-hash their SHA-256, the files tile the torrent without gaps, every
//! path stays below the save path, and there is one v1 hash per piece (none
//! for a v2-only torrent) and one piece layer entry per file.
#![no_main]

use std::path::Component;

use libfuzzer_sys::fuzz_target;
use lt::proto::merkle;
use lt::proto::metainfo::Metainfo;
use sha1::{Digest, Sha1};

fn check(m: &Metainfo) {
    // merkle::hash_block is the SHA-256 of any bytes.
    let sha256 = merkle::hash_block(&m.info_bytes);
    if m.has_v1 {
        assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(&m.info_bytes)));
        assert_eq!(m.piece_hashes.len(), m.lengths.num_pieces() as usize);
    } else {
        assert_eq!(m.info_hash.0[..], sha256[..20]);
        assert!(m.piece_hashes.is_empty());
        assert_eq!(m.info_hash_v2, Some(sha256));
    }
    if let Some(v2) = m.info_hash_v2 {
        assert_eq!(v2, sha256);
    }
    assert_eq!(m.piece_layers.len(), m.files.len());
    assert!(!m.files.is_empty());
    let mut offset = 0u64;
    for f in &m.files {
        assert_eq!(f.offset, offset, "files must be contiguous");
        offset = offset.checked_add(f.length).expect("total length fits u64");
        assert!(f.path.components().count() > 0, "empty path");
        for c in f.path.components() {
            assert!(matches!(c, Component::Normal(_)), "path {:?} leaves the save path", f.path);
        }
    }
    assert_eq!(offset, m.lengths.total_length());
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Metainfo::from_bytes(data) {
        check(&m);
        let again =
            Metainfo::from_info_bytes(&m.info_bytes).expect("the info dictionary of a torrent loads alone");
        assert_eq!(again.info_hash, m.info_hash);
        assert_eq!(again.files, m.files);
    }
    if let Ok(m) = Metainfo::from_info_bytes(data) {
        check(&m);
        assert_eq!(m.info_bytes, data);
    }
});
