//! The peer wire protocol (BEP 3), with the fast extension's messages
//! (BEP 6) and the extension protocol's handshake (BEP 10).
//!
//! Decoding works on a `BytesMut` read buffer: a whole message is split off
//! the front without copying, so piece data, bitfields and extension
//! payloads move on as `Bytes` sharing the read buffer's allocation.
//!
//! Every length is checked before anything is read: a length prefix over the
//! limit, an unknown message id, or a fixed-size message whose payload is not
//! exactly its size is an error, and the caller disconnects the peer. What a
//! message *means* (piece indices in range, a bitfield of the right size for
//! the torrent, requests within a piece) is for the caller to validate.
//!
//! Nothing here indexes into peer-supplied bytes: fixed fields are read as
//! arrays after the length check, so a hostile peer can cause an error value
//! but never a panic.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::bencode::{self, Value};
use super::types::{InfoHash, PeerId};

/// Largest length prefix accepted by default (1 MiB; libtorrent disconnects
/// with `packet_too_large` above this too). The largest legitimate message
/// is a bitfield of a torrent with ~8 million pieces or a 16 KiB piece.
pub const MAX_MESSAGE_LEN: u32 = 1 << 20;

/// The protocol string of the handshake, after its length byte (19).
const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Most entries of an extension handshake's `m` dictionary we keep.
pub const MAX_EXTENSIONS: usize = 64;

/// Limits for decoding an extension handshake: it is a flat dictionary with
/// one nested dictionary (`m`), so anything deep or huge is hostile.
const EXT_LIMITS: bencode::Limits = bencode::Limits { max_depth: 8, max_items: 1024 };

/// A malformed handshake or message from a peer. Any of these ends the
/// connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The handshake buffer is not 68 bytes long.
    #[error("handshake has {0} bytes, expected 68")]
    HandshakeLength(usize),
    /// The handshake does not start with `\x13BitTorrent protocol`.
    #[error("handshake is not for the BitTorrent protocol")]
    HandshakeProtocol,
    /// The length prefix is larger than the limit (this also covers
    /// "negative" prefixes such as `0xffffffff`).
    #[error("message too large ({0} bytes)")]
    TooLarge(u32),
    /// A message id this codec does not know.
    #[error("unknown message id {0}")]
    UnknownId(u8),
    /// A fixed-size message whose payload has the wrong size.
    #[error("{name} message has {got} bytes of payload, expected {want}")]
    PayloadSize {
        /// The message's name, e.g. `"have"`.
        name: &'static str,
        /// Payload bytes received (after the id byte).
        got: usize,
        /// Payload bytes the message has.
        want: usize,
    },
    /// A variable-size message too short for its fixed header.
    #[error("{name} message has {got} bytes of payload, expected at least {min}")]
    TooShort {
        /// The message's name, e.g. `"piece"`.
        name: &'static str,
        /// Payload bytes received (after the id byte).
        got: usize,
        /// The smallest valid payload.
        min: usize,
    },
    /// A `hashes` message whose hashes (this many bytes) are not whole
    /// 32-byte hashes or more than [`MAX_HASHES_IN_MESSAGE`].
    #[error("hashes message with {0} bytes of hashes")]
    BadHashes(usize),
    /// The BEP 10 handshake payload is not a bencoded dictionary.
    #[error("invalid extension handshake: {0}")]
    ExtHandshake(String),
}

/// Takes the first `N` bytes off the front of `s`.
fn take<const N: usize>(s: &mut &[u8]) -> Option<[u8; N]> {
    let (head, tail) = s.split_first_chunk::<N>()?;
    *s = tail;
    Some(*head)
}

/// The 68-byte handshake that opens every connection (BEP 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The eight reserved bytes, which carry extension bits.
    pub reserved: [u8; 8],
    /// The torrent the connection is for.
    pub info_hash: InfoHash,
    /// The sender's peer id.
    pub peer_id: PeerId,
}

impl Handshake {
    /// The encoded size: 1 + 19 + 8 + 20 + 20.
    pub const LEN: usize = 68;

    /// Our handshake, with the extension protocol bit (BEP 10:
    /// `reserved[5] & 0x10`) and the fast extension bit (BEP 6:
    /// `reserved[7] & 0x04`) set.
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Handshake {
        let mut reserved = [0u8; 8];
        reserved[5] |= 0x10;
        reserved[7] |= 0x04;
        Handshake { reserved, info_hash, peer_id }
    }

    /// The 68 bytes to send.
    pub fn encode(&self) -> [u8; 68] {
        let mut out = [0u8; 68];
        let mut w = &mut out[..];
        w.put_u8(19);
        w.put_slice(PROTOCOL);
        w.put_slice(&self.reserved);
        w.put_slice(&self.info_hash.0);
        w.put_slice(&self.peer_id.0);
        out
    }

    /// Parses a received handshake. `buf` must be exactly 68 bytes, starting
    /// with the length byte 19 and `"BitTorrent protocol"`.
    pub fn decode(buf: &[u8]) -> Result<Handshake, WireError> {
        if buf.len() != Self::LEN {
            return Err(WireError::HandshakeLength(buf.len()));
        }
        let mut s = buf;
        let (Some([pstrlen]), Some(pstr), Some(reserved), Some(info_hash), Some(peer_id)) = (
            take::<1>(&mut s),
            take::<19>(&mut s),
            take::<8>(&mut s),
            take::<20>(&mut s),
            take::<20>(&mut s),
        ) else {
            return Err(WireError::HandshakeLength(buf.len()));
        };
        if pstrlen != 19 || &pstr != PROTOCOL {
            return Err(WireError::HandshakeProtocol);
        }
        Ok(Handshake { reserved, info_hash: InfoHash(info_hash), peer_id: PeerId(peer_id) })
    }

    /// Whether the sender speaks the extension protocol (BEP 10).
    pub fn supports_extensions(&self) -> bool {
        self.reserved[5] & 0x10 != 0
    }

    /// Whether the sender speaks the fast extension (BEP 6).
    /// Sets the DHT bit (BEP 5: `reserved[7] & 0x01`): we answer a PORT
    /// message with our DHT's port.
    pub fn with_dht(mut self) -> Handshake {
        self.reserved[7] |= 0x01;
        self
    }

    /// Whether the peer runs a DHT node (BEP 5), and so may send PORT.
    pub fn supports_dht(&self) -> bool {
        self.reserved[7] & 0x01 != 0
    }

    pub fn supports_fast(&self) -> bool {
        self.reserved[7] & 0x04 != 0
    }

    /// Sets the v2 bit (BEP 52: `reserved[7] & 0x10`): we speak the hash
    /// messages and can serve this torrent's v2 hashes.
    pub fn with_v2(mut self) -> Handshake {
        self.reserved[7] |= 0x10;
        self
    }

    /// Whether the sender speaks BitTorrent v2 (BEP 52).
    pub fn supports_v2(&self) -> bool {
        self.reserved[7] & 0x10 != 0
    }
}

/// Most hashes one `hashes` message may carry: a full base run plus the
/// uncles of a tree as tall as a 32-bit count of leaves allows.
pub const MAX_HASHES_IN_MESSAGE: usize = crate::proto::merkle::MAX_HASHES_PER_REQUEST as usize + 32;

/// The payload of BEP 52 `hash request`, and the header of `hashes` and
/// `hash reject`: `length` nodes of layer `base` (0: the block leaves) of
/// the file tree with this root, from `index`, and the uncle hashes for
/// `proof_layers` layers above `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashRequest {
    pub pieces_root: [u8; 32],
    pub base: u32,
    pub index: u32,
    pub length: u32,
    pub proof_layers: u32,
}

impl HashRequest {
    const LEN: usize = 48;

    fn decode(name: &'static str, p: &[u8]) -> Result<HashRequest, WireError> {
        let Some((root, rest)) = p.split_first_chunk::<32>() else {
            return Err(WireError::TooShort { name, got: p.len(), min: Self::LEN });
        };
        let Some(([b0, b1, b2, b3, i0, i1, i2, i3, l0, l1, l2, l3, x0, x1, x2, x3], _)) =
            rest.split_first_chunk::<16>()
        else {
            return Err(WireError::TooShort { name, got: p.len(), min: Self::LEN });
        };
        Ok(HashRequest {
            pieces_root: *root,
            base: u32::from_be_bytes([*b0, *b1, *b2, *b3]),
            index: u32::from_be_bytes([*i0, *i1, *i2, *i3]),
            length: u32::from_be_bytes([*l0, *l1, *l2, *l3]),
            proof_layers: u32::from_be_bytes([*x0, *x1, *x2, *x3]),
        })
    }

    fn put(&self, out: &mut BytesMut) {
        out.put_slice(&self.pieces_root);
        out.put_u32(self.base);
        out.put_u32(self.index);
        out.put_u32(self.length);
        out.put_u32(self.proof_layers);
    }
}

/// A block request: the payload of `request`, `cancel` and `reject`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockRequest {
    /// Piece index.
    pub piece: u32,
    /// Byte offset within the piece.
    pub begin: u32,
    /// Number of bytes.
    pub length: u32,
}

/// A peer wire message (BEP 3, plus BEP 6 and the BEP 10 envelope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A zero-length message.
    KeepAlive,
    /// id 0.
    Choke,
    /// id 1.
    Unchoke,
    /// id 2.
    Interested,
    /// id 3.
    NotInterested,
    /// id 4: the sender has this piece.
    Have(u32),
    /// id 5: the raw bitfield bytes (size checked by the caller, who knows
    /// the number of pieces).
    Bitfield(Bytes),
    /// id 6.
    Request(BlockRequest),
    /// id 7: a block of data.
    Piece {
        /// Piece index.
        piece: u32,
        /// Byte offset within the piece.
        begin: u32,
        /// The block (may be empty; the caller checks it against the request).
        data: Bytes,
    },
    /// id 8.
    Cancel(BlockRequest),
    /// id 9: the sender's DHT port (BEP 5).
    Port(u16),
    /// id 13 (BEP 6).
    Suggest(u32),
    /// id 14 (BEP 6).
    HaveAll,
    /// id 15 (BEP 6).
    HaveNone,
    /// id 16 (BEP 6): the sender will not serve this request.
    Reject(BlockRequest),
    /// id 17 (BEP 6): the receiver may request this piece while choked.
    AllowedFast(u32),
    /// id 21 (BEP 52): asks for hashes of a file's tree.
    HashRequest(HashRequest),
    /// id 22 (BEP 52): the hashes asked for, then their uncle hashes.
    Hashes {
        request: HashRequest,
        /// At most [`MAX_HASHES_IN_MESSAGE`].
        hashes: Vec<[u8; 32]>,
    },
    /// id 23 (BEP 52): the sender will not serve this hash request.
    HashReject(HashRequest),
    /// id 20 (BEP 10): extended message `id` (0 is the extension handshake).
    Extended {
        /// The extended message id.
        id: u8,
        /// The payload after the extended id byte.
        payload: Bytes,
    },
}

mod id {
    pub const CHOKE: u8 = 0;
    pub const UNCHOKE: u8 = 1;
    pub const INTERESTED: u8 = 2;
    pub const NOT_INTERESTED: u8 = 3;
    pub const HAVE: u8 = 4;
    pub const BITFIELD: u8 = 5;
    pub const REQUEST: u8 = 6;
    pub const PIECE: u8 = 7;
    pub const CANCEL: u8 = 8;
    pub const PORT: u8 = 9;
    pub const SUGGEST: u8 = 13;
    pub const HAVE_ALL: u8 = 14;
    pub const HAVE_NONE: u8 = 15;
    pub const REJECT: u8 = 16;
    pub const ALLOWED_FAST: u8 = 17;
    pub const EXTENDED: u8 = 20;
    pub const HASH_REQUEST: u8 = 21;
    pub const HASHES: u8 = 22;
    pub const HASH_REJECT: u8 = 23;
}

/// The payload as an array of exactly `N` bytes, or the size error.
fn exact<const N: usize>(name: &'static str, payload: &[u8]) -> Result<[u8; N], WireError> {
    <[u8; N]>::try_from(payload).map_err(|_| WireError::PayloadSize { name, got: payload.len(), want: N })
}

fn empty(name: &'static str, payload: &[u8], msg: Message) -> Result<Message, WireError> {
    exact::<0>(name, payload).map(|_| msg)
}

fn index(name: &'static str, payload: &[u8]) -> Result<u32, WireError> {
    exact::<4>(name, payload).map(u32::from_be_bytes)
}

fn request(name: &'static str, payload: &[u8]) -> Result<BlockRequest, WireError> {
    let [p0, p1, p2, p3, b0, b1, b2, b3, l0, l1, l2, l3] = exact::<12>(name, payload)?;
    Ok(BlockRequest {
        piece: u32::from_be_bytes([p0, p1, p2, p3]),
        begin: u32::from_be_bytes([b0, b1, b2, b3]),
        length: u32::from_be_bytes([l0, l1, l2, l3]),
    })
}

/// A payload that is exactly a hash request.
fn hash_request(name: &'static str, p: &[u8]) -> Result<HashRequest, WireError> {
    exact::<{ HashRequest::LEN }>(name, p)?;
    HashRequest::decode(name, p)
}

/// `hashes`: the request header, then whole 32-byte hashes, bounded.
fn hashes(p: &[u8]) -> Result<Message, WireError> {
    let request = HashRequest::decode("hashes", p)?;
    let body = &p[HashRequest::LEN..];
    if body.len() % 32 != 0 || body.len() / 32 > MAX_HASHES_IN_MESSAGE {
        return Err(WireError::BadHashes(body.len()));
    }
    let hashes = body
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    Ok(Message::Hashes { request, hashes })
}

/// Decodes the messages whose payload is small and fixed (or unknown ids).
fn decode_fixed(msg_id: u8, p: &[u8]) -> Result<Message, WireError> {
    match msg_id {
        id::CHOKE => empty("choke", p, Message::Choke),
        id::UNCHOKE => empty("unchoke", p, Message::Unchoke),
        id::INTERESTED => empty("interested", p, Message::Interested),
        id::NOT_INTERESTED => empty("not interested", p, Message::NotInterested),
        id::HAVE => index("have", p).map(Message::Have),
        id::REQUEST => request("request", p).map(Message::Request),
        id::CANCEL => request("cancel", p).map(Message::Cancel),
        id::PORT => exact::<2>("port", p).map(|b| Message::Port(u16::from_be_bytes(b))),
        id::SUGGEST => index("suggest", p).map(Message::Suggest),
        id::HAVE_ALL => empty("have all", p, Message::HaveAll),
        id::HAVE_NONE => empty("have none", p, Message::HaveNone),
        id::REJECT => request("reject", p).map(Message::Reject),
        id::ALLOWED_FAST => index("allowed fast", p).map(Message::AllowedFast),
        id::HASH_REQUEST => hash_request("hash request", p).map(Message::HashRequest),
        id::HASH_REJECT => hash_request("hash reject", p).map(Message::HashReject),
        id::HASHES => hashes(p),
        other => Err(WireError::UnknownId(other)),
    }
}

/// Decodes one message from the front of `buf` if a whole one is there,
/// consuming it.
///
/// - `Ok(None)`: more bytes are needed; nothing was consumed. A length
///   prefix within `max_len` is trusted only that far: the caller may read
///   up to `4 + max_len` bytes into `buf` before a message completes.
/// - `Err(_)`: the stream is broken; the caller disconnects. An oversize
///   length prefix is reported as soon as its 4 bytes arrive. After an
///   error, what is left in `buf` is unspecified.
///
/// Piece data and bitfield/extension payloads are split off `buf` without
/// copying (`BytesMut::split_to` + `freeze`), so they share its allocation.
pub fn decode_message(buf: &mut BytesMut, max_len: u32) -> Result<Option<Message>, WireError> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len32 = u32::from_be_bytes(*prefix);
    if len32 > max_len {
        return Err(WireError::TooLarge(len32));
    }
    let Some(len) = usize::try_from(len32).ok().filter(|n| n.checked_add(4).is_some()) else {
        return Err(WireError::TooLarge(len32));
    };
    if buf.len() - 4 < len {
        return Ok(None);
    }
    buf.advance(4);
    let mut body = buf.split_to(len);
    let Some(&msg_id) = body.first() else {
        return Ok(Some(Message::KeepAlive));
    };
    body.advance(1);
    let msg = match msg_id {
        id::BITFIELD => Message::Bitfield(body.freeze()),
        id::PIECE => {
            let Some(([p0, p1, p2, p3, b0, b1, b2, b3], _)) = body.split_first_chunk::<8>() else {
                return Err(WireError::TooShort { name: "piece", got: body.len(), min: 8 });
            };
            let piece = u32::from_be_bytes([*p0, *p1, *p2, *p3]);
            let begin = u32::from_be_bytes([*b0, *b1, *b2, *b3]);
            body.advance(8);
            Message::Piece { piece, begin, data: body.freeze() }
        }
        id::EXTENDED => {
            let Some(&ext) = body.first() else {
                return Err(WireError::TooShort { name: "extended", got: 0, min: 1 });
            };
            body.advance(1);
            Message::Extended { id: ext, payload: body.freeze() }
        }
        other => decode_fixed(other, &body)?,
    };
    Ok(Some(msg))
}

/// The length prefix for a message of `header` fixed bytes plus `payload`
/// bytes. Saturates: a message that large is a caller bug, and the peer will
/// refuse it rather than us panicking.
fn frame_len(header: u32, payload: usize) -> u32 {
    u32::try_from(payload).ok().and_then(|n| n.checked_add(header)).unwrap_or(u32::MAX)
}

fn put_request(out: &mut BytesMut, msg_id: u8, r: &BlockRequest) {
    out.put_u32(13);
    out.put_u8(msg_id);
    out.put_u32(r.piece);
    out.put_u32(r.begin);
    out.put_u32(r.length);
}

fn put_hash_request(out: &mut BytesMut, msg_id: u8, r: &HashRequest) {
    out.put_u32(1 + HashRequest::LEN as u32);
    out.put_u8(msg_id);
    r.put(out);
}

fn put_simple(out: &mut BytesMut, msg_id: u8) {
    out.put_u32(1);
    out.put_u8(msg_id);
}

fn put_index(out: &mut BytesMut, msg_id: u8, v: u32) {
    out.put_u32(5);
    out.put_u8(msg_id);
    out.put_u32(v);
}

/// Appends the encoding of `msg` (length prefix included) to `out`.
///
/// Payloads are expected to stay within what peers accept
/// ([`MAX_MESSAGE_LEN`]); the encoder does not check.
pub fn encode_message(msg: &Message, out: &mut BytesMut) {
    match msg {
        Message::KeepAlive => out.put_u32(0),
        Message::Choke => put_simple(out, id::CHOKE),
        Message::Unchoke => put_simple(out, id::UNCHOKE),
        Message::Interested => put_simple(out, id::INTERESTED),
        Message::NotInterested => put_simple(out, id::NOT_INTERESTED),
        Message::HaveAll => put_simple(out, id::HAVE_ALL),
        Message::HaveNone => put_simple(out, id::HAVE_NONE),
        Message::Have(p) => put_index(out, id::HAVE, *p),
        Message::Suggest(p) => put_index(out, id::SUGGEST, *p),
        Message::AllowedFast(p) => put_index(out, id::ALLOWED_FAST, *p),
        Message::Request(r) => put_request(out, id::REQUEST, r),
        Message::Cancel(r) => put_request(out, id::CANCEL, r),
        Message::Reject(r) => put_request(out, id::REJECT, r),
        Message::Port(p) => {
            out.put_u32(3);
            out.put_u8(id::PORT);
            out.put_u16(*p);
        }
        Message::Bitfield(b) => {
            out.reserve(5 + b.len());
            out.put_u32(frame_len(1, b.len()));
            out.put_u8(id::BITFIELD);
            out.put_slice(b);
        }
        Message::Piece { piece, begin, data } => {
            out.reserve(13 + data.len());
            out.put_slice(&piece_header(*piece, *begin, frame_len(0, data.len())));
            out.put_slice(data);
        }
        Message::HashRequest(r) => put_hash_request(out, id::HASH_REQUEST, r),
        Message::HashReject(r) => put_hash_request(out, id::HASH_REJECT, r),
        Message::Hashes { request, hashes } => {
            let payload = HashRequest::LEN + 32 * hashes.len();
            out.reserve(5 + payload);
            out.put_u32(frame_len(1, payload));
            out.put_u8(id::HASHES);
            request.put(out);
            for h in hashes {
                out.put_slice(h);
            }
        }
        Message::Extended { id: ext, payload } => {
            out.reserve(6 + payload.len());
            out.put_u32(frame_len(2, payload.len()));
            out.put_u8(id::EXTENDED);
            out.put_u8(*ext);
            out.put_slice(payload);
        }
    }
}

/// The 13-byte header of a piece message carrying `len` bytes of data
/// (length prefix `9 + len`, id 7, piece index, offset), for writing the
/// header and the block from storage as two buffers. The prefix saturates
/// at `u32::MAX` rather than wrapping.
pub fn piece_header(piece: u32, begin: u32, len: u32) -> [u8; 13] {
    let mut h = [0u8; 13];
    let mut w = &mut h[..];
    w.put_u32(len.saturating_add(9));
    w.put_u8(id::PIECE);
    w.put_u32(piece);
    w.put_u32(begin);
    h
}

/// The BEP 10 extension handshake (extended message id 0).
///
/// Decoding is lenient about content and strict about shape: the payload
/// must be a bencoded dictionary (within small depth/size limits), but
/// unknown keys are ignored and values of the wrong type or out of range
/// are treated as absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// Extension name to the id the sender wants to receive it with. An id
    /// of 0 means the sender disables that extension (in a later handshake).
    /// At most [`MAX_EXTENSIONS`] entries are kept.
    pub m: BTreeMap<String, u8>,
    /// Client name and version (`v`).
    pub client: Option<String>,
    /// The sender's listen port (`p`), 1..=65535.
    pub listen_port: Option<u16>,
    /// Requests the sender queues at most (`reqq`), at least 1; the caller
    /// applies its own ceiling.
    pub reqq: Option<u32>,
    /// Size of the info dictionary (`metadata_size`, BEP 9), at least 1;
    /// the caller applies its own ceiling.
    pub metadata_size: Option<u32>,
    /// Our address as the sender sees it (`yourip`: 4 or 16 bytes).
    pub your_ip: Option<IpAddr>,
}

impl ExtHandshake {
    /// The bencoded dictionary to send as the payload of extended message 0.
    /// Absent fields are left out; `m` is always present.
    pub fn encode(&self) -> Vec<u8> {
        let m = Value::Dict(self.m.iter().map(|(k, v)| (k.as_bytes(), Value::Int(i64::from(*v)))).collect());
        let ip_bytes: Option<Vec<u8>> = self.your_ip.map(|ip| match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        });
        let mut d = BTreeMap::new();
        d.insert(&b"m"[..], m);
        if let Some(v) = &self.client {
            d.insert(&b"v"[..], Value::Bytes(v.as_bytes()));
        }
        if let Some(p) = self.listen_port {
            d.insert(&b"p"[..], Value::Int(i64::from(p)));
        }
        if let Some(q) = self.reqq {
            d.insert(&b"reqq"[..], Value::Int(i64::from(q)));
        }
        if let Some(s) = self.metadata_size {
            d.insert(&b"metadata_size"[..], Value::Int(i64::from(s)));
        }
        if let Some(ip) = &ip_bytes {
            d.insert(&b"yourip"[..], Value::Bytes(ip));
        }
        Value::Dict(d).encode()
    }

    /// Parses the payload of extended message 0. Bytes after the dictionary
    /// are ignored. Errors only when the payload is not a bencoded
    /// dictionary within the limits (depth 8, 1024 values).
    pub fn decode(payload: &[u8]) -> Result<ExtHandshake, WireError> {
        let (v, _) = bencode::decode_prefix(payload, EXT_LIMITS)
            .map_err(|e| WireError::ExtHandshake(e.to_string()))?;
        if v.as_dict().is_none() {
            return Err(WireError::ExtHandshake("not a dictionary".into()));
        }
        let int = |key: &str| v.get(key).and_then(Value::as_int);
        let mut hs = ExtHandshake::default();
        if let Some(m) = v.get("m").and_then(Value::as_dict) {
            let valid = m.iter().filter_map(|(k, val)| {
                let name = std::str::from_utf8(k).ok()?;
                let n = u8::try_from(val.as_int()?).ok()?;
                Some((name.to_owned(), n))
            });
            hs.m.extend(valid.take(MAX_EXTENSIONS));
        }
        hs.client = v.get("v").and_then(Value::as_bytes).map(|b| String::from_utf8_lossy(b).into_owned());
        hs.listen_port = int("p").and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0);
        hs.reqq = int("reqq").and_then(|q| u32::try_from(q).ok()).filter(|q| *q != 0);
        hs.metadata_size = int("metadata_size").and_then(|s| u32::try_from(s).ok()).filter(|s| *s != 0);
        hs.your_ip = v.get("yourip").and_then(Value::as_bytes).and_then(|b| {
            if let Ok(a) = <[u8; 4]>::try_from(b) {
                Some(IpAddr::from(a))
            } else {
                <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
            }
        });
        Ok(hs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(m: &Message) -> BytesMut {
        let mut b = BytesMut::new();
        encode_message(m, &mut b);
        b
    }

    fn decode_all(bytes: &[u8], max: u32) -> Result<Option<Message>, WireError> {
        decode_message(&mut BytesMut::from(bytes), max)
    }

    fn frame(msg_id: u8, payload: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_u32(1 + payload.len() as u32);
        b.put_u8(msg_id);
        b.put_slice(payload);
        b
    }

    fn round_trip(m: &Message) {
        let mut b = encoded(m);
        let total = b.len();
        // Every strict prefix needs more bytes and consumes nothing.
        for cut in 0..total {
            let mut part = BytesMut::from(&b[..cut]);
            assert_eq!(decode_message(&mut part, MAX_MESSAGE_LEN), Ok(None), "cut {cut}");
            assert_eq!(part.len(), cut);
            assert_eq!(&part[..], &b[..cut]);
        }
        let got = decode_message(&mut b, MAX_MESSAGE_LEN).unwrap().unwrap();
        assert_eq!(&got, m);
        assert!(b.is_empty());
    }

    fn req() -> impl Strategy<Value = BlockRequest> {
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(piece, begin, length)| BlockRequest {
            piece,
            begin,
            length,
        })
    }

    fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            Just(Message::KeepAlive),
            Just(Message::Choke),
            Just(Message::Unchoke),
            Just(Message::Interested),
            Just(Message::NotInterested),
            Just(Message::HaveAll),
            Just(Message::HaveNone),
            any::<u32>().prop_map(Message::Have),
            any::<u32>().prop_map(Message::Suggest),
            any::<u32>().prop_map(Message::AllowedFast),
            any::<u16>().prop_map(Message::Port),
            bytes(64).prop_map(Message::Bitfield),
            req().prop_map(Message::Request),
            req().prop_map(Message::Cancel),
            req().prop_map(Message::Reject),
            (any::<u32>(), any::<u32>(), bytes(100)).prop_map(|(piece, begin, data)| Message::Piece {
                piece,
                begin,
                data
            }),
            (any::<u8>(), bytes(50)).prop_map(|(id, payload)| Message::Extended { id, payload }),
        ]
    }

    proptest! {
        #[test]
        fn every_message_round_trips(m in message()) {
            round_trip(&m);
        }

        /// A stream of messages cut into arbitrary reads decodes to the same
        /// messages, in order.
        #[test]
        fn stream_in_arbitrary_chunks(
            msgs in proptest::collection::vec(message(), 0..20),
            cuts in proptest::collection::vec(1usize..40, 1..50),
        ) {
            let mut wire = BytesMut::new();
            for m in &msgs {
                encode_message(m, &mut wire);
            }
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut cut = cuts.iter().cycle();
            while !wire.is_empty() {
                let n = (*cut.next().unwrap()).min(wire.len());
                buf.extend_from_slice(&wire.split_to(n));
                while let Some(m) = decode_message(&mut buf, MAX_MESSAGE_LEN).unwrap() {
                    got.push(m);
                }
            }
            prop_assert!(buf.is_empty());
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), max in any::<u32>()) {
            let mut b = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = decode_message(&mut b, max) {}
            let mut b = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = decode_message(&mut b, 64) {}
        }

        #[test]
        fn random_ext_handshakes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ExtHandshake::decode(&bytes);
        }

        #[test]
        fn random_handshakes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Handshake::decode(&bytes);
        }
    }

    #[test]
    fn keep_alive() {
        let mut b = BytesMut::from(&[0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]);
        assert_eq!(decode_message(&mut b, MAX_MESSAGE_LEN), Ok(Some(Message::KeepAlive)));
        assert_eq!(decode_message(&mut b, MAX_MESSAGE_LEN), Ok(Some(Message::KeepAlive)));
        // Three bytes of the third: not yet.
        assert_eq!(decode_message(&mut b, MAX_MESSAGE_LEN), Ok(None));
        assert_eq!(b.len(), 3);
        assert_eq!(&encoded(&Message::KeepAlive)[..], &[0, 0, 0, 0]);
    }

    #[test]
    fn oversize_lengths_are_errors() {
        // 2,000,000 = 0x001e8480, reported before the body arrives.
        let mut b = BytesMut::from(&[0x00, 0x1e, 0x84, 0x80, 7][..]);
        let e = decode_message(&mut b, MAX_MESSAGE_LEN).unwrap_err();
        assert_eq!(e, WireError::TooLarge(2_000_000));
        assert_eq!(e.to_string(), "message too large (2000000 bytes)");
        // "Negative" lengths.
        for prefix in [[0xff, 0xff, 0xff, 0xff], [0x80, 0, 0, 0], [0xff, 0xff, 0xff, 0xf6]] {
            let e = decode_all(&prefix, MAX_MESSAGE_LEN).unwrap_err();
            assert_eq!(e, WireError::TooLarge(u32::from_be_bytes(prefix)));
        }
        // The limit itself is accepted, one more is not.
        let mut at_limit = frame(id::BITFIELD, &[0xaa; 15]);
        assert_eq!(
            decode_message(&mut at_limit, 16),
            Ok(Some(Message::Bitfield(Bytes::from_static(&[0xaa; 15]))))
        );
        assert_eq!(decode_all(&frame(id::BITFIELD, &[0xaa; 16]), 16), Err(WireError::TooLarge(17)));
        // The largest prefix with the largest limit only waits for more data.
        assert_eq!(decode_all(&[0xff, 0xff, 0xff, 0xff, 5], u32::MAX), Ok(None));
        // A 1 MiB piece message is fine with the default limit.
        let big = Message::Piece { piece: 1, begin: 0, data: Bytes::from(vec![7u8; (1 << 20) - 9]) };
        assert_eq!(decode_all(&encoded(&big), MAX_MESSAGE_LEN), Ok(Some(big)));
    }

    #[test]
    fn unknown_ids_are_errors() {
        let e = decode_all(&[0, 0, 0, 1, 0xff], MAX_MESSAGE_LEN).unwrap_err();
        assert_eq!(e, WireError::UnknownId(255));
        assert_eq!(e.to_string(), "unknown message id 255");
        for msg_id in [10u8, 11, 12, 18, 19, 24, 25, 0x80] {
            assert_eq!(decode_all(&frame(msg_id, &[]), MAX_MESSAGE_LEN), Err(WireError::UnknownId(msg_id)));
            assert_eq!(
                decode_all(&frame(msg_id, &[1, 2, 3, 4]), MAX_MESSAGE_LEN),
                Err(WireError::UnknownId(msg_id))
            );
        }
        // After have_all, as in libtorrent's test.
        let mut b = encoded(&Message::HaveAll);
        b.extend_from_slice(&[0, 0, 0, 1, 0xff]);
        assert_eq!(decode_message(&mut b, MAX_MESSAGE_LEN), Ok(Some(Message::HaveAll)));
        assert_eq!(decode_message(&mut b, MAX_MESSAGE_LEN), Err(WireError::UnknownId(255)));
    }

    #[test]
    fn wrong_payload_sizes_are_errors() {
        let fixed: [(u8, &str, usize); 13] = [
            (id::CHOKE, "choke", 0),
            (id::UNCHOKE, "unchoke", 0),
            (id::INTERESTED, "interested", 0),
            (id::NOT_INTERESTED, "not interested", 0),
            (id::HAVE, "have", 4),
            (id::REQUEST, "request", 12),
            (id::CANCEL, "cancel", 12),
            (id::PORT, "port", 2),
            (id::SUGGEST, "suggest", 4),
            (id::HAVE_ALL, "have all", 0),
            (id::HAVE_NONE, "have none", 0),
            (id::REJECT, "reject", 12),
            (id::ALLOWED_FAST, "allowed fast", 4),
        ];
        for (msg_id, name, want) in fixed {
            assert!(decode_all(&frame(msg_id, &vec![0u8; want]), MAX_MESSAGE_LEN).unwrap().is_some());
            let mut sizes = vec![want + 1, want + 100];
            if want > 0 {
                sizes.extend([0, want - 1]);
            }
            for got in sizes {
                assert_eq!(
                    decode_all(&frame(msg_id, &vec![0u8; got]), MAX_MESSAGE_LEN),
                    Err(WireError::PayloadSize { name, got, want }),
                    "{name} with {got} bytes"
                );
            }
        }
        assert_eq!(
            decode_all(&frame(id::HAVE, &[0, 0, 1]), MAX_MESSAGE_LEN).unwrap_err().to_string(),
            "have message has 3 bytes of payload, expected 4"
        );
    }

    #[test]
    fn short_variable_messages_are_errors() {
        for got in 0..8 {
            assert_eq!(
                decode_all(&frame(id::PIECE, &vec![0u8; got]), MAX_MESSAGE_LEN),
                Err(WireError::TooShort { name: "piece", got, min: 8 })
            );
        }
        assert_eq!(
            decode_all(&frame(id::EXTENDED, &[]), MAX_MESSAGE_LEN),
            Err(WireError::TooShort { name: "extended", got: 0, min: 1 })
        );
        // Empty bitfields, piece data and extension payloads are well formed.
        assert_eq!(decode_all(&frame(id::BITFIELD, &[]), 16), Ok(Some(Message::Bitfield(Bytes::new()))));
        assert_eq!(
            decode_all(&frame(id::EXTENDED, &[3]), 16),
            Ok(Some(Message::Extended { id: 3, payload: Bytes::new() }))
        );
    }

    #[test]
    fn payloads_are_not_copied() {
        let data: Vec<u8> = (0..=255u8).cycle().take(4000).collect();
        let mut b = encoded(&Message::Piece { piece: 3, begin: 16384, data: data.clone().into() });
        encode_message(&Message::Bitfield(Bytes::from_static(&[0xf0, 0x0f])), &mut b);
        encode_message(&Message::Extended { id: 2, payload: Bytes::from_static(b"d1:ai1ee") }, &mut b);
        encode_message(&Message::Piece { piece: 0, begin: 0, data: Bytes::new() }, &mut b);
        let range = b.as_ptr() as usize..b.as_ptr() as usize + b.len();
        let inside = |x: &Bytes| range.contains(&(x.as_ptr() as usize));
        match decode_message(&mut b, MAX_MESSAGE_LEN).unwrap().unwrap() {
            Message::Piece { piece: 3, begin: 16384, data: d } => {
                assert_eq!(d, data);
                assert!(inside(&d));
            }
            other => panic!("{other:?}"),
        }
        match decode_message(&mut b, MAX_MESSAGE_LEN).unwrap().unwrap() {
            Message::Bitfield(bf) => assert!(inside(&bf) && bf[..] == [0xf0, 0x0f]),
            other => panic!("{other:?}"),
        }
        match decode_message(&mut b, MAX_MESSAGE_LEN).unwrap().unwrap() {
            Message::Extended { id: 2, payload } => {
                assert!(inside(&payload) && payload[..] == b"d1:ai1ee"[..])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decode_message(&mut b, MAX_MESSAGE_LEN),
            Ok(Some(Message::Piece { piece: 0, begin: 0, data: Bytes::new() }))
        );
        assert!(b.is_empty());
    }

    #[test]
    fn piece_header_matches_encoding() {
        let m = Message::Piece { piece: 0x01020304, begin: 0x4000, data: Bytes::from_static(&[9; 5]) };
        let enc = encoded(&m);
        assert_eq!(&piece_header(0x01020304, 0x4000, 5)[..], &enc[..13]);
        assert_eq!(piece_header(1, 2, 16384), [0, 0, 0x40, 9, 7, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(&piece_header(0, 0, u32::MAX)[..4], &[0xff; 4]);
    }

    #[test]
    fn encodings_are_bep3() {
        let r = BlockRequest { piece: 1, begin: 0x4000, length: 0x4000 };
        assert_eq!(
            &encoded(&Message::Request(r))[..],
            &[0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0]
        );
        assert_eq!(&encoded(&Message::Have(258))[..], &[0, 0, 0, 5, 4, 0, 0, 1, 2]);
        assert_eq!(&encoded(&Message::Port(6881))[..], &[0, 0, 0, 3, 9, 0x1a, 0xe1]);
        assert_eq!(&encoded(&Message::HaveNone)[..], &[0, 0, 0, 1, 15]);
        assert_eq!(
            &encoded(&Message::Extended { id: 0, payload: Bytes::from_static(b"de") })[..],
            &[0, 0, 0, 4, 20, 0, b'd', b'e']
        );
    }

    #[test]
    fn handshake() {
        let h = Handshake::new(InfoHash([7; 20]), PeerId([9; 20]));
        let enc = h.encode();
        assert_eq!(enc[0], 19);
        assert_eq!(&enc[1..20], b"BitTorrent protocol");
        assert_eq!(&enc[20..28], &[0, 0, 0, 0, 0, 0x10, 0, 0x04]);
        assert_eq!(&enc[28..48], &[7; 20]);
        assert_eq!(&enc[48..68], &[9; 20]);
        let d = Handshake::decode(&enc).unwrap();
        assert_eq!(d, h);
        assert!(d.supports_extensions() && d.supports_fast());

        let plain = Handshake { reserved: [0; 8], ..h };
        let d = Handshake::decode(&plain.encode()).unwrap();
        assert!(!d.supports_extensions() && !d.supports_fast());
        // Other reserved bits are kept as they are (DHT bit, for one).
        let odd = Handshake { reserved: [0xff, 0, 0, 0, 0, 0, 0, 0x01], ..h };
        assert_eq!(Handshake::decode(&odd.encode()).unwrap().reserved, odd.reserved);
    }

    #[test]
    fn bad_handshakes() {
        let enc = Handshake::new(InfoHash([7; 20]), PeerId([9; 20])).encode();
        let mut bad = enc;
        bad[3] = b'X';
        assert_eq!(Handshake::decode(&bad), Err(WireError::HandshakeProtocol));
        let mut bad = enc;
        bad[0] = 18;
        assert_eq!(Handshake::decode(&bad), Err(WireError::HandshakeProtocol));
        let mut bad = enc;
        bad[1..20].copy_from_slice(b"bittorrent protocol");
        assert_eq!(Handshake::decode(&bad), Err(WireError::HandshakeProtocol));
        assert_eq!(Handshake::decode(&enc[..67]), Err(WireError::HandshakeLength(67)));
        assert_eq!(Handshake::decode(&[]), Err(WireError::HandshakeLength(0)));
        let mut long = enc.to_vec();
        long.push(0);
        assert_eq!(Handshake::decode(&long), Err(WireError::HandshakeLength(69)));
    }

    #[test]
    fn ext_handshake_round_trip() {
        let mut hs = ExtHandshake {
            client: Some("lt 0.1".into()),
            listen_port: Some(6881),
            reqq: Some(500),
            metadata_size: Some(31_235),
            your_ip: Some("127.0.0.1".parse().unwrap()),
            ..Default::default()
        };
        hs.m.insert("ut_metadata".into(), 3);
        hs.m.insert("ut_pex".into(), 1);
        let enc = hs.encode();
        assert_eq!(ExtHandshake::decode(&enc).unwrap(), hs);
        assert!(enc.starts_with(b"d1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31235e1:pi6881e"));

        hs.your_ip = Some("2001:db8::1".parse().unwrap());
        assert_eq!(ExtHandshake::decode(&hs.encode()).unwrap(), hs);
        assert_eq!(ExtHandshake::default().encode(), b"d1:mdee");
        assert_eq!(ExtHandshake::decode(b"d1:mdee").unwrap(), ExtHandshake::default());
    }

    #[test]
    fn ext_handshake_ignores_odd_values() {
        let odd = ExtHandshake::decode(
            b"d1:md2:uti999e1:xi2e1:yi0e1:zi-1e2:zz3:abce13:metadata_sizei0e1:pi70000e4:reqqi-1e7:unknownli1ee6:yourip5:abcdee",
        )
        .unwrap();
        assert_eq!(odd.m.into_iter().collect::<Vec<_>>(), vec![("x".into(), 2), ("y".into(), 0)]);
        assert_eq!(odd.listen_port, None);
        assert_eq!(odd.reqq, None);
        assert_eq!(odd.metadata_size, None);
        assert_eq!(odd.your_ip, None);
        let odd = ExtHandshake::decode(b"d1:mi5e1:pi0e1:v2:\xff\xfee").unwrap();
        assert!(odd.m.is_empty());
        assert_eq!(odd.listen_port, None);
        assert_eq!(odd.client.as_deref(), Some("\u{fffd}\u{fffd}"));
        // No `m` at all is fine; trailing bytes are ignored.
        assert_eq!(ExtHandshake::decode(b"d4:reqqi250eeXYZ").unwrap().reqq, Some(250));
    }

    #[test]
    fn ext_handshake_bounds() {
        let mut doc = b"d1:md".to_vec();
        for i in 0..200 {
            let name = format!("e{i:03}");
            doc.extend_from_slice(format!("{}:{name}i{}e", name.len(), i % 256).as_bytes());
        }
        doc.extend_from_slice(b"ee");
        let hs = ExtHandshake::decode(&doc).unwrap();
        assert_eq!(hs.m.len(), MAX_EXTENSIONS);

        for bad in [&b"i1e"[..], b"le", b"garbage", b"", b"d1:m", b"d1:bi1e1:ai2ee"] {
            assert!(
                matches!(ExtHandshake::decode(bad), Err(WireError::ExtHandshake(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut deep = b"d1:x".to_vec();
        deep.extend(vec![b'l'; 20]);
        deep.extend(vec![b'e'; 21]);
        assert!(ExtHandshake::decode(&deep).is_err());
        let mut many = b"d1:xl".to_vec();
        for _ in 0..2000 {
            many.extend_from_slice(b"i1e");
        }
        many.extend_from_slice(b"ee");
        assert!(ExtHandshake::decode(&many).is_err());
    }

    fn sample_hash_request() -> HashRequest {
        HashRequest { pieces_root: [5; 32], base: 1, index: 512, length: 512, proof_layers: 9 }
    }

    #[test]
    fn hash_messages_round_trip() {
        let r = sample_hash_request();
        round_trip(&Message::HashRequest(r));
        round_trip(&Message::HashReject(r));
        round_trip(&Message::Hashes { request: r, hashes: vec![[1; 32], [2; 32], [3; 32]] });
        round_trip(&Message::Hashes { request: r, hashes: Vec::new() });
        let b = encoded(&Message::HashRequest(r));
        assert_eq!(&b[..5], &[0, 0, 0, 49, 21]);
        assert_eq!(&b[5..37], &[5; 32]);
        assert_eq!(&b[37..], &[0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 9]);
    }

    #[test]
    fn hash_messages_are_bounded() {
        let mut b = encoded(&Message::HashRequest(sample_hash_request()));
        b.put_u8(0);
        b[3] += 1;
        assert!(matches!(decode_message(&mut b, MAX_MESSAGE_LEN), Err(WireError::PayloadSize { .. })));
        let mut short = BytesMut::from(&[0u8, 0, 0, 11, 23, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10][..]);
        assert!(matches!(decode_message(&mut short, MAX_MESSAGE_LEN), Err(WireError::PayloadSize { .. })));
        let mut short = BytesMut::from(&[0u8, 0, 0, 11, 22, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10][..]);
        assert!(matches!(decode_message(&mut short, MAX_MESSAGE_LEN), Err(WireError::TooShort { .. })));
        let r = sample_hash_request();
        let mut ragged = encoded(&Message::Hashes { request: r, hashes: vec![[1; 32]] });
        ragged.put_u8(0);
        ragged[3] += 1;
        assert_eq!(decode_message(&mut ragged, MAX_MESSAGE_LEN), Err(WireError::BadHashes(33)));
        let many = vec![[0u8; 32]; MAX_HASHES_IN_MESSAGE + 1];
        let mut big = encoded(&Message::Hashes { request: r, hashes: many });
        assert_eq!(
            decode_message(&mut big, MAX_MESSAGE_LEN),
            Err(WireError::BadHashes(32 * (MAX_HASHES_IN_MESSAGE + 1)))
        );
    }

    #[test]
    fn the_v2_bit_is_reserved_7_0x10() {
        let hs = Handshake::new(InfoHash([1; 20]), PeerId([2; 20]));
        assert!(!hs.supports_v2());
        let v2 = hs.with_v2();
        assert_eq!(v2.reserved[7] & 0x10, 0x10);
        assert!(Handshake::decode(&v2.encode()).expect("decodes").supports_v2());
        assert!(v2.supports_fast(), "other bits stay");
    }
}
