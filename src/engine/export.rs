//! Statistics export: JSON, CSV and the Prometheus text format, and the
//! optional HTTP endpoint (`stats_listen`) that serves them.
//!
//! JSON goes through serde_json and CSV through the csv crate (quoting of
//! torrent names); the Prometheus text format is written here, following
//! the exposition format (HELP/TYPE lines, escaped label values).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Weak;

use serde_json::json;

use super::error::{Error, ErrorKind, Result};
use super::session::SessionCore;
use super::stats::{MetricKind, METRICS};
use super::torrent::TorrentStatus;

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
    Prometheus,
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

/// Exports the session's statistics in `format`.
pub(crate) fn export(core: &SessionCore, format: ExportFormat) -> Result<String> {
    let snap = snapshot(core);
    match format {
        ExportFormat::Json => Ok(to_json(&snap)),
        ExportFormat::Csv => to_csv(&snap),
        ExportFormat::Prometheus => Ok(to_prometheus(&snap)),
    }
}

fn torrent_json(st: &TorrentStatus, p: &PeerSummary) -> serde_json::Value {
    json!({
        "id": st.id.0,
        "info_hash": st.info_hash.to_hex(),
        "name": st.name,
        "save_path": st.save_path.to_string_lossy(),
        "state": st.state.name(),
        "paused": st.paused,
        "error": st.error.as_ref().map(|e| e.message.clone()),
        "progress": st.progress,
        "pieces_done": st.pieces_done,
        "pieces_total": st.pieces_total,
        "total_done": st.total_done,
        "total_wanted": st.total_wanted,
        "total_wanted_done": st.total_wanted_done,
        "total_size": st.total_size,
        "download_rate": st.download_rate,
        "upload_rate": st.upload_rate,
        "download_payload_rate": st.download_payload_rate,
        "upload_payload_rate": st.upload_payload_rate,
        "total_download": st.total_download,
        "total_upload": st.total_upload,
        "total_payload_download": st.total_payload_download,
        "total_payload_upload": st.total_payload_upload,
        "total_wasted": st.total_wasted,
        "num_hash_failures": st.num_hash_failures,
        "num_peers": st.num_peers,
        "num_seeds": st.num_seeds,
        "list_seeds": st.list_seeds,
        "list_peers": st.list_peers,
        "peers": {
            "connected": p.connected,
            "seeds": p.seeds,
            "interested": p.interested,
            "unchoked": p.unchoked,
            "download_rate": p.download_rate,
            "upload_rate": p.upload_rate,
        },
    })
}

fn to_json(snap: &Snapshot) -> String {
    let session: serde_json::Map<String, serde_json::Value> =
        METRICS.iter().zip(snap.counters.iter()).map(|(m, v)| (m.name.to_string(), json!(v))).collect();
    let torrents: Vec<_> = snap.torrents.iter().map(|(st, p)| torrent_json(st, p)).collect();
    json!({ "version": env!("CARGO_PKG_VERSION"), "session": session, "torrents": torrents }).to_string()
}

/// The CSV columns, one row per torrent.
const CSV_COLUMNS: &[&str] = &[
    "id",
    "info_hash",
    "name",
    "state",
    "paused",
    "error",
    "progress",
    "pieces_done",
    "pieces_total",
    "total_done",
    "total_wanted",
    "total_size",
    "download_rate",
    "upload_rate",
    "download_payload_rate",
    "upload_payload_rate",
    "total_download",
    "total_upload",
    "total_payload_download",
    "total_payload_upload",
    "total_wasted",
    "num_hash_failures",
    "num_peers",
    "num_seeds",
    "list_seeds",
    "list_peers",
];

fn to_csv(snap: &Snapshot) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::new(ErrorKind::Io, format!("writing CSV: {e}"));
    w.write_record(CSV_COLUMNS).map_err(err)?;
    for (st, _) in &snap.torrents {
        let row = [
            st.id.0.to_string(),
            st.info_hash.to_hex(),
            st.name.clone(),
            st.state.name().to_string(),
            (st.paused as u8).to_string(),
            st.error.as_ref().map(|e| e.message.clone()).unwrap_or_default(),
            format!("{:.6}", st.progress),
            st.pieces_done.to_string(),
            st.pieces_total.to_string(),
            st.total_done.to_string(),
            st.total_wanted.to_string(),
            st.total_size.to_string(),
            st.download_rate.to_string(),
            st.upload_rate.to_string(),
            st.download_payload_rate.to_string(),
            st.upload_payload_rate.to_string(),
            st.total_download.to_string(),
            st.total_upload.to_string(),
            st.total_payload_download.to_string(),
            st.total_payload_upload.to_string(),
            st.total_wasted.to_string(),
            st.num_hash_failures.to_string(),
            st.num_peers.to_string(),
            st.num_seeds.to_string(),
            st.list_seeds.to_string(),
            st.list_peers.to_string(),
        ];
        w.write_record(&row).map_err(err)?;
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
        ("lt_torrent_paused", "gauge", "1 when paused or stopped by an error", |s, _| {
            (s.paused || s.error.is_some()) as u8 as f64
        }),
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

/// Serves `GET /metrics` (Prometheus) and `GET /stats` (JSON) on `addr`
/// until the session stops. Answers the bound address.
pub(crate) async fn serve(
    core: Weak<SessionCore>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper::{Method, Response, StatusCode};

    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let shutdown = match core.upgrade() {
        Some(c) => c.shutdown.clone(),
        None => return Err(std::io::Error::other("session gone")),
    };
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else { continue };
            let core = core.clone();
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let core = core.clone();
                async move {
                    let reply = |status: StatusCode, ctype: &str, body: String| {
                        Response::builder()
                            .status(status)
                            .header("content-type", ctype)
                            .body(Full::new(Bytes::from(body)))
                    };
                    let Some(core) = core.upgrade() else {
                        return reply(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "text/plain",
                            "session stopped\n".into(),
                        );
                    };
                    let (format, ctype) = match (req.method(), req.uri().path()) {
                        (&Method::GET, "/metrics") => (ExportFormat::Prometheus, "text/plain; version=0.0.4"),
                        (&Method::GET, "/stats") => (ExportFormat::Json, "application/json"),
                        _ => {
                            return reply(
                                StatusCode::NOT_FOUND,
                                "text/plain",
                                "try /metrics or /stats\n".into(),
                            )
                        }
                    };
                    match export(&core, format) {
                        Ok(body) => reply(StatusCode::OK, ctype, body),
                        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("{e}\n")),
                    }
                }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    Ok((local, task))
}
