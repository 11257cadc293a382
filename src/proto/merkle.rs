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

/// The leaves of `data`: the hashes of its 16 KiB blocks (the last may be
/// short). Empty data has no leaves.
pub fn block_leaves(data: &[u8]) -> Vec<Hash256> {
    data.chunks(BLOCK_SIZE).map(hash_block).collect()
}

/// Most hashes one `hashes` message may carry at its base layer, as in
/// libtorrent (8192 pieces of a file, or the blocks of a 128 MiB piece).
pub const MAX_HASHES_PER_REQUEST: u32 = 8192;

/// A file's tree from its piece layer up to its pieces root, kept whole so
/// that answers to BEP 52 hash requests (a run of one layer's nodes plus
/// the uncle hashes proving them) can be cut from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerTree {
    /// Height of the piece layer above the block leaves.
    piece_height: u32,
    /// `levels[0]` is the piece layer padded to a power of two; each next
    /// level is the parents of the one before; the last is `[root]`.
    levels: Vec<Vec<Hash256>>,
}

impl LayerTree {
    /// The tree above `layer`, a file's piece layer with `blocks_per_piece`
    /// (a power of two) leaves under each entry.
    ///
    /// # Panics
    /// If `blocks_per_piece` is not a power of two.
    pub fn new(layer: &[Hash256], blocks_per_piece: usize) -> LayerTree {
        assert!(blocks_per_piece.is_power_of_two(), "blocks per piece {blocks_per_piece}");
        let piece_height = blocks_per_piece.trailing_zeros();
        let width = layer.len().max(1).next_power_of_two();
        let mut level = layer.to_vec();
        level.resize(width, pad_hash(piece_height));
        let mut levels = vec![level];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let next = below.chunks(2).map(|pair| hash_pair(&pair[0], &pair[1])).collect();
            levels.push(next);
        }
        LayerTree { piece_height, levels }
    }

    /// The pieces root the layer hashes up to.
    pub fn root(&self) -> Hash256 {
        self.levels.last().and_then(|l| l.first()).copied().unwrap_or_default()
    }

    /// Layers of the whole file tree above its leaves, as BEP 52 counts
    /// them for `base` and `proof layers`.
    fn num_layers(&self) -> u32 {
        self.piece_height + self.levels.len() as u32 - 1
    }

    /// The answer to a hash request: `count` nodes of layer `base` (0 is
    /// the block leaves) from `index`, then the uncle hashes that prove
    /// them, up to `proof_layers` layers above `base` (uncles only above
    /// the subtree the nodes themselves span, as libtorrent sends them).
    /// `None` when the request is out of range or asks for layers below
    /// the piece layer (see [`Self::block_hashes`]).
    pub fn hashes(&self, base: u32, index: u32, count: u32, proof_layers: u32) -> Option<Vec<Hash256>> {
        if base < self.piece_height {
            return None;
        }
        self.answer(base, index, count, proof_layers, |level, i| {
            self.levels.get((level - self.piece_height) as usize)?.get(i).copied()
        })
    }

    /// The answer to a hash request below the piece layer (libtorrent asks
    /// for a piece's block hashes after the piece failed its check, to
    /// find the peer that sent the bad block): the nodes must lie under
    /// piece `piece`, whose block leaves are `leaves` (its data hashed by
    /// [`block_leaves`]; missing leaves are zero, the padding of the
    /// file's last piece). Uncles above the piece come from this tree.
    pub fn block_hashes(
        &self,
        piece: u32,
        leaves: &[Hash256],
        base: u32,
        index: u32,
        count: u32,
        proof_layers: u32,
    ) -> Option<Vec<Hash256>> {
        if base >= self.piece_height || leaves.len() > 1 << self.piece_height {
            return None;
        }
        // The piece's subtree, from its leaves up to the piece node.
        let mut sub = vec![leaves.to_vec()];
        sub[0].resize(1 << self.piece_height, [0; 32]);
        while sub.last().is_some_and(|l| l.len() > 1) {
            let below = sub.last().map(Vec::as_slice).unwrap_or_default();
            let next = below.chunks(2).map(|pair| hash_pair(&pair[0], &pair[1])).collect();
            sub.push(next);
        }
        if sub.last().and_then(|l| l.first()) != self.levels[0].get(piece as usize) {
            // The data on disk no longer hashes to the piece layer.
            return None;
        }
        self.answer(base, index, count, proof_layers, |level, i| {
            if level < self.piece_height {
                let first = (piece as usize) << (self.piece_height - level);
                sub[level as usize].get(i.checked_sub(first)?).copied()
            } else {
                self.levels.get((level - self.piece_height) as usize)?.get(i).copied()
            }
        })
    }

    /// Cuts an answer from the tree whose node `i` of layer `level` (0:
    /// the block leaves) `node` gives.
    fn answer(
        &self,
        base: u32,
        index: u32,
        count: u32,
        proof_layers: u32,
        node: impl Fn(u32, usize) -> Option<Hash256>,
    ) -> Option<Vec<Hash256>> {
        let layers = self.num_layers();
        if base >= layers || count == 0 || count > MAX_HASHES_PER_REQUEST || proof_layers >= layers - base {
            return None;
        }
        let start = index as usize;
        let mut out = (start..start + count as usize).map(|i| node(base, i)).collect::<Option<Vec<_>>>()?;
        // Uncles start at the sibling of the subtree root over `count`
        // nodes (for one node: the sibling of its parent).
        let span = count.next_power_of_two().trailing_zeros() as i64 - 1;
        for i in 0..proof_layers {
            if (i as i64) < span {
                continue;
            }
            let parent = start >> (i + 1);
            out.push(node(base + i + 1, parent ^ 1)?);
        }
        Some(out)
    }
}

/// Checks a `hashes` answer against a file's pieces root: `hashes` is
/// `count` nodes of layer `base` from `index` followed by the uncles that
/// prove them (as [`LayerTree::hashes`] lays them out), `file_leaves` the
/// file's block count padded to a power of two. Only answers whose proof
/// reaches the root are accepted (`proof_layers` one below the root), and
/// `count` must be a power of two of at least 2 with `index` a multiple of
/// it, as the requests we send are. Returns the nodes when they prove out.
pub fn verify_hashes(
    root: &Hash256,
    file_leaves: u64,
    base: u32,
    index: u32,
    count: u32,
    proof_layers: u32,
    hashes: &[Hash256],
) -> Option<Vec<Hash256>> {
    if !file_leaves.is_power_of_two() || count < 2 || !count.is_power_of_two() || index % count != 0 {
        return None;
    }
    let layers = file_leaves.trailing_zeros();
    let span = count.trailing_zeros();
    if base + span > layers || proof_layers + 1 + base != layers {
        return None;
    }
    let uncles = (layers - base - span) as usize;
    if hashes.len() != count as usize + uncles {
        return None;
    }
    let (nodes, proof) = hashes.split_at(count as usize);
    let mut node = root_of(nodes, count as usize, [0u8; 32]);
    let mut position = index >> span;
    for uncle in proof {
        node = if position % 2 == 0 { hash_pair(&node, uncle) } else { hash_pair(uncle, &node) };
        position /= 2;
    }
    (node == *root).then(|| nodes.to_vec())
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

    /// A file of 5 pieces of 2 blocks each (pieces root over 16 leaves).
    fn five_piece_file() -> (Vec<Hash256>, Hash256) {
        let leaves: Vec<Hash256> = (0..10).map(leaf).collect();
        let layer = leaves.chunks(2).map(|c| piece_root(c, 2)).collect();
        (layer, file_root(&leaves))
    }

    #[test]
    fn a_layer_tree_reaches_the_pieces_root() {
        let (layer, root) = five_piece_file();
        assert_eq!(LayerTree::new(&layer, 2).root(), root);
    }

    #[test]
    fn the_whole_layer_needs_no_uncles() {
        let (layer, root) = five_piece_file();
        let tree = LayerTree::new(&layer, 2);
        // 16 leaves: 4 layers above them; piece layer is base 1 (8 nodes).
        let answer = tree.hashes(1, 0, 8, 2).expect("served");
        assert_eq!(answer.len(), 8);
        assert_eq!(&answer[..5], &layer[..]);
        assert_eq!(answer[5], pad_hash(1));
        let nodes = verify_hashes(&root, 16, 1, 0, 8, 2, &answer).expect("proves");
        assert_eq!(nodes.len(), 8);
    }

    #[test]
    fn part_of_a_layer_comes_with_its_uncles() {
        let (layer, root) = five_piece_file();
        let tree = LayerTree::new(&layer, 2);
        let answer = tree.hashes(1, 4, 2, 2).expect("served");
        // Two nodes, then the uncles: the node over [6, 8), then the one
        // over [0, 4).
        assert_eq!(answer.len(), 2 + 2);
        assert_eq!(verify_hashes(&root, 16, 1, 4, 2, 2, &answer), Some(answer[..2].to_vec()));
        let mut bad = answer.clone();
        bad[3][0] ^= 1;
        assert_eq!(verify_hashes(&root, 16, 1, 4, 2, 2, &bad), None);
        bad = answer.clone();
        bad.pop();
        assert_eq!(verify_hashes(&root, 16, 1, 4, 2, 2, &bad), None);
    }

    #[test]
    fn block_hashes_come_from_the_piece_data_with_uncles_to_the_root() {
        let leaves: Vec<Hash256> = (0..10).map(leaf).collect();
        let (layer, root) = five_piece_file();
        let tree = LayerTree::new(&layer, 2);
        // Piece 2's two blocks (base 0, index 4), proven to the root.
        let answer = tree.block_hashes(2, &leaves[4..6], 0, 4, 2, 3).expect("served");
        assert_eq!(verify_hashes(&root, 16, 0, 4, 2, 3, &answer), Some(leaves[4..6].to_vec()));
        // The last piece.
        let answer = tree.block_hashes(4, &leaves[8..10], 0, 8, 2, 3).expect("served");
        assert_eq!(verify_hashes(&root, 16, 0, 8, 2, 3, &answer), Some(leaves[8..10].to_vec()));
        // Data that no longer matches the layer, nodes outside the piece,
        // and layers the piece layer already serves are refused.
        assert_eq!(tree.block_hashes(2, &leaves[6..8], 0, 4, 2, 3), None);
        assert_eq!(tree.block_hashes(2, &leaves[4..6], 0, 6, 2, 3), None);
        assert_eq!(tree.block_hashes(2, &leaves[4..6], 1, 2, 1, 2), None);
    }

    #[test]
    fn requests_outside_the_tree_are_not_served() {
        let (layer, _) = five_piece_file();
        let tree = LayerTree::new(&layer, 2);
        assert_eq!(tree.hashes(0, 0, 2, 1), None, "block layer is not kept");
        assert_eq!(tree.hashes(1, 6, 4, 0), None, "past the layer's end");
        assert_eq!(tree.hashes(1, 0, 2, 3), None, "proof above the root");
        assert_eq!(tree.hashes(4, 0, 1, 0), None, "base at the root");
        assert_eq!(tree.hashes(1, 0, MAX_HASHES_PER_REQUEST + 1, 0), None);
        assert_eq!(tree.hashes(1, 0, 0, 0), None);
    }
}
