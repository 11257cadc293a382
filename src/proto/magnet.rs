//! Magnet URIs (BEP 9): `magnet:?xt=urn:btih:<hash>&dn=...&tr=...&x.pe=...`.
//! The v1 hash is 40 hex or 32 base32 digits. A BitTorrent v2 torrent (BEP
//! 52) is named by `xt=urn:btmh:1220<64 hex digits>`: a multihash whose code
//! 0x12 is SHA-256 and 0x20 its length; other multihash codes are refused.
//! `btmh` alone is a v2-only swarm, beside `btih` a hybrid one. Values are
//! percent-decoded; bad escapes, a missing or malformed hash, and more than
//! 100 trackers, peers or web seeds are errors (CVE-2010-0749 was an
//! unbounded list).

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::types::InfoHash;

/// Longest URI accepted.
pub const MAX_URI: usize = 64 * 1024;
/// Most trackers, peers or web seeds accepted.
pub const MAX_LIST: usize = 100;

/// A parsed magnet link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    /// The swarm's 20-byte id: the `btih` hash when there is one, else the
    /// `btmh` (v2) hash truncated to 20 bytes, as for a .torrent.
    pub info_hash: InfoHash,
    /// The v2 info-hash (SHA-256 of the info dictionary) from `btmh`.
    pub info_hash_v2: Option<[u8; 32]>,
    pub name: Option<String>,
    pub trackers: Vec<String>,
    /// `x.pe` peer addresses ("host:port").
    pub peers: Vec<String>,
    pub web_seeds: Vec<String>,
}

/// Why a magnet URI is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    #[error("not a magnet URI (it must start with 'magnet:?')")]
    NotMagnet,
    #[error("URI longer than {MAX_URI} bytes")]
    TooLong,
    #[error("no 'xt=urn:btih:' or 'xt=urn:btmh:' info-hash")]
    NoInfoHash,
    #[error("invalid info-hash '{0}': expected 40 hex or 32 base32 digits")]
    BadInfoHash(String),
    #[error("invalid v2 info-hash '{0}': expected 1220 and 64 hex digits (a SHA-256 multihash)")]
    BadV2InfoHash(String),
    #[error(
        "unsupported multihash '{0}' in 'xt=urn:btmh:': only SHA-256 (1220) names a BitTorrent v2 torrent"
    )]
    UnsupportedMultihash(String),
    #[error("invalid percent-escape in '{0}'")]
    BadEscape(String),
    #[error("more than {MAX_LIST} '{0}' parameters")]
    TooMany(&'static str),
}

fn base32(s: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let (mut acc, mut bits, mut n) = (0u64, 0u32, 0usize);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        } as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(n)? = (acc >> bits) as u8;
            n += 1;
        }
    }
    (n == 20).then_some(out)
}

/// A `btmh` value: the SHA-256 multihash `1220` followed by 64 hex digits.
fn btmh(h: &str) -> Result<[u8; 32], MagnetError> {
    let code = h.get(..4).filter(|c| c.bytes().all(|b| b.is_ascii_hexdigit()));
    match code {
        Some(c) if c.eq_ignore_ascii_case("1220") => {}
        Some(c) if h.len() > 4 => return Err(MagnetError::UnsupportedMultihash(c.to_string())),
        _ => return Err(MagnetError::BadV2InfoHash(h.to_string())),
    }
    let digits = &h[4..];
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MagnetError::BadV2InfoHash(h.to_string()));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).expect("checked hex digits");
    }
    Ok(out)
}

fn decode(v: &str) -> Result<String, MagnetError> {
    let bytes = v.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let ok = bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return Err(MagnetError::BadEscape(v.to_string()));
            }
        }
    }
    let plus = v.replace('+', " ");
    percent_decode_str(&plus)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| MagnetError::BadEscape(v.to_string()))
}

impl Magnet {
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let uri = uri.trim();
        if uri.len() > MAX_URI {
            return Err(MagnetError::TooLong);
        }
        let query = uri
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("magnet:?"))
            .map(|_| &uri[8..])
            .ok_or(MagnetError::NotMagnet)?;
        let mut info_hash = None;
        let mut m = Magnet {
            info_hash: InfoHash::default(),
            info_hash_v2: None,
            name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
            web_seeds: Vec::new(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = key.split('.').next().filter(|k| *k != "x").unwrap_or(key);
            match key {
                "xt" => {
                    let v = decode(value)?;
                    if let Some(h) = v.strip_prefix("urn:btih:") {
                        let parsed = match h.len() {
                            40 => InfoHash::from_hex(h),
                            32 => base32(h).map(InfoHash),
                            _ => None,
                        };
                        info_hash = Some(parsed.ok_or_else(|| MagnetError::BadInfoHash(h.to_string()))?);
                    } else if let Some(h) = v.strip_prefix("urn:btmh:") {
                        m.info_hash_v2 = Some(btmh(h)?);
                    }
                }
                "dn" => m.name = Some(decode(value)?),
                "tr" => push(&mut m.trackers, decode(value)?, "tr")?,
                "ws" => push(&mut m.web_seeds, decode(value)?, "ws")?,
                "x.pe" => push(&mut m.peers, decode(value)?, "x.pe")?,
                _ => {}
            }
        }
        m.info_hash = match (info_hash, m.info_hash_v2) {
            (Some(h), _) => h,
            (None, Some(v2)) => InfoHash(v2[..20].try_into().expect("20 of 32 bytes")),
            (None, None) => return Err(MagnetError::NoInfoHash),
        };
        Ok(m)
    }

    /// The link back as a URI: `btih` unless the swarm is v2-only (its id
    /// is then the truncated v2 hash, which is no SHA-1 of anything), and
    /// `btmh` when the v2 hash is known.
    pub fn to_uri(&self) -> String {
        const SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
        let v2_only = self.info_hash_v2.is_some_and(|v2| v2[..20] == self.info_hash.0);
        let mut xt = Vec::new();
        if !v2_only {
            xt.push(format!("xt=urn:btih:{}", self.info_hash.to_hex()));
        }
        if let Some(v2) = self.info_hash_v2 {
            xt.push(format!("xt=urn:btmh:1220{}", v2.iter().map(|b| format!("{b:02x}")).collect::<String>()));
        }
        let mut s = format!("magnet:?{}", xt.join("&"));
        if let Some(n) = &self.name {
            s.push_str(&format!("&dn={}", utf8_percent_encode(n, SET)));
        }
        for (k, list) in [("tr", &self.trackers), ("ws", &self.web_seeds)] {
            for v in list {
                s.push_str(&format!("&{k}={}", utf8_percent_encode(v, SET)));
            }
        }
        // libtorrent reads `x.pe` without percent-decoding it: a peer is
        // written as its bare "host:port" ("[v6]:port"), as libtorrent writes it.
        const PEER: &AsciiSet = &SET.remove(b':').remove(b'[').remove(b']');
        for v in &self.peers {
            s.push_str(&format!("&x.pe={}", utf8_percent_encode(v, PEER)));
        }
        s
    }
}

fn push(list: &mut Vec<String>, v: String, what: &'static str) -> Result<(), MagnetError> {
    if list.len() >= MAX_LIST {
        return Err(MagnetError::TooMany(what));
    }
    let v = v.trim().to_string();
    if !v.is_empty() && !list.contains(&v) {
        list.push(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_base32() {
        let m = Magnet::parse(" magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=My+File%21&tr=http%3A%2F%2Ft%2Fa&tr.1=udp://u:1&x.pe=1.2.3.4:5 ").unwrap();
        assert_eq!(m.info_hash.to_hex(), "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(m.name.as_deref(), Some("My File!"));
        assert_eq!(m.trackers, vec!["http://t/a".to_string(), "udp://u:1".to_string()]);
        assert_eq!(m.peers, vec!["1.2.3.4:5".to_string()]);
        let b = Magnet::parse("magnet:?xt=urn:btih:AERUKZ4JVPG66AJDIVTYTK6N54ASGRLH").unwrap();
        assert_eq!(b.info_hash.to_hex(), "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
        assert!(m.to_uri().ends_with("&x.pe=1.2.3.4:5"), "x.pe unescaped, as libtorrent reads it");
    }

    #[test]
    fn v2_and_hybrid_links() {
        let v2 = "ab".repeat(32);
        let m = Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{}&dn=x", v2.to_uppercase())).unwrap();
        assert_eq!(m.info_hash_v2, Some([0xab; 32]));
        assert_eq!(m.info_hash.0, [0xab; 20], "a v2-only swarm is named by the truncated v2 hash");
        assert_eq!(m.to_uri(), format!("magnet:?xt=urn:btmh:1220{v2}&dn=x"), "no btih for v2-only");
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
        let v1 = "0123456789abcdef0123456789abcdef01234567";
        for uri in [
            format!("magnet:?xt=urn:btih:{v1}&xt=urn:btmh:1220{v2}"),
            format!("magnet:?xt=urn:btmh:1220{v2}&xt=urn:btih:{v1}"),
        ] {
            let h = Magnet::parse(&uri).unwrap();
            assert_eq!(h.info_hash.to_hex(), v1, "a hybrid swarm is named by its v1 hash");
            assert_eq!(h.info_hash_v2, Some([0xab; 32]));
            assert_eq!(h.to_uri(), format!("magnet:?xt=urn:btih:{v1}&xt=urn:btmh:1220{v2}"));
        }
        // As libtorrent writes a hybrid (corpus v2.torrent).
        let lt = "magnet:?xt=urn:btih:c14199bbec64d0e9e439aa3b6b7639e666b86eca&xt=urn:btmh:1220597b180c1a170a585dfc5e85d834d69013ceda174b8f357d5bb1a0ca509faf0a&dn=test64K";
        let h = Magnet::parse(lt).unwrap();
        assert_eq!(h.info_hash.to_hex(), "c14199bbec64d0e9e439aa3b6b7639e666b86eca");
        assert_eq!(h.info_hash_v2.map(|v| v[0]), Some(0x59));
        assert_eq!(h.to_uri(), lt);
        let plain = Magnet::parse(&format!("magnet:?xt=urn:btih:{v1}")).unwrap();
        assert_eq!(plain.info_hash_v2, None);
        assert!(!plain.to_uri().contains("btmh"));
    }

    #[test]
    fn refuses_bad_links() {
        for (uri, want) in [
            ("http://x", MagnetError::NotMagnet),
            ("magnet:?dn=x", MagnetError::NoInfoHash),
            ("magnet:?xt=urn:btih:abababab", MagnetError::BadInfoHash("abababab".into())),
            (
                "magnet:?xt=urn:btih:0123456789abcdef0123",
                MagnetError::BadInfoHash("0123456789abcdef0123".into()),
            ),
            (
                "magnet:?xt=urn:btih:zz23456789abcdef0123456789abcdef01234567",
                MagnetError::BadInfoHash("zz23456789abcdef0123456789abcdef01234567".into()),
            ),
            ("magnet:?xt=urn:btmh:1220abcd", MagnetError::BadV2InfoHash("1220abcd".into())),
            ("magnet:?xt=urn:btmh:12", MagnetError::BadV2InfoHash("12".into())),
            (
                "magnet:?xt=urn:btmh:1114aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                MagnetError::UnsupportedMultihash("1114".into()),
            ),
            (
                "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=%f",
                MagnetError::BadEscape("%f".into()),
            ),
            (
                "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&ws=%\u{f7}",
                MagnetError::BadEscape("%\u{f7}".into()),
            ),
        ] {
            assert_eq!(Magnet::parse(uri), Err(want), "{uri}");
        }
        let many: String = (0..101).map(|i| format!("&tr=http://t{i}/a")).collect();
        let uri = format!("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567{many}");
        assert_eq!(Magnet::parse(&uri), Err(MagnetError::TooMany("tr")));
        assert_eq!(Magnet::parse(&"a".repeat(MAX_URI + 1)), Err(MagnetError::TooLong));
    }
}
