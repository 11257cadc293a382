//! `lt_alert_t`: popping alerts and reading them.

use std::ffi::{c_char, c_void, CString};
use std::time::Duration;

use super::boundary::{
    check_struct_size, code, copy_to_buf, ffi_call, fill_array, fill_struct_array, free_box, non_null,
    write_struct,
};
use super::error::{
    code_of, cstring, fail_with, lt_error, LT_ERROR_BUFFER_TOO_SMALL, LT_ERROR_NULL_ARG,
    LT_ERROR_WRONG_ALERT_TYPE,
};
use super::session::{lt_session_t, on_library_thread, session_ref, UserData};
use super::stats::{fill_stats, lt_stats_t};
use super::torrent::lt_torrent_id_t;
use crate::engine::{Alert, AlertKind, AlertType, Operation};

/// An alert popped from a session's queue. Opaque. Each alert is owned by
/// the caller that popped it and freed with `lt_alert_free`; pointers read
/// from it live as long as it does.
///
/// Methods: `lt_alert_type`, `lt_alert_type_name`, `lt_alert_category`,
/// `lt_alert_message`, `lt_alert_torrent`, `lt_alert_timestamp_us`,
/// `lt_alert_error`, `lt_alert_piece`, `lt_alert_peer`, `lt_alert_states`,
/// `lt_alert_tracker_url`, `lt_alert_scrape`, `lt_alert_num_peers`,
/// `lt_alert_times_in_row`, `lt_alert_announce_event`, `lt_alert_file_index`,
/// `lt_alert_new_name`, `lt_alert_storage_path`, `lt_alert_dropped`,
/// `lt_alert_incoming`, `lt_alert_stats`, `lt_alert_counters`,
/// `lt_alert_buffer`, `lt_alert_statuses`, `lt_alert_performance`,
/// `lt_alert_info_hash`, `lt_alert_dht_buckets`, `lt_alert_dht_lookups`,
/// `lt_alert_url_seed_url`, `lt_alert_free`.
pub struct lt_alert_t {
    alert: Alert,
    message: CString,
    url: Option<CString>,
    /// A file's new name (file_renamed), a storage path (storage_moved,
    /// storage_moved_failed) or a web seed's URL (url_seed), kept as C text
    /// for the alert's lifetime.
    text: Option<CString>,
}

/// Alert category bits (`alert_mask` setting, `lt_alert_category`), as libtorrent's.
pub const LT_ALERT_CATEGORY_ERROR: u32 = 1 << 0;
/// Alert category: peers banned or misbehaving.
pub const LT_ALERT_CATEGORY_PEER: u32 = 1 << 1;
/// Alert category: port mapping.
pub const LT_ALERT_CATEGORY_PORT_MAPPING: u32 = 1 << 2;
/// Alert category: file operations.
pub const LT_ALERT_CATEGORY_STORAGE: u32 = 1 << 3;
/// Alert category: tracker announces, replies, warnings and errors.
pub const LT_ALERT_CATEGORY_TRACKER: u32 = 1 << 4;
/// Alert category: peer connections opened and closed.
pub const LT_ALERT_CATEGORY_CONNECT: u32 = 1 << 5;
/// Alert category: torrent and session state changes.
pub const LT_ALERT_CATEGORY_STATUS: u32 = 1 << 6;
/// Alert category: peers blocked by the IP filter.
pub const LT_ALERT_CATEGORY_IP_BLOCK: u32 = 1 << 8;
/// Alert category: limits that may cap throughput.
pub const LT_ALERT_CATEGORY_PERFORMANCE_WARNING: u32 = 1 << 9;
/// Alert category: DHT events.
pub const LT_ALERT_CATEGORY_DHT: u32 = 1 << 10;
/// Alert category: statistics.
pub const LT_ALERT_CATEGORY_STATS: u32 = 1 << 11;
/// Alert category: session debug log.
pub const LT_ALERT_CATEGORY_SESSION_LOG: u32 = 1 << 13;
/// Alert category: torrent debug log.
pub const LT_ALERT_CATEGORY_TORRENT_LOG: u32 = 1 << 14;
/// Alert category: peer debug log.
pub const LT_ALERT_CATEGORY_PEER_LOG: u32 = 1 << 15;
/// Alert category: requests from peers.
pub const LT_ALERT_CATEGORY_INCOMING_REQUEST: u32 = 1 << 16;
/// Alert category: DHT debug log.
pub const LT_ALERT_CATEGORY_DHT_LOG: u32 = 1 << 17;
/// Alert category: DHT operations.
pub const LT_ALERT_CATEGORY_DHT_OPERATION: u32 = 1 << 18;
/// Alert category: port mapping debug log.
pub const LT_ALERT_CATEGORY_PORT_MAPPING_LOG: u32 = 1 << 19;
/// Alert category: piece picker debug log.
pub const LT_ALERT_CATEGORY_PICKER_LOG: u32 = 1 << 20;
/// Alert category: files finished.
pub const LT_ALERT_CATEGORY_FILE_PROGRESS: u32 = 1 << 21;
/// Alert category: pieces finished or failed.
pub const LT_ALERT_CATEGORY_PIECE_PROGRESS: u32 = 1 << 22;
/// Alert category: blocks uploaded.
pub const LT_ALERT_CATEGORY_UPLOAD: u32 = 1 << 23;
/// Alert category: every block requested or received.
pub const LT_ALERT_CATEGORY_BLOCK_PROGRESS: u32 = 1 << 24;
/// Alert category: every category.
pub const LT_ALERT_CATEGORY_ALL: u32 = 0x7fff_ffff;

/// Alert types (`lt_alert_type`), numbered as libtorrent's `alert_type`.
pub const LT_ALERT_TORRENT_REMOVED: u32 = 4;
/// Alert type: the data of a piece asked for with lt_torrent_read_piece.
pub const LT_ALERT_READ_PIECE: u32 = 5;
/// Alert type: a file was renamed by lt_torrent_rename_file.
pub const LT_ALERT_FILE_RENAMED: u32 = 7;
/// Alert type: renaming a file failed (lt_alert_error).
pub const LT_ALERT_FILE_RENAME_FAILED: u32 = 8;
/// Alert type: a watched figure crossed its threshold, or is back to normal (lt_alert_performance).
pub const LT_ALERT_PERFORMANCE: u32 = 9;
/// Alert type: a torrent moved to another LT_STATE_* (lt_alert_states).
pub const LT_ALERT_STATE_CHANGED: u32 = 10;
/// Alert type: an announce failed (lt_alert_error, lt_alert_tracker_url).
pub const LT_ALERT_TRACKER_ERROR: u32 = 11;
/// Alert type: a web seed failed (HTTP status, connection, bad reply,
/// timeout; it is tried again later) or was removed for sending data that
/// failed the hash check (lt_alert_url_seed_url, lt_alert_error; the
/// message says why). Categories peer and error, as libtorrent's url_seed_alert.
pub const LT_ALERT_URL_SEED: u32 = 42;
/// Alert type: a tracker replied with a warning message.
pub const LT_ALERT_TRACKER_WARNING: u32 = 12;
/// Alert type: a tracker answered a scrape.
pub const LT_ALERT_SCRAPE_REPLY: u32 = 13;
/// Alert type: a scrape failed (lt_alert_error, lt_alert_tracker_url).
pub const LT_ALERT_SCRAPE_FAILED: u32 = 14;
/// Alert type: a tracker answered an announce.
pub const LT_ALERT_TRACKER_REPLY: u32 = 15;
/// Alert type: a DHT lookup of a torrent ended (lt_alert_num_peers gives the peers found).
pub const LT_ALERT_DHT_REPLY: u32 = 16;
/// Alert type: an announce was sent to a tracker.
pub const LT_ALERT_TRACKER_ANNOUNCE: u32 = 17;
/// Alert type: a downloaded piece failed its SHA-1 check and will be downloaded again (lt_alert_piece).
pub const LT_ALERT_HASH_FAILED: u32 = 18;
/// Alert type: a peer was banned for sending corrupt data (lt_alert_peer).
pub const LT_ALERT_PEER_BAN: u32 = 19;
/// Alert type: a peer broke the protocol and was disconnected.
pub const LT_ALERT_PEER_ERROR: u32 = 22;
/// Alert type: a peer connection was established.
pub const LT_ALERT_PEER_CONNECT: u32 = 23;
/// Alert type: a peer connection ended (lt_alert_error says why).
pub const LT_ALERT_PEER_DISCONNECTED: u32 = 24;
/// Alert type: every wanted piece of a torrent is downloaded and verified.
pub const LT_ALERT_TORRENT_FINISHED: u32 = 26;
/// Alert type: a piece passed its hash check and was written (lt_alert_piece).
pub const LT_ALERT_PIECE_FINISHED: u32 = 27;
/// Alert type: lt_torrent_move_storage finished; the files are in the new place.
pub const LT_ALERT_STORAGE_MOVED: u32 = 33;
/// Alert type: lt_torrent_move_storage failed; the files stayed where they were (lt_alert_error).
pub const LT_ALERT_STORAGE_MOVED_FAILED: u32 = 34;
/// Alert type: a removed torrent's files were deleted.
pub const LT_ALERT_TORRENT_DELETED: u32 = 35;
/// Alert type: deleting a removed torrent's files failed.
pub const LT_ALERT_TORRENT_DELETE_FAILED: u32 = 36;
/// Alert type: the resume data asked for with lt_torrent_save_resume_data (lt_alert_buffer).
pub const LT_ALERT_SAVE_RESUME_DATA: u32 = 37;
/// Alert type: saving resume data failed (lt_alert_error).
pub const LT_ALERT_SAVE_RESUME_DATA_FAILED: u32 = 38;
/// Alert type: a torrent was paused.
pub const LT_ALERT_TORRENT_PAUSED: u32 = 39;
/// Alert type: a torrent was resumed.
pub const LT_ALERT_TORRENT_RESUMED: u32 = 40;
/// Alert type: a torrent's files were checked.
pub const LT_ALERT_TORRENT_CHECKED: u32 = 41;
/// Alert type: reading or writing a torrent's files failed; the torrent is stopped with the error.
pub const LT_ALERT_FILE_ERROR: u32 = 43;
/// Alert type: a peer's metadata (a magnet's info dictionary) did not hash
/// to the info-hash; the peer is disconnected (lt_alert_peer, lt_alert_error).
pub const LT_ALERT_METADATA_FAILED: u32 = 44;
/// Alert type: a magnet link's metadata arrived; the download starts
/// (lt_torrent_metadata gives the .torrent bytes).
pub const LT_ALERT_METADATA_RECEIVED: u32 = 45;
/// Alert type: a listen socket could not be opened.
pub const LT_ALERT_LISTEN_FAILED: u32 = 48;
/// Alert type: a listen socket is open (lt_alert_peer gives its address).
pub const LT_ALERT_LISTEN_SUCCEEDED: u32 = 49;
/// Alert type: resume data was not trusted (files changed since it was saved); the files are checked instead.
pub const LT_ALERT_FASTRESUME_REJECTED: u32 = 53;
/// Alert type: the IP or port filter refused a peer or closed its
/// connection (lt_alert_peer, lt_alert_peer_blocked_reason).
pub const LT_ALERT_PEER_BLOCKED: u32 = 54;
/// Alert type: a node announced itself to our DHT node as a peer (lt_alert_peer, lt_alert_info_hash).
pub const LT_ALERT_DHT_ANNOUNCE: u32 = 55;
/// Alert type: a node asked our DHT node for peers (lt_alert_info_hash).
pub const LT_ALERT_DHT_GET_PEERS: u32 = 56;
/// Alert type: local service discovery found a peer of a torrent (lt_alert_peer).
pub const LT_ALERT_LSD_PEER: u32 = 60;
/// Alert type: the DHT's bootstrap lookup ended.
pub const LT_ALERT_DHT_BOOTSTRAP: u32 = 62;
/// Alert type: a torrent stopped because of an error.
pub const LT_ALERT_TORRENT_ERROR: u32 = 64;
/// Alert type: a peer connected to a listen socket.
pub const LT_ALERT_INCOMING_CONNECTION: u32 = 66;
/// Alert type: a torrent was added.
pub const LT_ALERT_ADD_TORRENT: u32 = 67;
/// Alert type: the statuses that changed, from lt_post_torrent_updates (lt_alert_statuses).
pub const LT_ALERT_STATE_UPDATE: u32 = 68;
/// Alert type: statistics posted by lt_post_session_stats.
pub const LT_ALERT_SESSION_STATS: u32 = 70;
/// Alert type: the DHT could not do an operation (lt_alert_error, lt_alert_operation).
pub const LT_ALERT_DHT_ERROR: u32 = 73;
/// Alert type: local service discovery could not start or had to stop on a listen interface (lt_alert_error, lt_alert_peer gives the interface's address).
pub const LT_ALERT_LSD_ERROR: u32 = 82;
/// Alert type: the DHT's routing table and lookups, from lt_session_post_dht_stats (lt_alert_dht_buckets, lt_alert_dht_lookups).
pub const LT_ALERT_DHT_STATS: u32 = 83;
/// Alert type: alerts were dropped because the queue was full (delivered before the next alert).
pub const LT_ALERT_ALERTS_DROPPED: u32 = 95;

/// An alert of `kind` as C receives it, for the accessors' tests.
#[cfg(test)]
pub(crate) fn wrap_for_test(kind: AlertKind) -> *mut lt_alert_t {
    let message = String::new();
    wrap(Alert { kind, torrent: crate::engine::TorrentId::NONE, timestamp_us: 0, message })
}

fn wrap(alert: Alert) -> *mut lt_alert_t {
    let message = cstring(&alert.message);
    let url = match &alert.kind {
        AlertKind::TrackerAnnounce { url, .. }
        | AlertKind::TrackerReply { url, .. }
        | AlertKind::TrackerWarning { url, .. }
        | AlertKind::TrackerError { url, .. }
        | AlertKind::ScrapeReply { url, .. }
        | AlertKind::ScrapeFailed { url, .. } => Some(cstring(url)),
        _ => None,
    };
    let text = match &alert.kind {
        AlertKind::FileRenamed { new_name, .. } => Some(cstring(new_name)),
        AlertKind::StorageMoved { path } | AlertKind::StorageMovedFailed { path, .. } => Some(cstring(path)),
        AlertKind::UrlSeed { url, .. } => Some(cstring(url)),
        _ => None,
    };
    Box::into_raw(Box::new(lt_alert_t { alert, message, url, text }))
}

pub(crate) fn alert_ref<'a>(a: *const lt_alert_t) -> Result<&'a Alert, lt_error> {
    non_null(a, "alert")?;
    // SAFETY: non-NULL; the caller promises a live alert.
    Ok(unsafe { &(*a).alert })
}

/// Pops the oldest alert without waiting.
///
/// **Returns** an alert the caller frees with `lt_alert_free`, or NULL when
/// the queue is empty or `s` is NULL. When alerts were dropped because the
/// queue was full, an `alerts_dropped` alert comes first.
/// **Thread safety:** any thread; each alert goes to exactly one caller.
///
/// # Safety
/// `s` must be NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_pop_alert(s: *mut lt_session_t) -> *mut lt_alert_t {
    ffi_call(|| match session_ref(s) {
        Ok(ses) => ses.pop_alert().map(wrap).unwrap_or(std::ptr::null_mut()),
        Err(_) => std::ptr::null_mut(),
    })
}

/// Waits up to `timeout_ms` milliseconds (0: don't wait) for an alert and
/// pops it.
///
/// **Returns** an alert to free with `lt_alert_free`, or NULL on time-out,
/// for a NULL session, or when called from a library thread (a notify
/// callback), where waiting would deadlock.
///
/// # Safety
/// `s` must be NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_wait_for_alert(s: *mut lt_session_t, timeout_ms: i32) -> *mut lt_alert_t {
    ffi_call(|| {
        let Ok(ses) = session_ref(s) else { return std::ptr::null_mut() };
        if on_library_thread() {
            return ses.pop_alert().map(wrap).unwrap_or(std::ptr::null_mut());
        }
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        ses.wait_for_alert(timeout).map(wrap).unwrap_or(std::ptr::null_mut())
    })
}

/// Pops up to `cap` alerts without waiting into `out`.
///
/// **Returns** the number of alerts written (0 for NULL arguments); each
/// is freed with `lt_alert_free`.
///
/// # Safety
/// `out` must be writable for `cap` pointers.
#[no_mangle]
pub unsafe extern "C" fn lt_pop_alerts(s: *mut lt_session_t, out: *mut *mut lt_alert_t, cap: usize) -> usize {
    ffi_call(|| {
        let Ok(ses) = session_ref(s) else { return 0 };
        if out.is_null() {
            return 0;
        }
        let mut n = 0;
        while n < cap {
            let Some(a) = ses.pop_alert() else { break };
            // SAFETY: n < cap pointers the caller promised.
            unsafe { *out.add(n) = wrap(a) };
            n += 1;
        }
        n
    })
}

/// A function the library calls when the alert queue goes from empty to
/// not empty. It runs on a library thread: it must not block, must not
/// pop alerts or call `lt_session_free`; it should only wake the
/// application's own thread. It must not unwind or longjmp.
pub type lt_notify_fn = Option<unsafe extern "C" fn(user: *mut c_void)>;

/// Installs (or with a NULL `fn_` removes) the notify callback.
///
/// **Returns** `LT_OK` or `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `s` must be live; `user` must stay valid while the callback is installed.
#[no_mangle]
pub unsafe extern "C" fn lt_set_alert_notify(
    s: *mut lt_session_t,
    fn_: lt_notify_fn,
    user: *mut c_void,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            let user = UserData(user);
            match fn_ {
                Some(f) => ses.set_alert_notify(Some(Box::new(move || {
                    let u = user;
                    // SAFETY: the C callback with the user pointer it gave us.
                    unsafe { f(u.0) }
                }))),
                None => ses.set_alert_notify(None),
            }
            Ok(())
        })())
    })
}

/// Frees an alert. NULL is a no-op.
///
/// # Safety
/// `a` must be NULL or an alert popped from a session, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_free(a: *mut lt_alert_t) {
    // SAFETY: forwarded caller promise: NULL or from Box::into_raw, not yet freed.
    ffi_call(|| unsafe { free_box(a) })
}

/// The alert's type (`LT_ALERT_*`); 0 for NULL.
///
/// # Safety
/// `a` must be NULL or a live alert.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_type(a: *const lt_alert_t) -> u32 {
    ffi_call(|| alert_ref(a).map(|a| a.alert_type() as u32).unwrap_or(0))
}

/// The name of an alert type, e.g. "torrent_finished" (libtorrent's names
/// without `_alert`); "unknown" for other numbers. Static; never freed.
#[no_mangle]
pub extern "C" fn lt_alert_type_name(alert_type: u32) -> *const c_char {
    ffi_call(|| {
        static NAMES: once_cell::sync::Lazy<Vec<(u32, CString)>> = once_cell::sync::Lazy::new(|| {
            AlertType::ALL.iter().map(|t| (*t as u32, cstring(t.name()))).collect()
        });
        NAMES.iter().find(|(n, _)| *n == alert_type).map(|(_, s)| s.as_ptr()).unwrap_or(c"unknown".as_ptr())
    })
}

/// The alert's category bits (`LT_ALERT_CATEGORY_*`); 0 for NULL and for
/// alerts posted regardless of the mask (session_stats, alerts_dropped).
///
/// # Safety
/// `a` must be NULL or a live alert.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_category(a: *const lt_alert_t) -> u32 {
    ffi_call(|| alert_ref(a).map(|a| a.category()).unwrap_or(0))
}

/// The alert's human-readable message. Owned by the alert: valid until
/// `lt_alert_free`. "" for NULL.
///
/// # Safety
/// `a` must be NULL or a live alert.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_message(a: *const lt_alert_t) -> *const c_char {
    ffi_call(|| {
        if a.is_null() {
            return c"".as_ptr();
        }
        // SAFETY: non-NULL and live per the caller.
        unsafe { (*a).message.as_ptr() }
    })
}

/// The torrent the alert is about; 0 for session alerts and NULL.
///
/// # Safety
/// `a` must be NULL or a live alert.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_torrent(a: *const lt_alert_t) -> lt_torrent_id_t {
    ffi_call(|| alert_ref(a).map(|a| a.torrent.0).unwrap_or(0))
}

/// Microseconds since the session started at which the alert was posted.
///
/// # Safety
/// `a` must be NULL or a live alert.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_timestamp_us(a: *const lt_alert_t) -> i64 {
    ffi_call(|| alert_ref(a).map(|a| a.timestamp_us).unwrap_or(0))
}

/// The error an alert carries: torrent_error, file_error, tracker_error,
/// peer_error, peer_disconnected, listen_failed, torrent_delete_failed,
/// lsd_error, url_seed.
/// The message is the alert's message.
///
/// **Returns** `LT_OK` and the `lt_error` code in `*code_out`;
/// `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE` for other types.
///
/// # Safety
/// `a` must be a live alert; `code_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_error(a: *const lt_alert_t, code_out: *mut i32) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(code_out, "code_out")?;
            let kind = match &alert.kind {
                AlertKind::TorrentError { error }
                | AlertKind::FileError { error }
                | AlertKind::TrackerError { error, .. }
                | AlertKind::PeerError { error, .. }
                | AlertKind::PeerDisconnected { error, .. }
                | AlertKind::ListenFailed { error, .. }
                | AlertKind::TorrentDeleteFailed { error }
                | AlertKind::ReadPieceFailed { error, .. }
                | AlertKind::FileRenameFailed { error, .. }
                | AlertKind::StorageMovedFailed { error, .. }
                | AlertKind::SaveResumeDataFailed { error }
                | AlertKind::ScrapeFailed { error, .. }
                | AlertKind::MetadataFailed { error, .. }
                | AlertKind::LsdError { error, .. }
                | AlertKind::UrlSeed { error, .. }
                | AlertKind::DhtError { error, .. } => error.kind,
                _ => return Err(wrong_type(alert)),
            };
            // SAFETY: checked non-NULL.
            unsafe { *code_out = code_of(kind) };
            Ok(())
        })())
    })
}

/// The operation that failed, for peer_disconnected, peer_error and dht_error:
/// libtorrent's `operation_t` number (`LT_OPERATION_*`; for example
/// `LT_OPERATION_CONNECT` when a dial was refused, `LT_OPERATION_HANDSHAKE`
/// when the first bytes were not a BitTorrent handshake for a torrent of
/// this session). `lt_operation_name` gives its name.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `op_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_operation(a: *const lt_alert_t, op_out: *mut u32) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(op_out, "op_out")?;
            let op = match &alert.kind {
                AlertKind::PeerError { op, .. }
                | AlertKind::PeerDisconnected { op, .. }
                | AlertKind::DhtError { op, .. } => *op,
                _ => return Err(wrong_type(alert)),
            };
            // SAFETY: checked non-NULL.
            unsafe { *op_out = op as u32 };
            Ok(())
        })())
    })
}

/// The name of an operation number, libtorrent's (`"connect"`,
/// `"handshake"`, `"sock_read"`, ...); "unknown" for other numbers.
/// Static; never freed.
#[no_mangle]
pub extern "C" fn lt_operation_name(op: u32) -> *const c_char {
    ffi_call(|| {
        let found = Operation::ALL.iter().find(|o| **o as u32 == op);
        found.map_or(c"unknown".as_ptr(), |o| super::boundary::static_cstr(o.name()))
    })
}

// The LT_OPERATION_* values are literals because cbindgen cannot evaluate
// casts; abi_tests.rs ties them to the engine's table.

/// The operation failed for a reason not known to lt.
pub const LT_OPERATION_UNKNOWN: u32 = 0;
/// The BitTorrent protocol logic ended the connection (a bad message, a
/// timeout, a ban).
pub const LT_OPERATION_BITTORRENT: u32 = 1;
/// Writing a file failed.
pub const LT_OPERATION_FILE_WRITE: u32 = 7;
/// Reading a file (to serve a peer) failed.
pub const LT_OPERATION_FILE_READ: u32 = 8;
/// Writing to the socket failed.
pub const LT_OPERATION_SOCK_WRITE: u32 = 10;
/// Reading from the socket failed, or the peer closed it.
pub const LT_OPERATION_SOCK_READ: u32 = 11;
/// Binding a socket failed (the UDP socket of a listen interface).
pub const LT_OPERATION_SOCK_BIND: u32 = 13;
/// The encrypted handshake (MSE) failed.
pub const LT_OPERATION_ENCRYPTION: u32 = 15;
/// Connecting to the peer failed or timed out.
pub const LT_OPERATION_CONNECT: u32 = 16;
/// An incoming connection was refused when accepted (connection limit).
pub const LT_OPERATION_SOCK_ACCEPT: u32 = 21;
/// Resolving a host name failed (a DHT bootstrap node).
pub const LT_OPERATION_HOSTNAME_LOOKUP: u32 = 38;
/// The BitTorrent handshake failed: not a handshake, an unknown torrent, ourselves.
pub const LT_OPERATION_HANDSHAKE: u32 = 40;

pub(crate) fn wrong_type(a: &Alert) -> lt_error {
    fail_with(LT_ERROR_WRONG_ALERT_TYPE, format!("a {} alert has no such field", a.alert_type().name()))
}

/// The piece of a piece_finished, hash_failed or read_piece alert.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `piece_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_piece(a: *const lt_alert_t, piece_out: *mut u32) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(piece_out, "piece_out")?;
            let piece = match &alert.kind {
                AlertKind::PieceFinished { piece }
                | AlertKind::HashFailed { piece }
                | AlertKind::ReadPiece { piece, .. }
                | AlertKind::ReadPieceFailed { piece, .. } => *piece,
                _ => return Err(wrong_type(alert)),
            };
            // SAFETY: checked non-NULL.
            unsafe { *piece_out = piece };
            Ok(())
        })())
    })
}

/// The peer endpoint ("1.2.3.4:6881", "[::1]:6881") of a peer_*,
/// incoming_connection or lsd_peer alert, the announcing peer of
/// dht_announce, the address of listen_succeeded / listen_failed, or the
/// interface address of lsd_error ("127.0.0.1"), copied NUL-terminated into `buf`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`;
/// `LT_ERROR_BUFFER_TOO_SMALL` when it does not fit (48 bytes always do).
///
/// # Safety
/// `a` must be a live alert; `buf` writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_peer(a: *const lt_alert_t, buf: *mut c_char, cap: usize) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(buf, "buf")?;
            let text = match &alert.kind {
                AlertKind::PeerConnect { peer, .. }
                | AlertKind::PeerDisconnected { peer, .. }
                | AlertKind::PeerBan { peer }
                | AlertKind::PeerBlocked { peer, .. }
                | AlertKind::PeerError { peer, .. }
                | AlertKind::IncomingConnection { peer }
                | AlertKind::MetadataFailed { peer, .. }
                | AlertKind::LsdPeer { peer } => peer.to_string(),
                AlertKind::LsdError { local, .. } => local.to_string(),
                AlertKind::ListenSucceeded { addr } => addr.to_string(),
                AlertKind::ListenFailed { addr, .. } => addr.clone(),
                AlertKind::DhtAnnounce { ip, port, .. } => std::net::SocketAddr::new(*ip, *port).to_string(),
                _ => return Err(wrong_type(alert)),
            };
            if text.len() + 1 > cap {
                return Err(fail_with(LT_ERROR_BUFFER_TOO_SMALL, "buffer too small for the address"));
            }
            // SAFETY: buf is valid for cap bytes per the caller.
            unsafe { copy_to_buf(&text, buf, cap) };
            Ok(())
        })())
    })
}

/// The previous and new `LT_STATE_*` of a state_changed alert.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; both outputs writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_states(
    a: *const lt_alert_t,
    prev_out: *mut u32,
    state_out: *mut u32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(prev_out, "prev_out")?;
            non_null(state_out, "state_out")?;
            let AlertKind::StateChanged { prev, state } = &alert.kind else { return Err(wrong_type(alert)) };
            // SAFETY: both checked non-NULL.
            unsafe {
                *prev_out = *prev as u32;
                *state_out = *state as u32;
            }
            Ok(())
        })())
    })
}

/// The tracker URL of a tracker_* or scrape_reply alert. Owned by the
/// alert (valid until `lt_alert_free`); NULL for other types and NULL.
///
/// # Safety
/// `a` must be NULL or a live alert.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_tracker_url(a: *const lt_alert_t) -> *const c_char {
    ffi_call(|| {
        if a.is_null() {
            return std::ptr::null();
        }
        // SAFETY: non-NULL and live per the caller.
        unsafe { (*a).url.as_ref().map(|u| u.as_ptr()).unwrap_or(std::ptr::null()) }
    })
}

/// Writes `value` to `out` when `out` is not NULL.
///
/// # Safety
/// `out` must be NULL or writable.
unsafe fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable, as the caller promises.
        unsafe { out.write(value) };
    }
}

/// The swarm as a scrape_reply alert's tracker counted it: seeds
/// (`complete`), downloaders (`incomplete`) and completed downloads
/// (`downloaded`). Any output may be NULL.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG` when `a` is NULL;
/// `LT_ERROR_WRONG_ALERT_TYPE` for other types.
///
/// # Safety
/// `a` must be a live alert; outputs NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_scrape(
    a: *const lt_alert_t,
    complete_out: *mut u32,
    incomplete_out: *mut u32,
    downloaded_out: *mut u32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            let AlertKind::ScrapeReply { complete, incomplete, downloaded, .. } = &alert.kind else {
                return Err(wrong_type(alert));
            };
            // SAFETY: each output is NULL or writable, as the caller promises.
            unsafe {
                put(complete_out, *complete);
                put(incomplete_out, *incomplete);
                put(downloaded_out, *downloaded);
            }
            Ok(())
        })())
    })
}

/// The number of peers in the tracker's reply of a tracker_reply alert, or
/// found by the DHT lookup of a dht_reply alert.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `num_peers_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_num_peers(a: *const lt_alert_t, num_peers_out: *mut u32) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(num_peers_out, "num_peers_out")?;
            let num_peers = match &alert.kind {
                AlertKind::TrackerReply { num_peers, .. } | AlertKind::DhtReply { num_peers } => num_peers,
                _ => return Err(wrong_type(alert)),
            };
            // SAFETY: checked non-NULL.
            unsafe { *num_peers_out = *num_peers };
            Ok(())
        })())
    })
}

/// How many times in a row the tracker of a tracker_error alert failed.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `times_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_times_in_row(a: *const lt_alert_t, times_out: *mut u32) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(times_out, "times_out")?;
            let AlertKind::TrackerError { times_in_row, .. } = &alert.kind else {
                return Err(wrong_type(alert));
            };
            // SAFETY: checked non-NULL.
            unsafe { *times_out = *times_in_row };
            Ok(())
        })())
    })
}

/// The event of a tracker_announce alert: "started", "completed",
/// "stopped" or "none" (a regular announce). Static; never freed.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `event_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_announce_event(
    a: *const lt_alert_t,
    event_out: *mut *const c_char,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(event_out, "event_out")?;
            let AlertKind::TrackerAnnounce { event, .. } = &alert.kind else { return Err(wrong_type(alert)) };
            // SAFETY: checked non-NULL.
            unsafe { *event_out = super::boundary::static_cstr(event) };
            Ok(())
        })())
    })
}

/// The file index of a file_renamed or file_rename_failed alert.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `file_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_file_index(a: *const lt_alert_t, file_out: *mut u32) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(file_out, "file_out")?;
            let file = match &alert.kind {
                AlertKind::FileRenamed { file, .. } | AlertKind::FileRenameFailed { file, .. } => *file,
                _ => return Err(wrong_type(alert)),
            };
            // SAFETY: checked non-NULL.
            unsafe { *file_out = file };
            Ok(())
        })())
    })
}

/// Reads the alert's kept text into `out` when `matches` accepts its type.
///
/// # Safety
/// `a` must be a live alert; `out` writable.
unsafe fn alert_text(
    a: *const lt_alert_t,
    out: *mut *const c_char,
    what: &str,
    matches: impl Fn(&AlertKind) -> bool,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(out, what)?;
            if !matches(&alert.kind) {
                return Err(wrong_type(alert));
            }
            // SAFETY: `a` is live (alert_ref checked it is not NULL).
            let text = unsafe { (*a).text.as_ref() }.ok_or_else(|| wrong_type(alert))?;
            // SAFETY: checked non-NULL.
            unsafe { *out = text.as_ptr() };
            Ok(())
        })())
    })
}

/// The web seed URL of a url_seed alert. Owned by the alert: valid until
/// `lt_alert_free`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// **Thread safety** Any thread; one alert is not used from two threads at once.
///
/// # Safety
/// `a` must be a live alert; `url_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_url_seed_url(
    a: *const lt_alert_t,
    url_out: *mut *const c_char,
) -> lt_error {
    // SAFETY: forwarded caller promises.
    unsafe { alert_text(a, url_out, "url_out", |k| matches!(k, AlertKind::UrlSeed { .. })) }
}

/// The new name (the file's path in the torrent, UTF-8) of a file_renamed
/// alert. Owned by the alert: valid until `lt_alert_free`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `name_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_new_name(a: *const lt_alert_t, name_out: *mut *const c_char) -> lt_error {
    // SAFETY: forwarded caller promises.
    unsafe { alert_text(a, name_out, "name_out", |k| matches!(k, AlertKind::FileRenamed { .. })) }
}

/// The storage path of a storage_moved alert (where the files are now) or
/// of a storage_moved_failed alert (where they were to go). Owned by the
/// alert: valid until `lt_alert_free`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `path_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_storage_path(
    a: *const lt_alert_t,
    path_out: *mut *const c_char,
) -> lt_error {
    // SAFETY: forwarded caller promises.
    unsafe {
        alert_text(a, path_out, "path_out", |k| {
            matches!(k, AlertKind::StorageMoved { .. } | AlertKind::StorageMovedFailed { .. })
        })
    }
}

/// What an alerts_dropped alert reports: how many alerts were dropped since
/// the previous one, and which types, as a 128-bit set: type number `n`
/// was dropped when bit `n % 64` of `types_out[n / 64]` is set
/// (libtorrent's `dropped_alerts` bitset). Either output may be NULL;
/// `types_out` has room for 2 words.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG` when `a` is NULL;
/// `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `count_out` NULL or writable; `types_out` NULL
/// or writable for 2 elements.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_dropped(
    a: *const lt_alert_t,
    count_out: *mut u64,
    types_out: *mut u64,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            let AlertKind::AlertsDropped { count, types } = &alert.kind else {
                return Err(wrong_type(alert));
            };
            // SAFETY: outputs NULL or writable (types_out for 2 words), as promised.
            unsafe {
                put(count_out, *count);
                if !types_out.is_null() {
                    types_out.write(*types as u64);
                    types_out.add(1).write((*types >> 64) as u64);
                }
            }
            Ok(())
        })())
    })
}

/// Whether the peer of a peer_connect alert connected to us (true) or we
/// dialled it (false).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `incoming_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_incoming(a: *const lt_alert_t, incoming_out: *mut bool) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(incoming_out, "incoming_out")?;
            let AlertKind::PeerConnect { incoming, .. } = &alert.kind else { return Err(wrong_type(alert)) };
            // SAFETY: checked non-NULL.
            unsafe { *incoming_out = *incoming };
            Ok(())
        })())
    })
}

/// Fills `*stats` (of `size` bytes) from a session_stats alert: the same
/// figures `lt_session_stats` gives, at the time the alert was posted.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`;
/// `LT_ERROR_BUFFER_TOO_SMALL` when `size` is under 8.
///
/// # Safety
/// `stats` must be writable for `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_stats(
    a: *const lt_alert_t,
    stats: *mut lt_stats_t,
    size: usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(stats, "stats")?;
            let AlertKind::SessionStats { counters } = &alert.kind else { return Err(wrong_type(alert)) };
            check_struct_size(size, "stats")?;
            let out = fill_stats(|m| counters.get(m as usize).copied().unwrap_or(0));
            // SAFETY: the caller promises `size` writable bytes.
            unsafe { write_struct(out, stats as *mut u8, size) };
            Ok(())
        })())
    })
}

/// Copies the values of every metric of a session_stats alert into
/// `values` (index = metric index, see `lt_stats_metric`): at most `cap`,
/// and the number of metrics into `*count_out`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `values` writable for `cap` elements (NULL if `cap` is 0).
#[no_mangle]
pub unsafe extern "C" fn lt_alert_counters(
    a: *const lt_alert_t,
    values: *mut i64,
    cap: usize,
    count_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(count_out, "count_out")?;
            let AlertKind::SessionStats { counters } = &alert.kind else { return Err(wrong_type(alert)) };
            // SAFETY: forwarded caller promises about values/cap/count_out.
            unsafe { fill_array(counters, values, cap, count_out, "values", |v| *v) }?;
            Ok(())
        })())
    })
}

/// The bytes a read_piece alert (the piece) or a save_resume_data alert
/// (the bencoded resume data) carries. Owned by the alert: valid until
/// `lt_alert_free`; copy them to keep them.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; outputs writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_buffer(
    a: *const lt_alert_t,
    data_out: *mut *const u8,
    len_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            if data_out.is_null() || len_out.is_null() {
                return Err(fail_with(LT_ERROR_NULL_ARG, "data_out or len_out is NULL"));
            }
            let data = match &alert.kind {
                AlertKind::ReadPiece { data, .. } | AlertKind::SaveResumeData { data } => data,
                _ => return Err(wrong_type(alert)),
            };
            // SAFETY: both checked non-NULL.
            unsafe {
                *data_out = data.as_ptr();
                *len_out = data.len();
            }
            Ok(())
        })())
    })
}

/// Copies the torrent statuses of a state_update alert into `statuses`: at
/// most `cap`, in an array of elements `elem_size` bytes apart (pass
/// `sizeof(lt_torrent_status_t)`; each gets `min(elem_size, sizeof)` bytes
/// and its `struct_size`), and the number the alert holds into
/// `*count_out`. `statuses` may be NULL when `cap` is 0.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`;
/// `LT_ERROR_BUFFER_TOO_SMALL` when `cap` > 0 and `elem_size` is under 8.
///
/// # Safety
/// `statuses` writable for `cap * elem_size` bytes; `count_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_statuses(
    a: *const lt_alert_t,
    statuses: *mut super::torrent::lt_torrent_status_t,
    elem_size: usize,
    cap: usize,
    count_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            let AlertKind::StateUpdate { statuses: list } = &alert.kind else {
                return Err(wrong_type(alert));
            };
            // SAFETY: forwarded caller promises about statuses/cap/count_out.
            unsafe {
                fill_struct_array(
                    list,
                    statuses,
                    elem_size,
                    cap,
                    count_out,
                    "statuses",
                    super::torrent::status_to_c,
                )
            }
        })())
    })
}

/// Threshold severities (`lt_alert_performance`, `lt_threshold_event_t`).
/// Back to normal.
pub const LT_SEVERITY_CLEARED: u32 = 0;
/// Past the threshold.
pub const LT_SEVERITY_WARNING: u32 = 1;
/// Twice as far past the threshold as allowed.
pub const LT_SEVERITY_CRITICAL: u32 = 2;

/// The figures of a performance alert: which figure (a static string such
/// as "download_rate_low", "hash_failures_per_minute", "peer_rtt_ms",
/// "disk_queue_bytes", "alert_queue_percent"), the observed value, the
/// threshold and the `LT_SEVERITY_*`. Any output may be NULL.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; outputs NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_performance(
    a: *const lt_alert_t,
    metric_out: *mut *const c_char,
    value_out: *mut i64,
    threshold_out: *mut i64,
    severity_out: *mut u32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            let AlertKind::Performance { event } = &alert.kind else { return Err(wrong_type(alert)) };
            // SAFETY: each output is NULL or writable, as the caller promises.
            unsafe {
                if !metric_out.is_null() {
                    *metric_out = super::stats::watched_name(event.watched);
                }
                if !value_out.is_null() {
                    *value_out = event.value;
                }
                if !threshold_out.is_null() {
                    *threshold_out = event.threshold;
                }
                if !severity_out.is_null() {
                    *severity_out = event.severity as u32;
                }
            }
            Ok(())
        })())
    })
}
