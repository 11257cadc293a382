//! The torrent queue: which auto-managed torrents run, with libtorrent's
//! semantics for `active_downloads`, `active_seeds` and `active_limit`.
//!
//! Pure: the session collects one [`QueueEntry`] per torrent, [`plan`]
//! answers which auto-managed torrents should be queued (stopped by the
//! queue) and which should run, and the session applies the answer. The
//! rules, as libtorrent documents them:
//! - downloading torrents start in queue-position order, seeds in the
//!   order they were added;
//! - running torrents that are not auto-managed count against the limits
//!   too, so they can use up every slot;
//! - a limit of -1 means no limit;
//! - torrents paused by the user, stopped by an error or checking their
//!   files are not the queue's to start or stop.

use super::torrent::TorrentId;

/// What the queue needs to know of one torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: TorrentId,
    /// Position in the download queue; -1 for finished torrents.
    pub position: i64,
    pub auto_managed: bool,
    /// Paused by the user, or stopped by an error: not the queue's to start.
    pub held: bool,
    /// Checking its files (runs whatever the queue says).
    pub checking: bool,
    /// Has every wanted piece.
    pub finished: bool,
}

/// The limits, from the settings of the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    pub active_downloads: i64,
    pub active_seeds: i64,
    pub active_limit: i64,
}

/// A count of free slots; `None` is unlimited.
#[derive(Clone, Copy, Debug)]
struct Slots(Option<i64>);

impl Slots {
    fn new(limit: i64) -> Slots {
        Slots((limit >= 0).then_some(limit))
    }

    fn has_room(&self) -> bool {
        self.0.is_none_or(|n| n > 0)
    }

    fn take(&mut self) {
        if let Some(n) = &mut self.0 {
            *n -= 1;
        }
    }
}

/// For every auto-managed torrent that is the queue's to decide, whether
/// it should be queued (`true`) or run (`false`).
pub fn plan(entries: &[QueueEntry], limits: QueueLimits) -> Vec<(TorrentId, bool)> {
    let mut downloads = Slots::new(limits.active_downloads);
    let mut seeds = Slots::new(limits.active_seeds);
    let mut total = Slots::new(limits.active_limit);
    // Torrents outside the queue's control that run use slots first.
    for e in entries.iter().filter(|e| !e.auto_managed && !e.held) {
        if e.finished {
            seeds.take();
        } else {
            downloads.take();
        }
        total.take();
    }
    let mut managed: Vec<&QueueEntry> = entries.iter().filter(|e| e.auto_managed && !e.held).collect();
    // Checking torrents keep running; they hold a slot of their kind.
    for e in managed.iter().filter(|e| e.checking) {
        if e.finished {
            seeds.take();
        } else {
            downloads.take();
        }
        total.take();
    }
    managed.retain(|e| !e.checking);
    // Downloads by queue position, then seeds by id (the order added).
    managed.sort_by_key(|e| (e.finished, if e.finished { e.id.0 as i64 } else { e.position }, e.id.0));
    let mut out = Vec::with_capacity(managed.len());
    for e in managed {
        let kind = if e.finished { &mut seeds } else { &mut downloads };
        let run = kind.has_room() && total.has_room();
        if run {
            kind.take();
            total.take();
        }
        out.push((e.id, !run));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, position: i64, finished: bool) -> QueueEntry {
        QueueEntry { id: TorrentId(id), position, auto_managed: true, held: false, checking: false, finished }
    }

    fn queued(plan: &[(TorrentId, bool)]) -> Vec<u64> {
        plan.iter().filter(|(_, q)| *q).map(|(id, _)| id.0).collect()
    }

    const LIMITS: QueueLimits = QueueLimits { active_downloads: 2, active_seeds: 1, active_limit: 10 };

    #[test]
    fn downloads_start_in_queue_order() {
        let e = [entry(1, 3, false), entry(2, 0, false), entry(3, 1, false), entry(4, 2, false)];
        assert_eq!(queued(&plan(&e, LIMITS)), vec![4, 1]);
    }

    #[test]
    fn seeds_have_their_own_slots() {
        let e = [entry(1, -1, true), entry(2, -1, true), entry(3, 0, false)];
        assert_eq!(queued(&plan(&e, LIMITS)), vec![2]);
    }

    #[test]
    fn unmanaged_running_torrents_use_slots() {
        let mut manual = entry(9, 0, false);
        manual.auto_managed = false;
        let e = [manual, entry(1, 1, false), entry(2, 2, false)];
        assert_eq!(queued(&plan(&e, LIMITS)), vec![2]);
        // A paused manual torrent uses nothing.
        let mut paused = manual;
        paused.held = true;
        let e = [paused, entry(1, 1, false), entry(2, 2, false)];
        assert!(queued(&plan(&e, LIMITS)).is_empty());
    }

    #[test]
    fn held_and_checking_torrents_are_left_alone() {
        let mut held = entry(1, 0, false);
        held.held = true;
        let mut checking = entry(2, 1, false);
        checking.checking = true;
        let e = [held, checking, entry(3, 2, false), entry(4, 3, false)];
        let p = plan(&e, LIMITS);
        assert!(p.iter().all(|(id, _)| id.0 >= 3), "held and checking torrents get no decision");
        assert_eq!(queued(&p), vec![4], "the checking torrent holds a download slot");
    }

    #[test]
    fn active_limit_caps_everything_and_minus_one_is_unlimited() {
        let e = [entry(1, 0, false), entry(2, -1, true), entry(3, 1, false)];
        let l = QueueLimits { active_downloads: -1, active_seeds: -1, active_limit: 2 };
        assert_eq!(queued(&plan(&e, l)), vec![2], "downloads go first, the seed finds no room");
        let l = QueueLimits { active_downloads: -1, active_seeds: -1, active_limit: -1 };
        assert!(queued(&plan(&e, l)).is_empty());
    }
}
