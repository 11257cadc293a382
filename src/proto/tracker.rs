//! Tracker requests and replies, sans-IO: HTTP announce URLs and bencoded
//! replies (BEP 3, BEP 23 compact peers, BEP 7 peers6, BEP 48 scrape) and
//! the UDP tracker protocol's packets (BEP 15).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::bencode::{self, Value};
use super::types::{InfoHash, PeerId};

/// Most peers kept from one reply.
pub const MAX_PEERS: usize = 10_000;

/// The announce event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnounceEvent {
    None,
    Started,
    Completed,
    Stopped,
}

/// What we tell a tracker.
#[derive(Clone, Debug)]
pub struct AnnounceRequest {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: AnnounceEvent,
    pub num_want: Option<u32>,
    pub key: u32,
    pub tracker_id: Option<String>,
}

/// What a tracker answered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnnounceResponse {
    pub interval: Option<u32>,
    pub min_interval: Option<u32>,
    pub complete: Option<u32>,
    pub incomplete: Option<u32>,
    pub downloaded: Option<u32>,
    pub peers: Vec<SocketAddr>,
    pub warning: Option<String>,
    pub tracker_id: Option<String>,
}

/// Scrape figures of one torrent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeInfo {
    pub complete: u32,
    pub incomplete: u32,
    pub downloaded: u32,
}

/// A tracker reply we cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    /// The tracker's own `failure reason`.
    #[error("tracker failure: {0}")]
    Failure(String),
    #[error("invalid tracker reply: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> TrackerError {
    TrackerError::Invalid(msg.into())
}

/// Characters escaped in query values: everything but RFC 3986 unreserved.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn event_str(e: AnnounceEvent) -> Option<&'static str> {
    match e {
        AnnounceEvent::None => None,
        AnnounceEvent::Started => Some("started"),
        AnnounceEvent::Completed => Some("completed"),
        AnnounceEvent::Stopped => Some("stopped"),
    }
}

/// The full HTTP announce URL for `req`.
pub fn http_announce_url(announce: &str, req: &AnnounceRequest) -> String {
    let sep = if announce.contains('?') { '&' } else { '?' };
    let mut url = format!(
        "{announce}{sep}info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact=1&no_peer_id=1&key={:08x}",
        percent_encode(&req.info_hash.0, QUERY),
        percent_encode(&req.peer_id.0, QUERY),
        req.port,
        req.uploaded,
        req.downloaded,
        req.left,
        req.key
    );
    if let Some(e) = event_str(req.event) {
        url.push_str("&event=");
        url.push_str(e);
    }
    if let Some(n) = req.num_want {
        url.push_str(&format!("&numwant={n}"));
    }
    if let Some(id) = &req.tracker_id {
        url.push_str("&trackerid=");
        url.push_str(&percent_encode(id.as_bytes(), QUERY).to_string());
    }
    url
}

/// The scrape URL for an announce URL, by the convention of BEP 48: the
/// last path component must start with "announce", which becomes "scrape".
pub fn http_scrape_url(announce: &str, info_hashes: &[InfoHash]) -> Option<String> {
    let (base, query) = match announce.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (announce, None),
    };
    let slash = base.rfind('/')?;
    let last = &base[slash + 1..];
    let rest = last.strip_prefix("announce")?;
    let mut url = format!("{}scrape{rest}", &base[..slash + 1]);
    let mut sep = '?';
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
        sep = '&';
    }
    for ih in info_hashes {
        url.push(sep);
        url.push_str("info_hash=");
        url.push_str(&percent_encode(&ih.0, QUERY).to_string());
        sep = '&';
    }
    Some(url)
}

fn u32_field(v: &Value<'_>, key: &str) -> Result<Option<u32>, TrackerError> {
    match v.get(key) {
        None => Ok(None),
        Some(Value::Int(i)) => u32::try_from(*i).map(Some).map_err(|_| invalid(format!("'{key}' is {i}"))),
        Some(_) => Err(invalid(format!("'{key}' is not an integer"))),
    }
}

fn compact_peers(b: &[u8], v6: bool, out: &mut Vec<SocketAddr>) -> Result<(), TrackerError> {
    let size = if v6 { 18 } else { 6 };
    if b.len() % size != 0 {
        return Err(invalid(format!(
            "compact peers{} of {} bytes is not a multiple of {size}",
            if v6 { "6" } else { "" },
            b.len()
        )));
    }
    for chunk in b.chunks_exact(size) {
        if out.len() >= MAX_PEERS {
            break;
        }
        let (ip, port) = if v6 {
            let mut a = [0u8; 16];
            a.copy_from_slice(&chunk[..16]);
            (IpAddr::V6(Ipv6Addr::from(a)), u16::from_be_bytes([chunk[16], chunk[17]]))
        } else {
            (
                IpAddr::V4(Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3])),
                u16::from_be_bytes([chunk[4], chunk[5]]),
            )
        };
        if port != 0 {
            out.push(SocketAddr::new(ip, port));
        }
    }
    Ok(())
}

fn dict_peer(p: &Value<'_>) -> Result<SocketAddr, TrackerError> {
    if p.as_dict().is_none() {
        return Err(invalid("peer entry is not a dictionary"));
    }
    let ip = p.get("ip").and_then(Value::as_str).ok_or_else(|| invalid("peer entry without 'ip'"))?;
    let port = p.get("port").and_then(Value::as_int).ok_or_else(|| invalid("peer entry without 'port'"))?;
    let port =
        u16::try_from(port).ok().filter(|p| *p != 0).ok_or_else(|| invalid(format!("peer port {port}")))?;
    let ip: IpAddr = ip.parse().map_err(|_| invalid(format!("peer ip '{ip}' is not an address")))?;
    Ok(SocketAddr::new(ip, port))
}

/// Parses an HTTP announce reply body.
pub fn parse_http_announce(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    let limits = bencode::Limits { max_depth: 8, max_items: 200_000 };
    let v = bencode::decode_with(body, limits).map_err(|e| invalid(e.to_string()))?;
    if v.as_dict().is_none() {
        return Err(invalid("not a dictionary"));
    }
    if let Some(reason) = v.get("failure reason") {
        let msg = reason.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        return Err(TrackerError::Failure(msg));
    }
    let mut r = AnnounceResponse {
        interval: u32_field(&v, "interval")?,
        min_interval: u32_field(&v, "min interval")?,
        complete: u32_field(&v, "complete")?,
        incomplete: u32_field(&v, "incomplete")?,
        downloaded: u32_field(&v, "downloaded")?,
        warning: v
            .get("warning message")
            .and_then(Value::as_bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        tracker_id: v
            .get("tracker id")
            .and_then(Value::as_bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        peers: Vec::new(),
    };
    match v.get("peers") {
        Some(Value::Bytes(b)) => compact_peers(b, false, &mut r.peers)?,
        Some(Value::List(l)) => {
            for p in l.iter().take(MAX_PEERS) {
                r.peers.push(dict_peer(p)?);
            }
        }
        Some(_) => return Err(invalid("'peers' is neither a string nor a list")),
        None => {}
    }
    if let Some(p6) = v.get("peers6") {
        let b = p6.as_bytes().ok_or_else(|| invalid("'peers6' is not a string"))?;
        compact_peers(b, true, &mut r.peers)?;
    }
    Ok(r)
}

/// Parses an HTTP scrape reply body for one torrent.
pub fn parse_http_scrape(body: &[u8], info_hash: &InfoHash) -> Result<ScrapeInfo, TrackerError> {
    let limits = bencode::Limits { max_depth: 8, max_items: 200_000 };
    let v = bencode::decode_with(body, limits).map_err(|e| invalid(e.to_string()))?;
    if let Some(reason) = v.get("failure reason").and_then(Value::as_bytes) {
        return Err(TrackerError::Failure(String::from_utf8_lossy(reason).into_owned()));
    }
    let files = v.get("files").and_then(Value::as_dict).ok_or_else(|| invalid("no 'files' dictionary"))?;
    let entry = files.get(&info_hash.0[..]).ok_or_else(|| invalid("torrent not in the scrape reply"))?;
    Ok(ScrapeInfo {
        complete: u32_field(entry, "complete")?.unwrap_or(0),
        incomplete: u32_field(entry, "incomplete")?.unwrap_or(0),
        downloaded: u32_field(entry, "downloaded")?.unwrap_or(0),
    })
}

// ---- UDP (BEP 15) -----------------------------------------------------------

pub const UDP_PROTOCOL_ID: u64 = 0x41727101980;
const ACTION_CONNECT: u32 = 0;
const ACTION_ANNOUNCE: u32 = 1;
const ACTION_SCRAPE: u32 = 2;
const ACTION_ERROR: u32 = 3;

/// A UDP tracker reply.
#[derive(Clone, Debug, PartialEq)]
pub enum UdpResponse {
    Connect { transaction_id: u32, connection_id: u64 },
    Announce { transaction_id: u32, interval: u32, leechers: u32, seeders: u32, peers: Vec<SocketAddr> },
    Scrape { transaction_id: u32, entries: Vec<ScrapeInfo> },
    Error { transaction_id: u32, message: String },
}

pub fn udp_connect_request(transaction_id: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..8].copy_from_slice(&UDP_PROTOCOL_ID.to_be_bytes());
    b[8..12].copy_from_slice(&ACTION_CONNECT.to_be_bytes());
    b[12..16].copy_from_slice(&transaction_id.to_be_bytes());
    b
}

pub fn udp_announce_request(connection_id: u64, transaction_id: u32, req: &AnnounceRequest) -> [u8; 98] {
    let mut b = [0u8; 98];
    b[0..8].copy_from_slice(&connection_id.to_be_bytes());
    b[8..12].copy_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    b[12..16].copy_from_slice(&transaction_id.to_be_bytes());
    b[16..36].copy_from_slice(&req.info_hash.0);
    b[36..56].copy_from_slice(&req.peer_id.0);
    b[56..64].copy_from_slice(&req.downloaded.to_be_bytes());
    b[64..72].copy_from_slice(&req.left.to_be_bytes());
    b[72..80].copy_from_slice(&req.uploaded.to_be_bytes());
    let event: u32 = match req.event {
        AnnounceEvent::None => 0,
        AnnounceEvent::Completed => 1,
        AnnounceEvent::Started => 2,
        AnnounceEvent::Stopped => 3,
    };
    b[80..84].copy_from_slice(&event.to_be_bytes());
    // 84..88: IP address 0 (the sender's)
    b[88..92].copy_from_slice(&req.key.to_be_bytes());
    let num_want: i32 = req.num_want.map(|n| n.min(i32::MAX as u32) as i32).unwrap_or(-1);
    b[92..96].copy_from_slice(&num_want.to_be_bytes());
    b[96..98].copy_from_slice(&req.port.to_be_bytes());
    b
}

/// A scrape request for up to 74 torrents (more are left out).
pub fn udp_scrape_request(connection_id: u64, transaction_id: u32, info_hashes: &[InfoHash]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + 20 * info_hashes.len().min(74));
    b.extend_from_slice(&connection_id.to_be_bytes());
    b.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    b.extend_from_slice(&transaction_id.to_be_bytes());
    for ih in info_hashes.iter().take(74) {
        b.extend_from_slice(&ih.0);
    }
    b
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses a UDP tracker reply. Trailing bytes that do not make a whole
/// peer or scrape entry are ignored. The caller matches transaction ids.
pub fn parse_udp_response(buf: &[u8], ipv6_peers: bool) -> Result<UdpResponse, TrackerError> {
    if buf.len() < 8 {
        return Err(invalid(format!("UDP reply of {} bytes", buf.len())));
    }
    let action = be32(buf, 0);
    let transaction_id = be32(buf, 4);
    match action {
        ACTION_CONNECT => {
            if buf.len() < 16 {
                return Err(invalid("short connect reply"));
            }
            let mut id = [0u8; 8];
            id.copy_from_slice(&buf[8..16]);
            Ok(UdpResponse::Connect { transaction_id, connection_id: u64::from_be_bytes(id) })
        }
        ACTION_ANNOUNCE => {
            if buf.len() < 20 {
                return Err(invalid("short announce reply"));
            }
            let size = if ipv6_peers { 18 } else { 6 };
            let body = &buf[20..];
            let whole = body.len() - body.len() % size;
            let mut peers = Vec::new();
            compact_peers(&body[..whole], ipv6_peers, &mut peers)?;
            Ok(UdpResponse::Announce {
                transaction_id,
                interval: be32(buf, 8),
                leechers: be32(buf, 12),
                seeders: be32(buf, 16),
                peers,
            })
        }
        ACTION_SCRAPE => {
            let entries = buf[8..]
                .chunks_exact(12)
                .map(|c| ScrapeInfo { complete: be32(c, 0), downloaded: be32(c, 4), incomplete: be32(c, 8) })
                .collect();
            Ok(UdpResponse::Scrape { transaction_id, entries })
        }
        ACTION_ERROR => Ok(UdpResponse::Error {
            transaction_id,
            message: String::from_utf8_lossy(&buf[8..]).into_owned(),
        }),
        other => Err(invalid(format!("unknown UDP action {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }

    #[test]
    fn announce_url() {
        let u = http_announce_url("http://t.example/announce", &req(AnnounceEvent::Started));
        assert!(u.starts_with("http://t.example/announce?info_hash=%AB%AB"));
        assert!(
            u.contains("&peer_id=-LT0010-abcdefghijkl&port=6881&uploaded=1&downloaded=2&left=3&compact=1")
        );
        assert!(u.contains("&event=started") && u.contains("&numwant=50"));
        let u = http_announce_url("http://t/a?passkey=x", &req(AnnounceEvent::None));
        assert!(u.starts_with("http://t/a?passkey=x&info_hash="));
        assert!(!u.contains("event="));
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
        assert!(http_scrape_url("http://t/a", &ih).is_none());
    }

    #[test]
    fn compact_and_dict_peers() {
        let r = parse_http_announce(b"d8:completei5e10:incompletei3e8:intervali1800e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x1a\xe2e").unwrap();
        assert_eq!(r.interval, Some(1800));
        assert_eq!(r.complete, Some(5));
        assert_eq!(r.peers, vec!["127.0.0.1:6881".parse().unwrap(), "127.0.0.2:6882".parse().unwrap()]);
        let r = parse_http_announce(b"d8:intervali60e5:peersld2:ip9:127.0.0.14:porti80eeee").unwrap();
        assert_eq!(r.peers, vec!["127.0.0.1:80".parse().unwrap()]);
        let mut p6 = b"d8:intervali60e6:peers618:".to_vec();
        p6.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1a, 0xe1]);
        p6.push(b'e');
        assert_eq!(parse_http_announce(&p6).unwrap().peers, vec!["[::1]:6881".parse().unwrap()]);
    }

    #[test]
    fn bad_replies() {
        assert_eq!(
            parse_http_announce(b"d14:failure reason11:not allowede"),
            Err(TrackerError::Failure("not allowed".into()))
        );
        let w = parse_http_announce(b"d8:intervali60e15:warning message4:slowe").unwrap();
        assert_eq!(w.warning.as_deref(), Some("slow"));
        for bad in [
            &b"d5:peers7:abcdefge"[..],
            b"d6:peers65:abcdee",
            b"d5:peersli1eee",
            b"d5:peersld4:porti80eeee",
            b"d5:peersld2:ip9:127.0.0.1eee",
            b"d5:peersld2:ip9:127.0.0.14:porti-1eeee",
            b"d5:peersld2:ip9:127.0.0.14:porti65536eeee",
            b"d8:intervali-5ee",
            b"garbage",
            b"i5e",
        ] {
            assert!(parse_http_announce(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn scrape_reply() {
        let ih = InfoHash([b'a'; 20]);
        let body = b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei4e10:downloadedi9e10:incompletei2eeee";
        assert_eq!(
            parse_http_scrape(body, &ih).unwrap(),
            ScrapeInfo { complete: 4, incomplete: 2, downloaded: 9 }
        );
        assert!(parse_http_scrape(body, &InfoHash([b'b'; 20])).is_err());
    }

    #[test]
    fn udp_packets() {
        let c = udp_connect_request(7);
        assert_eq!(&c[0..8], &UDP_PROTOCOL_ID.to_be_bytes());
        let a = udp_announce_request(99, 8, &req(AnnounceEvent::Completed));
        assert_eq!(&a[0..8], &99u64.to_be_bytes());
        assert_eq!(be32(&a, 80), 1);
        assert_eq!(&a[96..98], &6881u16.to_be_bytes());

        let mut reply = vec![0, 0, 0, 0, 0, 0, 0, 7];
        reply.extend_from_slice(&42u64.to_be_bytes());
        assert_eq!(
            parse_udp_response(&reply, false).unwrap(),
            UdpResponse::Connect { transaction_id: 7, connection_id: 42 }
        );

        let mut ann = vec![0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 7, 8, 0, 0, 0, 2, 0, 0, 0, 3];
        ann.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1, 1, 2]);
        match parse_udp_response(&ann, false).unwrap() {
            UdpResponse::Announce { interval, leechers, seeders, peers, .. } => {
                assert_eq!((interval, leechers, seeders), (1800, 2, 3));
                assert_eq!(peers, vec!["127.0.0.1:6881".parse().unwrap()]);
            }
            other => panic!("{other:?}"),
        }
        let err = [0, 0, 0, 3, 0, 0, 0, 9, b'n', b'o'];
        assert_eq!(
            parse_udp_response(&err, false).unwrap(),
            UdpResponse::Error { transaction_id: 9, message: "no".into() }
        );
        assert!(parse_udp_response(&[0, 0, 0], false).is_err());
        assert!(parse_udp_response(&[0, 0, 0, 0, 0, 0, 0, 1, 2], false).is_err());
        assert!(parse_udp_response(&[0, 0, 0, 1, 0, 0, 0, 1, 2], false).is_err());
        assert!(parse_udp_response(&[0, 0, 0, 9, 0, 0, 0, 1], false).is_err());
    }
}
