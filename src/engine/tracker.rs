//! Announcing to trackers: HTTP (through reqwest) and UDP (BEP 15), tiers
//! tried in order (BEP 12), intervals honoured.
//!
//! The wire formats live in `proto::tracker`; this module does the I/O and
//! the scheduling. A torrent announces to the first tracker that works,
//! tier by tier; a tracker that answers moves to the front of its tier.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::alerts::{AlertKind, ErrorInfo};
use super::error::ErrorKind;
use super::stats::Metric;
use super::torrent::Torrent;
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
}

impl TrackerList {
    pub fn new(entries: Vec<TrackerEntry>) -> TrackerList {
        let mut list = TrackerList { entries, ..TrackerList::default() };
        list.entries.sort_by_key(|t| t.tier);
        list
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
/// `started`; otherwise tries trackers tier by tier until one answers.
pub(crate) async fn announce(t: &Arc<Torrent>, event: AnnounceEvent) {
    let urls: Vec<(usize, String)> = {
        let core = t.core.lock();
        core.trackers
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| event != AnnounceEvent::Stopped || e.started)
            .map(|(i, e)| (i, e.url.clone()))
            .collect()
    };
    if urls.is_empty() {
        return;
    }
    let (all_tiers, all_trackers) = {
        let s = t.ses.settings.read();
        (s.announce_to_all_tiers, s.announce_to_all_trackers)
    };
    let everyone = event == AnnounceEvent::Stopped || (all_tiers && all_trackers);
    let mut any_ok = false;
    if everyone {
        let tasks: Vec<_> = urls.iter().map(|(_, url)| announce_one(t, url.clone(), event)).collect();
        for ok in futures_join_all(tasks).await {
            any_ok |= ok;
        }
    } else {
        for (_, url) in &urls {
            if announce_one(t, url.clone(), event).await {
                any_ok = true;
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
}

/// Waits for every future, in order (a tiny join_all without a new crate).
async fn futures_join_all<F: std::future::Future<Output = bool>>(futs: Vec<F>) -> Vec<bool> {
    let mut set = Vec::with_capacity(futs.len());
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out = Vec::with_capacity(set.len());
    for f in set {
        out.push(f.await);
    }
    out
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
async fn announce_one(t: &Arc<Torrent>, url: String, event: AnnounceEvent) -> bool {
    let ses = &t.ses;
    let (req, timeout) = {
        let core = t.core.lock();
        let s = ses.settings.read();
        let left = core.picker.bytes_wanted().saturating_sub(core.picker.bytes_wanted_done());
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
            tracker_id: None,
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
                t.add_peers(reply.peers);
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
    counters: &super::stats::Counters,
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
    counters: &super::stats::Counters,
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
            t.post(AlertKind::ScrapeReply { url, complete: info.complete, incomplete: info.incomplete });
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
    counters: &super::stats::Counters,
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
