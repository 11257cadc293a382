//! Statistics export: JSON, CSV and the Prometheus text format, the binary
//! snapshot, and the optional HTTP endpoint (`stats_listen`) that serves
//! them with a live dashboard.
//!
//! JSON goes through serde_json and CSV through the csv crate (quoting of
//! torrent names); the Prometheus text format is written here, following
//! the exposition format (HELP/TYPE lines, escaped label values). The
//! binary snapshot is in `binary`, the HTTP endpoint in `http`, the
//! dashboard's event stream in `events` and its page in dashboard.html.

pub mod binary;
mod events;
mod http;

pub(crate) use http::serve;

use std::fmt::Write as _;

use serde_json::json;

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::session::SessionCore;
use crate::engine::stats::{MetricKind, METRICS};
use crate::engine::torrent::TorrentStatus;

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
    Prometheus,
    /// The binary snapshot of `binary`: bytes, not text, so it comes from
    /// `binary::export_binary` (`Session::export_stats_binary`), and
    /// `export` refuses it.
    Binary,
}

/// What every export is made from: one consistent read of the counters and
/// of each torrent's status.
struct Snapshot {
    counters: Box<[i64]>,
    torrents: Vec<(TorrentStatus, PeerSummary)>,
}

/// Figures over a torrent's connected peers.
#[derive(Default, Clone, Copy)]
struct PeerSummary {
    connected: u32,
    seeds: u32,
    interested: u32,
    unchoked: u32,
    download_rate: i64,
    upload_rate: i64,
}

fn snapshot(core: &SessionCore) -> Snapshot {
    core.refresh_live_gauges();
    let counters = core.counters.snapshot();
    let torrents: Vec<_> = core.torrents.read().values().cloned().collect();
    let torrents = torrents
        .iter()
        .map(|t| {
            let mut s = PeerSummary::default();
            for p in t.peers() {
                let i = p.info();
                s.connected += 1;
                s.seeds += p.is_seed() as u32;
                s.interested += p.peer_interested() as u32;
                s.unchoked += (!p.am_choking()) as u32;
                s.download_rate += i.download_rate;
                s.upload_rate += i.upload_rate;
            }
            (t.status(), s)
        })
        .collect();
    Snapshot { counters, torrents }
}

/// Exports the session's statistics in a text `format`.
pub(crate) fn export(core: &SessionCore, format: ExportFormat) -> Result<String> {
    match format {
        ExportFormat::Json => Ok(to_json(&snapshot(core))),
        ExportFormat::Csv => to_csv(&snapshot(core)),
        ExportFormat::Prometheus => Ok(to_prometheus(&snapshot(core))),
        ExportFormat::Binary => Err(Error::new(
            ErrorKind::InvalidArgument,
            "the binary snapshot is bytes, not text: use export_stats_binary",
        )),
    }
}

/// One figure of a torrent's status, as JSON and CSV write it.
#[derive(Clone, Debug, PartialEq)]
pub enum StatusValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl StatusValue {
    fn json(&self) -> serde_json::Value {
        match self {
            StatusValue::Int(v) => json!(v),
            StatusValue::Float(v) => json!(v),
            StatusValue::Bool(v) => json!(v),
            StatusValue::Text(v) => json!(v),
        }
    }

    fn csv(&self) -> String {
        match self {
            StatusValue::Int(v) => v.to_string(),
            StatusValue::Float(v) => format!("{v:.6}"),
            StatusValue::Bool(v) => (*v as u8).to_string(),
            StatusValue::Text(v) => v.clone(),
        }
    }
}

/// A status field: its name and how to read it.
pub type StatusField = (&'static str, fn(&TorrentStatus) -> StatusValue);

/// The name of an error kind as JSON and CSV write `error_code` (the C
/// struct carries the matching `LT_ERROR_*` number); "ok" without error.
fn error_kind_name(st: &TorrentStatus) -> StatusValue {
    StatusValue::Text(st.error.as_ref().map_or("ok", |e| e.kind.name()).into())
}

/// Every field of a torrent's status, in the order of the C struct
/// `lt_torrent_status_t` (after its `struct_size`). JSON and CSV are written
/// from this list, and a test in `ffi::torrent` checks it against the struct
/// in include/lt.h, so the three name the same fields in the same order.
/// Only the representation differs: C has numbers and fixed arrays where
/// JSON and CSV have names and hex (`state`, `error_code`, `info_hash`).
pub const STATUS_FIELDS: &[StatusField] = {
    use StatusValue::{Bool, Float, Int, Text};
    &[
        ("state", |s| Text(s.state.name().into())),
        ("paused", |s| Bool(s.paused)),
        ("error_code", error_kind_name),
        ("progress", |s| Float(s.progress)),
        ("pieces_done", |s| Int(s.pieces_done.into())),
        ("pieces_total", |s| Int(s.pieces_total.into())),
        ("total_done", |s| Int(s.total_done as i64)),
        ("total_wanted", |s| Int(s.total_wanted as i64)),
        ("total_wanted_done", |s| Int(s.total_wanted_done as i64)),
        ("total_size", |s| Int(s.total_size as i64)),
        ("download_rate", |s| Int(s.download_rate)),
        ("upload_rate", |s| Int(s.upload_rate)),
        ("download_payload_rate", |s| Int(s.download_payload_rate)),
        ("upload_payload_rate", |s| Int(s.upload_payload_rate)),
        ("total_download", |s| Int(s.total_download)),
        ("total_upload", |s| Int(s.total_upload)),
        ("total_payload_download", |s| Int(s.total_payload_download)),
        ("total_payload_upload", |s| Int(s.total_payload_upload)),
        ("total_wasted", |s| Int(s.total_wasted)),
        ("num_hash_failures", |s| Int(s.num_hash_failures)),
        ("num_peers", |s| Int(s.num_peers.into())),
        ("num_seeds", |s| Int(s.num_seeds.into())),
        ("list_seeds", |s| Int(s.list_seeds)),
        ("list_peers", |s| Int(s.list_peers)),
        ("info_hash", |s| Text(s.info_hash.to_hex())),
        ("name", |s| Text(s.name.clone())),
        ("error_message", |s| Text(s.error.as_ref().map(|e| e.message.clone()).unwrap_or_default())),
        ("save_path", |s| Text(s.save_path.to_string_lossy().into_owned())),
        ("avg_peer_rtt_us", |s| Int(s.avg_peer_rtt_us)),
        ("max_peer_rtt_us", |s| Int(s.max_peer_rtt_us)),
        ("peak_download_rate", |s| Int(s.peak_download_rate)),
        ("peak_upload_rate", |s| Int(s.peak_upload_rate)),
        ("active_time_s", |s| Int(s.active_time_s)),
        ("finished_time_s", |s| Int(s.finished_time_s)),
        ("seeding_time_s", |s| Int(s.seeding_time_s)),
        ("eta_s", |s| Int(s.eta_s)),
        ("distributed_copies", |s| Float(s.distributed_copies)),
        ("queue_position", |s| Int(s.queue_position)),
        ("auto_managed", |s| Bool(s.auto_managed)),
        ("queued", |s| Bool(s.queued)),
        ("sequential", |s| Bool(s.sequential)),
        ("max_connections", |s| Int(s.max_connections.into())),
        ("download_limit", |s| Int(s.download_limit)),
        ("upload_limit", |s| Int(s.upload_limit)),
        ("added_time", |s| Int(s.added_time)),
        ("completed_time", |s| Int(s.completed_time)),
    ]
};

/// A torrent in JSON: its session id, every status field, and a summary of
/// its connected peers.
fn torrent_json(st: &TorrentStatus, p: &PeerSummary) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("id".into(), json!(st.id.0));
    for (name, read) in STATUS_FIELDS {
        map.insert((*name).into(), read(st).json());
    }
    map.insert(
        "peers".into(),
        json!({
            "connected": p.connected,
            "seeds": p.seeds,
            "interested": p.interested,
            "unchoked": p.unchoked,
            "download_rate": p.download_rate,
            "upload_rate": p.upload_rate,
        }),
    );
    serde_json::Value::Object(map)
}

fn to_json(snap: &Snapshot) -> String {
    let session: serde_json::Map<String, serde_json::Value> =
        METRICS.iter().zip(snap.counters.iter()).map(|(m, v)| (m.name.to_string(), json!(v))).collect();
    let torrents: Vec<_> = snap.torrents.iter().map(|(st, p)| torrent_json(st, p)).collect();
    json!({ "version": env!("CARGO_PKG_VERSION"), "session": session, "torrents": torrents }).to_string()
}

/// CSV: a header row (`id`, then every status field), one row per torrent.
fn to_csv(snap: &Snapshot) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::new(ErrorKind::Io, format!("writing CSV: {e}"));
    let header = std::iter::once("id").chain(STATUS_FIELDS.iter().map(|(name, _)| *name));
    w.write_record(header).map_err(err)?;
    for (st, _) in &snap.torrents {
        let row =
            std::iter::once(st.id.0.to_string()).chain(STATUS_FIELDS.iter().map(|(_, read)| read(st).csv()));
        w.write_record(row).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::new(ErrorKind::Io, format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::new(ErrorKind::Io, format!("writing CSV: {e}")))
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn to_prometheus(snap: &Snapshot) -> String {
    let mut out = String::new();
    for (m, v) in METRICS.iter().zip(snap.counters.iter()) {
        let mut name = format!("lt_{}", m.name.replace('.', "_"));
        let typ = match m.kind {
            MetricKind::Counter => {
                name.push_str("_total");
                "counter"
            }
            MetricKind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# HELP {name} {} ({})", m.description, m.unit);
        let _ = writeln!(out, "# TYPE {name} {typ}");
        let _ = writeln!(out, "{name} {v}");
    }
    type Field = fn(&TorrentStatus, &PeerSummary) -> f64;
    let series: &[(&str, &str, &str, Field)] = &[
        ("lt_torrent_progress", "gauge", "verified fraction of the wanted bytes", |s, _| s.progress),
        ("lt_torrent_pieces_done", "gauge", "verified pieces", |s, _| s.pieces_done as f64),
        ("lt_torrent_size_bytes", "gauge", "size of all files", |s, _| s.total_size as f64),
        ("lt_torrent_download_payload_rate", "gauge", "piece data received per second", |s, _| {
            s.download_payload_rate as f64
        }),
        ("lt_torrent_upload_payload_rate", "gauge", "piece data sent per second", |s, _| {
            s.upload_payload_rate as f64
        }),
        ("lt_torrent_payload_download_bytes_total", "counter", "piece data received", |s, _| {
            s.total_payload_download as f64
        }),
        ("lt_torrent_payload_upload_bytes_total", "counter", "piece data sent", |s, _| {
            s.total_payload_upload as f64
        }),
        ("lt_torrent_wasted_bytes_total", "counter", "piece data received but not used", |s, _| {
            s.total_wasted as f64
        }),
        ("lt_torrent_hash_failures_total", "counter", "pieces that failed the hash check", |s, _| {
            s.num_hash_failures as f64
        }),
        ("lt_torrent_peers", "gauge", "connected peers", |_, p| p.connected as f64),
        ("lt_torrent_seeds", "gauge", "connected peers that have every piece", |_, p| p.seeds as f64),
        (
            "lt_torrent_paused",
            "gauge",
            "1 when the torrent is paused: by the user, or held by the queue",
            |s, _| s.paused as u8 as f64,
        ),
    ];
    for (name, typ, help, f) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {typ}");
        for (st, p) in &snap.torrents {
            let _ = writeln!(
                out,
                "{name}{{info_hash=\"{}\",name=\"{}\",state=\"{}\"}} {}",
                st.info_hash.to_hex(),
                label(&st.name),
                st.state.name(),
                f(st, p)
            );
        }
    }
    out
}
