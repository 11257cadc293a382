//! Local service discovery (BEP 14): the `BT-SEARCH` announce a client
//! multicasts on its local network so that others running the same
//! torrent connect to it.
//!
//! ```text
//! BT-SEARCH * HTTP/1.1\r\n
//! Host: 239.192.152.143:6771\r\n
//! Port: <listen port>\r\n
//! Infohash: <40 hex digits>\r\n      (one or more)
//! cookie: <sender's random tag>\r\n  (optional)
//! \r\n
//! \r\n
//! ```
//!
//! The cookie is libtorrent's: a random 31-bit number in hex that a
//! client puts in its announces so it can ignore them when the multicast
//! loop brings them back. Parsing is strict and bounded: one datagram of at
//! most [`MAX_PACKET_LEN`] bytes, at most [`MAX_HEADERS`] header lines,
//! the method `BT-SEARCH`, a decimal `Port`, info-hashes of exactly 40 hex
//! digits.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::types::InfoHash;

/// The IPv4 multicast group and port of BEP 14.
pub const GROUP_V4: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 192, 152, 143), 6771);

/// The IPv6 group (organisation-local scope) and port of BEP 14.
pub const GROUP_V6: SocketAddrV6 =
    SocketAddrV6::new(Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f), 6771, 0, 0);

/// Largest announce accepted: libtorrent reads LSD datagrams into a
/// 1,500-byte buffer (one Ethernet frame), so a longer one never works.
pub const MAX_PACKET_LEN: usize = 1500;

/// Most header lines read. A real announce has four or five; the bound
/// keeps a hostile datagram from costing more than a few comparisons.
pub const MAX_HEADERS: usize = 32;

/// Why a datagram is not an announce we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LsdError {
    #[error("LSD datagram of {0} bytes, more than {MAX_PACKET_LEN}")]
    TooLarge(usize),
    #[error("LSD datagram is not text")]
    NotText,
    #[error("LSD datagram is not a BT-SEARCH request")]
    NotBtSearch,
    #[error("LSD announce has no blank line after its headers")]
    Incomplete,
    #[error("LSD announce has more than {MAX_HEADERS} header lines")]
    TooManyHeaders,
    #[error("LSD announce has a malformed header line")]
    BadHeader,
    #[error("LSD announce has no valid Port header")]
    BadPort,
    #[error("LSD announce has no valid Infohash header")]
    NoInfoHash,
}

/// One BT-SEARCH announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The sender's listen port (1..=65535).
    pub port: u16,
    /// The torrents it announces (at least one; all-zero hashes and
    /// malformed `Infohash` lines are skipped, as libtorrent skips them).
    pub info_hashes: Vec<InfoHash>,
    /// The sender's cookie when it is 1 to 8 hex digits; a cookie in
    /// another form cannot be one of ours and reads as `None`.
    pub cookie: Option<u32>,
}

impl Announce {
    /// The datagram to multicast to the IPv4 group (`ipv6`: the IPv6 one),
    /// in libtorrent's exact layout, trailing blank line included.
    pub fn encode(&self, ipv6: bool) -> Vec<u8> {
        let host = if ipv6 { "[ff15::efc0:988f]:6771".to_string() } else { GROUP_V4.to_string() };
        let mut s = format!("BT-SEARCH * HTTP/1.1\r\nHost: {host}\r\nPort: {}\r\n", self.port);
        for ih in &self.info_hashes {
            s.push_str(&format!("Infohash: {}\r\n", ih.to_hex()));
        }
        if let Some(c) = self.cookie {
            s.push_str(&format!("cookie: {c:x}\r\n"));
        }
        s.push_str("\r\n\r\n");
        s.into_bytes()
    }

    /// Parses one datagram. Header names are case-insensitive and lines
    /// may end in `\n` alone; a second `Port` header is an error (which
    /// port would be meant?); `Host` is not checked, as libtorrent does
    /// not check it.
    pub fn parse(datagram: &[u8]) -> Result<Announce, LsdError> {
        if datagram.len() > MAX_PACKET_LEN {
            return Err(LsdError::TooLarge(datagram.len()));
        }
        let text = std::str::from_utf8(datagram).map_err(|_| LsdError::NotText)?;
        // Only terminated lines count: the last piece without a newline is
        // not a line, so a datagram cut short lacks its blank line.
        let mut lines = text
            .split_inclusive('\n')
            .filter_map(|l| l.strip_suffix('\n'))
            .map(|l| l.strip_suffix('\r').unwrap_or(l));
        let mut request = lines.next().unwrap_or_default().split(' ');
        let method_ok = request.next().is_some_and(|m| m.eq_ignore_ascii_case("BT-SEARCH"));
        let target_ok = request.next() == Some("*");
        let version_ok = request.next().is_some_and(|v| v.starts_with("HTTP/1."));
        if !(method_ok && target_ok && version_ok && request.next().is_none()) {
            return Err(LsdError::NotBtSearch);
        }
        let (mut port, mut info_hashes, mut cookie, mut finished) = (None, Vec::new(), None, false);
        for (n, line) in lines.enumerate() {
            if line.is_empty() {
                finished = true;
                break;
            }
            if n == MAX_HEADERS {
                return Err(LsdError::TooManyHeaders);
            }
            let (name, value) = line.split_once(':').ok_or(LsdError::BadHeader)?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("port") {
                if port.is_some() {
                    return Err(LsdError::BadPort);
                }
                port = Some(parse_port(value).ok_or(LsdError::BadPort)?);
            } else if name.eq_ignore_ascii_case("infohash") {
                let ih = InfoHash::from_hex(value).filter(|ih| *ih != InfoHash::default());
                info_hashes.extend(ih.filter(|ih| !info_hashes.contains(ih)));
            } else if name.eq_ignore_ascii_case("cookie") && cookie.is_none() {
                cookie = Some(parse_cookie(value));
            }
        }
        if !finished {
            return Err(LsdError::Incomplete);
        }
        let port = port.ok_or(LsdError::BadPort)?;
        if info_hashes.is_empty() {
            return Err(LsdError::NoInfoHash);
        }
        Ok(Announce { port, info_hashes, cookie: cookie.flatten() })
    }
}

/// 1 to 5 decimal digits, 1..=65535.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

/// 1 to 8 hex digits.
fn parse_cookie(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IH: &str = "0123456789abcdef0123456789abcdef01234567";

    fn ih(s: &str) -> InfoHash {
        InfoHash::from_hex(s).unwrap()
    }

    #[test]
    fn libtorrents_announce_parses() {
        let pkt = format!(
            "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: {IH}\r\ncookie: 1a2b3c\r\n\r\n\r\n"
        );
        let a = Announce::parse(pkt.as_bytes()).unwrap();
        assert_eq!(a, Announce { port: 6881, info_hashes: vec![ih(IH)], cookie: Some(0x1a2b3c) });
        assert_eq!(a.encode(false), pkt.as_bytes(), "we send what libtorrent sends");
    }

    #[test]
    fn encode_parse_round_trip_several_hashes_v6_host() {
        let a = Announce { port: 65535, info_hashes: vec![ih(IH), ih(&"f".repeat(40))], cookie: None };
        let bytes = a.encode(true);
        assert!(bytes.starts_with(b"BT-SEARCH * HTTP/1.1\r\nHost: [ff15::efc0:988f]:6771\r\n"));
        assert_eq!(Announce::parse(&bytes).unwrap(), a);
        assert_eq!(GROUP_V6.to_string(), "[ff15::efc0:988f]:6771");
    }

    #[test]
    fn other_clients_forms_parse() {
        // Lower-case names, bare newlines, an upper-case hash, no cookie,
        // spaces around values, a Host it does not matter what it says.
        let pkt =
            format!("bt-search * HTTP/1.0\nhost: x\nINFOHASH:  {}  \nport:51413\n\n", IH.to_uppercase());
        let a = Announce::parse(pkt.as_bytes()).unwrap();
        assert_eq!(a, Announce { port: 51413, info_hashes: vec![ih(IH)], cookie: None });
    }

    #[test]
    fn bad_infohash_lines_are_skipped_but_one_must_be_good() {
        let zero = "0".repeat(40);
        let pkt = format!(
            "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: xyz\r\nInfohash: {zero}\r\nInfohash: {IH}0\r\nInfohash: {IH}\r\nInfohash: {IH}\r\n\r\n"
        );
        assert_eq!(
            Announce::parse(pkt.as_bytes()).unwrap().info_hashes,
            vec![ih(IH)],
            "one copy of the good one"
        );
        let pkt =
            format!("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: {zero}\r\nInfohash: g{}\r\n\r\n", &IH[1..]);
        assert_eq!(Announce::parse(pkt.as_bytes()), Err(LsdError::NoInfoHash));
    }

    #[test]
    fn cookies_in_other_forms_are_not_ours() {
        for (cookie, want) in
            [("ffffffff", Some(u32::MAX)), ("0", Some(0)), ("123456789", None), ("0x12", None), ("", None)]
        {
            let pkt =
                format!("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: {IH}\r\ncookie: {cookie}\r\n\r\n");
            assert_eq!(Announce::parse(pkt.as_bytes()).unwrap().cookie, want, "{cookie:?}");
        }
    }

    #[test]
    fn malformed_announces_are_errors() {
        let good_tail = format!("Port: 6881\r\nInfohash: {IH}\r\n\r\n");
        let cases: Vec<(String, LsdError)> = vec![
            (format!("GET * HTTP/1.1\r\n{good_tail}"), LsdError::NotBtSearch),
            (format!("BT-SEARCH / HTTP/1.1\r\n{good_tail}"), LsdError::NotBtSearch),
            (format!("BT-SEARCH * HTTP/1.1 extra\r\n{good_tail}"), LsdError::NotBtSearch),
            (format!("BT-SEARCH *\r\n{good_tail}"), LsdError::NotBtSearch),
            (String::new(), LsdError::NotBtSearch),
            (format!("BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: {IH}\r\n"), LsdError::Incomplete),
            (format!("BT-SEARCH * HTTP/1.1\r\nPort 6881\r\n{good_tail}"), LsdError::BadHeader),
            (format!("BT-SEARCH * HTTP/1.1\r\nInfohash: {IH}\r\n\r\n"), LsdError::BadPort),
            (format!("BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: {IH}\r\n\r\n"), LsdError::BadPort),
            (format!("BT-SEARCH * HTTP/1.1\r\nPort: 65536\r\nInfohash: {IH}\r\n\r\n"), LsdError::BadPort),
            (format!("BT-SEARCH * HTTP/1.1\r\nPort: -1\r\nInfohash: {IH}\r\n\r\n"), LsdError::BadPort),
            (format!("BT-SEARCH * HTTP/1.1\r\nPort: 000006881\r\nInfohash: {IH}\r\n\r\n"), LsdError::BadPort),
            (format!("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n{good_tail}"), LsdError::BadPort),
            ("BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\n\r\n".into(), LsdError::NoInfoHash),
        ];
        for (pkt, want) in cases {
            assert_eq!(Announce::parse(pkt.as_bytes()), Err(want), "{pkt:?}");
        }
        assert_eq!(Announce::parse(b"BT-SEARCH * HTTP/1.1\r\n\xff\r\n\r\n"), Err(LsdError::NotText));
    }

    #[test]
    fn size_and_header_count_are_bounded() {
        let filler = "X-Pad: 1\r\n".repeat(MAX_HEADERS);
        let pkt = format!("BT-SEARCH * HTTP/1.1\r\n{filler}Port: 1\r\nInfohash: {IH}\r\n\r\n");
        assert_eq!(Announce::parse(pkt.as_bytes()), Err(LsdError::TooManyHeaders));
        let pkt = format!(
            "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: {IH}\r\n\r\n{}",
            " ".repeat(MAX_PACKET_LEN)
        );
        assert_eq!(Announce::parse(pkt.as_bytes()), Err(LsdError::TooLarge(pkt.len())));
        // Just within both bounds.
        let filler = "X-Pad: 1\r\n".repeat(MAX_HEADERS - 2);
        let pkt = format!("BT-SEARCH * HTTP/1.1\r\n{filler}Port: 1\r\nInfohash: {IH}\r\n\r\n");
        assert_eq!(Announce::parse(pkt.as_bytes()).unwrap().port, 1);
    }
}
