//! Announcing to trackers: HTTP (through reqwest) and UDP (BEP 15), tiers
//! tried in order (BEP 12), intervals honoured.
//!
//! The wire formats live in `proto::tracker`; this module does the I/O and
//! the scheduling. By default a torrent announces to the first tracker that
//! works, tier by tier (BEP 12); a tracker that answers moves to the front
//! of its tier. `announce_to_all_trackers` and `announce_to_all_tiers`
//! widen that as in libtorrent (see `announce`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::engine::alerts::{AlertKind, ErrorInfo};
use crate::engine::error::ErrorKind;
use crate::engine::stats::Metric;
use crate::engine::torrent::Torrent;
use crate::proto::tracker::{
    self as wire, AnnounceEvent, AnnounceRequest, AnnounceResponse, TrackerError, UdpResponse,
};

/// Largest tracker reply body we read.
const MAX_REPLY_BYTES: usize = 4 << 20;

/// One tracker of a torrent and what we know of it.
#[derive(Clone, Debug)]
pub struct TrackerEntry {
    pub url: String,
    pub tier: u32,
    /// Consecutive failures.
    pub fails: u32,
    pub last_error: Option<String>,
    pub last_warning: Option<String>,
    /// Whether it answered our last announce.
    pub working: bool,
    /// Whether it was sent `started` since the torrent (re)started, so it
    /// must be sent `stopped`.
    pub started: bool,
    pub interval: Duration,
    pub min_interval: Duration,
    pub last_announce: Option<Instant>,
    /// The `tracker id` of its last reply that had one, sent back as
    /// `trackerid` on later announces (BEP 3's HTTP tracker protocol).
    pub tracker_id: Option<String>,
}

impl TrackerEntry {
    pub fn new(url: String, tier: u32) -> TrackerEntry {
        TrackerEntry {
            url,
            tier,
            fails: 0,
            last_error: None,
            last_warning: None,
            working: false,
            started: false,
            interval: Duration::from_secs(1800),
            min_interval: Duration::from_secs(60),
            last_announce: None,
            tracker_id: None,
        }
    }
}

/// A torrent's trackers and its announce schedule.
#[derive(Debug, Default)]
pub struct TrackerList {
    pub entries: Vec<TrackerEntry>,
    /// When the next regular announce is due (`None`: now).
    pub next_announce: Option<Instant>,
    /// An announce is under way.
    pub updating: bool,
    /// Rounds in a row in which no tracker answered.
    pub round_fails: u32,
    /// `force` was called since the current round began: the round's end
    /// must not push the next announce out by the interval.
    pub forced: bool,
}

impl TrackerList {
    pub fn new(entries: Vec<TrackerEntry>) -> TrackerList {
        let mut list = TrackerList { entries, ..TrackerList::default() };
        list.entries.sort_by_key(|t| t.tier);
        list
    }

    /// The announce URLs tier by tier, empty tiers left out: the
    /// `announce-list` of a saved .torrent or of resume data.
    pub fn tiers(&self) -> Vec<Vec<String>> {
        let mut tiers: Vec<Vec<String>> = Vec::new();
        for e in &self.entries {
            let tier = e.tier as usize;
            if tiers.len() <= tier {
                tiers.resize(tier + 1, Vec::new());
            }
            tiers[tier].push(e.url.clone());
        }
        tiers.retain(|t| !t.is_empty());
        tiers
    }

    pub fn add(&mut self, url: &str, tier: u32) {
        if !self.entries.iter().any(|t| t.url == url) {
            self.entries.push(TrackerEntry::new(url.to_string(), tier));
            self.entries.sort_by_key(|t| t.tier);
        }
    }

    /// After a resume: announce `started` again, now.
    pub fn restart(&mut self) {
        for t in &mut self.entries {
            t.started = false;
            t.fails = 0;
        }
        self.next_announce = None;
        self.round_fails = 0;
    }

    /// Announce as soon as possible, within each tracker's min interval.
    pub fn force(&mut self) {
        self.next_announce = None;
        self.forced = true;
    }
}

impl Torrent {
    /// The torrent's trackers as they stand now, tier by tier.
    pub fn trackers(&self) -> Vec<TrackerEntry> {
        self.core.lock().trackers.entries.clone()
    }
}

/// Announces if one is due. Called by the torrent's task once a second.
pub(crate) async fn maybe_announce(t: &Arc<Torrent>) {
    let event = {
        let mut core = t.core.lock();
        if !Torrent::is_active(&core) || core.trackers.updating || core.trackers.entries.is_empty() {
            return;
        }
        let due = core.trackers.next_announce.is_none_or(|at| Instant::now() >= at);
        let completed = core.announce_completed;
        if !due && !completed {
            return;
        }
        core.announce_completed = false;
        let any_started = core.trackers.entries.iter().any(|e| e.started);
        if !any_started {
            AnnounceEvent::Started
        } else if completed {
            AnnounceEvent::Completed
        } else {
            AnnounceEvent::None
        }
    };
    let t = t.clone();
    t.core.lock().trackers.updating = true;
    let t2 = t.clone();
    t.ses.runtime.spawn(async move {
        announce(&t2, event).await;
        t2.core.lock().trackers.updating = false;
    });
}

/// Announces `event`. For `stopped`, tells every tracker that was sent
/// `started`, all at once. Otherwise, tier by tier in order:
/// - by default (BEP 12) trackers one at a time until one answers, then stop;
/// - `announce_to_all_trackers`: every tracker of a tier at once; stop after
///   the first tier in which one answered;
/// - `announce_to_all_tiers`: one at a time until one answers, in every tier;
/// - both: every tracker of every tier.
pub(crate) async fn announce(t: &Arc<Torrent>, event: AnnounceEvent) {
    let urls: Vec<(u32, String)> = {
        let mut core = t.core.lock();
        if event != AnnounceEvent::Stopped {
            core.trackers.forced = false;
        }
        core.trackers
            .entries
            .iter()
            .filter(|e| event != AnnounceEvent::Stopped || e.started)
            .map(|e| (e.tier, e.url.clone()))
            .collect()
    };
    if urls.is_empty() {
        return;
    }
    let (all_tiers, all_trackers) = {
        let s = t.ses.settings.read();
        (s.announce_to_all_tiers, s.announce_to_all_trackers)
    };
    let mut any_ok = false;
    if event == AnnounceEvent::Stopped {
        any_ok = announce_all(t, urls, event).await;
    } else {
        // Entries are sorted by tier, so each tier is one run of the list.
        for tier in urls.chunk_by(|a, b| a.0 == b.0) {
            let tier_ok = if all_trackers {
                announce_all(t, tier.to_vec(), event).await
            } else {
                let mut ok = false;
                for (_, url) in tier {
                    if announce_one(t, url.clone(), event).await {
                        ok = true;
                        break;
                    }
                }
                ok
            };
            any_ok |= tier_ok;
            if tier_ok && !all_tiers {
                break;
            }
        }
    }
    let mut core = t.core.lock();
    if event == AnnounceEvent::Stopped {
        for e in &mut core.trackers.entries {
            e.started = false;
        }
        return;
    }
    let list = &mut core.trackers;
    if any_ok {
        list.round_fails = 0;
        let interval = list.entries.iter().filter(|e| e.working).map(|e| e.interval).min();
        list.next_announce = Some(Instant::now() + interval.unwrap_or(Duration::from_secs(1800)));
    } else {
        list.round_fails += 1;
        let backoff = Duration::from_secs((15u64 << list.round_fails.min(8)).min(3600));
        list.next_announce = Some(Instant::now() + backoff);
    }
    if list.forced {
        list.next_announce = None;
    }
}

/// Announces to every tracker in `urls` at the same time, so one that does
/// not answer delays no other. Answers whether any of them answered.
async fn announce_all(t: &Arc<Torrent>, urls: Vec<(u32, String)>, event: AnnounceEvent) -> bool {
    let mut set = tokio::task::JoinSet::new();
    for (_, url) in urls {
        let t = t.clone();
        set.spawn(async move { announce_one(&t, url, event).await });
    }
    let mut any_ok = false;
    while let Some(done) = set.join_next().await {
        any_ok |= done.unwrap_or(false);
    }
    any_ok
}

fn event_name(e: AnnounceEvent) -> &'static str {
    match e {
        AnnounceEvent::None => "none",
        AnnounceEvent::Started => "started",
        AnnounceEvent::Completed => "completed",
        AnnounceEvent::Stopped => "stopped",
    }
}

/// Announces to one tracker, records the outcome and posts alerts.
/// Answers whether the tracker replied without error.
/// The listen addresses a private torrent tells its trackers (`ipv4=`,
/// `ipv6=`), as libtorrent does: only interfaces bound to one address, and
/// only global ones, since a private or loopback address helps no peer and
/// tells the tracker about the user's network. Public torrents send none.
fn announced_addresses(listen: &[SocketAddr]) -> Vec<IpAddr> {
    let global = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => !(v4.is_private() || v4.is_link_local() || v4.is_loopback() || v4.is_unspecified()),
        IpAddr::V6(v6) => {
            let seg = v6.segments()[0];
            // fe80::/10 link-local, fc00::/7 unique local.
            !(v6.is_loopback() || v6.is_unspecified() || seg & 0xffc0 == 0xfe80 || seg & 0xfe00 == 0xfc00)
        }
    };
    let mut out: Vec<IpAddr> = listen.iter().map(|a| a.ip()).filter(global).collect();
    out.dedup();
    out
}

async fn announce_one(t: &Arc<Torrent>, url: String, event: AnnounceEvent) -> bool {
    let ses = &t.ses;
    let (req, timeout) = {
        let core = t.core.lock();
        let s = ses.settings.read();
        // Before a magnet's metadata the size is unknown; libtorrent says
        // 16 KiB, so trackers count it as a downloader, not a seed.
        let left = if core.has_metadata {
            core.picker.bytes_wanted().saturating_sub(core.picker.bytes_wanted_done())
        } else {
            16 * 1024
        };
        let req = AnnounceRequest {
            info_hash: t.info_hash,
            peer_id: ses.peer_id,
            port: ses.listen_port().unwrap_or(0),
            uploaded: t.counters.sent_payload.load(std::sync::atomic::Ordering::Relaxed).max(0) as u64,
            downloaded: t.counters.recv_payload.load(std::sync::atomic::Ordering::Relaxed).max(0) as u64,
            left,
            event,
            num_want: if event == AnnounceEvent::Stopped { Some(0) } else { Some(s.num_want as u32) },
            key: ses.announce_key,
            tracker_id: core
                .trackers
                .entries
                .iter()
                .find(|e| e.url == url)
                .and_then(|e| e.tracker_id.clone()),
            addresses: if t.is_private() {
                announced_addresses(&ses.listen_addrs.read())
            } else {
                Vec::new()
            },
        };
        let secs =
            if event == AnnounceEvent::Stopped { s.stop_tracker_timeout } else { s.tracker_receive_timeout };
        (req, Duration::from_secs(secs.max(1) as u64))
    };
    tracing::debug!(url = %url, event = event_name(event), "announcing");
    t.post(AlertKind::TrackerAnnounce { url: url.clone(), event: event_name(event) });
    ses.counters.add(Metric::TrackerAnnounces, 1);
    match event {
        AnnounceEvent::Started => ses.counters.add(Metric::TrackerStartedAnnounces, 1),
        AnnounceEvent::Completed => ses.counters.add(Metric::TrackerCompletedAnnounces, 1),
        AnnounceEvent::Stopped => ses.counters.add(Metric::TrackerStoppedAnnounces, 1),
        AnnounceEvent::None => {}
    }
    let result = match tokio::time::timeout(timeout, send_announce(t, &url, &req)).await {
        Ok(r) => r,
        Err(_) => Err(format!("timed out after {} s", timeout.as_secs())),
    };
    // A hybrid torrent is also announced under its v2 id, as libtorrent
    // does, so v2-only clients find us; the tracker's state follows the
    // first announce, the second only brings peers (and is not tried
    // against a tracker that did not answer the first).
    let second_ids = if result.is_ok() { t.swarm_ids() } else { Vec::new() };
    for ih in second_ids.into_iter().filter(|ih| *ih != req.info_hash) {
        let second = AnnounceRequest { info_hash: ih, ..req.clone() };
        match tokio::time::timeout(timeout, send_announce(t, &url, &second)).await {
            Ok(Ok(reply)) if event != AnnounceEvent::Stopped => {
                ses.peers_found(&ih, &reply.peers, super::PeerSource::Tracker);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(url = %url, error = %e, "v2 announce failed"),
            Err(_) => tracing::debug!(url = %url, "v2 announce timed out"),
        }
    }
    let mut core = t.core.lock();
    let Some(idx) = core.trackers.entries.iter().position(|e| e.url == url) else { return false };
    match result {
        Ok(reply) => {
            let e = &mut core.trackers.entries[idx];
            e.fails = 0;
            e.working = true;
            e.last_error = None;
            e.last_announce = Some(Instant::now());
            e.started = event != AnnounceEvent::Stopped;
            let min_interval = ses.settings.read().min_announce_interval as u64;
            if let Some(i) = reply.min_interval {
                e.min_interval = Duration::from_secs(i as u64);
            }
            if let Some(i) = reply.interval {
                e.interval = Duration::from_secs((i as u64).max(min_interval).max(e.min_interval.as_secs()));
            }
            e.last_warning = reply.warning.clone();
            if reply.tracker_id.is_some() {
                e.tracker_id = reply.tracker_id.clone();
            }
            // BEP 12: a tracker that answers moves to the front of its tier.
            let tier = e.tier;
            if let Some(first) = core.trackers.entries.iter().position(|x| x.tier == tier) {
                let entry = core.trackers.entries.remove(idx);
                core.trackers.entries.insert(first, entry);
            }
            if let Some(c) = reply.complete {
                core.list_seeds = c as i64;
            }
            if let Some(i) = reply.incomplete {
                core.list_peers = i as i64;
            }
            drop(core);
            if let Some(w) = reply.warning {
                t.post(AlertKind::TrackerWarning { url: url.clone(), message: w });
            }
            ses.counters.add(Metric::TrackerPeersReceived, reply.peers.len() as i64);
            t.post(AlertKind::TrackerReply { url, num_peers: reply.peers.len() as u32 });
            if event != AnnounceEvent::Stopped {
                ses.peers_found(&t.info_hash, &reply.peers, super::PeerSource::Tracker);
            }
            true
        }
        Err(message) => {
            let e = &mut core.trackers.entries[idx];
            e.fails += 1;
            e.working = false;
            e.last_error = Some(message.clone());
            let times_in_row = e.fails;
            drop(core);
            ses.counters.add(Metric::TrackerErrors, 1);
            tracing::warn!(url = %url, error = %message, "tracker failed");
            t.post(AlertKind::TrackerError {
                url,
                error: ErrorInfo { kind: ErrorKind::Tracker, message },
                times_in_row,
            });
            false
        }
    }
}

async fn send_announce(
    t: &Arc<Torrent>,
    url: &str,
    req: &AnnounceRequest,
) -> Result<AnnounceResponse, String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        http_announce(t, url, req).await
    } else if let Some(rest) = url.strip_prefix("udp://") {
        let timeout = t.ses.settings.read().tracker_receive_timeout as u64;
        udp_announce(rest, req, timeout, &t.ses.counters).await
    } else {
        Err(format!("unsupported tracker URL scheme in '{url}'"))
    }
}

fn reply_error(e: TrackerError) -> String {
    match e {
        TrackerError::Failure(m) => m,
        other => other.to_string(),
    }
}

async fn http_announce(
    t: &Arc<Torrent>,
    url: &str,
    req: &AnnounceRequest,
) -> Result<AnnounceResponse, String> {
    let body = http_get(t, &wire::http_announce_url(url, req)).await?;
    wire::parse_http_announce(&body).map_err(reply_error)
}

/// GETs a tracker URL and reads the reply body, bounded.
async fn http_get(t: &Arc<Torrent>, full: &str) -> Result<Vec<u8>, String> {
    // The request line and headers, approximately: the URL dominates.
    t.ses.counters.add(Metric::SentTrackerBytes, full.len() as i64 + 64);
    let mut resp = t.ses.http.get(full).send().await.map_err(|e| format!("HTTP request failed: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP status {status}"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("reading the reply: {e}"))? {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(format!("reply larger than {MAX_REPLY_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    t.ses.counters.add(Metric::RecvTrackerBytes, body.len() as i64);
    Ok(body)
}

/// BEP 15: connect, then announce, each retried with a doubling timeout
/// (15 s, 30 s, ... as the BEP says, bounded by the overall timeout the
/// caller applies).
async fn udp_announce(
    hostport: &str,
    req: &AnnounceRequest,
    recv_timeout: u64,
    counters: &crate::engine::stats::Counters,
) -> Result<AnnounceResponse, String> {
    let (sock, connection_id, first_wait, ipv6) = udp_connect(hostport, recv_timeout, counters).await?;
    let tid: u32 = rand::random();
    let packet = wire::udp_announce_request(connection_id, tid, req);
    match udp_exchange(&sock, &packet, tid, ipv6, first_wait, counters).await? {
        UdpResponse::Announce { interval, leechers, seeders, peers, .. } => Ok(AnnounceResponse {
            interval: Some(interval),
            complete: Some(seeders),
            incomplete: Some(leechers),
            peers,
            ..AnnounceResponse::default()
        }),
        UdpResponse::Error { message, .. } => Err(message),
        _ => Err("unexpected reply to announce".into()),
    }
}

/// BEP 15's connect step: a socket to the tracker, the connection id it
/// gave, the first retry wait and whether it is IPv6.
async fn udp_connect(
    hostport: &str,
    recv_timeout: u64,
    counters: &crate::engine::stats::Counters,
) -> Result<(UdpSocket, u64, Duration, bool), String> {
    let hostport = hostport.split('/').next().unwrap_or(hostport);
    let addr: SocketAddr = tokio::net::lookup_host(hostport)
        .await
        .map_err(|e| format!("resolving '{hostport}': {e}"))?
        .next()
        .ok_or_else(|| format!("'{hostport}' has no address"))?;
    let bind: SocketAddr =
        if addr.is_ipv4() { "0.0.0.0:0".parse().unwrap_or(addr) } else { "[::]:0".parse().unwrap_or(addr) };
    let sock = UdpSocket::bind(bind).await.map_err(|e| format!("UDP socket: {e}"))?;
    sock.connect(addr).await.map_err(|e| format!("UDP connect to {addr}: {e}"))?;
    let first_wait = Duration::from_secs(recv_timeout.clamp(1, 15));

    let tid: u32 = rand::random();
    let reply =
        udp_exchange(&sock, &wire::udp_connect_request(tid), tid, addr.is_ipv6(), first_wait, counters)
            .await?;
    match reply {
        UdpResponse::Connect { connection_id, .. } => Ok((sock, connection_id, first_wait, addr.is_ipv6())),
        UdpResponse::Error { message, .. } => Err(message),
        _ => Err("unexpected reply to connect".into()),
    }
}

/// Scrapes the torrent's first working tracker (or its first tracker):
/// the swarm's seeds and downloaders go into the status, and a
/// `scrape_reply` or `scrape_failed` alert follows.
pub(crate) async fn scrape(t: &Arc<Torrent>) {
    let url = {
        let core = t.core.lock();
        let entries = &core.trackers.entries;
        entries.iter().find(|e| e.working).or(entries.first()).map(|e| e.url.clone())
    };
    let Some(url) = url else { return };
    t.ses.counters.add(Metric::TrackerScrapes, 1);
    let timeout = t.ses.settings.read().tracker_receive_timeout as u64;
    let result = match tokio::time::timeout(Duration::from_secs(timeout.max(1)), scrape_one(t, &url)).await {
        Ok(r) => r,
        Err(_) => Err(format!("timed out after {timeout} s")),
    };
    match result {
        Ok(info) => {
            let mut core = t.core.lock();
            core.list_seeds = info.complete as i64;
            core.list_peers = info.incomplete as i64;
            drop(core);
            t.post(AlertKind::ScrapeReply {
                url,
                complete: info.complete,
                incomplete: info.incomplete,
                downloaded: info.downloaded,
            });
        }
        Err(message) => {
            t.ses.counters.add(Metric::TrackerScrapeErrors, 1);
            t.post(AlertKind::ScrapeFailed { url, error: ErrorInfo { kind: ErrorKind::Tracker, message } });
        }
    }
}

async fn scrape_one(t: &Arc<Torrent>, url: &str) -> Result<wire::ScrapeInfo, String> {
    let ih = [t.info_hash];
    if url.starts_with("http://") || url.starts_with("https://") {
        let full = wire::http_scrape_url(url, &ih)
            .ok_or_else(|| format!("'{url}' has no scrape URL (its path does not end in 'announce')"))?;
        let body = http_get(t, &full).await?;
        wire::parse_http_scrape(&body, &t.info_hash).map_err(reply_error)
    } else if let Some(rest) = url.strip_prefix("udp://") {
        let counters = &t.ses.counters;
        let timeout = t.ses.settings.read().tracker_receive_timeout as u64;
        let (sock, connection_id, first_wait, ipv6) = udp_connect(rest, timeout, counters).await?;
        let tid: u32 = rand::random();
        let packet = wire::udp_scrape_request(connection_id, tid, &ih);
        match udp_exchange(&sock, &packet, tid, ipv6, first_wait, counters).await? {
            UdpResponse::Scrape { entries, .. } => {
                entries.first().copied().ok_or_else(|| "scrape reply lists no torrent".to_string())
            }
            UdpResponse::Error { message, .. } => Err(message),
            _ => Err("unexpected reply to scrape".into()),
        }
    } else {
        Err(format!("unsupported tracker URL scheme in '{url}'"))
    }
}

async fn udp_exchange(
    sock: &UdpSocket,
    packet: &[u8],
    tid: u32,
    ipv6: bool,
    first_wait: Duration,
    counters: &crate::engine::stats::Counters,
) -> Result<UdpResponse, String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut wait = first_wait;
    for _ in 0..4 {
        sock.send(packet).await.map_err(|e| format!("UDP send: {e}"))?;
        counters.add(Metric::SentTrackerBytes, packet.len() as i64);
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left, sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(format!("UDP receive: {e}")),
                Ok(Ok(n)) => {
                    counters.add(Metric::RecvTrackerBytes, n as i64);
                    let Ok(reply) = wire::parse_udp_response(&buf[..n], ipv6) else { continue };
                    let reply_tid = match &reply {
                        UdpResponse::Connect { transaction_id, .. }
                        | UdpResponse::Announce { transaction_id, .. }
                        | UdpResponse::Scrape { transaction_id, .. }
                        | UdpResponse::Error { transaction_id, .. } => *transaction_id,
                    };
                    if reply_tid == tid {
                        return Ok(reply);
                    }
                }
            }
        }
        wait *= 2;
    }
    Err("no reply".into())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;

    use super::*;
    use crate::engine::alerts::{category, AlertType};
    use crate::engine::session::{AddTorrentParams, Session, TorrentSource};
    use crate::engine::Settings;
    use crate::proto::metainfo::Metainfo;

    /// An HTTP tracker on 127.0.0.1 that records the query string of every
    /// announce and answers with no peers (and `tracker id`, if given).
    struct FakeTracker {
        url: String,
        queries: Arc<Mutex<Vec<String>>>,
    }

    impl FakeTracker {
        fn start(tracker_id: Option<&'static str>) -> FakeTracker {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/announce", listener.local_addr().unwrap());
            let queries = Arc::new(Mutex::new(Vec::new()));
            let seen = queries.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&req).lines().next().unwrap_or("").to_string();
                    let query = line.split(' ').nth(1).and_then(|p| p.split_once('?')).map(|(_, q)| q);
                    seen.lock().unwrap().push(query.unwrap_or("").to_string());
                    let body = match tracker_id {
                        Some(id) => format!("d8:intervali1800e5:peers0:10:tracker id{}:{id}e", id.len()),
                        None => "d8:intervali1800e5:peers0:e".to_string(),
                    };
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes());
                }
            });
            FakeTracker { url, queries }
        }

        fn queries(&self) -> Vec<String> {
            self.queries.lock().unwrap().clone()
        }
    }

    /// A one-piece torrent that nobody has: adding it starts announcing.
    fn torrent() -> Arc<Metainfo> {
        let mut b = b"d4:infod6:lengthi16384e4:name6:x.data12:piece lengthi16384e6:pieces20:".to_vec();
        b.extend_from_slice(&[7u8; 20]);
        b.extend_from_slice(b"ee");
        Arc::new(Metainfo::from_bytes(&b).unwrap())
    }

    /// Runs two announce rounds with four trackers, tier 0: A B, tier 1:
    /// C D, every one answering, and answers how many announces each got.
    /// A second round starts only once the first is over, so after the
    /// second round's replies every announce of the first is counted.
    fn announces_per_tracker(all_tiers: bool, all_trackers: bool) -> [usize; 4] {
        let trackers = [
            FakeTracker::start(Some("id-a")),
            FakeTracker::start(None),
            FakeTracker::start(None),
            FakeTracker::start(None),
        ];
        let settings = Settings {
            listen_interfaces: "127.0.0.1:0".into(),
            alert_mask: category::ALL as i64,
            announce_to_all_tiers: all_tiers,
            announce_to_all_trackers: all_trackers,
            ..Settings::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let ses = Session::new(settings).unwrap();
        let mut params = AddTorrentParams::new(TorrentSource::Metainfo(torrent()), dir.path());
        params.trackers = trackers.iter().zip([0, 0, 1, 1]).map(|(t, tier)| (t.url.clone(), tier)).collect();
        let id = ses.add_torrent(params).unwrap();
        let expected_per_round = match (all_tiers, all_trackers) {
            (false, false) => 1,
            (false, true) | (true, false) => 2,
            (true, true) => 4,
        };
        let mut replies = 0;
        let deadline = Instant::now() + Duration::from_secs(120);
        while replies < 2 * expected_per_round {
            assert!(Instant::now() < deadline, "only {replies} tracker replies");
            let Some(alert) = ses.wait_for_alert(Duration::from_secs(1)) else { continue };
            if alert.alert_type() == AlertType::TrackerReply {
                replies += 1;
                if replies == expected_per_round {
                    ses.torrent(id).unwrap().force_reannounce();
                }
            }
        }
        let counts = [0, 1, 2, 3].map(|i| trackers[i].queries().len());
        // A's second announce carries the tracker id of its first reply;
        // the others never sent one.
        let a = trackers[0].queries();
        assert!(!a[0].contains("trackerid="), "{}", a[0]);
        assert!(a[1].contains("&trackerid=id-a"), "{}", a[1]);
        for t in &trackers[1..] {
            assert!(t.queries().iter().all(|q| !q.contains("trackerid=")));
        }
        counts
    }

    #[test]
    fn private_torrents_tell_only_global_listen_addresses() {
        let listen: Vec<SocketAddr> = [
            "0.0.0.0:6881",
            "[::]:6881",
            "127.0.0.1:6881",
            "192.168.1.4:6881",
            "[fe80::1]:6881",
            "[fd00::1]:6881",
            "203.0.113.5:6881",
            "[2001:db8::7]:6881",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let want: Vec<IpAddr> = vec!["203.0.113.5".parse().unwrap(), "2001:db8::7".parse().unwrap()];
        assert_eq!(announced_addresses(&listen), want);
    }

    #[test]
    fn default_announces_to_the_first_tracker_that_answers() {
        assert_eq!(announces_per_tracker(false, false), [2, 0, 0, 0]);
    }

    #[test]
    fn all_trackers_announces_to_every_tracker_of_the_first_working_tier() {
        assert_eq!(announces_per_tracker(false, true), [2, 2, 0, 0]);
    }

    #[test]
    fn all_tiers_announces_to_one_tracker_of_every_tier() {
        assert_eq!(announces_per_tracker(true, false), [2, 0, 2, 0]);
    }

    #[test]
    fn all_tiers_and_trackers_announces_to_every_tracker() {
        assert_eq!(announces_per_tracker(true, true), [2, 2, 2, 2]);
    }
}
