//! `lt_params_t`: what `lt_add_torrent` needs: the torrent, where to save
//! it, flags, extra peers and trackers.

use std::ffi::c_char;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use super::boundary::{code, ffi_call, free_box, non_null, str_arg};
use super::error::{
    fail, fail_with, lt_error, LT_ERROR_INVALID_ARG, LT_ERROR_INVALID_MAGNET, LT_ERROR_INVALID_RESUME_DATA,
    LT_ERROR_INVALID_TORRENT,
};
use crate::engine::{bounded_read, AddTorrentParams, Error, TorrentSource};
use crate::proto::magnet::Magnet;
use crate::proto::metainfo::Metainfo;
use crate::proto::resume::ResumeData;

/// Add the torrent paused.
pub const LT_ADD_PAUSED: u64 = 1 << 0;
/// Trust that all data is on disk: skip the check and seed at once.
pub const LT_ADD_SEED_MODE: u64 = 1 << 1;
/// Download pieces in order (for streaming).
pub const LT_ADD_SEQUENTIAL: u64 = 1 << 2;
/// Let the queue start and stop the torrent (`active_downloads`,
/// `active_seeds`, `active_limit`). Pausing it by hand ends that.
pub const LT_ADD_AUTO_MANAGED: u64 = 1 << 3;

const KNOWN_FLAGS: u64 = LT_ADD_PAUSED | LT_ADD_SEED_MODE | LT_ADD_SEQUENTIAL | LT_ADD_AUTO_MANAGED;

/// Most file priorities accepted.
const MAX_FILE_PRIORITIES: usize = 1_000_000;

/// Parameters for `lt_add_torrent`. Opaque.
///
/// Methods: `lt_params_new`, `lt_params_set_torrent_file`,
/// `lt_params_set_torrent_data`, `lt_params_set_torrent_info`, `lt_params_set_magnet`,
/// `lt_params_set_save_path`, `lt_params_set_flags`, `lt_params_add_peer`,
/// `lt_params_add_tracker`, `lt_params_set_resume_data`,
/// `lt_params_set_file_priorities`, `lt_params_free`.
/// **Thread safety:** may move between threads, not be shared.
pub struct lt_params_t {
    source: Option<TorrentSource>,
    save_path: Option<String>,
    flags: u64,
    peers: Vec<SocketAddr>,
    trackers: Vec<(String, u32)>,
    resume_data: Option<Vec<u8>>,
    file_priorities: Vec<u8>,
}

impl lt_params_t {
    /// The engine's params, or the reason they are incomplete.
    pub(crate) fn to_engine(&self) -> Result<AddTorrentParams, lt_error> {
        let source = self.source.clone().ok_or_else(|| {
            fail_with(
                LT_ERROR_INVALID_ARG,
                "no torrent set: call lt_params_set_torrent_file, _data or _magnet",
            )
        })?;
        let save_path = self.save_path.clone().ok_or_else(|| {
            fail_with(LT_ERROR_INVALID_ARG, "no save path set: call lt_params_set_save_path")
        })?;
        let mut p = AddTorrentParams::new(source, save_path);
        p.paused = self.flags & LT_ADD_PAUSED != 0;
        p.seed_mode = self.flags & LT_ADD_SEED_MODE != 0;
        p.sequential = self.flags & LT_ADD_SEQUENTIAL != 0;
        p.auto_managed = self.flags & LT_ADD_AUTO_MANAGED != 0;
        p.peers = self.peers.clone();
        p.trackers = self.trackers.clone();
        p.resume_data = self.resume_data.clone();
        p.file_priorities = self.file_priorities.clone();
        Ok(p)
    }
}

fn params_mut<'a>(p: *mut lt_params_t) -> Result<&'a mut lt_params_t, lt_error> {
    non_null(p, "params")?;
    // SAFETY: non-NULL; the caller promises a live object.
    Ok(unsafe { &mut *p })
}

/// Empty parameters.
///
/// **Ownership:** the caller frees them with `lt_params_free`.
#[no_mangle]
pub extern "C" fn lt_params_new() -> *mut lt_params_t {
    ffi_call(|| {
        Box::into_raw(Box::new(lt_params_t {
            source: None,
            save_path: None,
            flags: 0,
            peers: Vec::new(),
            trackers: Vec::new(),
            resume_data: None,
            file_priorities: Vec::new(),
        }))
    })
}

/// Frees parameters. NULL is a no-op.
///
/// # Safety
/// `p` must be NULL or from `lt_params_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn lt_params_free(p: *mut lt_params_t) {
    // SAFETY: forwarded caller promise: NULL or from Box::into_raw, not yet freed.
    ffi_call(|| unsafe { free_box(p) })
}

fn parse_torrent(data: &[u8], what: &str) -> Result<TorrentSource, lt_error> {
    let meta = Metainfo::from_bytes(data)
        .map_err(|e| fail_with(LT_ERROR_INVALID_TORRENT, format!("{what}: {e}")))?;
    Ok(TorrentSource::Metainfo(Arc::new(meta)))
}

/// Reads and checks a .torrent file (at most 10 MB, libtorrent's limit).
/// Only regular files are read, through the limit: a device, FIFO or a file
/// that grows while it is read answers an error at once.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_IO` when the file
/// cannot be read; `LT_ERROR_INVALID_ARG` when it is not a regular file or
/// is larger than 10 MB; `LT_ERROR_INVALID_TORRENT` when it is malformed or its
/// paths cannot be made safe (`lt_last_error` says exactly what, e.g.
/// "torrent file 'x.torrent': info.piece length must be > 0"). The params
/// are unchanged on error.
///
/// # Safety
/// `p` must be live; `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_params_set_torrent_file(p: *mut lt_params_t, path: *const c_char) -> lt_error {
    ffi_call(|| {
        code((|| {
            let params = params_mut(p)?;
            // SAFETY: caller promises a valid string.
            let path = unsafe { str_arg(path, "path") }?;
            let what = format!("torrent file '{path}'");
            let data = bounded_read::read_file(Path::new(path), bounded_read::MAX_TORRENT_FILE)
                .map_err(|e| fail(Error::new(e.kind(), format!("torrent file {}", e.message()))))?;
            params.source = Some(parse_torrent(&data, &what)?);
            Ok(())
        })())
    })
}

/// Checks .torrent bytes from memory (copied).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_TORRENT`.
///
/// # Safety
/// `data` must be valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_params_set_torrent_data(
    p: *mut lt_params_t,
    data: *const u8,
    len: usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let params = params_mut(p)?;
            non_null(data, "data")?;
            // SAFETY: the caller promises len readable bytes.
            let bytes = unsafe { std::slice::from_raw_parts(data, len) };
            params.source = Some(parse_torrent(bytes, "torrent data")?);
            Ok(())
        })())
    })
}

/// Sets the torrent from a parsed `lt_torrent_info_t`. The params keep
/// their own reference to the (immutable) torrent: `info` may be freed
/// right after.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`.
/// **Thread safety:** `info` may be read by other threads meanwhile.
///
/// # Safety
/// `p` and `info` must be live.
#[no_mangle]
pub unsafe extern "C" fn lt_params_set_torrent_info(
    p: *mut lt_params_t,
    info: *const super::torrent_info::lt_torrent_info_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let params = params_mut(p)?;
            non_null(info, "info")?;
            // SAFETY: non-NULL; the caller promises a live object.
            let info = unsafe { &*info };
            params.source = Some(TorrentSource::Metainfo(Arc::clone(&info.meta)));
            Ok(())
        })())
    })
}

/// Sets resume data saved by `lt_torrent_save_resume_data` (copied and
/// checked now). When no torrent is set and the data carries the info
/// dictionary (lt saves it), the torrent comes from the data itself.
/// `lt_add_torrent` then refuses data for another torrent
/// (`LT_ERROR_INVALID_RESUME_DATA`), and trusts the pieces it lists only
/// when every file has the size and modification time recorded in it;
/// otherwise the files are checked in full (a `fastresume_rejected` alert
/// says why).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_RESUME_DATA`
/// when the data is malformed (the params are unchanged).
///
/// # Safety
/// `p` must be live; `data` readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_params_set_resume_data(
    p: *mut lt_params_t,
    data: *const u8,
    len: usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let params = params_mut(p)?;
            non_null(data, "data")?;
            // SAFETY: the caller promises len readable bytes.
            let bytes = unsafe { std::slice::from_raw_parts(data, len) };
            let rd = ResumeData::decode(bytes)
                .map_err(|e| fail_with(LT_ERROR_INVALID_RESUME_DATA, e.to_string()))?;
            if params.source.is_none() {
                if let Some(info) = &rd.info {
                    let meta = Metainfo::from_info_bytes(info).map_err(|e| {
                        fail_with(LT_ERROR_INVALID_RESUME_DATA, format!("resume data: info dictionary: {e}"))
                    })?;
                    params.source = Some(TorrentSource::Metainfo(Arc::new(meta)));
                }
            }
            params.resume_data = Some(bytes.to_vec());
            Ok(())
        })())
    })
}

/// Sets file priorities, one byte per file in the torrent's order: 0 skips
/// the file, 1 to 7 download it (higher first). Missing entries are 4.
/// A piece shared by a skipped and a wanted file is still downloaded, so a
/// skipped file may get those boundary bytes.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG` (NULL with `len` > 0);
/// `LT_ERROR_INVALID_ARG` for a priority above 7 or too many entries.
///
/// # Safety
/// `p` must be live; `prios` readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_params_set_file_priorities(
    p: *mut lt_params_t,
    prios: *const u8,
    len: usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let params = params_mut(p)?;
            if len > 0 {
                non_null(prios, "prios")?;
            }
            if len > MAX_FILE_PRIORITIES {
                return Err(fail_with(
                    LT_ERROR_INVALID_ARG,
                    format!("more than {MAX_FILE_PRIORITIES} file priorities"),
                ));
            }
            let list = if len == 0 {
                Vec::new()
            } else {
                // SAFETY: the caller promises len readable bytes.
                unsafe { std::slice::from_raw_parts(prios, len) }.to_vec()
            };
            if let Some(bad) = list.iter().position(|p| *p > 7) {
                return Err(fail_with(
                    LT_ERROR_INVALID_ARG,
                    format!("file {bad}: priority {} is above 7", list[bad]),
                ));
            }
            params.file_priorities = list;
            Ok(())
        })())
    })
}

/// Sets a magnet URI (parsed and checked now). `lt_add_torrent` then adds
/// a torrent in `LT_STATE_DOWNLOADING_METADATA` that fetches its info
/// dictionary from peers (BEP 9) found through the link's `x.pe` peers and
/// `tr` trackers (each its own tier), the DHT and peer exchange; `dn` names
/// it meanwhile. `LT_ALERT_METADATA_RECEIVED` follows, then the download.
/// Resume data saved after the metadata arrived carries it: with
/// `lt_params_set_resume_data` the torrent starts at once.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_MAGNET`.
///
/// # Safety
/// `p` must be live; `uri` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_params_set_magnet(p: *mut lt_params_t, uri: *const c_char) -> lt_error {
    ffi_call(|| {
        code((|| {
            let params = params_mut(p)?;
            // SAFETY: caller promises a valid string.
            let uri = unsafe { str_arg(uri, "uri") }?;
            let m =
                Magnet::parse(uri).map_err(|e| fail_with(LT_ERROR_INVALID_MAGNET, format!("magnet: {e}")))?;
            params.source = Some(TorrentSource::Magnet(m));
            Ok(())
        })())
    })
}

/// Sets the directory the torrent's files are saved in (copied). The
/// torrent's files never leave it.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for "".
///
/// # Safety
/// `p` must be live; `dir` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_params_set_save_path(p: *mut lt_params_t, dir: *const c_char) -> lt_error {
    ffi_call(|| {
        code((|| {
            let params = params_mut(p)?;
            // SAFETY: caller promises a valid string.
            let dir = unsafe { str_arg(dir, "dir") }?;
            if dir.is_empty() {
                return Err(fail_with(LT_ERROR_INVALID_ARG, "save path is empty"));
            }
            params.save_path = Some(dir.to_string());
            Ok(())
        })())
    })
}

/// Sets `LT_ADD_*` flags (replacing earlier ones).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for
/// unknown bits.
///
/// # Safety
/// `p` must be live.
#[no_mangle]
pub unsafe extern "C" fn lt_params_set_flags(p: *mut lt_params_t, flags: u64) -> lt_error {
    ffi_call(|| {
        code((|| {
            let params = params_mut(p)?;
            if flags & !KNOWN_FLAGS != 0 {
                return Err(fail_with(
                    LT_ERROR_INVALID_ARG,
                    format!("unknown add flags {:#x}", flags & !KNOWN_FLAGS),
                ));
            }
            params.flags = flags;
            Ok(())
        })())
    })
}

/// Parses "ip:port" or "[ipv6]:port".
pub(crate) fn parse_endpoint(s: &str) -> Result<SocketAddr, lt_error> {
    s.trim()
        .parse::<SocketAddr>()
        .map_err(|_| fail_with(LT_ERROR_INVALID_ARG, format!("'{s}' is not an ip:port address")))
        .and_then(|a| {
            if a.port() == 0 {
                Err(fail_with(LT_ERROR_INVALID_ARG, format!("'{s}': port 0")))
            } else {
                Ok(a)
            }
        })
}

/// Adds a peer to dial when the torrent starts ("1.2.3.4:6881", "[::1]:6881").
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG`.
///
/// # Safety
/// `p` must be live; `ip_port` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_params_add_peer(p: *mut lt_params_t, ip_port: *const c_char) -> lt_error {
    ffi_call(|| {
        code((|| {
            let params = params_mut(p)?;
            // SAFETY: caller promises a valid string.
            let s = unsafe { str_arg(ip_port, "ip_port") }?;
            let addr = parse_endpoint(s)?;
            params.peers.push(addr);
            Ok(())
        })())
    })
}

/// Checks a tracker URL: http, https or udp with a host.
pub(crate) fn check_tracker_url(url: &str) -> Result<(), lt_error> {
    let ok = ["http://", "https://", "udp://"]
        .iter()
        .any(|scheme| url.len() > scheme.len() && url[..scheme.len()].eq_ignore_ascii_case(scheme));
    if ok {
        Ok(())
    } else {
        Err(fail_with(LT_ERROR_INVALID_ARG, format!("'{url}' is not an http, https or udp tracker URL")))
    }
}

/// Adds a tracker in tier `tier` (0 is tried first).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for a URL
/// that is not http(s) or udp, or a negative tier.
///
/// # Safety
/// `p` must be live; `url` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_params_add_tracker(
    p: *mut lt_params_t,
    url: *const c_char,
    tier: i32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let params = params_mut(p)?;
            // SAFETY: caller promises a valid string.
            let url = unsafe { str_arg(url, "url") }?;
            check_tracker_url(url)?;
            let tier =
                u32::try_from(tier).map_err(|_| fail_with(LT_ERROR_INVALID_ARG, "tier must be >= 0"))?;
            params.trackers.push((url.to_string(), tier));
            Ok(())
        })())
    })
}
