//! Threshold alerts: the session watches a few figures once a second and
//! posts a `performance` alert when one crosses its threshold, and one more
//! when it is back to normal (never one per second while it stays over:
//! no alert storm). The last 1,000 events stay readable.

use std::collections::{HashMap, VecDeque};

use super::torrent::TorrentId;

/// Events kept for `Session::threshold_events`.
pub const MAX_EVENTS: usize = 1000;

/// What is watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Watched {
    /// A downloading torrent with peers unchoking us stays below
    /// `perf_download_rate_min` for `perf_download_rate_secs` seconds.
    DownloadRateLow,
    /// Hash failures in the last minute exceed `perf_hash_failures_per_min`.
    HashFailuresPerMinute,
    /// A torrent's mean peer round trip exceeds `perf_peer_rtt_ms`.
    PeerRtt,
    /// Bytes waiting for hashing and writing exceed `perf_disk_queue_bytes`.
    DiskQueueBytes,
    /// The alert queue is fuller than `perf_alert_queue_percent`.
    AlertQueuePercent,
}

impl Watched {
    /// Every watched figure.
    pub const ALL: &'static [Watched] = &[
        Watched::DownloadRateLow,
        Watched::HashFailuresPerMinute,
        Watched::PeerRtt,
        Watched::DiskQueueBytes,
        Watched::AlertQueuePercent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Watched::DownloadRateLow => "download_rate_low",
            Watched::HashFailuresPerMinute => "hash_failures_per_minute",
            Watched::PeerRtt => "peer_rtt_ms",
            Watched::DiskQueueBytes => "disk_queue_bytes",
            Watched::AlertQueuePercent => "alert_queue_percent",
        }
    }
}

/// How bad a crossing is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Severity {
    /// Back to normal.
    Cleared = 0,
    /// Over the threshold.
    Warning = 1,
    /// Twice as far past the threshold as it may be.
    Critical = 2,
}

/// One crossing, as kept and as alerted.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdEvent {
    pub watched: Watched,
    /// The torrent for per-torrent figures, `TorrentId::NONE` otherwise.
    pub torrent: TorrentId,
    pub severity: Severity,
    /// The observed value and the threshold, in the figure's unit.
    pub value: i64,
    pub threshold: i64,
    pub timestamp_us: i64,
}

/// One figure's reading for `Thresholds::observe`.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    pub watched: Watched,
    pub torrent: TorrentId,
    pub value: i64,
    pub threshold: i64,
    /// Whether the value is past the threshold (readings decide their
    /// direction: the download rate is bad when low, the rest when high).
    pub over: bool,
}

/// Which figures are over their threshold now, and the event history.
#[derive(Debug, Default)]
pub struct Thresholds {
    over: HashMap<(Watched, TorrentId), ()>,
    events: VecDeque<ThresholdEvent>,
}

impl Thresholds {
    /// Takes this second's readings; answers the crossings (both ways)
    /// to alert about. Readings absent this time (a torrent removed, a
    /// threshold turned off) count as back to normal.
    pub fn observe(&mut self, readings: &[Reading], now_us: i64) -> Vec<ThresholdEvent> {
        let mut out = Vec::new();
        for r in readings {
            let key = (r.watched, r.torrent);
            let was = self.over.contains_key(&key);
            if r.over && !was {
                self.over.insert(key, ());
                let far = if r.watched == Watched::DownloadRateLow {
                    r.value * 2 <= r.threshold
                } else {
                    r.value >= r.threshold.saturating_mul(2)
                };
                let severity = if far { Severity::Critical } else { Severity::Warning };
                out.push(event(r, severity, now_us));
            } else if !r.over && was {
                self.over.remove(&key);
                out.push(event(r, Severity::Cleared, now_us));
            }
        }
        let gone: Vec<_> = self
            .over
            .keys()
            .filter(|k| !readings.iter().any(|r| (r.watched, r.torrent) == **k))
            .copied()
            .collect();
        for (watched, torrent) in gone {
            self.over.remove(&(watched, torrent));
            let r = Reading { watched, torrent, value: 0, threshold: 0, over: false };
            out.push(event(&r, Severity::Cleared, now_us));
        }
        for e in &out {
            if self.events.len() == MAX_EVENTS {
                self.events.pop_front();
            }
            self.events.push_back(e.clone());
        }
        out
    }

    /// The kept events, oldest first.
    pub fn events(&self) -> Vec<ThresholdEvent> {
        self.events.iter().cloned().collect()
    }
}

fn event(r: &Reading, severity: Severity, now_us: i64) -> ThresholdEvent {
    ThresholdEvent {
        watched: r.watched,
        torrent: r.torrent,
        severity,
        value: r.value,
        threshold: r.threshold,
        timestamp_us: now_us,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(value: i64, over: bool) -> Reading {
        Reading { watched: Watched::AlertQueuePercent, torrent: TorrentId::NONE, value, threshold: 50, over }
    }

    #[test]
    fn one_event_per_crossing() {
        let mut t = Thresholds::default();
        assert!(t.observe(&[reading(10, false)], 1).is_empty());
        let e = t.observe(&[reading(60, true)], 2);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].severity, Severity::Warning);
        for i in 0..10 {
            assert!(t.observe(&[reading(70, true)], 3 + i).is_empty(), "no storm while over");
        }
        let e = t.observe(&[reading(20, false)], 20);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].severity, Severity::Cleared);
        assert_eq!(t.observe(&[reading(100, true)], 21)[0].severity, Severity::Critical);
        assert_eq!(t.observe(&[], 22)[0].severity, Severity::Cleared, "a reading that disappears clears");
        assert_eq!(t.events().len(), 4);
    }

    #[test]
    fn history_is_bounded() {
        let mut t = Thresholds::default();
        for i in 0..2000 {
            t.observe(&[reading(60, i % 2 == 0)], i);
        }
        assert_eq!(t.events().len(), MAX_EVENTS);
    }
}
