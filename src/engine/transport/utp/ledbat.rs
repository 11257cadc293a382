//! LEDBAT congestion control (RFC 6817 as BEP 29 and libtorrent apply it)
//! and the RTT/RTO estimator (RFC 6298).
//!
//! The congestion window grows while the one-way queuing delay our packets
//! see is below the target and shrinks when it is above, so uTP yields to
//! TCP and to interactive traffic on the same link. Loss halves it (by
//! `utp_loss_multiplier`), a timeout resets it to one packet.

/// Minutes of one-way delay history the base delay is the minimum of.
const BASE_HISTORY_MINUTES: usize = 10;
/// Microseconds in a minute, the step of the base delay history.
const MINUTE_US: u64 = 60_000_000;
/// Recent delay samples the current delay is the minimum of (libtorrent
/// keeps 3): filters out a single late packet.
const RECENT_SAMPLES: usize = 3;

/// The lowest one-way delay seen in the last [`BASE_HISTORY_MINUTES`], in
/// one bucket per minute. Delays are clock differences of two hosts whose
/// clocks are unrelated, so only differences to the base mean anything;
/// comparisons wrap (the 32-bit microsecond clock wraps every 71 minutes).
#[derive(Clone, Debug)]
pub struct DelayHistory {
    buckets: [u32; BASE_HISTORY_MINUTES],
    index: usize,
    bucket_start_us: u64,
    base: Option<u32>,
    recent: [u32; RECENT_SAMPLES],
    recent_at: usize,
}

fn wrapping_less(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Default for DelayHistory {
    fn default() -> Self {
        DelayHistory::new()
    }
}

impl DelayHistory {
    pub fn new() -> DelayHistory {
        DelayHistory {
            buckets: [0; BASE_HISTORY_MINUTES],
            index: 0,
            bucket_start_us: 0,
            base: None,
            recent: [u32::MAX; RECENT_SAMPLES],
            recent_at: 0,
        }
    }

    /// Adds a raw sample (the peer's timestamp difference) taken at `now_us`;
    /// answers the queuing delay: the minimum of the recent samples above
    /// the base.
    pub fn add(&mut self, sample: u32, now_us: u64) -> u32 {
        match self.base {
            None => {
                self.buckets = [sample; BASE_HISTORY_MINUTES];
                self.base = Some(sample);
                self.bucket_start_us = now_us;
            }
            Some(base) => {
                if now_us.saturating_sub(self.bucket_start_us) >= MINUTE_US {
                    self.index = (self.index + 1) % BASE_HISTORY_MINUTES;
                    self.buckets[self.index] = sample;
                    self.bucket_start_us = now_us;
                    let mut lowest = sample;
                    for &b in &self.buckets {
                        if wrapping_less(b, lowest) {
                            lowest = b;
                        }
                    }
                    self.base = Some(lowest);
                } else {
                    if wrapping_less(sample, self.buckets[self.index]) {
                        self.buckets[self.index] = sample;
                    }
                    if wrapping_less(sample, base) {
                        self.base = Some(sample);
                    }
                }
            }
        }
        let delay = sample.wrapping_sub(self.base.unwrap_or(sample));
        // A sample below the base (possible only through wrapping) counts 0.
        let delay = if delay > u32::MAX / 2 { 0 } else { delay };
        self.recent[self.recent_at] = delay;
        self.recent_at = (self.recent_at + 1) % RECENT_SAMPLES;
        self.recent.iter().copied().min().unwrap_or(delay)
    }
}

/// Fraction bits of the fixed-point congestion window.
const FRACTION: u32 = 16;

/// LEDBAT's congestion window in bytes (16.16 fixed point), with TCP-like
/// slow start at the beginning.
#[derive(Clone, Debug)]
pub struct Ledbat {
    cwnd: i64,
    slow_start: bool,
    ssthresh: i64,
}

/// What one LEDBAT update saw, for the samples above/below target counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DelaySample {
    AboveTarget,
    BelowTarget,
}

impl Ledbat {
    /// Starts with a window of `initial` bytes in slow start.
    pub fn new(initial: usize) -> Ledbat {
        Ledbat { cwnd: (initial as i64) << FRACTION, slow_start: true, ssthresh: 0 }
    }

    /// The window in bytes.
    pub fn window(&self) -> usize {
        (self.cwnd >> FRACTION) as usize
    }

    /// An ack of `acked` bytes arrived while `in_flight` bytes were out and
    /// our packets' queuing delay is `delay_us`. `saturated` says the sender
    /// was limited by this window (otherwise the window is not grown: an
    /// idle sender learns nothing about the path).
    #[allow(clippy::too_many_arguments)]
    pub fn on_ack(
        &mut self,
        acked: usize,
        in_flight: usize,
        delay_us: u32,
        target_us: u32,
        gain_factor: i64,
        mss: usize,
        saturated: bool,
    ) -> DelaySample {
        let target = i64::from(target_us.max(1));
        let in_flight = in_flight.max(1) as i64;
        let acked = acked as i64;
        let window_factor = (acked << FRACTION) / in_flight;
        let delay_factor = ((target - i64::from(delay_us)) << FRACTION) / target;
        let sample = if i64::from(delay_us) >= target {
            if self.slow_start {
                self.ssthresh = self.cwnd / 2;
                self.slow_start = false;
            }
            DelaySample::AboveTarget
        } else {
            DelaySample::BelowTarget
        };
        let linear = ((window_factor * delay_factor) >> FRACTION) * gain_factor;
        let gain = if !saturated {
            0
        } else if self.slow_start {
            let exponential = acked << FRACTION;
            if self.ssthresh != 0 && self.cwnd + exponential > self.ssthresh {
                self.slow_start = false;
                linear
            } else {
                exponential.max(linear)
            }
        } else {
            linear
        };
        let floor = (mss as i64) << FRACTION;
        self.cwnd = self.cwnd.saturating_add(gain).max(floor);
        sample
    }

    /// A packet was lost: the window is cut to `multiplier` percent (not
    /// below one packet) and slow start ends.
    pub fn on_loss(&mut self, multiplier: i64, mss: usize) {
        self.cwnd = (self.cwnd / 100 * multiplier).max((mss as i64) << FRACTION);
        if self.slow_start {
            self.ssthresh = self.cwnd;
            self.slow_start = false;
        }
    }

    /// The retransmission timer fired. With packets out, the window drops
    /// to one packet and slow start restarts (up to the threshold it left
    /// at); with nothing out (this direction was idle) it decays by a third.
    pub fn on_timeout(&mut self, had_in_flight: bool, mss: usize) {
        let floor = (mss as i64) << FRACTION;
        if had_in_flight {
            self.cwnd = floor;
            self.slow_start = true;
        } else {
            self.cwnd = (self.cwnd * 2 / 3).max(floor);
        }
    }
}

/// Round-trip time estimate and retransmission timeout (RFC 6298), in
/// microseconds.
#[derive(Clone, Debug, Default)]
pub struct Rtt {
    srtt: Option<u64>,
    rttvar: u64,
}

/// RTO before the first sample (RFC 6298's 1 s).
const INITIAL_RTO_US: u64 = 1_000_000;
/// Longest RTO, whatever the backoff.
pub const MAX_RTO_US: u64 = 60_000_000;

impl Rtt {
    /// Feeds one measured round trip (of a packet sent once: Karn's rule).
    pub fn sample(&mut self, rtt_us: u64) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt_us);
                self.rttvar = rtt_us / 2;
            }
            Some(srtt) => {
                self.rttvar = (3 * self.rttvar + srtt.abs_diff(rtt_us)) / 4;
                self.srtt = Some((7 * srtt + rtt_us) / 8);
            }
        }
    }

    /// The retransmission timeout, at least `min_us`.
    pub fn rto(&self, min_us: u64) -> u64 {
        match self.srtt {
            None => INITIAL_RTO_US.max(min_us),
            Some(srtt) => (srtt + 4 * self.rttvar).clamp(min_us, MAX_RTO_US),
        }
    }

    /// The smoothed round trip, if measured.
    pub fn srtt(&self) -> Option<u64> {
        self.srtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_delay_is_the_minimum_and_expires() {
        let mut h = DelayHistory::new();
        assert_eq!(h.add(5_000, 0), 0);
        assert_eq!(h.add(9_000, 1), 0, "minimum of the last three samples");
        h.add(9_000, 2);
        assert_eq!(h.add(9_000, 3), 4_000);
        // Ten minutes later the 5 ms bucket has rotated out.
        let mut t = 3;
        for _ in 0..BASE_HISTORY_MINUTES {
            t += MINUTE_US;
            h.add(9_000, t);
        }
        h.add(9_000, t + 1);
        assert_eq!(h.add(9_000, t + 2), 0, "the base is now 9 ms");
        // Wrapping clocks: a sample just past u32::MAX is above a base near it.
        let mut w = DelayHistory::new();
        w.add(u32::MAX - 10, 0);
        for i in 1..=3 {
            w.add(20, i);
        }
        assert_eq!(w.add(20, 4), 31);
    }

    #[test]
    fn ledbat_grows_below_target_and_shrinks_above() {
        let mss = 1400;
        let mut l = Ledbat::new(mss);
        // Slow start: the window grows by the bytes acked, or by the linear
        // gain when that is more.
        l.on_ack(mss, mss, 0, 100_000, 3000, mss, true);
        assert_eq!(l.window(), mss + 3000);
        l.on_ack(10 * mss, 10 * mss, 0, 100_000, 3000, mss, true);
        assert_eq!(l.window(), 11 * mss + 3000);
        // Delay above target ends slow start and shrinks the window.
        let before = l.window();
        assert_eq!(l.on_ack(mss, 2 * mss, 200_000, 100_000, 3000, mss, true), DelaySample::AboveTarget);
        assert!(l.window() < before, "{} < {before}", l.window());
        // Below target again: linear growth, gain_factor bytes per RTT at most.
        let before = l.window();
        l.on_ack(before, before, 0, 100_000, 3000, mss, true);
        assert_eq!(l.window(), before + 3000);
        // Not saturated: no growth.
        l.on_ack(mss, mss, 0, 100_000, 3000, mss, false);
        assert_eq!(l.window(), before + 3000);
        // Loss halves it, not below one packet; timeout drops to one packet.
        let before = l.window();
        l.on_loss(50, mss);
        assert_eq!(l.window(), before / 2);
        l.on_timeout(true, mss);
        assert_eq!(l.window(), mss);
        l.on_loss(50, mss);
        assert_eq!(l.window(), mss);
    }

    #[test]
    fn rto_follows_rfc6298() {
        let mut r = Rtt::default();
        assert_eq!(r.rto(500_000), 1_000_000);
        r.sample(100_000);
        assert_eq!(r.rto(0), 100_000 + 4 * 50_000);
        assert_eq!(r.rto(500_000), 500_000, "floored at utp_min_timeout");
        r.sample(100_000);
        assert_eq!(r.srtt(), Some(100_000));
    }
}
