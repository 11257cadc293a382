//! `lt_create_torrent_t`: making a .torrent from a file or directory.

use std::ffi::{c_char, c_void, CString};
use std::path::PathBuf;

use super::boundary::{clear_bytes_out, code, ffi_call, free_box, malloc_copy, non_null, str_arg};
use super::error::{fail, fail_with, lt_error, LT_ERROR_INVALID_ARG};
use crate::engine::create::{check_piece_length, create_torrent_filtered, CreateOptions, Format};

/// BitTorrent v1 (SHA-1 pieces). The default.
pub const LT_CREATE_V1: u32 = 1;
/// BitTorrent v2 only (BEP 52 SHA-256 merkle trees).
pub const LT_CREATE_V2: u32 = 2;
/// v1 and v2 in one torrent, files aligned to pieces by BEP 47 pad files.
pub const LT_CREATE_HYBRID: u32 = 3;

/// Decides whether a file or directory goes into the torrent: `path` is
/// relative to the directory given to `lt_create_torrent_new`,
/// `/`-separated, valid only during the call. Return false to leave it (or
/// the whole directory) out.
pub type lt_create_filter_fn = Option<unsafe extern "C" fn(user: *mut c_void, path: *const c_char) -> bool>;

/// Reports hashing progress: pieces hashed so far and in all. Return false
/// to cancel (`lt_create_torrent_generate` then answers
/// `LT_ERROR_CANCELLED`).
pub type lt_create_progress_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, done: u32, total: u32) -> bool>;

/// A torrent being described, before `lt_create_torrent_generate` hashes
/// the files and writes it. Opaque.
///
/// Methods: `lt_create_torrent_new`, the `lt_create_torrent_set_*` and
/// `_add_*` setters, `lt_create_torrent_generate`, `lt_create_torrent_free`.
/// **Thread safety:** may move between threads, not be shared.
pub struct lt_create_torrent_t {
    path: PathBuf,
    opts: CreateOptions,
    filter: lt_create_filter_fn,
    filter_user: *mut c_void,
}

fn ct_mut<'a>(ct: *mut lt_create_torrent_t) -> Result<&'a mut lt_create_torrent_t, lt_error> {
    non_null(ct, "ct")?;
    // SAFETY: non-NULL; the caller promises a live object.
    Ok(unsafe { &mut *ct })
}

/// Runs a setter body on a live object.
fn set(
    ct: *mut lt_create_torrent_t,
    f: impl FnOnce(&mut lt_create_torrent_t) -> Result<(), lt_error>,
) -> lt_error {
    ffi_call(|| code(ct_mut(ct).and_then(f)))
}

/// Starts describing a torrent of `path`: a file, or a directory with
/// every file below it. Nothing is read until `lt_create_torrent_generate`.
///
/// **Ownership:** on success `*ct_out` is the caller's, freed with
/// `lt_create_torrent_free`; on error it is NULL.
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for
/// an empty path or one that is not UTF-8.
///
/// # Safety
/// `path` must be a NUL-terminated string; `ct_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_new(
    path: *const c_char,
    ct_out: *mut *mut lt_create_torrent_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            non_null(ct_out, "ct_out")?;
            // SAFETY: checked non-NULL; the caller promises it is writable.
            unsafe { *ct_out = std::ptr::null_mut() };
            // SAFETY: the caller promises a valid string.
            let path = unsafe { str_arg(path, "path") }?;
            if path.is_empty() {
                return Err(fail_with(LT_ERROR_INVALID_ARG, "path is empty"));
            }
            let ct = lt_create_torrent_t {
                path: PathBuf::from(path),
                opts: CreateOptions::default(),
                filter: None,
                filter_user: std::ptr::null_mut(),
            };
            // SAFETY: checked above.
            unsafe { *ct_out = Box::into_raw(Box::new(ct)) };
            Ok(())
        })())
    })
}

/// Frees the description. NULL is a no-op.
///
/// # Safety
/// `ct` must be NULL or from `lt_create_torrent_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_free(ct: *mut lt_create_torrent_t) {
    // SAFETY: forwarded caller promise: NULL or from Box::into_raw, not yet freed.
    ffi_call(|| unsafe { free_box(ct) })
}

/// Sets the piece size: a power of two from 16 KiB to 128 MiB, or 0 to
/// choose it from the total size as libtorrent does (the default). Checked
/// here and again by `generate`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG`.
///
/// # Safety
/// `ct` must be live.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_set_piece_size(
    ct: *mut lt_create_torrent_t,
    bytes: u32,
) -> lt_error {
    set(ct, |ct| {
        if bytes != 0 {
            check_piece_length(bytes).map_err(fail)?;
        }
        ct.opts.piece_length = (bytes != 0).then_some(bytes);
        Ok(())
    })
}

/// Sets the format: `LT_CREATE_V1` (default), `LT_CREATE_V2` or
/// `LT_CREATE_HYBRID`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for
/// another value.
///
/// # Safety
/// `ct` must be live.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_set_format(ct: *mut lt_create_torrent_t, format: u32) -> lt_error {
    set(ct, |ct| {
        ct.opts.format = match format {
            LT_CREATE_V1 => Format::V1,
            LT_CREATE_V2 => Format::V2,
            LT_CREATE_HYBRID => Format::Hybrid,
            _ => return Err(fail_with(LT_ERROR_INVALID_ARG, format!("unknown torrent format {format}"))),
        };
        Ok(())
    })
}

/// Adds a tracker in tier `tier` (0 first). The first tracker of the first
/// tier is also written as `announce`. Tiers with no tracker are dropped.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for an
/// empty URL or a tier over 1000.
///
/// # Safety
/// `ct` must be live; `url` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_add_tracker(
    ct: *mut lt_create_torrent_t,
    url: *const c_char,
    tier: u32,
) -> lt_error {
    set(ct, |ct| {
        // SAFETY: the caller promises a valid string.
        let url = unsafe { str_arg(url, "url") }?;
        if url.is_empty() || tier > 1000 {
            return Err(fail_with(
                LT_ERROR_INVALID_ARG,
                "tracker URL must not be empty and tier at most 1000",
            ));
        }
        let tier = tier as usize;
        if ct.opts.trackers.len() <= tier {
            ct.opts.trackers.resize(tier + 1, Vec::new());
        }
        ct.opts.trackers[tier].push(url.to_string());
        Ok(())
    })
}

/// Adds a web seed (BEP 19 `url-list`).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for an
/// empty URL.
///
/// # Safety
/// `ct` must be live; `url` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_add_web_seed(
    ct: *mut lt_create_torrent_t,
    url: *const c_char,
) -> lt_error {
    set(ct, |ct| {
        // SAFETY: the caller promises a valid string.
        let url = unsafe { str_arg(url, "url") }?;
        if url.is_empty() {
            return Err(fail_with(LT_ERROR_INVALID_ARG, "web seed URL is empty"));
        }
        ct.opts.web_seeds.push(url.to_string());
        Ok(())
    })
}

/// Adds a DHT node (`nodes`) that clients may bootstrap from.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for an
/// empty host or port 0.
///
/// # Safety
/// `ct` must be live; `host` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_add_dht_node(
    ct: *mut lt_create_torrent_t,
    host: *const c_char,
    port: u16,
) -> lt_error {
    set(ct, |ct| {
        // SAFETY: the caller promises a valid string.
        let host = unsafe { str_arg(host, "host") }?;
        if host.is_empty() || port == 0 {
            return Err(fail_with(LT_ERROR_INVALID_ARG, "DHT node needs a host and a port other than 0"));
        }
        ct.opts.dht_nodes.push((host.to_string(), port));
        Ok(())
    })
}

/// Sets one of the optional strings from a C string.
fn set_string(
    ct: *mut lt_create_torrent_t,
    s: *const c_char,
    what: &str,
    field: fn(&mut CreateOptions) -> &mut Option<String>,
) -> lt_error {
    set(ct, |ct| {
        // SAFETY: the callers' callers promise a valid string.
        let s = unsafe { str_arg(s, what) }?;
        *field(&mut ct.opts) = Some(s.to_string());
        Ok(())
    })
}

/// Sets the comment.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` when not UTF-8.
///
/// # Safety
/// `ct` must be live; `comment` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_set_comment(
    ct: *mut lt_create_torrent_t,
    comment: *const c_char,
) -> lt_error {
    set_string(ct, comment, "comment", |o| &mut o.comment)
}

/// Sets `created by` (none by default).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` when not UTF-8.
///
/// # Safety
/// `ct` must be live; `creator` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_set_creator(
    ct: *mut lt_create_torrent_t,
    creator: *const c_char,
) -> lt_error {
    set_string(ct, creator, "creator", |o| &mut o.created_by)
}

/// Sets `info.source` (changes the info-hash; private trackers ask for it).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` when not UTF-8.
///
/// # Safety
/// `ct` must be live; `source` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_set_source(
    ct: *mut lt_create_torrent_t,
    source: *const c_char,
) -> lt_error {
    set_string(ct, source, "source", |o| &mut o.source)
}

/// Sets the creation date in unix seconds; 0 omits it (the default, so
/// the same files give the same .torrent bytes).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` when negative.
///
/// # Safety
/// `ct` must be live.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_set_creation_date(
    ct: *mut lt_create_torrent_t,
    unix_seconds: i64,
) -> lt_error {
    set(ct, |ct| {
        if unix_seconds < 0 {
            return Err(fail_with(LT_ERROR_INVALID_ARG, "creation date must not be negative"));
        }
        ct.opts.creation_date = (unix_seconds != 0).then_some(unix_seconds);
        Ok(())
    })
}

/// Marks the torrent private (BEP 27: no DHT, PEX or LSD).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `ct` must be live.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_set_private(
    ct: *mut lt_create_torrent_t,
    private: bool,
) -> lt_error {
    set(ct, |ct| {
        ct.opts.private = private;
        Ok(())
    })
}

/// Sets a filter called during `generate` for every file and directory
/// under a directory path (not for a single-file path), on the thread that
/// calls `generate`. NULL `filter` removes it.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `ct` must be live; `filter` callable with `user` until `generate` returns.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_set_file_filter(
    ct: *mut lt_create_torrent_t,
    filter: lt_create_filter_fn,
    user: *mut c_void,
) -> lt_error {
    set(ct, |ct| {
        ct.filter = filter;
        ct.filter_user = user;
        Ok(())
    })
}

/// Reads and hashes the files (on one thread per core; this call blocks
/// until done) and writes the .torrent. `progress`, when not NULL, is called
/// on the calling thread after every hashed piece.
///
/// **Ownership:** on success `*torrent_out` holds `*len_out` bytes the
/// caller frees with `lt_free`; on error they are NULL and 0.
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_NOT_FOUND` when the
/// path does not exist; `LT_ERROR_IO` when a file cannot be read or shrinks
/// while hashing; `LT_ERROR_INVALID_ARG` when there is nothing to share
/// (no files, or only empty ones), the path is a link or a device, or the
/// piece size does not fit; `LT_ERROR_CANCELLED` when `progress` returned
/// false. `lt_last_error` names the file.
///
/// # Safety
/// `ct` must be live; `torrent_out` and `len_out` writable; the callbacks
/// callable with their `user` pointers.
#[no_mangle]
pub unsafe extern "C" fn lt_create_torrent_generate(
    ct: *mut lt_create_torrent_t,
    progress: lt_create_progress_fn,
    user: *mut c_void,
    torrent_out: *mut *mut u8,
    len_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            // SAFETY: the caller promises writable out-params.
            unsafe { clear_bytes_out(torrent_out, len_out) }?;
            let ct = ct_mut(ct)?;
            let (filter_fn, filter_user) = (ct.filter, ct.filter_user);
            let filter = |rel: &str| match filter_fn {
                Some(f) => {
                    let c = CString::new(rel).unwrap_or_default();
                    // SAFETY: the caller promises the callback and its user pointer are valid.
                    unsafe { f(filter_user, c.as_ptr()) }
                }
                None => true,
            };
            let mut on_progress = |done: u32, total: u32| match progress {
                // SAFETY: the caller promises the callback and its user pointer are valid.
                Some(f) => unsafe { f(user, done, total) },
                None => true,
            };
            let bytes =
                create_torrent_filtered(&ct.path, &ct.opts, &filter, &mut on_progress).map_err(fail)?;
            let p = malloc_copy(&bytes);
            if p.is_null() {
                return Err(fail_with(
                    super::error::LT_ERROR_LIMIT_REACHED,
                    "out of memory for the torrent bytes",
                ));
            }
            // SAFETY: checked writable by clear_bytes_out.
            unsafe {
                *torrent_out = p;
                *len_out = bytes.len();
            }
            Ok(())
        })())
    })
}
