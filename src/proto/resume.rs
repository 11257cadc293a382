//! Fast-resume data: a bencoded dictionary with libtorrent-rasterbar's
//! field names, so tools that read libtorrent's resume files read ours.
//!
//! Decisions, for untrusted input:
//! - the whole blob is at most [`MAX_RESUME_SIZE`]; lists are bounded
//!   (pieces as in metainfo, 1,000 tracker tiers, 10,000 URLs of at most
//!   4,096 bytes, 100,000 peers, 1,000,000 files);
//! - priorities are 0 to 7, flags 0 or 1, sizes, totals and times not
//!   negative: anything else is an error naming the field;
//! - an embedded info dictionary must hash to the info-hash;
//! - "file sizes" is libtorrent 1.x's list of [size, mtime seconds] pairs;
//!   "lt-file-mtime-ns" adds the nanoseconds, so a file touched within the
//!   same second is still told apart.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sha1::{Digest, Sha1};

use super::bencode::{self, Limits, Value};
use super::metainfo::MAX_PIECES;
use super::types::{hex, InfoHash};

/// Largest resume blob accepted.
pub const MAX_RESUME_SIZE: usize = 64 << 20;
const MAX_TIERS: usize = 1000;
const MAX_URLS: usize = 10_000;
const MAX_URL_LEN: usize = 4096;
const MAX_PEERS: usize = 100_000;
const MAX_FILES: usize = 1_000_000;
const FILE_FORMAT: &str = "libtorrent resume file";

/// One torrent's resume data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeData {
    pub info_hash: InfoHash,
    pub name: String,
    pub save_path: String,
    /// Per piece, whether it is had ("pieces": one byte per piece, bit 0x01).
    pub pieces: Vec<bool>,
    pub file_priority: Vec<u8>,
    pub piece_priority: Vec<u8>,
    /// Tracker URLs by tier.
    pub trackers: Vec<Vec<String>>,
    /// Web seed URLs ("url-list", as libtorrent saves them).
    pub url_seeds: Vec<String>,
    pub peers: Vec<SocketAddr>,
    /// Per file: size and modification time in seconds ((0, 0): absent).
    pub file_sizes: Vec<(u64, i64)>,
    /// Per file: the nanoseconds of the modification time.
    pub file_mtimes_ns: Vec<i64>,
    pub total_uploaded: i64,
    pub total_downloaded: i64,
    pub active_time: i64,
    pub finished_time: i64,
    pub seeding_time: i64,
    pub added_time: i64,
    pub completed_time: i64,
    pub paused: bool,
    pub auto_managed: bool,
    pub sequential_download: bool,
    pub upload_rate_limit: i64,
    pub download_rate_limit: i64,
    pub max_connections: i64,
    /// -1: not in the queue.
    pub queue_position: i64,
    /// The raw bencoded info dictionary, when saved with it.
    pub info: Option<Vec<u8>>,
}

impl Default for ResumeData {
    fn default() -> Self {
        ResumeData {
            info_hash: InfoHash::default(),
            name: String::new(),
            save_path: String::new(),
            pieces: Vec::new(),
            file_priority: Vec::new(),
            piece_priority: Vec::new(),
            trackers: Vec::new(),
            url_seeds: Vec::new(),
            peers: Vec::new(),
            file_sizes: Vec::new(),
            file_mtimes_ns: Vec::new(),
            total_uploaded: 0,
            total_downloaded: 0,
            active_time: 0,
            finished_time: 0,
            seeding_time: 0,
            added_time: 0,
            completed_time: 0,
            paused: false,
            auto_managed: false,
            sequential_download: false,
            upload_rate_limit: 0,
            download_rate_limit: 0,
            max_connections: 0,
            queue_position: -1,
            info: None,
        }
    }
}

/// Why resume data is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("resume data too large ({0} bytes, limit {MAX_RESUME_SIZE})")]
    TooLarge(usize),
    #[error("resume data: {0}")]
    Bencode(#[from] bencode::Error),
    #[error("resume data: not a dictionary")]
    NotADict,
    #[error("resume data: field '{0}' is missing")]
    Missing(&'static str),
    #[error("resume data: field '{field}' {why}")]
    BadField { field: &'static str, why: String },
    #[error("resume data is for torrent {found}, not {expected}")]
    WrongTorrent { expected: String, found: String },
    #[error("resume data: info dictionary: {0}")]
    BadInfo(String),
}

fn bad(field: &'static str, why: impl Into<String>) -> ResumeError {
    ResumeError::BadField { field, why: why.into() }
}

fn encode_peers(peers: &[SocketAddr], v6: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for p in peers {
        match p.ip() {
            IpAddr::V4(ip) if !v6 => out.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) if v6 => out.extend_from_slice(&ip.octets()),
            _ => continue,
        }
        out.extend_from_slice(&p.port().to_be_bytes());
    }
    out
}

impl ResumeData {
    /// The bencoded dictionary, keys sorted, the info dictionary embedded as is.
    pub fn encode(&self) -> Vec<u8> {
        let int = Value::Int;
        let flag = |b: bool| Value::Int(b as i64);
        let pieces: Vec<u8> = self.pieces.iter().map(|h| *h as u8).collect();
        let peers4 = encode_peers(&self.peers, false);
        let peers6 = encode_peers(&self.peers, true);
        let info_hash = self.info_hash.0;
        let trackers = Value::List(
            self.trackers
                .iter()
                .map(|tier| Value::List(tier.iter().map(|u| Value::Bytes(u.as_bytes())).collect()))
                .collect(),
        );
        let file_sizes = Value::List(
            self.file_sizes.iter().map(|(s, m)| Value::List(vec![int(*s as i64), int(*m)])).collect(),
        );
        let mut fields: BTreeMap<&[u8], Vec<u8>> = [
            ("file-format", Value::Bytes(FILE_FORMAT.as_bytes())),
            ("file-version", int(1)),
            ("info-hash", Value::Bytes(&info_hash)),
            ("name", Value::Bytes(self.name.as_bytes())),
            ("save_path", Value::Bytes(self.save_path.as_bytes())),
            ("pieces", Value::Bytes(&pieces)),
            ("file_priority", Value::List(self.file_priority.iter().map(|p| int(*p as i64)).collect())),
            ("piece_priority", Value::Bytes(&self.piece_priority)),
            ("trackers", trackers),
            ("url-list", Value::List(self.url_seeds.iter().map(|u| Value::Bytes(u.as_bytes())).collect())),
            ("peers", Value::Bytes(&peers4)),
            ("peers6", Value::Bytes(&peers6)),
            ("file sizes", file_sizes),
            ("lt-file-mtime-ns", Value::List(self.file_mtimes_ns.iter().map(|n| int(*n)).collect())),
            ("total_uploaded", int(self.total_uploaded)),
            ("total_downloaded", int(self.total_downloaded)),
            ("active_time", int(self.active_time)),
            ("finished_time", int(self.finished_time)),
            ("seeding_time", int(self.seeding_time)),
            ("added_time", int(self.added_time)),
            ("completed_time", int(self.completed_time)),
            ("paused", flag(self.paused)),
            ("auto_managed", flag(self.auto_managed)),
            ("sequential_download", flag(self.sequential_download)),
            ("upload_rate_limit", int(self.upload_rate_limit)),
            ("download_rate_limit", int(self.download_rate_limit)),
            ("max_connections", int(self.max_connections)),
            ("queue_position", int(self.queue_position)),
        ]
        .into_iter()
        .map(|(k, v)| (k.as_bytes(), v.encode()))
        .collect();
        if let Some(info) = &self.info {
            fields.insert(b"info", info.clone());
        }
        let mut out = vec![b'd'];
        for (k, v) in fields {
            out.extend_from_slice(k.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(k);
            out.extend_from_slice(&v);
        }
        out.push(b'e');
        out
    }

    /// Parses resume data and checks every field's type and range.
    pub fn decode(buf: &[u8]) -> Result<ResumeData, ResumeError> {
        if buf.len() > MAX_RESUME_SIZE {
            return Err(ResumeError::TooLarge(buf.len()));
        }
        let limits = Limits::default();
        // The embedded info dictionary is the torrent's, as it came: it may be
        // non-canonical as a .torrent may (it is checked by its hash below and
        // parsed as a .torrent's); everything else is decoded strictly.
        let (strict_part, info_raw) = bencode::split_dict_value(buf, b"info", limits);
        let root = bencode::decode_with(&strict_part, limits)?;
        let d = root.as_dict().ok_or(ResumeError::NotADict)?;
        let get = |k: &str| d.get(k.as_bytes());
        if let Some(f) = get("file-format") {
            if f.as_bytes() != Some(FILE_FORMAT.as_bytes()) {
                return Err(bad("file-format", format!("is not \"{FILE_FORMAT}\"")));
            }
        }
        let ih = get("info-hash").ok_or(ResumeError::Missing("info-hash"))?;
        let ih: [u8; 20] = ih
            .as_bytes()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("info-hash", "is not a 20-byte string"))?;
        let text = |k: &'static str| -> Result<String, ResumeError> {
            match get(k) {
                None => Ok(String::new()),
                Some(v) => v.as_str().map(str::to_string).ok_or_else(|| bad(k, "is not UTF-8 text")),
            }
        };
        let int = |k: &'static str, min: i64, default: i64| -> Result<i64, ResumeError> {
            match get(k) {
                None => Ok(default),
                Some(v) => match v.as_int() {
                    Some(i) if i >= min => Ok(i),
                    Some(i) => Err(bad(k, format!("is {i}, below {min}"))),
                    None => Err(bad(k, "is not an integer")),
                },
            }
        };
        let flag = |k: &'static str| -> Result<bool, ResumeError> {
            match int(k, 0, 0)? {
                0 => Ok(false),
                1 => Ok(true),
                n => Err(bad(k, format!("is {n}, not 0 or 1"))),
            }
        };
        let bytes = |k: &'static str, max: usize| -> Result<&[u8], ResumeError> {
            match get(k) {
                None => Ok(&[]),
                Some(v) => {
                    let b = v.as_bytes().ok_or_else(|| bad(k, "is not a byte string"))?;
                    if b.len() > max {
                        return Err(bad(k, format!("has {} entries, more than {max}", b.len())));
                    }
                    Ok(b)
                }
            }
        };
        let list = |k: &'static str, max: usize| -> Result<&[Value<'_>], ResumeError> {
            match get(k) {
                None => Ok(&[]),
                Some(v) => {
                    let l = v.as_list().ok_or_else(|| bad(k, "is not a list"))?;
                    if l.len() > max {
                        return Err(bad(k, format!("has {} entries, more than {max}", l.len())));
                    }
                    Ok(l)
                }
            }
        };
        let prio = |k: &'static str, v: i64| -> Result<u8, ResumeError> {
            u8::try_from(v)
                .ok()
                .filter(|p| *p <= 7)
                .ok_or_else(|| bad(k, format!("holds priority {v}, not 0 to 7")))
        };

        let pieces = bytes("pieces", MAX_PIECES as usize)?.iter().map(|b| b & 1 != 0).collect();
        let piece_priority = bytes("piece_priority", MAX_PIECES as usize)?
            .iter()
            .map(|p| prio("piece_priority", *p as i64))
            .collect::<Result<_, _>>()?;
        let file_priority = list("file_priority", MAX_FILES)?
            .iter()
            .map(|v| {
                prio("file_priority", v.as_int().ok_or_else(|| bad("file_priority", "holds a non-integer"))?)
            })
            .collect::<Result<_, _>>()?;
        let mut trackers = Vec::new();
        let mut urls = 0;
        for tier in list("trackers", MAX_TIERS)? {
            let tier = tier.as_list().ok_or_else(|| bad("trackers", "holds a tier that is not a list"))?;
            let mut out = Vec::new();
            for u in tier {
                urls += 1;
                if urls > MAX_URLS {
                    return Err(bad("trackers", format!("has more than {MAX_URLS} URLs")));
                }
                let u = u.as_str().ok_or_else(|| bad("trackers", "holds a URL that is not text"))?;
                if u.len() > MAX_URL_LEN {
                    return Err(bad("trackers", format!("holds a URL longer than {MAX_URL_LEN} bytes")));
                }
                out.push(u.to_string());
            }
            trackers.push(out);
        }
        let url_seeds = list("url-list", MAX_URLS)?
            .iter()
            .map(|u| match u.as_str() {
                Some(u) if u.len() <= MAX_URL_LEN => Ok(u.to_string()),
                Some(_) => Err(bad("url-list", format!("holds a URL longer than {MAX_URL_LEN} bytes"))),
                None => Err(bad("url-list", "holds a URL that is not text")),
            })
            .collect::<Result<_, _>>()?;
        let mut peers = Vec::new();
        let p4 = bytes("peers", MAX_PEERS * 6)?;
        if p4.len() % 6 != 0 {
            return Err(bad("peers", format!("is {} bytes, not a multiple of 6", p4.len())));
        }
        for c in p4.chunks_exact(6) {
            let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
            peers.push(SocketAddr::new(ip.into(), u16::from_be_bytes([c[4], c[5]])));
        }
        let p6 = bytes("peers6", MAX_PEERS * 18)?;
        if p6.len() % 18 != 0 {
            return Err(bad("peers6", format!("is {} bytes, not a multiple of 18", p6.len())));
        }
        for c in p6.chunks_exact(18) {
            let octets: [u8; 16] = c[..16].try_into().unwrap_or([0; 16]);
            peers.push(SocketAddr::new(Ipv6Addr::from(octets).into(), u16::from_be_bytes([c[16], c[17]])));
        }
        let file_sizes = list("file sizes", MAX_FILES)?
            .iter()
            .map(|v| {
                let pair = v
                    .as_list()
                    .filter(|l| l.len() == 2)
                    .ok_or_else(|| bad("file sizes", "holds an entry that is not [size, mtime]"))?;
                match (pair[0].as_int(), pair[1].as_int()) {
                    (Some(s), Some(m)) if s >= 0 && m >= 0 => Ok((s as u64, m)),
                    _ => Err(bad("file sizes", "holds a size or time that is not a non-negative integer")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let file_mtimes_ns = list("lt-file-mtime-ns", MAX_FILES)?
            .iter()
            .map(|v| {
                v.as_int()
                    .filter(|n| (0..1_000_000_000).contains(n))
                    .ok_or_else(|| bad("lt-file-mtime-ns", "holds a value that is not 0 to 999999999"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let info = match (info_raw, get("info")) {
            (None, None) => None,
            (Some(raw), _) => {
                let h: [u8; 20] = Sha1::digest(raw).into();
                if h != ih {
                    return Err(ResumeError::BadInfo(format!(
                        "its hash {} is not the info-hash {}",
                        hex(&h),
                        hex(&ih)
                    )));
                }
                Some(raw.to_vec())
            }
            // Only a dictionary is split out: anything else under "info"
            // (a list whose SHA-1 is the info-hash, say) is not one.
            (None, Some(_)) => return Err(bad("info", "is not a dictionary")),
        };
        Ok(ResumeData {
            info_hash: InfoHash(ih),
            name: text("name")?,
            save_path: text("save_path")?,
            pieces,
            file_priority,
            piece_priority,
            trackers,
            url_seeds,
            peers,
            file_sizes,
            file_mtimes_ns,
            total_uploaded: int("total_uploaded", 0, 0)?,
            total_downloaded: int("total_downloaded", 0, 0)?,
            active_time: int("active_time", 0, 0)?,
            finished_time: int("finished_time", 0, 0)?,
            seeding_time: int("seeding_time", 0, 0)?,
            added_time: int("added_time", 0, 0)?,
            completed_time: int("completed_time", 0, 0)?,
            paused: flag("paused")?,
            auto_managed: flag("auto_managed")?,
            sequential_download: flag("sequential_download")?,
            upload_rate_limit: int("upload_rate_limit", -1, 0)?,
            download_rate_limit: int("download_rate_limit", -1, 0)?,
            max_connections: int("max_connections", -1, 0)?,
            queue_position: int("queue_position", -1, -1)?,
            info,
        })
    }
}

/// Decodes resume data for one torrent: it must name `expected`, and its
/// per-piece and per-file lists must fit the torrent.
pub fn decode_for(
    buf: &[u8],
    expected: &InfoHash,
    num_pieces: u32,
    num_files: usize,
) -> Result<ResumeData, ResumeError> {
    let rd = ResumeData::decode(buf)?;
    if rd.info_hash != *expected {
        return Err(ResumeError::WrongTorrent { expected: expected.to_hex(), found: rd.info_hash.to_hex() });
    }
    let n = num_pieces as usize;
    for (field, len) in [("pieces", rd.pieces.len()), ("piece_priority", rd.piece_priority.len())] {
        if len != 0 && len != n {
            return Err(bad(field, format!("has {len} entries, the torrent has {n} pieces")));
        }
    }
    if rd.file_priority.len() > num_files {
        return Err(bad(
            "file_priority",
            format!("has {} entries, the torrent has {num_files} files", rd.file_priority.len()),
        ));
    }
    if !rd.file_sizes.is_empty() && rd.file_sizes.len() != num_files {
        return Err(bad(
            "file sizes",
            format!("has {} entries, the torrent has {num_files} files", rd.file_sizes.len()),
        ));
    }
    Ok(rd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn info_dict() -> Vec<u8> {
        b"d6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae".to_vec()
    }

    fn full() -> ResumeData {
        let info = info_dict();
        ResumeData {
            info_hash: InfoHash(Sha1::digest(&info).into()),
            name: "x".into(),
            save_path: "/tmp/save".into(),
            pieces: vec![true, false, true],
            file_priority: vec![4, 0],
            piece_priority: vec![1, 7, 0],
            trackers: vec![vec!["http://a/announce".into()], vec!["udp://b:1".into(), "udp://c:2".into()]],
            url_seeds: vec!["http://w/seed/".into()],
            peers: vec!["127.0.0.1:6881".parse().unwrap(), "[::1]:7000".parse().unwrap()],
            file_sizes: vec![(5, 1_700_000_000), (0, 0)],
            file_mtimes_ns: vec![123, 0],
            total_uploaded: 10,
            total_downloaded: 20,
            active_time: 30,
            finished_time: 4,
            seeding_time: 3,
            added_time: 1_600_000_000,
            completed_time: 1_600_000_100,
            paused: true,
            auto_managed: true,
            sequential_download: true,
            upload_rate_limit: 1000,
            download_rate_limit: 2000,
            max_connections: 50,
            queue_position: 2,
            info: Some(info),
        }
    }

    #[test]
    fn round_trip_and_strict_bencode() {
        let rd = full();
        let bytes = rd.encode();
        assert!(bencode::decode(&bytes).is_ok(), "strict decoder accepts the encoding");
        assert_eq!(ResumeData::decode(&bytes).unwrap(), rd);
        let empty = ResumeData::default();
        assert_eq!(ResumeData::decode(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn reads_libtorrent_style_data() {
        let mut blob = b"d11:file-format22:libtorrent resume file12:file-versioni1e9:info-hash20:".to_vec();
        blob.extend_from_slice(&[7u8; 20]);
        blob.extend_from_slice(b"6:pausedi1e6:pieces3:\x01\x00\x01e");
        let rd = ResumeData::decode(&blob).unwrap();
        assert_eq!(rd.info_hash, InfoHash([7; 20]));
        assert!(rd.paused);
        assert_eq!(rd.pieces, vec![true, false, true]);
        assert_eq!(rd.queue_position, -1);
    }

    #[test]
    fn bad_data_is_refused_with_the_field() {
        let rd = full();
        let ih = rd.info_hash;
        let ok = rd.encode();
        assert!(decode_for(&ok, &ih, 3, 2).is_ok());
        assert!(matches!(decode_for(&ok, &InfoHash([1; 20]), 3, 2), Err(ResumeError::WrongTorrent { .. })));
        assert!(matches!(decode_for(&ok, &ih, 4, 2), Err(ResumeError::BadField { field: "pieces", .. })));
        assert!(matches!(decode_for(&ok, &ih, 3, 3), Err(ResumeError::BadField { field: "file sizes", .. })));
        let with = |f: &dyn Fn(&mut ResumeData)| {
            let mut r = full();
            f(&mut r);
            ResumeData::decode(&r.encode())
        };
        assert!(matches!(
            with(&|r| r.piece_priority[0] = 8),
            Err(ResumeError::BadField { field: "piece_priority", .. })
        ));
        assert!(matches!(
            with(&|r| r.total_uploaded = -1),
            Err(ResumeError::BadField { field: "total_uploaded", .. })
        ));
        assert!(matches!(with(&|r| r.info_hash = InfoHash([2; 20])), Err(ResumeError::BadInfo(_))));
        let at = ok.windows(11).position(|w| w == b"6:pausedi1e").unwrap();
        let mut two = ok.clone();
        two[at + 9] = b'2';
        assert!(matches!(ResumeData::decode(&two), Err(ResumeError::BadField { field: "paused", .. })));
        assert!(matches!(ResumeData::decode(&ok[..ok.len() / 2]), Err(ResumeError::Bencode(_))));
        assert!(matches!(ResumeData::decode(b"le"), Err(ResumeError::NotADict)));
        assert!(matches!(ResumeData::decode(b"de"), Err(ResumeError::Missing("info-hash"))));
        assert!(matches!(ResumeData::decode(&vec![0u8; MAX_RESUME_SIZE + 1]), Err(ResumeError::TooLarge(_))));
    }

    #[test]
    fn info_that_is_not_a_dictionary_is_refused() {
        // A list hashing to the info-hash passed the hash check and was kept
        // as the torrent's metadata.
        let list = b"l4:spame";
        let mut rd = ResumeData { info_hash: InfoHash(Sha1::digest(list).into()), ..ResumeData::default() };
        rd.info = Some(list.to_vec());
        assert_eq!(ResumeData::decode(&rd.encode()), Err(bad("info", "is not a dictionary")));
        rd.info = Some(b"4:spam".to_vec());
        assert_eq!(ResumeData::decode(&rd.encode()), Err(bad("info", "is not a dictionary")));
        rd.info = Some(info_dict());
        rd.info_hash = InfoHash(Sha1::digest(info_dict()).into());
        assert_eq!(ResumeData::decode(&rd.encode()).unwrap().info, Some(info_dict()));
    }

    proptest! {
        #[test]
        fn arbitrary_and_mutated_input_never_panics(
            junk in proptest::collection::vec(any::<u8>(), 0..512),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let _ = ResumeData::decode(&junk);
            let mut blob = full().encode();
            for (at, x) in flips {
                let i = at % blob.len();
                blob[i] ^= x;
            }
            let _ = decode_for(&blob, &InfoHash([0; 20]), 3, 2);
            let _ = ResumeData::decode(&blob);
        }
    }
}
