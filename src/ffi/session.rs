//! `lt_session_t`: the session, its lifetime and its torrents list.

use std::ffi::c_void;

use super::boundary::{code, ffi_call, fill_array, non_null};
use super::error::{fail, fail_with, lt_error, LT_ERROR_NULL_ARG, LT_ERROR_WRONG_THREAD};
use super::settings::lt_settings_t;
use crate::engine::{Session, Settings};

/// A BitTorrent session: owns the network threads, listen sockets, alert
/// queue and counters, and the torrents added to it. Opaque.
///
/// Methods: `lt_session_new`, `lt_session_free`, `lt_session_get_settings`,
/// `lt_session_apply_settings`, `lt_session_listen_port`, `lt_session_torrents`, `lt_add_torrent`,
/// `lt_remove_torrent`, `lt_torrent_*`, `lt_pop_alert`, `lt_wait_for_alert`,
/// `lt_pop_alerts`, `lt_set_alert_notify`, `lt_post_session_stats`,
/// `lt_session_stats`.
///
/// **Thread safety:** every function may be called from any thread at the
/// same time, except `lt_session_free`, which must not race with any other
/// call on the same session.
pub struct lt_session_t {
    pub(crate) inner: Session,
}

/// The session behind a pointer, or `LT_ERROR_NULL_ARG`.
pub(crate) fn session_ref<'a>(s: *const lt_session_t) -> Result<&'a Session, lt_error> {
    non_null(s, "session")?;
    // SAFETY: non-NULL, and the caller promises it is a live session.
    Ok(unsafe { &(*s).inner })
}

/// Whether we are on one of the library's own runtime threads, where
/// blocking would deadlock.
pub(crate) fn on_library_thread() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Starts a session with `settings` (copied; NULL for the defaults).
///
/// **Returns** `LT_OK` and the session in `*session_out`;
/// `LT_ERROR_NULL_ARG` when `session_out` is NULL; `LT_ERROR_INVALID_ARG` for
/// invalid settings (e.g. a malformed `listen_interfaces`);
/// `LT_ERROR_IO` when threads cannot be started. A listen socket that cannot
/// be opened is not an error: it is reported by a `listen_failed` alert.
/// **Ownership:** the caller frees the session with `lt_session_free`.
///
/// # Safety
/// `settings` must be NULL or a live pack; `session_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_session_new(
    settings: *const lt_settings_t,
    session_out: *mut *mut lt_session_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            non_null(session_out, "session_out")?;
            // SAFETY: checked non-NULL; the caller promises it is writable.
            unsafe { *session_out = std::ptr::null_mut() };
            if on_library_thread() {
                return Err(fail_with(LT_ERROR_WRONG_THREAD, "lt_session_new called from a library thread"));
            }
            // SAFETY: NULL or a live pack, as the caller promises.
            let s = match unsafe { settings.as_ref() } {
                Some(p) => p.inner.clone(),
                None => Settings::default(),
            };
            let session = Session::new(s).map_err(fail)?;
            let boxed = Box::into_raw(Box::new(lt_session_t { inner: session }));
            // SAFETY: as above.
            unsafe { *session_out = boxed };
            Ok(())
        })())
    })
}

/// Shuts a session down and frees it: trackers are told `stopped` (waiting
/// at most `stop_tracker_timeout` seconds), peers are closed, files flushed,
/// threads joined. NULL is a no-op.
///
/// Must not be called from an alert notify or log callback (it would wait
/// for its own thread) and must not race with other calls on the session.
///
/// # Safety
/// `s` must be NULL or a session from `lt_session_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn lt_session_free(s: *mut lt_session_t) {
    ffi_call(|| {
        if s.is_null() || on_library_thread() {
            return;
        }
        // SAFETY: s came from Box::into_raw in lt_session_new.
        drop(unsafe { Box::from_raw(s) });
    })
}

/// Replaces the session's settings with `settings` (copied); every setting
/// takes effect at once. The pack is the whole set, so start from
/// `lt_session_get_settings` (or the pack the session was made with). The settings a session reads only when it
/// starts (`network_threads`, `aio_threads`, `hashing_threads`,
/// `listen_interfaces`, `stats_listen`, `user_agent`, `peer_fingerprint`,
/// `enable_dht`, `dht_bootstrap_nodes`) must keep their running values: a
/// change to one is refused.
///
/// **Returns** `LT_OK`, `LT_ERROR_NULL_ARG`, `LT_ERROR_INVALID_ARG` (a bad
/// value, or a change to a setting fixed at start: `lt_last_error` then says
/// "X cannot change on a running session"). On
/// error nothing changed.
///
/// # Safety
/// `s` and `settings` must be live objects.
#[no_mangle]
pub unsafe extern "C" fn lt_session_apply_settings(
    s: *mut lt_session_t,
    settings: *const lt_settings_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            // SAFETY: NULL or live, as the caller promises.
            let settings = unsafe { settings.as_ref() }.ok_or(LT_ERROR_NULL_ARG)?;
            ses.apply_settings(settings.inner.clone()).map_err(fail)
        })())
    })
}

/// A new settings pack holding the session's settings as they run now: the
/// pack to change and give to `lt_session_apply_settings`.
///
/// **Returns** `LT_OK`, or `LT_ERROR_NULL_ARG` (then `*settings_out` is
/// untouched). **Ownership:** the caller frees the pack with
/// `lt_settings_free`.
///
/// # Safety
/// `s` must be a live session; `settings_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_session_get_settings(
    s: *mut lt_session_t,
    settings_out: *mut *mut lt_settings_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            non_null(settings_out, "settings_out")?;
            let pack = Box::new(lt_settings_t { inner: ses.settings() });
            // SAFETY: checked non-NULL.
            unsafe { *settings_out = Box::into_raw(pack) };
            Ok(())
        })())
    })
}

/// The TCP port of the session's first listen socket (useful with port 0
/// in `listen_interfaces`).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_IO` when no listen
/// socket could be opened.
///
/// # Safety
/// `s` must be a live session and `port_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_session_listen_port(s: *mut lt_session_t, port_out: *mut u16) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            non_null(port_out, "port_out")?;
            let port = ses
                .listen_port()
                .ok_or_else(|| fail_with(super::error::LT_ERROR_IO, "no listen socket is open"))?;
            // SAFETY: checked non-NULL, writable per the caller.
            unsafe { *port_out = port };
            Ok(())
        })())
    })
}

/// Lists the ids of the session's torrents, in the order they were added.
///
/// Writes at most `cap` ids to `ids` and the total number of torrents to
/// `*count_out` (which may exceed `cap`: call again with a larger array).
/// `ids` may be NULL when `cap` is 0.
///
/// **Returns** `LT_OK` or `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `ids` must be valid for `cap` elements; `count_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_session_torrents(
    s: *mut lt_session_t,
    ids: *mut u64,
    cap: usize,
    count_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            // SAFETY: forwarded caller promises about ids/cap/count_out.
            unsafe { fill_array(&ses.torrents(), ids, cap, count_out, "ids", |id| id.0) }?;
            Ok(())
        })())
    })
}

/// A user pointer handed back to a C callback. The C side is responsible
/// for whatever it points to being usable from the library's threads.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub *mut c_void);
// SAFETY: the pointer is only handed back to the C callback; the C API
// documents that the callback runs on library threads.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}
