//! Error codes, their names, and the thread's last error message.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use crate::engine::{Error, ErrorKind};

/// A result code: `LT_OK` (0) or one of the `LT_ERROR_*` values. Codes are
/// stable and never reused.
pub type lt_error = i32;

/// Success.
pub const LT_OK: lt_error = 0;
/// A required pointer argument was NULL.
pub const LT_ERROR_NULL_ARG: lt_error = 1;
/// An argument was out of range, malformed, or of the wrong type.
pub const LT_ERROR_INVALID_ARG: lt_error = 2;
/// An internal error (a Rust panic) was caught; the session may still be used.
pub const LT_ERROR_PANIC: lt_error = 3;
/// The torrent id does not name a torrent of this session (any more).
pub const LT_ERROR_INVALID_HANDLE: lt_error = 4;
/// No setting has this name.
pub const LT_ERROR_UNKNOWN_SETTING: lt_error = 5;
/// The alert is not of the type this accessor reads.
pub const LT_ERROR_WRONG_ALERT_TYPE: lt_error = 6;
/// The caller's buffer or struct is too small.
pub const LT_ERROR_BUFFER_TOO_SMALL: lt_error = 7;
/// A blocking call was made from one of the library's own threads (for
/// example from an alert notify callback).
pub const LT_ERROR_WRONG_THREAD: lt_error = 8;
/// The .torrent data is malformed or unsafe.
pub const LT_ERROR_INVALID_TORRENT: lt_error = 9;
/// The magnet URI is malformed.
pub const LT_ERROR_INVALID_MAGNET: lt_error = 10;
/// The torrent is already in the session.
pub const LT_ERROR_DUPLICATE_TORRENT: lt_error = 11;
/// Reading or writing files failed.
pub const LT_ERROR_IO: lt_error = 12;
/// A tracker failed or answered with an error.
pub const LT_ERROR_TRACKER: lt_error = 13;
/// A peer broke the protocol.
pub const LT_ERROR_PROTOCOL: lt_error = 14;
/// The session is shutting down.
pub const LT_ERROR_SHUTTING_DOWN: lt_error = 15;
/// A bounded wait ran out.
pub const LT_ERROR_TIMEOUT: lt_error = 16;
/// The torrent's metadata is not known yet.
pub const LT_ERROR_NO_METADATA: lt_error = 17;
/// Not supported by this version of the library.
pub const LT_ERROR_NOT_SUPPORTED: lt_error = 18;
/// Resume data is malformed, or belongs to another torrent.
pub const LT_ERROR_INVALID_RESUME_DATA: lt_error = 19;
/// A limit was reached (for example the connection limit).
pub const LT_ERROR_LIMIT_REACHED: lt_error = 20;
/// The caller cancelled the operation.
pub const LT_ERROR_CANCELLED: lt_error = 21;
/// What was asked for is not there (a rule to remove, an optional field).
pub const LT_ERROR_NOT_FOUND: lt_error = 22;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records the calling thread's last error message.
pub fn set_last_error(msg: impl Into<String>) {
    let msg = msg.into();
    LAST_ERROR.with(|e| *e.borrow_mut() = msg);
}

/// The code for an engine error kind. The one place codes are decided.
pub fn code_of(kind: ErrorKind) -> lt_error {
    match kind {
        ErrorKind::InvalidArgument => LT_ERROR_INVALID_ARG,
        ErrorKind::UnknownSetting => LT_ERROR_UNKNOWN_SETTING,
        ErrorKind::InvalidHandle => LT_ERROR_INVALID_HANDLE,
        ErrorKind::InvalidTorrent => LT_ERROR_INVALID_TORRENT,
        ErrorKind::InvalidMagnet => LT_ERROR_INVALID_MAGNET,
        ErrorKind::DuplicateTorrent => LT_ERROR_DUPLICATE_TORRENT,
        ErrorKind::Io => LT_ERROR_IO,
        ErrorKind::Tracker => LT_ERROR_TRACKER,
        ErrorKind::Protocol => LT_ERROR_PROTOCOL,
        ErrorKind::ShuttingDown => LT_ERROR_SHUTTING_DOWN,
        ErrorKind::Timeout => LT_ERROR_TIMEOUT,
        ErrorKind::NoMetadata => LT_ERROR_NO_METADATA,
        ErrorKind::NotSupported => LT_ERROR_NOT_SUPPORTED,
        ErrorKind::InvalidResumeData => LT_ERROR_INVALID_RESUME_DATA,
        ErrorKind::LimitReached => LT_ERROR_LIMIT_REACHED,
        ErrorKind::Cancelled => LT_ERROR_CANCELLED,
        ErrorKind::NotFound => LT_ERROR_NOT_FOUND,
    }
}

/// Records an engine error as the last error and answers its code.
pub fn fail(e: Error) -> lt_error {
    set_last_error(e.message());
    code_of(e.kind())
}

/// Records `msg` and answers `code`.
pub fn fail_with(code: lt_error, msg: impl Into<String>) -> lt_error {
    set_last_error(msg);
    code
}

/// The name of an error code, e.g. "LT_ERROR_INVALID_TORRENT: invalid torrent".
///
/// **Returns** a static string (never NULL, never to be freed); unknown
/// codes give "unknown error code".
/// **Thread safety:** any thread.
#[no_mangle]
pub extern "C" fn lt_error_str(code: lt_error) -> *const c_char {
    let s: &'static [u8] = match code {
        LT_OK => b"LT_OK: success\0",
        LT_ERROR_NULL_ARG => b"LT_ERROR_NULL_ARG: a required pointer argument was NULL\0",
        LT_ERROR_INVALID_ARG => b"LT_ERROR_INVALID_ARG: invalid argument\0",
        LT_ERROR_PANIC => b"LT_ERROR_PANIC: internal error\0",
        LT_ERROR_INVALID_HANDLE => b"LT_ERROR_INVALID_HANDLE: no such torrent\0",
        LT_ERROR_UNKNOWN_SETTING => b"LT_ERROR_UNKNOWN_SETTING: unknown setting\0",
        LT_ERROR_WRONG_ALERT_TYPE => b"LT_ERROR_WRONG_ALERT_TYPE: the alert has no such field\0",
        LT_ERROR_BUFFER_TOO_SMALL => b"LT_ERROR_BUFFER_TOO_SMALL: buffer too small\0",
        LT_ERROR_WRONG_THREAD => b"LT_ERROR_WRONG_THREAD: blocking call from a library thread\0",
        LT_ERROR_INVALID_TORRENT => b"LT_ERROR_INVALID_TORRENT: invalid torrent\0",
        LT_ERROR_INVALID_MAGNET => b"LT_ERROR_INVALID_MAGNET: invalid magnet URI\0",
        LT_ERROR_DUPLICATE_TORRENT => b"LT_ERROR_DUPLICATE_TORRENT: torrent already in the session\0",
        LT_ERROR_IO => b"LT_ERROR_IO: file or network I/O failed\0",
        LT_ERROR_TRACKER => b"LT_ERROR_TRACKER: tracker error\0",
        LT_ERROR_PROTOCOL => b"LT_ERROR_PROTOCOL: peer protocol error\0",
        LT_ERROR_SHUTTING_DOWN => b"LT_ERROR_SHUTTING_DOWN: the session is shutting down\0",
        LT_ERROR_TIMEOUT => b"LT_ERROR_TIMEOUT: timed out\0",
        LT_ERROR_LIMIT_REACHED => b"LT_ERROR_LIMIT_REACHED: a limit was reached\0",
        LT_ERROR_NO_METADATA => b"LT_ERROR_NO_METADATA: the torrent's metadata is not known yet\0",
        LT_ERROR_NOT_SUPPORTED => b"LT_ERROR_NOT_SUPPORTED: not supported\0",
        LT_ERROR_INVALID_RESUME_DATA => b"LT_ERROR_INVALID_RESUME_DATA: invalid resume data\0",
        LT_ERROR_CANCELLED => b"LT_ERROR_CANCELLED: cancelled by the caller\0",
        LT_ERROR_NOT_FOUND => b"LT_ERROR_NOT_FOUND: not found\0",
        _ => b"unknown error code\0",
    };
    s.as_ptr() as *const c_char
}

/// Copies the calling thread's last error message (set by the last call
/// that failed on this thread) into `buf`.
///
/// **Parameters:** `buf` may be NULL when `cap` is 0 (to learn the length).
/// **Returns** the message's full length in bytes without the NUL; the copy
/// is NUL-terminated and truncated to `cap - 1` bytes when needed.
/// **Thread safety:** per thread; any thread.
///
/// # Safety
/// `buf` must be NULL or valid for writing `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_last_error(buf: *mut c_char, cap: usize) -> usize {
    super::boundary::ffi_call(|| {
        LAST_ERROR.with(|e| {
            // SAFETY: forwarded caller promise about buf/cap.
            unsafe { super::boundary::copy_to_buf(&e.borrow(), buf, cap) }
        })
    })
}

/// Releases a buffer or string that the library handed out (exported
/// stats, torrent bytes, strings). NULL is a no-op.
///
/// # Safety
/// `buffer` must be NULL or a pointer the library returned for release with
/// `lt_free`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn lt_free(buffer: *mut std::ffi::c_void) {
    // SAFETY: the library allocated it with malloc (see boundary::malloc_copy).
    unsafe { libc::free(buffer) }
}

/// Makes a C string of `s`, replacing interior NULs.
pub fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}
