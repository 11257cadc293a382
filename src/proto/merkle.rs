//! BitTorrent v2 hash trees (BEP 52): SHA-256 merkle trees whose leaves
//! are the hashes of a file's 16 KiB blocks.
//!
//! A tree always has a power of two leaves. Leaves past the end of the data
//! are 32 zero bytes (not the hash of anything), so the node above `2^k`
//! such leaves is [`pad_hash`]`(k)`. Three trees matter to a torrent:
//! - a file's tree, whose root is the file's `pieces root` (its leaves: the
//!   file's blocks, padded to a power of two, at least one);
//! - a piece's subtree, `piece_length / 16 KiB` leaves wide, whose root is
//!   the piece's entry in `piece layers` (the last piece of a file is padded
//!   with zero leaves to the full width);
//! - the piece layer itself, which hashes up to the pieces root once padded
//!   to a power of two with [`pad_hash`] of the piece's height.

use sha2::{Digest, Sha256};

/// Bytes under one leaf.
pub const BLOCK_SIZE: usize = 16 * 1024;

/// A SHA-256 node of a tree.
pub type Hash256 = [u8; 32];

/// The leaf for one block (the last block of a file may be short).
pub fn hash_block(data: &[u8]) -> Hash256 {
    Sha256::digest(data).into()
}

/// The parent of two nodes.
pub fn hash_pair(left: &Hash256, right: &Hash256) -> Hash256 {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The node above `2^height` zero leaves (`height` 0 is a zero leaf).
pub fn pad_hash(height: u32) -> Hash256 {
    let mut node = [0u8; 32];
    for _ in 0..height {
        node = hash_pair(&node, &node);
    }
    node
}

/// The root of `nodes` padded to `width` nodes with `pad`, where `width` is
/// a power of two at least `nodes.len()`. `pad` is the node standing for
/// missing ones at this layer: [`pad_hash`] of the layer's height.
///
/// # Panics
/// If `width` is not a power of two or is less than `nodes.len()`.
pub fn root_of(nodes: &[Hash256], width: usize, pad: Hash256) -> Hash256 {
    assert!(width.is_power_of_two() && width >= nodes.len(), "bad merkle width {width} for {}", nodes.len());
    let mut layer: Vec<Hash256> = nodes.to_vec();
    let mut pad = pad;
    let mut width = width;
    while width > 1 {
        let next: Vec<Hash256> =
            layer.chunks(2).map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&pad))).collect();
        layer = next;
        pad = hash_pair(&pad, &pad);
        width /= 2;
    }
    layer.first().copied().unwrap_or(pad)
}

/// The pieces root of a file from its block leaves: padded with zero leaves
/// to the next power of two. A file of at most one piece has only this; a
/// larger one also has a piece layer.
pub fn file_root(leaves: &[Hash256]) -> Hash256 {
    root_of(leaves, leaves.len().max(1).next_power_of_two(), [0u8; 32])
}

/// The entry of `piece layers` for one piece from its block leaves, padded
/// with zero leaves to `blocks_per_piece` (a power of two).
pub fn piece_root(leaves: &[Hash256], blocks_per_piece: usize) -> Hash256 {
    root_of(leaves, blocks_per_piece, [0u8; 32])
}

/// The pieces root a file's piece layer hashes up to: the layer padded to a
/// power of two with the root of an all-padding piece.
pub fn layer_root(layer: &[Hash256], blocks_per_piece: usize) -> Hash256 {
    let height = blocks_per_piece.trailing_zeros();
    root_of(layer, layer.len().max(1).next_power_of_two(), pad_hash(height))
}

/// Leaves a file of `length` bytes has before padding.
pub fn num_blocks(length: u64) -> u64 {
    length.div_ceil(BLOCK_SIZE as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(n: u8) -> Hash256 {
        hash_block(&[n; 100])
    }

    #[test]
    fn pad_hashes_are_trees_of_zero_leaves() {
        assert_eq!(pad_hash(0), [0u8; 32]);
        assert_eq!(pad_hash(1), hash_pair(&[0; 32], &[0; 32]));
        assert_eq!(pad_hash(3), root_of(&[], 8, [0u8; 32]));
        assert_eq!(pad_hash(2), root_of(&[[0; 32]; 3], 4, [0; 32]));
    }

    #[test]
    fn a_file_of_one_block_is_its_own_root() {
        assert_eq!(file_root(&[leaf(1)]), leaf(1));
    }

    #[test]
    fn roots_pad_with_zero_leaves_to_a_power_of_two() {
        let (a, b, c) = (leaf(1), leaf(2), leaf(3));
        let expect = hash_pair(&hash_pair(&a, &b), &hash_pair(&c, &[0; 32]));
        assert_eq!(file_root(&[a, b, c]), expect);
        assert_eq!(piece_root(&[a, b, c], 4), expect);
        assert_eq!(piece_root(&[a], 2), hash_pair(&a, &[0; 32]));
    }

    #[test]
    fn a_piece_layer_hashes_up_to_the_file_root() {
        // 5 blocks with pieces of 2 blocks: layer of 3 pieces, the last
        // padded with a zero leaf, the layer padded with an empty piece.
        let leaves: Vec<Hash256> = (0..5).map(leaf).collect();
        let layer: Vec<Hash256> = leaves.chunks(2).map(|c| piece_root(c, 2)).collect();
        assert_eq!(layer_root(&layer, 2), file_root(&leaves));
        // With pieces as large as the file, the layer is the root.
        assert_eq!(layer_root(&[file_root(&leaves)], 8), file_root(&leaves));
    }
}
