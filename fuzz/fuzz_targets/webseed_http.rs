//! Web seed replies (BEP 19): the `Content-Range` header and the check of
//! a reply against the range asked for come from any server a torrent or
//! magnet link names; the file URLs are built from names in the torrent.
//!
//! Input: the first byte picks the part. 0 mod 4: the rest is a
//! Content-Range value. 1 mod 4: a status (2 bytes), the request's offset,
//! length and file length (8 bytes each, big-endian), whether a
//! Content-Length comes (1 byte) and its value (8 bytes), then the
//! Content-Range value. 2 mod 4: the rest is a path to escape. 3 mod 4:
//! file lengths (2 bytes each) and a run to map, in the last 4 bytes.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use lt::proto::metainfo::FileEntry;
use lt::proto::webseed::{check_response, escape_path, map_range, parse_content_range};

fn content_range(value: &str) {
    let Ok(cr) = parse_content_range(value) else { return };
    assert!(cr.first <= cr.last, "{value:?}");
    if let Some(total) = cr.total {
        assert!(cr.last < total, "{value:?}");
    }
}

fn take_u64(data: &mut &[u8]) -> Option<u64> {
    let (head, rest) = data.split_first_chunk::<8>()?;
    *data = rest;
    Some(u64::from_be_bytes(*head))
}

fn response(mut data: &[u8]) {
    let Some((status, rest)) = data.split_first_chunk::<2>() else { return };
    data = rest;
    let status = u16::from_be_bytes(*status);
    let (Some(offset), Some(len), Some(file_len)) = (take_u64(&mut data), take_u64(&mut data), take_u64(&mut data))
    else {
        return;
    };
    let Some((&has_length, rest)) = data.split_first() else { return };
    data = rest;
    let Some(length) = take_u64(&mut data) else { return };
    let content_length = (has_length & 1 == 1).then_some(length);
    let content_range = std::str::from_utf8(data).ok();
    let Ok(plan) = check_response(status, content_range, content_length, offset, len, file_len) else { return };
    // Whatever the server says, exactly the asked-for bytes are read.
    assert_eq!(plan.take, len);
    match status {
        206 => assert_eq!(plan.skip, 0),
        200 => assert_eq!(plan.skip, offset),
        s => panic!("status {s} accepted"),
    }
}

fn escape(path: &str) {
    let escaped = escape_path(path);
    assert!(escaped.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_!.~*()%".contains(&b)), "{escaped}");
    // Decoding gives the path back.
    let mut out = Vec::new();
    let mut bytes = escaped.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex: String = bytes.by_ref().take(2).map(char::from).collect();
            out.push(u8::from_str_radix(&hex, 16).expect("two hex digits after %"));
        } else {
            out.push(b);
        }
    }
    assert_eq!(out, path.as_bytes());
}

fn mapping(data: &[u8]) {
    let Some((files, run)) = data.split_last_chunk::<4>() else { return };
    let mut entries = Vec::new();
    let mut offset = 0;
    for (i, l) in files.chunks_exact(2).enumerate() {
        let length = u64::from(u16::from_be_bytes([l[0], l[1]]));
        entries.push(FileEntry { path: PathBuf::from(i.to_string()), length, offset, pad: i % 3 == 2, ..Default::default() });
        offset += length;
    }
    let start = u64::from(u16::from_be_bytes([run[0], run[1]]));
    let len = u64::from(u16::from_be_bytes([run[2], run[3]]));
    let slices = map_range(&entries, start, len);
    // The slices cover the run's bytes inside the torrent, in order, each
    // inside its file.
    let covered = len.min(offset.saturating_sub(start));
    assert_eq!(slices.iter().map(|s| s.len).sum::<u64>(), covered);
    let mut at = start;
    for s in &slices {
        let f = &entries[s.file];
        assert!(s.len > 0 && s.offset + s.len <= f.length);
        assert_eq!(f.offset + s.offset, at);
        assert_eq!(s.pad, f.pad);
        at += s.len;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        0 => {
            if let Ok(value) = std::str::from_utf8(rest) {
                content_range(value);
            }
        }
        1 => response(rest),
        2 => {
            if let Ok(path) = std::str::from_utf8(rest) {
                escape(path);
            }
        }
        _ => mapping(rest),
    }
});
