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

use crate::proto::merkle::{self, Hash256, LayerTree, BLOCK_SIZE};
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

/// How many piece-layer nodes one of our hash requests asks for at most:
/// what libtorrent asks for itself (it answers up to
/// `merkle::MAX_HASHES_PER_REQUEST`). A wider layer is asked for in runs of this
/// many, each proven by its uncle hashes, so one answer stays small.
const LAYER_RUN: u32 = 512;

/// A file's piece layer as far as it is known: all of it for a torrent
/// added from a .torrent file; run by run as peers send it for a torrent
/// from a magnet.
#[derive(Clone, Debug, Default)]
struct KnownLayer {
    /// One node per piece of the file; zeros where not known yet.
    nodes: Vec<Hash256>,
    /// Per run of the request width (`LAYER_RUN` nodes, or the whole
    /// layer when narrower): proven against the pieces root.
    runs_known: Vec<bool>,
    /// Nodes per run.
    run: u32,
}

impl KnownLayer {
    /// The layer of a file of `pieces` pieces, none of it known yet.
    fn unknown(pieces: u32) -> KnownLayer {
        let run = pieces.next_power_of_two().min(LAYER_RUN);
        KnownLayer {
            nodes: vec![[0; 32]; pieces as usize],
            runs_known: vec![false; pieces.div_ceil(run) as usize],
            run,
        }
    }

    /// A layer known whole (already proven against the pieces root).
    fn known(nodes: Vec<Hash256>) -> KnownLayer {
        let mut layer = KnownLayer::unknown(nodes.len() as u32);
        layer.runs_known.fill(true);
        layer.nodes = nodes;
        layer
    }

    fn get(&self, index: u32) -> Option<&Hash256> {
        let known = *self.runs_known.get((index / self.run.max(1)) as usize)?;
        known.then(|| self.nodes.get(index as usize)).flatten()
    }

    fn is_complete(&self) -> bool {
        !self.nodes.is_empty() && self.runs_known.iter().all(|k| *k)
    }
}

/// The v2 hashes of a torrent's pieces. Piece layers are known from the
/// start for a torrent added from a .torrent file; a torrent from a magnet
/// has none until peers send them (each run proven against the pieces
/// root first).
pub(crate) struct PieceHashes {
    blocks_per_piece: usize,
    /// Per piece: its file, `None` for a piece without v2 hash.
    pieces: Vec<Option<V2Piece>>,
    /// Per file: its piece layer as far as known (empty for files of at
    /// most one piece, pads and empty files, which need none).
    layers: RwLock<Vec<KnownLayer>>,
    /// Per file: its pieces root (`None` for pads and empty files).
    roots: Vec<Option<Hash256>>,
    /// Per file: its number of pieces.
    file_pieces: Vec<u32>,
    /// Per file: the torrent's index of its first piece.
    first_piece: Vec<u32>,
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
        let file_pieces: Vec<u32> = meta
            .files
            .iter()
            .map(|f| f.length.div_ceil(piece_length as u64).min(u64::from(u32::MAX)) as u32)
            .collect();
        let first_piece = meta
            .files
            .iter()
            .map(|f| (f.offset / piece_length as u64).min(u64::from(u32::MAX)) as u32)
            .collect();
        let layers = (0..meta.files.len())
            .map(|file| {
                let Some(root) = roots[file].filter(|_| file_pieces[file] > 1) else {
                    return KnownLayer::default();
                };
                match meta.piece_layers.get(file) {
                    Some(layer) if proves(layer, blocks_per_piece, &root) => KnownLayer::known(layer.clone()),
                    _ => KnownLayer::unknown(file_pieces[file]),
                }
            })
            .collect();
        Some(PieceHashes {
            blocks_per_piece,
            pieces,
            layers: RwLock::new(layers),
            roots,
            file_pieces,
            first_piece,
        })
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
        let expected = layers.get(at.file)?.get(at.index)?;
        Some(*expected == merkle::piece_root(&leaves, self.blocks_per_piece))
    }

    /// Whether `piece` can be checked now: its v2 hash is known, or it
    /// has none to wait for (a hybrid's v1 hash is checked either way).
    pub fn is_known(&self, piece: u32) -> bool {
        match self.pieces.get(piece as usize).copied().flatten() {
            Some(at) if !at.whole_file => self.layers.read()[at.file].get(at.index).is_some(),
            _ => true,
        }
    }

    /// Requests for the runs of piece layers still missing (a torrent
    /// from a magnet): base the piece layer, at most `LAYER_RUN` nodes
    /// each, with the uncles that prove them up to the pieces root.
    pub fn layer_requests(&self) -> Vec<HashRequest> {
        let layers = self.layers.read();
        let piece_height = self.blocks_per_piece.trailing_zeros();
        let mut out = Vec::new();
        for (file, layer) in layers.iter().enumerate() {
            let Some(root) = self.roots[file] else { continue };
            let width = self.file_pieces[file].next_power_of_two();
            for (run, _) in layer.runs_known.iter().enumerate().filter(|(_, known)| !**known) {
                out.push(HashRequest {
                    pieces_root: root,
                    base: piece_height,
                    index: run as u32 * layer.run,
                    length: layer.run,
                    proof_layers: width.trailing_zeros() - 1,
                });
            }
        }
        out
    }

    /// Takes a peer's answer to one of [`Self::layer_requests`]: the run
    /// is kept when it proves out against the pieces root. Returns the
    /// torrent's pieces it makes checkable (`None` when it did not prove
    /// out or answers no such request).
    pub fn add_layer(&self, request: &HashRequest, hashes: &[Hash256]) -> Option<std::ops::Range<u32>> {
        let file = self.file_for_root(&request.pieces_root)?;
        if !self.layer_requests().contains(request) {
            return None;
        }
        let pieces = self.file_pieces[file];
        let leaves = u64::from(pieces.next_power_of_two()) * self.blocks_per_piece as u64;
        let nodes = merkle::verify_hashes(
            &request.pieces_root,
            leaves,
            request.base,
            request.index,
            request.length,
            request.proof_layers,
            hashes,
        )?;
        let mut layers = self.layers.write();
        let layer = &mut layers[file];
        let start = request.index.min(pieces);
        let end = (request.index + request.length).min(pieces);
        layer.nodes[start as usize..end as usize].copy_from_slice(&nodes[..(end - start) as usize]);
        layer.runs_known[(request.index / layer.run) as usize] = true;
        let first = self.first_piece[file];
        Some(first + start..first + end)
    }

    /// The torrent's piece under a hash request below the piece layer
    /// (block hashes), when every node asked for lies under that one piece
    /// of a file with a piece layer.
    pub fn block_request_piece(&self, r: &HashRequest) -> Option<u32> {
        let file = self.file_for_root(&r.pieces_root)?;
        let height = self.blocks_per_piece.trailing_zeros();
        if r.base >= height || r.length == 0 {
            return None;
        }
        let per_piece = u64::from(self.blocks_per_piece as u32 >> r.base);
        let first = u64::from(r.index) / per_piece;
        let last = (u64::from(r.index) + u64::from(r.length) - 1) / per_piece;
        (first == last && first < u64::from(self.file_pieces[file]) && self.file_pieces[file] > 1)
            .then(|| self.first_piece[file] + first as u32)
    }

    /// The answer to a block hash request (see [`Self::block_request_piece`])
    /// from the piece's bytes as read from disk; `None` when they no
    /// longer hash to the piece layer, or the request is out of the tree.
    pub fn block_hashes(&self, r: &HashRequest, piece: u32, data: &[u8]) -> Option<Vec<Hash256>> {
        let at = (*self.pieces.get(piece as usize)?)?;
        let tree = self.layer_tree(at.file)?;
        let leaves = merkle::block_leaves(data.get(..at.len as usize)?);
        tree.block_hashes(at.index, &leaves, r.base, r.index, r.length, r.proof_layers)
    }

    /// Every file's piece layer known whole, with its pieces root, for a
    /// .torrent's `piece layers`.
    pub fn complete_layers(&self) -> Vec<(Hash256, Vec<Hash256>)> {
        let layers = self.layers.read();
        layers
            .iter()
            .zip(&self.roots)
            .filter(|(layer, _)| layer.is_complete())
            .filter_map(|(layer, root)| Some(((*root)?, layer.nodes.clone())))
            .collect()
    }

    /// The file with this pieces root (not a pad, not empty), if any.
    pub fn file_for_root(&self, root: &Hash256) -> Option<usize> {
        self.roots.iter().position(|r| r.as_ref() == Some(root))
    }

    /// The tree above a file's piece layer, for answering hash requests;
    /// `None` while the layer is unknown or the file has none.
    pub fn layer_tree(&self, file: usize) -> Option<LayerTree> {
        let layers = self.layers.read();
        let layer = layers.get(file).filter(|l| l.is_complete())?;
        Some(LayerTree::new(&layer.nodes, self.blocks_per_piece))
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
        assert_eq!(hashes.add_layer(&r, &forged), None);
        assert_eq!(hashes.add_layer(&HashRequest { length: 2, ..r }, &answer[..2]), None);
        assert_eq!(check_piece(&meta, Some(&hashes), 1, &bytes[PIECE..2 * PIECE]), Check::Unknown);
        assert!(!hashes.is_known(1));
        assert!(hashes.is_known(3), "a one-piece file is checked against its root");
        assert_eq!(hashes.add_layer(&r, &answer), Some(0..3));
        assert!(hashes.is_known(1));
        assert!(hashes.layer_requests().is_empty());
        assert_eq!(check_piece(&meta, Some(&hashes), 1, &bytes[PIECE..2 * PIECE]), Check::Pass);
        assert_eq!(hashes.layer_tree(0).map(|t| t.root()), meta.files[0].pieces_root);
    }

    #[test]
    fn a_wide_layer_is_asked_for_in_runs_proven_by_their_uncles() {
        // A file of 1000 one-block pieces: its layer (1024 nodes wide) is
        // asked for as two runs of 512, each proven up to the root.
        let piece = BLOCK_SIZE;
        let data: Vec<u8> = (0..1000 * piece).map(|i| (i / piece) as u8 ^ (i % 7) as u8).collect();
        let leaves = merkle::block_leaves(&data);
        let root = merkle::file_root(&leaves);
        let files = vec![FileEntry {
            path: "w".into(),
            length: data.len() as u64,
            pieces_root: Some(root),
            ..Default::default()
        }];
        let meta = Metainfo {
            info_hash: InfoHash([7; 20]),
            has_v1: false,
            info_hash_v2: Some([9; 32]),
            info_bytes: Vec::new(),
            name: "w".into(),
            lengths: Lengths::new(data.len() as u64, piece as u32).expect("lengths"),
            piece_hashes: Vec::new(),
            piece_layers: vec![Vec::new()],
            files,
            trackers: Vec::new(),
            private: false,
            comment: None,
            created_by: None,
            creation_date: None,
            web_seeds: Vec::new(),
        };
        let hashes = PieceHashes::new(&meta).expect("v2");
        let requests = hashes.layer_requests();
        assert_eq!(requests.len(), 2);
        assert_eq!((requests[1].index, requests[1].length, requests[1].proof_layers), (512, 512, 9));
        let tree = LayerTree::new(&leaves, 1);
        let second = requests[1];
        let answer =
            tree.hashes(second.base, second.index, second.length, second.proof_layers).expect("in the tree");
        assert_eq!(answer.len(), 512 + 1, "the run and one uncle");
        assert_eq!(hashes.add_layer(&second, &answer), Some(512..1000));
        assert_eq!(hashes.add_layer(&second, &answer), None, "a run is taken once");
        assert!(hashes.is_known(999) && !hashes.is_known(511));
        assert_eq!(check_piece(&meta, Some(&hashes), 700, &data[700 * piece..701 * piece]), Check::Pass);
        assert!(hashes.layer_tree(0).is_none(), "half a layer answers no requests");
        let first = requests[0];
        let answer =
            tree.hashes(first.base, first.index, first.length, first.proof_layers).expect("in the tree");
        assert_eq!(hashes.add_layer(&first, &answer), Some(0..512));
        assert_eq!(hashes.layer_tree(0).map(|t| t.root()), Some(root));
    }

    #[test]
    fn block_hash_requests_are_answered_from_the_piece_data() {
        let (a, b) = sample();
        let (meta, bytes) = torrent(&a, &b, false);
        let hashes = PieceHashes::new(&meta).expect("v2");
        let root = meta.files[0].pieces_root.expect("root");
        let leaves = merkle::block_leaves(&a);
        // File a: 5 blocks in 3 pieces of 2; its tree has 8 leaves, 3 layers.
        let r = HashRequest { pieces_root: root, base: 0, index: 2, length: 2, proof_layers: 2 };
        assert_eq!(hashes.block_request_piece(&r), Some(1));
        let answer = hashes.block_hashes(&r, 1, &bytes[PIECE..2 * PIECE]).expect("answered");
        assert_eq!(merkle::verify_hashes(&root, 8, 0, 2, 2, 2, &answer), Some(leaves[2..4].to_vec()));
        // The file's last piece: one block and a zero leaf.
        let last = HashRequest { index: 4, ..r };
        assert_eq!(hashes.block_request_piece(&last), Some(2));
        let answer = hashes.block_hashes(&last, 2, &bytes[2 * PIECE..3 * PIECE]).expect("answered");
        assert_eq!(merkle::verify_hashes(&root, 8, 0, 4, 2, 2, &answer), Some(vec![leaves[4], [0; 32]]));
        // Across two pieces, of the piece layer itself, or from bad data:
        // not answered this way.
        assert_eq!(hashes.block_request_piece(&HashRequest { index: 1, ..r }), None);
        assert_eq!(hashes.block_request_piece(&HashRequest { base: 1, ..r }), None);
        let mut bad = bytes[PIECE..2 * PIECE].to_vec();
        bad[7] ^= 1;
        assert_eq!(hashes.block_hashes(&r, 1, &bad), None);
    }
}
