//! Small value types shared by every layer: hashes, peer ids, piece geometry.

use std::fmt;

/// Size of a block, the unit of `request` and `piece` messages.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// A v1 info-hash: the SHA-1 of the bencoded info dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// Parses 40 hex digits.
    pub fn from_hex(s: &str) -> Option<InfoHash> {
        let b = s.as_bytes();
        if b.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in b.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(InfoHash(out))
    }

    /// 40 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A 20-byte peer id as sent in the handshake.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PeerId(pub [u8; 20]);

impl PeerId {
    /// A fresh id: `prefix` (an Azureus-style fingerprint such as `-LT0100-`,
    /// cut to 20 bytes) followed by random printable bytes.
    pub fn generate(prefix: &str) -> PeerId {
        use rand::Rng;
        const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut id = [0u8; 20];
        let p = prefix.as_bytes();
        let n = p.len().min(20);
        id[..n].copy_from_slice(&p[..n]);
        let mut rng = rand::thread_rng();
        for b in &mut id[n..] {
            *b = CHARS[rng.gen_range(0..CHARS.len())];
        }
        PeerId(id)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// Lowercase hex of any bytes.
pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

/// The geometry of a torrent's pieces and blocks, validated once.
///
/// Invariants: `piece_length > 0`, `total_length > 0`,
/// `num_pieces == ceil(total_length / piece_length)` and fits in `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lengths {
    total_length: u64,
    piece_length: u32,
    num_pieces: u32,
}

impl Lengths {
    /// No pieces at all: a magnet link's torrent before its metadata.
    pub const NONE: Lengths = Lengths { total_length: 0, piece_length: BLOCK_SIZE, num_pieces: 0 };

    /// `None` when the figures are inconsistent (zero sizes, too many pieces).
    pub fn new(total_length: u64, piece_length: u32) -> Option<Lengths> {
        if total_length == 0 || piece_length == 0 {
            return None;
        }
        let n = total_length.div_ceil(piece_length as u64);
        let num_pieces = u32::try_from(n).ok()?;
        Some(Lengths { total_length, piece_length, num_pieces })
    }

    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    pub fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    /// Length of `piece` (the last one may be short); 0 when out of range.
    pub fn piece_size(&self, piece: u32) -> u32 {
        if piece >= self.num_pieces {
            return 0;
        }
        if piece + 1 == self.num_pieces {
            let rem = self.total_length - (piece as u64) * (self.piece_length as u64);
            rem as u32
        } else {
            self.piece_length
        }
    }

    /// Byte offset of the start of `piece` in the torrent.
    pub fn piece_offset(&self, piece: u32) -> u64 {
        piece as u64 * self.piece_length as u64
    }

    /// Number of blocks in `piece`.
    pub fn blocks_in_piece(&self, piece: u32) -> u32 {
        self.piece_size(piece).div_ceil(BLOCK_SIZE)
    }

    /// Length of block number `block` of `piece`; 0 when out of range.
    pub fn block_size(&self, piece: u32, block: u32) -> u32 {
        let size = self.piece_size(piece);
        let start = block.saturating_mul(BLOCK_SIZE);
        if start >= size {
            return 0;
        }
        (size - start).min(BLOCK_SIZE)
    }

    /// True when `(piece, begin, length)` is a block-aligned, in-range request
    /// a peer may make (length at most one block, not crossing the piece end).
    pub fn is_valid_request(&self, piece: u32, begin: u32, length: u32) -> bool {
        let size = self.piece_size(piece);
        length > 0 && length <= BLOCK_SIZE && (begin as u64) + (length as u64) <= size as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_last_piece_is_short() {
        let l = Lengths::new(100_000, 32768).unwrap();
        assert_eq!(l.num_pieces(), 4);
        assert_eq!(l.piece_size(3), 100_000 - 3 * 32768);
        assert_eq!(l.piece_size(4), 0);
        assert_eq!(l.blocks_in_piece(0), 2);
        assert_eq!(l.blocks_in_piece(3), 1);
        assert_eq!(l.block_size(3, 0), 1696);
        assert_eq!(l.block_size(3, 1), 0);
    }

    #[test]
    fn lengths_rejects_zero_and_overflow() {
        assert!(Lengths::new(0, 16384).is_none());
        assert!(Lengths::new(10, 0).is_none());
        assert!(Lengths::new(u64::MAX, 1).is_none());
    }

    #[test]
    fn request_validation() {
        let l = Lengths::new(40_000, 32768).unwrap();
        assert!(l.is_valid_request(0, 0, 16384));
        assert!(l.is_valid_request(1, 0, 40_000 - 32768));
        assert!(!l.is_valid_request(1, 0, 16384));
        assert!(!l.is_valid_request(0, 16384, 16385));
        assert!(!l.is_valid_request(2, 0, 1));
        assert!(!l.is_valid_request(0, u32::MAX, 16384));
    }

    #[test]
    fn info_hash_hex_round_trip() {
        let h = InfoHash::from_hex("0123456789abcdef0123456789ABCDEF01234567").unwrap();
        assert_eq!(h.to_hex(), "0123456789abcdef0123456789abcdef01234567");
        assert!(InfoHash::from_hex("xyz").is_none());
    }
}
