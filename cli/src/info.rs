//! `lt info`: what a .torrent file or a magnet link holds, as text for a
//! person or JSON (`--json`) for a program.

use clap::Args;
use indicatif::HumanBytes;
use lt::proto::magnet::Magnet;
use lt::proto::metainfo::Metainfo;
use lt::proto::types::hex;
use serde_json::{json, Value};

use crate::source::Source;
use crate::view::printable;
use crate::Outcome;

#[derive(Args)]
pub struct InfoArgs {
    /// A .torrent file, a magnet link, or an http(s) URL of a .torrent file
    #[arg(value_name = "TORRENT|MAGNET|URL")]
    torrent: String,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn info(args: InfoArgs) -> Result<Outcome, String> {
    let value = match Source::load(&args.torrent)? {
        Source::Torrent(meta) => torrent_json(&meta),
        Source::Magnet(magnet) => magnet_json(&magnet),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?);
    } else {
        print!("{}", printable(&text(&value), true));
    }
    Ok(Outcome::Done)
}

/// The v1 info-hash, unless the swarm is v2-only (its 20-byte id is then
/// the v2 hash truncated, no SHA-1 of anything).
fn v1_hash(id: &[u8; 20], v2: Option<&[u8; 32]>, has_v1: bool) -> Value {
    if has_v1 && v2.is_none_or(|v2| v2[..20] != id[..]) {
        json!(hex(id))
    } else {
        Value::Null
    }
}

/// The bytes of the torrent's files, without the pad files a hybrid or
/// BEP 47 torrent puts between them.
pub fn content_size(m: &Metainfo) -> u64 {
    m.files.iter().filter(|f| !f.pad).map(|f| f.length).sum()
}

fn torrent_json(m: &Metainfo) -> Value {
    let magnet = Magnet {
        info_hash: m.info_hash,
        info_hash_v2: m.info_hash_v2,
        name: Some(m.name.clone()),
        trackers: m.trackers.iter().flatten().cloned().collect(),
        peers: Vec::new(),
        web_seeds: m.web_seeds.clone(),
    };
    let files: Vec<Value> = m
        .files
        .iter()
        .filter(|f| !f.pad)
        .map(|f| json!({ "path": f.path.to_string_lossy(), "size": f.length }))
        .collect();
    json!({
        "kind": "torrent",
        "name": m.name,
        "info_hash_v1": v1_hash(&m.info_hash.0, m.info_hash_v2.as_ref(), m.has_v1),
        "info_hash_v2": m.info_hash_v2.map(|h| hex(&h)),
        "total_size": content_size(m),
        "piece_length": m.lengths.piece_length(),
        "num_pieces": m.lengths.num_pieces(),
        "private": m.private,
        "files": files,
        "trackers": m.trackers,
        "web_seeds": m.web_seeds,
        "comment": m.comment,
        "created_by": m.created_by,
        "creation_date": m.creation_date,
        "magnet": magnet.to_uri(),
    })
}

fn magnet_json(m: &Magnet) -> Value {
    json!({
        "kind": "magnet",
        "name": m.name,
        "info_hash_v1": v1_hash(&m.info_hash.0, m.info_hash_v2.as_ref(), true),
        "info_hash_v2": m.info_hash_v2.map(|h| hex(&h)),
        "trackers": m.trackers,
        "peers": m.peers,
        "web_seeds": m.web_seeds,
    })
}

/// The JSON above, as aligned lines for a person.
fn text(v: &Value) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key:<14}{value}\n"));
    let str_of = |k: &str| v[k].as_str().map(str::to_string);
    if let Some(name) = str_of("name") {
        line("name:", name);
    }
    if let Some(h) = str_of("info_hash_v1") {
        line("info-hash v1:", h);
    }
    if let Some(h) = str_of("info_hash_v2") {
        line("info-hash v2:", h);
    }
    if let (Some(size), Some(len), Some(n)) =
        (v["total_size"].as_u64(), v["piece_length"].as_u64(), v["num_pieces"].as_u64())
    {
        line("size:", format!("{} ({size} bytes)", HumanBytes(size)));
        line("pieces:", format!("{n} of {}", HumanBytes(len)));
        line("private:", if v["private"] == json!(true) { "yes" } else { "no" }.into());
    }
    for (key, label) in [("comment", "comment:"), ("created_by", "created by:")] {
        if let Some(s) = str_of(key) {
            line(label, s);
        }
    }
    if let Some(t) = v["creation_date"].as_i64() {
        line("created:", utc_date(t));
    }
    match v["kind"].as_str() {
        Some("torrent") => {
            for (tier, urls) in v["trackers"].as_array().into_iter().flatten().enumerate() {
                for url in urls.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    line("tracker:", format!("{url} (tier {tier})"));
                }
            }
        }
        _ => {
            for url in v["trackers"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                line("tracker:", url.to_string());
            }
            for peer in v["peers"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                line("peer:", peer.to_string());
            }
        }
    }
    for url in v["web_seeds"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        line("web seed:", url.to_string());
    }
    if let Some(m) = str_of("magnet") {
        line("magnet:", m);
    }
    if let Some(files) = v["files"].as_array() {
        line("files:", files.len().to_string());
        for f in files {
            let size = f["size"].as_u64().unwrap_or(0);
            out.push_str(&format!(
                "  {:>12}  {}\n",
                HumanBytes(size).to_string(),
                f["path"].as_str().unwrap_or("")
            ));
        }
    }
    out
}

/// Unix seconds as "YYYY-MM-DD HH:MM:SS UTC" (the civil-from-days
/// conversion of the proleptic Gregorian calendar).
fn utc_date(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::utc_date;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_date(-1), "1969-12-31 23:59:59 UTC");
    }
}
