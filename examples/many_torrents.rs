//! Many paused torrents in one session, through the C API (the functions a
//! C host calls): resident memory per torrent, time to add N paused
//! torrents (parsing the .torrent bytes included), time to list them and
//! time to free the session with all of them in it. Prints one JSON line.
//!
//!     many_torrents BLOBS SAVE_PATH
//!
//! BLOBS holds the .torrent files back to back, each preceded by its length
//! as a 4-byte little-endian integer. benches/many_torrents.py writes it and
//! runs this next to libtorrent's equivalent.

use std::ffi::CString;
use std::time::{Duration, Instant};

use lt::ffi::*;

/// VmRSS of this process in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/self/status");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS value")
}

/// User plus system CPU seconds of this process so far.
fn cpu_s() -> f64 {
    // SAFETY: getrusage writes one rusage into the zeroed struct.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The .torrent blobs of a length-prefixed file.
fn read_blobs(path: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        at += 4;
        out.push(data[at..at + len].to_vec());
        at += len;
    }
    out
}

fn last_error() -> String {
    let mut buf = vec![0u8; 512];
    // SAFETY: buf is writable for its length.
    unsafe { lt_last_error(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn check(what: &str, rc: lt_error) {
    assert_eq!(rc, LT_OK, "{what} failed: {}", last_error());
}

/// Pops and frees every queued alert; returns how many were add_torrent.
///
/// # Safety
/// `ses` must be a live session.
unsafe fn drain_alerts(ses: *mut lt_session_t) -> usize {
    let mut adds = 0;
    let mut buf = vec![std::ptr::null_mut(); 4096];
    loop {
        // SAFETY: buf is writable for its length; ses is live.
        let n = unsafe { lt_pop_alerts(ses, buf.as_mut_ptr(), buf.len()) };
        for &a in &buf[..n] {
            // SAFETY: a came from lt_pop_alerts and is freed once.
            unsafe {
                adds += (lt_alert_type(a) == LT_ALERT_ADD_TORRENT) as usize;
                lt_alert_free(a);
            }
        }
        if n == 0 {
            return adds;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: {} BLOBS SAVE_PATH", args[0]);
        std::process::exit(2);
    }
    let blobs = read_blobs(&args[1]);
    let save_path = CString::new(args[2].as_str()).unwrap();
    let n = blobs.len();
    assert!(n > 0, "no torrents in {}", args[1]);

    // SAFETY: the C API used as a C program would, with valid pointers.
    unsafe {
        let set = lt_settings_new();
        check(
            "listen_interfaces",
            lt_settings_set_str(set, c"listen_interfaces".as_ptr(), c"127.0.0.1:0".as_ptr()),
        );
        check("enable_dht", lt_settings_set_bool(set, c"enable_dht".as_ptr(), false));
        check("enable_lsd", lt_settings_set_bool(set, c"enable_lsd".as_ptr(), false));
        let queue = (2 * n).clamp(2000, 10_000_000) as i64;
        check("alert_queue_size", lt_settings_set_int(set, c"alert_queue_size".as_ptr(), queue));
        let mut ses = std::ptr::null_mut();
        check("lt_session_new", lt_session_new(set, &mut ses));
        lt_settings_free(set);
        std::thread::sleep(Duration::from_millis(200));
        drain_alerts(ses);

        let rss_before = rss_kib();
        let mut slices = Vec::new();
        // Time inside lt_params_set_torrent_data (parsing) and inside
        // lt_add_torrent, to tell which one grows with N.
        let (mut parse_s, mut add_call_s) = (0.0, 0.0);
        let t0 = Instant::now();
        let mut slice = Instant::now();
        for (i, blob) in blobs.iter().enumerate() {
            let p = lt_params_new();
            let tp = Instant::now();
            check("lt_params_set_torrent_data", lt_params_set_torrent_data(p, blob.as_ptr(), blob.len()));
            parse_s += tp.elapsed().as_secs_f64();
            check("lt_params_set_save_path", lt_params_set_save_path(p, save_path.as_ptr()));
            check("lt_params_set_flags", lt_params_set_flags(p, LT_ADD_PAUSED));
            let mut id = 0;
            let ta = Instant::now();
            check("lt_add_torrent", lt_add_torrent(ses, p, &mut id));
            add_call_s += ta.elapsed().as_secs_f64();
            lt_params_free(p);
            if (i + 1) % 1000 == 0 || i + 1 == n {
                slices.push(slice.elapsed().as_secs_f64());
                slice = Instant::now();
            }
        }
        let add_s = t0.elapsed().as_secs_f64();

        let t1 = Instant::now();
        let mut ids = vec![0u64; n + 16];
        let mut count = 0usize;
        check("lt_session_torrents", lt_session_torrents(ses, ids.as_mut_ptr(), ids.len(), &mut count));
        let list_s = t1.elapsed().as_secs_f64();
        drop(ids);
        assert_eq!(count, n, "lt_session_torrents reports {count} torrents, expected {n}");

        // Let the torrents' start-up tasks run, then empty the alert queue so
        // queued alerts do not count as per-torrent memory.
        std::thread::sleep(Duration::from_millis(500));
        let add_alerts = drain_alerts(ses);
        let rss_after = rss_kib();

        // CPU the session burns per wall second with N idle paused torrents.
        let (c0, w0) = (cpu_s(), Instant::now());
        let idle_s: f64 = std::env::var("LT_BENCH_IDLE_S").ok().and_then(|s| s.parse().ok()).unwrap_or(2.0);
        std::thread::sleep(Duration::from_secs_f64(idle_s));
        let idle_cpu = (cpu_s() - c0) / w0.elapsed().as_secs_f64();

        let t2 = Instant::now();
        lt_session_free(ses);
        let free_s = t2.elapsed().as_secs_f64();

        let slices: Vec<String> = slices.iter().map(|s| format!("{s:.4}")).collect();
        println!(
            "{{\"n\": {n}, \"rss_before_kib\": {rss_before}, \"rss_after_kib\": {rss_after}, \"kib_per_torrent\": {:.3}, \"add_s\": {add_s:.4}, \"list_s\": {list_s:.6}, \"free_s\": {free_s:.4}, \"add_alerts\": {add_alerts}, \"parse_s\": {parse_s:.4}, \"add_call_s\": {add_call_s:.4}, \"idle_cpu_s_per_s\": {idle_cpu:.6}, \"add_per_1000_s\": [{}]}}",
            (rss_after as f64 - rss_before as f64) / n as f64,
            slices.join(", ")
        );
    }
}
