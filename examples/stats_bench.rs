//! Statistics latency through the C API (the functions a C host calls):
//! `lt_session_stats` call time, and `lt_post_session_stats` to the
//! alert's arrival through `lt_wait_for_alert`. Prints JSON with the
//! median, p90 and p99 in microseconds.
//!
//!     cargo run --release --example stats_bench
//!
//! benches/stats_bench.py runs this next to libtorrent's equivalent.

use std::time::Instant;

use lt::ffi::*;

fn percentiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p) as usize];
    (at(0.5), at(0.9), at(0.99))
}

fn main() {
    // SAFETY: the C API used as a C program would, with valid pointers.
    unsafe {
        let set = lt_settings_new();
        lt_settings_set_str(set, c"listen_interfaces".as_ptr(), c"127.0.0.1:0".as_ptr());
        let mut ses = std::ptr::null_mut();
        assert_eq!(lt_session_new(set, &mut ses), LT_OK);
        lt_settings_free(set);
        while !lt_pop_alert(ses).is_null() {}

        let mut stats: lt_stats_t = std::mem::zeroed();
        let n = 200_000;
        let mut call = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            lt_session_stats(ses, &mut stats, std::mem::size_of::<lt_stats_t>());
            call.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let rounds = 20_000;
        let mut trip = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            lt_post_session_stats(ses);
            let a = lt_wait_for_alert(ses, 1000);
            trip.push(t.elapsed().as_secs_f64() * 1e6);
            assert_eq!(lt_alert_type(a), LT_ALERT_SESSION_STATS);
            lt_alert_free(a);
        }
        let (c50, c90, c99) = percentiles(call);
        let (t50, t90, t99) = percentiles(trip);
        println!(
            "{{\"client\": \"lt\", \"metrics\": {}, \"session_stats_us\": {{\"p50\": {c50:.3}, \"p90\": {c90:.3}, \"p99\": {c99:.3}}}, \"post_to_alert_us\": {{\"p50\": {t50:.2}, \"p90\": {t90:.2}, \"p99\": {t99:.2}}}}}",
            lt_stats_metric_count()
        );
        lt_session_free(ses);
    }
}
