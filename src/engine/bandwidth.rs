//! Rate limits: token buckets shared by the peers they limit.
//!
//! A peer transfers, then charges the bytes to every bucket that applies
//! (the session's and its torrent's). A bucket may go into debt; the
//! answer is how long the peer must wait before its next transfer so that
//! the debt is paid back at the limit's rate. Every peer that charges a
//! bucket in debt waits its turn, so peers share a limit, and the long-run
//! rate is the limit plus at most one burst (a tenth of a second's worth).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// One direction's limit in bytes per second; 0 means none.
pub struct RateLimit {
    rate: AtomicI64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes that may still go without waiting; negative when in debt.
    tokens: f64,
    last: Instant,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(0)
    }
}

impl RateLimit {
    pub fn new(rate: i64) -> RateLimit {
        RateLimit {
            rate: AtomicI64::new(rate.max(0)),
            bucket: Mutex::new(Bucket { tokens: 0.0, last: Instant::now() }),
        }
    }

    /// Sets the limit (bytes per second; 0 or less: none).
    pub fn set_rate(&self, rate: i64) {
        self.rate.store(rate.max(0), Ordering::Relaxed);
    }

    /// The limit in bytes per second; 0 when there is none.
    pub fn rate(&self) -> i64 {
        self.rate.load(Ordering::Relaxed)
    }

    pub fn is_limited(&self) -> bool {
        self.rate() > 0
    }

    /// The most bytes one transfer should move under this limit (a
    /// twentieth of a second's worth, at least 4 KiB); `None` when unlimited.
    pub fn chunk(&self) -> Option<usize> {
        let r = self.rate();
        (r > 0).then(|| (r as usize / 20).clamp(4096, 256 * 1024))
    }

    /// Charges `bytes` just transferred at `now`; answers how long to wait
    /// before the next transfer (zero within the limit).
    pub fn charge(&self, bytes: usize, now: Instant) -> Duration {
        let rate = self.rate();
        if rate <= 0 {
            return Duration::ZERO;
        }
        let rate = rate as f64;
        let burst = rate / 10.0;
        let mut b = self.bucket.lock();
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = now.max(b.last);
        b.tokens = (b.tokens + elapsed * rate).min(burst) - bytes as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate)
        }
    }
}

/// The longest wait any of `limits` asks for after `bytes` went through.
pub fn charge_all(limits: &[&RateLimit], bytes: usize, now: Instant) -> Duration {
    limits.iter().map(|l| l.charge(bytes, now)).max().unwrap_or(Duration::ZERO)
}

/// The smallest transfer size among `limits`; `None` when none is limited.
pub fn chunk_all(limits: &[&RateLimit]) -> Option<usize> {
    limits.iter().filter_map(|l| l.chunk()).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let l = RateLimit::new(0);
        assert_eq!(l.charge(1 << 30, Instant::now()), Duration::ZERO);
        assert_eq!(l.chunk(), None);
    }

    #[test]
    fn debt_is_paid_back_at_the_rate() {
        let l = RateLimit::new(100_000);
        let t0 = Instant::now();
        // 50,000 bytes at once: half a second of debt.
        let wait = l.charge(50_000, t0);
        assert!((wait.as_secs_f64() - 0.5).abs() < 0.01, "{wait:?}");
        // After waiting it out, the bucket is back at zero.
        let wait = l.charge(0, t0 + Duration::from_millis(500));
        assert_eq!(wait, Duration::ZERO);
    }

    #[test]
    fn long_run_rate_is_the_limit() {
        // A greedy sender that always waits what it is told moves rate x
        // time, plus at most a burst.
        let rate = 1_000_000i64;
        let l = RateLimit::new(rate);
        let start = Instant::now();
        let mut now = start;
        let mut sent = 0usize;
        let chunk = l.chunk().unwrap();
        while now < start + Duration::from_secs(10) {
            sent += chunk;
            now += l.charge(chunk, now).max(Duration::from_micros(10));
        }
        let got = sent as f64 / now.duration_since(start).as_secs_f64();
        assert!((got - rate as f64).abs() / (rate as f64) < 0.02, "{got}");
    }

    #[test]
    fn idle_time_earns_at_most_a_burst() {
        let l = RateLimit::new(100_000);
        let t0 = Instant::now();
        l.charge(0, t0);
        // Ten idle seconds earn only 10,000 bytes (a tenth of a second).
        assert_eq!(l.charge(10_000, t0 + Duration::from_secs(10)), Duration::ZERO);
        assert!(l.charge(10_000, t0 + Duration::from_secs(10)) > Duration::from_millis(90));
    }

    #[test]
    fn all_limits_apply() {
        let a = RateLimit::new(100_000);
        let b = RateLimit::new(10_000);
        let now = Instant::now();
        let wait = charge_all(&[&a, &b], 10_000, now);
        assert!(wait >= Duration::from_millis(900), "{wait:?}");
        assert_eq!(chunk_all(&[&a, &b]), Some(4096));
        assert_eq!(chunk_all(&[&RateLimit::new(0)]), None);
    }
}
