//! The extensions lt speaks over the extension protocol (BEP 10), the ids
//! it asks peers to use for them, and the `ut_metadata` messages (BEP 9).
//!
//! Each side of a connection picks the ids it wants to *receive* an
//! extension's messages with and lists them in its handshake's `m`; a
//! sender uses the receiver's ids. The registry below is the one table of
//! what lt offers: the handshake, the dispatch of incoming extended
//! messages and the peer's ids all read it.

use std::collections::BTreeMap;

use super::bencode::{self, Value};

/// An extension lt speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extension {
    /// Peer exchange (BEP 11).
    Pex,
    /// Metadata exchange (BEP 9).
    Metadata,
}

impl Extension {
    /// Every extension, in the order of `PeerExtensions`' slots.
    pub const ALL: [Extension; 2] = [Extension::Pex, Extension::Metadata];

    /// The name in a handshake's `m` dictionary.
    pub fn name(self) -> &'static str {
        match self {
            Extension::Pex => "ut_pex",
            Extension::Metadata => "ut_metadata",
        }
    }

    /// The id lt receives this extension's messages with. libtorrent's
    /// choices, so packet captures of the two read alike.
    pub fn local_id(self) -> u8 {
        match self {
            Extension::Pex => 1,
            Extension::Metadata => 2,
        }
    }

    /// The extension an incoming extended message with id `id` belongs to.
    pub fn from_local_id(id: u8) -> Option<Extension> {
        Extension::ALL.into_iter().find(|e| e.local_id() == id)
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// The `m` dictionary lt sends: `offered` extensions with their local ids.
pub fn local_ids(offered: impl IntoIterator<Item = Extension>) -> BTreeMap<String, u8> {
    offered.into_iter().map(|e| (e.name().to_string(), e.local_id())).collect()
}

/// The ids a peer asked us to use, from its extension handshakes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerExtensions {
    ids: [u8; Extension::ALL.len()],
}

impl PeerExtensions {
    /// Applies a handshake's `m`. BEP 10 lets a later handshake change an
    /// id or disable an extension with id 0; extensions it does not name
    /// keep their id.
    pub fn update(&mut self, m: &BTreeMap<String, u8>) {
        for e in Extension::ALL {
            if let Some(id) = m.get(e.name()) {
                self.ids[e.slot()] = *id;
            }
        }
    }

    /// The id to send `e`'s messages with, if the peer supports it.
    pub fn id(&self, e: Extension) -> Option<u8> {
        Some(self.ids[e.slot()]).filter(|id| *id != 0)
    }
}

/// Bytes of metadata in one `ut_metadata` piece.
pub const METADATA_PIECE_SIZE: u32 = 16 * 1024;

/// The largest `ut_metadata` message accepted: one piece and its
/// dictionary. libtorrent disconnects a peer that sends more (17 KiB).
pub const MAX_METADATA_MESSAGE: usize = 17 * 1024;

/// Pieces of metadata of `size` bytes.
pub fn metadata_pieces(size: u32) -> u32 {
    size.div_ceil(METADATA_PIECE_SIZE)
}

/// Bytes in metadata piece `piece` of metadata of `size` bytes (0 when the
/// piece does not exist).
pub fn metadata_piece_len(size: u32, piece: u32) -> u32 {
    let start = piece.saturating_mul(METADATA_PIECE_SIZE);
    size.saturating_sub(start).min(METADATA_PIECE_SIZE)
}

/// A `ut_metadata` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataMessage<'a> {
    /// `msg_type` 0: send me piece `piece`.
    Request { piece: u32 },
    /// `msg_type` 1: piece `piece` of metadata of `total_size` bytes.
    Data { piece: u32, total_size: u32, data: &'a [u8] },
    /// `msg_type` 2: the sender will not send piece `piece`.
    Reject { piece: u32 },
}

/// Why a `ut_metadata` message is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("ut_metadata message of {0} bytes, more than {MAX_METADATA_MESSAGE}")]
    TooLarge(usize),
    #[error("ut_metadata message is not a bencoded dictionary: {0}")]
    NotADict(String),
    #[error("ut_metadata message without an integer '{0}'")]
    Missing(&'static str),
    #[error("ut_metadata message with '{0}' out of range")]
    OutOfRange(&'static str),
    #[error("ut_metadata message of unknown msg_type {0}")]
    UnknownType(i64),
    #[error("ut_metadata data message without its piece (total_size {0})")]
    NoData(u32),
}

const LIMITS: bencode::Limits = bencode::Limits { max_depth: 4, max_items: 64 };

impl<'a> MetadataMessage<'a> {
    /// Parses the payload of a `ut_metadata` extended message: a bencoded
    /// dictionary, followed for a data message by the piece's bytes.
    pub fn decode(payload: &'a [u8]) -> Result<MetadataMessage<'a>, MetadataError> {
        if payload.len() > MAX_METADATA_MESSAGE {
            return Err(MetadataError::TooLarge(payload.len()));
        }
        let (dict, used) =
            bencode::decode_prefix(payload, LIMITS).map_err(|e| MetadataError::NotADict(e.to_string()))?;
        if dict.as_dict().is_none() {
            return Err(MetadataError::NotADict("another type".into()));
        }
        let int =
            |key: &'static str| dict.get(key).and_then(Value::as_int).ok_or(MetadataError::Missing(key));
        let u32_of = |key: &'static str| {
            int(key).and_then(|v| u32::try_from(v).map_err(|_| MetadataError::OutOfRange(key)))
        };
        let msg_type = int("msg_type")?;
        let piece = u32_of("piece")?;
        match msg_type {
            0 => Ok(MetadataMessage::Request { piece }),
            1 => {
                let total_size = u32_of("total_size")?;
                let data = &payload[used..];
                if data.is_empty() {
                    return Err(MetadataError::NoData(total_size));
                }
                Ok(MetadataMessage::Data { piece, total_size, data })
            }
            2 => Ok(MetadataMessage::Reject { piece }),
            other => Err(MetadataError::UnknownType(other)),
        }
    }

    /// The payload to send after the extended message id.
    pub fn encode(&self) -> Vec<u8> {
        let (msg_type, piece) = match self {
            MetadataMessage::Request { piece } => (0, *piece),
            MetadataMessage::Data { piece, .. } => (1, *piece),
            MetadataMessage::Reject { piece } => (2, *piece),
        };
        let mut pairs = vec![("msg_type", Value::Int(msg_type)), ("piece", Value::Int(i64::from(piece)))];
        if let MetadataMessage::Data { total_size, .. } = self {
            pairs.push(("total_size", Value::Int(i64::from(*total_size))));
        }
        let mut out = bencode::dict(pairs).encode();
        if let MetadataMessage::Data { data, .. } = self {
            out.extend_from_slice(data);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ids_are_distinct_and_found() {
        for e in Extension::ALL {
            assert_eq!(Extension::from_local_id(e.local_id()), Some(e));
        }
        assert_eq!(Extension::from_local_id(0), None);
        let m = local_ids(Extension::ALL);
        assert_eq!(m.get("ut_metadata"), Some(&2));
        assert_eq!(m.get("ut_pex"), Some(&1));
    }

    #[test]
    fn peer_ids_follow_later_handshakes() {
        let mut p = PeerExtensions::default();
        assert_eq!(p.id(Extension::Metadata), None);
        p.update(&BTreeMap::from([("ut_metadata".to_string(), 3), ("lt_donthave".to_string(), 7)]));
        assert_eq!(p.id(Extension::Metadata), Some(3));
        assert_eq!(p.id(Extension::Pex), None);
        p.update(&BTreeMap::from([("ut_pex".to_string(), 1)]));
        assert_eq!(p.id(Extension::Metadata), Some(3), "an extension not named keeps its id");
        p.update(&BTreeMap::from([("ut_metadata".to_string(), 0)]));
        assert_eq!(p.id(Extension::Metadata), None, "id 0 disables");
    }

    #[test]
    fn messages_round_trip() {
        let data = vec![7u8; 100];
        for m in [
            MetadataMessage::Request { piece: 3 },
            MetadataMessage::Reject { piece: 0 },
            MetadataMessage::Data { piece: 1, total_size: 16484, data: &data },
        ] {
            let bytes = m.encode();
            assert_eq!(MetadataMessage::decode(&bytes).unwrap(), m);
        }
        assert_eq!(
            MetadataMessage::Request { piece: 1 }.encode(),
            b"d8:msg_typei0e5:piecei1ee".to_vec(),
            "BEP 9's example"
        );
    }

    #[test]
    fn refuses_malformed_messages() {
        use MetadataError as E;
        for (payload, want) in [
            (&b"le"[..], E::NotADict("another type".into())),
            (b"d5:piecei0ee", E::Missing("msg_type")),
            (b"d8:msg_typei0ee", E::Missing("piece")),
            (b"d8:msg_typei0e5:piecei-1ee", E::OutOfRange("piece")),
            (b"d8:msg_typei0e5:piecei4294967296ee", E::OutOfRange("piece")),
            (b"d8:msg_typei1e5:piecei0ee", E::Missing("total_size")),
            (b"d8:msg_typei1e5:piecei0e10:total_sizei-5ee", E::OutOfRange("total_size")),
            (b"d8:msg_typei1e5:piecei0e10:total_sizei5ee", E::NoData(5)),
            (b"d8:msg_typei9e5:piecei0ee", E::UnknownType(9)),
            (b"d8:msg_type1:a5:piecei0ee", E::Missing("msg_type")),
        ] {
            assert_eq!(MetadataMessage::decode(payload), Err(want), "{}", String::from_utf8_lossy(payload));
        }
        assert!(matches!(MetadataMessage::decode(b"d8:msg_type"), Err(E::NotADict(_))));
        let big = vec![b'x'; MAX_METADATA_MESSAGE + 1];
        assert_eq!(MetadataMessage::decode(&big), Err(E::TooLarge(MAX_METADATA_MESSAGE + 1)));
    }

    #[test]
    fn piece_arithmetic() {
        assert_eq!(metadata_pieces(1), 1);
        assert_eq!(metadata_pieces(16384), 1);
        assert_eq!(metadata_pieces(16385), 2);
        assert_eq!(metadata_piece_len(16385, 0), 16384);
        assert_eq!(metadata_piece_len(16385, 1), 1);
        assert_eq!(metadata_piece_len(16385, 2), 0);
        assert_eq!(metadata_piece_len(100, u32::MAX), 0);
    }
}
