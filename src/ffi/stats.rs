//! Session statistics: `lt_stats_t`, the metric catalogue and the calls
//! that read them. Reading never waits for the network thread: it copies
//! relaxed atomic counters.

use std::ffi::c_char;

use super::boundary::{
    check_struct_size, code, ffi_call, fill_struct_array, growable_struct, malloc_copy, non_null, str_arg,
    write_struct,
};
use super::error::{fail, fail_with, lt_error, LT_ERROR_INVALID_ARG, LT_ERROR_IO};
use super::session::{lt_session_t, session_ref};
use crate::engine::export::ExportFormat;
use crate::engine::stats::{find_metric, Metric, METRICS, STATS_FIELDS};
use crate::engine::thresholds::{ThresholdEvent, Watched};

/// Whether a metric only grows (`LT_METRIC_COUNTER`) or moves both ways
/// (`LT_METRIC_GAUGE`).
pub type lt_metric_kind = u32;
/// A metric that only grows.
pub const LT_METRIC_COUNTER: lt_metric_kind = 0;
/// A metric that moves both ways.
pub const LT_METRIC_GAUGE: lt_metric_kind = 1;

/// Session statistics. Every field after the header is also a named metric
/// of the catalogue (`lt_stats_metric`). Rates are bytes per second over
/// the last second; totals count since the session started. Fields are
/// only ever appended: pass `sizeof(lt_stats_t)` as `size`, and the library
/// fills what both sides know.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lt_stats_t {
    /// Bytes of this struct the library filled (set by the library).
    pub struct_size: u32,
    /// Reserved, 0.
    pub reserved: u32,
    /// Payload and protocol bytes received per second, over the last second.
    pub download_rate: i64,
    /// Payload and protocol bytes sent per second, over the last second.
    pub upload_rate: i64,
    /// All bytes received from peers since the session started.
    pub total_download: i64,
    /// All bytes sent to peers since the session started.
    pub total_upload: i64,
    /// Piece data received per second, over the last second.
    pub payload_download_rate: i64,
    /// Piece data sent per second, over the last second.
    pub payload_upload_rate: i64,
    /// Piece data received since the session started.
    pub total_payload_download: i64,
    /// Piece data sent since the session started.
    pub total_payload_upload: i64,
    /// Peer connections past the handshake.
    pub num_peers: i64,
    /// Peers we unchoke (they may download from us).
    pub num_unchoked: i64,
    /// Outgoing connections being established.
    pub num_peers_half_open: i64,
    /// Connected peers over TCP.
    pub num_tcp_peers: i64,
    /// Connections accepted on the listen sockets since the session started.
    pub num_incoming_connections: i64,
    /// 1 once any peer has connected to us.
    pub has_incoming_connections: i64,
    /// Peers currently unchoked by the optimistic slot.
    pub optimistic_unchokes: i64,
    /// Torrents in the session.
    pub num_torrents: i64,
    /// Torrents downloading.
    pub num_downloading: i64,
    /// Torrents with every wanted piece (seeding or finished).
    pub num_seeding: i64,
    /// Torrents checking their files.
    pub num_checking: i64,
    /// Torrents paused by the user (or with the session) or stopped by an
    /// error; queued torrents are counted in `num_queued` instead.
    pub num_stopped: i64,
    /// 16 KiB blocks read from disk (uploads and checks).
    pub disk_blocks_read: i64,
    /// 16 KiB blocks written to disk.
    pub disk_blocks_written: i64,
    /// Disk jobs (hash checks and writes) waiting or running.
    pub disk_queue_depth: i64,
    /// Announces sent to trackers.
    pub num_tracker_announces: i64,
    /// Announces that failed or got an error reply.
    pub num_tracker_errors: i64,
    /// Piece data received but not used (redundant, or in pieces that failed the hash check).
    pub total_wasted: i64,
    /// Pieces that failed the hash check.
    pub num_hash_failures: i64,
    /// Alerts dropped because the queue was full.
    pub alerts_dropped: i64,
    /// Milliseconds since the session started.
    pub uptime_ms: i64,
    /// Resident memory of the process, in bytes (sampled once a second).
    pub process_rss_bytes: i64,
    /// CPU used by the process over the last second, per mille of all cores.
    pub process_cpu_permille: i64,
    /// CPU used by the whole machine over the last second, per mille of all cores.
    pub system_cpu_permille: i64,
    /// CPU cores available to the process.
    pub cpu_cores: i64,
    /// Physical memory of the machine, in bytes.
    pub system_memory_total: i64,
    /// Memory available for new work, in bytes (Linux's MemAvailable).
    pub system_memory_available: i64,
    /// Connected peers over uTP (0: uTP is not implemented).
    pub num_utp_peers: i64,
    /// Nodes in the DHT routing table (0: the DHT is not implemented yet).
    pub dht_nodes: i64,
    /// Replacement nodes cached by the DHT (0: the DHT is not implemented yet).
    pub dht_node_cache: i64,
    /// Torrents tracked by the DHT node (0: the DHT is not implemented yet).
    pub dht_torrents: i64,
    /// Auto-managed torrents the queue keeps stopped (`active_downloads`,
    /// `active_seeds`, `active_limit`). `num_checking + num_downloading +
    /// num_seeding + num_stopped + num_queued == num_torrents`.
    pub num_queued: i64,
    /// Blocks in a read cache (0: reads go through the OS page cache).
    pub disk_read_cache_size: i64,
    /// Received 16 KiB blocks held in memory until their piece is hashed and written.
    pub disk_write_cache_size: i64,
    /// Scrape requests sent to trackers.
    pub num_tracker_scrapes: i64,
}

growable_struct!(lt_stats_t);

/// Builds an `lt_stats_t` from a metric reader.
pub(crate) fn fill_stats(value: impl Fn(Metric) -> i64) -> lt_stats_t {
    let v: Vec<i64> = STATS_FIELDS.iter().map(|(_, m)| value(*m)).collect();
    lt_stats_t {
        struct_size: std::mem::size_of::<lt_stats_t>() as u32,
        reserved: 0,
        download_rate: v[0],
        upload_rate: v[1],
        total_download: v[2],
        total_upload: v[3],
        payload_download_rate: v[4],
        payload_upload_rate: v[5],
        total_payload_download: v[6],
        total_payload_upload: v[7],
        num_peers: v[8],
        num_unchoked: v[9],
        num_peers_half_open: v[10],
        num_tcp_peers: v[11],
        num_incoming_connections: v[12],
        has_incoming_connections: v[13],
        optimistic_unchokes: v[14],
        num_torrents: v[15],
        num_downloading: v[16],
        num_seeding: v[17],
        num_checking: v[18],
        num_stopped: v[19],
        disk_blocks_read: v[20],
        disk_blocks_written: v[21],
        disk_queue_depth: v[22],
        num_tracker_announces: v[23],
        num_tracker_errors: v[24],
        total_wasted: v[25],
        num_hash_failures: v[26],
        alerts_dropped: v[27],
        uptime_ms: v[28],
        process_rss_bytes: v[29],
        process_cpu_permille: v[30],
        system_cpu_permille: v[31],
        cpu_cores: v[32],
        system_memory_total: v[33],
        system_memory_available: v[34],
        num_utp_peers: v[35],
        dht_nodes: v[36],
        dht_node_cache: v[37],
        dht_torrents: v[38],
        num_queued: v[39],
        disk_read_cache_size: v[40],
        disk_write_cache_size: v[41],
        num_tracker_scrapes: v[42],
    }
}
/// Fills `*stats` (of `size` bytes: pass `sizeof(lt_stats_t)`) with the
/// session's statistics now. No round trip: it copies counters, in well
/// under a microsecond.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_BUFFER_TOO_SMALL`
/// when `size` is under 8.
/// **Thread safety:** any thread, concurrently with everything else.
///
/// # Safety
/// `stats` must be writable for `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_session_stats(
    s: *mut lt_session_t,
    stats: *mut lt_stats_t,
    size: usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            non_null(stats, "stats")?;
            check_struct_size(size, "stats")?;
            ses.refresh_live_gauges();
            let counters = ses.counters();
            let out = fill_stats(|m| counters.get(m));
            // SAFETY: the caller promises `size` writable bytes.
            unsafe { write_struct(out, stats as *mut u8, size) };
            Ok(())
        })())
    })
}

/// Posts a session_stats alert carrying every metric's value now (read it
/// with `lt_alert_stats` or `lt_alert_counters`). It is posted whatever
/// the alert mask.
///
/// **Returns** `LT_OK` or `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_post_session_stats(s: *mut lt_session_t) -> lt_error {
    ffi_call(|| {
        code((|| {
            session_ref(s)?.post_session_stats();
            Ok(())
        })())
    })
}

/// The number of metrics in the catalogue. Metrics are only ever appended:
/// an index names the same metric in every later version, which may have
/// more of them.
#[no_mangle]
pub extern "C" fn lt_stats_metric_count() -> usize {
    METRICS.len()
}

struct CatalogueStrings {
    names: Vec<std::ffi::CString>,
}

static CATALOGUE: once_cell::sync::Lazy<CatalogueStrings> = once_cell::sync::Lazy::new(|| CatalogueStrings {
    names: METRICS.iter().map(|m| super::error::cstring(m.name)).collect(),
});

/// The name (e.g. "net.recv_bytes", libtorrent's where the meaning is the
/// same) and kind of metric `index`.
///
/// **Returns** `LT_OK`; `LT_ERROR_INVALID_ARG` for an index out of range.
/// `name_out` receives a static string (never freed); either output may be
/// NULL when not wanted.
///
/// # Safety
/// Outputs must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lt_stats_metric(
    index: usize,
    name_out: *mut *const c_char,
    kind_out: *mut lt_metric_kind,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let m = METRICS.get(index).ok_or_else(|| {
                fail_with(LT_ERROR_INVALID_ARG, format!("metric index {index} out of range"))
            })?;
            if !name_out.is_null() {
                // SAFETY: checked non-NULL; writable per the caller.
                unsafe { *name_out = CATALOGUE.names[index].as_ptr() };
            }
            if !kind_out.is_null() {
                // SAFETY: as above.
                unsafe { *kind_out = m.kind as u32 };
            }
            Ok(())
        })())
    })
}

/// The index of the metric called `name`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` when no
/// metric has that name.
///
/// # Safety
/// `name` must be a NUL-terminated string; `index_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_stats_find_metric(name: *const c_char, index_out: *mut usize) -> lt_error {
    ffi_call(|| {
        code((|| {
            // SAFETY: caller promises a valid string.
            let name = unsafe { str_arg(name, "name") }?;
            non_null(index_out, "index_out")?;
            let i = find_metric(name)
                .ok_or_else(|| fail_with(LT_ERROR_INVALID_ARG, format!("no metric named '{name}'")))?;
            // SAFETY: checked non-NULL.
            unsafe { *index_out = i };
            Ok(())
        })())
    })
}

/// Export formats for `lt_session_stats_export`.
pub type lt_stats_format = u32;
/// JSON: every session metric by name, and every torrent's status with a
/// summary of its peers.
pub const LT_STATS_JSON: lt_stats_format = 0;
/// CSV: a header row, then one row per torrent.
pub const LT_STATS_CSV: lt_stats_format = 1;
/// The Prometheus text exposition format: `lt_`-prefixed metrics with HELP
/// and TYPE lines, per-torrent series labelled by info-hash.
pub const LT_STATS_PROMETHEUS: lt_stats_format = 2;
/// The binary snapshot: a 32-byte header (magic `\x89LTS`, format version,
/// lengths, metric count, timestamp in microseconds since the Unix epoch,
/// a hash of the metric names) and every metric as a little-endian
/// `int64_t` in `lt_stats_metric` order. Bytes, not text: use `*len_out`.
/// docs/stats.md ("Binary snapshot") documents every byte.
pub const LT_STATS_BINARY: lt_stats_format = 3;

/// Exports the session's statistics in `format`: text for JSON, CSV and
/// Prometheus, bytes for `LT_STATS_BINARY`.
///
/// **Returns** `LT_OK` with the export in `*out` and its length (without
/// the NUL the library adds after it, also after binary bytes) in
/// `*len_out`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for an unknown
/// format.
/// **Ownership:** the caller frees `*out` with `lt_free`.
///
/// # Safety
/// `s` must be a live session; `out` and `len_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_session_stats_export(
    s: *mut lt_session_t,
    format: lt_stats_format,
    out: *mut *mut c_char,
    len_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            non_null(out, "out")?;
            non_null(len_out, "len_out")?;
            let text = |fmt| ses.export_stats(fmt).map(String::into_bytes).map_err(fail);
            let mut bytes = match format {
                LT_STATS_JSON => text(ExportFormat::Json)?,
                LT_STATS_CSV => text(ExportFormat::Csv)?,
                LT_STATS_PROMETHEUS => text(ExportFormat::Prometheus)?,
                LT_STATS_BINARY => ses.export_stats_binary(),
                other => {
                    return Err(fail_with(LT_ERROR_INVALID_ARG, format!("unknown stats format {other}")))
                }
            };
            let len = bytes.len();
            bytes.push(0);
            let p = malloc_copy(&bytes);
            if p.is_null() {
                return Err(fail_with(LT_ERROR_IO, "out of memory"));
            }
            // SAFETY: both checked non-NULL, writable per the caller.
            unsafe {
                *out = p as *mut c_char;
                *len_out = len;
            }
            Ok(())
        })())
    })
}

/// The TCP port of the `stats_listen` HTTP endpoint.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_IO` when the
/// endpoint is off or could not listen (a listen_failed alert said why).
///
/// # Safety
/// `s` must be a live session; `port_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_session_stats_port(s: *mut lt_session_t, port_out: *mut u16) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            non_null(port_out, "port_out")?;
            let addr = ses
                .stats_listen_addr()
                .ok_or_else(|| fail_with(LT_ERROR_IO, "the stats endpoint is off (setting stats_listen)"))?;
            // SAFETY: checked non-NULL.
            unsafe { *port_out = addr.port() };
            Ok(())
        })())
    })
}

/// The name of a watched figure as a static C string.
pub(crate) fn watched_name(w: Watched) -> *const c_char {
    super::boundary::static_cstr(w.name())
}

/// A threshold crossing or return to normal, from
/// `lt_session_threshold_events`; fields are only ever appended in later
/// versions.
#[repr(C)]
pub struct lt_threshold_event_t {
    /// Bytes of this struct the library filled (set by the library).
    pub struct_size: u32,
    /// Microseconds since the session started.
    pub timestamp_us: i64,
    /// The torrent for per-torrent figures, 0 for session figures.
    pub torrent: u64,
    /// Which figure ("download_rate_low", ...): a static string.
    pub metric: *const c_char,
    /// The observed value and the threshold, in the figure's unit.
    pub value: i64,
    pub threshold: i64,
    /// `LT_SEVERITY_*`.
    pub severity: u32,
}

growable_struct!(lt_threshold_event_t);

/// Copies the session's last (at most 1,000) threshold events, oldest
/// first: at most `cap` into `events`, an array of elements `elem_size`
/// bytes apart (pass `sizeof(lt_threshold_event_t)`; each gets
/// `min(elem_size, sizeof)` bytes and its `struct_size`), and their number
/// into `*count_out`.
///
/// **Returns** `LT_OK`, `LT_ERROR_NULL_ARG`, or `LT_ERROR_BUFFER_TOO_SMALL`
/// when `cap` > 0 and `elem_size` is under 8.
///
/// # Safety
/// `events` writable for `cap * elem_size` bytes (NULL if `cap` is 0);
/// `count_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_session_threshold_events(
    s: *mut lt_session_t,
    events: *mut lt_threshold_event_t,
    elem_size: usize,
    cap: usize,
    count_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            let list = ses.threshold_events();
            let convert = |e: &ThresholdEvent| lt_threshold_event_t {
                struct_size: 0,
                timestamp_us: e.timestamp_us,
                torrent: e.torrent.0,
                metric: watched_name(e.watched),
                value: e.value,
                threshold: e.threshold,
                severity: e.severity as u32,
            };
            // SAFETY: forwarded caller promises about events/cap/count_out.
            unsafe { fill_struct_array(&list, events, elem_size, cap, count_out, "events", convert) }
        })())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    /// The C struct lists exactly the engine's `STATS_FIELDS`, in order.
    #[test]
    fn struct_matches_catalogue() {
        assert_eq!(std::mem::size_of::<lt_stats_t>(), 8 + 8 * STATS_FIELDS.len());
        let header = include_str!("../../include/lt.h");
        let start = header.find("typedef struct lt_stats_t {").expect("lt_stats_t in the header");
        let body = &header[start..];
        let body = &body[..body.find("} lt_stats_t;").expect("end of lt_stats_t")];
        let names: Vec<&str> = body
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("int64_t "))
            .map(|l| l.trim_start_matches("int64_t ").trim_end_matches(';'))
            .collect();
        let expected: Vec<&str> = STATS_FIELDS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn catalogue_lookups() {
        let mut idx = 0usize;
        // SAFETY: valid string and out-pointer.
        let r = unsafe { lt_stats_find_metric(c"net.recv_bytes".as_ptr(), &mut idx) };
        assert_eq!(r, super::super::error::LT_OK);
        let mut name: *const c_char = std::ptr::null();
        let mut kind = 99;
        // SAFETY: valid out-pointers.
        assert_eq!(unsafe { lt_stats_metric(idx, &mut name, &mut kind) }, 0);
        // SAFETY: the library returns a static NUL-terminated string.
        assert_eq!(unsafe { CStr::from_ptr(name) }.to_str().unwrap(), "net.recv_bytes");
        assert_eq!(kind, LT_METRIC_COUNTER);
        // SAFETY: as above.
        assert_eq!(unsafe { lt_stats_metric(100_000, &mut name, &mut kind) }, LT_ERROR_INVALID_ARG);
    }
}
