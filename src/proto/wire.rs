//! The peer wire protocol (BEP 3), with the fast extension's messages
//! (BEP 6) and the extension protocol's handshake (BEP 10).
//!
//! Decoding works on a `BytesMut` read buffer: a whole message is split off
//! the front without copying, so piece data moves on as `Bytes`. Every
//! length is checked: a fixed-size message with the wrong payload size, an
//! unknown message id, or a length prefix over the limit is an error, and
//! the caller disconnects the peer.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::bencode::{self, Value};
use super::types::{InfoHash, PeerId};

/// Largest message accepted (libtorrent disconnects above this too).
pub const MAX_MESSAGE_LEN: u32 = 1 << 20;

const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// A malformed message from a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("handshake: expected 68 bytes, got {0}")]
    HandshakeLength(usize),
    #[error("handshake: not the BitTorrent protocol")]
    HandshakeProtocol,
    #[error("message too large ({0} bytes)")]
    TooLarge(u32),
    #[error("unknown message id {0}")]
    UnknownId(u8),
    #[error("{name} message has {got} bytes of payload, expected {want}")]
    PayloadSize { name: &'static str, got: usize, want: usize },
    #[error("{name} message too short ({got} bytes of payload)")]
    TooShort { name: &'static str, got: usize },
    #[error("extension handshake: {0}")]
    ExtHandshake(String),
}

/// The 68-byte handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
}

impl Handshake {
    pub const LEN: usize = 68;

    /// Our handshake: the extension protocol (BEP 10) and fast extension
    /// (BEP 6) bits set.
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Handshake {
        let mut reserved = [0u8; 8];
        reserved[5] |= 0x10;
        reserved[7] |= 0x04;
        Handshake { reserved, info_hash, peer_id }
    }

    pub fn encode(&self) -> [u8; 68] {
        let mut out = [0u8; 68];
        out[0] = 19;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..68].copy_from_slice(&self.peer_id.0);
        out
    }

    pub fn decode(buf: &[u8]) -> Result<Handshake, WireError> {
        if buf.len() != Self::LEN {
            return Err(WireError::HandshakeLength(buf.len()));
        }
        if buf[0] != 19 || &buf[1..20] != PROTOCOL {
            return Err(WireError::HandshakeProtocol);
        }
        let mut h =
            Handshake { reserved: [0; 8], info_hash: InfoHash::default(), peer_id: PeerId::default() };
        h.reserved.copy_from_slice(&buf[20..28]);
        h.info_hash.0.copy_from_slice(&buf[28..48]);
        h.peer_id.0.copy_from_slice(&buf[48..68]);
        Ok(h)
    }

    pub fn supports_extensions(&self) -> bool {
        self.reserved[5] & 0x10 != 0
    }

    pub fn supports_fast(&self) -> bool {
        self.reserved[7] & 0x04 != 0
    }
}

/// A block request (also the payload of cancel and reject).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockRequest {
    pub piece: u32,
    pub begin: u32,
    pub length: u32,
}

/// A peer wire message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Bytes),
    Request(BlockRequest),
    Piece { piece: u32, begin: u32, data: Bytes },
    Cancel(BlockRequest),
    Port(u16),
    Suggest(u32),
    HaveAll,
    HaveNone,
    Reject(BlockRequest),
    AllowedFast(u32),
    Extended { id: u8, payload: Bytes },
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
}

fn want(name: &'static str, payload: &[u8], n: usize) -> Result<(), WireError> {
    if payload.len() == n {
        Ok(())
    } else {
        Err(WireError::PayloadSize { name, got: payload.len(), want: n })
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn request(name: &'static str, p: &[u8]) -> Result<BlockRequest, WireError> {
    want(name, p, 12)?;
    Ok(BlockRequest { piece: u32_at(p, 0), begin: u32_at(p, 4), length: u32_at(p, 8) })
}

/// Decodes one message from the front of `buf` if a whole one is there,
/// consuming it; `Ok(None)` when more bytes are needed (nothing consumed).
pub fn decode_message(buf: &mut BytesMut, max_len: u32) -> Result<Option<Message>, WireError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32_at(buf, 0);
    if len > max_len {
        return Err(WireError::TooLarge(len));
    }
    if buf.len() < 4 + len as usize {
        return Ok(None);
    }
    buf.advance(4);
    if len == 0 {
        return Ok(Some(Message::KeepAlive));
    }
    let mut body = buf.split_to(len as usize);
    let msg_id = body[0];
    body.advance(1);
    let p = &body[..];
    let msg = match msg_id {
        id::CHOKE => want("choke", p, 0).map(|_| Message::Choke)?,
        id::UNCHOKE => want("unchoke", p, 0).map(|_| Message::Unchoke)?,
        id::INTERESTED => want("interested", p, 0).map(|_| Message::Interested)?,
        id::NOT_INTERESTED => want("not interested", p, 0).map(|_| Message::NotInterested)?,
        id::HAVE => want("have", p, 4).map(|_| Message::Have(u32_at(p, 0)))?,
        id::BITFIELD => Message::Bitfield(body.freeze()),
        id::REQUEST => Message::Request(request("request", p)?),
        id::PIECE => {
            if p.len() < 8 {
                return Err(WireError::TooShort { name: "piece", got: p.len() });
            }
            let (piece, begin) = (u32_at(p, 0), u32_at(p, 4));
            body.advance(8);
            Message::Piece { piece, begin, data: body.freeze() }
        }
        id::CANCEL => Message::Cancel(request("cancel", p)?),
        id::PORT => want("port", p, 2).map(|_| Message::Port(u16::from_be_bytes([p[0], p[1]])))?,
        id::SUGGEST => want("suggest", p, 4).map(|_| Message::Suggest(u32_at(p, 0)))?,
        id::HAVE_ALL => want("have all", p, 0).map(|_| Message::HaveAll)?,
        id::HAVE_NONE => want("have none", p, 0).map(|_| Message::HaveNone)?,
        id::REJECT => Message::Reject(request("reject", p)?),
        id::ALLOWED_FAST => want("allowed fast", p, 4).map(|_| Message::AllowedFast(u32_at(p, 0)))?,
        id::EXTENDED => {
            if p.is_empty() {
                return Err(WireError::TooShort { name: "extended", got: 0 });
            }
            let ext = p[0];
            body.advance(1);
            Message::Extended { id: ext, payload: body.freeze() }
        }
        other => return Err(WireError::UnknownId(other)),
    };
    Ok(Some(msg))
}

fn put_request(out: &mut BytesMut, msg_id: u8, r: &BlockRequest) {
    out.put_u32(13);
    out.put_u8(msg_id);
    out.put_u32(r.piece);
    out.put_u32(r.begin);
    out.put_u32(r.length);
}

/// Appends the encoding of `msg` to `out`.
pub fn encode_message(msg: &Message, out: &mut BytesMut) {
    let simple = |out: &mut BytesMut, msg_id: u8| {
        out.put_u32(1);
        out.put_u8(msg_id);
    };
    let with_u32 = |out: &mut BytesMut, msg_id: u8, v: u32| {
        out.put_u32(5);
        out.put_u8(msg_id);
        out.put_u32(v);
    };
    match msg {
        Message::KeepAlive => out.put_u32(0),
        Message::Choke => simple(out, id::CHOKE),
        Message::Unchoke => simple(out, id::UNCHOKE),
        Message::Interested => simple(out, id::INTERESTED),
        Message::NotInterested => simple(out, id::NOT_INTERESTED),
        Message::HaveAll => simple(out, id::HAVE_ALL),
        Message::HaveNone => simple(out, id::HAVE_NONE),
        Message::Have(p) => with_u32(out, id::HAVE, *p),
        Message::Suggest(p) => with_u32(out, id::SUGGEST, *p),
        Message::AllowedFast(p) => with_u32(out, id::ALLOWED_FAST, *p),
        Message::Bitfield(b) => {
            out.put_u32(1 + b.len() as u32);
            out.put_u8(id::BITFIELD);
            out.put_slice(b);
        }
        Message::Request(r) => put_request(out, id::REQUEST, r),
        Message::Cancel(r) => put_request(out, id::CANCEL, r),
        Message::Reject(r) => put_request(out, id::REJECT, r),
        Message::Piece { piece, begin, data } => {
            out.put_slice(&piece_header(*piece, *begin, data.len() as u32));
            out.put_slice(data);
        }
        Message::Port(p) => {
            out.put_u32(3);
            out.put_u8(id::PORT);
            out.put_u16(*p);
        }
        Message::Extended { id: ext, payload } => {
            out.put_u32(2 + payload.len() as u32);
            out.put_u8(id::EXTENDED);
            out.put_u8(*ext);
            out.put_slice(payload);
        }
    }
}

/// The 13-byte header of a piece message carrying `len` bytes of data.
pub fn piece_header(piece: u32, begin: u32, len: u32) -> [u8; 13] {
    let mut h = [0u8; 13];
    h[0..4].copy_from_slice(&(9 + len).to_be_bytes());
    h[4] = id::PIECE;
    h[5..9].copy_from_slice(&piece.to_be_bytes());
    h[9..13].copy_from_slice(&begin.to_be_bytes());
    h
}

/// The BEP 10 extension handshake (extended message id 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// Extension name to the id the sender wants it sent with (0: disabled).
    pub m: BTreeMap<String, u8>,
    /// Client name and version (`v`).
    pub client: Option<String>,
    /// The sender's listen port (`p`).
    pub listen_port: Option<u16>,
    /// Requests the sender queues at most (`reqq`).
    pub reqq: Option<u32>,
    pub metadata_size: Option<u32>,
    /// Our address as the sender sees it (`yourip`).
    pub your_ip: Option<IpAddr>,
}

/// Most entries of `m` we read.
const MAX_EXTENSIONS: usize = 64;

impl ExtHandshake {
    pub fn encode(&self) -> Vec<u8> {
        let m = Value::Dict(self.m.iter().map(|(k, v)| (k.as_bytes(), Value::Int(*v as i64))).collect());
        let mut d = BTreeMap::new();
        d.insert(&b"m"[..], m);
        if let Some(v) = &self.client {
            d.insert(&b"v"[..], Value::Bytes(v.as_bytes()));
        }
        if let Some(p) = self.listen_port {
            d.insert(&b"p"[..], Value::Int(p as i64));
        }
        if let Some(q) = self.reqq {
            d.insert(&b"reqq"[..], Value::Int(q as i64));
        }
        if let Some(s) = self.metadata_size {
            d.insert(&b"metadata_size"[..], Value::Int(s as i64));
        }
        let ip_bytes;
        if let Some(ip) = self.your_ip {
            ip_bytes = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            d.insert(&b"yourip"[..], Value::Bytes(&ip_bytes));
        }
        Value::Dict(d).encode()
    }

    /// Decodes a handshake; unknown keys and out-of-range values are ignored.
    pub fn decode(payload: &[u8]) -> Result<ExtHandshake, WireError> {
        let limits = bencode::Limits { max_depth: 8, max_items: 1000 };
        let v = bencode::decode_with(payload, limits).map_err(|e| WireError::ExtHandshake(e.to_string()))?;
        if v.as_dict().is_none() {
            return Err(WireError::ExtHandshake("not a dictionary".into()));
        }
        let mut hs = ExtHandshake::default();
        if let Some(m) = v.get("m").and_then(Value::as_dict) {
            for (k, val) in m.iter().take(MAX_EXTENSIONS) {
                if let (Ok(name), Some(n)) = (std::str::from_utf8(k), val.as_int()) {
                    if let Ok(n) = u8::try_from(n) {
                        hs.m.insert(name.to_string(), n);
                    }
                }
            }
        }
        hs.client = v.get("v").and_then(Value::as_bytes).map(|b| String::from_utf8_lossy(b).into_owned());
        hs.listen_port =
            v.get("p").and_then(Value::as_int).and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0);
        hs.reqq = v.get("reqq").and_then(Value::as_int).and_then(|q| u32::try_from(q).ok());
        hs.metadata_size = v.get("metadata_size").and_then(Value::as_int).and_then(|q| u32::try_from(q).ok());
        hs.your_ip = v.get("yourip").and_then(Value::as_bytes).and_then(|b| match b.len() {
            4 => Some(IpAddr::from([b[0], b[1], b[2], b[3]])),
            16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Some(IpAddr::from(a))
            }
            _ => None,
        });
        Ok(hs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(m: &Message) {
        let mut b = BytesMut::new();
        encode_message(m, &mut b);
        let total = b.len();
        // Every strict prefix needs more bytes and consumes nothing.
        for cut in 0..total {
            let mut part = BytesMut::from(&b[..cut]);
            assert_eq!(decode_message(&mut part, MAX_MESSAGE_LEN), Ok(None));
            assert_eq!(part.len(), cut);
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
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| Message::Bitfield(v.into())),
            req().prop_map(Message::Request),
            req().prop_map(Message::Cancel),
            req().prop_map(Message::Reject),
            (any::<u32>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..100))
                .prop_map(|(piece, begin, d)| Message::Piece { piece, begin, data: d.into() }),
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..50))
                .prop_map(|(id, d)| Message::Extended { id, payload: d.into() }),
        ]
    }

    proptest! {
        #[test]
        fn every_message_round_trips(m in message()) {
            round_trip(&m);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut b = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = decode_message(&mut b, 64) {}
        }
    }

    #[test]
    fn oversize_and_unknown_are_errors() {
        let mut b = BytesMut::from(&[0x00, 0x1e, 0x84, 0x80, 7][..]); // 2,000,000
        assert_eq!(decode_message(&mut b, MAX_MESSAGE_LEN), Err(WireError::TooLarge(2_000_000)));
        let mut b = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(decode_message(&mut b, MAX_MESSAGE_LEN), Err(WireError::TooLarge(_))));
        let mut b = BytesMut::from(&[0, 0, 0, 1, 0xff][..]);
        assert_eq!(decode_message(&mut b, MAX_MESSAGE_LEN), Err(WireError::UnknownId(255)));
    }

    #[test]
    fn wrong_payload_sizes_are_errors() {
        for (msg_id, len) in [
            (0u8, 1usize),
            (1, 2),
            (2, 1),
            (3, 1),
            (4, 3),
            (4, 5),
            (6, 11),
            (6, 13),
            (8, 4),
            (9, 1),
            (14, 1),
            (16, 8),
            (17, 2),
        ] {
            let mut b = BytesMut::new();
            b.put_u32(1 + len as u32);
            b.put_u8(msg_id);
            b.put_slice(&vec![0u8; len]);
            assert!(decode_message(&mut b, MAX_MESSAGE_LEN).is_err(), "id {msg_id} len {len}");
        }
        let mut b = BytesMut::from(&[0, 0, 0, 5, 7, 0, 0, 0, 1][..]);
        assert!(matches!(decode_message(&mut b, MAX_MESSAGE_LEN), Err(WireError::TooShort { .. })));
    }

    #[test]
    fn handshake() {
        let h = Handshake::new(InfoHash([7; 20]), PeerId([9; 20]));
        let enc = h.encode();
        let d = Handshake::decode(&enc).unwrap();
        assert_eq!(d, h);
        assert!(d.supports_extensions() && d.supports_fast());
        let mut bad = enc;
        bad[3] = b'X';
        assert_eq!(Handshake::decode(&bad), Err(WireError::HandshakeProtocol));
        assert_eq!(Handshake::decode(&enc[..67]), Err(WireError::HandshakeLength(67)));
    }

    #[test]
    fn ext_handshake_round_trip_and_bounds() {
        let mut hs = ExtHandshake {
            client: Some("lt 0.1".into()),
            listen_port: Some(6881),
            reqq: Some(500),
            ..Default::default()
        };
        hs.m.insert("ut_metadata".into(), 3);
        hs.your_ip = Some("127.0.0.1".parse().unwrap());
        assert_eq!(ExtHandshake::decode(&hs.encode()).unwrap(), hs);
        let odd = ExtHandshake::decode(b"d1:md2:uti999e1:xi2ee1:pi70000e4:reqqi-1ee").unwrap();
        assert_eq!(odd.m.len(), 1);
        assert_eq!(odd.listen_port, None);
        assert_eq!(odd.reqq, None);
        assert!(ExtHandshake::decode(b"i1e").is_err());
        assert!(ExtHandshake::decode(b"garbage").is_err());
    }
}
