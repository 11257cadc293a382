//! The DHT in the C API: forcing a torrent's announce, the dht_stats alert
//! and the fields of the other DHT alerts.

use std::ffi::c_char;

use super::alert::{alert_ref, lt_alert_t, wrong_type};
use super::boundary::{code, ffi_call, fill_struct_array, growable_struct, non_null, static_cstr};
use super::error::lt_error;
use super::session::{lt_session_t, session_ref};
use super::torrent::{lt_torrent_id_t, with_torrent};
use crate::engine::alerts::DhtLookupStatus;
use crate::engine::AlertKind;

/// Looks a torrent up in the DHT and announces it there now, instead of at
/// its next turn (every `dht_announce_interval`). A dht_reply alert
/// follows when the lookup ends.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_HANDLE`;
/// `LT_ERROR_NOT_SUPPORTED` when the DHT is off (`enable_dht`);
/// `LT_ERROR_INVALID_ARG` for a private torrent, which never uses the DHT.
///
/// **Thread safety:** any thread.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_torrent_force_dht_announce(
    s: *mut lt_session_t,
    id: lt_torrent_id_t,
) -> lt_error {
    with_torrent(s, id, |t| t.force_dht_announce())
}

/// Posts a dht_stats alert (`LT_ALERT_DHT_STATS`, posted whatever the
/// alert mask) with the DHT's routing table per bucket and its running
/// lookups; read them with `lt_alert_dht_buckets` and `lt_alert_dht_lookups`.
/// When the DHT is off the alert holds no bucket and no lookup.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `s` must be a live session.
#[no_mangle]
pub unsafe extern "C" fn lt_session_post_dht_stats(s: *mut lt_session_t) -> lt_error {
    ffi_call(|| {
        code((|| {
            session_ref(s)?.post_dht_stats();
            Ok(())
        })())
    })
}

/// One bucket of the DHT routing table (`lt_alert_dht_buckets`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct lt_dht_bucket_t {
    /// Bytes of this struct the library filled (set by the library).
    pub struct_size: u32,
    /// The bucket's depth: how many leading bits its nodes' ids share with ours.
    pub depth: u32,
    /// Nodes in the bucket that answer (at most 8).
    pub num_nodes: u32,
    /// Nodes cached to replace those that stop answering (at most 8).
    pub num_replacements: u32,
}

/// One running DHT lookup (`lt_alert_dht_lookups`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lt_dht_lookup_t {
    /// Bytes of this struct the library filled (set by the library).
    pub struct_size: u32,
    /// Nodes that answered so far.
    pub nodes_answered: u32,
    /// Queries sent and not yet answered.
    pub outstanding_requests: u32,
    /// The id or info-hash looked up.
    pub target: [u8; 20],
    /// What the lookup is for: "bootstrap", "refresh", "get_peers" or
    /// "announce". Static; never freed.
    pub kind: *const c_char,
}

growable_struct!(lt_dht_bucket_t, lt_dht_lookup_t);

fn lookup_to_c(l: &DhtLookupStatus) -> lt_dht_lookup_t {
    lt_dht_lookup_t {
        struct_size: 0,
        nodes_answered: l.answered,
        outstanding_requests: l.in_flight,
        target: l.target,
        kind: static_cstr(l.kind),
    }
}

/// Copies the buckets of a dht_stats alert that hold nodes: at most `cap`,
/// in an array of elements `elem_size` bytes apart (pass
/// `sizeof(lt_dht_bucket_t)`), and the number the alert holds into
/// `*count_out`. `buckets` may be NULL when `cap` is 0.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`;
/// `LT_ERROR_BUFFER_TOO_SMALL` when `cap` > 0 and `elem_size` is under 8.
///
/// # Safety
/// `a` must be a live alert; `buckets` writable for `cap * elem_size`
/// bytes; `count_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_dht_buckets(
    a: *const lt_alert_t,
    buckets: *mut lt_dht_bucket_t,
    elem_size: usize,
    cap: usize,
    count_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            let AlertKind::DhtStats { stats } = &alert.kind else { return Err(wrong_type(alert)) };
            // SAFETY: forwarded caller promises about buckets/cap/count_out.
            unsafe {
                fill_struct_array(&stats.buckets, buckets, elem_size, cap, count_out, "buckets", |b| {
                    lt_dht_bucket_t { struct_size: 0, depth: b.0, num_nodes: b.1, num_replacements: b.2 }
                })
            }
        })())
    })
}

/// Copies the running lookups of a dht_stats alert: at most `cap`, in an
/// array of elements `elem_size` bytes apart (pass `sizeof(lt_dht_lookup_t)`),
/// and the number the alert holds into `*count_out`. `lookups` may be NULL
/// when `cap` is 0.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`;
/// `LT_ERROR_BUFFER_TOO_SMALL` when `cap` > 0 and `elem_size` is under 8.
///
/// # Safety
/// `a` must be a live alert; `lookups` writable for `cap * elem_size`
/// bytes; `count_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_dht_lookups(
    a: *const lt_alert_t,
    lookups: *mut lt_dht_lookup_t,
    elem_size: usize,
    cap: usize,
    count_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            let AlertKind::DhtStats { stats } = &alert.kind else { return Err(wrong_type(alert)) };
            // SAFETY: forwarded caller promises about lookups/cap/count_out.
            unsafe {
                fill_struct_array(&stats.lookups, lookups, elem_size, cap, count_out, "lookups", lookup_to_c)
            }
        })())
    })
}

/// The info-hash of a dht_announce or dht_get_peers alert (20 bytes into
/// `out`), or the DHT node id of a dht_stats alert.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `out` writable for 20 bytes.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_info_hash(a: *const lt_alert_t, out: *mut u8) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(out, "out")?;
            let bytes = match &alert.kind {
                AlertKind::DhtAnnounce { info_hash, .. } | AlertKind::DhtGetPeers { info_hash } => {
                    info_hash.0
                }
                AlertKind::DhtStats { stats } => stats.node_id,
                _ => return Err(wrong_type(alert)),
            };
            // SAFETY: out is writable for 20 bytes, as the caller promises.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, 20) };
            Ok(())
        })())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::alerts::DhtStats;

    #[test]
    fn dht_stats_alert_fields_reach_c() {
        let stats = DhtStats {
            node_id: [7; 20],
            buckets: vec![(0, 8, 3), (1, 5, 0)],
            lookups: vec![DhtLookupStatus { target: [1; 20], kind: "announce", answered: 4, in_flight: 2 }],
        };
        let a = super::super::alert::wrap_for_test(AlertKind::DhtStats { stats });
        let mut buckets = [lt_dht_bucket_t::default(); 4];
        let mut n = 0usize;
        // SAFETY: buffers sized as passed.
        let rc =
            unsafe { lt_alert_dht_buckets(a, buckets.as_mut_ptr(), size_of::<lt_dht_bucket_t>(), 4, &mut n) };
        assert_eq!((rc, n), (0, 2));
        assert_eq!((buckets[0].depth, buckets[0].num_nodes, buckets[0].num_replacements), (0, 8, 3));
        assert_eq!(buckets[1].struct_size as usize, size_of::<lt_dht_bucket_t>());
        let mut lookups =
            [lookup_to_c(&DhtLookupStatus { target: [0; 20], kind: "x", answered: 0, in_flight: 0 }); 1];
        // SAFETY: buffers sized as passed.
        let rc =
            unsafe { lt_alert_dht_lookups(a, lookups.as_mut_ptr(), size_of::<lt_dht_lookup_t>(), 1, &mut n) };
        assert_eq!((rc, n), (0, 1));
        assert_eq!((lookups[0].nodes_answered, lookups[0].outstanding_requests), (4, 2));
        // SAFETY: kind is a static C string.
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(lookups[0].kind) }.to_str().unwrap(), "announce");
        let mut id = [0u8; 20];
        // SAFETY: 20 writable bytes.
        assert_eq!(unsafe { lt_alert_info_hash(a, id.as_mut_ptr()) }, 0);
        assert_eq!(id, [7; 20]);
        // SAFETY: a is the alert made above, freed once.
        unsafe { super::super::alert::lt_alert_free(a) };
    }
}
