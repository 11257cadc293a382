//! Fetching a magnet link's info dictionary from peers (BEP 9).
//!
//! The metadata is split into 16 KiB pieces requested from every peer that
//! offers it, at most `MAX_REQUESTS_PER_PEER` at a time each, so several
//! peers fill it at once. A piece requested more than
//! `REREQUEST_AFTER` ago may be asked of another peer.
//!
//! A peer that lies is found out when the whole does not hash to the
//! info-hash. When one peer sent every piece it is to blame. When several
//! did, nobody can be blamed, so the fetch starts over with one peer at a
//! time supplying the whole: the next failure names its culprit, and each
//! failure drops one liar, so an honest peer always gets through. A peer
//! that holds the fetch and goes silent loses it, and what it sent with it.

use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::piece_picker::PeerKey;
use crate::proto::extension::{metadata_piece_len, metadata_pieces, METADATA_PIECE_SIZE};
use crate::proto::types::InfoHash;

/// Requests outstanding to one peer (libtorrent's figure).
pub(crate) const MAX_REQUESTS_PER_PEER: usize = 2;

/// A piece not answered within this is asked of another peer too
/// (libtorrent waits 3 seconds).
const REREQUEST_AFTER: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    Missing,
    Requested { by: PeerKey, at: Instant },
    Received { from: PeerKey },
}

/// What `MetadataFetch::on_data` made of a piece.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DataOutcome {
    /// Not usable (not asked of this peer, wrong size or index); dropped.
    Ignored(&'static str),
    /// Stored; more pieces are missing.
    Stored,
    /// The whole metadata, hashing to the info-hash.
    Complete(Vec<u8>),
    /// The whole did not hash to the info-hash. `blamed` is the peer that
    /// sent all of it, if one did; otherwise the fetch goes one peer at a time.
    HashFailed { blamed: Option<PeerKey> },
}

/// Whether `info` is the info dictionary of the swarm `id`: its SHA-1 for
/// a torrent with v1 pieces, else its SHA-256 truncated to 20 bytes (the id
/// of a swarm joined by a `btmh`-only magnet). Matching 160 bits of
/// SHA-256 is as hard to forge as matching SHA-1.
fn hashes_to(info: &[u8], id: &InfoHash) -> bool {
    let v1: [u8; 20] = Sha1::digest(info).into();
    v1 == id.0 || Sha256::digest(info)[..20] == id.0
}

/// The state of one torrent's metadata download.
#[derive(Debug, Default)]
pub(crate) struct MetadataFetch {
    /// The size being fetched, set by the first peer asked.
    size: Option<u32>,
    buf: Vec<u8>,
    pieces: Vec<Piece>,
    /// After a failure no peer could be blamed for: only this peer supplies
    /// pieces until it fails or leaves.
    one_at_a_time: bool,
    owner: Option<PeerKey>,
}

impl MetadataFetch {
    /// Bytes and pieces received, of the size being fetched (for progress).
    pub(crate) fn progress(&self) -> (u32, u32) {
        let have = self.pieces.iter().filter(|p| matches!(p, Piece::Received { .. })).count();
        (have as u32, self.pieces.len() as u32)
    }

    /// The next piece to ask `peer` for, which says the metadata has
    /// `peer_size` bytes (already checked against `max_metadata_size`), or
    /// `None` when there is nothing to ask it now.
    pub(crate) fn next_request(&mut self, peer: PeerKey, peer_size: u32, now: Instant) -> Option<u32> {
        if peer_size == 0 {
            return None;
        }
        match self.size {
            None => self.start(peer_size),
            Some(size) if size != peer_size => {
                // It disagrees with the size being fetched. The size stands
                // while it brings data; a peer that set it and went silent
                // (or left) must not keep the honest ones waiting.
                let stalled = self.pieces.iter().all(|p| match p {
                    Piece::Missing => true,
                    Piece::Requested { at, .. } => now.duration_since(*at) >= REREQUEST_AFTER,
                    Piece::Received { .. } => false,
                });
                if !stalled {
                    return None;
                }
                self.start(peer_size);
            }
            Some(_) => {}
        }
        if self.one_at_a_time {
            match self.owner {
                Some(o) if o != peer => {
                    let fresh = self.pieces.iter().any(
                        |p| matches!(p, Piece::Requested { by, at } if *by == o && now.duration_since(*at) < REREQUEST_AFTER),
                    );
                    if fresh {
                        return None;
                    }
                    // The owner went silent: start over with this peer,
                    // so what the next whole came from stays one peer.
                    self.start(peer_size);
                    self.owner = Some(peer);
                }
                _ => self.owner = Some(peer),
            }
        }
        let pick = self
            .pieces
            .iter()
            .position(|p| *p == Piece::Missing)
            .or_else(|| {
                self.pieces.iter().position(
                    |p| matches!(p, Piece::Requested { by, at } if *by != peer && now.duration_since(*at) >= REREQUEST_AFTER),
                )
            })?;
        self.pieces[pick] = Piece::Requested { by: peer, at: now };
        Some(pick as u32)
    }

    fn start(&mut self, size: u32) {
        self.size = Some(size);
        self.buf = vec![0; size as usize];
        self.pieces = vec![Piece::Missing; metadata_pieces(size) as usize];
        self.owner = None;
    }

    /// A piece of data from `peer`.
    pub(crate) fn on_data(
        &mut self,
        info_hash: &InfoHash,
        peer: PeerKey,
        piece: u32,
        total_size: u32,
        data: &[u8],
    ) -> DataOutcome {
        let Some(size) = self.size else { return DataOutcome::Ignored("no metadata was requested") };
        if total_size != size {
            return DataOutcome::Ignored("total_size differs from the size being fetched");
        }
        let Some(slot) = self.pieces.get(piece as usize) else {
            return DataOutcome::Ignored("piece index outside the metadata");
        };
        if !matches!(slot, Piece::Requested { by, .. } if *by == peer) {
            return DataOutcome::Ignored("piece not requested from this peer");
        }
        if data.len() as u32 != metadata_piece_len(size, piece) {
            return DataOutcome::Ignored("piece of the wrong length");
        }
        let start = (piece * METADATA_PIECE_SIZE) as usize;
        self.buf[start..start + data.len()].copy_from_slice(data);
        self.pieces[piece as usize] = Piece::Received { from: peer };
        if self.pieces.iter().any(|p| !matches!(p, Piece::Received { .. })) {
            return DataOutcome::Stored;
        }
        if hashes_to(&self.buf, info_hash) {
            let buf = std::mem::take(&mut self.buf);
            *self = MetadataFetch::default();
            return DataOutcome::Complete(buf);
        }
        let mut senders = self.pieces.iter().filter_map(|p| match p {
            Piece::Received { from } => Some(*from),
            _ => None,
        });
        let first = senders.next();
        let blamed = first.filter(|f| senders.all(|s| s == *f));
        // Start over, with the size open again: the liar may have set it.
        // Without a culprit, one peer at a time from now on.
        let one_at_a_time = self.one_at_a_time || blamed.is_none();
        *self = MetadataFetch { one_at_a_time, ..MetadataFetch::default() };
        DataOutcome::HashFailed { blamed }
    }

    /// `peer` will not send `piece`: another peer may be asked.
    pub(crate) fn on_reject(&mut self, peer: PeerKey, piece: u32) {
        if let Some(p) = self.pieces.get_mut(piece as usize) {
            if matches!(p, Piece::Requested { by, .. } if *by == peer) {
                *p = Piece::Missing;
            }
        }
        if self.owner == Some(peer) {
            self.owner = None;
        }
    }

    /// `peer` is gone: its requests are open again.
    pub(crate) fn peer_left(&mut self, peer: PeerKey) {
        for p in &mut self.pieces {
            if matches!(p, Piece::Requested { by, .. } if *by == peer) {
                *p = Piece::Missing;
            }
        }
        if self.owner == Some(peer) {
            self.owner = None;
        }
        // Pieces it sent stay: if they were false the hash says so, and
        // then nobody is blamed and the fetch goes one peer at a time.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: &[u8]) -> InfoHash {
        InfoHash(Sha1::digest(b).into())
    }

    fn fetch_all(f: &mut MetadataFetch, ih: &InfoHash, peer: PeerKey, data: &[u8]) -> DataOutcome {
        let now = Instant::now();
        let mut last = DataOutcome::Stored;
        while let Some(p) = f.next_request(peer, data.len() as u32, now) {
            let s = (p * METADATA_PIECE_SIZE) as usize;
            let e = (s + METADATA_PIECE_SIZE as usize).min(data.len());
            last = f.on_data(ih, peer, p, data.len() as u32, &data[s..e]);
            if last != DataOutcome::Stored {
                break;
            }
        }
        last
    }

    #[test]
    fn one_honest_peer_completes() {
        let meta: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let ih = hash(&meta);
        let mut f = MetadataFetch::default();
        assert_eq!(fetch_all(&mut f, &ih, 1, &meta), DataOutcome::Complete(meta.clone()));
    }

    #[test]
    fn pieces_spread_over_peers_and_time_out_to_others() {
        let meta = vec![5u8; 3 * 16384];
        let ih = hash(&meta);
        let mut f = MetadataFetch::default();
        let t0 = Instant::now();
        assert_eq!(f.next_request(1, meta.len() as u32, t0), Some(0));
        assert_eq!(f.next_request(2, meta.len() as u32, t0), Some(1));
        assert_eq!(f.next_request(2, meta.len() as u32, t0), Some(2));
        assert_eq!(f.next_request(3, meta.len() as u32, t0), None, "all asked, none late");
        let late = t0 + REREQUEST_AFTER;
        assert_eq!(f.next_request(3, meta.len() as u32, late), Some(0), "peer 1 is late");
        assert_eq!(
            f.on_data(&ih, 1, 0, meta.len() as u32, &meta[..16384]),
            DataOutcome::Ignored("piece not requested from this peer")
        );
        assert_eq!(f.on_data(&ih, 3, 0, meta.len() as u32, &meta[..16384]), DataOutcome::Stored);
        assert_eq!(f.progress(), (1, 3));
    }

    #[test]
    fn a_lone_liar_is_blamed() {
        let meta = vec![1u8; 20_000];
        let ih = hash(&meta);
        let lie = vec![2u8; 20_000];
        let mut f = MetadataFetch::default();
        assert_eq!(fetch_all(&mut f, &ih, 7, &lie), DataOutcome::HashFailed { blamed: Some(7) });
        assert_eq!(fetch_all(&mut f, &ih, 8, &meta), DataOutcome::Complete(meta));
    }

    #[test]
    fn a_liar_among_several_is_found_one_peer_at_a_time() {
        let meta = vec![1u8; 2 * 16384];
        let ih = hash(&meta);
        let lie = vec![2u8; 2 * 16384];
        let n = meta.len() as u32;
        let now = Instant::now();
        let mut f = MetadataFetch::default();
        assert_eq!(f.next_request(1, n, now), Some(0));
        assert_eq!(f.next_request(2, n, now), Some(1));
        assert_eq!(f.on_data(&ih, 1, 0, n, &meta[..16384]), DataOutcome::Stored);
        assert_eq!(f.on_data(&ih, 2, 1, n, &lie[16384..]), DataOutcome::HashFailed { blamed: None });
        // Now peer 2 owns the fetch; peer 1 waits.
        assert_eq!(f.next_request(2, n, now), Some(0));
        assert_eq!(f.next_request(1, n, now), None);
        assert_eq!(f.on_data(&ih, 2, 0, n, &lie[..16384]), DataOutcome::Stored);
        assert_eq!(f.next_request(2, n, now), Some(1));
        assert_eq!(f.on_data(&ih, 2, 1, n, &lie[16384..]), DataOutcome::HashFailed { blamed: Some(2) });
        f.peer_left(2);
        assert_eq!(fetch_all(&mut f, &ih, 1, &meta), DataOutcome::Complete(meta));
    }

    #[test]
    fn a_silent_owner_is_replaced_and_its_pieces_dropped() {
        let meta = vec![1u8; 2 * 16384];
        let ih = hash(&meta);
        let lie = vec![2u8; 2 * 16384];
        let n = meta.len() as u32;
        let t0 = Instant::now();
        let mut f = MetadataFetch::default();
        assert_eq!(f.next_request(1, n, t0), Some(0));
        assert_eq!(f.next_request(2, n, t0), Some(1));
        assert_eq!(f.on_data(&ih, 1, 0, n, &meta[..16384]), DataOutcome::Stored);
        assert_eq!(f.on_data(&ih, 2, 1, n, &lie[16384..]), DataOutcome::HashFailed { blamed: None });
        // Peer 2 owns the fetch, gets piece 0, then goes silent on piece 1.
        assert_eq!(f.next_request(2, n, t0), Some(0));
        assert_eq!(f.on_data(&ih, 2, 0, n, &lie[..16384]), DataOutcome::Stored);
        assert_eq!(f.next_request(2, n, t0), Some(1));
        assert_eq!(f.next_request(1, n, t0), None, "the owner is still in time");
        let late = t0 + REREQUEST_AFTER;
        assert_eq!(f.next_request(1, n, late), Some(0), "peer 1 takes over from the start");
        assert_eq!(f.progress(), (0, 2), "the silent owner's piece is not mixed in");
        assert_eq!(f.on_data(&ih, 1, 0, n, &meta[..16384]), DataOutcome::Stored);
        assert_eq!(
            f.on_data(&ih, 2, 1, n, &lie[16384..]),
            DataOutcome::Ignored("piece not requested from this peer")
        );
        assert_eq!(f.next_request(1, n, late), Some(1));
        assert_eq!(f.on_data(&ih, 1, 1, n, &meta[16384..]), DataOutcome::Complete(meta));
    }

    #[test]
    fn a_wrong_size_waits_and_bad_pieces_are_ignored() {
        let meta = vec![1u8; 100];
        let ih = hash(&meta);
        let mut f = MetadataFetch::default();
        let now = Instant::now();
        assert_eq!(f.next_request(1, 5000, now), Some(0), "the first peer sets the size");
        assert_eq!(f.next_request(2, 100, now), None, "a peer that disagrees waits");
        assert_eq!(
            f.on_data(&ih, 1, 0, 100, &meta),
            DataOutcome::Ignored("total_size differs from the size being fetched")
        );
        assert_eq!(
            f.on_data(&ih, 1, 9, 5000, &meta),
            DataOutcome::Ignored("piece index outside the metadata")
        );
        assert_eq!(f.on_data(&ih, 1, 0, 5000, &meta), DataOutcome::Ignored("piece of the wrong length"));
        assert_eq!(f.next_request(0, 0, now), None);
        f.on_reject(1, 0);
        assert_eq!(f.next_request(1, 5000, now), Some(0), "a rejected piece is open again");
        let later = now + REREQUEST_AFTER;
        assert_eq!(f.next_request(2, 100, later), Some(0), "a silent size-setter no longer holds the fetch");
        assert_eq!(f.on_data(&ih, 2, 0, 100, &meta), DataOutcome::Complete(meta));
    }
}
