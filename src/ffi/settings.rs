//! `lt_settings_t`: a settings pack, filled by name and given to a session.

use std::ffi::c_char;

use super::boundary::{code, ffi_call, free_box, str_arg};
use super::error::{fail, lt_error, LT_ERROR_NULL_ARG};
use crate::engine::Settings;

/// A set of session settings, by libtorrent's names. Opaque.
///
/// Methods: `lt_settings_new`, `lt_settings_set_int`, `lt_settings_set_bool`,
/// `lt_settings_set_str`, `lt_settings_free`; used by `lt_session_new` and
/// `lt_session_apply_settings`, which copy it.
pub struct lt_settings_t {
    pub(crate) inner: Settings,
}

/// A settings pack holding every default.
///
/// **Returns** a new pack (never NULL unless memory is exhausted).
/// **Ownership:** the caller frees it with `lt_settings_free`.
/// **Thread safety:** a pack may move between threads but not be used by two at once.
#[no_mangle]
pub extern "C" fn lt_settings_new() -> *mut lt_settings_t {
    ffi_call(|| Box::into_raw(Box::new(lt_settings_t { inner: Settings::default() })))
}

/// Frees a settings pack. NULL is a no-op; freeing twice is undefined.
///
/// # Safety
/// `s` must be NULL or a pack from `lt_settings_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn lt_settings_free(s: *mut lt_settings_t) {
    // SAFETY: forwarded caller promise: NULL or from Box::into_raw, not yet freed.
    ffi_call(|| unsafe { free_box(s) })
}

/// Shared body of the typed setters.
///
/// # Safety
/// `s` must be NULL or a live pack; `name` NULL or a NUL-terminated string.
unsafe fn set_with(
    s: *mut lt_settings_t,
    name: *const c_char,
    apply: impl FnOnce(&mut Settings, &str) -> crate::engine::Result<()>,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            // SAFETY: caller promises s is NULL or a live pack.
            let s = unsafe { s.as_mut() }.ok_or(LT_ERROR_NULL_ARG)?;
            // SAFETY: caller promises a valid string.
            let name = unsafe { str_arg(name, "name") }?;
            apply(&mut s.inner, name).map_err(fail)
        })())
    })
}

/// Sets an integer setting, e.g. `connections_limit`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG` when `s` or `name` is NULL;
/// `LT_ERROR_UNKNOWN_SETTING` for an unknown name; `LT_ERROR_INVALID_ARG`
/// when the setting has another type or the value is out of range. The
/// pack is unchanged on error; `lt_last_error` says why.
///
/// # Safety
/// `s` must be a live pack; `name` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_settings_set_int(
    s: *mut lt_settings_t,
    name: *const c_char,
    value: i64,
) -> lt_error {
    // SAFETY: forwarded caller promises.
    unsafe { set_with(s, name, |st, n| st.set_int(n, value)) }
}

/// Sets a boolean setting, e.g. `enable_dht`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_UNKNOWN_SETTING`;
/// `LT_ERROR_INVALID_ARG` when the setting has another type.
///
/// # Safety
/// `s` must be a live pack; `name` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_settings_set_bool(
    s: *mut lt_settings_t,
    name: *const c_char,
    value: bool,
) -> lt_error {
    // SAFETY: forwarded caller promises.
    unsafe { set_with(s, name, |st, n| st.set_bool(n, value)) }
}

/// Sets a string setting, e.g. `listen_interfaces` = "127.0.0.1:6881".
/// The string is copied.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG` when `s`, `name` or `value` is
/// NULL; `LT_ERROR_UNKNOWN_SETTING`; `LT_ERROR_INVALID_ARG` for another
/// type or a value that is not UTF-8.
///
/// # Safety
/// `s` must be a live pack; `name` and `value` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn lt_settings_set_str(
    s: *mut lt_settings_t,
    name: *const c_char,
    value: *const c_char,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            // SAFETY: caller promises s is NULL or a live pack.
            let s = unsafe { s.as_mut() }.ok_or(LT_ERROR_NULL_ARG)?;
            // SAFETY: caller promises valid strings.
            let name = unsafe { str_arg(name, "name") }?;
            // SAFETY: as above.
            let value = unsafe { str_arg(value, "value") }?;
            s.inner.set_str(name, value).map_err(fail)
        })())
    })
}

/// Applies a session state saved by `lt_session_save_state` to the pack:
/// every saved setting, checked as the setters check it (names this
/// version does not know are skipped).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for a
/// malformed state or a bad value (the pack is then unchanged).
///
/// # Safety
/// `s` must be a live pack; `data` readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_settings_load_state(
    s: *mut lt_settings_t,
    data: *const u8,
    len: usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            // SAFETY: caller promises s is NULL or a live pack.
            let s = unsafe { s.as_mut() }.ok_or(LT_ERROR_NULL_ARG)?;
            super::boundary::non_null(data, "data")?;
            // SAFETY: the caller promises len readable bytes.
            let bytes = unsafe { std::slice::from_raw_parts(data, len) };
            s.inner.load_state(bytes).map_err(fail)
        })())
    })
}
