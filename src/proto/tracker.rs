//! Tracker requests and replies, sans-IO: HTTP announce and scrape URLs and
//! their bencoded replies (BEP 3, BEP 23 compact peers, BEP 7 `peers6`,
//! BEP 48 scrape), and the UDP tracker protocol's packets (BEP 15).
//!
//! Replies are untrusted input. Parsing is bounded (bencode depth 8, at most
//! [`MAX_PEERS`] peers kept) and never panics. A structurally broken reply
//! is an error; the caller reports it and retries later.
//!
//! Policy for malformed parts of a reply:
//! - compact `peers`/`peers6` whose length is not a multiple of 6/18, a
//!   dictionary peer that is not a dictionary or lacks `ip` or `port`, or
//!   whose port is outside 1..=65535: the whole reply is an error (as
//!   libtorrent does);
//! - a dictionary peer whose `ip` is a host name rather than an address
//!   literal (BEP 3 allows this), compact entries with port 0, and
//!   unspecified addresses (`0.0.0.0`, `::`): left out, since none of them
//!   can be connected to;
//! - `interval` / `min interval` negative or over `u32::MAX`: error (a
//!   re-announce time must be trustworthy); `complete` / `incomplete` /
//!   `downloaded` out of range in an announce: left out (they are only
//!   statistics there), but an error in a scrape reply, where they are the
//!   answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::BufMut;
use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::bencode::{self, Value};
use super::types::{InfoHash, PeerId};

/// Most peers kept from one reply; the rest are dropped unread.
pub const MAX_PEERS: usize = 10_000;

/// Most info-hashes in one UDP scrape request (BEP 15: the packet must fit
/// in one datagram).
pub const MAX_UDP_SCRAPE_HASHES: usize = 74;

/// Bencode limits for tracker replies: they are at most three levels deep
/// (reply → peer list → peer dictionary), so anything deeper is hostile.
/// The value count allows `MAX_PEERS` dictionary peers with a few keys each.
const REPLY_LIMITS: bencode::Limits = bencode::Limits { max_depth: 8, max_items: 200_000 };

/// The announce event (BEP 3 `event`, BEP 15 event codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnounceEvent {
    /// A regular announce (no `event` parameter; UDP code 0).
    None,
    /// The first announce of a download (UDP code 2).
    Started,
    /// The download has just completed (UDP code 1).
    Completed,
    /// We are leaving the swarm (UDP code 3).
    Stopped,
}

/// What we tell a tracker.
#[derive(Clone, Debug)]
pub struct AnnounceRequest {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The port we accept peer connections on.
    pub port: u16,
    /// Bytes uploaded since the `started` event.
    pub uploaded: u64,
    /// Bytes downloaded since the `started` event.
    pub downloaded: u64,
    /// Bytes still needed to complete the download.
    pub left: u64,
    /// The event, if any.
    pub event: AnnounceEvent,
    /// How many peers we want; `None` lets the tracker choose.
    pub num_want: Option<u32>,
    /// A random number identifying this client across IP changes.
    pub key: u32,
    /// The `tracker id` from the tracker's previous reply, echoed back.
    pub tracker_id: Option<String>,
    /// Our own addresses to tell the tracker (BEP 7's `ipv4=` and `ipv6=`),
    /// for when it should list us under an address other than the one it
    /// sees the announce come from.
    pub addresses: Vec<IpAddr>,
}

/// What a tracker answered to an announce.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnnounceResponse {
    /// Seconds until the next regular announce.
    pub interval: Option<u32>,
    /// Seconds the tracker wants at least between announces.
    pub min_interval: Option<u32>,
    /// Seeders in the swarm.
    pub complete: Option<u32>,
    /// Leechers in the swarm.
    pub incomplete: Option<u32>,
    /// Completed downloads so far.
    pub downloaded: Option<u32>,
    /// Peers to try, IPv4 (`peers`) first, then IPv6 (`peers6`); at most
    /// [`MAX_PEERS`]. Not deduplicated.
    pub peers: Vec<SocketAddr>,
    /// The tracker's `warning message` (the announce still succeeded).
    pub warning: Option<String>,
    /// The `tracker id` to send back in later announces.
    pub tracker_id: Option<String>,
}

/// Scrape figures of one torrent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeInfo {
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Completed downloads so far.
    pub downloaded: u32,
}

/// A tracker reply we cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    /// The tracker refused the request with this `failure reason`.
    #[error("tracker failure: {0}")]
    Failure(String),
    /// The HTTP reply is not valid bencode (or is too deep or too large).
    #[error("invalid tracker reply: {0}")]
    Bencode(#[from] bencode::Error),
    /// The HTTP reply is valid bencode but not a dictionary.
    #[error("invalid tracker reply: not a dictionary")]
    NotADict,
    /// A field of the reply has the wrong type or an impossible value.
    #[error("invalid tracker reply: '{key}' {problem}")]
    BadField {
        /// The dictionary key.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A compact peer list or UDP record list whose length is not a whole
    /// number of entries.
    #[error("invalid tracker reply: {what} has {len} bytes, not a multiple of {stride}")]
    BadLength {
        /// Which list, e.g. `"peers6"`.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The size of one entry.
        stride: usize,
    },
    /// An entry of a dictionary-model peer list is malformed.
    #[error("invalid tracker reply: peer entry {index} {problem}")]
    BadPeer {
        /// Position in the `peers` list.
        index: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// The scrape reply has no entry for the torrent asked about.
    #[error("scrape reply does not list the torrent")]
    NotInScrape,
    /// A UDP packet shorter than its action requires.
    #[error("UDP tracker reply ({what}) has {len} bytes, expected at least {min}")]
    UdpTooShort {
        /// The action, e.g. `"announce"`, or `"header"` when even the
        /// action and transaction id are incomplete.
        what: &'static str,
        /// The packet's length.
        len: usize,
        /// The smallest valid length.
        min: usize,
    },
    /// A UDP packet with an action BEP 15 does not define.
    #[error("UDP tracker reply with unknown action {0}")]
    UdpUnknownAction(u32),
}

fn bad_field(key: &'static str, problem: impl Into<String>) -> TrackerError {
    TrackerError::BadField { key, problem: problem.into() }
}

// ---- HTTP URLs --------------------------------------------------------------

/// Characters escaped in query values: everything but RFC 3986 unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`), so binary hashes go byte by byte.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn push_escaped(url: &mut String, bytes: &[u8]) {
    url.extend(percent_encode(bytes, QUERY));
}

fn event_str(e: AnnounceEvent) -> Option<&'static str> {
    match e {
        AnnounceEvent::None => None,
        AnnounceEvent::Started => Some("started"),
        AnnounceEvent::Completed => Some("completed"),
        AnnounceEvent::Stopped => Some("stopped"),
    }
}

/// The URL without its fragment (which is never sent to a server, and
/// after which a query must not go).
fn strip_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(u, _)| u)
}

/// `url` followed by the separator that starts one more query parameter.
fn with_query_sep(url: &str) -> String {
    let mut out = String::with_capacity(url.len() + 256);
    out.push_str(url);
    if !url.contains('?') {
        out.push('?');
    } else if !url.ends_with('?') && !url.ends_with('&') {
        out.push('&');
    }
    out
}

/// The full HTTP announce URL for `req`: the parameters are appended after
/// `?`, or after `&` when `announce` already has a query (a passkey, say).
/// `info_hash` and `peer_id` are percent-encoded byte by byte (unreserved
/// characters kept); `compact=1` and `no_peer_id=1` are always sent, `key`
/// as 8 hex digits, `event` only when there is one.
pub fn http_announce_url(announce: &str, req: &AnnounceRequest) -> String {
    let mut url = with_query_sep(strip_fragment(announce));
    url.push_str("info_hash=");
    push_escaped(&mut url, &req.info_hash.0);
    url.push_str("&peer_id=");
    push_escaped(&mut url, &req.peer_id.0);
    url.push_str(&format!(
        "&port={}&uploaded={}&downloaded={}&left={}&compact=1&no_peer_id=1&key={:08x}",
        req.port, req.uploaded, req.downloaded, req.left, req.key
    ));
    if let Some(e) = event_str(req.event) {
        url.push_str("&event=");
        url.push_str(e);
    }
    if let Some(n) = req.num_want {
        url.push_str(&format!("&numwant={n}"));
    }
    if let Some(id) = &req.tracker_id {
        url.push_str("&trackerid=");
        push_escaped(&mut url, id.as_bytes());
    }
    for ip in &req.addresses {
        url.push_str(if ip.is_ipv4() { "&ipv4=" } else { "&ipv6=" });
        push_escaped(&mut url, ip.to_string().as_bytes());
    }
    url
}

/// The scrape URL for an announce URL, by the convention of BEP 48: the
/// last component of the URL's path must start with `announce`, which is
/// replaced by `scrape` (`/x/announce.php?k=1` → `/x/scrape.php?k=1`). Each
/// info-hash is added as an `info_hash` parameter; none asks for a full
/// scrape. `None` when the tracker does not follow the convention.
pub fn http_scrape_url(announce: &str, info_hashes: &[InfoHash]) -> Option<String> {
    let announce = strip_fragment(announce);
    let (base, query) = match announce.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (announce, None),
    };
    // The path starts at the first '/' after "scheme://host:port"; a host
    // name that happens to start with "announce" is not a path.
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = authority_start + base.get(authority_start..)?.find('/')?;
    let last_slash = path_start + base.get(path_start..)?.rfind('/')?;
    let (dir, last) = base.split_at(last_slash + 1);
    let rest = last.strip_prefix("announce")?;
    let mut url = format!("{dir}scrape{rest}");
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    for ih in info_hashes {
        url = with_query_sep(&url);
        url.push_str("info_hash=");
        push_escaped(&mut url, &ih.0);
    }
    Some(url)
}

// ---- HTTP replies -----------------------------------------------------------

/// Decodes a reply body to its top-level dictionary, surfacing the
/// tracker's `failure reason` first.
fn reply_dict(body: &[u8]) -> Result<Value<'_>, TrackerError> {
    let v = bencode::decode_with(body, REPLY_LIMITS)?;
    if v.as_dict().is_none() {
        return Err(TrackerError::NotADict);
    }
    if let Some(reason) = v.get("failure reason") {
        let msg = match reason.as_bytes() {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => "(failure reason is not a string)".to_owned(),
        };
        return Err(TrackerError::Failure(msg));
    }
    Ok(v)
}

/// An integer field that must fit in `u32` when present.
fn u32_strict(v: &Value<'_>, key: &'static str) -> Result<Option<u32>, TrackerError> {
    match v.get(key) {
        None => Ok(None),
        Some(Value::Int(i)) => {
            u32::try_from(*i).map(Some).map_err(|_| bad_field(key, format!("is {i}, out of range")))
        }
        Some(_) => Err(bad_field(key, "is not an integer")),
    }
}

/// An integer field kept only when it is present and fits in `u32`.
fn u32_lenient(v: &Value<'_>, key: &str) -> Option<u32> {
    v.get(key).and_then(Value::as_int).and_then(|i| u32::try_from(i).ok())
}

fn string_field(v: &Value<'_>, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_bytes).map(|b| String::from_utf8_lossy(b).into_owned())
}

fn usable(ip: IpAddr, port: u16) -> Option<SocketAddr> {
    (port != 0 && !ip.is_unspecified()).then_some(SocketAddr::new(ip, port))
}

/// Appends compact peers (BEP 23: 4-byte address + 2-byte port; BEP 7 and
/// BEP 15 IPv6: 16 + 2) from `b`, which must be a whole number of entries.
fn compact_peers(
    what: &'static str,
    b: &[u8],
    v6: bool,
    out: &mut Vec<SocketAddr>,
) -> Result<(), TrackerError> {
    let stride = if v6 { 18 } else { 6 };
    if b.len() % stride != 0 {
        return Err(TrackerError::BadLength { what, len: b.len(), stride });
    }
    let room = MAX_PEERS.saturating_sub(out.len());
    let peers = b.chunks_exact(stride).filter_map(|mut entry| {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(take::<16>(&mut entry)?))
        } else {
            IpAddr::V4(Ipv4Addr::from(take::<4>(&mut entry)?))
        };
        usable(ip, u16::from_be_bytes(take::<2>(&mut entry)?))
    });
    out.extend(peers.take(room));
    Ok(())
}

/// One entry of a dictionary-model peer list: `{ip, port[, peer id]}`.
/// `Ok(None)` for entries that are well formed but cannot be used.
fn dict_peer(index: usize, p: &Value<'_>) -> Result<Option<SocketAddr>, TrackerError> {
    let bad = |problem: &str| TrackerError::BadPeer { index, problem: problem.to_owned() };
    if p.as_dict().is_none() {
        return Err(bad("is not a dictionary"));
    }
    let ip = match p.get("ip") {
        None => return Err(bad("has no 'ip'")),
        Some(ip) => ip.as_bytes().ok_or_else(|| bad("has an 'ip' that is not a string"))?,
    };
    let port = match p.get("port") {
        None => return Err(bad("has no 'port'")),
        Some(port) => port.as_int().ok_or_else(|| bad("has a 'port' that is not an integer"))?,
    };
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| TrackerError::BadPeer { index, problem: format!("has port {port}") })?;
    // A host name (allowed by BEP 3) cannot become a SocketAddr here.
    let ip = std::str::from_utf8(ip).ok().and_then(|s| {
        let s = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(s);
        s.parse::<IpAddr>().ok()
    });
    Ok(ip.and_then(|ip| usable(ip, port)))
}

/// Parses an HTTP announce reply body (BEP 3, with BEP 23 compact and
/// BEP 7 `peers6` peers). See the module documentation for what counts as
/// malformed. A `failure reason` wins over everything else in the reply.
pub fn parse_http_announce(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    let v = reply_dict(body)?;
    let mut r = AnnounceResponse {
        interval: u32_strict(&v, "interval")?,
        min_interval: u32_strict(&v, "min interval")?,
        complete: u32_lenient(&v, "complete"),
        incomplete: u32_lenient(&v, "incomplete"),
        downloaded: u32_lenient(&v, "downloaded"),
        warning: string_field(&v, "warning message"),
        tracker_id: string_field(&v, "tracker id"),
        peers: Vec::new(),
    };
    match v.get("peers") {
        None => {}
        Some(Value::Bytes(b)) => compact_peers("peers", b, false, &mut r.peers)?,
        Some(Value::List(list)) => {
            // Entries past the cap are neither kept nor checked.
            for (index, p) in list.iter().enumerate().take(MAX_PEERS) {
                if let Some(addr) = dict_peer(index, p)? {
                    r.peers.push(addr);
                }
            }
        }
        Some(_) => return Err(bad_field("peers", "is neither a string nor a list")),
    }
    match v.get("peers6") {
        None => {}
        Some(Value::Bytes(b)) => compact_peers("peers6", b, true, &mut r.peers)?,
        Some(_) => return Err(bad_field("peers6", "is not a string")),
    }
    Ok(r)
}

/// Parses an HTTP scrape reply body (BEP 48) and picks out `info_hash`'s
/// entry from its `files` dictionary. Missing counts are 0; negative or
/// oversize counts are errors.
pub fn parse_http_scrape(body: &[u8], info_hash: &InfoHash) -> Result<ScrapeInfo, TrackerError> {
    let v = reply_dict(body)?;
    let files = match v.get("files") {
        None => return Err(bad_field("files", "is missing")),
        Some(f) => f.as_dict().ok_or_else(|| bad_field("files", "is not a dictionary"))?,
    };
    let entry = files.get(&info_hash.0[..]).ok_or(TrackerError::NotInScrape)?;
    if entry.as_dict().is_none() {
        return Err(bad_field("files", "has an entry that is not a dictionary"));
    }
    Ok(ScrapeInfo {
        complete: u32_strict(entry, "complete")?.unwrap_or(0),
        incomplete: u32_strict(entry, "incomplete")?.unwrap_or(0),
        downloaded: u32_strict(entry, "downloaded")?.unwrap_or(0),
    })
}

// ---- UDP (BEP 15) -----------------------------------------------------------

/// The magic connection id of a UDP connect request.
pub const UDP_PROTOCOL_ID: u64 = 0x41727101980;
const ACTION_CONNECT: u32 = 0;
const ACTION_ANNOUNCE: u32 = 1;
const ACTION_SCRAPE: u32 = 2;
const ACTION_ERROR: u32 = 3;

/// A UDP tracker reply. The caller checks that `transaction_id` is the one
/// it sent (and ignores the packet otherwise).
#[derive(Clone, Debug, PartialEq)]
pub enum UdpResponse {
    /// Reply to a connect request: the connection id to use for a minute.
    Connect {
        /// Echo of the request's transaction id.
        transaction_id: u32,
        /// The id for the following announce/scrape requests.
        connection_id: u64,
    },
    /// Reply to an announce request.
    Announce {
        /// Echo of the request's transaction id.
        transaction_id: u32,
        /// Seconds until the next announce.
        interval: u32,
        /// Leechers in the swarm.
        leechers: u32,
        /// Seeders in the swarm.
        seeders: u32,
        /// Peers (IPv4 or IPv6 by the address family of the tracker), at
        /// most [`MAX_PEERS`].
        peers: Vec<SocketAddr>,
    },
    /// Reply to a scrape request: one entry per info-hash asked, in order.
    Scrape {
        /// Echo of the request's transaction id.
        transaction_id: u32,
        /// The figures, in the order of the request's info-hashes.
        entries: Vec<ScrapeInfo>,
    },
    /// The tracker's error message (action 3).
    Error {
        /// Echo of the request's transaction id.
        transaction_id: u32,
        /// The message (lossy UTF-8, trailing NULs removed).
        message: String,
    },
}

/// Takes the first `N` bytes off the front of `s`.
fn take<const N: usize>(s: &mut &[u8]) -> Option<[u8; N]> {
    let (head, tail) = s.split_first_chunk::<N>()?;
    *s = tail;
    Some(*head)
}

fn take_u32(s: &mut &[u8]) -> Option<u32> {
    take::<4>(s).map(u32::from_be_bytes)
}

/// The 16-byte connect request.
pub fn udp_connect_request(transaction_id: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    let mut w = &mut b[..];
    w.put_u64(UDP_PROTOCOL_ID);
    w.put_u32(ACTION_CONNECT);
    w.put_u32(transaction_id);
    b
}

/// The 98-byte announce request. The IP field is 0 (the sender's address);
/// `num_want` is -1 (the tracker's default) when `None`.
pub fn udp_announce_request(connection_id: u64, transaction_id: u32, req: &AnnounceRequest) -> [u8; 98] {
    let event: u32 = match req.event {
        AnnounceEvent::None => 0,
        AnnounceEvent::Completed => 1,
        AnnounceEvent::Started => 2,
        AnnounceEvent::Stopped => 3,
    };
    let num_want: i32 = req.num_want.map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX));
    let mut b = [0u8; 98];
    let mut w = &mut b[..];
    w.put_u64(connection_id);
    w.put_u32(ACTION_ANNOUNCE);
    w.put_u32(transaction_id);
    w.put_slice(&req.info_hash.0);
    w.put_slice(&req.peer_id.0);
    w.put_u64(req.downloaded);
    w.put_u64(req.left);
    w.put_u64(req.uploaded);
    w.put_u32(event);
    w.put_u32(0); // IP address: the sender's
    w.put_u32(req.key);
    w.put_i32(num_want);
    w.put_u16(req.port);
    b
}

/// A scrape request for the first [`MAX_UDP_SCRAPE_HASHES`] (74) of
/// `info_hashes`; the rest are left out.
pub fn udp_scrape_request(connection_id: u64, transaction_id: u32, info_hashes: &[InfoHash]) -> Vec<u8> {
    let hashes = info_hashes.get(..MAX_UDP_SCRAPE_HASHES).unwrap_or(info_hashes);
    let mut b = Vec::with_capacity(16 + 20 * hashes.len());
    b.extend_from_slice(&connection_id.to_be_bytes());
    b.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    b.extend_from_slice(&transaction_id.to_be_bytes());
    for ih in hashes {
        b.extend_from_slice(&ih.0);
    }
    b
}

/// Parses a UDP tracker reply. `ipv6_peers` says whether announce replies
/// carry 18-byte IPv6 entries (the tracker was reached over IPv6) rather
/// than 6-byte IPv4 ones.
///
/// Strict about sizes: a packet shorter than its action's header is an
/// error, and so are announce peers or scrape entries that do not come to a
/// whole number of entries (a truncated packet, or the wrong address
/// family), as for HTTP compact peers. Bytes after a connect reply's 16 are
/// ignored. The caller matches transaction ids.
pub fn parse_udp_response(buf: &[u8], ipv6_peers: bool) -> Result<UdpResponse, TrackerError> {
    let too_short = |what, min| TrackerError::UdpTooShort { what, len: buf.len(), min };
    let mut s = buf;
    let (Some(action), Some(transaction_id)) = (take_u32(&mut s), take_u32(&mut s)) else {
        return Err(too_short("header", 8));
    };
    match action {
        ACTION_CONNECT => {
            let connection_id = take::<8>(&mut s).ok_or_else(|| too_short("connect", 16))?;
            Ok(UdpResponse::Connect { transaction_id, connection_id: u64::from_be_bytes(connection_id) })
        }
        ACTION_ANNOUNCE => {
            let (Some(interval), Some(leechers), Some(seeders)) =
                (take_u32(&mut s), take_u32(&mut s), take_u32(&mut s))
            else {
                return Err(too_short("announce", 20));
            };
            let mut peers = Vec::new();
            compact_peers("UDP announce peer list", s, ipv6_peers, &mut peers)?;
            Ok(UdpResponse::Announce { transaction_id, interval, leechers, seeders, peers })
        }
        ACTION_SCRAPE => {
            if s.len() % 12 != 0 {
                return Err(TrackerError::BadLength { what: "UDP scrape reply", len: s.len(), stride: 12 });
            }
            let entries = s
                .chunks_exact(12)
                .filter_map(|mut c| {
                    let (complete, downloaded, incomplete) =
                        (take_u32(&mut c)?, take_u32(&mut c)?, take_u32(&mut c)?);
                    Some(ScrapeInfo { complete, incomplete, downloaded })
                })
                .collect();
            Ok(UdpResponse::Scrape { transaction_id, entries })
        }
        ACTION_ERROR => {
            let end = s.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            let message = String::from_utf8_lossy(s.get(..end).unwrap_or(s)).into_owned();
            Ok(UdpResponse::Error { transaction_id, message })
        }
        other => Err(TrackerError::UdpUnknownAction(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req(event: AnnounceEvent) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([0xab; 20]),
            peer_id: PeerId(*b"-LT0010-abcdefghijkl"),
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event,
            num_want: Some(50),
            key: 0x1234,
            tracker_id: None,
            addresses: Vec::new(),
        }
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn announce_url() {
        let u = http_announce_url("http://t.example/announce", &req(AnnounceEvent::Started));
        assert_eq!(
            u,
            "http://t.example/announce?info_hash=%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB\
             &peer_id=-LT0010-abcdefghijkl&port=6881&uploaded=1&downloaded=2&left=3&compact=1&no_peer_id=1\
             &key=00001234&event=started&numwant=50"
        );
        // An existing query (a passkey) is kept and continued with '&'.
        let u = http_announce_url("http://t/a?passkey=x", &req(AnnounceEvent::None));
        assert!(u.starts_with("http://t/a?passkey=x&info_hash="));
        assert!(!u.contains("event="));
        assert!(!u.contains("&&") && !u.contains("?&"));
        for (announce, prefix) in [
            ("http://t/a?", "http://t/a?info_hash="),
            ("http://t/a?k=1&", "http://t/a?k=1&info_hash="),
            ("http://t/a#frag", "http://t/a?info_hash="),
            ("https://t:8443/x/announce.php?k=1#f", "https://t:8443/x/announce.php?k=1&info_hash="),
        ] {
            let u = http_announce_url(announce, &req(AnnounceEvent::None));
            assert!(u.starts_with(prefix), "{u}");
            assert!(!u.contains('#'));
        }
        let mut r = req(AnnounceEvent::Stopped);
        r.num_want = None;
        r.tracker_id = Some("a b&c".into());
        let u = http_announce_url("http://t/announce", &r);
        assert!(u.ends_with("&event=stopped&trackerid=a%20b%26c"), "{u}");
        assert!(!u.contains("numwant"));
        assert!(http_announce_url("http://t/announce", &req(AnnounceEvent::Completed))
            .contains("&event=completed"));
        let mut r = req(AnnounceEvent::None);
        r.addresses = vec!["2001:db8::1".parse().unwrap(), "203.0.113.5".parse().unwrap()];
        let u = http_announce_url("http://t/announce", &r);
        assert!(u.ends_with("&ipv6=2001%3Adb8%3A%3A1&ipv4=203.0.113.5"), "{u}");
    }

    #[test]
    fn announce_url_escaping() {
        let mut r = req(AnnounceEvent::None);
        let mut ih = [0u8; 20];
        ih[..12].copy_from_slice(b"aZ09-._~ %/?");
        ih[12] = 0xff;
        r.info_hash = InfoHash(ih);
        r.peer_id = PeerId(*b"-LT0010-\x00\x01+&=#\x7f\x80\xfe\xff.~");
        let u = http_announce_url("http://t/announce", &r);
        assert!(u.contains("info_hash=aZ09-._~%20%25%2F%3F%FF%00%00%00%00%00%00%00&"), "{u}");
        assert!(u.contains("peer_id=-LT0010-%00%01%2B%26%3D%23%7F%80%FE%FF.~&"), "{u}");
        // Every escaped byte round-trips through a standard decoder.
        let q = u.split_once("info_hash=").unwrap().1.split('&').next().unwrap();
        assert_eq!(percent_encoding::percent_decode_str(q).collect::<Vec<u8>>(), ih);
    }

    #[test]
    fn scrape_url_rule() {
        let ih = [InfoHash([1; 20])];
        assert_eq!(
            http_scrape_url("http://t/announce", &ih).unwrap(),
            "http://t/scrape?info_hash=%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01"
        );
        assert!(http_scrape_url("http://t/x/announce.php?k=1", &ih)
            .unwrap()
            .starts_with("http://t/x/scrape.php?k=1&info_hash="));
        assert_eq!(http_scrape_url("http://t:80/announce", &[]).unwrap(), "http://t:80/scrape");
        assert_eq!(http_scrape_url("http://t/announce?", &[]).unwrap(), "http://t/scrape?");
        assert_eq!(
            http_scrape_url("http://t/announce", &[InfoHash([1; 20]), InfoHash([2; 20])])
                .unwrap()
                .matches("info_hash=")
                .count(),
            2
        );
        assert!(http_scrape_url("http://t/announce#x", &ih)
            .unwrap()
            .starts_with("http://t/scrape?info_hash="));
        // BEP 48's examples of trackers without the convention.
        for no in [
            "http://t/a",
            "http://t/announce/",
            "http://t/x%064announce",
            "http://t/a/announce/x",
            "http://announce.example.com",
            "http://announce.example.com/",
            "http://t/?announce",
            "",
        ] {
            assert_eq!(http_scrape_url(no, &ih), None, "{no}");
        }
        assert_eq!(
            http_scrape_url("http://announce.example.com/announce", &[]).unwrap(),
            "http://announce.example.com/scrape"
        );
    }

    #[test]
    fn compact_and_dict_peers() {
        let r = parse_http_announce(b"d8:completei5e10:incompletei3e8:intervali1800e12:min intervali60e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x1a\xe2e").unwrap();
        assert_eq!(r.interval, Some(1800));
        assert_eq!(r.min_interval, Some(60));
        assert_eq!((r.complete, r.incomplete, r.downloaded), (Some(5), Some(3), None));
        assert_eq!(r.peers, vec![sa("127.0.0.1:6881"), sa("127.0.0.2:6882")]);
        let r = parse_http_announce(
            b"d8:intervali60e5:peersld2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti80eed2:ip5:[::1]4:porti81eeee",
        )
        .unwrap();
        assert_eq!(r.peers, vec![sa("127.0.0.1:80"), sa("[::1]:81")]);
        let mut p6 = b"d8:intervali60e5:peers6:\x0a\x00\x00\x01\x00\x50".to_vec();
        p6.extend_from_slice(b"6:peers618:");
        p6.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1a, 0xe1]);
        p6.push(b'e');
        assert_eq!(parse_http_announce(&p6).unwrap().peers, vec![sa("10.0.0.1:80"), sa("[::1]:6881")]);
        // Empty replies and empty lists are fine.
        assert_eq!(parse_http_announce(b"de").unwrap(), AnnounceResponse::default());
        assert!(parse_http_announce(b"d5:peers0:6:peers60:e").unwrap().peers.is_empty());
        assert!(parse_http_announce(b"d5:peerslee").unwrap().peers.is_empty());
    }

    #[test]
    fn unusable_peers_are_left_out() {
        // Compact entries with port 0 or address 0.0.0.0.
        let r = parse_http_announce(
            b"d5:peers18:\x01\x02\x03\x04\x00\x00\x00\x00\x00\x00\x1a\xe1\x01\x02\x03\x04\x1a\xe1e",
        )
        .unwrap();
        assert_eq!(r.peers, vec![sa("1.2.3.4:6881")]);
        // Host names (BEP 3 allows them) and unspecified addresses.
        let r = parse_http_announce(
            b"d5:peersld2:ip11:example.org4:porti80eed2:ip7:0.0.0.04:porti80eed2:ip7:1.2.3.44:porti80eeee",
        )
        .unwrap();
        assert_eq!(r.peers, vec![sa("1.2.3.4:80")]);
    }

    #[test]
    fn peer_cap() {
        let mut body = b"d5:peers60006:".to_vec();
        for i in 0..10_001u32 {
            body.extend_from_slice(&(0x0a00_0000 + i).to_be_bytes());
            body.extend_from_slice(&[0x1a, 0xe1]);
        }
        body.extend_from_slice(b"6:peers618:");
        body.extend_from_slice(&[0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80]);
        body.push(b'e');
        let r = parse_http_announce(&body).unwrap();
        assert_eq!(r.peers.len(), MAX_PEERS);
        assert_eq!(r.peers[0], sa("10.0.0.0:6881"));

        let mut body = b"d5:peersl".to_vec();
        for _ in 0..10_005 {
            body.extend_from_slice(b"d2:ip7:1.2.3.44:porti80ee");
        }
        body.extend_from_slice(b"d2:ip2:xxe"); // past the cap: not checked
        body.extend_from_slice(b"ee");
        assert_eq!(parse_http_announce(&body).unwrap().peers.len(), MAX_PEERS);
    }

    #[test]
    fn failure_and_warning() {
        let e = parse_http_announce(b"d14:failure reason11:not allowede").unwrap_err();
        assert_eq!(e, TrackerError::Failure("not allowed".into()));
        assert_eq!(e.to_string(), "tracker failure: not allowed");
        // The failure wins over peers and other fields, even malformed ones.
        assert_eq!(
            parse_http_announce(b"d14:failure reason3:bad8:intervali-1e5:peers1:xe"),
            Err(TrackerError::Failure("bad".into()))
        );
        assert!(matches!(parse_http_announce(b"d14:failure reasoni1ee"), Err(TrackerError::Failure(_))));
        let w = parse_http_announce(b"d8:intervali60e10:tracker id3:abc15:warning message4:slowe").unwrap();
        assert_eq!(w.warning.as_deref(), Some("slow"));
        assert_eq!(w.tracker_id.as_deref(), Some("abc"));
        assert_eq!(w.interval, Some(60));
    }

    #[test]
    fn bad_replies() {
        let cases: &[(&[u8], &str)] = &[
            // Compact peer lists of the wrong length (LT parse_peers4/6_invalid_length).
            (b"d5:peers7:abcdefge", "peers has 7 bytes, not a multiple of 6"),
            (b"d6:peers65:abcdee", "peers6 has 5 bytes, not a multiple of 18"),
            (b"d6:peers619:abcdefghijklmnopqrse", "peers6 has 19 bytes"),
            // Dictionary peers (LT extract_peer_*).
            (b"d5:peersli1eee", "peer entry 0 is not a dictionary"),
            (b"d5:peersld4:porti80eeee", "peer entry 0 has no 'ip'"),
            (b"d5:peersld2:ip9:127.0.0.1eee", "peer entry 0 has no 'port'"),
            (b"d5:peersld2:ip9:127.0.0.14:porti-1eeee", "peer entry 0 has port -1"),
            (b"d5:peersld2:ip9:127.0.0.14:porti65536eeee", "peer entry 0 has port 65536"),
            (b"d5:peersld2:ip9:127.0.0.14:porti0eeee", "peer entry 0 has port 0"),
            (b"d5:peersld2:ipi1e4:porti80eeee", "'ip' that is not a string"),
            (b"d5:peersld2:ip9:127.0.0.14:port2:80eee", "'port' that is not an integer"),
            (b"d5:peersld2:ip7:1.2.3.44:porti80eed4:porti1eeee", "peer entry 1 has no 'ip'"),
            (b"d5:peersi1ee", "'peers' is neither a string nor a list"),
            (b"d6:peers6lee", "'peers6' is not a string"),
            // Intervals.
            (b"d8:intervali-5ee", "'interval' is -5, out of range"),
            (b"d8:intervali4294967296ee", "'interval' is 4294967296"),
            (b"d12:min intervali-1ee", "'min interval' is -1"),
            (b"d8:interval2:60e", "'interval' is not an integer"),
            // Not bencode, or not a dictionary.
            (b"garbage", "invalid tracker reply: invalid bencoding"),
            (b"", "invalid bencoding"),
            (b"d8:intervali60e", "invalid bencoding"),
            (b"d8:intervali60ee trailing", "trailing bytes"),
            (b"<html>404</html>", "invalid bencoding"),
            (b"i5e", "not a dictionary"),
            (b"l5:peerse", "not a dictionary"),
        ];
        for (body, want) in cases {
            let e = parse_http_announce(body).expect_err(&String::from_utf8_lossy(body));
            assert!(e.to_string().contains(want), "{:?}: {e}", String::from_utf8_lossy(body));
        }
        // Depth limit (TR's MaxBencDepth = 8).
        let mut deep = b"d1:x".to_vec();
        deep.extend(vec![b'l'; 10]);
        deep.extend(vec![b'e'; 11]);
        assert!(matches!(parse_http_announce(&deep), Err(TrackerError::Bencode(_))));
        // Statistics out of range are left out, not fatal.
        let r = parse_http_announce(b"d8:completei-1e10:downloaded1:x10:incompletei99999999999ee").unwrap();
        assert_eq!((r.complete, r.incomplete, r.downloaded), (None, None, None));
    }

    #[test]
    fn scrape_reply() {
        let ih = InfoHash([b'a'; 20]);
        let body = b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei4e10:downloadedi9e10:incompletei2eeee";
        assert_eq!(
            parse_http_scrape(body, &ih).unwrap(),
            ScrapeInfo { complete: 4, incomplete: 2, downloaded: 9 }
        );
        assert_eq!(parse_http_scrape(body, &InfoHash([b'b'; 20])), Err(TrackerError::NotInScrape));
        assert_eq!(
            parse_http_scrape(b"d5:filesd20:aaaaaaaaaaaaaaaaaaaadeee", &ih).unwrap(),
            ScrapeInfo::default()
        );
        assert_eq!(
            parse_http_scrape(b"d14:failure reason4:nopee", &ih),
            Err(TrackerError::Failure("nope".into()))
        );
        for bad in [
            &b"de"[..],
            b"d5:filesi1ee",
            b"d5:filesd20:aaaaaaaaaaaaaaaaaaaai1eee",
            b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei-4eeee",
            b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:complete1:4eeee",
            b"le",
            b"junk",
        ] {
            assert!(parse_http_scrape(bad, &ih).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn udp_requests() {
        let c = udp_connect_request(7);
        assert_eq!(c, [0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0, 0, 0, 7]);

        let a = udp_announce_request(99, 8, &req(AnnounceEvent::Completed));
        assert_eq!(&a[0..8], &99u64.to_be_bytes());
        assert_eq!(be32(&a, 8), 1);
        assert_eq!(be32(&a, 12), 8);
        assert_eq!(&a[16..36], &[0xab; 20]);
        assert_eq!(&a[36..56], b"-LT0010-abcdefghijkl");
        assert_eq!(&a[56..64], &2u64.to_be_bytes());
        assert_eq!(&a[64..72], &3u64.to_be_bytes());
        assert_eq!(&a[72..80], &1u64.to_be_bytes());
        assert_eq!(be32(&a, 80), 1);
        assert_eq!(be32(&a, 84), 0);
        assert_eq!(be32(&a, 88), 0x1234);
        assert_eq!(be32(&a, 92), 50);
        assert_eq!(&a[96..98], &6881u16.to_be_bytes());
        for (event, code) in
            [(AnnounceEvent::None, 0), (AnnounceEvent::Started, 2), (AnnounceEvent::Stopped, 3)]
        {
            assert_eq!(be32(&udp_announce_request(1, 2, &req(event)), 80), code);
        }
        let mut r = req(AnnounceEvent::None);
        r.num_want = None;
        assert_eq!(be32(&udp_announce_request(1, 2, &r), 92), u32::MAX); // -1
        r.num_want = Some(u32::MAX);
        assert_eq!(be32(&udp_announce_request(1, 2, &r), 92), i32::MAX as u32);

        let hashes: Vec<InfoHash> = (0..100u8).map(|i| InfoHash([i; 20])).collect();
        let s = udp_scrape_request(5, 6, &hashes);
        assert_eq!(s.len(), 16 + 20 * 74);
        assert_eq!(be32(&s, 8), 2);
        assert_eq!(be32(&s, 12), 6);
        assert_eq!(&s[16..36], &[0; 20]);
        assert_eq!(&s[s.len() - 20..], &[73; 20]);
        assert_eq!(udp_scrape_request(5, 6, &hashes[..2]).len(), 56);
        assert_eq!(udp_scrape_request(5, 6, &[]).len(), 16);
    }

    fn udp(action: u32, tid: u32, rest: &[u8]) -> Vec<u8> {
        let mut b = action.to_be_bytes().to_vec();
        b.extend_from_slice(&tid.to_be_bytes());
        b.extend_from_slice(rest);
        b
    }

    #[test]
    fn udp_replies() {
        let reply = udp(0, 7, &42u64.to_be_bytes());
        assert_eq!(
            parse_udp_response(&reply, false).unwrap(),
            UdpResponse::Connect { transaction_id: 7, connection_id: 42 }
        );

        let mut ann = udp(1, 8, &[0, 0, 7, 8, 0, 0, 0, 2, 0, 0, 0, 3]);
        ann.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 1, 0, 80]);
        assert_eq!(
            parse_udp_response(&ann, false).unwrap(),
            UdpResponse::Announce {
                transaction_id: 8,
                interval: 1800,
                leechers: 2,
                seeders: 3,
                peers: vec![sa("127.0.0.1:6881"), sa("10.0.0.1:80")],
            }
        );
        let mut ann6 = udp(1, 8, &[0; 12]);
        ann6.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1a, 0xe1]);
        match parse_udp_response(&ann6, true).unwrap() {
            UdpResponse::Announce { peers, .. } => assert_eq!(peers, vec![sa("[::1]:6881")]),
            other => panic!("{other:?}"),
        }
        // The caller must pass the right family: 18 bytes read as IPv4 are
        // three entries (here 0.0.0.0:0 twice, left out, and 0.0.0.1:6881).
        assert!(matches!(
            parse_udp_response(&ann6, false),
            Ok(UdpResponse::Announce { peers, .. }) if peers == vec![sa("0.0.0.1:6881")]
        ));
        // No peers at all is fine.
        assert!(matches!(parse_udp_response(&udp(1, 8, &[0; 12]), true), Ok(UdpResponse::Announce { .. })));

        let mut scrape = udp(2, 9, &[0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7]);
        scrape.extend_from_slice(&[0; 12]);
        assert_eq!(
            parse_udp_response(&scrape, false).unwrap(),
            UdpResponse::Scrape {
                transaction_id: 9,
                entries: vec![
                    ScrapeInfo { complete: 5, downloaded: 6, incomplete: 7 },
                    ScrapeInfo::default()
                ],
            }
        );

        // Error action 3, with and without a message, NUL-terminated or not.
        assert_eq!(
            parse_udp_response(&udp(3, 9, b"no"), false).unwrap(),
            UdpResponse::Error { transaction_id: 9, message: "no".into() }
        );
        assert_eq!(
            parse_udp_response(&udp(3, 9, b"bad torrent\0\0"), false).unwrap(),
            UdpResponse::Error { transaction_id: 9, message: "bad torrent".into() }
        );
        assert_eq!(
            parse_udp_response(&udp(3, 1, b""), true).unwrap(),
            UdpResponse::Error { transaction_id: 1, message: String::new() }
        );
    }

    #[test]
    fn udp_bad_replies() {
        for short in [&[][..], &[0], &[0, 0, 0], &[0, 0, 0, 0, 0, 0, 0]] {
            assert_eq!(
                parse_udp_response(short, false),
                Err(TrackerError::UdpTooShort { what: "header", len: short.len(), min: 8 })
            );
        }
        assert_eq!(
            parse_udp_response(&udp(0, 1, &[0; 7]), false),
            Err(TrackerError::UdpTooShort { what: "connect", len: 15, min: 16 })
        );
        assert_eq!(
            parse_udp_response(&udp(1, 1, &[0; 11]), false),
            Err(TrackerError::UdpTooShort { what: "announce", len: 19, min: 20 })
        );
        assert_eq!(
            parse_udp_response(&udp(1, 1, &[]), false).unwrap_err().to_string(),
            "UDP tracker reply (announce) has 8 bytes, expected at least 20"
        );
        // Partial peer entries (a truncated datagram, or the wrong family).
        assert!(matches!(
            parse_udp_response(&udp(1, 1, &[0; 12 + 8]), false),
            Err(TrackerError::BadLength { len: 8, stride: 6, .. })
        ));
        assert!(matches!(
            parse_udp_response(&udp(1, 1, &[0; 12 + 12]), true),
            Err(TrackerError::BadLength { len: 12, stride: 18, .. })
        ));
        assert!(matches!(
            parse_udp_response(&udp(2, 1, &[0; 13]), false),
            Err(TrackerError::BadLength { len: 13, stride: 12, .. })
        ));
        assert_eq!(parse_udp_response(&udp(9, 1, &[]), false), Err(TrackerError::UdpUnknownAction(9)));
        assert_eq!(
            parse_udp_response(&udp(u32::MAX, 1, &[0; 40]), false),
            Err(TrackerError::UdpUnknownAction(u32::MAX))
        );
    }

    #[test]
    fn udp_peer_cap() {
        let mut ann = udp(1, 1, &[0; 12]);
        for i in 1..=10_010u32 {
            ann.extend_from_slice(&i.to_be_bytes());
            ann.extend_from_slice(&[0, 1]);
        }
        match parse_udp_response(&ann, false).unwrap() {
            UdpResponse::Announce { peers, .. } => assert_eq!(peers.len(), MAX_PEERS),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn random_replies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), v6 in any::<bool>()) {
            let _ = parse_udp_response(&bytes, v6);
            let _ = parse_http_announce(&bytes);
            let _ = parse_http_scrape(&bytes, &InfoHash::default());
        }

        #[test]
        fn compact_peers_round_trip(peers in proptest::collection::vec((any::<[u8; 4]>(), 1u16..), 0..50)) {
            let mut body = format!("d5:peers{}:", peers.len() * 6).into_bytes();
            for (ip, port) in &peers {
                body.extend_from_slice(ip);
                body.extend_from_slice(&port.to_be_bytes());
            }
            body.push(b'e');
            let want: Vec<SocketAddr> = peers
                .iter()
                .filter(|(ip, _)| *ip != [0; 4])
                .map(|(ip, port)| SocketAddr::new(IpAddr::from(*ip), *port))
                .collect();
            prop_assert_eq!(parse_http_announce(&body).unwrap().peers, want);
        }

        #[test]
        fn announce_urls_escape_every_byte(ih in any::<[u8; 20]>(), pid in any::<[u8; 20]>(), base in "[a-z]{1,8}(\\?[a-z]=[a-z])?") {
            let mut r = req(AnnounceEvent::None);
            r.info_hash = InfoHash(ih);
            r.peer_id = PeerId(pid);
            let u = http_announce_url(&format!("http://t/{base}"), &r);
            prop_assert!(u.is_ascii());
            prop_assert_eq!(u.matches('?').count(), 1);
            let query = u.split_once('?').unwrap().1;
            let get = |k: &str| query.split('&').find_map(|kv| kv.strip_prefix(k)).unwrap().to_owned();
            prop_assert_eq!(percent_encoding::percent_decode_str(&get("info_hash=")).collect::<Vec<u8>>(), ih.to_vec());
            prop_assert_eq!(percent_encoding::percent_decode_str(&get("peer_id=")).collect::<Vec<u8>>(), pid.to_vec());
        }
    }
}
