//! Controlling torrents and the session: queue, limits, priorities,
//! storage moves and renames, reading pieces, resume data, session pause.
//! Each call checks its arguments and hands the work to the engine;
//! answers that need file work arrive as alerts.

use std::ffi::c_char;

use super::boundary::{code, copy_to_array, ffi_call, fill_struct_array, growable_struct, str_arg};
use super::error::{fail, fail_with, lt_error, LT_ERROR_INVALID_ARG};
use super::session::{lt_session_t, session_ref};
use super::torrent::{lt_torrent_id_t, with_torrent};
use crate::engine::{QueueMove, TorrentId};

/// `lt_torrent_queue_move`: one place towards the front of the queue.
pub const LT_QUEUE_UP: u32 = 0;
/// `lt_torrent_queue_move`: one place towards the back.
pub const LT_QUEUE_DOWN: u32 = 1;
/// `lt_torrent_queue_move`: to the front.
pub const LT_QUEUE_TOP: u32 = 2;
/// `lt_torrent_queue_move`: to the back.
pub const LT_QUEUE_BOTTOM: u32 = 3;

/// Pauses the whole session: every torrent stops (peers close, trackers
/// are told `stopped`) without changing its own paused flag.
///
/// **Returns** `LT_OK` or `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_session_pause(s: *mut lt_session_t) -> lt_error {
    ffi_call(|| {
        code((|| {
            session_ref(s)?.pause();
            Ok(())
        })())
    })
}

/// Resumes the session: the torrents a session pause stopped run again.
///
/// **Returns** `LT_OK` or `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_session_resume(s: *mut lt_session_t) -> lt_error {
    ffi_call(|| {
        code((|| {
            session_ref(s)?.resume();
            Ok(())
        })())
    })
}

/// Saves the session state (every setting that differs from its default,
/// and when the DHT runs its node id and routing table under "dht") as
/// bencoded bytes; `lt_settings_load_state` reads them back into a
/// settings pack for `lt_session_new`, whose DHT then starts from them.
///
/// **Returns** `LT_OK` with the bytes in `*data_out` and their length in
/// `*len_out`; `LT_ERROR_NULL_ARG`.
/// On failure `*data_out` is NULL and `*len_out` 0.
/// **Ownership:** the caller frees `*data_out` with `lt_free`.
///
/// # Safety
/// `s` must be live; the outputs writable.
#[no_mangle]
pub unsafe extern "C" fn lt_session_save_state(
    s: *mut lt_session_t,
    data_out: *mut *mut u8,
    len_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            // SAFETY: the caller promises writable outputs.
            unsafe { super::boundary::clear_bytes_out(data_out, len_out) }?;
            let state = ses.save_state();
            let p = super::boundary::malloc_copy(&state);
            if p.is_null() {
                return Err(fail_with(super::error::LT_ERROR_IO, "out of memory"));
            }
            // SAFETY: both checked non-NULL.
            unsafe {
                *data_out = p;
                *len_out = state.len();
            }
            Ok(())
        })())
    })
}

/// Moves a torrent in the download queue (`LT_QUEUE_UP`, `_DOWN`, `_TOP`,
/// `_BOTTOM`). Finished torrents are not in the queue: nothing happens.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG` for another `how`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_queue_move(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    how: u32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            let how = match how {
                LT_QUEUE_UP => QueueMove::Up,
                LT_QUEUE_DOWN => QueueMove::Down,
                LT_QUEUE_TOP => QueueMove::Top,
                LT_QUEUE_BOTTOM => QueueMove::Bottom,
                _ => return Err(fail_with(LT_ERROR_INVALID_ARG, format!("unknown queue move {how}"))),
            };
            ses.queue_move(TorrentId(id), how).map_err(fail)
        })())
    })
}

/// Lets the queue start and stop the torrent (`true`), or takes it back
/// (`false`: a torrent the queue had stopped starts).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_set_auto_managed(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    on: bool,
) -> lt_error {
    with_torrent(s, id, |t| {
        t.set_auto_managed(on);
        Ok(())
    })
}

/// Checks every piece on disk again (the state is checking meanwhile);
/// `torrent_checked` follows and the torrent runs on.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_force_recheck(s: *mut lt_session_t, id: lt_torrent_id_t) -> lt_error {
    with_torrent(s, id, |t| {
        t.force_recheck();
        Ok(())
    })
}

/// Asks a tracker for the swarm's size; a `scrape_reply` (figures in
/// `lt_torrent_status_t.list_seeds` / `list_peers`) or `scrape_failed`
/// alert follows.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_scrape_tracker(s: *mut lt_session_t, id: lt_torrent_id_t) -> lt_error {
    with_torrent(s, id, |t| {
        t.scrape_tracker();
        Ok(())
    })
}

/// Saves the torrent's resume data; a `save_resume_data` alert carries it
/// (`lt_alert_buffer`: bencoded, libtorrent's field names, with the info
/// dictionary), or `save_resume_data_failed` says why. Both are posted
/// whatever the alert mask.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_save_resume_data(s: *mut lt_session_t, id: lt_torrent_id_t) -> lt_error {
    with_torrent(s, id, |t| {
        t.save_resume_data();
        Ok(())
    })
}

/// Sets one file's priority: 0 skips it, 1 to 7 download it (higher
/// first). Pieces shared with a wanted file are still downloaded.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG` for a file index out of range or a priority above 7.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_set_file_priority(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    file: u32,
    priority: u8,
) -> lt_error {
    with_torrent(s, id, |t| t.set_file_priority(file as usize, priority))
}

/// Sets one piece's priority: 0 skips it, 1 to 7 download it.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG` for a piece out of range or a priority above 7.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_set_piece_priority(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    piece: u32,
    priority: u8,
) -> lt_error {
    with_torrent(s, id, |t| t.set_piece_priority(piece, priority))
}

/// Downloads pieces in order (`true`) or rarest first (`false`).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_set_sequential(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    on: bool,
) -> lt_error {
    with_torrent(s, id, |t| {
        t.set_sequential(on);
        Ok(())
    })
}

/// Limits this torrent's download to `bytes_per_s` (0: no limit of its
/// own; the session's `download_rate_limit` still applies). Protocol
/// bytes count too.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG` for a negative rate.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_set_download_limit(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    bytes_per_s: i64,
) -> lt_error {
    with_torrent(s, id, |t| t.set_download_limit(bytes_per_s))
}

/// Limits this torrent's upload to `bytes_per_s` (0: no limit of its own).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG` for a negative rate.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_set_upload_limit(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    bytes_per_s: i64,
) -> lt_error {
    with_torrent(s, id, |t| t.set_upload_limit(bytes_per_s))
}

/// Caps this torrent's peer connections (0: the `max_peers_per_torrent`
/// setting). Connections above a lowered cap close as they end.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_set_max_connections(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    max: u32,
) -> lt_error {
    with_torrent(s, id, |t| {
        t.set_max_connections(max);
        Ok(())
    })
}

/// Moves the torrent's files to `dir` while it keeps running; a
/// `storage_moved` or `storage_moved_failed` alert follows. On failure the
/// files stay where they were.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG` for an empty path.
///
/// # Safety
/// `s` must be live; `dir` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_move_storage(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    dir: *const c_char,
) -> lt_error {
    // SAFETY: the caller promises a valid string.
    let dir = match unsafe { str_arg(dir, "dir") } {
        Ok(d) => std::path::PathBuf::from(d),
        Err(e) => return e,
    };
    with_torrent(s, id, |t| t.move_storage(dir))
}

/// Renames file `file` to `name`, a relative path under the save path
/// ('/'-separated; no "..", no empty or reserved parts); a `file_renamed`
/// or `file_rename_failed` alert follows.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG` for a bad index or an unsafe name.
///
/// # Safety
/// `s` must be live; `name` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_rename_file(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    file: u32,
    name: *const c_char,
) -> lt_error {
    // SAFETY: the caller promises a valid string.
    let name = match unsafe { str_arg(name, "name") } {
        Ok(n) => n.to_string(),
        Err(e) => return e,
    };
    with_torrent(s, id, |t| t.rename_file(file, &name))
}

/// Reads a downloaded piece back; a `read_piece` alert carries its bytes
/// (`lt_alert_buffer`) or, for a piece not downloaded yet, the error
/// (`lt_alert_error`). Posted whatever the alert mask.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG` for a piece out of range.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_read_piece(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    piece: u32,
) -> lt_error {
    with_torrent(s, id, |t| t.read_piece(piece))
}

/// One file of a torrent, filled by `lt_torrent_files`; fields are only
/// ever appended in later versions.
#[repr(C)]
pub struct lt_file_info_t {
    /// Bytes of this struct the library filled (set by the library).
    pub struct_size: u32,
    /// The path relative to the save path, after renames (UTF-8, NUL-terminated, truncated to fit).
    pub path: [c_char; 1024],
    /// The file's size in bytes.
    pub size: i64,
    /// Where the file starts in the torrent's byte stream.
    pub offset: i64,
    /// 0 (skipped) to 7.
    pub priority: u8,
    /// 1 for a BEP 47 padding file (never on disk).
    pub pad: u8,
}

growable_struct!(lt_file_info_t);

/// Lists a torrent's files: writes at most `cap` entries to `files`, an
/// array of elements `elem_size` bytes apart (pass `sizeof(lt_file_info_t)`;
/// each gets `min(elem_size, sizeof)` bytes and its `struct_size`), and the
/// number of files to `*count_out`. `files` may be NULL when `cap` is 0.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_BUFFER_TOO_SMALL` when `cap` > 0 and `elem_size` is under 8.
///
/// # Safety
/// `files` must be writable for `cap * elem_size` bytes; `count_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_files(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    files: *mut lt_file_info_t,
    elem_size: usize,
    cap: usize,
    count_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            let t = ses.torrent(TorrentId(id)).map_err(fail)?;
            let paths = t.file_paths();
            let prios = t.file_priorities();
            // A magnet's torrent has no files before its metadata.
            let entries = t.meta().map(|m| &m.files[..]).unwrap_or_default();
            let items: Vec<usize> = (0..entries.len()).collect();
            let convert = |i: &usize| {
                // SAFETY: plain old data; all-zero is valid.
                let mut out: lt_file_info_t = unsafe { std::mem::zeroed() };
                let f = &entries[*i];
                copy_to_array(&paths[*i].to_string_lossy(), &mut out.path);
                out.size = f.length as i64;
                out.offset = f.offset as i64;
                out.priority = prios.get(*i).copied().unwrap_or(0);
                out.pad = f.pad as u8;
                out
            };
            // SAFETY: forwarded caller promises about files/cap/count_out.
            unsafe { fill_struct_array(&items, files, elem_size, cap, count_out, "files", convert) }
        })())
    })
}
