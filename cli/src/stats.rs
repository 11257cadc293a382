//! `lt stats`: reads a running session's `GET /stats` (the `stats_listen`
//! endpoint: `lt download --stats-listen`, or any program embedding lt) and
//! prints a summary, or the JSON itself with `--json`.

use clap::Args;
use indicatif::HumanBytes;
use serde_json::Value;

use crate::view::{duration, printable};
use crate::Outcome;

/// The endpoint read when none is given.
const DEFAULT_ADDR: &str = "127.0.0.1:9100";
/// The JSON of a session with many torrents stays far below this.
const MAX_REPLY: usize = 64 << 20;

#[derive(Args)]
pub struct StatsArgs {
    /// The endpoint: PORT, IP:PORT (a bare port is on 127.0.0.1) or an http:// URL
    #[arg(value_name = "ADDR", default_value = DEFAULT_ADDR)]
    addr: String,
    /// The endpoint's token (sent as "Authorization: Bearer TOKEN")
    #[arg(long, value_name = "TOKEN", env = "LT_STATS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the endpoint's JSON as it is
    #[arg(long)]
    json: bool,
}

/// The URL of `/stats` at `addr`.
fn stats_url(addr: &str) -> Result<String, String> {
    if addr.starts_with("http://") || addr.starts_with("https://") {
        let base = addr.trim_end_matches('/');
        return Ok(if base.ends_with("/stats") { base.to_string() } else { format!("{base}/stats") });
    }
    Ok(format!("http://{}/stats", crate::run::endpoint(addr)?))
}

pub fn stats(args: StatsArgs) -> Result<Outcome, String> {
    let url = stats_url(&args.addr)?;
    let reply = crate::fetch::get(&url, args.token.as_deref(), MAX_REPLY)?;
    match reply.status {
        200 => {}
        401 => {
            let why = if args.token.is_some() { "refused the token" } else { "wants a token (--token)" };
            return Err(format!("{url}: the endpoint {why}"));
        }
        status => {
            let body = String::from_utf8_lossy(&reply.body);
            return Err(format!("{url}: HTTP status {status}: {}", body.trim()));
        }
    }
    let value: Value =
        serde_json::from_slice(&reply.body).map_err(|e| format!("{url}: the reply is not JSON: {e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?);
    } else {
        print!("{}", printable(&summary(&url, &value), true));
    }
    Ok(Outcome::Done)
}

/// A session metric, or 0 when this version of the endpoint lacks it.
fn metric(v: &Value, name: &str) -> i64 {
    v["session"][name].as_i64().unwrap_or(0)
}

fn bytes(n: i64) -> HumanBytes {
    HumanBytes(n.max(0) as u64)
}

/// The session's figures and one line per torrent.
fn summary(url: &str, v: &Value) -> String {
    let mut out = format!(
        "lt {} at {url}, up {}\n",
        v["version"].as_str().unwrap_or("(unknown version)"),
        duration((metric(v, "ses.uptime_ms") / 1000).max(0) as u64)
    );
    out.push_str(&format!(
        "torrents  {} ({} downloading, {} seeding, {} checking, {} stopped)\n",
        metric(v, "ses.num_torrents"),
        metric(v, "ses.num_downloading_torrents"),
        metric(v, "ses.num_seeding_torrents"),
        metric(v, "ses.num_checking_torrents"),
        metric(v, "ses.num_stopped_torrents"),
    ));
    out.push_str(&format!(
        "peers     {} connected, {} connecting\n",
        metric(v, "peer.num_peers_connected"),
        metric(v, "peer.num_peers_half_open")
    ));
    out.push_str(&format!(
        "down      {}/s, {} received (payload), {} wasted\n",
        bytes(metric(v, "net.recv_payload_rate")),
        bytes(metric(v, "net.recv_payload_bytes")),
        bytes(metric(v, "net.wasted_bytes"))
    ));
    out.push_str(&format!(
        "up        {}/s, {} sent (payload)\n",
        bytes(metric(v, "net.sent_payload_rate")),
        bytes(metric(v, "net.sent_payload_bytes"))
    ));
    let torrents = v["torrents"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !torrents.is_empty() {
        out.push('\n');
    }
    for t in torrents {
        let int = |k: &str| t[k].as_i64().unwrap_or(0);
        // An ETA only for what is still downloading (a seed's is 0).
        let eta = match (t["state"].as_str(), int("eta_s")) {
            (Some("downloading"), s) if s >= 0 => format!(" eta {}", duration(s as u64)),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{}  {} {:.1}% {}/{} down {}/s up {}/s peers {} seeds {}{eta}\n",
            t["name"].as_str().unwrap_or(""),
            t["state"].as_str().unwrap_or(""),
            t["progress"].as_f64().unwrap_or(0.0) * 100.0,
            bytes(int("total_wanted_done")),
            bytes(int("total_wanted")),
            bytes(int("download_payload_rate")),
            bytes(int("upload_payload_rate")),
            int("num_peers"),
            int("num_seeds"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::stats_url;

    #[test]
    fn addresses_become_stats_urls() {
        assert_eq!(stats_url("9100").unwrap(), "http://127.0.0.1:9100/stats");
        assert_eq!(stats_url("[::1]:80").unwrap(), "http://[::1]:80/stats");
        assert_eq!(stats_url("http://127.0.0.1:5/").unwrap(), "http://127.0.0.1:5/stats");
        assert_eq!(stats_url("http://127.0.0.1:5/stats").unwrap(), "http://127.0.0.1:5/stats");
        assert!(stats_url("nowhere").is_err());
    }
}
