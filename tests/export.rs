//! Statistics export checked with real parsers: serde_json, the csv crate,
//! Python's prometheus_client text parser, and curl against the HTTP
//! endpoint (`stats_listen`).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lt::engine::create::{create_torrent, CreateOptions};
use lt::engine::export::ExportFormat;
use lt::engine::{AddTorrentParams, Session, Settings, TorrentSource, TorrentState};
use lt::proto::metainfo::Metainfo;

/// A torrent whose name needs quoting in CSV and escaping in labels.
const NAME: &str = "we\"ird, name";

/// Parses Prometheus text with prometheus_client and prints
/// `family type sample labels value` lines.
const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.read()
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        print(fam.name, fam.type, s.name, ",".join("%s=%s" % kv for kv in sorted(s.labels.items())), s.value)
"#;

fn parse_prometheus(text: &str) -> Vec<(String, String, String, String, f64)> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (with pip package prometheus_client: .ci/run installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "prometheus_client rejected the text");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let parts: Vec<&str> = l.splitn(4, ' ').collect();
            let (labels, value) = parts[3].rsplit_once(' ').unwrap();
            (parts[0].into(), parts[1].into(), parts[2].into(), labels.into(), value.parse().unwrap())
        })
        .collect()
}

fn curl(url: &str) -> (u32, String) {
    let out = Command::new("curl").args(["-s", "-w", "\n%{http_code}", url]).output().expect("curl");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

#[test]
fn json_csv_prometheus_and_http() {
    let dir = std::env::temp_dir().join(format!("lt-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let content = dir.join(NAME);
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("a.bin"), vec![7u8; 300_001]).unwrap();
    let opts = CreateOptions { piece_length: Some(32 * 1024), ..Default::default() };
    let meta =
        Arc::new(Metainfo::from_bytes(&create_torrent(&content, &opts, &mut |_, _| {}).unwrap()).unwrap());
    assert_eq!(meta.name, NAME);

    let base = Settings { listen_interfaces: "127.0.0.1:0".into(), ..Settings::default() };
    let seeder = Session::new(base.clone()).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir);
    p.seed_mode = true;
    seeder.add_torrent(p).unwrap();
    let ses = Session::new(Settings { stats_listen: "127.0.0.1:0".into(), ..base }).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.join("leech"));
    p.peers.push(format!("127.0.0.1:{}", seeder.listen_port().unwrap()).parse().unwrap());
    let id = ses.add_torrent(p).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ses.torrent_status(id).unwrap().state != TorrentState::Seeding {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let n = meta.lengths.total_length() as f64;
    let ih = meta.info_hash.to_hex();

    // JSON
    let v: serde_json::Value = serde_json::from_str(&ses.export_stats(ExportFormat::Json).unwrap()).unwrap();
    assert!(v["session"]["net.recv_payload_bytes"].as_f64().unwrap() >= n);
    assert_eq!(v["session"]["ses.num_torrents"], 1);
    let t = &v["torrents"][0];
    assert_eq!(t["info_hash"], ih.as_str());
    assert_eq!(t["name"], NAME);
    assert_eq!(t["state"], "seeding");
    assert_eq!(t["progress"], 1.0);
    assert!(t["peers"]["connected"].is_u64());

    // CSV
    let text = ses.export_stats(ExportFormat::Csv).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("name")], NAME);
    assert_eq!(&rows[0][col("info_hash")], ih);
    assert_eq!(&rows[0][col("state")], "seeding");
    assert!(rows[0][col("total_payload_download")].parse::<f64>().unwrap() >= n);

    // Prometheus, through the real parser.
    let check = |text: &str| {
        let samples = parse_prometheus(text);
        let find = |sample: &str| {
            samples.iter().find(|s| s.2 == sample).unwrap_or_else(|| panic!("{sample} missing"))
        };
        let recv = find("lt_net_recv_payload_bytes_total");
        assert_eq!(recv.1, "counter");
        assert!(recv.4 >= n);
        assert_eq!(find("lt_ses_num_torrents").4, 1.0);
        let progress = find("lt_torrent_progress");
        assert_eq!(progress.4, 1.0);
        assert!(progress.3.contains(&format!("info_hash={ih}")), "{}", progress.3);
        assert!(progress.3.contains(&format!("name={NAME}")), "labels unescaped back: {}", progress.3);
        let families: std::collections::HashSet<&str> = samples.iter().map(|s| s.0.as_str()).collect();
        assert!(families.len() >= lt::engine::stats::METRICS.len());
    };
    check(&ses.export_stats(ExportFormat::Prometheus).unwrap());

    // The HTTP endpoint, with curl.
    let addr = ses.stats_listen_addr().expect("stats endpoint listening");
    let (code, body) = curl(&format!("http://{addr}/metrics"));
    assert_eq!(code, 200);
    check(&body);
    let (code, body) = curl(&format!("http://{addr}/stats"));
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["torrents"][0]["info_hash"], ih.as_str());
    assert_eq!(curl(&format!("http://{addr}/nope")).0, 404);

    // "paused" means the torrent's paused flag everywhere: a torrent added
    // paused has it; the seeding one has not, even while the whole session
    // is paused (a session pause is apart, as in libtorrent).
    let other = content.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("b.bin"), vec![9u8; 40_000]).unwrap();
    let meta2 =
        Arc::new(Metainfo::from_bytes(&create_torrent(&other, &opts, &mut |_, _| {}).unwrap()).unwrap());
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta2.clone()), dir.join("paused"));
    p.paused = true;
    let paused_id = ses.add_torrent(p).unwrap();
    ses.pause();
    assert!(ses.torrent_status(paused_id).unwrap().paused);
    assert!(!ses.torrent_status(id).unwrap().paused);
    let paused_ih = meta2.info_hash.to_hex();
    let v: serde_json::Value = serde_json::from_str(&ses.export_stats(ExportFormat::Json).unwrap()).unwrap();
    let json_paused: Vec<(String, bool)> = v["torrents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["info_hash"].as_str().unwrap().to_string(), t["paused"].as_bool().unwrap()))
        .collect();
    assert!(json_paused.contains(&(paused_ih.clone(), true)), "{json_paused:?}");
    assert!(json_paused.contains(&(ih.clone(), false)), "{json_paused:?}");
    let text = ses.export_stats(ExportFormat::Csv).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().unwrap().clone();
    let (hcol, pcol) = (
        headers.iter().position(|h| h == "info_hash").unwrap(),
        headers.iter().position(|h| h == "paused").unwrap(),
    );
    let mut csv_paused: Vec<(String, String)> =
        r.records().map(Result::unwrap).map(|row| (row[hcol].to_string(), row[pcol].to_string())).collect();
    csv_paused.sort();
    let mut want = vec![(paused_ih.clone(), "1".to_string()), (ih.clone(), "0".to_string())];
    want.sort();
    assert_eq!(csv_paused, want);
    let prom: Vec<(String, f64)> = parse_prometheus(&ses.export_stats(ExportFormat::Prometheus).unwrap())
        .into_iter()
        .filter(|s| s.2 == "lt_torrent_paused")
        .map(|s| (s.3, s.4))
        .collect();
    assert_eq!(prom.len(), 2);
    for (labels, value) in prom {
        let want = if labels.contains(&paused_ih) { 1.0 } else { 0.0 };
        assert_eq!(value, want, "{labels}");
    }

    // JSON and CSV list the same status fields (the C struct's, checked
    // against include/lt.h by a unit test), CSV in the struct's order.
    let fields: Vec<&str> = lt::engine::export::STATUS_FIELDS.iter().map(|(name, _)| *name).collect();
    let csv_header: Vec<&str> = headers.iter().collect();
    assert_eq!(csv_header[0], "id");
    assert_eq!(&csv_header[1..], &fields[..]);
    let mut json_keys: Vec<&str> = v["torrents"][0].as_object().unwrap().keys().map(String::as_str).collect();
    json_keys.sort();
    let mut want_keys: Vec<&str> = fields.iter().copied().chain(["id", "peers"]).collect();
    want_keys.sort();
    assert_eq!(json_keys, want_keys);

    drop(ses);
    assert!(std::net::TcpStream::connect(addr).is_err(), "endpoint closed with the session");
    let _ = std::fs::remove_dir_all(&dir);
}
