//! Fast resume: what a torrent saves so that a later session can skip the
//! full check of its files, and when such data is trusted.
//!
//! Resume data is trusted only when every file on disk has the size and
//! modification time recorded with it, and every piece it claims lies in
//! bytes the recorded files hold. Anything else (a file touched since, a
//! file gone, a crash after the last save) falls back to a full recheck,
//! so resume data can make adding faster but never makes data wrong.
//! Malformed data, or data for another torrent, is refused outright.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::discovery::PeerSource;
use super::error::{Error, ErrorKind, Result};
use super::storage::Storage;
use super::torrent::{StartOptions, Torrent};
use crate::proto::metainfo::Metainfo;
use crate::proto::resume::{decode_for, ResumeData};

/// Most peers saved with a torrent.
const MAX_SAVED_PEERS: usize = 1000;

/// Splits nanoseconds since the epoch into libtorrent's seconds and our
/// nanosecond remainder.
fn split_mtime(ns: i64) -> (i64, i64) {
    (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000))
}

/// The torrent's resume data now. File sizes and times are read before
/// the pieces, so a piece written in between can only make the data look
/// stale (a recheck), never claim a piece the files lack.
pub(crate) fn save(t: &Torrent) -> Vec<u8> {
    let stats = t.storage().map(|s| s.file_stats()).unwrap_or_default();
    let status = t.status();
    let core = t.core.lock();
    let picker = &core.picker;
    let n = t.lengths().num_pieces();
    let tiers = core.trackers.tiers();
    let mut peers: Vec<SocketAddr> = core.peers.values().map(|p| p.addr).collect();
    for addr in core.known.keys() {
        if peers.len() >= MAX_SAVED_PEERS {
            break;
        }
        if !peers.contains(addr) && !core.is_banned(addr) {
            peers.push(*addr);
        }
    }
    let data = ResumeData {
        info_hash: t.info_hash,
        name: t.name().to_string(),
        save_path: t.save_path().to_string_lossy().into_owned(),
        pieces: (0..n).map(|p| picker.have(p)).collect(),
        file_priority: core.file_priority.clone(),
        piece_priority: picker.priorities().to_vec(),
        trackers: tiers,
        url_seeds: core.web_seeds.urls(),
        peers,
        file_sizes: stats.iter().map(|s| s.map_or((0, 0), |(size, ns)| (size, split_mtime(ns).0))).collect(),
        file_mtimes_ns: stats.iter().map(|s| s.map_or(0, |(_, ns)| split_mtime(ns).1)).collect(),
        total_uploaded: t.counters.sent_payload.load(Ordering::Relaxed),
        total_downloaded: t.counters.recv_payload.load(Ordering::Relaxed),
        active_time: status.active_time_s,
        finished_time: status.finished_time_s,
        seeding_time: status.seeding_time_s,
        added_time: core.added_time,
        completed_time: core.completed_time,
        paused: core.paused,
        auto_managed: core.auto_managed,
        sequential_download: picker.is_sequential(),
        upload_rate_limit: t.up_limit.rate(),
        download_rate_limit: t.down_limit.rate(),
        max_connections: core.max_connections as i64,
        queue_position: core.queue_position,
        info: t.meta().map(|m| m.info_bytes.clone()),
    };
    drop(core);
    data.encode()
}

/// Reads resume data into the options a torrent starts with. Answers
/// whether the files must be checked (the data is not to be trusted for
/// them), with the reason; fails for data that is malformed or for
/// another torrent.
pub(crate) fn apply(
    blob: &[u8],
    meta: &Metainfo,
    storage: &dyn Storage,
    opts: &mut StartOptions,
) -> Result<Option<String>> {
    let rd = decode_for(blob, &meta.info_hash, meta.lengths.num_pieces(), meta.files.len())
        .map_err(|e| Error::new(ErrorKind::InvalidResumeData, e.to_string()))?;
    opts.paused |= rd.paused;
    opts.auto_managed = rd.auto_managed;
    opts.sequential |= rd.sequential_download;
    if !rd.file_priority.is_empty() {
        opts.file_priorities = rd.file_priority.clone();
    }
    opts.piece_priorities = rd.piece_priority.clone();
    for (tier, urls) in rd.trackers.iter().enumerate() {
        opts.extra_trackers.extend(urls.iter().map(|u| (u.clone(), tier as u32)));
    }
    opts.peers.extend(rd.peers.iter().map(|a| (*a, PeerSource::ResumeData)));
    opts.web_seeds.extend(rd.url_seeds.iter().cloned());
    opts.download_limit = rd.download_rate_limit.max(0);
    opts.upload_limit = rd.upload_rate_limit.max(0);
    opts.max_connections = rd.max_connections.clamp(0, u32::MAX as i64) as u32;
    opts.totals = [rd.total_downloaded, rd.total_uploaded];
    opts.times_s = [rd.active_time, rd.finished_time, rd.seeding_time];
    if rd.added_time > 0 {
        opts.added_time = rd.added_time;
    }
    opts.completed_time = rd.completed_time;
    match untrusted_reason(&rd, meta, &storage.file_stats()) {
        None => {
            opts.have = Some(rd.pieces);
            Ok(None)
        }
        Some(reason) => Ok(Some(reason)),
    }
}

/// Why the pieces in `rd` cannot be taken as they are; `None` when they can.
fn untrusted_reason(rd: &ResumeData, meta: &Metainfo, disk: &[Option<(u64, i64)>]) -> Option<String> {
    if rd.pieces.is_empty() {
        return Some("the resume data lists no pieces".into());
    }
    if rd.file_sizes.len() != meta.files.len() {
        return Some("the resume data has no file sizes".into());
    }
    for (i, f) in meta.files.iter().enumerate() {
        if f.pad {
            continue;
        }
        let recorded = rd.file_sizes[i];
        let ns = rd.file_mtimes_ns.get(i).copied().unwrap_or(0);
        let same = match disk[i] {
            None => recorded == (0, 0),
            Some((size, mtime)) => recorded == (size, split_mtime(mtime).0) && ns == split_mtime(mtime).1,
        };
        if !same {
            return Some(format!("file '{}' changed since the resume data was saved", f.path.display()));
        }
    }
    // Every claimed piece must lie in bytes the recorded files hold.
    let lengths = meta.lengths;
    for (p, _) in rd.pieces.iter().enumerate().filter(|(_, h)| **h) {
        let start = lengths.piece_offset(p as u32);
        let end = start + lengths.piece_size(p as u32) as u64;
        for (i, f) in meta.files.iter().enumerate() {
            if f.pad || f.offset >= end || f.offset + f.length <= start {
                continue;
            }
            let needed = end.min(f.offset + f.length) - f.offset;
            if rd.file_sizes[i].0 < needed {
                return Some(format!("piece {p} is listed but file '{}' is too short", f.path.display()));
            }
        }
    }
    None
}
