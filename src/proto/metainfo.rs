//! .torrent files (BEP 3): the info dictionary, files, trackers (BEP 12),
//! the private flag (BEP 27), padding files and symlinks (BEP 47), and
//! BitTorrent v2 and hybrid torrents (BEP 52: `meta version` 2, `file tree`,
//! `piece layers`).
//!
//! lt loads what libtorrent loads (its `torrent_info.cpp`, `file_storage.cpp`
//! and `resolve_duplicate_filenames.cpp` at 069017e33 are the reference;
//! `tests/corpus.rs` runs libtorrent's own test torrents), and refuses what it
//! refuses. Decisions, for untrusted input:
//! - the file is decoded leniently ([`bencode::decode_lenient`]: unsorted keys,
//!   leading zeros, bytes after the root value); the info-hash is the SHA-1 of
//!   the info dictionary's bytes exactly as they stand in the file;
//! - limits: 10 MB file, nesting depth 100, 0x200000 pieces, piece length
//!   up to 512 MiB, path depth 100, 500 renames of duplicate paths;
//! - each path element is sanitized as libtorrent does ([`sanitize_component`]);
//!   an element that is empty, ".", ".." or only filtered characters becomes
//!   `_`, so a file path never shrinks and never leaves its directory;
//! - the torrent's name is sanitized the same way, except that a name with
//!   nothing left (".", "..", only slashes) becomes the info-hash in hex for a
//!   multi-file torrent and refuses a single-file one;
//! - two files whose paths are equal ignoring ASCII case, or a file whose path
//!   is also a directory of the torrent, are not refused: the later file is
//!   renamed `name.1.ext`, `name.2.ext`… as libtorrent renames it;
//! - BEP 47 pad files (`attr` has `p`) and BitComet's `_____padding_file_`
//!   entries are padding: never written, read as zeros;
//! - a v2 info dictionary must be canonical bencode, with a piece length
//!   that is a power of two of at least 16 KiB; every file of its `file
//!   tree` that is neither empty nor a symlink needs a 32-byte, non-zero
//!   `pieces root`, no file may carry the pad attribute, and a file must be
//!   shorter than [`MAX_V2_FILE_SIZE`]; a `file tree` without meta version 2
//!   is refused too (all as libtorrent);
//! - a v2-only torrent (no v1 `files` or `length`) takes its files from the
//!   tree, paths sanitized and duplicates renamed as in v1, and, as
//!   libtorrent's `file_storage`, a pad file after every file that does not
//!   end on a piece boundary, the last one included, at `<name>/.pad/<len>`
//!   (`<file>/.pad/<len>` for a single file); its swarm id is the SHA-256
//!   of the info dictionary truncated to 20 bytes;
//! - a hybrid torrent (meta version 2 with v1 `files` or `length`) loads
//!   from its v1 list once that list matches the v2 tree as libtorrent's
//!   `files_compatible` requires (same entries, total, and paths, lengths
//!   and offsets of the files that are neither empty nor padding; a v1 list
//!   without the tree's tail pad is accepted), and each v1 file takes its
//!   pieces root from the tree. It needs v1 `pieces` (libtorrent would load
//!   one without them; lt refuses it);
//! - `piece layers` (only in a .torrent, never in metadata from peers) are
//!   read as libtorrent's `parse_piece_layers`: one bad entry (a key that is
//!   not the root of a file larger than one piece, a length that is not the
//!   file's piece count times 32, hashes that do not hash up to the root)
//!   refuses the torrent; a missing layer is no error, the file's hashes
//!   then come from peers;
//! - a symlink entry (`attr` has `l`) has length 0 whatever its `length` says;
//!   its target must name a file or directory of the torrent, else it points
//!   at itself, which storage takes as "do not create" (libtorrent would
//!   create a link to itself).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;

use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::bencode::{self, Value};
use super::merkle;
use super::types::{hex, InfoHash, Lengths};

/// Largest .torrent accepted.
pub const MAX_TORRENT_SIZE: usize = 10_000_000;
/// Most pieces accepted (libtorrent's default too).
pub const MAX_PIECES: u32 = 0x200000;
/// Largest piece length accepted (libtorrent's `file_storage::max_piece_size`).
pub const MAX_PIECE_LENGTH: i64 = 1 << 29;
/// Deepest file path accepted.
pub const MAX_PATH_DEPTH: usize = 100;
/// Most taken names tried while renaming duplicate paths, over the whole
/// torrent (libtorrent's `max_duplicate_filenames`): the search is
/// quadratic, so a torrent of thousands of equal paths is refused.
pub const MAX_DUPLICATE_RENAMES: usize = 500;
/// A path element longer than this many bytes is cut, keeping an extension
/// of up to 10 bytes (libtorrent's rule), so elements stay under the 255-byte
/// limit of common file systems.
const MAX_ELEMENT: usize = 240;
/// A file of a v2 torrent must be shorter than this (libtorrent's
/// `file_storage::max_file_size`, which is also where its block count
/// reaches `max_num_pieces`): its merkle tree is indexed with 32-bit integers.
pub const MAX_V2_FILE_SIZE: u64 = (i32::MAX as u64 / 2) * 16384;
/// Where the files of a v2 torrent must end (libtorrent's `max_file_offset`).
pub const MAX_FILE_OFFSET: u64 = (1 << 48) - 1;
/// BitComet names its padding files with this inside the path.
const BITCOMET_PAD: &str = "_____padding_file_";

/// A parsed, validated torrent.
#[derive(Clone, Debug)]
pub struct Metainfo {
    /// The swarm's 20-byte id, used in handshakes, with trackers and on
    /// the DHT: the SHA-1 of the info dictionary when the torrent has v1
    /// pieces, else the v2 info-hash truncated to 20 bytes.
    pub info_hash: InfoHash,
    /// The torrent has v1 pieces (`pieces`); false for a v2-only torrent.
    pub has_v1: bool,
    /// The SHA-256 of the info dictionary, for a torrent with meta version
    /// 2 (v2-only or hybrid).
    pub info_hash_v2: Option<[u8; 32]>,
    pub info_bytes: Vec<u8>,
    pub name: String,
    pub lengths: Lengths,
    /// The v1 piece hashes; empty for a v2-only torrent.
    pub piece_hashes: Vec<[u8; 20]>,
    /// BEP 52 piece layers, one entry per entry of `files`: the file's
    /// piece hashes from the .torrent's `piece layers`, checked against its
    /// pieces root. Empty for pad, empty and single-piece files, for files
    /// whose layer the .torrent leaves out, and for every file of a torrent
    /// made from a bare info dictionary (a magnet's metadata).
    pub piece_layers: Vec<Vec<[u8; 32]>>,
    pub files: Vec<FileEntry>,
    pub trackers: Vec<Vec<String>>,
    pub private: bool,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
    pub web_seeds: Vec<String>,
}

/// One file of a torrent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative path; multi-file torrents start with the name directory
    /// (pad files without a path are `.pad/<length>`, as in libtorrent).
    pub path: PathBuf,
    pub length: u64,
    /// Offset of the file's first byte in the torrent.
    pub offset: u64,
    /// A padding file (BEP 47 or BitComet).
    pub pad: bool,
    /// For a BEP 47 symlink, what it points to: a path relative to the save
    /// path, like `path`, naming a file or directory of this torrent. A
    /// symlink whose target is not in the torrent points at its own path.
    pub symlink: Option<PathBuf>,
    /// BEP 47 `attr` `x`: the file is executable.
    pub executable: bool,
    /// BEP 47 `attr` `h`: the file is hidden.
    pub hidden: bool,
    /// BEP 52: the root of the file's merkle tree, for a torrent with meta
    /// version 2 and a file that is not empty.
    pub pieces_root: Option<[u8; 32]>,
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

/// One UTF-8 sequence at the start of `b` as libtorrent's
/// `parse_utf8_codepoint` reads it: the code point (`None` when invalid:
/// a bad lead byte, a truncated, broken or overlong sequence) and how many
/// bytes to skip. Reading invalid bytes the same way gives the same number
/// of `_` replacements as libtorrent.
fn utf8_codepoint(b: &[u8]) -> (Option<u32>, usize) {
    let lead = b[0];
    let len = match lead {
        0x00..=0x7f => return (Some(u32::from(lead)), 1),
        _ if lead >> 5 == 0b110 => 2,
        _ if lead >> 4 == 0b1110 => 3,
        _ if lead >> 3 == 0b11110 => 4,
        _ if lead >> 2 == 0b111110 => 5,
        _ => return (None, 1),
    };
    if len > b.len() {
        return (None, b.len());
    }
    if len > 4 {
        return (None, len);
    }
    let mut cp = u32::from(lead) & (0x7f >> len);
    for &c in &b[1..len] {
        if c & 0xc0 != 0x80 {
            return (None, len);
        }
        cp = (cp << 6) | u32::from(c & 0x3f);
    }
    let overlong = match len {
        2 => cp < 0x80,
        3 => cp < 0x800,
        _ => cp < 0x10000,
    };
    if overlong || char::from_u32(cp).is_none() {
        return (None, len);
    }
    (Some(cp), len)
}

/// Characters dropped from names: path separators, and the zero-width and
/// direction-changing format characters that make one name look like another
/// (libtorrent's `filter_path_character`). NUL is dropped too: no file name
/// can hold it, and libtorrent drops it as well.
fn dropped(cp: u32) -> bool {
    matches!(cp, 0 | 0x2f | 0x5c | 0x061c | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x2069 | 0xfeff)
}

/// Characters replaced by `_`: C0 controls, DEL and C1 controls, as in
/// libtorrent; and ':', which lt replaces on every system (libtorrent only on
/// Windows) so a torrent saves the same everywhere.
fn replaced(cp: u32) -> bool {
    cp < 0x20 || (0x7f..=0x9f).contains(&cp) || cp == u32::from(b':')
}

/// Sanitizes one path element as libtorrent's `sanitize_append_path_element`
/// does. Separators and format characters are dropped; control characters,
/// invalid UTF-8 and ':' become `_`; an element longer than 240 bytes is cut,
/// keeping an extension found in its last 10 bytes; a Windows reserved name
/// (`CON`, `LPT1`…) gets a leading `_`. An empty element becomes `_`. When
/// nothing else is left (".", "..", or only dropped characters) the answer
/// is `None`: a file path element then becomes `_` ([`path_element`]), so a
/// path never loses a level; the torrent's name becomes the info-hash.
pub fn sanitize_component(raw: impl AsRef<[u8]>) -> Option<String> {
    let raw = raw.as_ref();
    if raw.is_empty() {
        return Some("_".to_string());
    }
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut dots = 0usize;
    let mut found_extension = false;
    let mut i = 0usize;
    while i < raw.len() {
        let (cp, len) = utf8_codepoint(&raw[i..]);
        match cp {
            Some(c) if dropped(c) => {}
            Some(c) if !replaced(c) => {
                out.extend_from_slice(&raw[i..i + len]);
                dots += usize::from(c == u32::from(b'.'));
            }
            _ => out.push(b'_'),
        }
        if out.len() >= MAX_ELEMENT && !found_extension {
            // Keep the extension: a dot in the last 10 bytes, after here.
            let floor = raw.len().saturating_sub(10).max(i);
            match (floor + 1..raw.len()).rev().find(|&j| raw[j] == b'.') {
                Some(dot) => {
                    found_extension = true;
                    i = dot;
                    continue;
                }
                None => break,
            }
        }
        i += len;
    }
    if out.len() == dots && dots <= 2 {
        return None;
    }
    // Only ASCII and whole valid UTF-8 sequences were copied: nothing is lost.
    let mut s = String::from_utf8_lossy(&out).into_owned();
    let stem = s.split('.').next().unwrap_or("").to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        s.insert(0, '_');
    }
    Some(s)
}

/// One element of a file path: sanitized, and `_` when nothing is left.
fn path_element(raw: &[u8]) -> String {
    sanitize_component(raw).unwrap_or_else(|| "_".to_string())
}

/// A list of path elements, each sanitized as a file path element. Every
/// element must be a string.
fn path_list(list: &[Value<'_>], what: &str) -> Result<Vec<String>, MetainfoError> {
    if list.len() > MAX_PATH_DEPTH {
        return Err(invalid(format!("{what} is deeper than {MAX_PATH_DEPTH} directories")));
    }
    list.iter()
        .map(|el| {
            let b = el
                .as_bytes()
                .ok_or_else(|| invalid(format!("{what} has an element that is not a string")))?;
            Ok(path_element(b))
        })
        .collect()
}

/// A BEP 47 symlink target, relative to the torrent's root directory: "."
/// and ".." elements are skipped (BEP 47 forbids them; libtorrent drops
/// them), the others are sanitized as file path elements so the target
/// matches the path of the file it names.
fn symlink_list(list: &[Value<'_>], what: &str) -> Result<Vec<String>, MetainfoError> {
    if list.len() > MAX_PATH_DEPTH {
        return Err(invalid(format!("{what} is deeper than {MAX_PATH_DEPTH} directories")));
    }
    let mut out = Vec::new();
    for el in list {
        let b =
            el.as_bytes().ok_or_else(|| invalid(format!("{what} has an element that is not a string")))?;
        if b != b"." && b != b".." {
            out.push(path_element(b));
        }
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

/// One entry of `info.files` while it is read: its path under the name
/// directory as elements, and its symlink target (same form) if any.
struct RawFile {
    rel: Vec<String>,
    length: u64,
    pad: bool,
    symlink: Option<Vec<String>>,
    executable: bool,
    hidden: bool,
    /// A pad file without a path lives at `.pad/<length>`, outside the
    /// name directory, as in libtorrent.
    outside_name: bool,
}

impl Metainfo {
    /// Parses a .torrent file.
    pub fn from_bytes(buf: &[u8]) -> Result<Metainfo, MetainfoError> {
        if buf.len() > MAX_TORRENT_SIZE {
            return Err(MetainfoError::TooLarge(buf.len()));
        }
        let limits = bencode::Limits::default();
        let (root, _) = bencode::decode_lenient(buf, limits)?;
        if root.as_dict().is_none() {
            return Err(MetainfoError::NotADict);
        }
        let info_raw = bencode::raw_dict_value_lenient(buf, b"info", limits)?;
        let info_raw = match (root.get("info"), info_raw) {
            (Some(Value::Dict(_)), Some(raw)) => raw,
            _ => return Err(MetainfoError::NoInfo),
        };
        let mut m = Metainfo::from_info_bytes(info_raw)?;
        // As libtorrent: a "piece layers" that is not a dictionary is absent.
        if let (Some(_), Some(Value::Dict(layers))) = (m.info_hash_v2, root.get("piece layers")) {
            m.piece_layers = read_piece_layers(layers, &m.files, m.lengths.piece_length())?;
        }
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

    /// Parses a bare info dictionary (metadata received from peers, or
    /// embedded in resume data), decoded leniently as in a .torrent file;
    /// its SHA-1 is the info-hash, so it must be exactly one value.
    pub fn from_info_bytes(info: &[u8]) -> Result<Metainfo, MetainfoError> {
        if info.len() > MAX_TORRENT_SIZE {
            return Err(MetainfoError::TooLarge(info.len()));
        }
        let (v, used) = bencode::decode_lenient(info, bencode::Limits::default())?;
        if v.as_dict().is_none() {
            return Err(MetainfoError::NoInfo);
        }
        if used != info.len() {
            return Err(invalid("trailing bytes after the info dictionary"));
        }
        let sha1 = InfoHash(Sha1::digest(info).into());
        let v2 = match v.get("meta version") {
            None | Some(Value::Int(1)) => false,
            Some(Value::Int(2)) => {
                check_v2_header(info, &v)?;
                true
            }
            Some(other) => return Err(invalid(format!("unknown meta version {other:?}"))),
        };
        let piece_length = match v.get("piece length") {
            Some(Value::Int(n)) if *n > 0 && *n <= MAX_PIECE_LENGTH => *n as u32,
            Some(Value::Int(n)) if *n > MAX_PIECE_LENGTH => {
                return Err(invalid(format!("info.piece length {n} is larger than {MAX_PIECE_LENGTH}")))
            }
            Some(Value::Int(_)) => return Err(invalid("info.piece length must be > 0")),
            _ => return Err(invalid("info.piece length is missing or not an integer")),
        };
        // As libtorrent's dict_find_string: a key that is not a string is absent.
        let raw_name = v
            .get("name.utf-8")
            .and_then(Value::as_bytes)
            .or_else(|| v.get("name").and_then(Value::as_bytes))
            .ok_or_else(|| invalid("info.name is missing or not a string"))?;
        let info_hash_v2: Option<[u8; 32]> = v2.then(|| Sha256::digest(info).into());
        let tree = match (v2, v.get("file tree")) {
            (true, Some(Value::Dict(tree))) => Some(read_file_tree(tree, v.get("files").is_some())?),
            (true, _) => return Err(invalid("meta version 2 without a file tree")),
            (false, Some(_)) => return Err(invalid("info has a file tree but no meta version 2")),
            (false, None) => None,
        };
        // A v2 torrent without v1 "files" or "length" is v2-only.
        let v1_part = !v2 || v.get("files").is_some() || v.get("length").is_some();

        let (name, files, total) = match (tree, info_hash_v2) {
            (Some(tree), Some(v2_hash)) if !v1_part => {
                let name = sanitize_component(raw_name).unwrap_or_else(|| hex(&v2_hash));
                let (files, total) = lay_out_v2(&name, tree, piece_length)?;
                // A single file at the top of the tree is the torrent, as in v1.
                let name = match &files[..] {
                    [f, ..] if !f.path.starts_with(&name) => f.path.to_string_lossy().into_owned(),
                    _ => name,
                };
                (name, files, total)
            }
            (tree, _) => {
                let (name, mut files, total) = read_v1_files(&v, raw_name, &sha1)?;
                if let Some(tree) = tree {
                    let (v2_files, v2_total) = lay_out_v2(&name, tree, piece_length)?;
                    match_hybrid(&mut files, total, v2_files, v2_total)?;
                }
                (name, files, total)
            }
        };
        if total == 0 {
            return Err(invalid("the torrent has no data (total length 0)"));
        }
        let lengths = Lengths::new(total, piece_length).ok_or_else(|| invalid("inconsistent piece count"))?;
        if lengths.num_pieces() > MAX_PIECES {
            return Err(invalid(format!("too many pieces ({}, limit {MAX_PIECES})", lengths.num_pieces())));
        }
        let piece_hashes = if v1_part { read_v1_pieces(&v, &lengths)? } else { Vec::new() };
        let info_hash = match info_hash_v2 {
            Some(h) if !v1_part => InfoHash(h[..20].try_into().expect("20 of 32 bytes")),
            _ => sha1,
        };
        Ok(Metainfo {
            info_hash,
            has_v1: v1_part,
            info_hash_v2,
            info_bytes: info.to_vec(),
            name,
            lengths,
            piece_hashes,
            piece_layers: vec![Vec::new(); files.len()],
            files,
            trackers: Vec::new(),
            private: v.get("private").and_then(Value::as_int) == Some(1),
            comment: None,
            created_by: None,
            creation_date: None,
            web_seeds: Vec::new(),
        })
    }

    /// Whether the torrent is a directory of files rather than one file.
    /// Pad files do not count: a single-file v2 torrent has a tail pad.
    pub fn is_multi_file(&self) -> bool {
        let mut real = self.files.iter().filter(|f| !f.pad);
        let first = real.next();
        real.next().is_some() || first.is_some_and(|f| f.path.components().count() > 1)
    }
}

/// The v1 half of an info dictionary: the name, the files of `files` (or
/// the one file of `length`) laid out with their offsets, and the total.
fn read_v1_files(
    v: &Value<'_>,
    raw_name: &[u8],
    info_hash: &InfoHash,
) -> Result<(String, Vec<FileEntry>, u64), MetainfoError> {
    match (v.get("files"), v.get("length")) {
        (Some(list), _) => {
            let list = list.as_list().ok_or_else(|| invalid("info.files is not a list"))?;
            if list.is_empty() {
                return Err(invalid("info.files is empty"));
            }
            let name = sanitize_component(raw_name).unwrap_or_else(|| hex(&info_hash.0));
            let mut raw = Vec::with_capacity(list.len());
            for (i, f) in list.iter().enumerate() {
                raw.push(read_file_entry(f, i)?);
            }
            resolve_symlinks(&mut raw);
            let (files, total) = lay_out(&name, &raw)?;
            Ok((name, files, total))
        }
        (None, Some(Value::Int(n))) if *n >= 0 => {
            if raw_name.is_empty() {
                return Err(invalid("info.name is empty"));
            }
            let name =
                sanitize_component(raw_name).ok_or_else(|| invalid("info.name is empty after sanitizing"))?;
            let total = *n as u64;
            let file = FileEntry {
                path: PathBuf::from(&name),
                length: total,
                executable: attr_has(v, b'x'),
                hidden: attr_has(v, b'h'),
                ..FileEntry::default()
            };
            Ok((name, vec![file], total))
        }
        (None, Some(Value::Int(n))) => Err(invalid(format!("info.length is negative ({n})"))),
        (None, Some(_)) => Err(invalid("info.length is not an integer")),
        (None, None) => Err(invalid("info has neither length nor files")),
    }
}

/// The v1 piece hashes (`pieces`), one for each piece of `lengths`.
fn read_v1_pieces(v: &Value<'_>, lengths: &Lengths) -> Result<Vec<[u8; 20]>, MetainfoError> {
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
    Ok(pieces.chunks_exact(20).map(|c| c.try_into().expect("20-byte chunk")).collect())
}

/// The checks libtorrent makes on any v2 info dictionary before its files.
fn check_v2_header(info: &[u8], v: &Value<'_>) -> Result<(), MetainfoError> {
    // BEP 52 metadata must be canonical; libtorrent refuses the soft errors
    // it tolerates in v1 (unsorted keys, leading zeros).
    bencode::decode(info).map_err(|e| invalid(format!("v2 info dictionary: {e}")))?;
    match v.get("piece length").and_then(Value::as_int) {
        Some(n) if n >= 16384 && n & (n - 1) == 0 => Ok(()),
        n => Err(invalid(format!("v2 piece length {n:?} is not a power of two of at least 16 KiB"))),
    }
}

/// One file of a v2 `file tree` as read: its path and attributes, and
/// its pieces root (for a file that is neither empty nor a symlink).
struct TreeFile {
    raw: RawFile,
    pieces_root: Option<[u8; 32]>,
}

/// Reads a v2 `file tree` as libtorrent's `extract_files2`: depth-first in
/// key order, each key a path element sanitized as in v1; a leaf is a
/// dictionary whose only key is empty. A single leaf at the top of the tree,
/// when there is no v1 `files` list, is the torrent's one file (outside the
/// name directory); every other file is under the name directory.
fn read_file_tree(
    tree: &std::collections::BTreeMap<&[u8], Value<'_>>,
    has_v1_files: bool,
) -> Result<Vec<TreeFile>, MetainfoError> {
    let malformed = || invalid("v2 file tree is malformed");
    let mut out = Vec::new();
    let single = !has_v1_files && tree.len() == 1;
    // Directories still to walk: their path and their entries.
    let mut stack = vec![(Vec::new(), tree.iter())];
    while let Some((path, entries)) = stack.last_mut() {
        let Some((key, node)) = entries.next() else {
            stack.pop();
            continue;
        };
        let node = node.as_dict().ok_or_else(malformed)?;
        if key.is_empty() {
            return Err(malformed());
        }
        let start = key.iter().position(|&b| b != b'/').unwrap_or(key.len());
        let mut here = path.clone();
        here.push(path_element(&key[start..]));
        match node.get(&b""[..]) {
            Some(leaf) if node.len() == 1 => {
                let i = out.len();
                let outside_name = single && here.len() == 1;
                out.push(read_tree_leaf(leaf, here, outside_name, i)?);
            }
            _ if stack.len() > MAX_PATH_DEPTH => {
                return Err(invalid(format!("v2 file tree is deeper than {MAX_PATH_DEPTH} directories")))
            }
            _ if node.is_empty() => {}
            _ => stack.push((here, node.iter())),
        }
    }
    if out.is_empty() {
        return Err(invalid("v2 file tree has no files"));
    }
    Ok(out)
}

/// Reads one leaf of a v2 file tree as libtorrent's `extract_single_file2`.
fn read_tree_leaf(
    leaf: &Value<'_>,
    rel: Vec<String>,
    outside_name: bool,
    i: usize,
) -> Result<TreeFile, MetainfoError> {
    if leaf.as_dict().is_none() {
        return Err(invalid("v2 file tree is malformed"));
    }
    let attr = leaf.get("attr").and_then(Value::as_bytes).unwrap_or(b"");
    if attr.contains(&b'p') {
        return Err(invalid("a file in the v2 file tree has the pad attribute"));
    }
    let is_link = attr.contains(&b'l');
    let length = match leaf.get("length") {
        _ if is_link => 0,
        Some(Value::Int(n)) if *n >= 0 => *n as u64,
        _ => return Err(invalid(format!("v2 file {i}: length is missing, negative or not an integer"))),
    };
    if length >= MAX_V2_FILE_SIZE {
        return Err(invalid(format!("v2 file {i}: length {length} is not below {MAX_V2_FILE_SIZE}")));
    }
    let symlink = match leaf.get("symlink path") {
        Some(Value::List(list)) if is_link => {
            Some(symlink_list(list, &format!("v2 file {i}: symlink path"))?).filter(|t| !t.is_empty())
        }
        // libtorrent: a link without a target is an ordinary empty file.
        _ => None,
    };
    let pieces_root = if symlink.is_none() && length > 0 {
        match leaf.get("pieces root").and_then(Value::as_bytes) {
            Some(r) if r.len() == 32 && r.iter().any(|&b| b != 0) => Some(r.try_into().expect("32 bytes")),
            _ => return Err(invalid(format!("v2 file {i}: pieces root is missing, not 32 bytes or zero"))),
        }
    } else {
        None
    };
    let raw = RawFile {
        rel,
        length,
        pad: false,
        symlink,
        executable: attr.contains(&b'x'),
        hidden: attr.contains(&b'h'),
        outside_name,
    };
    Ok(TreeFile { raw, pieces_root })
}

/// Lays out a v2 file tree as libtorrent's `file_storage` does for v2:
/// every file that does not end on a piece boundary, the last one too, is
/// followed by a pad file up to the boundary, named `<dir>/.pad/<length>`
/// where `<dir>` is the name directory (or, for a single-file torrent, the
/// file's own path, as libtorrent names it). Symlinks are checked and
/// duplicate paths renamed as in v1.
fn lay_out_v2(
    name: &str,
    tree: Vec<TreeFile>,
    piece_length: u32,
) -> Result<(Vec<FileEntry>, u64), MetainfoError> {
    let (mut raw, roots): (Vec<RawFile>, Vec<Option<[u8; 32]>>) =
        tree.into_iter().map(|f| (f.raw, f.pieces_root)).unzip();
    resolve_symlinks(&mut raw);
    let full = |rel: &[String], outside: bool| {
        let mut p = if outside { PathBuf::new() } else { PathBuf::from(name) };
        p.extend(rel);
        p
    };
    let piece = u64::from(piece_length);
    let too_large = || invalid(format!("v2 files end past byte {MAX_FILE_OFFSET}"));
    let mut files = Vec::with_capacity(raw.len() * 2);
    let mut total: u64 = 0;
    for (f, pieces_root) in raw.iter().zip(roots) {
        let path = full(&f.rel, f.outside_name);
        files.push(FileEntry {
            path: path.clone(),
            length: f.length,
            offset: total,
            symlink: f.symlink.as_deref().map(|t| full(t, false)),
            executable: f.executable,
            hidden: f.hidden,
            pieces_root,
            ..FileEntry::default()
        });
        total = total.checked_add(f.length).filter(|&t| t <= MAX_FILE_OFFSET).ok_or_else(too_large)?;
        if total % piece != 0 {
            let pad = piece - total % piece;
            let dir = if f.outside_name { path } else { PathBuf::from(name) };
            files.push(FileEntry {
                path: dir.join(".pad").join(pad.to_string()),
                length: pad,
                offset: total,
                pad: true,
                ..FileEntry::default()
            });
            total = total.checked_add(pad).filter(|&t| t <= MAX_FILE_OFFSET).ok_or_else(too_large)?;
        }
    }
    rename_duplicates(&mut files)?;
    Ok((files, total))
}

/// A hybrid torrent's v2 files must be its v1 files (libtorrent's
/// `files_compatible`): as many entries, the same total, and each file that
/// is neither empty nor padding at the same index with the same path,
/// length and offset. A v1 list without the last file's pad (libtorrent
/// 2.0.0 to 2.0.7 made those) still matches. lt keeps the v1 list, so a
/// hybrid whose halves disagree would download other files than a v2 client
/// does: it is refused, as libtorrent refuses it. Once matched, each v1 file
/// takes its pieces root from the v2 tree.
fn match_hybrid(
    v1: &mut [FileEntry],
    v1_total: u64,
    mut v2: Vec<FileEntry>,
    mut v2_total: u64,
) -> Result<(), MetainfoError> {
    if v2.len() == v1.len() + 1 {
        // libtorrent's remove_tail_padding: a pad as the last file that is
        // not empty goes; the empty files after it move back.
        if let Some(last) = v2.iter().rposition(|f| f.length > 0).filter(|&i| v2[i].pad) {
            v2_total -= v2.remove(last).length;
            for f in &mut v2[last..] {
                f.offset = v2_total;
            }
        }
    }
    let relevant = |f: &FileEntry| !f.pad && f.length > 0;
    let same = v1.len() == v2.len()
        && v1_total == v2_total
        && v1.iter().zip(&v2).all(|(a, b)| {
            relevant(a) == relevant(b)
                && (!relevant(a) || (a.path == b.path && a.length == b.length && a.offset == b.offset))
        });
    if !same {
        return Err(invalid("the v1 and v2 file lists of this hybrid torrent do not match"));
    }
    for (a, b) in v1.iter_mut().zip(v2) {
        if relevant(a) {
            a.pieces_root = b.pieces_root;
        }
    }
    Ok(())
}

/// Reads a .torrent's `piece layers` as libtorrent's `parse_piece_layers`:
/// every entry must be keyed by the pieces root of a file larger than one
/// piece, hold exactly that file's number of pieces in 32-byte hashes, and
/// hash up to the root; one bad entry refuses the torrent. A file without
/// an entry keeps an empty layer (the hashes can come from peers later).
/// Files sharing one root (equal contents) all take the layer.
fn read_piece_layers(
    layers: &std::collections::BTreeMap<&[u8], Value<'_>>,
    files: &[FileEntry],
    piece_length: u32,
) -> Result<Vec<Vec<[u8; 32]>>, MetainfoError> {
    let piece = u64::from(piece_length);
    let mut by_root: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        if let Some(root) = f.pieces_root.as_ref().filter(|_| !f.pad && f.length > piece) {
            by_root.entry(&root[..]).or_default().push(i);
        }
    }
    let blocks_per_piece = piece_length as usize / merkle::BLOCK_SIZE;
    let mut out = vec![Vec::new(); files.len()];
    for (root, layer) in layers {
        let bad = |why: String| invalid(format!("piece layers: {why}"));
        let bytes = layer
            .as_bytes()
            .filter(|b| root.len() == 32 && b.len() % 32 == 0)
            .ok_or_else(|| bad("an entry is not a 32-byte root with a string of 32-byte hashes".into()))?;
        let owners = by_root
            .get(root)
            .ok_or_else(|| bad(format!("{} is not the root of a file larger than one piece", hex(root))))?;
        let pieces = files[owners[0]].length.div_ceil(piece);
        if bytes.len() as u64 / 32 != pieces {
            return Err(bad(format!(
                "the layer of {} has {} hashes for {pieces} pieces",
                hex(root),
                bytes.len() / 32
            )));
        }
        let hashes: Vec<[u8; 32]> =
            bytes.chunks_exact(32).map(|c| c.try_into().expect("32-byte chunk")).collect();
        if merkle::layer_root(&hashes, blocks_per_piece)[..] != root[..] {
            return Err(bad(format!("the layer of {} does not hash to that root", hex(root))));
        }
        for &i in owners {
            out[i] = hashes.clone();
        }
    }
    Ok(out)
}

/// Whether a single-file torrent's `attr` (in the info dictionary) has `flag`.
fn attr_has(v: &Value<'_>, flag: u8) -> bool {
    v.get("attr").and_then(Value::as_bytes).is_some_and(|a| a.contains(&flag))
}

/// Reads entry `i` of `info.files` as libtorrent's `extract_single_file`.
fn read_file_entry(f: &Value<'_>, i: usize) -> Result<RawFile, MetainfoError> {
    if f.as_dict().is_none() {
        return Err(invalid(format!("file {i} is not a dictionary")));
    }
    let attr = f.get("attr").and_then(Value::as_bytes).unwrap_or(b"");
    let is_link = attr.contains(&b'l');
    let mut pad = attr.contains(&b'p');
    // A symlink takes no room in the torrent, whatever its length says (and
    // it need not say anything).
    let length = if is_link {
        0
    } else {
        match f.get("length") {
            Some(Value::Int(n)) if *n >= 0 => *n as u64,
            Some(Value::Int(n)) => return Err(invalid(format!("file {i}: negative length {n}"))),
            _ => return Err(invalid(format!("file {i}: length is missing or not an integer"))),
        }
    };
    let path =
        f.get("path.utf-8").and_then(Value::as_list).or_else(|| f.get("path").and_then(Value::as_list));
    let (rel, outside_name) = match path {
        Some(list) if !list.is_empty() => (path_list(list, &format!("file {i}: path"))?, false),
        _ if pad => (vec![".pad".to_string(), length.to_string()], true),
        _ => return Err(invalid(format!("file {i}: path is missing or empty"))),
    };
    if rel.iter().any(|e| e.contains(BITCOMET_PAD)) {
        pad = true;
    }
    let symlink = match (is_link, f.get("symlink path")) {
        (true, Some(Value::List(list))) => Some(symlink_list(list, &format!("file {i}: symlink path"))?),
        (true, Some(_)) => return Err(invalid(format!("file {i}: symlink path is not a list"))),
        // libtorrent: without a target the entry is an ordinary empty file.
        _ => None,
    };
    // A target with nothing left (only "." and "..") is no symlink either.
    let symlink = symlink.filter(|t| !t.is_empty());
    Ok(RawFile {
        rel,
        length,
        pad,
        symlink,
        executable: attr.contains(&b'x'),
        hidden: attr.contains(&b'h'),
        outside_name,
    })
}

/// Keys for paths, built one element at a time so that every directory
/// prefix of a path costs one number, not a copy of the prefix: a crafted
/// torrent of many deep paths would otherwise make memory grow with the
/// square of the depth. The keys are hashes with this parse's random seed,
/// so two different paths sharing a key is a 2^-64 accident that input
/// cannot arrange.
struct PathKeys(RandomState);

impl PathKeys {
    /// The key of `parent` extended by `element` (the root's key is 0).
    fn child(&self, parent: u64, element: &str) -> u64 {
        let mut h = self.0.build_hasher();
        h.write_u64(parent);
        h.write(element.as_bytes());
        h.finish()
    }

    /// The keys of each prefix of `path`, shortest first, then the path's.
    fn prefixes<'s>(
        &'s self,
        path: impl IntoIterator<Item = &'s str> + 's,
    ) -> impl Iterator<Item = u64> + 's {
        path.into_iter().scan(0u64, move |key, el| {
            *key = self.child(*key, el);
            Some(*key)
        })
    }

    fn of<'s>(&'s self, path: impl IntoIterator<Item = &'s str> + 's) -> u64 {
        self.prefixes(path).last().unwrap_or(0)
    }
}

/// Most links followed while checking all of a torrent's symlinks: each
/// check may follow every other link once, so crafted chains are stopped
/// here; a link not resolved within the budget points at itself.
const MAX_SYMLINK_HOPS: usize = 100_000;

/// Checks each symlink's target as libtorrent's `sanitize_symlinks`: it must
/// name a file or directory of the torrent, taken from the torrent's root or,
/// failing that, from the link's own directory, possibly through other
/// symlinks (each followed once). A target that does not resolve is replaced
/// by the link's own path.
fn resolve_symlinks(files: &mut [RawFile]) {
    if files.iter().all(|f| f.symlink.is_none()) {
        return;
    }
    let keys = PathKeys(RandomState::new());
    let key = |path: &[String]| keys.of(path.iter().map(String::as_str));
    // Each file by its path, and every directory.
    let mut file_at: HashMap<u64, usize> = HashMap::new();
    let mut dirs: HashSet<u64> = HashSet::new();
    for (i, f) in files.iter().enumerate() {
        let mut prefixes: Vec<u64> = keys.prefixes(f.rel.iter().map(String::as_str)).collect();
        file_at.insert(prefixes.pop().unwrap_or(0), i);
        dirs.extend(prefixes);
    }
    let is_link = |k: u64, files: &[RawFile]| file_at.get(&k).is_some_and(|&j| files[j].symlink.is_some());
    // Links that may point at a directory, by their path's key.
    let mut dir_links: HashMap<u64, Vec<String>> = HashMap::new();
    let mut to_validate = Vec::new();
    for i in 0..files.len() {
        let Some(target) = files[i].symlink.clone() else { continue };
        let own = key(&files[i].rel);
        let t = key(&target);
        if file_at.contains_key(&t) {
            if is_link(t, files) {
                dir_links.insert(own, target);
            }
            continue;
        }
        if dirs.contains(&t) {
            dir_links.insert(own, target);
            continue;
        }
        // Relative to the link's directory, for older torrents.
        let mut local = files[i].rel[..files[i].rel.len() - 1].to_vec();
        local.extend(target.iter().cloned());
        let l = key(&local);
        if dirs.contains(&l) || file_at.contains_key(&l) {
            if dirs.contains(&l) || is_link(l, files) {
                dir_links.insert(own, local.clone());
            }
            files[i].symlink = Some(local);
            continue;
        }
        dir_links.insert(own, target);
        to_validate.push(i);
    }
    let mut hops = 0usize;
    for i in to_validate {
        let Some(mut target) = files[i].symlink.clone() else { continue };
        let mut traversed: HashSet<u64> = HashSet::new();
        let mut resolved = false;
        'walk: while hops < MAX_SYMLINK_HOPS && target.len() <= MAX_PATH_DEPTH {
            // Every directory on the way must be a directory of the torrent
            // or a link to follow; the last element must then exist.
            let mut branch = 0u64;
            for n in 0..target.len() - 1 {
                branch = keys.child(branch, &target[n]);
                if dirs.contains(&branch) {
                    continue;
                }
                match dir_links.get(&branch) {
                    Some(link) if traversed.insert(branch) => {
                        hops += 1;
                        let mut next = link.clone();
                        next.extend(target[n + 1..].iter().cloned());
                        target = next;
                        continue 'walk;
                    }
                    _ => break 'walk,
                }
            }
            let t = key(&target);
            resolved = file_at.contains_key(&t) || dirs.contains(&t);
            break;
        }
        if !resolved {
            files[i].symlink = Some(files[i].rel.clone());
        }
    }
}

/// Full paths, offsets and the total length; paths equal ignoring ASCII
/// case to an earlier file or to a directory are renamed (see
/// [`rename_duplicates`]).
fn lay_out(name: &str, raw: &[RawFile]) -> Result<(Vec<FileEntry>, u64), MetainfoError> {
    let full = |rel: &[String], outside: bool| {
        let mut p = if outside { PathBuf::new() } else { PathBuf::from(name) };
        p.extend(rel);
        p
    };
    let mut files = Vec::with_capacity(raw.len());
    let mut total: u64 = 0;
    for f in raw {
        files.push(FileEntry {
            path: full(&f.rel, f.outside_name),
            length: f.length,
            offset: total,
            pad: f.pad,
            symlink: f.symlink.as_deref().map(|t| full(t, false)),
            executable: f.executable,
            hidden: f.hidden,
            pieces_root: None,
        });
        total = total.checked_add(f.length).ok_or_else(|| invalid("total length overflows"))?;
    }
    rename_duplicates(&mut files)?;
    Ok((files, total))
}

/// An element as two paths collide on it: libtorrent compares paths
/// ignoring ASCII case, so names that differ only in case do not overwrite
/// each other on a case-insensitive file system.
fn fold(element: &std::ffi::OsStr) -> String {
    element.to_string_lossy().to_ascii_lowercase()
}

/// Renames every file whose path collides (ignoring ASCII case) with a
/// directory of the torrent or an earlier file, as libtorrent's
/// `resolve_duplicate_filenames`: `dir/name.ext` becomes `dir/name.1.ext`,
/// else `dir/name.2.ext`…, the first name not taken. Pad files may share a
/// path with pad files of the same length. More than
/// [`MAX_DUPLICATE_RENAMES`] taken names tried refuses the torrent.
fn rename_duplicates(files: &mut [FileEntry]) -> Result<(), MetainfoError> {
    let keys = PathKeys(RandomState::new());
    // Each path's folded elements' keys: its directories', then its own.
    let mut parents = Vec::with_capacity(files.len());
    let mut own = Vec::with_capacity(files.len());
    // What each taken key is: a directory, or the file at that index.
    let mut taken: HashMap<u64, Option<usize>> = HashMap::new();
    for f in files.iter() {
        let folded: Vec<String> = f.path.iter().map(fold).collect();
        let mut prefixes: Vec<u64> = keys.prefixes(folded.iter().map(String::as_str)).collect();
        own.push(prefixes.pop().unwrap_or(0));
        parents.push(prefixes.last().copied().unwrap_or(0));
        // The name directory itself is not a directory a file can collide
        // with (libtorrent registers only what is under it): a single-file
        // v2 torrent's tail pad is at `<file>/.pad/<length>`.
        taken.extend(prefixes.into_iter().skip(1).map(|k| (k, None)));
    }
    let mut tries = 0usize;
    for i in 0..files.len() {
        match taken.get(&own[i]) {
            None => {
                taken.insert(own[i], Some(i));
                continue;
            }
            Some(Some(j)) if files[i].pad && files[*j].pad && files[i].length == files[*j].length => continue,
            Some(_) => {}
        }
        let file_name =
            files[i].path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (stem, ext) = match file_name.rfind('.') {
            Some(dot) => file_name.split_at(dot),
            None => (file_name.as_str(), ""),
        };
        let mut n = 1usize;
        let (renamed, key) = loop {
            let candidate = format!("{stem}.{n}{ext}");
            let key = keys.child(parents[i], &candidate.to_ascii_lowercase());
            if !taken.contains_key(&key) {
                break (candidate, key);
            }
            tries += 1;
            if tries > MAX_DUPLICATE_RENAMES {
                return Err(invalid(format!(
                    "too many duplicate file names (more than {MAX_DUPLICATE_RENAMES} renames tried)"
                )));
            }
            n += 1;
        };
        taken.insert(key, Some(i));
        files[i].path.set_file_name(renamed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Component, Path};

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
        assert_eq!(m.files, vec![FileEntry { path: "x.bin".into(), length: 40000, ..Default::default() }]);
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

    /// A multi-file torrent named "x" with one 5-byte file at `path` (a
    /// bencoded list), answering the file's path.
    fn one_path(path: &str) -> Result<PathBuf, MetainfoError> {
        let s = format!("d5:filesld6:lengthi5e4:path{path}ee4:name1:x12:piece lengthi16384e{}e", pieces(1));
        Metainfo::from_bytes(&info(&s)).map(|m| m.files[0].path.clone())
    }

    #[test]
    fn sanitizing() {
        let p1 = pieces(1);
        let t = one_path;
        // Separators are dropped, not replaced (libtorrent's slash_path2).
        assert_eq!(t("l16:foo/../../../bare").unwrap(), PathBuf::from("x/foo......bar"));
        assert_eq!(t("l7:/foobare").unwrap(), PathBuf::from("x/foobar"));
        assert_eq!(t("l3:CON3:a:be").unwrap(), PathBuf::from("x/_CON/a_b"));
        assert_eq!(t("l5:a\x01b\x7fce").unwrap(), PathBuf::from("x/a_b_c"));
        // NUL and zero-width or direction-changing characters are dropped.
        assert_eq!(t("l4:a\0bce").unwrap(), PathBuf::from("x/abc"));
        assert_eq!(t("l9:foo\u{200e}bare").unwrap(), PathBuf::from("x/foobar"));
        // Invalid UTF-8 becomes one '_' per bad sequence; valid UTF-8 stays.
        let bytes = b"d5:filesld6:lengthi5e4:pathl10:a\xc3\xa9\xff\xc0\xaeb\xe2\x9fzeee4:name1:x12:piece lengthi16384e";
        let mut doc = b"d4:info".to_vec();
        doc.extend_from_slice(bytes);
        doc.extend_from_slice(p1.as_bytes());
        doc.extend_from_slice(b"ee");
        let m = Metainfo::from_bytes(&doc).unwrap();
        // A broken sequence is skipped whole, as libtorrent skips it: "\xe2\x9fz" is one '_'.
        assert_eq!(m.files[0].path, PathBuf::from("x/a\u{e9}__b_"));
        let m = Metainfo::from_bytes(&info(&format!("d6:lengthi5e4:name2:..12:piece lengthi16384e{p1}e")));
        assert_eq!(m.unwrap_err().to_string(), "info.name is empty after sanitizing");
        let m = Metainfo::from_bytes(&info(&format!(
            "d6:lengthi5e4:name14:temp/../../abc12:piece lengthi16384e{p1}e"
        )))
        .unwrap();
        assert_eq!(m.name, "temp....abc");
    }

    /// libtorrent's own cases for `sanitize_append_path_element`
    /// (test_torrent_info.cpp: sanitize_path, _control_chars, _format_chars;
    /// the Linux answers).
    #[test]
    fn sanitize_like_libtorrent() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"a...b", Some("a...b")),
            (b"abc...", Some("abc...")),
            (b"abc   ", Some("abc   ")),
            (b"\x08", Some("_")),
            (b"\x08?filename=4", Some("_?filename=4")),
            (b"filename\xc2\xa1", Some("filename\u{a1}")),
            (b"filename\xc2", Some("filename_")),
            (b"filename\xe2\x9f\xb9", Some("filename\u{27f9}")),
            (b"filename\xe2\x9f", Some("filename_")),
            (b"filename\xe2", Some("filename_")),
            (b"filename\xf0\x9f\x92\x88", Some("filename\u{1f488}")),
            (b"filename\xf0\x9f\x92", Some("filename_")),
            (b"filename\xf8\x9f\x9f\x9f\x9ffoobar", Some("filename_foobar")),
            (b"filename\xc0\xae", Some("filename_")),
            (b"filename\xe0\x80\xae", Some("filename_")),
            (b"filename\xf0\x80\x80\xae", Some("filename_")),
            (b"//\\", None),
            (b"foo\xe2\x80\x8ebar", Some("foobar")),
            (b"foo\xe2\x80\xabbar", Some("foobar")),
            (b"foo\x7fbar", Some("foo_bar")),
            (b"foo\xc2\x80bar", Some("foo_bar")),
            (b"foo\xc2\x9fbar", Some("foo_bar")),
            (b"foo\xe2\x80\x8bbar", Some("foobar")),
            (b"foo\xef\xbb\xbfbar", Some("foobar")),
            (b"", Some("_")),
            (b".", None),
            (b"..", None),
            (b"...", Some("...")),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize_component(raw).as_deref(), *want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn empty_elements_become_underscore() {
        // "", ".", ".." and elements of dropped characters only keep their
        // level as "_" (libtorrent's empty_path, slash_path, parent_path).
        assert_eq!(one_path("l0:0:3:fooe").unwrap(), PathBuf::from("x/_/_/foo"));
        assert_eq!(one_path("l2:..2:..3:bare").unwrap(), PathBuf::from("x/_/_/bar"));
        assert_eq!(one_path("l1:/1:\\3:bare").unwrap(), PathBuf::from("x/_/_/bar"));
        assert_eq!(one_path("l1:.e").unwrap(), PathBuf::from("x/_"));
        // "..." is a name like any other.
        assert_eq!(one_path("l3:...e").unwrap(), PathBuf::from("x/..."));
        assert_eq!(one_path("le").unwrap_err().to_string(), "file 0: path is missing or empty");
    }

    #[test]
    fn names_with_nothing_left() {
        let p1 = pieces(1);
        let multi = |name: &str| {
            let s = format!(
                "d5:filesld6:lengthi5e4:pathl1:aeee4:name{}:{name}12:piece lengthi16384e{p1}e",
                name.len()
            );
            Metainfo::from_bytes(&info(&s)).unwrap()
        };
        let m = multi("..");
        assert_eq!(m.name, m.info_hash.to_hex());
        assert_eq!(m.files[0].path, PathBuf::from(m.info_hash.to_hex()).join("a"));
        assert_eq!(multi("").name, "_");
        let single = |name: &str| {
            let s = format!("d6:lengthi5e4:name{}:{name}12:piece lengthi16384e{p1}e", name.len());
            Metainfo::from_bytes(&info(&s)).map(|m| m.name)
        };
        assert_eq!(single("").unwrap_err().to_string(), "info.name is empty");
        assert_eq!(single("\0\0").unwrap_err().to_string(), "info.name is empty after sanitizing");
        assert_eq!(single("a\0b").unwrap(), "ab");
    }

    #[test]
    fn long_elements_keep_their_extension() {
        let stem = "abcdefghi_".repeat(30);
        let path = |el: &str| format!("l{}:{el}e", el.len());
        let cut = one_path(&path(&format!("{stem}.test"))).unwrap();
        let expect = format!("{}.test", &stem[..240]);
        assert_eq!(cut, PathBuf::from("x").join(&expect));
        // No extension in the last 10 bytes: cut at 240.
        let cut = one_path(&path(&format!("{stem}.testtesttest"))).unwrap();
        assert_eq!(cut, PathBuf::from("x").join(&stem[..240]));
        // A multi-byte character is never split.
        let wide = format!("{}\u{2014}abcde.jpg", &stem[..239]);
        let cut = one_path(&path(&wide)).unwrap();
        assert_eq!(cut, PathBuf::from("x").join(format!("{}\u{2014}.jpg", &stem[..239])));
        assert_eq!(one_path(&path("short.txt")).unwrap(), PathBuf::from("x/short.txt"));
    }

    /// A multi-file torrent "t" with `files` (bencoded dictionaries), enough
    /// piece hashes for `total` bytes.
    fn multi(files: &str, total: u64) -> Result<Metainfo, MetainfoError> {
        let n = total.div_ceil(16384).max(1) as usize;
        let s = format!("d5:filesl{files}e4:name1:t12:piece lengthi16384e{}e", pieces(n));
        Metainfo::from_bytes(&info(&s))
    }

    fn paths(m: &Metainfo) -> Vec<String> {
        m.files.iter().map(|f| f.path.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn duplicates_are_renamed() {
        let m = multi(
            "d6:lengthi5e4:pathl3:foo7:bar.txteed6:lengthi5e4:pathl3:foo7:bar.txteed6:lengthi5e4:pathl3:foo7:bar.txtee",
            15,
        )
        .unwrap();
        assert_eq!(paths(&m), ["t/foo/bar.txt", "t/foo/bar.1.txt", "t/foo/bar.2.txt"]);
        // Names equal but for case collide too, and so does a file with a
        // directory; a name without extension gets the number at its end.
        let m = multi(
            "d6:lengthi5e4:pathl6:README1:aeed6:lengthi5e4:pathl6:readmeeed6:lengthi5e4:pathl6:ReadMe1:Aee",
            15,
        )
        .unwrap();
        assert_eq!(paths(&m), ["t/README/a", "t/readme.1", "t/ReadMe/A.1"]);
        // A taken ".1" name moves on to ".2".
        let m = multi("d6:lengthi5e4:pathl5:a.1.ceed6:lengthi5e4:pathl3:a.ceed6:lengthi5e4:pathl3:A.Cee", 15)
            .unwrap();
        assert_eq!(paths(&m), ["t/a.1.c", "t/a.c", "t/A.2.C"]);
    }

    #[test]
    fn too_many_duplicates_are_refused() {
        let files = "d6:lengthi1e4:pathl1:aee".repeat(40);
        let e = multi(&files, 40).unwrap_err();
        assert_eq!(e.to_string(), "too many duplicate file names (more than 500 renames tried)");
        // 30 copies need 29·28/2 = 406 tries: still loaded.
        let files = "d6:lengthi1e4:pathl1:aee".repeat(30);
        let m = multi(&files, 30).unwrap();
        assert_eq!(m.files[29].path, PathBuf::from("t/a.29"));
    }

    #[test]
    fn pad_files() {
        // BitComet's names, BEP 47's attribute, and a pad without a path.
        let m = multi(
            "d6:lengthi45e4:pathl3:foo7:bar.txteed6:lengthi16339e4:pathl18:_____padding_file_eed6:lengthi5e4:pathl1:beed4:attr1:p6:lengthi16379eed6:lengthi5e4:pathl1:cee",
            45 + 16339 + 5 + 16379 + 5,
        )
        .unwrap();
        let pads: Vec<bool> = m.files.iter().map(|f| f.pad).collect();
        assert_eq!(pads, [false, true, false, true, false]);
        assert_eq!(m.files[3].path, PathBuf::from(".pad/16379"));
        assert_eq!(m.files[4].offset, 45 + 16339 + 5 + 16379);
        // Pads of one length may share a path; they are never renamed.
        let m = multi(
            "d6:lengthi5e4:pathl1:aeed4:attr1:p6:lengthi16379eed6:lengthi5e4:pathl1:beed4:attr1:p6:lengthi16379eed6:lengthi5e4:pathl1:cee",
            5 + 16379 + 5 + 16379 + 5,
        )
        .unwrap();
        assert_eq!(m.files[1].path, m.files[3].path);
    }

    #[test]
    fn symlinks() {
        // Target from the torrent's root; the link's length is ignored (and
        // may be absent); a target relative to the link's directory; a link
        // through another link; a target outside the torrent points at itself.
        let m = multi(
            concat!(
                "d6:lengthi425e4:pathl1:a1:b3:baree",
                "d4:attr1:l6:lengthi425e4:pathl1:a1:b3:fooe12:symlink pathl1:a1:b3:baree",
                "d4:attr1:l4:pathl1:a4:sidee12:symlink pathl1:bee",
                "d4:attr1:l4:pathl3:viae12:symlink pathl1:a4:side3:baree",
                "d4:attr1:l4:pathl3:oute12:symlink pathl2:..2:..3:etc6:passwdee",
                "d4:attr1:l4:pathl4:nonee12:symlink pathl2:..ee",
            ),
            425,
        )
        .unwrap();
        let links: Vec<Option<String>> =
            m.files.iter().map(|f| f.symlink.as_ref().map(|p| p.to_string_lossy().into_owned())).collect();
        assert_eq!(
            links,
            [
                None,
                Some("t/a/b/bar".into()),
                Some("t/a/b".into()),
                Some("t/a/side/bar".into()),
                Some("t/out".into()),
                None
            ]
        );
        assert_eq!(m.lengths.total_length(), 425);
        assert!(m.files[1..].iter().all(|f| f.length == 0));
        // A symlink path element that is not a string refuses the torrent.
        let e =
            multi("d4:attr1:l4:pathl1:ae12:symlink pathl1:bi4eeed6:lengthi5e4:pathl1:bee", 5).unwrap_err();
        assert_eq!(e.to_string(), "file 0: symlink path has an element that is not a string");
    }

    #[test]
    fn symlink_cycles_point_at_themselves() {
        // Each link's target goes through the other: following them never
        // ends on a file, and each link is followed once.
        let m = multi(
            concat!(
                "d6:lengthi5e4:pathl1:feed",
                "4:attr1:l4:pathl2:l1e12:symlink pathl2:l21:feed",
                "4:attr1:l4:pathl2:l2e12:symlink pathl2:l11:fee",
            ),
            5,
        )
        .unwrap();
        assert_eq!(m.files[1].symlink, Some(PathBuf::from("t/l1")));
        assert_eq!(m.files[2].symlink, Some(PathBuf::from("t/l2")));
    }

    #[test]
    fn many_deep_paths_with_a_symlink() {
        // 2,000 distinct paths 100 directories deep, and a link: directory
        // keys cost one number per level, not a copy of every prefix.
        let mut files = String::new();
        for i in 0..2000 {
            files.push_str(&format!("d6:lengthi1e4:pathl{}:{i}", i.to_string().len()));
            files.push_str(&"1:d".repeat(99));
            files.push_str("ee");
        }
        let deep = format!("0{}", "/d".repeat(99));
        files.push_str("d4:attr1:l4:pathl4:linke12:symlink pathl1:0");
        files.push_str(&"1:d".repeat(99));
        files.push_str("ee");
        let m = multi(&files, 2000).unwrap();
        assert_eq!(m.files.len(), 2001);
        assert_eq!(m.files[2000].symlink, Some(PathBuf::from("t").join(deep)));
    }

    #[test]
    fn hybrids_load_as_v1_with_v2_roots() {
        let root = format!("11:pieces root32:{}", "r".repeat(32));
        let hybrid = |tree_name: &str, piece_length: u32, extra: &str| {
            let body = format!(
                "d9:file treed{}:{tree_name}d0:d{extra}6:lengthi5e{root}eee6:lengthi5e12:meta versioni2e4:name1:x12:piece lengthi{piece_length}e{}e",
                tree_name.len(),
                pieces(1)
            );
            Metainfo::from_bytes(&info(&body))
        };
        // The v2 tree's tail pad is missing from the v1 list: still a match.
        let m = hybrid("x", 16384, "").unwrap();
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].path, PathBuf::from("x"));
        assert_eq!(m.files[0].pieces_root, Some([b'r'; 32]));
        assert!(m.has_v1);
        assert_eq!(m.info_hash_v2, Some(Sha256::digest(&m.info_bytes).into()));
        assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(&m.info_bytes)));
        assert_eq!(m.piece_layers, vec![Vec::<[u8; 32]>::new()]);
        let e = |r: Result<Metainfo, MetainfoError>| r.unwrap_err().to_string();
        assert_eq!(e(hybrid("y", 16384, "")), "the v1 and v2 file lists of this hybrid torrent do not match");
        assert_eq!(e(hybrid("x", 16384, "4:attr1:p")), "a file in the v2 file tree has the pad attribute");
        assert!(e(hybrid("x", 16383, "")).starts_with("v2 piece length Some(16383) is not a power of two"));
        // The same hybrid with its keys out of order is refused (v2 needs
        // canonical bencoding).
        let body = format!(
            "d6:lengthi5e9:file treed1:xd0:d6:lengthi5e{root}eee12:meta versioni2e4:name1:x12:piece lengthi16384e{}e",
            pieces(1)
        );
        assert!(e(Metainfo::from_bytes(&info(&body))).starts_with("v2 info dictionary: invalid bencoding"));
        let body = format!("d6:lengthi5e12:meta versioni3e4:name1:x12:piece lengthi16384e{}e", pieces(1));
        assert_eq!(e(Metainfo::from_bytes(&info(&body))), "unknown meta version Int(3)");
        let body = format!("d9:file treedeu6:lengthi5e4:name1:x12:piece lengthi16384e{}e", pieces(1));
        let body = body.replace("deu", "de");
        assert_eq!(e(Metainfo::from_bytes(&info(&body))), "info has a file tree but no meta version 2");
        let body = "d12:meta versioni2e4:name1:x12:piece lengthi16384ee";
        assert_eq!(e(Metainfo::from_bytes(&info(body))), "meta version 2 without a file tree");
    }

    /// A bencoded string.
    fn bstr(b: &[u8]) -> Vec<u8> {
        [format!("{}:", b.len()).as_bytes(), b].concat()
    }

    /// A v2 file's pieces root and piece layer, from its contents.
    fn merkle_of(data: &[u8], piece: usize) -> ([u8; 32], Vec<[u8; 32]>) {
        let leaves: Vec<[u8; 32]> = data.chunks(merkle::BLOCK_SIZE).map(merkle::hash_block).collect();
        let per_piece = piece / merkle::BLOCK_SIZE;
        let layer: Vec<[u8; 32]> =
            leaves.chunks(per_piece).map(|c| merkle::piece_root(c, per_piece)).collect();
        (merkle::file_root(&leaves), layer)
    }

    /// A v2-only .torrent named "t" whose file tree holds `files` (names in
    /// key order) at the top, with `piece layers` for the files larger than
    /// a piece; `edit` may change each layer before it is written.
    fn v2_torrent(files: &[(&str, &[u8])], piece: usize, edit: impl Fn(&mut Vec<[u8; 32]>)) -> Vec<u8> {
        let mut tree = b"d".to_vec();
        let mut layers = std::collections::BTreeMap::new();
        for (name, data) in files {
            tree.extend(bstr(name.as_bytes()));
            tree.extend(format!("d0:d6:lengthi{}e", data.len()).as_bytes());
            if !data.is_empty() {
                let (root, mut layer) = merkle_of(data, piece);
                tree.extend(b"11:pieces root");
                tree.extend(bstr(&root));
                if data.len() > piece {
                    edit(&mut layer);
                    layers.insert(root, layer.concat());
                }
            }
            tree.extend(b"ee");
        }
        tree.push(b'e');
        let info = [
            &b"d9:file tree"[..],
            &tree,
            format!("12:meta versioni2e4:name1:t12:piece lengthi{piece}ee").as_bytes(),
        ]
        .concat();
        let mut doc = [&b"d4:info"[..], &info].concat();
        if !layers.is_empty() {
            doc.extend(b"12:piece layersd");
            for (root, layer) in &layers {
                doc.extend(bstr(root));
                doc.extend(bstr(layer));
            }
            doc.push(b'e');
        }
        doc.push(b'e');
        doc
    }

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
    }

    #[test]
    fn v2_only_files_pads_and_layers() {
        let (a, c) = (data(20_000, 1), data(40_000, 2));
        let files: [(&str, &[u8]); 3] = [("a", &a), ("b", &[]), ("c", &c)];
        let doc = v2_torrent(&files, 32768, |_| {});
        let m = Metainfo::from_bytes(&doc).unwrap();
        let laid: Vec<(String, u64, u64, bool)> = m
            .files
            .iter()
            .map(|f| (f.path.to_string_lossy().into_owned(), f.length, f.offset, f.pad))
            .collect();
        let want = [
            ("t/a", 20_000, 0, false),
            ("t/.pad/12768", 12_768, 20_000, true),
            ("t/b", 0, 32_768, false),
            ("t/c", 40_000, 32_768, false),
            ("t/.pad/25536", 25_536, 72_768, true),
        ];
        let want: Vec<(String, u64, u64, bool)> =
            want.iter().map(|(p, l, o, pad)| (p.to_string(), *l, *o, *pad)).collect();
        assert_eq!(laid, want, "every file, the last too, padded to a piece boundary");
        let v2: [u8; 32] = Sha256::digest(&m.info_bytes).into();
        assert!(!m.has_v1);
        assert_eq!(m.info_hash_v2, Some(v2));
        assert_eq!(m.info_hash.0[..], v2[..20]);
        assert!(m.piece_hashes.is_empty());
        assert_eq!((m.lengths.total_length(), m.lengths.num_pieces()), (98_304, 3));
        let (root_a, _) = merkle_of(&a, 32768);
        let (root_c, layer_c) = merkle_of(&c, 32768);
        let roots: Vec<Option<[u8; 32]>> = m.files.iter().map(|f| f.pieces_root).collect();
        assert_eq!(roots, [Some(root_a), None, None, Some(root_c), None]);
        assert_eq!(layer_c.len(), 2);
        assert_eq!(m.piece_layers, vec![vec![], vec![], vec![], layer_c, vec![]]);
        assert!(m.is_multi_file());
        // Metadata from peers: the same files, no layers.
        let bare = Metainfo::from_info_bytes(&m.info_bytes).unwrap();
        assert_eq!(bare.files, m.files);
        assert!(bare.piece_layers.iter().all(Vec::is_empty) && bare.piece_layers.len() == 5);
    }

    #[test]
    fn single_file_v2_pads_inside_its_own_path() {
        let one = data(20_000, 3);
        let m = Metainfo::from_bytes(&v2_torrent(&[("one.bin", &one)], 16384, |_| {})).unwrap();
        let paths: Vec<(String, bool)> =
            m.files.iter().map(|f| (f.path.to_string_lossy().into_owned(), f.pad)).collect();
        // As libtorrent names it; the file itself is not renamed.
        assert_eq!(paths, [("one.bin".to_string(), false), ("one.bin/.pad/12768".to_string(), true)]);
        assert_eq!(m.name, "one.bin");
        assert!(!m.is_multi_file());
        assert_eq!(m.piece_layers[0].len(), 2);
    }

    #[test]
    fn piece_layers_are_checked() {
        let big = data(70_000, 4);
        let small = data(100, 5);
        let files: [(&str, &[u8]); 2] = [("big", &big), ("small", &small)];
        let e = |edit: fn(&mut Vec<[u8; 32]>)| {
            Metainfo::from_bytes(&v2_torrent(&files, 16384, edit)).unwrap_err().to_string()
        };
        let root = hex(&merkle_of(&big, 16384).0);
        assert_eq!(
            e(|l| {
                l.pop();
            }),
            format!("piece layers: the layer of {root} has 4 hashes for 5 pieces")
        );
        assert_eq!(
            e(|l| l[1][0] ^= 1),
            format!("piece layers: the layer of {root} does not hash to that root")
        );
        // A layer keyed by a file of one piece, or by nothing in the torrent.
        let mut doc = v2_torrent(&files, 16384, |_| {});
        let (small_root, _) = merkle_of(&small, 16384);
        let at = doc.windows(32).position(|w| w == merkle_of(&big, 16384).0).unwrap();
        let layers_at = doc.windows(14).position(|w| w == b"piece layersd3").unwrap();
        let key = layers_at + 16;
        assert!(key > at);
        doc[key..key + 32].copy_from_slice(&small_root);
        let err = Metainfo::from_bytes(&doc).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("piece layers: {} is not the root of a file larger than one piece", hex(&small_root))
        );
        // A layer's length that is not a multiple of 32.
        let mut doc = v2_torrent(&files, 16384, |_| {});
        let len_at = layers_at + 16 + 32;
        assert_eq!(&doc[len_at..len_at + 4], b"160:");
        doc.splice(len_at..len_at + 4, b"159:".iter().copied());
        doc.remove(len_at + 4);
        let err = Metainfo::from_bytes(&doc).unwrap_err().to_string();
        assert_eq!(err, "piece layers: an entry is not a 32-byte root with a string of 32-byte hashes");
        // No "piece layers" at all: loaded, the hashes come from peers.
        let doc = v2_torrent(&files, 16384, |_| {});
        let cut = doc.windows(15).position(|w| w == b"12:piece layers").unwrap();
        let without = [&doc[..cut], b"e"].concat();
        let m = Metainfo::from_bytes(&without).unwrap();
        assert!(m.piece_layers.iter().all(Vec::is_empty));
        assert_eq!(Metainfo::from_bytes(&doc).unwrap().piece_layers[0].len(), 5);
    }

    #[test]
    fn v2_file_rules() {
        let e = |leaf: &str, piece: u32| {
            let body =
                format!("d9:file treed1:fd0:d{leaf}eee12:meta versioni2e4:name1:t12:piece lengthi{piece}ee");
            Metainfo::from_bytes(&info(&body)).unwrap_err().to_string()
        };
        let root = format!("11:pieces root32:{}", "r".repeat(32));
        assert_eq!(
            e(&format!("6:lengthi5e{root}"), 49152),
            "v2 piece length Some(49152) is not a power of two of at least 16 KiB"
        );
        assert_eq!(
            e(&format!("6:lengthi5e{root}"), 8192),
            "v2 piece length Some(8192) is not a power of two of at least 16 KiB"
        );
        let missing = "v2 file 0: pieces root is missing, not 32 bytes or zero";
        assert_eq!(e("6:lengthi5e", 16384), missing);
        assert_eq!(e(&format!("6:lengthi5e11:pieces root31:{}", "r".repeat(31)), 16384), missing);
        assert_eq!(e(&format!("6:lengthi5e11:pieces root32:{}", "\0".repeat(32)), 16384), missing);
        assert_eq!(e("6:lengthi-5e", 16384), "v2 file 0: length is missing, negative or not an integer");
        let too_long = format!("6:lengthi{MAX_V2_FILE_SIZE}e{root}");
        assert_eq!(
            e(&too_long, 16384),
            format!("v2 file 0: length {MAX_V2_FILE_SIZE} is not below {MAX_V2_FILE_SIZE}")
        );
        // Only empty files: no data.
        let body = "d9:file treed1:fd0:d6:lengthi0eeee12:meta versioni2e4:name1:t12:piece lengthi16384ee";
        assert_eq!(
            Metainfo::from_bytes(&info(body)).unwrap_err().to_string(),
            "the torrent has no data (total length 0)"
        );
        // A tree deeper than 100 directories (the decoder's nesting limit
        // stops it before the tree walk's own).
        let mut deep = String::new();
        for _ in 0..101 {
            deep.push_str("1:dd");
        }
        deep.push_str(&format!("1:fd0:d6:lengthi5e{root}ee"));
        deep.push_str(&"e".repeat(101));
        let body = format!("d9:file treed{deep}e12:meta versioni2e4:name1:t12:piece lengthi16384ee");
        let err = Metainfo::from_bytes(&info(&body)).unwrap_err().to_string();
        assert!(err.contains("deeper than 100"), "{err}");
    }

    #[test]
    fn v2_symlinks_and_attributes() {
        let root = format!("11:pieces root32:{}", "r".repeat(32));
        let tree = format!(
            "1:ad0:d4:attr1:x6:lengthi5e{root}ee1:ld0:d4:attr1:l12:symlink pathl1:aeee1:zd0:d4:attr2:hl6:lengthi3eee"
        );
        let body = format!("d9:file treed{tree}e12:meta versioni2e4:name1:t12:piece lengthi16384ee");
        let m = Metainfo::from_bytes(&info(&body)).unwrap();
        let a = &m.files[0];
        assert!(a.executable && !a.hidden && a.pieces_root == Some([b'r'; 32]));
        assert_eq!(m.files[1].path, PathBuf::from("t/.pad/16379"));
        let l = &m.files[2];
        assert_eq!((l.symlink.as_deref(), l.length, l.pieces_root), (Some(Path::new("t/a")), 0, None));
        // "z" says it is a link but names no target: an empty file, no root needed.
        let z = &m.files[3];
        assert!(z.hidden && z.symlink.is_none() && z.length == 0 && z.pieces_root.is_none());
    }

    #[test]
    fn non_canonical_files_load_with_the_exact_info_hash() {
        // Unsorted keys inside and outside info, and a trailing newline.
        let body = format!("d4:name1:x6:lengthi5e{}12:piece lengthi16384ee", pieces(1));
        let doc = format!("d4:info{body}7:comment2:hie\n");
        let m = Metainfo::from_bytes(doc.as_bytes()).unwrap();
        assert_eq!(m.comment.as_deref(), Some("hi"));
        assert_eq!(m.info_bytes, body.as_bytes());
        assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(body.as_bytes())));
        // Metadata from a peer: the same bytes, but nothing after them.
        assert!(Metainfo::from_info_bytes(body.as_bytes()).is_ok());
        let e = Metainfo::from_info_bytes(format!("{body}\n").as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "trailing bytes after the info dictionary");
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
