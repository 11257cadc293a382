//! Creating .torrent files from files on disk (blocking I/O; run it off
//! the network threads).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::proto::bencode::Value;

/// What to put in a new torrent.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Piece length in bytes; `None` picks one from the total size.
    pub piece_length: Option<u32>,
    /// Tracker tiers.
    pub trackers: Vec<Vec<String>>,
    pub web_seeds: Vec<String>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
    pub private: bool,
}

/// Why a torrent could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CreateError + '_ {
    move |source| CreateError::Io { path: path.to_path_buf(), source }
}

/// A power of two from 16 KiB to 16 MiB giving about 1000–2000 pieces
/// (at least 256 KiB above 256 MiB).
pub fn auto_piece_length(total: u64) -> u32 {
    let mut len: u64 = 16 * 1024;
    while len < 16 << 20 && total / len > 2000 {
        len *= 2;
    }
    if total > 256 << 20 {
        len = len.max(256 * 1024);
    }
    len as u32
}

fn walk(dir: &Path, rel: &Path, out: &mut Vec<(PathBuf, u64)>) -> Result<(), CreateError> {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).map_err(io(dir))?.collect::<Result<_, _>>().map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ft = e.file_type().map_err(io(&e.path()))?;
        let r = rel.join(e.file_name());
        if ft.is_dir() {
            walk(&e.path(), &r, out)?;
        } else if ft.is_file() {
            let len = e.metadata().map_err(io(&e.path()))?.len();
            out.push((r, len));
        }
    }
    Ok(())
}

/// Makes a torrent of `path` (a file, or a directory with everything in
/// it), hashing its pieces; `progress(done, total)` is called per piece.
/// Answers the bencoded .torrent bytes.
pub fn create_torrent(
    path: &Path,
    opts: &CreateOptions,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<Vec<u8>, CreateError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CreateError::Invalid(format!("{}: no usable name", path.display())))?
        .to_string();
    let mut files = Vec::new();
    if meta.is_dir() {
        walk(path, Path::new(""), &mut files)?;
    } else {
        files.push((PathBuf::new(), meta.len()));
    }
    let total: u64 = files.iter().map(|f| f.1).sum();
    if total == 0 {
        return Err(CreateError::Invalid(format!("{}: nothing to share (no data)", path.display())));
    }
    let piece_length = opts.piece_length.unwrap_or_else(|| auto_piece_length(total));
    if piece_length < 16 * 1024 || !piece_length.is_power_of_two() {
        return Err(CreateError::Invalid(format!(
            "piece length {piece_length} must be a power of two ≥ 16 KiB"
        )));
    }
    let num_pieces = total.div_ceil(piece_length as u64) as u32;
    let mut pieces = Vec::with_capacity(num_pieces as usize * 20);
    let mut hasher = Sha1::new();
    let mut in_piece = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    for (rel, _) in &files {
        let full = if meta.is_dir() { path.join(rel) } else { path.to_path_buf() };
        let mut f = std::fs::File::open(&full).map_err(io(&full))?;
        loop {
            let n = f.read(&mut buf).map_err(io(&full))?;
            if n == 0 {
                break;
            }
            let mut chunk = &buf[..n];
            while !chunk.is_empty() {
                let take = ((piece_length as u64 - in_piece) as usize).min(chunk.len());
                hasher.update(&chunk[..take]);
                in_piece += take as u64;
                chunk = &chunk[take..];
                if in_piece == piece_length as u64 {
                    pieces.extend_from_slice(&hasher.finalize_reset());
                    in_piece = 0;
                    progress((pieces.len() / 20) as u32, num_pieces);
                }
            }
        }
    }
    if in_piece > 0 {
        pieces.extend_from_slice(&hasher.finalize_reset());
        progress((pieces.len() / 20) as u32, num_pieces);
    }
    if pieces.len() / 20 != num_pieces as usize {
        return Err(CreateError::Invalid(format!("{}: files changed while hashing", path.display())));
    }

    let path_strings: Vec<Vec<String>> = files
        .iter()
        .map(|(rel, _)| rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect())
        .collect();
    let mut info = vec![
        ("name", Value::Bytes(name.as_bytes())),
        ("piece length", Value::Int(piece_length as i64)),
        ("pieces", Value::Bytes(&pieces)),
    ];
    if meta.is_dir() {
        let list = files
            .iter()
            .zip(&path_strings)
            .map(|((_, len), parts)| {
                crate::proto::bencode::dict([
                    ("length", Value::Int(*len as i64)),
                    ("path", Value::List(parts.iter().map(|p| Value::Bytes(p.as_bytes())).collect())),
                ])
            })
            .collect();
        info.push(("files", Value::List(list)));
    } else {
        info.push(("length", Value::Int(total as i64)));
    }
    if opts.private {
        info.push(("private", Value::Int(1)));
    }
    let mut root = vec![("info", crate::proto::bencode::dict(info))];
    let tiers: Vec<Vec<String>> = opts.trackers.iter().filter(|t| !t.is_empty()).cloned().collect();
    if let Some(first) = tiers.first().and_then(|t| t.first()) {
        root.push(("announce", Value::Bytes(first.as_bytes())));
    }
    if tiers.len() > 1 || tiers.first().is_some_and(|t| t.len() > 1) {
        root.push((
            "announce-list",
            Value::List(
                tiers
                    .iter()
                    .map(|t| Value::List(t.iter().map(|u| Value::Bytes(u.as_bytes())).collect()))
                    .collect(),
            ),
        ));
    }
    if let Some(c) = &opts.comment {
        root.push(("comment", Value::Bytes(c.as_bytes())));
    }
    if let Some(c) = &opts.created_by {
        root.push(("created by", Value::Bytes(c.as_bytes())));
    }
    if let Some(d) = opts.creation_date {
        root.push(("creation date", Value::Int(d)));
    }
    if !opts.web_seeds.is_empty() {
        root.push((
            "url-list",
            Value::List(opts.web_seeds.iter().map(|u| Value::Bytes(u.as_bytes())).collect()),
        ));
    }
    Ok(crate::proto::bencode::dict(root).encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::metainfo::Metainfo;

    #[test]
    fn directory_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pack");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        let a: Vec<u8> = (0..100_003u32).map(|i| (i * 31 % 256) as u8).collect();
        let b: Vec<u8> = (0..50_001u32).map(|i| (i * 17 % 256) as u8).collect();
        std::fs::write(root.join("a.bin"), &a).unwrap();
        std::fs::write(root.join("empty"), b"").unwrap();
        std::fs::write(root.join("sub/b.bin"), &b).unwrap();
        let opts = CreateOptions {
            piece_length: Some(32768),
            trackers: vec![vec!["http://t/announce".into()], vec!["udp://u:1".into()]],
            private: true,
            ..Default::default()
        };
        let mut calls = 0;
        let bytes = create_torrent(&root, &opts, &mut |_, _| calls += 1).unwrap();
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(m.name, "pack");
        assert!(m.private);
        assert_eq!(m.trackers, opts.trackers);
        assert_eq!(calls, m.lengths.num_pieces());
        let paths: Vec<_> = m.files.iter().map(|f| (f.path.clone(), f.length, f.offset)).collect();
        assert_eq!(
            paths,
            vec![
                (PathBuf::from("pack/a.bin"), 100_003, 0),
                (PathBuf::from("pack/empty"), 0, 100_003),
                (PathBuf::from("pack/sub/b.bin"), 50_001, 100_003)
            ]
        );
        let all = [a, b].concat();
        for (i, chunk) in all.chunks(32768).enumerate() {
            assert_eq!(m.piece_hashes[i], <[u8; 20]>::from(Sha1::digest(chunk)));
        }
    }

    #[test]
    fn single_file_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("one.iso");
        std::fs::write(&f, vec![7u8; 70_000]).unwrap();
        let m = Metainfo::from_bytes(&create_torrent(&f, &CreateOptions::default(), &mut |_, _| {}).unwrap())
            .unwrap();
        assert_eq!(m.name, "one.iso");
        assert_eq!(m.lengths.total_length(), 70_000);
        assert!(!m.is_multi_file());
        std::fs::create_dir(dir.path().join("void")).unwrap();
        assert!(create_torrent(&dir.path().join("void"), &CreateOptions::default(), &mut |_, _| {}).is_err());
        assert!(
            create_torrent(&dir.path().join("missing"), &CreateOptions::default(), &mut |_, _| {}).is_err()
        );
        assert_eq!(auto_piece_length(1 << 30), 1 << 20);
        assert_eq!(auto_piece_length(1000), 16 * 1024);
    }
}
