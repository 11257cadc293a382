//! `lt_ip_filter_t` and `lt_port_filter_t`: libtorrent's IP and port
//! filters, the two blocklist formats, and applying the filters to a
//! session; the reason of a peer_blocked alert.

use std::ffi::{c_char, c_void};
use std::net::IpAddr;
use std::path::Path;

use super::alert::{alert_ref, lt_alert_t, wrong_type};
use super::boundary::{
    code, copy_to_array, ffi_call, fill_struct_array, free_box, growable_struct, non_null, str_arg,
};
use super::error::{
    cstring, fail, fail_with, lt_error, LT_ERROR_INVALID_ARG, LT_ERROR_LIMIT_REACHED, LT_ERROR_NOT_FOUND,
};
use super::session::{lt_session_t, session_ref};
use crate::engine::ip_filter::MAX_BLOCKLIST_FILE;
use crate::engine::{bounded_read, AlertKind, Error};
use crate::proto::ip_filter::{parse_blocklist, BlocklistFormat, IpFilter, IpRule, PortFilter, RuleError};

/// The access flag that blocks: a rule with it refuses connections to and
/// from the addresses (or ports) it covers; flags 0 allow them.
pub const LT_IP_FILTER_BLOCKED: u32 = 1;

/// Blocklist format: decided from the first lines that parse.
pub const LT_BLOCKLIST_AUTO: u32 = 0;
/// Blocklist format: PeerGuardian's P2P text, `name:first-last`.
pub const LT_BLOCKLIST_P2P: u32 = 1;
/// Blocklist format: eMule's ipfilter.dat, `first - last , level , name`
/// (a level up to 127 blocks; higher levels add no rule).
pub const LT_BLOCKLIST_DAT: u32 = 2;

/// Rules over IPv4 and IPv6 address ranges, each with access flags
/// (`LT_IP_FILTER_BLOCKED` or 0); where rules overlap, the later one wins.
/// Empty, it allows everything. IPv4-mapped IPv6 addresses
/// (`::ffff:1.2.3.4`) are judged as the IPv4 address they carry, in rules
/// and queries, because a dual-stack socket reports IPv4 peers that way.
/// At most 2 000 000 rules. Opaque.
///
/// Methods: `lt_ip_filter_new`, `lt_ip_filter_add_rule`,
/// `lt_ip_filter_remove_rule`, `lt_ip_filter_access`,
/// `lt_ip_filter_export`, `lt_ip_filter_import`, `lt_ip_filter_import_file`,
/// `lt_ip_filter_free`; `lt_session_set_ip_filter`, `lt_session_get_ip_filter`.
/// **Thread safety:** may move between threads; calls that change it must
/// not run at the same time as any other call on it.
pub struct lt_ip_filter_t {
    inner: IpFilter,
}

/// Rules over port ranges with access flags, the later rule winning. A
/// session applies it to the ports of the peers it dials (as libtorrent
/// does), not to incoming connections. Opaque.
///
/// Methods: `lt_port_filter_new`, `lt_port_filter_add_rule`,
/// `lt_port_filter_access`, `lt_port_filter_free`; `lt_session_set_port_filter`.
/// **Thread safety:** as `lt_ip_filter_t`.
pub struct lt_port_filter_t {
    inner: PortFilter,
}

/// One range of `lt_ip_filter_export`: `first` to `last` inclusive, as
/// NUL-terminated text ("1.2.3.4", "2001:db8::1"), with its flags.
#[repr(C)]
pub struct lt_ip_range_t {
    /// Bytes of this struct the library filled (set by the library).
    pub struct_size: u32,
    pub first: [c_char; 46],
    pub last: [c_char; 46],
    pub flags: u32,
}

growable_struct!(lt_ip_range_t);

/// Called once per bad blocklist line with the caller's `user` pointer,
/// the line's number (from 1) and why it was refused (valid during the
/// call only).
pub type lt_blocklist_error_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, line: usize, message: *const c_char)>;

fn rule_error(e: RuleError) -> lt_error {
    let code = match e {
        RuleError::NotFound => LT_ERROR_NOT_FOUND,
        RuleError::TooManyRules => LT_ERROR_LIMIT_REACHED,
        RuleError::MixedFamilies | RuleError::Reversed => LT_ERROR_INVALID_ARG,
    };
    fail_with(code, e.to_string())
}

/// # Safety
/// `p` must be NULL or a valid NUL-terminated string.
unsafe fn ip_arg(p: *const c_char, what: &str) -> Result<IpAddr, lt_error> {
    // SAFETY: as the caller promises.
    let s = unsafe { str_arg(p, what) }?;
    s.parse().map_err(|_| fail_with(LT_ERROR_INVALID_ARG, format!("{what} '{s}' is not an IP address")))
}

fn filter_ref<'a>(f: *const lt_ip_filter_t) -> Result<&'a IpFilter, lt_error> {
    non_null(f, "filter")?;
    // SAFETY: non-NULL; the caller promises a live filter.
    Ok(unsafe { &(*f).inner })
}

fn filter_mut<'a>(f: *mut lt_ip_filter_t) -> Result<&'a mut IpFilter, lt_error> {
    non_null(f, "filter")?;
    // SAFETY: non-NULL; the caller promises a live filter used by no one else now.
    Ok(unsafe { &mut (*f).inner })
}

fn port_filter_ref<'a>(f: *const lt_port_filter_t) -> Result<&'a PortFilter, lt_error> {
    non_null(f, "filter")?;
    // SAFETY: non-NULL; the caller promises a live filter.
    Ok(unsafe { &(*f).inner })
}

/// An empty IP filter (everything allowed).
///
/// **Ownership:** the caller frees it with `lt_ip_filter_free`.
/// **Thread safety:** any thread.
#[no_mangle]
pub extern "C" fn lt_ip_filter_new() -> *mut lt_ip_filter_t {
    ffi_call(|| Box::into_raw(Box::new(lt_ip_filter_t { inner: IpFilter::new() })))
}

/// Frees an IP filter. NULL is a no-op.
///
/// # Safety
/// `f` must be NULL or from `lt_ip_filter_new` or
/// `lt_session_get_ip_filter`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn lt_ip_filter_free(f: *mut lt_ip_filter_t) {
    // SAFETY: forwarded caller promise: NULL or from Box::into_raw, not yet freed.
    ffi_call(|| unsafe { free_box(f) })
}

/// Adds a rule: addresses `first` to `last` inclusive (both IPv4 or both
/// IPv6, in standard text form) get `flags`, over the earlier rules.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for an
/// address that does not parse, ends of different families or `first`
/// above `last`; `LT_ERROR_LIMIT_REACHED` when the filter holds 2 000 000
/// rules. The filter is unchanged on error.
///
/// # Safety
/// `f` must be live; `first` and `last` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn lt_ip_filter_add_rule(
    f: *mut lt_ip_filter_t,
    first: *const c_char,
    last: *const c_char,
    flags: u32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let filter = filter_mut(f)?;
            // SAFETY: the caller promises valid strings.
            let (a, b) = unsafe { (ip_arg(first, "first")?, ip_arg(last, "last")?) };
            filter.add_rule(a, b, flags).map_err(rule_error)
        })())
    })
}

/// Removes the rule(s) added with exactly these `first` and `last`
/// addresses (whatever their flags) and recomputes the filter from the
/// remaining rules in their order: the addresses they covered get what the
/// other rules say, as if the removed rules had never been added.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` as
/// `lt_ip_filter_add_rule`; `LT_ERROR_NOT_FOUND` when no rule has these
/// ends (the filter is unchanged).
///
/// # Safety
/// `f` must be live; `first` and `last` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn lt_ip_filter_remove_rule(
    f: *mut lt_ip_filter_t,
    first: *const c_char,
    last: *const c_char,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let filter = filter_mut(f)?;
            // SAFETY: the caller promises valid strings.
            let (a, b) = unsafe { (ip_arg(first, "first")?, ip_arg(last, "last")?) };
            filter.remove_rule(a, b).map(|_| ()).map_err(rule_error)
        })())
    })
}

/// The flags of address `ip` into `*flags_out` (0: allowed;
/// `LT_IP_FILTER_BLOCKED` set: blocked).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` when
/// `ip` is not an IP address.
///
/// # Safety
/// `f` must be live; `ip` a NUL-terminated string; `flags_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_ip_filter_access(
    f: *const lt_ip_filter_t,
    ip: *const c_char,
    flags_out: *mut u32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let filter = filter_ref(f)?;
            non_null(flags_out, "flags_out")?;
            // SAFETY: the caller promises a valid string.
            let addr = unsafe { ip_arg(ip, "ip") }?;
            // SAFETY: checked non-NULL.
            unsafe { *flags_out = filter.access(addr) };
            Ok(())
        })())
    })
}

/// The resulting ranges, as libtorrent's `export_filter` gives them:
/// merged (neighbours never have the same flags) and covering the whole
/// address space, allowed ranges (flags 0) included; the IPv4 ranges first,
/// then the IPv6 ones. An empty filter exports two ranges, all of IPv4 and
/// all of IPv6, flags 0. At most `cap` ranges are written to `ranges`, an
/// array whose elements are `elem_size` bytes apart (pass `sizeof
/// ranges[0]`; see docs/abi.md), NULL when `cap` is 0; the number there is
/// goes to `*count_out`, which may exceed `cap`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_BUFFER_TOO_SMALL`
/// when `elem_size` is under 8.
///
/// # Safety
/// `f` must be live; `ranges` writable for `cap * elem_size` bytes; `count_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_ip_filter_export(
    f: *const lt_ip_filter_t,
    ranges: *mut lt_ip_range_t,
    elem_size: usize,
    cap: usize,
    count_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let filter = filter_ref(f)?;
            let convert = |r: &IpRule| {
                let mut out = lt_ip_range_t { struct_size: 0, first: [0; 46], last: [0; 46], flags: r.flags };
                copy_to_array(&r.first.to_string(), &mut out.first);
                copy_to_array(&r.last.to_string(), &mut out.last);
                out
            };
            // SAFETY: forwarded caller promises about ranges/elem_size/cap/count_out.
            unsafe {
                fill_struct_array(&filter.export(), ranges, elem_size, cap, count_out, "ranges", convert)
            }?;
            Ok(())
        })())
    })
}

fn blocklist_format(format: u32) -> Result<BlocklistFormat, lt_error> {
    match format {
        LT_BLOCKLIST_AUTO => Ok(BlocklistFormat::Auto),
        LT_BLOCKLIST_P2P => Ok(BlocklistFormat::P2p),
        LT_BLOCKLIST_DAT => Ok(BlocklistFormat::Dat),
        n => Err(fail_with(LT_ERROR_INVALID_ARG, format!("unknown blocklist format {n}"))),
    }
}

/// The import both entry points share, once the bytes are in memory.
///
/// # Safety
/// `on_error` must be NULL or callable with `user`; the outputs writable.
unsafe fn import(
    filter: &mut IpFilter,
    data: &[u8],
    format: u32,
    on_error: lt_blocklist_error_fn,
    user: *mut c_void,
    added_out: *mut usize,
    rejected_out: *mut usize,
) -> Result<(), lt_error> {
    let format = blocklist_format(format)?;
    let mut report = |line: usize, message: &str| {
        if let Some(cb) = on_error {
            let message = cstring(message);
            // SAFETY: the caller promises the callback takes `user`.
            unsafe { cb(user, line, message.as_ptr()) };
        }
    };
    match parse_blocklist(filter, data, format, &mut report) {
        Ok(counts) => {
            // SAFETY: checked non-NULL by the callers.
            unsafe {
                *added_out = counts.added;
                *rejected_out = counts.rejected;
            }
            Ok(())
        }
        Err(limit) => Err(fail_with(
            LT_ERROR_LIMIT_REACHED,
            format!(
                "blocklist line {}: the filter holds its most rules ({}); the {} rules before it were added",
                limit.line,
                crate::proto::ip_filter::MAX_RULES,
                limit.counts.added
            ),
        )),
    }
}

/// Adds a blocklist's ranges to the filter as blocking rules, in the order
/// of its lines. `format` is `LT_BLOCKLIST_P2P`, `LT_BLOCKLIST_DAT` or
/// `LT_BLOCKLIST_AUTO` (the format of the first data line that parses as
/// one of them). Blank lines and comments (`#` or `//` first) are skipped.
/// Each bad line (no range, an address that does not parse, a reversed
/// range, a line over 4096 bytes) is reported to `on_error` (may be NULL)
/// with its number and the reason, and skipped; nothing is guessed.
/// `*added_out` gets the rules added, `*rejected_out` the bad lines.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` for an
/// unknown format; `LT_ERROR_LIMIT_REACHED` when the filter fills up (2 000
/// 000 rules): the rules added until then stay.
///
/// # Safety
/// `f` must be live; `data` readable for `len` bytes; `on_error` NULL or a
/// function taking `user`; the outputs writable.
#[no_mangle]
pub unsafe extern "C" fn lt_ip_filter_import(
    f: *mut lt_ip_filter_t,
    data: *const u8,
    len: usize,
    format: u32,
    on_error: lt_blocklist_error_fn,
    user: *mut c_void,
    added_out: *mut usize,
    rejected_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let filter = filter_mut(f)?;
            non_null(data, "data")?;
            non_null(added_out, "added_out")?;
            non_null(rejected_out, "rejected_out")?;
            // SAFETY: the caller promises len readable bytes.
            let bytes = unsafe { std::slice::from_raw_parts(data, len) };
            // SAFETY: as the caller promises.
            unsafe { import(filter, bytes, format, on_error, user, added_out, rejected_out) }
        })())
    })
}

/// As `lt_ip_filter_import`, reading the blocklist from the regular file
/// `path` (at most 512 MiB).
///
/// **Returns** as `lt_ip_filter_import`, and `LT_ERROR_IO` when the file
/// cannot be read, `LT_ERROR_INVALID_ARG` when it is not a regular file or
/// is too large.
///
/// # Safety
/// `f` must be live; `path` a NUL-terminated string; `on_error` NULL or a
/// function taking `user`; the outputs writable.
#[no_mangle]
pub unsafe extern "C" fn lt_ip_filter_import_file(
    f: *mut lt_ip_filter_t,
    path: *const c_char,
    format: u32,
    on_error: lt_blocklist_error_fn,
    user: *mut c_void,
    added_out: *mut usize,
    rejected_out: *mut usize,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let filter = filter_mut(f)?;
            // SAFETY: the caller promises a valid string.
            let path = unsafe { str_arg(path, "path") }?;
            non_null(added_out, "added_out")?;
            non_null(rejected_out, "rejected_out")?;
            let bytes = bounded_read::read_file(Path::new(path), MAX_BLOCKLIST_FILE)
                .map_err(|e| fail(Error::new(e.kind(), format!("blocklist {}", e.message()))))?;
            // SAFETY: as the caller promises.
            unsafe { import(filter, &bytes, format, on_error, user, added_out, rejected_out) }
        })())
    })
}

/// Sets the session's IP filter (copied; NULL: no filter). Peers it
/// blocks are neither dialled nor accepted, whatever told us of them
/// (trackers, the application, resume data, PEX, the DHT, LSD); connected
/// peers it blocks are closed now. Each refusal posts a peer_blocked alert
/// (category `LT_ALERT_CATEGORY_IP_BLOCK`) and counts in
/// `peer.blocked_by_ip_filter`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`.
/// **Thread safety:** any thread.
///
/// # Safety
/// `s` must be a live session; `filter` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_session_set_ip_filter(
    s: *mut lt_session_t,
    filter: *const lt_ip_filter_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            let f = if filter.is_null() { IpFilter::new() } else { filter_ref(filter)?.clone() };
            ses.set_ip_filter(f);
            Ok(())
        })())
    })
}

/// A copy of the session's IP filter into `*filter_out` (empty when none
/// was set).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`.
/// **Ownership:** the caller frees the filter with `lt_ip_filter_free`.
/// **Thread safety:** any thread.
///
/// # Safety
/// `s` must be a live session; `filter_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_session_get_ip_filter(
    s: *mut lt_session_t,
    filter_out: *mut *mut lt_ip_filter_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            non_null(filter_out, "filter_out")?;
            // SAFETY: checked non-NULL.
            unsafe { *filter_out = std::ptr::null_mut() };
            let ses = session_ref(s)?;
            let f = Box::into_raw(Box::new(lt_ip_filter_t { inner: ses.ip_filter() }));
            // SAFETY: checked non-NULL.
            unsafe { *filter_out = f };
            Ok(())
        })())
    })
}

/// An empty port filter (every port allowed).
///
/// **Ownership:** the caller frees it with `lt_port_filter_free`.
/// **Thread safety:** any thread.
#[no_mangle]
pub extern "C" fn lt_port_filter_new() -> *mut lt_port_filter_t {
    ffi_call(|| Box::into_raw(Box::new(lt_port_filter_t { inner: PortFilter::new() })))
}

/// Frees a port filter. NULL is a no-op.
///
/// # Safety
/// `f` must be NULL or from `lt_port_filter_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn lt_port_filter_free(f: *mut lt_port_filter_t) {
    // SAFETY: forwarded caller promise: NULL or from Box::into_raw, not yet freed.
    ffi_call(|| unsafe { free_box(f) })
}

/// Adds a rule: ports `first` to `last` inclusive get `flags`, over the
/// earlier rules.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_INVALID_ARG` when
/// `first` is above `last`; `LT_ERROR_LIMIT_REACHED` past 2 000 000 rules.
///
/// # Safety
/// `f` must be live.
#[no_mangle]
pub unsafe extern "C" fn lt_port_filter_add_rule(
    f: *mut lt_port_filter_t,
    first: u16,
    last: u16,
    flags: u32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            non_null(f, "filter")?;
            // SAFETY: non-NULL; the caller promises a live filter used by no one else now.
            let filter = unsafe { &mut (*f).inner };
            filter.add_rule(first, last, flags).map_err(rule_error)
        })())
    })
}

/// The flags of `port` into `*flags_out`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`.
///
/// # Safety
/// `f` must be live; `flags_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_port_filter_access(
    f: *const lt_port_filter_t,
    port: u16,
    flags_out: *mut u32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let filter = port_filter_ref(f)?;
            non_null(flags_out, "flags_out")?;
            // SAFETY: checked non-NULL.
            unsafe { *flags_out = filter.access(port) };
            Ok(())
        })())
    })
}

/// Sets the session's port filter (copied; NULL: no filter). It judges the
/// ports of the peers the session dials, as libtorrent's does; connected
/// outgoing peers it blocks are closed now. Each refusal posts a
/// peer_blocked alert (reason 1) and counts in `peer.blocked_by_port_filter`.
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`.
/// **Thread safety:** any thread.
///
/// # Safety
/// `s` must be a live session; `filter` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn lt_session_set_port_filter(
    s: *mut lt_session_t,
    filter: *const lt_port_filter_t,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let ses = session_ref(s)?;
            let f = if filter.is_null() { PortFilter::new() } else { port_filter_ref(filter)?.clone() };
            ses.set_port_filter(f);
            Ok(())
        })())
    })
}

/// Why a peer_blocked alert's peer was blocked, libtorrent's
/// `peer_blocked_alert::reason_t` numbers: 0 the IP filter, 1 the port
/// filter, 4 an incoming uTP connection while `enable_incoming_utp` is off,
/// 5 an incoming TCP connection while `enable_incoming_tcp` is off (lt has
/// no i2p, privileged-port or SSRF rules, so 2, 3, 6 and 7 do not occur).
///
/// **Returns** `LT_OK`; `LT_ERROR_NULL_ARG`; `LT_ERROR_WRONG_ALERT_TYPE`.
///
/// # Safety
/// `a` must be a live alert; `reason_out` writable.
#[no_mangle]
pub unsafe extern "C" fn lt_alert_peer_blocked_reason(
    a: *const lt_alert_t,
    reason_out: *mut i32,
) -> lt_error {
    ffi_call(|| {
        code((|| {
            let alert = alert_ref(a)?;
            non_null(reason_out, "reason_out")?;
            let AlertKind::PeerBlocked { reason, .. } = &alert.kind else { return Err(wrong_type(alert)) };
            // SAFETY: checked non-NULL.
            unsafe { *reason_out = reason.code() };
            Ok(())
        })())
    })
}
