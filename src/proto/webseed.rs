//! Web seeds (BEP 19, "GetRight style"): which URL holds a file, which byte
//! ranges of which files make up a run of pieces, and whether an HTTP
//! response answers the range asked for. Pure: the engine does the I/O.
//!
//! The rules follow libtorrent's `web_peer_connection`: a single-file
//! torrent's URL is the file itself unless it ends with `/`, then the
//! escaped torrent name is appended; a multi-file torrent's URL is a
//! directory (a `/` is added when missing) under which each file lives at
//! its escaped path, the torrent's name first. Pad files are never asked
//! for: they are zeros.

use super::metainfo::FileEntry;

/// Bytes kept as they are in a path: libtorrent's `escape_path` set
/// (RFC 2396 unreserved characters, `'` excepted, and the separator).
fn keep_in_path(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"/-_!.~*()".contains(&b)
}

/// Percent-encodes every byte of `path` but the unreserved ones and `/`,
/// as libtorrent's `escape_path` does: a space is `%20`, `+` is `%2b`,
/// each byte of a multi-byte UTF-8 character is encoded.
pub fn escape_path(path: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if keep_in_path(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// The URL of one file of a torrent on the web seed `base`.
///
/// `path` is the file's path in the torrent (for a multi-file torrent it
/// starts with the torrent's name, as `FileEntry::path` does); `name` is
/// the torrent's name, used for a single-file torrent whose URL ends with
/// `/`. A single-file URL that names the file is used as it is: it is
/// taken to be encoded already (libtorrent's rule).
pub fn file_url(base: &str, multi_file: bool, name: &str, path: &std::path::Path) -> String {
    if !multi_file {
        return if base.ends_with('/') { format!("{base}{}", escape_path(name)) } else { base.to_string() };
    }
    let mut url = base.to_string();
    if !url.ends_with('/') {
        url.push('/');
    }
    let parts: Vec<String> =
        path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    url.push_str(&escape_path(&parts.join("/")));
    url
}

/// A part of a byte run of the torrent that lies in one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSlice {
    /// Index in the torrent's file list.
    pub file: usize,
    /// Offset of the slice in the file.
    pub offset: u64,
    pub len: u64,
    /// A pad file: zeros, never requested.
    pub pad: bool,
}

/// The per-file slices of the torrent's bytes `start .. start + len`, in
/// order. Empty files are skipped; bytes beyond the last file are not
/// covered (the caller asks only for bytes inside the torrent).
pub fn map_range(files: &[FileEntry], start: u64, len: u64) -> Vec<FileSlice> {
    let end = start.saturating_add(len);
    let first = files.partition_point(|f| f.offset + f.length <= start);
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate().skip(first) {
        if f.offset >= end {
            break;
        }
        let from = start.max(f.offset);
        let to = end.min(f.offset + f.length);
        if to > from {
            out.push(FileSlice { file: i, offset: from - f.offset, len: to - from, pad: f.pad });
        }
    }
    out
}

/// The value of a `Range` request header for `len` bytes at `offset`
/// (inclusive bounds, as HTTP has them). `len` must not be 0.
pub fn range_header(offset: u64, len: u64) -> String {
    format!("bytes={}-{}", offset, offset + len - 1)
}

/// Why a web seed's response cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("bad Content-Range header: {0:?}")]
    BadContentRange(String),
    #[error("206 without a Content-Range header")]
    MissingContentRange,
    #[error("the server sent bytes {got_first}-{got_last}, not the {want_first}-{want_last} asked for")]
    WrongRange { want_first: u64, want_last: u64, got_first: u64, got_last: u64 },
    #[error("the server's file is {got} bytes, the torrent says {want}")]
    WrongLength { want: u64, got: u64 },
    #[error("{len} bytes at {offset} are not inside the file of {file_len} bytes")]
    OutsideFile { offset: u64, len: u64, file_len: u64 },
}

/// A parsed `Content-Range: bytes first-last/total` (total `*`: unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub total: Option<u64>,
}

/// Longest `Content-Range` value read: two 20-digit numbers and a third,
/// with the unit and separators, fit well within it.
const MAX_CONTENT_RANGE: usize = 100;

/// Parses a `Content-Range` value of a 206 response: `bytes a-b/total` or
/// `bytes a-b/*`, with `a <= b` and `b < total`.
pub fn parse_content_range(value: &str) -> Result<ContentRange, ResponseError> {
    let bad = || ResponseError::BadContentRange(value.chars().take(MAX_CONTENT_RANGE).collect());
    if value.len() > MAX_CONTENT_RANGE {
        return Err(bad());
    }
    let rest = value.trim().strip_prefix("bytes").ok_or_else(bad)?;
    let rest = rest.trim_start();
    let (range, total) = rest.split_once('/').ok_or_else(bad)?;
    let (first, last) = range.trim().split_once('-').ok_or_else(bad)?;
    let number = |s: &str| -> Result<u64, ResponseError> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let (first, last) = (number(first)?, number(last)?);
    let total = match total.trim() {
        "*" => None,
        t => Some(number(t)?),
    };
    if first > last || total.is_some_and(|t| last >= t) {
        return Err(bad());
    }
    Ok(ContentRange { first, last, total })
}

/// How to take the asked-for bytes out of a response body: skip `skip`
/// bytes, then read exactly `take`. The body is never read further.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyPlan {
    pub skip: u64,
    pub take: u64,
}

/// Checks a response to a request for `len` bytes at `offset` of a file of
/// `file_len` bytes. A 206 must carry exactly that range (and the file's
/// length, when it says one); a 200 is the
/// whole file (a server that ignores `Range`), from which the range is cut
/// when its length is the file's. Any other status is an error (redirects
/// are followed before this).
pub fn check_response(
    status: u16,
    content_range: Option<&str>,
    content_length: Option<u64>,
    offset: u64,
    len: u64,
    file_len: u64,
) -> Result<BodyPlan, ResponseError> {
    let last = offset.saturating_add(len.max(1) - 1);
    match status {
        206 => {
            let cr = parse_content_range(content_range.ok_or(ResponseError::MissingContentRange)?)?;
            if cr.first != offset || cr.last != last || content_length.is_some_and(|n| n != len) {
                return Err(ResponseError::WrongRange {
                    want_first: offset,
                    want_last: last,
                    got_first: cr.first,
                    got_last: cr.last,
                });
            }
            match cr.total {
                Some(total) if total != file_len => {
                    Err(ResponseError::WrongLength { want: file_len, got: total })
                }
                _ => Ok(BodyPlan { skip: 0, take: len }),
            }
        }
        200 => match content_length {
            Some(n) if n != file_len => Err(ResponseError::WrongLength { want: file_len, got: n }),
            _ if offset.saturating_add(len) > file_len => {
                Err(ResponseError::OutsideFile { offset, len, file_len })
            }
            _ => Ok(BodyPlan { skip: offset, take: len }),
        },
        s => Err(ResponseError::Status(s)),
    }
}

/// The seconds of a `Retry-After` header given as a number (the HTTP-date
/// form is not read: the caller's default wait applies).
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn file(path: &str, offset: u64, length: u64, pad: bool) -> FileEntry {
        FileEntry { path: PathBuf::from(path), length, offset, pad, ..Default::default() }
    }

    #[test]
    fn escapes_as_libtorrent() {
        assert_eq!(escape_path("a b+c/d~e(1).txt"), "a%20b%2bc/d~e(1).txt");
        assert_eq!(escape_path("é"), "%c3%a9");
        assert_eq!(escape_path("100%;?'"), "100%25%3b%3f%27");
    }

    #[test]
    fn single_file_urls() {
        let p = Path::new("my file.bin");
        assert_eq!(file_url("http://h/x/my%20file.bin", false, "my file.bin", p), "http://h/x/my%20file.bin");
        assert_eq!(file_url("http://h/x/", false, "my file.bin", p), "http://h/x/my%20file.bin");
    }

    #[test]
    fn multi_file_urls() {
        let p = Path::new("t/sub dir/a+b.txt");
        assert_eq!(file_url("http://h/seed", true, "t", p), "http://h/seed/t/sub%20dir/a%2bb.txt");
        assert_eq!(file_url("http://h/seed/", true, "t", p), "http://h/seed/t/sub%20dir/a%2bb.txt");
    }

    #[test]
    fn maps_runs_to_files() {
        let files = vec![
            file("t/a", 0, 10, false),
            file("t/empty", 10, 0, false),
            file("t/.pad/6", 10, 6, true),
            file("t/b", 16, 20, false),
        ];
        assert_eq!(
            map_range(&files, 4, 20),
            vec![
                FileSlice { file: 0, offset: 4, len: 6, pad: false },
                FileSlice { file: 2, offset: 0, len: 6, pad: true },
                FileSlice { file: 3, offset: 0, len: 8, pad: false },
            ]
        );
        assert_eq!(map_range(&files, 20, 16), vec![FileSlice { file: 3, offset: 4, len: 16, pad: false }]);
        assert_eq!(map_range(&files, 36, 10), vec![]);
        assert_eq!(range_header(4, 6), "bytes=4-9");
    }

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 0-9/100"),
            Ok(ContentRange { first: 0, last: 9, total: Some(100) })
        );
        assert_eq!(parse_content_range("bytes 5-5/*"), Ok(ContentRange { first: 5, last: 5, total: None }));
        for bad in
            ["bytes 9-0/100", "bytes 0-100/100", "items 0-1/2", "bytes -1/2", "bytes 0-1", "bytes +1-2/3"]
        {
            assert!(parse_content_range(bad).is_err(), "{bad}");
        }
        assert!(parse_content_range("bytes 0-99999999999999999999999/*").is_err());
    }

    #[test]
    fn responses_are_checked_against_the_request() {
        assert_eq!(
            check_response(206, Some("bytes 10-19/100"), Some(10), 10, 10, 100),
            Ok(BodyPlan { skip: 0, take: 10 })
        );
        assert!(matches!(
            check_response(206, Some("bytes 0-9/100"), None, 10, 10, 100),
            Err(ResponseError::WrongRange { got_first: 0, .. })
        ));
        assert_eq!(check_response(206, None, None, 0, 1, 1), Err(ResponseError::MissingContentRange));
        assert_eq!(
            check_response(206, Some("bytes 10-19/99"), None, 10, 10, 100),
            Err(ResponseError::WrongLength { want: 100, got: 99 })
        );
        assert_eq!(check_response(200, None, Some(100), 10, 10, 100), Ok(BodyPlan { skip: 10, take: 10 }));
        assert_eq!(
            check_response(200, None, Some(50), 10, 10, 100),
            Err(ResponseError::WrongLength { want: 100, got: 50 })
        );
        assert_eq!(
            check_response(200, None, None, 95, 10, 100),
            Err(ResponseError::OutsideFile { offset: 95, len: 10, file_len: 100 })
        );
        assert_eq!(check_response(503, None, None, 0, 1, 1), Err(ResponseError::Status(503)));
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(" 120 "), Some(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
