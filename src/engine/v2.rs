//! BitTorrent v2 pieces (BEP 52): what each piece of a v2 or hybrid
//! torrent is checked against, and the check itself.
//!
//! A v2 torrent aligns every file to a piece boundary (pad files fill the
//! rest of a file's last piece), so each piece holds bytes of one file
//! only. A piece of a file larger than one piece is checked against the
//! file's entry in `piece layers` (the root of the piece's 16 KiB blocks,
//! padded with zero leaves to the piece's width); a file of at most one
//! piece has no layer and its piece is checked against the file's
//! `pieces root` (its blocks padded to a power of two). A hybrid's piece
//! must pass both its SHA-1 and its SHA-256 check; when the two disagree
//! the torrent itself is inconsistent, as libtorrent says.

use parking_lot::RwLock;
use sha1::{Digest, Sha1};

use crate::proto::merkle::{self, Hash256, LayerTree, BLOCK_SIZE, MAX_HASHES_PER_REQUEST};
use crate::proto::metainfo::Metainfo;
use crate::proto::wire::HashRequest;

/// Where a piece's v2 hash comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct V2Piece {
    /// Index in `Metainfo::files`.
    file: usize,
    /// The piece's position among the file's pieces.
    index: u32,
    /// Bytes of the file in the piece; the rest of the piece is padding.
    len: u32,
    /// The file fits in this one piece: checked against its pieces root.
    whole_file: bool,
}

/// The v2 hashes of a torrent's pieces. Piece layers are known from the
/// start for a torrent added from a .torrent file; a torrent from a magnet
/// has none until peers send them (checked against the pieces root first).
pub(crate) struct PieceHashes {
    blocks_per_piece: usize,
    /// Per piece: its file, `None` for a piece without v2 hash.
    pieces: Vec<Option<V2Piece>>,
    /// Per file: its pieces roots (empty until known), each already proven
    /// against the file's pieces root.
    layers: RwLock<Vec<Vec<Hash256>>>,
    /// Per file: its pieces root (`None` for pads and empty files).
    roots: Vec<Option<Hash256>>,
    /// Per file: its number of pieces.
    file_pieces: Vec<u32>,
}

/// The outcome of checking a piece against every hash the torrent has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Pass,
    Fail,
    /// The piece's v2 hash is not known yet (its file's piece layer has
    /// not arrived): the data is dropped, but nobody is to blame.
    Unknown,
    /// A hybrid's SHA-1 and SHA-256 hashes disagree about the piece's
    /// bytes: the torrent is broken, no data can satisfy it.
    Inconsistent,
}

impl PieceHashes {
    /// The v2 hashes of `meta`; `None` for a v1-only torrent, or when its
    /// piece length cannot be a v2 one (not a power of two of at least one
    /// block: the parser refuses such torrents).
    pub fn new(meta: &Metainfo) -> Option<PieceHashes> {
        meta.info_hash_v2?;
        let piece_length = meta.lengths.piece_length() as usize;
        if !piece_length.is_power_of_two() || piece_length < BLOCK_SIZE {
            return None;
        }
        let blocks_per_piece = piece_length / BLOCK_SIZE;
        let mut pieces = vec![None; meta.lengths.num_pieces() as usize];
        let roots: Vec<Option<Hash256>> =
            meta.files.iter().map(|f| if f.pad || f.length == 0 { None } else { f.pieces_root }).collect();
        for (file, entry) in meta.files.iter().enumerate() {
            if roots[file].is_none() || entry.offset % piece_length as u64 != 0 {
                continue;
            }
            let first = entry.offset / piece_length as u64;
            let count = entry.length.div_ceil(piece_length as u64);
            for index in 0..count {
                let Some(slot) = pieces.get_mut((first + index) as usize) else { break };
                let len = (entry.length - index * piece_length as u64).min(piece_length as u64) as u32;
                *slot = Some(V2Piece { file, index: index as u32, len, whole_file: count == 1 });
            }
        }
        let layers = meta
            .files
            .iter()
            .enumerate()
            .map(|(file, entry)| {
                let layer = meta.piece_layers.get(file).cloned().unwrap_or_default();
                match roots[file] {
                    Some(root)
                        if entry.length > piece_length as u64 && proves(&layer, blocks_per_piece, &root) =>
                    {
                        layer
                    }
                    _ => Vec::new(),
                }
            })
            .collect();
        let file_pieces = meta
            .files
            .iter()
            .map(|f| f.length.div_ceil(piece_length as u64).min(u64::from(u32::MAX)) as u32)
            .collect();
        Some(PieceHashes { blocks_per_piece, pieces, layers: RwLock::new(layers), roots, file_pieces })
    }

    /// Checks a piece's bytes (the whole piece, padding included) against
    /// its v2 hash: `None` when it has none yet (a piece of a file whose
    /// layer is still unknown, or a piece outside any v2 file).
    pub fn check(&self, piece: u32, data: &[u8]) -> Option<bool> {
        let at = (*self.pieces.get(piece as usize)?)?;
        let bytes = data.get(..at.len as usize)?;
        let leaves = merkle::block_leaves(bytes);
        if at.whole_file {
            return Some(self.roots[at.file] == Some(merkle::file_root(&leaves)));
        }
        let layers = self.layers.read();
        let expected = layers.get(at.file)?.get(at.index as usize)?;
        Some(*expected == merkle::piece_root(&leaves, self.blocks_per_piece))
    }

    /// Requests for the piece layers still missing (a torrent from a
    /// magnet): each asks for a file's whole layer, padded to a power of
    /// two, whose nodes alone hash up to the pieces root. Files whose
    /// layer is wider than one request allows are not asked for.
    pub fn layer_requests(&self) -> Vec<HashRequest> {
        let layers = self.layers.read();
        let piece_height = self.blocks_per_piece.trailing_zeros();
        (0..self.roots.len())
            .filter_map(|file| {
                let root = self.roots[file]?;
                let pieces = self.file_pieces[file];
                let width = pieces.checked_next_power_of_two()?;
                let wanted = pieces > 1 && width <= MAX_HASHES_PER_REQUEST && layers[file].is_empty();
                wanted.then(|| HashRequest {
                    pieces_root: root,
                    base: piece_height,
                    index: 0,
                    length: width,
                    proof_layers: width.trailing_zeros() - 1,
                })
            })
            .collect()
    }

    /// Takes a peer's answer to one of [`Self::layer_requests`]: the
    /// layer is kept when it proves out against the pieces root. Returns
    /// whether it did (false also for an answer to no such request).
    pub fn add_layer(&self, request: &HashRequest, hashes: &[Hash256]) -> bool {
        let Some(file) = self.file_for_root(&request.pieces_root) else { return false };
        let pieces = self.file_pieces[file] as usize;
        let expected = self.layer_requests().into_iter().find(|r| r.pieces_root == request.pieces_root);
        if expected.as_ref() != Some(request) {
            return false;
        }
        let leaves = u64::from(request.length) * self.blocks_per_piece as u64;
        let proven = merkle::verify_hashes(
            &request.pieces_root,
            leaves,
            request.base,
            request.index,
            request.length,
            request.proof_layers,
            hashes,
        );
        let Some(nodes) = proven else { return false };
        let mut layers = self.layers.write();
        if layers[file].is_empty() {
            layers[file] = nodes[..pieces].to_vec();
        }
        true
    }

    /// The file with this pieces root (not a pad, not empty), if any.
    pub fn file_for_root(&self, root: &Hash256) -> Option<usize> {
        self.roots.iter().position(|r| r.as_ref() == Some(root))
    }

    /// The tree above a file's piece layer, for answering hash requests;
    /// `None` while the layer is unknown or the file has none.
    pub fn layer_tree(&self, file: usize) -> Option<LayerTree> {
        let layers = self.layers.read();
        let layer = layers.get(file).filter(|l| !l.is_empty())?;
        Some(LayerTree::new(layer, self.blocks_per_piece))
    }
}

/// The layer hashes up to the pieces root.
fn proves(layer: &[Hash256], blocks_per_piece: usize, root: &Hash256) -> bool {
    !layer.is_empty() && merkle::layer_root(layer, blocks_per_piece) == *root
}

/// Checks a piece's bytes against the torrent's hashes: SHA-1 for a v1
/// torrent (and nothing else, so v1 speed is unchanged), SHA-256 trees
/// for a v2 one, both for a hybrid. A v2 piece whose hash is not known
/// yet is [`Check::Unknown`]: it cannot be taken on trust.
pub(crate) fn check_piece(meta: &Metainfo, v2: Option<&PieceHashes>, piece: u32, data: &[u8]) -> Check {
    let v1 = meta.has_v1.then(|| meta.piece_hashes.get(piece as usize) == Some(&Sha1::digest(data).into()));
    let v2_known = v2.map(|h| h.check(piece, data));
    match (v1, v2_known.flatten()) {
        (Some(a), Some(b)) if a != b => Check::Inconsistent,
        (Some(true), _) | (None, Some(true)) => Check::Pass,
        (None, None) if v2_known.is_some() => Check::Unknown,
        _ => Check::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::metainfo::FileEntry;
    use crate::proto::types::{InfoHash, Lengths};
    use std::path::PathBuf;

    const PIECE: usize = 2 * BLOCK_SIZE;

    fn file_hashes(data: &[u8]) -> (Hash256, Vec<Hash256>) {
        let leaves = merkle::block_leaves(data);
        let root = merkle::file_root(&leaves);
        let layer = if data.len() > PIECE {
            leaves.chunks(PIECE / BLOCK_SIZE).map(|c| merkle::piece_root(c, PIECE / BLOCK_SIZE)).collect()
        } else {
            Vec::new()
        };
        (root, layer)
    }

    /// A torrent of `a` (5 blocks: 3 pieces, padded to a piece boundary)
    /// then `b` (half a block), v2-only or hybrid.
    fn torrent(a: &[u8], b: &[u8], hybrid: bool) -> (Metainfo, Vec<u8>) {
        let (root_a, layer_a) = file_hashes(a);
        let (root_b, _) = file_hashes(b);
        let pad = (PIECE - a.len() % PIECE) % PIECE;
        let mut bytes = a.to_vec();
        bytes.resize(a.len() + pad, 0);
        bytes.extend_from_slice(b);
        let files = vec![
            FileEntry {
                path: "t/a".into(),
                length: a.len() as u64,
                pieces_root: Some(root_a),
                ..Default::default()
            },
            FileEntry {
                path: PathBuf::from(format!(".pad/{pad}")),
                length: pad as u64,
                offset: a.len() as u64,
                pad: true,
                ..Default::default()
            },
            FileEntry {
                path: "t/b".into(),
                length: b.len() as u64,
                offset: (a.len() + pad) as u64,
                pieces_root: Some(root_b),
                ..Default::default()
            },
        ];
        let piece_hashes =
            if hybrid { bytes.chunks(PIECE).map(|c| Sha1::digest(c).into()).collect() } else { Vec::new() };
        let meta = Metainfo {
            info_hash: InfoHash([7; 20]),
            has_v1: hybrid,
            info_hash_v2: Some([9; 32]),
            info_bytes: Vec::new(),
            name: "t".into(),
            lengths: Lengths::new(bytes.len() as u64, PIECE as u32).expect("lengths"),
            piece_hashes,
            piece_layers: vec![layer_a, Vec::new(), Vec::new()],
            files,
            trackers: Vec::new(),
            private: false,
            comment: None,
            created_by: None,
            creation_date: None,
            web_seeds: Vec::new(),
        };
        (meta, bytes)
    }

    fn sample() -> (Vec<u8>, Vec<u8>) {
        let a: Vec<u8> = (0..5 * BLOCK_SIZE).map(|i| (i % 251) as u8).collect();
        (a, vec![3u8; BLOCK_SIZE / 2])
    }

    #[test]
    fn v2_pieces_pass_against_layers_and_small_file_roots() {
        let (a, b) = sample();
        let (meta, bytes) = torrent(&a, &b, false);
        let hashes = PieceHashes::new(&meta).expect("v2");
        assert_eq!(meta.lengths.num_pieces(), 4);
        for (piece, data) in bytes.chunks(PIECE).enumerate() {
            assert_eq!(check_piece(&meta, Some(&hashes), piece as u32, data), Check::Pass, "piece {piece}");
            let mut bad = data.to_vec();
            bad[0] ^= 1;
            assert_eq!(check_piece(&meta, Some(&hashes), piece as u32, &bad), Check::Fail, "piece {piece}");
        }
    }

    #[test]
    fn a_hybrid_checks_both_and_notices_when_they_disagree() {
        let (a, b) = sample();
        let (mut meta, bytes) = torrent(&a, &b, true);
        let hashes = PieceHashes::new(&meta).expect("v2");
        assert_eq!(check_piece(&meta, Some(&hashes), 1, &bytes[PIECE..2 * PIECE]), Check::Pass);
        meta.piece_hashes[1] = [0; 20];
        assert_eq!(check_piece(&meta, Some(&hashes), 1, &bytes[PIECE..2 * PIECE]), Check::Inconsistent);
    }

    #[test]
    fn a_piece_without_its_layer_cannot_pass() {
        let (a, b) = sample();
        let (mut meta, bytes) = torrent(&a, &b, false);
        meta.piece_layers[0][2][0] ^= 1; // no longer hashes up to the root
        let hashes = PieceHashes::new(&meta).expect("v2");
        assert_eq!(hashes.check(0, &bytes[..PIECE]), None);
        assert_eq!(check_piece(&meta, Some(&hashes), 0, &bytes[..PIECE]), Check::Unknown);
        // The small file needs no layer.
        assert_eq!(check_piece(&meta, Some(&hashes), 3, &bytes[3 * PIECE..]), Check::Pass);
        assert!(hashes.layer_tree(0).is_none());
    }

    #[test]
    fn hash_requests_find_the_file_and_its_tree() {
        let (a, b) = sample();
        let (meta, _) = torrent(&a, &b, false);
        let hashes = PieceHashes::new(&meta).expect("v2");
        let root = meta.files[0].pieces_root.expect("root");
        assert_eq!(hashes.file_for_root(&root), Some(0));
        assert_eq!(hashes.file_for_root(&[0; 32]), None);
        assert_eq!(hashes.layer_tree(0).map(|t| t.root()), Some(root));
        assert!(hashes.layer_tree(2).is_none(), "a one-piece file has no layer");
    }

    #[test]
    fn v1_torrents_have_no_v2_hashes() {
        let (a, b) = sample();
        let (mut meta, _) = torrent(&a, &b, true);
        meta.info_hash_v2 = None;
        assert!(PieceHashes::new(&meta).is_none());
    }

    #[test]
    fn a_missing_layer_is_requested_and_taken_once_it_proves_out() {
        let (a, b) = sample();
        let (mut meta, bytes) = torrent(&a, &b, false);
        let layer = std::mem::take(&mut meta.piece_layers[0]);
        let hashes = PieceHashes::new(&meta).expect("v2");
        let requests = hashes.layer_requests();
        // Only file a (3 pieces) has a layer; it is padded to 4 nodes.
        assert_eq!(requests.len(), 1);
        let r = requests[0];
        assert_eq!((r.base, r.index, r.length, r.proof_layers), (1, 0, 4, 1));
        let mut answer = layer.clone();
        answer.push(merkle::pad_hash(1));
        let mut forged = answer.clone();
        forged[1][0] ^= 1;
        assert!(!hashes.add_layer(&r, &forged));
        assert!(!hashes.add_layer(&HashRequest { length: 2, ..r }, &answer[..2]));
        assert_eq!(check_piece(&meta, Some(&hashes), 1, &bytes[PIECE..2 * PIECE]), Check::Unknown);
        assert!(hashes.add_layer(&r, &answer));
        assert!(hashes.layer_requests().is_empty());
        assert_eq!(check_piece(&meta, Some(&hashes), 1, &bytes[PIECE..2 * PIECE]), Check::Pass);
        assert_eq!(hashes.layer_tree(0).map(|t| t.root()), meta.files[0].pieces_root);
    }
}
