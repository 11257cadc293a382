//! Torrent gauges kept where the state changes, not by a periodic pass.
//!
//! Each torrent counts in the session's state gauges (torrents by state,
//! queued, errors, auto-managed, the total) through its [`Class`]: what
//! it contributes now. A torrent's state lives in its [`Core`] behind a
//! mutex, and every change to it happens while that lock is held, so the
//! lock's guard is where the gauges are kept: when a [`CoreGuard`] is
//! dropped it works out the class again (a handful of field reads) and,
//! if it changed, moves the torrent from the old gauges to the new ones
//! and asks the queue to look again. `lt_session_stats` right after any
//! call therefore counts what that call did, and an idle session with any
//! number of torrents does no work at all for its gauges.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, MutexGuard};

use super::session::SessionCore;
use super::stats::{Counters, Metric};
use super::torrent::{Core, TorrentState};

/// The state gauge a torrent counts in. Stopped wins over queued, queued
/// over the torrent's own state, so the buckets add up to `num_torrents`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Bucket {
    /// Not in a session (before it is added, after it is removed).
    #[default]
    Unlisted,
    Checking,
    Downloading,
    Seeding,
    /// Finished downloading what is wanted, but not every piece: seeding
    /// what it has (libtorrent's upload-only).
    UploadOnly,
    /// Paused by the user, by the session, or stopped by an error.
    Stopped,
    QueuedDownload,
    QueuedSeed,
}

impl Bucket {
    fn metrics(self) -> &'static [Metric] {
        use Metric as M;
        match self {
            Bucket::Unlisted => &[],
            Bucket::Checking => &[M::NumTorrents, M::NumCheckingTorrents],
            Bucket::Downloading => &[M::NumTorrents, M::NumDownloadingTorrents],
            Bucket::Seeding => &[M::NumTorrents, M::NumSeedingTorrents],
            Bucket::UploadOnly => &[M::NumTorrents, M::NumSeedingTorrents, M::NumUploadOnlyTorrents],
            Bucket::Stopped => &[M::NumTorrents, M::NumStoppedTorrents],
            Bucket::QueuedDownload => &[M::NumTorrents, M::NumQueuedDownloadTorrents, M::NumQueuedTorrents],
            Bucket::QueuedSeed => &[M::NumTorrents, M::NumQueuedSeedingTorrents, M::NumQueuedTorrents],
        }
    }
}

/// What one torrent contributes to the session's torrent gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Class {
    bucket: Bucket,
    error: bool,
    auto_managed: bool,
}

impl Class {
    pub(crate) fn of(core: &Core) -> Class {
        if !core.listed {
            return Class::default();
        }
        let bucket = if core.paused || core.error.is_some() || core.session_paused {
            Bucket::Stopped
        } else if core.queued {
            // Only a queued torrent needs the picker's answer here.
            if core.is_finished() {
                Bucket::QueuedSeed
            } else {
                Bucket::QueuedDownload
            }
        } else {
            match core.state {
                TorrentState::CheckingFiles => Bucket::Checking,
                TorrentState::Downloading | TorrentState::DownloadingMetadata => Bucket::Downloading,
                TorrentState::Finished => Bucket::UploadOnly,
                TorrentState::Seeding => Bucket::Seeding,
            }
        };
        Class { bucket, error: core.error.is_some(), auto_managed: core.auto_managed }
    }

    fn add_to(self, counters: &Counters, sign: i64) {
        for m in self.bucket.metrics() {
            counters.add(*m, sign);
        }
        if self.bucket != Bucket::Unlisted {
            counters.add(Metric::NumErrorTorrents, sign * self.error as i64);
            counters.add(Metric::NumAutoManagedTorrents, sign * self.auto_managed as i64);
        }
    }
}

/// A torrent's [`Core`] behind its mutex; the guard keeps the gauges.
pub(crate) struct CoreLock {
    core: Mutex<Core>,
    ses: Weak<SessionCore>,
    counters: Arc<Counters>,
}

impl CoreLock {
    pub(crate) fn new(core: Core, ses: &Arc<SessionCore>) -> CoreLock {
        CoreLock { core: Mutex::new(core), ses: Arc::downgrade(ses), counters: ses.counters.clone() }
    }

    pub(crate) fn lock(&self) -> CoreGuard<'_> {
        CoreGuard { guard: self.core.lock(), lock: self }
    }
}

/// The locked core. Dropping it brings the gauges up to date.
pub(crate) struct CoreGuard<'a> {
    guard: MutexGuard<'a, Core>,
    lock: &'a CoreLock,
}

impl Deref for CoreGuard<'_> {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.guard
    }
}

impl DerefMut for CoreGuard<'_> {
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.guard
    }
}

impl Drop for CoreGuard<'_> {
    fn drop(&mut self) {
        let now = Class::of(&self.guard);
        let was = self.guard.gauge_class;
        if now == was {
            return;
        }
        self.guard.gauge_class = now;
        was.add_to(&self.lock.counters, -1);
        now.add_to(&self.lock.counters, 1);
        // What the queue weighs (held, checking, finished, auto-managed)
        // is part of the class: let it look again.
        if let Some(ses) = self.lock.ses.upgrade() {
            ses.queue_changed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_bucket_counts_once_in_num_torrents() {
        let c = Counters::new();
        let buckets = [
            Bucket::Checking,
            Bucket::Downloading,
            Bucket::Seeding,
            Bucket::UploadOnly,
            Bucket::Stopped,
            Bucket::QueuedDownload,
            Bucket::QueuedSeed,
        ];
        for b in buckets {
            Class { bucket: b, error: true, auto_managed: true }.add_to(&c, 1);
        }
        assert_eq!(c.get(Metric::NumTorrents), buckets.len() as i64);
        let by_state = [
            Metric::NumCheckingTorrents,
            Metric::NumDownloadingTorrents,
            Metric::NumSeedingTorrents,
            Metric::NumStoppedTorrents,
            Metric::NumQueuedTorrents,
        ];
        assert_eq!(by_state.iter().map(|m| c.get(*m)).sum::<i64>(), buckets.len() as i64);
        assert_eq!(c.get(Metric::NumErrorTorrents), buckets.len() as i64);
        for b in buckets {
            Class { bucket: b, error: true, auto_managed: true }.add_to(&c, -1);
        }
        for m in by_state.iter().chain(&[Metric::NumTorrents, Metric::NumUploadOnlyTorrents]) {
            assert_eq!(c.get(*m), 0);
        }
        Class::default().add_to(&c, 1);
        assert_eq!(c.get(Metric::NumTorrents), 0, "an unlisted torrent counts nowhere");
    }
}
