//! Ties the C header to the engine. cbindgen only copies literal constants
//! and fields, so the numbers C programs see are written twice: once in the
//! engine (alert types, categories, torrent states, peer flags, the status
//! field table) and once as `LT_*` literals in src/ffi. These tests read the
//! committed include/lt.h and fail when the two disagree, so neither can
//! drift, and a header that was not regenerated fails too.

use std::collections::BTreeMap;

use crate::engine::alerts::category;
use crate::engine::export::STATUS_FIELDS;
use crate::engine::{AlertType, Operation, TorrentState};

fn header() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/lt.h");
    std::fs::read_to_string(path).expect("include/lt.h (run cargo build to generate it)")
}

/// Every `#define NAME VALUE` of the header whose name starts with
/// `prefix`, with VALUE a number or `(1 << n)`.
fn defines(prefix: &str) -> BTreeMap<String, u64> {
    header()
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| l.split_once(' '))
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, value)| {
            let value = value.trim();
            let n = match value.strip_prefix("(1 << ").and_then(|v| v.strip_suffix(')')) {
                Some(shift) => 1u64 << shift.parse::<u32>().unwrap(),
                None => value.parse().unwrap_or_else(|_| panic!("{name} = {value}: not a number")),
            };
            (name.to_string(), n)
        })
        .collect()
}

/// The field names of `typedef struct NAME { ... } NAME;` in the header.
fn struct_fields(name: &str) -> Vec<String> {
    let text = header();
    let start =
        text.find(&format!("typedef struct {name} {{")).unwrap_or_else(|| panic!("{name} not in lt.h"));
    let body = &text[start..];
    let end = body.find(&format!("}} {name};")).unwrap();
    body[..end]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| l.ends_with(';') && !l.starts_with('*') && !l.starts_with("/*"))
        .map(|l| {
            let decl = l.trim_end_matches(';');
            let decl = decl.split('[').next().unwrap();
            decl.rsplit(' ').next().unwrap().trim_start_matches('*').to_string()
        })
        .collect()
}

/// Every struct with a body in the header: the output structs.
fn output_structs() -> Vec<String> {
    header()
        .lines()
        .filter_map(|l| l.strip_prefix("typedef struct "))
        .filter_map(|l| l.strip_suffix(" {"))
        .map(str::to_string)
        .collect()
}

#[test]
fn alert_type_constants_are_the_engine_table() {
    let c: BTreeMap<String, u64> =
        defines("LT_ALERT_").into_iter().filter(|(n, _)| !n.starts_with("LT_ALERT_CATEGORY_")).collect();
    let engine: BTreeMap<String, u64> =
        AlertType::ALL.iter().map(|t| (format!("LT_ALERT_{}", t.name().to_uppercase()), *t as u64)).collect();
    assert_eq!(c, engine);
    // The names C programs read at run time are the engine's too.
    for t in AlertType::ALL {
        // SAFETY: lt_alert_type_name answers a static NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(super::lt_alert_type_name(*t as u32)) };
        assert_eq!(name.to_str().unwrap(), t.name());
    }
}

#[test]
fn category_constants_are_the_engine_table() {
    let mut c = defines("LT_ALERT_CATEGORY_");
    assert_eq!(c.remove("LT_ALERT_CATEGORY_ALL"), Some(category::ALL as u64));
    let engine: BTreeMap<String, u64> = category::NAMED
        .iter()
        .map(|(name, bit)| (format!("LT_ALERT_CATEGORY_{}", name.to_uppercase()), *bit as u64))
        .collect();
    assert_eq!(c, engine);
    let known = category::NAMED.iter().fold(0, |acc, (_, bit)| acc | bit);
    for t in AlertType::ALL {
        assert_eq!(t.category() & !known, 0, "{} has a category bit without a name", t.name());
    }
}

/// Every torrent state; the match makes a new variant a compile error here.
fn every_state() -> Vec<TorrentState> {
    use TorrentState as S;
    let all = vec![S::CheckingFiles, S::DownloadingMetadata, S::Downloading, S::Finished, S::Seeding];
    for s in &all {
        match s {
            S::CheckingFiles | S::DownloadingMetadata | S::Downloading | S::Finished | S::Seeding => {}
        }
    }
    all
}

#[test]
fn state_constants_are_the_engine_states() {
    let engine: BTreeMap<String, u64> =
        every_state().iter().map(|s| (format!("LT_STATE_{}", s.name().to_uppercase()), *s as u64)).collect();
    assert_eq!(defines("LT_STATE_"), engine);
}

#[test]
fn peer_flag_constants_are_the_engine_flags() {
    use crate::engine::peer::flags as f;
    let engine: BTreeMap<String, u64> = [
        ("INTERESTING", f::INTERESTING),
        ("CHOKED", f::CHOKED),
        ("REMOTE_INTERESTED", f::REMOTE_INTERESTED),
        ("REMOTE_CHOKED", f::REMOTE_CHOKED),
        ("SEED", f::SEED),
        ("INCOMING", f::INCOMING),
        ("SNUBBED", f::SNUBBED),
        ("SUPPORTS_EXTENSIONS", f::SUPPORTS_EXTENSIONS),
        ("SUPPORTS_FAST", f::SUPPORTS_FAST),
        ("OPTIMISTIC_UNCHOKE", f::OPTIMISTIC_UNCHOKE),
        ("UTP_SOCKET", f::UTP_SOCKET),
        ("RC4_ENCRYPTED", f::RC4_ENCRYPTED),
        ("PLAINTEXT_ENCRYPTED", f::PLAINTEXT_ENCRYPTED),
    ]
    .into_iter()
    .map(|(n, v)| (format!("LT_PEER_{n}"), v as u64))
    .collect();
    let mut header = defines("LT_PEER_");
    header.retain(|name, _| !name.starts_with("LT_PEER_SOURCE_"));
    assert_eq!(header, engine);
}

#[test]
fn peer_source_constants_are_the_engine_sources() {
    use crate::engine::discovery::PeerSource;
    let engine: BTreeMap<String, u64> = PeerSource::ALL
        .iter()
        .map(|s| (format!("LT_PEER_SOURCE_{}", s.name().to_uppercase()), s.bit() as u64))
        .collect();
    assert_eq!(defines("LT_PEER_SOURCE_"), engine);
}

/// Each `LT_ADD_*` flag sets exactly its own field of the engine's
/// `AddTorrentParams`, and the header has no other flag.
#[test]
fn add_flags_map_onto_the_engine_params() {
    use super::params::*;
    type Field = fn(&crate::engine::AddTorrentParams) -> bool;
    let fields: [(&str, Field); 4] = [
        ("LT_ADD_PAUSED", |p| p.paused),
        ("LT_ADD_SEED_MODE", |p| p.seed_mode),
        ("LT_ADD_SEQUENTIAL", |p| p.sequential),
        ("LT_ADD_AUTO_MANAGED", |p| p.auto_managed),
    ];
    let c = defines("LT_ADD_");
    let mut names: Vec<String> = fields.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(c.keys().cloned().collect::<Vec<_>>(), names);
    let torrent = b"d4:infod6:lengthi5e4:name5:x.bin12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    for (name, _) in &fields {
        let p = lt_params_new();
        // SAFETY: p is a live pack; the data and path outlive the calls.
        let engine = unsafe {
            assert_eq!(lt_params_set_torrent_data(p, torrent.as_ptr(), torrent.len()), 0);
            assert_eq!(lt_params_set_save_path(p, c"/tmp".as_ptr()), 0);
            assert_eq!(lt_params_set_flags(p, c[*name]), 0);
            let e = (*p).to_engine().unwrap();
            lt_params_free(p);
            e
        };
        for (other, read) in &fields {
            assert_eq!(read(&engine), other == name, "{name} sets {other}?");
        }
    }
}

#[test]
fn status_fields_are_the_struct_fields_in_order() {
    let c = struct_fields("lt_torrent_status_t");
    assert_eq!(c[0], "struct_size");
    let table: Vec<&str> = STATUS_FIELDS.iter().map(|(name, _)| *name).collect();
    assert_eq!(c[1..].iter().map(String::as_str).collect::<Vec<_>>(), table);
}

#[test]
fn every_output_struct_starts_with_its_size() {
    let structs = output_structs();
    for name in [
        "lt_stats_t",
        "lt_torrent_status_t",
        "lt_peer_info_t",
        "lt_file_info_t",
        "lt_threshold_event_t",
        "lt_tracker_info_t",
    ] {
        assert!(structs.iter().any(|s| s == name), "{name} not in lt.h");
    }
    for name in &structs {
        assert_eq!(struct_fields(name)[0], "struct_size", "{name}");
    }
}

#[test]
fn operation_constants_are_the_engine_table() {
    let engine: BTreeMap<String, u64> = Operation::ALL
        .iter()
        .map(|o| (format!("LT_OPERATION_{}", o.name().to_uppercase()), *o as u64))
        .collect();
    assert_eq!(defines("LT_OPERATION_"), engine);
    for o in Operation::ALL {
        // SAFETY: lt_operation_name answers a static NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(super::lt_operation_name(*o as u32)) };
        assert_eq!(name.to_str().unwrap(), o.name());
    }
}
