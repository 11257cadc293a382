//! What a torrent argument names: a .torrent file, a magnet link, or an
//! http(s) URL of a .torrent file. Each is read with a size bound and
//! parsed by the engine's validating parsers.

use std::io::Read;
use std::sync::Arc;

use lt::engine::TorrentSource;
use lt::proto::magnet::Magnet;
use lt::proto::metainfo::{Metainfo, MAX_TORRENT_SIZE};
use lt::proto::types::InfoHash;

/// A parsed torrent argument.
pub enum Source {
    Torrent(Arc<Metainfo>),
    Magnet(Magnet),
}

impl Source {
    /// Reads and parses `arg`.
    pub fn load(arg: &str) -> Result<Source, String> {
        if arg.starts_with("magnet:") {
            return Magnet::parse(arg).map(Source::Magnet).map_err(|e| format!("{}: {e}", shorten(arg)));
        }
        let bytes = if arg.starts_with("http://") || arg.starts_with("https://") {
            let reply = crate::fetch::get(arg, None, MAX_TORRENT_SIZE)?;
            if reply.status != 200 {
                return Err(format!("{arg}: HTTP status {}", reply.status));
            }
            reply.body
        } else {
            read_bounded(arg)?
        };
        Metainfo::from_bytes(&bytes).map(|m| Source::Torrent(Arc::new(m))).map_err(|e| format!("{arg}: {e}"))
    }

    /// The swarm's 20-byte id (names the resume file).
    pub fn info_hash(&self) -> InfoHash {
        match self {
            Source::Torrent(m) => m.info_hash,
            Source::Magnet(m) => m.info_hash,
        }
    }

    /// The name to show before the metadata is known.
    pub fn label(&self) -> String {
        match self {
            Source::Torrent(m) => m.name.clone(),
            Source::Magnet(m) => m.name.clone().unwrap_or_else(|| m.info_hash.to_hex()),
        }
    }

    pub fn torrent_source(&self) -> TorrentSource {
        match self {
            Source::Torrent(m) => TorrentSource::Metainfo(m.clone()),
            Source::Magnet(m) => TorrentSource::Magnet(m.clone()),
        }
    }
}

/// Reads a file of at most `MAX_TORRENT_SIZE` bytes (what the parser
/// accepts), without reading more of a larger one.
fn read_bounded(path: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_TORRENT_SIZE as u64 + 1).read_to_end(&mut bytes).map_err(|e| format!("{path}: {e}"))?;
    if bytes.len() > MAX_TORRENT_SIZE {
        return Err(format!("{path}: larger than {MAX_TORRENT_SIZE} bytes, not a torrent file"));
    }
    Ok(bytes)
}

/// A long magnet link cut for an error message.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}
