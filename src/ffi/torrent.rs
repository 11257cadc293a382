//! Adding, removing, controlling and reading torrents by id.

use std::ffi::c_char;

use super::boundary::{
    check_struct_size, code, copy_to_array, ffi_call, fill_struct_array, growable_struct, non_null, str_arg,
    write_struct,
};
use super::error::{code_of, fail, fail_with, lt_error, LT_ERROR_INVALID_ARG, LT_ERROR_NULL_ARG, LT_OK};
use super::params::{check_tracker_url, lt_params_t, parse_endpoint};
use super::session::{lt_session_t, session_ref};
use crate::engine::peer::PeerInfo;
use crate::engine::{TorrentId, TorrentStatus};

/// A torrent's id in its session: unique, never reused; 0 means none.
pub type lt_torrent_id_t = u64;

/// Delete the torrent's files when removing it.
pub const LT_REMOVE_DELETE_FILES: u32 = 1;

/// Torrent states (`lt_torrent_status_t.state`), libtorrent's numbers.
pub const LT_STATE_CHECKING_FILES: u32 = 1;
/// Torrent state: fetching the torrent's metadata from peers.
pub const LT_STATE_DOWNLOADING_METADATA: u32 = 2;
/// Torrent state: downloading.
pub const LT_STATE_DOWNLOADING: u32 = 3;
/// Torrent state: every wanted piece is had; some pieces are skipped by priority.
pub const LT_STATE_FINISHED: u32 = 4;
/// Torrent state: every piece is had; uploading.
pub const LT_STATE_SEEDING: u32 = 5;

/// Adds a torrent to the session and starts it (unless `LT_ADD_PAUSED`).
/// The params are copied and may be freed after the call. An
/// `add_torrent` alert follows.
///
/// **Returns** `LT_OK` and the new id in `*id_out`; `LT_ERROR_NULL_ARG`;
/// `LT_ERROR_INVALID_ARG` when params lack a torrent or save path;
/// `LT_ERROR_DUPLICATE_TORRENT`; `LT_ERROR_SHUTTING_DOWN`.
///
/// # Safety
/// `s` and `params` must be live; `id_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_add_torrent(
    s: *mut lt_session_t,
    params: *const lt_params_t,
    id_out: *mut lt_torrent_id_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            non_null(id_out, "id_out")?;
            // SAFETY: checked non-NULL.
            unsafe { *id_out = 0 };
            // SAFETY: the caller promises NULL or a live object.
            let params =
                unsafe { params.as_ref() }.ok_or_else(|| fail_with(LT_ERROR_NULL_ARG, "params is NULL"))?;
            let id = ses.add_torrent(params.to_engine()?).map_err(fail)?;
            // SAFETY: checked non-NULL.
            unsafe { *id_out = id.0 };
            Ok(())
        })())
    })
}

/// Removes a torrent. Peers close and trackers are told `stopped` in the
/// background; `torrent_removed` (and with `LT_REMOVE_DELETE_FILES`,
/// `torrent_deleted` or `torrent_delete_failed`) alerts follow. The id is
/// invalid from now on.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG` for unknown flag bits.
///
/// # Safety
/// `s` must be live.
#[no_mangle]
pub unsafe extern "C" fn lt_remove_torrent(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    flags: u32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            if flags & !LT_REMOVE_DELETE_FILES != 0 {
                return Err(fail_with(LT_ERROR_INVALID_ARG, format!("unknown remove flags {flags:#x}")));
            }
            ses.remove_torrent(TorrentId(id), flags & LT_REMOVE_DELETE_FILES != 0).map_err(fail)
        })())
    })
}

/// Shared body of the torrent actions: finds the torrent, runs `f`, maps
/// its error.
pub(crate) fn with_torrent(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    f: impl FnOnce(&std::sync::Arc<crate::engine::torrent::Torrent>) -> crate::engine::Result<()>,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            let t = ses.torrent(TorrentId(id)).map_err(fail)?;
            f(&t).map_err(fail)
        })())
    })
}

/// Pauses a torrent: its peers disconnect and trackers are told `stopped`;
/// a `torrent_paused` alert follows.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_pause(s: *mut lt_session_t, id: lt_torrent_id_t) -> lt_error {
    with_torrent(s, id, |t| {
        t.pause();
        Ok(())
    })
}

/// Resumes a paused torrent (and clears an error that stopped it); a
/// `torrent_resumed` alert follows.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_resume(s: *mut lt_session_t, id: lt_torrent_id_t) -> lt_error {
    with_torrent(s, id, |t| {
        t.resume();
        Ok(())
    })
}

/// Announces to the torrent's trackers now.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_force_reannounce(s: *mut lt_session_t, id: lt_torrent_id_t) -> lt_error {
    with_torrent(s, id, |t| {
        t.force_reannounce();
        Ok(())
    })
}

/// Dials a peer for this torrent ("ip:port").
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG` for a malformed address.
///
/// # Safety
/// `s` must be live; `ip_port` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_connect_peer(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    ip_port: *const c_char,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            // SAFETY: caller promises a valid string.
            let addr = parse_endpoint(unsafe { str_arg(ip_port, "ip_port") }?)?;
            ses.torrent(TorrentId(id)).map_err(fail)?.connect_peer(addr);
            Ok(())
        })())
    })
}

/// Adds a web seed (BEP 19) to a torrent, as libtorrent's `add_url_seed`.
/// lt downloads from it while the torrent runs and lacks pieces; failures
/// come as `LT_ALERT_URL_SEED` alerts. Adding a URL the torrent has already
/// does nothing.
///
/// **Parameters** `s` the session; `id` the torrent; `url` an http:// or
/// https:// URL (a file for a single-file torrent, or a directory ending
/// with '/'; a directory for a multi-file torrent), borrowed for the call.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_UTF8`;
/// `LT_ERROR_INVALID_HANDLE`; `LT_ERROR_INVALID_ARG` for a URL that is not
/// http(s) or is longer than 4096 bytes.
///
/// **Thread safety** Any thread.
///
/// # Safety
/// `s` must be live; `url` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_add_url_seed(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    url: *const c_char,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            // SAFETY: caller promises a valid string.
            let url = unsafe { str_arg(url, "url") }?;
            ses.torrent(TorrentId(id)).map_err(fail)?.add_url_seed(url).map_err(fail)
        })())
    })
}

/// Removes a web seed from a torrent and stops its requests.
///
/// **Parameters** `s` the session; `id` the torrent; `url` the URL exactly
/// as added (or as in the .torrent's url-list), borrowed for the call.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_UTF8`;
/// `LT_ERROR_INVALID_HANDLE`; `LT_ERROR_INVALID_ARG` when the torrent has
/// no such web seed (never had it, removed, or banned for corrupt data).
///
/// **Thread safety** Any thread.
///
/// # Safety
/// `s` must be live; `url` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_remove_url_seed(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    url: *const c_char,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            // SAFETY: caller promises a valid string.
            let url = unsafe { str_arg(url, "url") }?;
            ses.torrent(TorrentId(id)).map_err(fail)?.remove_url_seed(url).map_err(fail)
        })())
    })
}

/// Adds a tracker to a running torrent.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_INVALID_ARG`.
///
/// # Safety
/// `s` must be live; `url` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_add_tracker(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    url: *const c_char,
    tier: i32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            // SAFETY: caller promises a valid string.
            let url = unsafe { str_arg(url, "url") }?;
            check_tracker_url(url)?;
            let tier =
                u32::try_from(tier).map_err(|_| fail_with(LT_ERROR_INVALID_ARG, "tier must be >= 0"))?;
            ses.torrent(TorrentId(id)).map_err(fail)?.add_tracker(url, tier);
            Ok(())
        })())
    })
}

/// The 20-byte v1 info-hash of a torrent.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`.
///
/// # Safety
/// `out` must be writable for 20 bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_info_hash(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    out: *mut u8,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            non_null(out, "out")?;
            let t = ses.torrent(TorrentId(id)).map_err(fail)?;
            // SAFETY: the caller promises 20 writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(t.info_hash.0.as_ptr(), out, 20) };
            Ok(())
        })())
    })
}

/// A torrent's status. Filled by `lt_torrent_status`; fields are only ever
/// appended in later versions. Byte counts are totals since the torrent was
/// added; rates are bytes per second over the last second.
#[repr(C)]
pub struct lt_torrent_status_t {
    /// Bytes of this struct the library filled (set by the library).
    pub struct_size: u32,
    /// `LT_STATE_*`.
    pub state: u32,
    /// 1 when the torrent is paused, as libtorrent's `torrent_flags::paused`:
    /// by the user (`queued` 0) or held by the queue (`queued` 1). A session
    /// pause and an error do not set it (see `error_code`). JSON, CSV and
    /// Prometheus (`lt_torrent_paused`) mean the same.
    pub paused: u32,
    /// `LT_OK`, or the `lt_error` code of the error that stopped the torrent.
    pub error_code: i32,
    /// Verified fraction of the wanted bytes, 0.0 to 1.0 (of the files
    /// checked so far while checking).
    pub progress: f64,
    /// Verified pieces.
    pub pieces_done: u32,
    /// Pieces in the torrent.
    pub pieces_total: u32,
    /// Verified bytes.
    pub total_done: i64,
    /// Bytes of the pieces wanted (all, unless priorities skip some).
    pub total_wanted: i64,
    /// Verified bytes of the wanted pieces.
    pub total_wanted_done: i64,
    /// Size of all files.
    pub total_size: i64,
    /// All bytes received per second for this torrent, over the last second.
    pub download_rate: i64,
    /// Bytes per second sent, over the last second.
    pub upload_rate: i64,
    /// Piece data received per second, over the last second.
    pub download_payload_rate: i64,
    /// Piece data sent per second, over the last second.
    pub upload_payload_rate: i64,
    /// All bytes received for this torrent, protocol overhead included.
    pub total_download: i64,
    /// All bytes sent for this torrent, protocol overhead included.
    pub total_upload: i64,
    /// Piece data received / sent.
    pub total_payload_download: i64,
    /// Piece data sent.
    pub total_payload_upload: i64,
    /// Piece data received but not used (redundant or failed the hash check).
    pub total_wasted: i64,
    /// Pieces that failed the hash check.
    pub num_hash_failures: i64,
    /// Connected peers, and how many of them are seeds.
    pub num_peers: u32,
    /// Connected peers that have every piece.
    pub num_seeds: u32,
    /// Seeds and downloaders in the swarm per the last tracker reply; -1 if unknown.
    pub list_seeds: i64,
    /// Downloaders in the swarm per the last tracker reply; -1 if unknown.
    pub list_peers: i64,
    /// The v1 info-hash.
    pub info_hash: [u8; 20],
    /// The torrent's name (UTF-8, NUL-terminated, truncated to fit).
    pub name: [c_char; 256],
    /// Why the torrent stopped, when `error_code` is not `LT_OK` ("" otherwise).
    pub error_message: [c_char; 256],
    /// The directory the files are saved in (truncated to fit).
    pub save_path: [c_char; 1024],
    /// Mean of the connected peers' mean request-to-block times, in microseconds.
    pub avg_peer_rtt_us: i64,
    /// Longest request-to-block time among the connected peers, in microseconds.
    pub max_peer_rtt_us: i64,
    /// Highest payload download and upload rates seen over one second.
    pub peak_download_rate: i64,
    pub peak_upload_rate: i64,
    /// Seconds the torrent ran (not paused); of those, finished; and seeding.
    pub active_time_s: i64,
    pub finished_time_s: i64,
    pub seeding_time_s: i64,
    /// Seconds to finish at the current payload rate; 0 when done, -1 when unknown.
    pub eta_s: i64,
    /// Complete copies among the connected peers; -1 with no peers.
    pub distributed_copies: f64,
    /// Position in the download queue (0 first); -1 once finished.
    pub queue_position: i64,
    /// 1 when the queue starts and stops the torrent (`LT_ADD_AUTO_MANAGED`).
    pub auto_managed: u32,
    /// 1 when the queue stopped it to keep within `active_downloads`,
    /// `active_seeds` or `active_limit`; it starts again when a slot frees.
    pub queued: u32,
    /// 1 when pieces are downloaded in order.
    pub sequential: u32,
    /// Most peer connections for this torrent.
    pub max_connections: u32,
    /// This torrent's own rate limits in bytes per second (0: none).
    pub download_limit: i64,
    pub upload_limit: i64,
    /// When the torrent was added and when it last finished (Unix seconds; 0: never).
    pub added_time: i64,
    pub completed_time: i64,
}

growable_struct!(lt_torrent_status_t);

fn fill_status(out: &mut lt_torrent_status_t, st: &TorrentStatus) {
    out.state = st.state as u32;
    out.paused = st.paused as u32;
    out.error_code = st.error.as_ref().map(|e| code_of(e.kind)).unwrap_or(LT_OK);
    out.progress = st.progress;
    out.pieces_done = st.pieces_done;
    out.pieces_total = st.pieces_total;
    out.total_done = st.total_done as i64;
    out.total_wanted = st.total_wanted as i64;
    out.total_wanted_done = st.total_wanted_done as i64;
    out.total_size = st.total_size as i64;
    out.download_rate = st.download_rate;
    out.upload_rate = st.upload_rate;
    out.download_payload_rate = st.download_payload_rate;
    out.upload_payload_rate = st.upload_payload_rate;
    out.total_download = st.total_download;
    out.total_upload = st.total_upload;
    out.total_payload_download = st.total_payload_download;
    out.total_payload_upload = st.total_payload_upload;
    out.total_wasted = st.total_wasted;
    out.num_hash_failures = st.num_hash_failures;
    out.num_peers = st.num_peers;
    out.num_seeds = st.num_seeds;
    out.list_seeds = st.list_seeds;
    out.list_peers = st.list_peers;
    out.info_hash = st.info_hash.0;
    copy_to_array(&st.name, &mut out.name);
    copy_to_array(st.error.as_ref().map(|e| e.message.as_str()).unwrap_or(""), &mut out.error_message);
    copy_to_array(&st.save_path.to_string_lossy(), &mut out.save_path);
    out.avg_peer_rtt_us = st.avg_peer_rtt_us;
    out.max_peer_rtt_us = st.max_peer_rtt_us;
    out.peak_download_rate = st.peak_download_rate;
    out.peak_upload_rate = st.peak_upload_rate;
    out.active_time_s = st.active_time_s;
    out.finished_time_s = st.finished_time_s;
    out.seeding_time_s = st.seeding_time_s;
    out.eta_s = st.eta_s;
    out.distributed_copies = st.distributed_copies;
    out.queue_position = st.queue_position;
    out.auto_managed = st.auto_managed as u32;
    out.queued = st.queued as u32;
    out.sequential = st.sequential as u32;
    out.max_connections = st.max_connections;
    out.download_limit = st.download_limit;
    out.upload_limit = st.upload_limit;
    out.added_time = st.added_time;
    out.completed_time = st.completed_time;
}

/// A C status built from an engine status.
pub(crate) fn status_to_c(st: &TorrentStatus) -> lt_torrent_status_t {
    // SAFETY: lt_torrent_status_t is plain old data; all-zero is valid.
    let mut out: lt_torrent_status_t = unsafe { std::mem::zeroed() };
    fill_status(&mut out, st);
    out
}

/// Fills `*status` (of `size` bytes: pass `sizeof(lt_torrent_status_t)`)
/// with the torrent's status: `min(size, sizeof)` bytes, with
/// `struct_size` set to that number. No round trip to the network thread:
/// it copies current values.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_BUFFER_TOO_SMALL` when `size` is under 8 bytes.
///
/// # Safety
/// `status` must be writable for `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_status(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    status: *mut lt_torrent_status_t,
    size: usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            non_null(status, "status")?;
            check_struct_size(size, "status")?;
            let st = ses.torrent_status(TorrentId(id)).map_err(fail)?;
            // SAFETY: the caller promises `size` writable bytes.
            unsafe { write_struct(status_to_c(&st), status as *mut u8, size) };
            Ok(())
        })())
    })
}

/// Peer flag bits of `lt_peer_info_t.flags`.
pub const LT_PEER_INTERESTING: u32 = 1 << 0;
/// Peer flag: we choke the peer (it may not download from us).
pub const LT_PEER_CHOKED: u32 = 1 << 1;
/// Peer flag: the peer wants pieces we have.
pub const LT_PEER_REMOTE_INTERESTED: u32 = 1 << 2;
/// Peer flag: the peer chokes us.
pub const LT_PEER_REMOTE_CHOKED: u32 = 1 << 3;
/// Peer flag: the peer has every piece.
pub const LT_PEER_SEED: u32 = 1 << 4;
/// Peer flag: the peer connected to us.
pub const LT_PEER_INCOMING: u32 = 1 << 5;
/// Peer flag: the peer left our requests unanswered too long.
pub const LT_PEER_SNUBBED: u32 = 1 << 6;
/// Peer flag: the peer speaks the extension protocol (BEP 10).
pub const LT_PEER_SUPPORTS_EXTENSIONS: u32 = 1 << 7;
/// Peer flag: the peer speaks the fast extension (BEP 6).
pub const LT_PEER_SUPPORTS_FAST: u32 = 1 << 8;
/// Peer flag: the peer holds the optimistic unchoke slot.
pub const LT_PEER_OPTIMISTIC_UNCHOKE: u32 = 1 << 9;
/// Peer flag: the connection runs over uTP (else TCP).
pub const LT_PEER_UTP_SOCKET: u32 = 1 << 10;
/// Peer flag: the encrypted handshake (MSE) ran and the payload is RC4.
pub const LT_PEER_RC4_ENCRYPTED: u32 = 1 << 11;
/// Peer flag: the encrypted handshake (MSE) ran and chose plaintext.
pub const LT_PEER_PLAINTEXT_ENCRYPTED: u32 = 1 << 12;

/// Peer source bit of `lt_peer_info_t.source` (libtorrent's
/// `peer_source_flags`): a tracker's reply.
pub const LT_PEER_SOURCE_TRACKER: u8 = 1;
/// Peer source: the DHT.
pub const LT_PEER_SOURCE_DHT: u8 = 2;
/// Peer source: peer exchange.
pub const LT_PEER_SOURCE_PEX: u8 = 4;
/// Peer source: local service discovery.
pub const LT_PEER_SOURCE_LSD: u8 = 8;
/// Peer source: the torrent's resume data.
pub const LT_PEER_SOURCE_RESUME_DATA: u8 = 16;
/// Peer source: it connected to us.
pub const LT_PEER_SOURCE_INCOMING: u8 = 32;
/// Peer source: the application (`lt_params_add_peer`,
/// `lt_torrent_connect_peer`); libtorrent has no such bit.
pub const LT_PEER_SOURCE_API: u8 = 64;

/// One connected peer, filled by `lt_torrent_peers`; fields are only ever
/// appended in later versions.
#[repr(C)]
pub struct lt_peer_info_t {
    /// Bytes of this struct the library filled (set by the library).
    pub struct_size: u32,
    /// The peer's IP address as text ("127.0.0.1", "::1").
    pub ip: [c_char; 48],
    /// The peer's port (TCP or UDP for uTP).
    pub port: u16,
    /// `LT_PEER_*` bits. INTERESTING: we want its pieces; CHOKED: we choke
    /// it; REMOTE_*: the same from its side.
    pub flags: u32,
    /// Client name from the extension handshake or the peer id.
    pub client: [c_char; 64],
    /// Piece data received from / sent to this peer.
    pub total_download: i64,
    /// Piece data sent to this peer.
    pub total_upload: i64,
    /// Piece data per second received from this peer, over the last second.
    pub download_rate: i64,
    /// Piece data per second sent to this peer, over the last second.
    pub upload_rate: i64,
    /// Pieces the peer has, and that as a fraction of the torrent.
    pub num_pieces: u32,
    /// Fraction of the torrent the peer has.
    pub progress: f64,
    /// Our block requests to it not answered yet.
    pub outstanding_requests: u32,
    /// Milliseconds since the connection was established.
    pub connected_ms: u64,
    /// Request-to-block times in microseconds: last, mean, shortest,
    /// longest (0 until a block arrived).
    pub rtt_last_us: i64,
    pub rtt_avg_us: i64,
    pub rtt_min_us: i64,
    pub rtt_max_us: i64,
    /// Pieces that failed the hash check with blocks from this peer.
    pub hash_failures: u32,
    /// `LT_PEER_SOURCE_*` bits: everywhere lt heard of this peer.
    pub source: u8,
}

growable_struct!(lt_peer_info_t);

fn fill_peer(out: &mut lt_peer_info_t, p: &PeerInfo) {
    copy_to_array(&p.addr.ip().to_string(), &mut out.ip);
    out.port = p.addr.port();
    out.flags = p.flags;
    copy_to_array(&p.client, &mut out.client);
    out.total_download = p.total_download;
    out.total_upload = p.total_upload;
    out.download_rate = p.download_rate;
    out.upload_rate = p.upload_rate;
    out.num_pieces = p.num_pieces;
    out.progress = p.progress;
    out.outstanding_requests = p.outstanding_requests;
    out.connected_ms = p.connected_ms;
    out.rtt_last_us = p.rtt_last_us;
    out.rtt_avg_us = p.rtt_avg_us;
    out.rtt_min_us = p.rtt_min_us;
    out.rtt_max_us = p.rtt_max_us;
    out.hash_failures = p.hash_failures;
    out.source = p.source;
}

/// Lists a torrent's connected peers: writes at most `cap` entries to
/// `peers`, an array of elements `elem_size` bytes apart (pass
/// `sizeof(lt_peer_info_t)`; each gets `min(elem_size, sizeof)` bytes and
/// its `struct_size`), and the total number of peers to `*count_out`
/// (which may exceed `cap`). `peers` may be NULL when `cap` is 0.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_BUFFER_TOO_SMALL` when `cap` > 0 and `elem_size` is under 8.
///
/// # Safety
/// `peers` must be writable for `cap * elem_size` bytes; `count_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_peers(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    peers: *mut lt_peer_info_t,
    elem_size: usize,
    cap: usize,
    count_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            let list = ses.torrent(TorrentId(id)).map_err(fail)?.peers();
            let convert = |p: &std::sync::Arc<crate::engine::peer::PeerHandle>| {
                // SAFETY: plain old data; all-zero is valid.
                let mut out: lt_peer_info_t = unsafe { std::mem::zeroed() };
                fill_peer(&mut out, &p.info());
                out
            };
            // SAFETY: forwarded caller promises about peers/cap/count_out.
            unsafe { fill_struct_array(&list, peers, elem_size, cap, count_out, "peers", convert) }?;
            Ok(())
        })())
    })
}

/// One tracker of a torrent, filled by `lt_torrent_trackers`; fields are
/// only ever appended in later versions.
#[repr(C)]
pub struct lt_tracker_info_t {
    /// Bytes of this struct the library filled (set by the library).
    pub struct_size: u32,
    /// The tier (BEP 12), 0 first.
    pub tier: u32,
    /// Announces in a row that failed (0 after a reply).
    pub fails: u32,
    /// 1 when the tracker answered the last announce sent to it.
    pub working: u32,
    /// The announce interval and minimum interval the tracker asked for, in seconds.
    pub interval_s: i64,
    pub min_interval_s: i64,
    /// Seconds since the last announce it answered; -1 when none did.
    pub since_reply_s: i64,
    /// The announce URL (UTF-8, NUL-terminated, truncated to fit).
    pub url: [c_char; 512],
    /// Why the last announce failed ("" after a reply).
    pub last_error: [c_char; 256],
    /// The warning of its last reply ("" when none).
    pub last_warning: [c_char; 256],
}

growable_struct!(lt_tracker_info_t);

/// Lists a torrent's trackers, tier by tier: writes at most `cap` entries
/// to `trackers`, an array of elements `elem_size` bytes apart (pass
/// `sizeof(lt_tracker_info_t)`; each gets `min(elem_size, sizeof)` bytes
/// and its `struct_size`), and the number of trackers to `*count_out`.
/// `trackers` may be NULL when `cap` is 0.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_BUFFER_TOO_SMALL` when `cap` > 0 and `elem_size` is under 8.
///
/// # Safety
/// `trackers` must be writable for `cap * elem_size` bytes; `count_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_trackers(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    trackers: *mut lt_tracker_info_t,
    elem_size: usize,
    cap: usize,
    count_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            let list = ses.torrent(TorrentId(id)).map_err(fail)?.trackers();
            let convert = |e: &crate::engine::tracker::TrackerEntry| {
                // SAFETY: plain old data; all-zero is valid.
                let mut out: lt_tracker_info_t = unsafe { std::mem::zeroed() };
                out.tier = e.tier;
                out.fails = e.fails;
                out.working = e.working as u32;
                out.interval_s = e.interval.as_secs() as i64;
                out.min_interval_s = e.min_interval.as_secs() as i64;
                out.since_reply_s = e.last_announce.map(|at| at.elapsed().as_secs() as i64).unwrap_or(-1);
                copy_to_array(&e.url, &mut out.url);
                copy_to_array(e.last_error.as_deref().unwrap_or(""), &mut out.last_error);
                copy_to_array(e.last_warning.as_deref().unwrap_or(""), &mut out.last_warning);
                out
            };
            // SAFETY: forwarded caller promises about trackers/elem_size/cap/count_out.
            unsafe { fill_struct_array(&list, trackers, elem_size, cap, count_out, "trackers", convert) }
        })())
    })
}

/// Posts a state_update alert carrying the status of every torrent whose
/// status changed since the previous call (all of them the first time);
/// read them with `lt_alert_statuses`. Posted whatever the alert mask.
///
/// **Returns** `LT_OK` or `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_post_torrent_updates(s: *mut lt_session_t) -> lt_error {
    ffi_call(|| {
        code((|| {
            session_ref(s)?.post_torrent_updates();
            Ok(())
        })())
    })
}

/// The torrent's .torrent file, for saving a magnet link's torrent: its
/// info dictionary exactly as received from peers (or loaded), under
/// "info", with the trackers it knows now as "announce" and
/// "announce-list". Loading these bytes again gives the same info-hash.
///
/// **Returns** `LT_OK` with the bytes in `*data_out` and their length in
/// `*len_out`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_NO_METADATA` while a magnet's metadata has not arrived
/// (`LT_ALERT_METADATA_RECEIVED` says when it has).
/// On failure `*data_out` is NULL and `*len_out` 0.
/// **Ownership:** the caller frees `*data_out` with `lt_free`.
///
/// # Safety
/// `s` must be a live session; the outputs writable.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_metadata(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
    data_out: *mut *mut u8,
    len_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            // SAFETY: the caller promises writable outputs.
            unsafe { super::boundary::clear_bytes_out(data_out, len_out) }?;
            let bytes = ses.torrent_metadata(TorrentId(id)).map_err(fail)?;
            let p = super::boundary::malloc_copy(&bytes);
            if p.is_null() {
                return Err(fail_with(super::error::LT_ERROR_IO, "out of memory"));
            }
            // SAFETY: both checked non-NULL.
            unsafe {
                *data_out = p;
                *len_out = bytes.len();
            }
            Ok(())
        })())
    })
}
