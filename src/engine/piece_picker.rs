//! The piece picker: which blocks to request from which peer, and where
//! every block of the torrent stands. Pure and synchronous (no tokio, no
//! clocks), so it is unit- and property-tested directly. Its invariants
//! are written in STATE.md beside this file.

use std::collections::{HashMap, HashSet};

use crate::proto::bitfield::Bitfield;
use crate::proto::types::{Lengths, BLOCK_SIZE};

/// Identifies a peer connection to the picker.
pub type PeerKey = u64;

/// Default piece priority; 0 means "do not download".
pub const DEFAULT_PRIORITY: u8 = 4;
/// Most peers that may have the same block requested (in endgame).
const MAX_REQUESTERS: usize = 2;

/// A 16 KiB block: its piece and its index within the piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Block {
    pub piece: u32,
    pub index: u32,
}

impl Block {
    /// Byte offset of the block in its piece.
    pub fn begin(&self) -> u32 {
        self.index * BLOCK_SIZE
    }
}

/// What a received block meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A block we needed; `piece_complete` when it was the piece's last.
    New { piece_complete: bool },
    /// We had it already (received before, or the piece is verified).
    Duplicate,
    /// Nobody asked for it and its piece is not being downloaded: dropped.
    NotRequested,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockState {
    Missing,
    Requested,
    Received,
}

/// A piece some of whose blocks are requested or received.
#[derive(Debug)]
struct Partial {
    state: Vec<BlockState>,
    requesters: Vec<Vec<PeerKey>>,
    received: u32,
}

impl Partial {
    fn is_idle(&self) -> bool {
        self.state.iter().all(|s| *s == BlockState::Missing)
    }

    fn is_complete(&self) -> bool {
        self.received as usize == self.state.len()
    }
}

/// The download state of one torrent's pieces and blocks.
#[derive(Debug)]
pub struct PiecePicker {
    lengths: Lengths,
    have: Bitfield,
    /// Pieces we lack and want (priority > 0): `!have & priority > 0`.
    wanted: Bitfield,
    priority: Vec<u8>,
    availability: Vec<u32>,
    /// A fixed random number per piece, to break availability ties.
    tiebreak: Vec<u32>,
    partial: HashMap<u32, Partial>,
    by_peer: HashMap<PeerKey, HashSet<Block>>,
    sequential: bool,
    endgame_picks: u64,
    /// Pieces whose hash is not known yet (a v2 torrent from a magnet,
    /// before its piece layers arrive): not opened, since their data
    /// could not be checked and would be thrown away.
    awaiting_hash: Bitfield,
}

impl PiecePicker {
    pub fn new(lengths: Lengths) -> PiecePicker {
        use rand::Rng;
        let n = lengths.num_pieces();
        let mut rng = rand::thread_rng();
        PiecePicker {
            lengths,
            have: Bitfield::new(n),
            wanted: Bitfield::full(n),
            priority: vec![DEFAULT_PRIORITY; n as usize],
            availability: vec![0; n as usize],
            tiebreak: (0..n).map(|_| rng.gen()).collect(),
            partial: HashMap::new(),
            by_peer: HashMap::new(),
            sequential: false,
            endgame_picks: 0,
            awaiting_hash: Bitfield::new(n),
        }
    }

    /// Marks whether `piece`'s hash is known (see `awaiting_hash`).
    pub fn set_hash_known(&mut self, piece: u32, known: bool) {
        if piece < self.lengths.num_pieces() {
            self.awaiting_hash.set(piece, !known);
        }
    }

    /// Whether a new request may start `piece`: wanted, not under way,
    /// and checkable.
    fn can_open(&self, piece: u32) -> bool {
        self.wanted.get(piece) && !self.partial.contains_key(&piece) && !self.awaiting_hash.get(piece)
    }

    pub fn lengths(&self) -> &Lengths {
        &self.lengths
    }

    pub fn have(&self, piece: u32) -> bool {
        self.have.get(piece)
    }

    pub fn have_bitfield(&self) -> &Bitfield {
        &self.have
    }

    pub fn num_have(&self) -> u32 {
        self.have.count_ones()
    }

    /// Every piece with priority > 0 is had.
    pub fn is_finished(&self) -> bool {
        self.wanted.none()
    }

    /// Every piece is had.
    pub fn is_seed(&self) -> bool {
        self.have.all()
    }

    pub fn bytes_have(&self) -> u64 {
        self.have.ones().map(|p| self.lengths.piece_size(p) as u64).sum()
    }

    pub fn bytes_wanted(&self) -> u64 {
        (0..self.lengths.num_pieces())
            .filter(|p| self.priority[*p as usize] > 0)
            .map(|p| self.lengths.piece_size(p) as u64)
            .sum()
    }

    pub fn bytes_wanted_done(&self) -> u64 {
        self.have
            .ones()
            .filter(|p| self.priority[*p as usize] > 0)
            .map(|p| self.lengths.piece_size(p) as u64)
            .sum()
    }

    pub fn set_piece_priority(&mut self, piece: u32, prio: u8) {
        if let Some(p) = self.priority.get_mut(piece as usize) {
            *p = prio.min(7);
            self.wanted.set(piece, prio > 0 && !self.have.get(piece));
        }
    }

    pub fn piece_priority(&self, piece: u32) -> u8 {
        self.priority.get(piece as usize).copied().unwrap_or(0)
    }

    pub fn set_sequential(&mut self, on: bool) {
        self.sequential = on;
    }

    pub fn is_sequential(&self) -> bool {
        self.sequential
    }

    /// Every piece's priority, by index.
    pub fn priorities(&self) -> &[u8] {
        &self.priority
    }

    /// Forgets every had piece and every request, keeping priorities and
    /// availability (before a recheck of the files).
    pub fn reset_have(&mut self) {
        let n = self.lengths.num_pieces();
        self.have = Bitfield::new(n);
        for p in 0..n {
            self.wanted.set(p, self.priority[p as usize] > 0);
        }
        self.partial.clear();
        self.by_peer.clear();
    }

    pub fn add_peer_bitfield(&mut self, has: &Bitfield) {
        for p in has.ones() {
            if let Some(a) = self.availability.get_mut(p as usize) {
                *a += 1;
            }
        }
    }

    pub fn remove_peer_bitfield(&mut self, has: &Bitfield) {
        for p in has.ones() {
            if let Some(a) = self.availability.get_mut(p as usize) {
                *a = a.saturating_sub(1);
            }
        }
    }

    pub fn add_peer_have(&mut self, piece: u32) {
        if let Some(a) = self.availability.get_mut(piece as usize) {
            *a += 1;
        }
    }

    /// Complete copies among the peers: the count of the rarest piece, plus
    /// the fraction of pieces that more peers than that have.
    pub fn distributed_copies(&self) -> f64 {
        let Some(min) = self.availability.iter().min().copied() else { return 0.0 };
        let above = self.availability.iter().filter(|a| **a > min).count();
        min as f64 + above as f64 / self.availability.len() as f64
    }

    /// The peer has a piece we lack and want.
    pub fn is_interesting(&self, peer_has: &Bitfield) -> bool {
        peer_has.len() == self.wanted.len()
            && peer_has.as_bytes().iter().zip(self.wanted.as_bytes()).any(|(a, b)| a & b != 0)
    }

    /// Blocks handed out to a second requester in endgame, in total.
    pub fn endgame_picks(&self) -> u64 {
        self.endgame_picks
    }

    /// No block is left that nobody has been asked for.
    pub fn in_endgame(&self) -> bool {
        let open = self.wanted.ones().any(|p| !self.partial.contains_key(&p));
        !open && self.partial.values().all(|pp| pp.state.iter().all(|s| *s != BlockState::Missing))
    }

    fn mark_requested(&mut self, block: Block, peer: PeerKey) {
        if let Some(pp) = self.partial.get_mut(&block.piece) {
            let i = block.index as usize;
            pp.state[i] = BlockState::Requested;
            pp.requesters[i].push(peer);
            self.by_peer.entry(peer).or_default().insert(block);
        }
    }

    fn open_piece(&mut self, piece: u32) {
        let n = self.lengths.blocks_in_piece(piece) as usize;
        self.partial.insert(
            piece,
            Partial { state: vec![BlockState::Missing; n], requesters: vec![Vec::new(); n], received: 0 },
        );
    }

    /// Picks up to `max` blocks this peer has and marks them requested by
    /// it, appending them to `out`. Blocks of pieces under way come first,
    /// then new pieces by priority and rarity (or in order when
    /// sequential); in endgame, blocks already requested from one other peer.
    pub fn pick_blocks(&mut self, peer_has: &Bitfield, peer: PeerKey, max: usize, out: &mut Vec<Block>) {
        if max == 0 || peer_has.len() != self.lengths.num_pieces() {
            return;
        }
        let start = out.len();
        // 1. Missing blocks of pieces under way.
        let mut partials: Vec<u32> = self.partial.keys().copied().filter(|p| peer_has.get(*p)).collect();
        partials.sort_unstable_by_key(|p| (std::cmp::Reverse(self.priority[*p as usize]), *p));
        for piece in partials {
            self.take_missing(piece, peer, max, start, out);
            if out.len() - start >= max {
                return;
            }
        }
        // 2. New pieces.
        let mut candidates: Vec<(u64, u32)> = self
            .wanted
            .ones()
            .filter(|p| peer_has.get(*p) && self.can_open(*p))
            .map(|p| (self.piece_rank(p), p))
            .collect();
        if !candidates.is_empty() {
            let blocks_per_piece = (self.lengths.piece_length().div_ceil(BLOCK_SIZE)).max(1) as usize;
            let need = (max - (out.len() - start)).div_ceil(blocks_per_piece) + 1;
            if need < candidates.len() {
                candidates.select_nth_unstable(need);
                candidates.truncate(need);
            }
            candidates.sort_unstable();
            for (_, piece) in candidates {
                self.open_piece(piece);
                self.take_missing(piece, peer, max, start, out);
                if out.len() - start >= max {
                    return;
                }
            }
        }
        // 3. Endgame: share blocks already requested by others.
        if out.len() == start && self.in_endgame() {
            let mut pieces: Vec<u32> = self.partial.keys().copied().filter(|p| peer_has.get(*p)).collect();
            pieces.sort_unstable();
            'outer: for piece in pieces {
                let Some(pp) = self.partial.get(&piece) else { continue };
                let picks: Vec<u32> = (0..pp.state.len() as u32)
                    .filter(|i| {
                        let i = *i as usize;
                        pp.state[i] == BlockState::Requested
                            && pp.requesters[i].len() < MAX_REQUESTERS
                            && !pp.requesters[i].contains(&peer)
                    })
                    .collect();
                for index in picks {
                    let b = Block { piece, index };
                    self.endgame_picks += 1;
                    self.mark_requested(b, peer);
                    out.push(b);
                    if out.len() - start >= max {
                        break 'outer;
                    }
                }
            }
        }
    }

    /// Picks whole pieces in a row for a source that has every piece and
    /// sends a run of bytes per request (a web seed; libtorrent's
    /// "prefer contiguous blocks"): the best-ranked piece nobody started,
    /// then the pieces after it while nobody started them either, up to
    /// `max` blocks (at least the first piece). When every wanted piece is
    /// under way, picks as `pick_blocks` does (partial pieces, endgame).
    pub fn pick_run(&mut self, peer: PeerKey, max: usize, out: &mut Vec<Block>) {
        let n = self.lengths.num_pieces();
        let first = self.wanted.ones().filter(|p| self.can_open(*p)).min_by_key(|p| self.piece_rank(*p));
        let Some(mut piece) = first else {
            self.pick_blocks(&Bitfield::full(n), peer, max, out);
            return;
        };
        let start = out.len();
        while piece < n && self.can_open(piece) {
            let blocks = self.lengths.blocks_in_piece(piece) as usize;
            if out.len() > start && out.len() - start + blocks > max {
                break;
            }
            self.open_piece(piece);
            self.take_missing(piece, peer, usize::MAX, start, out);
            piece += 1;
        }
    }

    /// Sort key of a new piece: lower is picked first.
    fn piece_rank(&self, piece: u32) -> u64 {
        let prio = 7 - self.priority[piece as usize] as u64;
        if self.sequential {
            (prio << 40) | piece as u64
        } else {
            let avail = self.availability[piece as usize].min(0xff_ffff) as u64;
            (prio << 56) | (avail << 32) | self.tiebreak[piece as usize] as u64
        }
    }

    fn take_missing(&mut self, piece: u32, peer: PeerKey, max: usize, start: usize, out: &mut Vec<Block>) {
        let Some(pp) = self.partial.get(&piece) else { return };
        let missing: Vec<u32> = pp
            .state
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == BlockState::Missing)
            .map(|(i, _)| i as u32)
            .take(max - (out.len() - start))
            .collect();
        for index in missing {
            let b = Block { piece, index };
            self.mark_requested(b, peer);
            out.push(b);
        }
    }

    /// The peers that have `block` requested now.
    pub fn requesters(&self, block: Block) -> impl Iterator<Item = PeerKey> + '_ {
        self.partial
            .get(&block.piece)
            .and_then(|pp| pp.requesters.get(block.index as usize))
            .into_iter()
            .flatten()
            .copied()
    }

    /// Records a block's data arriving from `peer`.
    pub fn on_block_received(&mut self, block: Block, peer: PeerKey) -> Received {
        if self.have.get(block.piece) {
            self.forget_request(block, peer);
            return Received::Duplicate;
        }
        let Some(pp) = self.partial.get_mut(&block.piece) else { return Received::NotRequested };
        let i = block.index as usize;
        let Some(state) = pp.state.get(i).copied() else { return Received::NotRequested };
        match state {
            BlockState::Received => {
                self.forget_request(block, peer);
                Received::Duplicate
            }
            BlockState::Missing | BlockState::Requested => {
                pp.state[i] = BlockState::Received;
                pp.received += 1;
                let requesters = std::mem::take(&mut pp.requesters[i]);
                let complete = pp.is_complete();
                for r in requesters {
                    if let Some(set) = self.by_peer.get_mut(&r) {
                        set.remove(&block);
                    }
                }
                Received::New { piece_complete: complete }
            }
        }
    }

    fn forget_request(&mut self, block: Block, peer: PeerKey) {
        if let Some(set) = self.by_peer.get_mut(&peer) {
            set.remove(&block);
        }
        if let Some(pp) = self.partial.get_mut(&block.piece) {
            if let Some(r) = pp.requesters.get_mut(block.index as usize) {
                r.retain(|k| *k != peer);
            }
        }
    }

    /// Gives up `peer`'s request for `block` (rejected, choked, timed out):
    /// the block is missing again unless another peer has it requested.
    pub fn abort_request(&mut self, block: Block, peer: PeerKey) {
        if let Some(set) = self.by_peer.get_mut(&peer) {
            if !set.remove(&block) {
                return;
            }
        } else {
            return;
        }
        let Some(pp) = self.partial.get_mut(&block.piece) else { return };
        let i = block.index as usize;
        let Some(r) = pp.requesters.get_mut(i) else { return };
        r.retain(|k| *k != peer);
        if r.is_empty() && pp.state[i] == BlockState::Requested {
            pp.state[i] = BlockState::Missing;
        }
        if pp.is_idle() {
            self.partial.remove(&block.piece);
        }
    }

    /// A peer went away: all its requests are released.
    pub fn remove_peer(&mut self, peer: PeerKey) {
        let Some(blocks) = self.by_peer.get(&peer) else { return };
        let blocks: Vec<Block> = blocks.iter().copied().collect();
        for b in blocks {
            self.abort_request(b, peer);
        }
        self.by_peer.remove(&peer);
    }

    /// The piece passed its hash check.
    pub fn on_hash_passed(&mut self, piece: u32) {
        self.set_have(piece);
    }

    /// The piece failed its hash check: every block is missing again.
    pub fn on_hash_failed(&mut self, piece: u32) {
        if let Some(pp) = self.partial.remove(&piece) {
            for (i, reqs) in pp.requesters.iter().enumerate() {
                for r in reqs {
                    if let Some(set) = self.by_peer.get_mut(r) {
                        set.remove(&Block { piece, index: i as u32 });
                    }
                }
            }
        }
    }

    /// Marks a piece had (verified by a check or a passed hash).
    pub fn set_have(&mut self, piece: u32) {
        if piece >= self.lengths.num_pieces() {
            return;
        }
        self.on_hash_failed(piece);
        self.have.set(piece, true);
        self.wanted.set(piece, false);
    }

    /// Blocks `peer` has requested and not received.
    pub fn block_count_requested_by(&self, peer: PeerKey) -> usize {
        self.by_peer.get(&peer).map_or(0, |s| s.len())
    }

    /// Checks the invariants of STATE.md (tests only).
    #[cfg(test)]
    fn check(&self) {
        for (piece, pp) in &self.partial {
            assert!(!self.have.get(*piece), "a had piece is partial");
            assert!(!pp.is_idle(), "an idle piece is kept partial");
            let received = pp.state.iter().filter(|s| **s == BlockState::Received).count();
            assert_eq!(received as u32, pp.received);
            for (i, s) in pp.state.iter().enumerate() {
                let reqs = &pp.requesters[i];
                match s {
                    BlockState::Missing | BlockState::Received => assert!(reqs.is_empty()),
                    BlockState::Requested => assert!(!reqs.is_empty() && reqs.len() <= MAX_REQUESTERS),
                }
                for r in reqs {
                    assert!(self
                        .by_peer
                        .get(r)
                        .is_some_and(|set| set.contains(&Block { piece: *piece, index: i as u32 })));
                }
            }
        }
        for (peer, set) in &self.by_peer {
            for b in set {
                let pp = self.partial.get(&b.piece).expect("a peer's block is in a partial piece");
                assert!(pp.requesters[b.index as usize].contains(peer));
            }
        }
        assert_eq!(
            self.is_finished(),
            (0..self.lengths.num_pieces()).all(|p| self.have(p) || self.priority[p as usize] == 0)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn picker(pieces: u32, piece_len: u32) -> PiecePicker {
        PiecePicker::new(Lengths::new(pieces as u64 * piece_len as u64 - 100, piece_len).unwrap())
    }

    #[test]
    fn runs_are_whole_pieces_in_a_row() {
        let mut p = picker(6, 2 * BLOCK_SIZE);
        p.set_sequential(true);
        p.set_have(1);
        let mut out = Vec::new();
        // Piece 0 alone: piece 1 is had.
        p.pick_run(1, 100, &mut out);
        assert_eq!(out.iter().map(|b| b.piece).collect::<Vec<_>>(), vec![0, 0]);
        // Pieces 2 and 3 fill 4 blocks; piece 4 would pass the limit.
        out.clear();
        p.pick_run(1, 5, &mut out);
        assert_eq!(out.iter().map(|b| b.piece).collect::<Vec<_>>(), vec![2, 2, 3, 3]);
        // A limit below one piece still gives the whole first piece.
        out.clear();
        p.pick_run(2, 1, &mut out);
        assert_eq!(out, vec![Block { piece: 4, index: 0 }, Block { piece: 4, index: 1 }]);
        // Piece 5 (one short block), then nothing new: endgame gives
        // requested blocks to a second source.
        out.clear();
        p.pick_run(2, 10, &mut out);
        assert_eq!(out, vec![Block { piece: 5, index: 0 }, Block { piece: 5, index: 1 }]);
        out.clear();
        p.pick_run(3, 1, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(p.endgame_picks(), 1);
        p.check();
    }

    #[test]
    fn pieces_awaiting_their_hash_are_not_started() {
        let mut p = picker(3, BLOCK_SIZE);
        p.set_sequential(true);
        p.set_hash_known(0, false);
        p.set_hash_known(1, false);
        let mut out = Vec::new();
        p.pick_blocks(&Bitfield::full(3), 1, 10, &mut out);
        assert_eq!(out.iter().map(|b| b.piece).collect::<Vec<_>>(), vec![2]);
        out.clear();
        p.pick_run(2, 10, &mut out);
        assert!(out.iter().all(|b| b.piece == 2), "a web seed waits too: {out:?}");
        p.set_hash_known(1, true);
        out.clear();
        p.pick_blocks(&Bitfield::full(3), 1, 10, &mut out);
        assert_eq!(out.iter().map(|b| b.piece).collect::<Vec<_>>(), vec![1]);
        p.check();
    }

    #[test]
    fn partial_pieces_come_first_then_rarest() {
        let mut p = picker(4, 4 * BLOCK_SIZE);
        let all = Bitfield::full(4);
        let mut rare = Bitfield::new(4);
        rare.set(2, true);
        p.add_peer_bitfield(&all);
        p.add_peer_bitfield(&all);
        p.add_peer_bitfield(&rare);
        let mut out = Vec::new();
        p.pick_blocks(&all, 1, 2, &mut out);
        assert!(
            out.iter().all(|b| b.piece == 0 || b.piece == 1 || b.piece == 3),
            "piece 2 is the most common"
        );
        let first = out[0].piece;
        out.clear();
        p.pick_blocks(&all, 2, 2, &mut out);
        assert!(out.iter().all(|b| b.piece == first), "finish the partial piece first");
        p.check();
    }

    #[test]
    fn sequential_and_priority() {
        let mut p = picker(5, BLOCK_SIZE);
        p.set_sequential(true);
        p.set_piece_priority(0, 0);
        p.set_piece_priority(3, 7);
        let all = Bitfield::full(5);
        let mut out = Vec::new();
        p.pick_blocks(&all, 1, 4, &mut out);
        let pieces: Vec<u32> = out.iter().map(|b| b.piece).collect();
        assert_eq!(pieces, vec![3, 1, 2, 4]);
        assert!(!p.is_finished());
        for piece in 1..5 {
            p.set_have(piece);
        }
        assert!(p.is_finished() && !p.is_seed());
        p.check();
    }

    #[test]
    fn receive_complete_and_hash_fail() {
        let mut p = picker(2, 2 * BLOCK_SIZE);
        let all = Bitfield::full(2);
        let mut out = Vec::new();
        p.pick_blocks(&all, 1, 2, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(p.on_block_received(out[0], 1), Received::New { piece_complete: false });
        assert_eq!(p.on_block_received(out[0], 1), Received::Duplicate);
        assert_eq!(p.on_block_received(out[1], 1), Received::New { piece_complete: true });
        p.on_hash_failed(out[0].piece);
        p.check();
        assert!(!p.have(out[0].piece));
        let mut again = Vec::new();
        p.pick_blocks(&all, 2, 10, &mut again);
        assert_eq!(again.len(), 4, "the failed piece is picked again");
        assert_eq!(p.on_block_received(Block { piece: 1, index: 5 }, 2), Received::NotRequested);
        p.check();
    }

    #[test]
    fn disconnect_releases_requests_and_endgame_shares() {
        let mut p = picker(1, 2 * BLOCK_SIZE);
        let all = Bitfield::full(1);
        let mut out = Vec::new();
        p.pick_blocks(&all, 1, 10, &mut out);
        assert_eq!(out.len(), 2);
        assert!(p.in_endgame());
        let mut dup = Vec::new();
        p.pick_blocks(&all, 2, 10, &mut dup);
        assert_eq!(dup.len(), 2, "endgame: the second peer gets the same blocks");
        assert_eq!(p.requesters(out[0]).count(), 2);
        let mut third = Vec::new();
        p.pick_blocks(&all, 3, 10, &mut third);
        assert!(third.is_empty(), "at most two requesters per block");
        p.remove_peer(1);
        p.remove_peer(2);
        p.check();
        assert!(p.partial.is_empty());
        assert_eq!(p.block_count_requested_by(1), 0);
    }

    #[test]
    fn not_interesting_without_wanted_pieces() {
        let mut p = picker(3, BLOCK_SIZE);
        let mut has = Bitfield::new(3);
        has.set(1, true);
        assert!(p.is_interesting(&has));
        p.set_have(1);
        assert!(!p.is_interesting(&has));
        assert!(!p.is_interesting(&Bitfield::new(7)));
    }

    #[test]
    fn pick_speed() {
        let lengths = Lengths::new(10_000 * 256 * 1024, 256 * 1024).unwrap();
        let mut p = PiecePicker::new(lengths);
        let peers: Vec<Bitfield> = (0..200)
            .map(|i| {
                let mut b = Bitfield::new(10_000);
                for piece in 0..10_000u32 {
                    if (piece.wrapping_mul(2654435761) ^ i) % 3 != 0 {
                        b.set(piece, true);
                    }
                }
                b
            })
            .collect();
        for b in &peers {
            p.add_peer_bitfield(b);
        }
        let start = std::time::Instant::now();
        let mut out = Vec::new();
        let rounds = 500;
        for r in 0..rounds {
            out.clear();
            p.pick_blocks(&peers[r % 200], (r % 200) as u64, 32, &mut out);
            for b in out.clone() {
                if p.on_block_received(b, (r % 200) as u64) == (Received::New { piece_complete: true }) {
                    p.on_hash_passed(b.piece);
                }
            }
        }
        let per = start.elapsed() / rounds as u32;
        eprintln!("pick_blocks(32) with 10,000 pieces, 200 peers: {per:?} per call");
        assert!(per < std::time::Duration::from_millis(20));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Pick(u64, usize),
        Receive(u64, usize),
        Abort(u64, usize),
        Disconnect(u64),
        HashPass(usize),
        HashFail(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4u64, 1..20usize).prop_map(|(p, n)| Op::Pick(p, n)),
            (0..4u64, 0..50usize).prop_map(|(p, i)| Op::Receive(p, i)),
            (0..4u64, 0..50usize).prop_map(|(p, i)| Op::Abort(p, i)),
            (0..4u64).prop_map(Op::Disconnect),
            (0..8usize).prop_map(Op::HashPass),
            (0..8usize).prop_map(Op::HashFail),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold(ops in proptest::collection::vec(op(), 1..200)) {
            let mut p = picker(6, 3 * BLOCK_SIZE);
            let all = Bitfield::full(6);
            let mut buf = Vec::new();
            for op in ops {
                match op {
                    Op::Pick(peer, n) => { buf.clear(); p.pick_blocks(&all, peer, n, &mut buf); }
                    Op::Receive(peer, i) => {
                        let blocks: Vec<Block> = p.by_peer.get(&peer).map(|s| { let mut v: Vec<_> = s.iter().copied().collect(); v.sort(); v }).unwrap_or_default();
                        if let Some(b) = blocks.get(i % blocks.len().max(1)) {
                            if let Received::New { piece_complete: true } = p.on_block_received(*b, peer) {
                                p.on_hash_passed(b.piece);
                            }
                        }
                    }
                    Op::Abort(peer, i) => {
                        let blocks: Vec<Block> = p.by_peer.get(&peer).map(|s| { let mut v: Vec<_> = s.iter().copied().collect(); v.sort(); v }).unwrap_or_default();
                        if let Some(b) = blocks.get(i % blocks.len().max(1)) { p.abort_request(*b, peer); }
                    }
                    Op::Disconnect(peer) => p.remove_peer(peer),
                    Op::HashPass(piece) => {
                        let complete = p.partial.get(&(piece as u32)).is_some_and(|pp| pp.is_complete());
                        if complete { p.on_hash_passed(piece as u32); }
                    }
                    Op::HashFail(piece) => {
                        let complete = p.partial.get(&(piece as u32)).is_some_and(|pp| pp.is_complete());
                        if complete { p.on_hash_failed(piece as u32); }
                    }
                }
                p.check();
            }
        }
    }
}
