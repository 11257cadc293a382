//! .torrent files (BEP 3): the info dictionary, files, trackers (BEP 12),
//! the private flag (BEP 27) and padding files (BEP 47).
//!
//! Decisions, for untrusted input:
//! - the info-hash is the SHA-1 of the info dictionary's bytes exactly as
//!   they stand in the file;
//! - limits: 10 MB file, nesting depth 100, 0x200000 pieces, piece length
//!   up to 128 MiB, path depth 100;
//! - each path component is sanitized: "", "." and ".." are dropped;
//!   '/', '\\', ':' and control characters become '_'; Windows reserved
//!   names get a leading '_'; components are cut to 255 bytes. A file whose
//!   path is empty after that, two files with the same path, or a file that
//!   is also a directory of another, make the torrent refused;
//! - a name that is empty or ".." after sanitizing becomes the info-hash in hex.

use std::collections::HashSet;
use std::path::PathBuf;

use sha1::{Digest, Sha1};

use super::bencode::{self, Value};
use super::types::{hex, InfoHash, Lengths};

/// Largest .torrent accepted.
pub const MAX_TORRENT_SIZE: usize = 10_000_000;
/// Most pieces accepted (libtorrent's default too).
pub const MAX_PIECES: u32 = 0x200000;
/// Largest piece length accepted.
pub const MAX_PIECE_LENGTH: i64 = 128 << 20;
/// Deepest file path accepted.
pub const MAX_PATH_DEPTH: usize = 100;
const MAX_COMPONENT: usize = 255;

/// A parsed, validated torrent.
#[derive(Clone, Debug)]
pub struct Metainfo {
    pub info_hash: InfoHash,
    pub info_bytes: Vec<u8>,
    pub name: String,
    pub lengths: Lengths,
    pub piece_hashes: Vec<[u8; 20]>,
    pub files: Vec<FileEntry>,
    pub trackers: Vec<Vec<String>>,
    pub private: bool,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
    pub web_seeds: Vec<String>,
}

/// One file of a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative path; multi-file torrents start with the name directory.
    pub path: PathBuf,
    pub length: u64,
    /// Offset of the file's first byte in the torrent.
    pub offset: u64,
    /// A BEP 47 padding file.
    pub pad: bool,
}

/// Why a torrent is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetainfoError {
    #[error("torrent too large ({0} bytes, limit {MAX_TORRENT_SIZE})")]
    TooLarge(usize),
    #[error("{0}")]
    Bencode(#[from] bencode::Error),
    #[error("not a dictionary")]
    NotADict,
    #[error("no info dictionary")]
    NoInfo,
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> MetainfoError {
    MetainfoError::Invalid(msg.into())
}

fn text(v: &Value<'_>) -> Option<String> {
    v.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned())
}

const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
    "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Sanitizes one path component; `None` when nothing is left.
pub fn sanitize_component(raw: &str) -> Option<String> {
    if raw.is_empty() || raw == "." || raw == ".." {
        return None;
    }
    let mut s: String = raw
        .chars()
        .map(|c| if c == '/' || c == '\\' || c == ':' || c.is_control() { '_' } else { c })
        .collect();
    if s.chars().all(|c| c == '.') {
        return None;
    }
    let stem = s.split('.').next().unwrap_or("").to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        s.insert(0, '_');
    }
    if s.len() > MAX_COMPONENT {
        let mut n = MAX_COMPONENT;
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s.truncate(n);
    }
    Some(s)
}

fn path_list(v: &Value<'_>, what: &str) -> Result<Vec<String>, MetainfoError> {
    let list = v.as_list().ok_or_else(|| invalid(format!("{what} is not a list")))?;
    if list.len() > MAX_PATH_DEPTH {
        return Err(invalid(format!("{what} is deeper than {MAX_PATH_DEPTH} directories")));
    }
    let mut out = Vec::new();
    for el in list {
        let s = text(el).ok_or_else(|| invalid(format!("{what} has an element that is not a string")))?;
        out.extend(sanitize_component(&s));
    }
    Ok(out)
}

fn str_list(v: Option<&Value<'_>>) -> Vec<String> {
    match v {
        Some(Value::Bytes(_)) => v.and_then(text).into_iter().collect(),
        Some(Value::List(l)) => l.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

impl Metainfo {
    /// Parses a .torrent file.
    pub fn from_bytes(buf: &[u8]) -> Result<Metainfo, MetainfoError> {
        if buf.len() > MAX_TORRENT_SIZE {
            return Err(MetainfoError::TooLarge(buf.len()));
        }
        let root = bencode::decode(buf)?;
        if root.as_dict().is_none() {
            return Err(MetainfoError::NotADict);
        }
        let info_raw = bencode::raw_dict_value(buf, b"info", bencode::Limits::default())?;
        let info_raw = match (root.get("info"), info_raw) {
            (Some(Value::Dict(_)), Some(raw)) => raw,
            _ => return Err(MetainfoError::NoInfo),
        };
        let mut m = Metainfo::from_info_bytes(info_raw)?;
        let mut tiers: Vec<Vec<String>> = Vec::new();
        let mut seen = HashSet::new();
        if let Some(list) = root.get("announce-list").and_then(Value::as_list) {
            for tier in list.iter().take(100) {
                let urls: Vec<String> = tier
                    .as_list()
                    .unwrap_or(&[])
                    .iter()
                    .take(100)
                    .filter_map(text)
                    .map(|u| u.trim().to_string())
                    .filter(|u| !u.is_empty() && seen.insert(u.clone()))
                    .collect();
                if !urls.is_empty() {
                    tiers.push(urls);
                }
            }
        }
        if tiers.is_empty() {
            if let Some(url) = root.get("announce").and_then(text).map(|u| u.trim().to_string()) {
                if !url.is_empty() {
                    tiers.push(vec![url]);
                }
            }
        }
        m.trackers = tiers;
        m.comment = root.get("comment.utf-8").or(root.get("comment")).and_then(text);
        m.created_by = root.get("created by").and_then(text);
        m.creation_date = root.get("creation date").and_then(Value::as_int);
        let mut ws = str_list(root.get("url-list"));
        ws.retain(|u| !u.trim().is_empty());
        ws.dedup();
        m.web_seeds = ws;
        Ok(m)
    }

    /// Parses a bare info dictionary (metadata received from peers).
    pub fn from_info_bytes(info: &[u8]) -> Result<Metainfo, MetainfoError> {
        if info.len() > MAX_TORRENT_SIZE {
            return Err(MetainfoError::TooLarge(info.len()));
        }
        let v = bencode::decode(info)?;
        if v.as_dict().is_none() {
            return Err(MetainfoError::NoInfo);
        }
        let info_hash = InfoHash(Sha1::digest(info).into());
        let piece_length = match v.get("piece length") {
            Some(Value::Int(n)) if *n > 0 && *n <= MAX_PIECE_LENGTH => *n as u32,
            Some(Value::Int(n)) if *n > MAX_PIECE_LENGTH => {
                return Err(invalid(format!("info.piece length {n} is larger than {MAX_PIECE_LENGTH}")))
            }
            Some(Value::Int(_)) => return Err(invalid("info.piece length must be > 0")),
            _ => return Err(invalid("info.piece length is missing or not an integer")),
        };
        let raw_name =
            v.get("name.utf-8").or(v.get("name")).ok_or_else(|| invalid("info.name is missing"))?;
        let raw_name = text(raw_name).ok_or_else(|| invalid("info.name is not a string"))?;
        let name = sanitize_component(&raw_name).unwrap_or_else(|| hex(&info_hash.0));

        let mut files = Vec::new();
        let mut total: u64 = 0;
        let multi = v.get("files");
        match (multi, v.get("length")) {
            (Some(list), _) => {
                let list = list.as_list().ok_or_else(|| invalid("info.files is not a list"))?;
                if list.is_empty() {
                    return Err(invalid("info.files is empty"));
                }
                for (i, f) in list.iter().enumerate() {
                    let length = match f.get("length") {
                        Some(Value::Int(n)) if *n >= 0 => *n as u64,
                        Some(Value::Int(n)) => return Err(invalid(format!("file {i}: negative length {n}"))),
                        _ => return Err(invalid(format!("file {i}: length is missing or not an integer"))),
                    };
                    let raw = f
                        .get("path.utf-8")
                        .or(f.get("path"))
                        .ok_or_else(|| invalid(format!("file {i}: path is missing")))?;
                    let parts = path_list(raw, &format!("file {i}: path"))?;
                    if parts.is_empty() {
                        return Err(invalid(format!("file {i}: path is empty after sanitizing")));
                    }
                    let attr = f.get("attr").and_then(Value::as_bytes).unwrap_or(b"");
                    let pad = attr.contains(&b'p')
                        || parts.last().is_some_and(|p| p.starts_with(".____padding_file"));
                    let mut path = PathBuf::from(&name);
                    path.extend(parts);
                    files.push(FileEntry { path, length, offset: total, pad });
                    total = total.checked_add(length).ok_or_else(|| invalid("total length overflows"))?;
                }
            }
            (None, Some(Value::Int(n))) if *n >= 0 => {
                total = *n as u64;
                files.push(FileEntry { path: PathBuf::from(&name), length: total, offset: 0, pad: false });
            }
            (None, Some(Value::Int(n))) => return Err(invalid(format!("info.length is negative ({n})"))),
            (None, Some(_)) => return Err(invalid("info.length is not an integer")),
            (None, None) => return Err(invalid("info has neither length nor files")),
        }
        if total == 0 {
            return Err(invalid("the torrent has no data (total length 0)"));
        }
        let lengths = Lengths::new(total, piece_length).ok_or_else(|| invalid("inconsistent piece count"))?;
        if lengths.num_pieces() > MAX_PIECES {
            return Err(invalid(format!("too many pieces ({}, limit {MAX_PIECES})", lengths.num_pieces())));
        }
        let pieces = v
            .get("pieces")
            .and_then(Value::as_bytes)
            .ok_or_else(|| invalid("info.pieces is missing or not a string"))?;
        if pieces.len() % 20 != 0 {
            return Err(invalid(format!("info.pieces has {} bytes, not a multiple of 20", pieces.len())));
        }
        if pieces.len() / 20 != lengths.num_pieces() as usize {
            return Err(invalid(format!(
                "info.pieces has {} hashes but the files need {} pieces",
                pieces.len() / 20,
                lengths.num_pieces()
            )));
        }
        let piece_hashes = pieces
            .chunks_exact(20)
            .map(|c| {
                let mut h = [0u8; 20];
                h.copy_from_slice(c);
                h
            })
            .collect();
        check_paths(&files)?;
        Ok(Metainfo {
            info_hash,
            info_bytes: info.to_vec(),
            name,
            lengths,
            piece_hashes,
            files,
            trackers: Vec::new(),
            private: v.get("private").and_then(Value::as_int) == Some(1),
            comment: None,
            created_by: None,
            creation_date: None,
            web_seeds: Vec::new(),
        })
    }

    pub fn is_multi_file(&self) -> bool {
        self.files.len() > 1 || self.files.first().is_some_and(|f| f.path.components().count() > 1)
    }
}

/// Refuses duplicate paths and files that are also directories.
fn check_paths(files: &[FileEntry]) -> Result<(), MetainfoError> {
    let mut seen: HashSet<&PathBuf> = HashSet::new();
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    for f in files {
        if f.pad {
            continue;
        }
        if !seen.insert(&f.path) {
            return Err(invalid(format!("duplicate file path '{}'", f.path.display())));
        }
        let mut p = f.path.parent();
        while let Some(d) = p {
            if d.as_os_str().is_empty() {
                break;
            }
            dirs.insert(d.to_path_buf());
            p = d.parent();
        }
    }
    for f in files {
        if !f.pad && dirs.contains(&f.path) {
            return Err(invalid(format!("file path '{}' is also a directory", f.path.display())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Component;

    fn info(body: &str) -> Vec<u8> {
        format!("d4:info{body}e").into_bytes()
    }

    fn pieces(n: usize) -> String {
        format!("6:pieces{}:{}", n * 20, "a".repeat(n * 20))
    }

    #[test]
    fn single_file() {
        let t = info(&format!("d6:lengthi40000e4:name5:x.bin12:piece lengthi16384e{}e", pieces(3)));
        let m = Metainfo::from_bytes(&t).unwrap();
        assert_eq!(m.name, "x.bin");
        assert_eq!(m.lengths.num_pieces(), 3);
        assert_eq!(m.files, vec![FileEntry { path: "x.bin".into(), length: 40000, offset: 0, pad: false }]);
        assert!(!m.is_multi_file());
        let raw = &t[7..t.len() - 1];
        assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(raw)));
    }

    #[test]
    fn multi_file_tiers_private_pad() {
        let t = format!(
            "d8:announce5:http:13:announce-listll6:http:a6:http:bel6:http:aee7:comment2:hi4:infod5:filesld6:lengthi10e4:pathl1:a1:beed4:attr1:p6:lengthi6e4:pathl4:.padeed6:lengthi0e4:pathl5:emptyeee4:name1:t12:piece lengthi16e{}7:privatei1e1:zi9eee",
            pieces(1)
        );
        let m = Metainfo::from_bytes(t.as_bytes()).unwrap();
        assert_eq!(m.trackers, vec![vec!["http:a".to_string(), "http:b".to_string()]]);
        assert!(m.private);
        assert_eq!(m.comment.as_deref(), Some("hi"));
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.files[0].path, PathBuf::from("t/a/b"));
        assert!(m.files[1].pad && m.files[1].offset == 10);
        assert_eq!(m.files[2].length, 0);
        assert!(m.is_multi_file());
        // The hash covers the unknown key "z" inside info.
        let start = t.find("4:info").unwrap() + 6;
        let raw = &t.as_bytes()[start..t.len() - 1];
        assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(raw)));
    }

    #[test]
    fn must_fail() {
        let p1 = pieces(1);
        let cases = [
            info(&format!("d6:lengthi5e4:name1:x{p1}e")),
            info(&format!("d6:lengthi5e4:name1:x12:piece length5:16384{p1}e")),
            info(&format!("d6:lengthi5e4:name1:x12:piece lengthi-16384e{p1}e")),
            info(&format!("d6:lengthi5e4:name1:x12:piece lengthi0e{p1}e")),
            info(&format!("d6:lengthi5e12:piece lengthi16384e{p1}e")),
            info(&format!("d6:lengthi5e4:namei5e12:piece lengthi16384e{p1}e")),
            b"d4:info6:stringe".to_vec(),
            b"10:libtorrent".to_vec(),
            info(&format!("d6:lengthi-425e4:name1:x12:piece lengthi16384e{p1}e")),
            info(&format!("d5:filesld6:lengthi-45e4:pathl1:aeee4:name1:x12:piece lengthi16384e{p1}e")),
            info(&format!("d5:filesld6:lengthle4:pathl1:aeee4:name1:x12:piece lengthi16384e{p1}e")),
            info(&format!("d5:filesld6:lengthi5e4:pathli5eeee4:name1:x12:piece lengthi16384e{p1}e")),
            info(&format!("d5:filesld6:lengthi5eee4:name1:x12:piece lengthi16384e{p1}e")),
            info("d6:lengthi5e4:name1:x12:piece lengthi16384e6:piecesi-23ee"),
            info("d6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces24:aaaaaaaaaaaaaaaaaaaaaaaae"),
            info(&format!("d6:lengthi50000e4:name1:x12:piece lengthi16384e{p1}e")),
            info(&format!("d6:lengthi1759218597889e4:name1:x12:piece lengthi16384e{p1}e")),
            info(&format!("d5:filesle4:name1:x12:piece lengthi16384e{p1}e")),
            info(&format!("d6:lengthi0e4:name1:x12:piece lengthi16384e{}e", pieces(0))),
            info(&format!("d5:filesld6:lengthi5e4:pathl1:aeed6:lengthi5e4:pathl1:aeee4:name1:x12:piece lengthi16384e{p1}e")),
            info(&format!("d5:filesld6:lengthi5e4:pathl1:aeed6:lengthi5e4:pathl1:a1:beee4:name1:x12:piece lengthi16384e{p1}e")),
            info(&format!("d5:filesld6:lengthi5e4:pathl2:..eeee4:name1:x12:piece lengthi16384e{p1}e")),
            {
                let mut deep = b"d4:info".to_vec();
                deep.extend(std::iter::repeat_n(b'l', 200));
                deep.extend(std::iter::repeat_n(b'e', 200));
                deep.push(b'e');
                deep
            },
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(Metainfo::from_bytes(c).is_err(), "case {i} accepted: {}", String::from_utf8_lossy(c));
        }
        let e = Metainfo::from_bytes(&cases[3]).unwrap_err();
        assert_eq!(e.to_string(), "info.piece length must be > 0");
    }

    #[test]
    fn sanitizing() {
        let p1 = pieces(1);
        let t = |path: &str| {
            let s = format!("d5:filesld6:lengthi5e4:path{path}ee4:name1:x12:piece lengthi16384e{p1}e");
            Metainfo::from_bytes(&info(&s)).map(|m| m.files[0].path.clone())
        };
        assert_eq!(t("l2:..2:..3:bare").unwrap(), PathBuf::from("x/bar"));
        assert_eq!(t("l16:foo/../../../bare").unwrap(), PathBuf::from("x/foo_.._.._.._bar"));
        assert_eq!(t("l1:/1:/3:bare").unwrap(), PathBuf::from("x/_/_/bar"));
        assert_eq!(t("l7:/foobare").unwrap(), PathBuf::from("x/_foobar"));
        assert_eq!(t("l1:\\3:fooe").unwrap(), PathBuf::from("x/_/foo"));
        assert_eq!(t("l0:0:3:fooe").unwrap(), PathBuf::from("x/foo"));
        assert_eq!(t("l3:CON3:a:be").unwrap(), PathBuf::from("x/_CON/a_b"));
        assert_eq!(t("l4:a\0bce").unwrap(), PathBuf::from("x/a_bc"));
        let m = Metainfo::from_bytes(&info(&format!("d6:lengthi5e4:name2:..12:piece lengthi16384e{p1}e")))
            .unwrap();
        assert_eq!(m.name, m.info_hash.to_hex());
        let m = Metainfo::from_bytes(&info(&format!(
            "d6:lengthi5e4:name14:temp/../../abc12:piece lengthi16384e{p1}e"
        )))
        .unwrap();
        assert_eq!(m.name, "temp_.._.._abc");
    }

    proptest::proptest! {
        #[test]
        fn sanitized_paths_stay_inside(parts in proptest::collection::vec(".{0,12}", 1..6)) {
            let mut s = String::from("l");
            for p in &parts {
                s.push_str(&format!("{}:{}", p.len(), p));
            }
            s.push('e');
            let body = format!("d5:filesld6:lengthi5e4:path{s}ee4:name1:x12:piece lengthi16384e{}e", pieces(1));
            if let Ok(m) = Metainfo::from_bytes(&info(&body)) {
                for c in m.files[0].path.components() {
                    proptest::prop_assert!(matches!(c, Component::Normal(_)));
                }
            }
        }
    }
}
