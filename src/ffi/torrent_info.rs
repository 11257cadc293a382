//! `lt_torrent_info_t`: a .torrent read and checked without adding it to a
//! session (libtorrent's `torrent_info`).

use std::ffi::{c_char, CString};
use std::path::Path;
use std::sync::Arc;

use super::boundary::{
    check_struct_size, code, ffi_call, free_box, growable_struct, non_null, str_arg, write_struct,
};
use super::error::{
    cstring, fail, fail_with, lt_error, LT_ERROR_INVALID_ARG, LT_ERROR_INVALID_TORRENT, LT_ERROR_NOT_FOUND,
};
use crate::engine::{bounded_read, Error};
use crate::proto::metainfo::Metainfo;

/// The file is a BEP 47 pad file (zeros that align the next file).
pub const LT_FILE_PAD: u32 = 1;
/// The file is executable (`attr` "x").
pub const LT_FILE_EXECUTABLE: u32 = 2;
/// The file is hidden (`attr` "h").
pub const LT_FILE_HIDDEN: u32 = 4;
/// The file is a symbolic link (`attr` "l"); `symlink_target` says where to.
pub const LT_FILE_SYMLINK: u32 = 8;

/// A parsed .torrent. Opaque.
///
/// Methods: `lt_torrent_info_from_file`, `lt_torrent_info_from_buffer`, the
/// `lt_torrent_info_*` accessors, `lt_params_set_torrent_info`,
/// `lt_torrent_info_free`. It never changes once made.
/// **Thread safety:** immutable: any thread may read it, several at once;
/// freeing it must not race with a read.
pub struct lt_torrent_info_t {
    pub(crate) meta: Arc<Metainfo>,
    name: CString,
    files: Vec<FileStrings>,
    trackers: Vec<(CString, u32)>,
    web_seeds: Vec<CString>,
    comment: Option<CString>,
    creator: Option<CString>,
}

/// The C strings of one file, made once so pointers stay valid.
struct FileStrings {
    path: CString,
    symlink: Option<CString>,
}

fn path_string(p: &Path) -> CString {
    cstring(&p.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
}

impl lt_torrent_info_t {
    fn new(meta: Metainfo) -> lt_torrent_info_t {
        let files = meta
            .files
            .iter()
            .map(|f| FileStrings {
                path: path_string(&f.path),
                symlink: f.symlink.as_deref().map(path_string),
            })
            .collect();
        let trackers = meta
            .trackers
            .iter()
            .enumerate()
            .flat_map(|(tier, urls)| urls.iter().map(move |u| (cstring(u), tier as u32)))
            .collect();
        lt_torrent_info_t {
            name: cstring(&meta.name),
            files,
            trackers,
            web_seeds: meta.web_seeds.iter().map(|u| cstring(u)).collect(),
            comment: meta.comment.as_deref().map(cstring),
            creator: meta.created_by.as_deref().map(cstring),
            meta: Arc::new(meta),
        }
    }
}

/// One file of a torrent, filled by `lt_torrent_info_file`.
#[repr(C)]
pub struct lt_torrent_file_t {
    /// Bytes of this struct the library filled (set by the library).
    pub struct_size: u32,
    /// `/`-separated, starting with the torrent's name for a multi-file
    /// torrent. Owned by the info.
    pub path: *const c_char,
    /// Where a symbolic link points (owned by the info); NULL otherwise.
    pub symlink_target: *const c_char,
    pub size: u64,
    /// Byte offset of the file in the torrent (pad files included).
    pub offset: u64,
    /// `LT_FILE_*` bits.
    pub flags: u32,
    /// Whether `pieces_root` is set: v2 files that are not empty.
    pub has_pieces_root: bool,
    /// The file's BEP 52 merkle root.
    pub pieces_root: [u8; 32],
}

growable_struct!(lt_torrent_file_t);

fn info_ref<'a>(info: *const lt_torrent_info_t) -> Result<&'a lt_torrent_info_t, lt_error> {
    non_null(info, "info")?;
    // SAFETY: non-NULL; the caller promises a live object.
    Ok(unsafe { &*info })
}

/// Runs an accessor that answers a plain value: 0 (or NULL) for a NULL info.
fn read<R: Default + super::boundary::PanicDefault>(
    info: *const lt_torrent_info_t,
    f: impl FnOnce(&lt_torrent_info_t) -> R,
) -> R {
    ffi_call(|| info_ref(info).map(f).unwrap_or_default())
}

unsafe fn publish(info: lt_torrent_info_t, info_out: *mut *mut lt_torrent_info_t) {
    // SAFETY: the caller checked info_out non-NULL and writable.
    unsafe { *info_out = Box::into_raw(Box::new(info)) };
}

fn parse(data: &[u8], what: &str) -> Result<lt_torrent_info_t, lt_error> {
    let meta = Metainfo::from_bytes(data)
        .map_err(|e| fail_with(LT_ERROR_INVALID_TORRENT, format!("{what}: {e}")))?;
    Ok(lt_torrent_info_t::new(meta))
}

/// Reads and checks a .torrent file (at most 10 MB, libtorrent's limit;
/// only regular files).
///
/// **Ownership:** on success `*info_out` is the caller's, freed with
/// `lt_torrent_info_free`; on error it is NULL.
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_IO` when the file
/// cannot be read; `LT_ERROR_INVALID_ARG` when it is not a regular file or
/// is too large; `LT_ERROR_INVALID_TORRENT` when it is malformed
/// (`lt_last_error` says what).
/// **Thread safety:** any thread.
///
/// # Safety
/// `path` must be a NUL-terminated string; `info_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_from_file(
    path: *const c_char,
    info_out: *mut *mut lt_torrent_info_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            non_null(info_out, "info_out")?;
            // SAFETY: checked non-NULL; the caller promises it is writable.
            unsafe { *info_out = std::ptr::null_mut() };
            // SAFETY: the caller promises a valid string.
            let path = unsafe { str_arg(path, "path") }?;
            let data = bounded_read::read_file(Path::new(path), bounded_read::MAX_TORRENT_FILE)
                .map_err(|e| fail(Error::new(e.kind(), format!("torrent file {}", e.message()))))?;
            let info = parse(&data, &format!("torrent file '{path}'"))?;
            // SAFETY: checked above.
            unsafe { publish(info, info_out) };
            Ok(())
        })())
    })
}

/// Checks .torrent bytes from memory (copied; `data` may be freed after).
///
/// **Ownership:** as `lt_torrent_info_from_file`.
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` when
/// `len` is over 10 MB; `LT_ERROR_INVALID_TORRENT`.
/// **Thread safety:** any thread.
///
/// # Safety
/// `data` must be readable for `len` bytes; `info_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_from_buffer(
    data: *const u8,
    len: usize,
    info_out: *mut *mut lt_torrent_info_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            non_null(info_out, "info_out")?;
            // SAFETY: checked non-NULL; the caller promises it is writable.
            unsafe { *info_out = std::ptr::null_mut() };
            non_null(data, "data")?;
            if len as u64 > bounded_read::MAX_TORRENT_FILE {
                return Err(fail_with(
                    LT_ERROR_INVALID_ARG,
                    format!("torrent data of {len} bytes is over the limit"),
                ));
            }
            // SAFETY: the caller promises len readable bytes.
            let bytes = unsafe { std::slice::from_raw_parts(data, len) };
            let info = parse(bytes, "torrent data")?;
            // SAFETY: checked above.
            unsafe { publish(info, info_out) };
            Ok(())
        })())
    })
}

/// Frees a torrent info and every string it handed out. NULL is a no-op.
///
/// # Safety
/// `info` must be NULL or from `lt_torrent_info_from_*`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_free(info: *mut lt_torrent_info_t) {
    // SAFETY: forwarded caller promise: NULL or from Box::into_raw, not yet freed.
    ffi_call(|| unsafe { free_box(info) })
}

/// The torrent's name (owned by the info; NULL for a NULL info).
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_name(info: *const lt_torrent_info_t) -> *const c_char {
    ffi_call(|| info_ref(info).map_or(std::ptr::null(), |i| i.name.as_ptr()))
}

/// Bytes of all files, pad files included (0 for a NULL info).
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_total_size(info: *const lt_torrent_info_t) -> u64 {
    read(info, |i| i.meta.lengths.total_length())
}

/// Bytes per piece (0 for a NULL info).
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_piece_length(info: *const lt_torrent_info_t) -> u32 {
    read(info, |i| i.meta.lengths.piece_length())
}

/// Number of pieces (0 for a NULL info).
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_num_pieces(info: *const lt_torrent_info_t) -> u32 {
    read(info, |i| i.meta.lengths.num_pieces())
}

/// Number of files, pad files included (0 for a NULL info).
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_num_files(info: *const lt_torrent_info_t) -> usize {
    read(info, |i| i.meta.files.len())
}

/// Fills `*out` (`size` = `sizeof(lt_torrent_file_t)`) with file `index`.
/// The struct's strings are owned by the info. A caller built against an
/// older, smaller struct gets only the fields it knows; `struct_size` says
/// how many bytes were written.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_BUFFER_TOO_SMALL`
/// when `size` is below 8; `LT_ERROR_INVALID_ARG` for an index past the
/// last file.
///
/// # Safety
/// `info` must be live; `out` writable for `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_file(
    info: *const lt_torrent_info_t,
    index: usize,
    out: *mut lt_torrent_file_t,
    size: usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let info = info_ref(info)?;
            non_null(out, "out")?;
            check_struct_size(size, "lt_torrent_file_t")?;
            let (f, s) = info.meta.files.get(index).zip(info.files.get(index)).ok_or_else(|| {
                fail_with(
                    LT_ERROR_INVALID_ARG,
                    format!("file index {index} out of range (0..{})", info.files.len()),
                )
            })?;
            let flags = (if f.pad { LT_FILE_PAD } else { 0 })
                | (if f.executable { LT_FILE_EXECUTABLE } else { 0 })
                | (if f.hidden { LT_FILE_HIDDEN } else { 0 })
                | (if f.symlink.is_some() { LT_FILE_SYMLINK } else { 0 });
            let value = lt_torrent_file_t {
                struct_size: 0,
                path: s.path.as_ptr(),
                symlink_target: s.symlink.as_ref().map_or(std::ptr::null(), |t| t.as_ptr()),
                size: f.length,
                offset: f.offset,
                flags,
                has_pieces_root: f.pieces_root.is_some(),
                pieces_root: f.pieces_root.unwrap_or_default(),
            };
            // SAFETY: the caller promises `size` writable bytes at out.
            unsafe { write_struct(value, out as *mut u8, size) };
            Ok(())
        })())
    })
}

/// Number of trackers over all tiers (0 for a NULL info).
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_num_trackers(info: *const lt_torrent_info_t) -> usize {
    read(info, |i| i.trackers.len())
}

/// Tracker `index` (in tier order): its URL (owned by the info) and tier
/// (0 is tried first).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for an
/// index past the last tracker.
///
/// # Safety
/// `info` must be live; `url_out` and `tier_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_tracker(
    info: *const lt_torrent_info_t,
    index: usize,
    url_out: *mut *const c_char,
    tier_out: *mut u32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let info = info_ref(info)?;
            non_null(url_out, "url_out")?;
            non_null(tier_out, "tier_out")?;
            let (url, tier) = info.trackers.get(index).ok_or_else(|| {
                fail_with(
                    LT_ERROR_INVALID_ARG,
                    format!("tracker index {index} out of range (0..{})", info.trackers.len()),
                )
            })?;
            // SAFETY: both checked non-NULL; the caller promises writable.
            unsafe {
                *url_out = url.as_ptr();
                *tier_out = *tier;
            }
            Ok(())
        })())
    })
}

/// Number of web seeds (`url-list`; 0 for a NULL info).
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_num_web_seeds(info: *const lt_torrent_info_t) -> usize {
    read(info, |i| i.web_seeds.len())
}

/// Web seed `index` (owned by the info); NULL past the end.
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_web_seed(
    info: *const lt_torrent_info_t,
    index: usize,
) -> *const c_char {
    ffi_call(|| {
        info_ref(info).ok().and_then(|i| i.web_seeds.get(index)).map_or(std::ptr::null(), |u| u.as_ptr())
    })
}

/// The comment (owned by the info); NULL when absent.
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_comment(info: *const lt_torrent_info_t) -> *const c_char {
    ffi_call(|| info_ref(info).ok().and_then(|i| i.comment.as_ref()).map_or(std::ptr::null(), |c| c.as_ptr()))
}

/// The `created by` string (owned by the info); NULL when absent.
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_creator(info: *const lt_torrent_info_t) -> *const c_char {
    ffi_call(|| info_ref(info).ok().and_then(|i| i.creator.as_ref()).map_or(std::ptr::null(), |c| c.as_ptr()))
}

/// The creation date in unix seconds; 0 when absent.
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_creation_date(info: *const lt_torrent_info_t) -> i64 {
    read(info, |i| i.meta.creation_date.unwrap_or(0))
}

/// Whether the torrent is private (BEP 27): no DHT, PEX or LSD.
///
/// # Safety
/// `info` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_private(info: *const lt_torrent_info_t) -> bool {
    read(info, |i| i.meta.private)
}

/// The v1 info-hash (SHA-1 of the info dictionary) into `out[20]`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_NOT_FOUND` for a
/// v2-only torrent.
///
/// # Safety
/// `info` must be live; `out` writable for 20 bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_hash_v1(info: *const lt_torrent_info_t, out: *mut u8) -> lt_error {
    ffi_call(|| {
        code((|| {
            let info = info_ref(info)?;
            non_null(out, "out")?;
            if !info.meta.has_v1 {
                return Err(fail_with(LT_ERROR_NOT_FOUND, "a v2-only torrent has no v1 info-hash"));
            }
            // SAFETY: the caller promises 20 writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(info.meta.info_hash.0.as_ptr(), out, 20) };
            Ok(())
        })())
    })
}

/// The v2 info-hash (SHA-256 of the info dictionary) into `out[32]`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_NOT_FOUND` for a
/// v1-only torrent.
///
/// # Safety
/// `info` must be live; `out` writable for 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_hash_v2(info: *const lt_torrent_info_t, out: *mut u8) -> lt_error {
    ffi_call(|| {
        code((|| {
            let info = info_ref(info)?;
            non_null(out, "out")?;
            let hash = info
                .meta
                .info_hash_v2
                .ok_or_else(|| fail_with(LT_ERROR_NOT_FOUND, "a v1-only torrent has no v2 info-hash"))?;
            // SAFETY: the caller promises 32 writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(hash.as_ptr(), out, 32) };
            Ok(())
        })())
    })
}

/// The bencoded info dictionary, exactly as in the .torrent (the bytes the
/// info-hashes are taken of). The bytes are owned by the info.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `info` must be live; `data_out` and `len_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_info_section(
    info: *const lt_torrent_info_t,
    data_out: *mut *const u8,
    len_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let info = info_ref(info)?;
            non_null(data_out, "data_out")?;
            non_null(len_out, "len_out")?;
            // SAFETY: both checked non-NULL; the caller promises writable.
            unsafe {
                *data_out = info.meta.info_bytes.as_ptr();
                *len_out = info.meta.info_bytes.len();
            }
            Ok(())
        })())
    })
}
