//! KRPC, the DHT's message format (BEP 5): a bencoded dictionary per UDP
//! packet, a query (`y`=`q`), a response (`y`=`r`) or an error (`y`=`e`).
//!
//! Decoding is strict and bounded: the packet size, the transaction id, the
//! token, the number of nodes and of peers are all capped, every id is 20
//! bytes, and a key of the wrong type is an error naming it. A response does
//! not say which query it answers; the caller knows from the transaction id,
//! so [`Response`] carries every optional field.

use std::net::SocketAddr;

use super::{decode_compact_peer, encode_compact_nodes, encode_compact_peer, NodeEntry, NodeId};
use super::{COMPACT_PEER_V4, COMPACT_PEER_V6};
use crate::proto::bencode::{self, Limits, Value};

/// The largest packet accepted. DHT messages fit one Ethernet frame; a
/// reply with 100 peers and 8 nodes is about 1.3 KB.
pub const MAX_MESSAGE_SIZE: usize = 2048;
/// The longest transaction id accepted (libtorrent sends 2 bytes).
pub const MAX_TRANSACTION_ID: usize = 16;
/// The longest write token accepted (libtorrent's are 4 bytes, BEP 5 sets
/// no limit; 64 leaves room for any sane scheme).
pub const MAX_TOKEN: usize = 64;
/// Most nodes in one `nodes` or `nodes6` string (k is 8; some nodes send
/// up to 16).
pub const MAX_NODES: usize = 16;
/// Most peers in one `values` list.
pub const MAX_VALUES: usize = 200;
/// Longest error message or client version string kept.
pub const MAX_TEXT: usize = 256;

/// A KRPC message that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("KRPC message of {0} bytes, more than {MAX_MESSAGE_SIZE}")]
    TooLarge(usize),
    #[error("KRPC message: {0}")]
    Bencode(#[from] bencode::Error),
    #[error("KRPC message is not a dictionary")]
    NotADict,
    #[error("KRPC message: '{0}' is missing")]
    Missing(&'static str),
    #[error("KRPC message: '{0}' has the wrong type")]
    WrongType(&'static str),
    #[error("KRPC message: '{key}' is {len} bytes, expected {expected}")]
    BadLength { key: &'static str, len: usize, expected: &'static str },
    #[error("KRPC message: '{key}' has {count} entries, more than {max}")]
    TooMany { key: &'static str, count: usize, max: usize },
    #[error("KRPC message: unknown message type '{0}'")]
    UnknownType(String),
    #[error("KRPC message: unknown query '{0}'")]
    UnknownQuery(String),
    #[error("KRPC message: port {0} out of range")]
    BadPort(i64),
}

/// The four queries of BEP 5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    Ping,
    FindNode {
        target: NodeId,
    },
    /// `noseed` (BEP 33): leave seeds out of the reply.
    GetPeers {
        info_hash: NodeId,
        noseed: bool,
    },
    /// `seed` (BEP 33): the announcing peer is a seed.
    AnnouncePeer {
        info_hash: NodeId,
        port: u16,
        implied_port: bool,
        token: Vec<u8>,
        seed: bool,
    },
}

impl Query {
    /// The method name on the wire.
    pub fn method(&self) -> &'static str {
        match self {
            Query::Ping => "ping",
            Query::FindNode { .. } => "find_node",
            Query::GetPeers { .. } => "get_peers",
            Query::AnnouncePeer { .. } => "announce_peer",
        }
    }
}

/// A response's fields; which are present depends on the query answered.
/// `nodes` holds both families: IPv4 nodes travel in `nodes`, IPv6 ones in
/// BEP 32's `nodes6`; `values` holds IPv4 and IPv6 peers alike.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub nodes: Vec<NodeEntry>,
    pub values: Vec<SocketAddr>,
    pub token: Option<Vec<u8>>,
}

/// What a message is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Query { id: NodeId, query: Query },
    Response { id: NodeId, response: Response },
    Error { code: i64, message: String },
}

/// One KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The transaction id, echoed by the answer.
    pub tid: Vec<u8>,
    pub body: Body,
    /// BEP 43: the sender is read-only (queries only).
    pub read_only: bool,
    /// BEP 42: in a response, the address the answering node saw us at.
    pub your_ip: Option<SocketAddr>,
    /// The sender's client version (`v`), when it sent a short one.
    pub version: Option<Vec<u8>>,
}

/// KRPC error codes of BEP 5.
pub mod error_code {
    pub const GENERIC: i64 = 201;
    pub const SERVER: i64 = 202;
    pub const PROTOCOL: i64 = 203;
    pub const METHOD_UNKNOWN: i64 = 204;
}

fn bytes<'a>(d: &Value<'a>, key: &'static str) -> Result<&'a [u8], Error> {
    d.get(key).ok_or(Error::Missing(key))?.as_bytes().ok_or(Error::WrongType(key))
}

fn id20(d: &Value<'_>, key: &'static str) -> Result<NodeId, Error> {
    let b = bytes(d, key)?;
    let a: [u8; 20] = b.try_into().map_err(|_| Error::BadLength { key, len: b.len(), expected: "20" })?;
    Ok(NodeId(a))
}

/// Reads a compact `nodes` (IPv4, 26-byte entries) or `nodes6` (IPv6,
/// 38-byte entries) string of at most `MAX_NODES` entries.
pub fn decode_compact_nodes(b: &[u8], key: &'static str) -> Result<Vec<NodeEntry>, Error> {
    let ipv6 = key == "nodes6";
    let nodes = super::decode_compact_nodes(b, ipv6).ok_or(Error::BadLength {
        key,
        len: b.len(),
        expected: if ipv6 { "a multiple of 38" } else { "a multiple of 26" },
    })?;
    if nodes.len() > MAX_NODES {
        return Err(Error::TooMany { key, count: nodes.len(), max: MAX_NODES });
    }
    Ok(nodes)
}

fn decode_response(r: &Value<'_>) -> Result<Response, Error> {
    let mut out = Response::default();
    for key in ["nodes", "nodes6"] {
        if let Some(n) = r.get(key) {
            out.nodes.extend(decode_compact_nodes(n.as_bytes().ok_or(Error::WrongType(key))?, key)?);
        }
    }
    if let Some(v) = r.get("values") {
        let list = v.as_list().ok_or(Error::WrongType("values"))?;
        if list.len() > MAX_VALUES {
            return Err(Error::TooMany { key: "values", count: list.len(), max: MAX_VALUES });
        }
        for item in list {
            let b = item.as_bytes().ok_or(Error::WrongType("values"))?;
            match b.len() {
                COMPACT_PEER_V4 | COMPACT_PEER_V6 => out.values.extend(decode_compact_peer(b)),
                len => return Err(Error::BadLength { key: "values", len, expected: "6 or 18" }),
            }
        }
    }
    if let Some(t) = r.get("token") {
        out.token = Some(token(t.as_bytes().ok_or(Error::WrongType("token"))?)?.to_vec());
    }
    Ok(out)
}

fn token(t: &[u8]) -> Result<&[u8], Error> {
    if t.is_empty() || t.len() > MAX_TOKEN {
        return Err(Error::BadLength { key: "token", len: t.len(), expected: "1 to 64" });
    }
    Ok(t)
}

/// An optional integer flag: absent is false.
fn flag(a: &Value<'_>, key: &'static str) -> Result<bool, Error> {
    match a.get(key) {
        None => Ok(false),
        Some(v) => Ok(v.as_int().ok_or(Error::WrongType(key))? != 0),
    }
}

fn decode_query(method: &[u8], a: &Value<'_>) -> Result<Query, Error> {
    Ok(match method {
        b"ping" => Query::Ping,
        b"find_node" => Query::FindNode { target: id20(a, "target")? },
        b"get_peers" => Query::GetPeers { info_hash: id20(a, "info_hash")?, noseed: flag(a, "noseed")? },
        b"announce_peer" => {
            let implied_port = flag(a, "implied_port")?;
            let port = a.get("port").map(|v| v.as_int().ok_or(Error::WrongType("port"))).transpose()?;
            let port = match (port, implied_port) {
                (Some(p), _) if (1..=65535).contains(&p) => p as u16,
                // The source port is used instead; the value is not needed.
                (None, true) => 0,
                (Some(p), true) if (0..=65535).contains(&p) => 0,
                (Some(p), _) => return Err(Error::BadPort(p)),
                (None, false) => return Err(Error::Missing("port")),
            };
            let token = token(bytes(a, "token")?)?.to_vec();
            let seed = flag(a, "seed")?;
            Query::AnnouncePeer { info_hash: id20(a, "info_hash")?, port, implied_port, token, seed }
        }
        other => return Err(Error::UnknownQuery(String::from_utf8_lossy(other).into_owned())),
    })
}

/// Decodes one packet. The whole packet must be one dictionary.
pub fn decode(packet: &[u8]) -> Result<Message, Error> {
    if packet.len() > MAX_MESSAGE_SIZE {
        return Err(Error::TooLarge(packet.len()));
    }
    let root = bencode::decode_with(packet, Limits { max_depth: 6, max_items: 512 })?;
    if root.as_dict().is_none() {
        return Err(Error::NotADict);
    }
    let tid = bytes(&root, "t")?;
    if tid.len() > MAX_TRANSACTION_ID {
        return Err(Error::BadLength { key: "t", len: tid.len(), expected: "at most 16" });
    }
    let read_only = match root.get("ro") {
        None => false,
        Some(v) => v.as_int().ok_or(Error::WrongType("ro"))? == 1,
    };
    let version = root.get("v").and_then(|v| v.as_bytes()).filter(|v| v.len() <= 16).map(<[u8]>::to_vec);
    let your_ip = match root.get("ip").map(|v| v.as_bytes().ok_or(Error::WrongType("ip"))).transpose()? {
        Some(b) if b.len() == COMPACT_PEER_V4 || b.len() == COMPACT_PEER_V6 => decode_compact_peer(b),
        Some(b) => return Err(Error::BadLength { key: "ip", len: b.len(), expected: "6 or 18" }),
        None => None,
    };
    let body = match bytes(&root, "y")? {
        b"q" => {
            let method = bytes(&root, "q")?;
            let a = root.get("a").ok_or(Error::Missing("a"))?;
            if a.as_dict().is_none() {
                return Err(Error::WrongType("a"));
            }
            Body::Query { id: id20(a, "id")?, query: decode_query(method, a)? }
        }
        b"r" => {
            let r = root.get("r").ok_or(Error::Missing("r"))?;
            if r.as_dict().is_none() {
                return Err(Error::WrongType("r"));
            }
            Body::Response { id: id20(r, "id")?, response: decode_response(r)? }
        }
        b"e" => {
            let e = root.get("e").ok_or(Error::Missing("e"))?.as_list().ok_or(Error::WrongType("e"))?;
            let code = e.first().and_then(Value::as_int).ok_or(Error::WrongType("e"))?;
            let text = e.get(1).and_then(Value::as_bytes).unwrap_or_default();
            let message = String::from_utf8_lossy(&text[..text.len().min(MAX_TEXT)]).into_owned();
            Body::Error { code, message }
        }
        other => return Err(Error::UnknownType(String::from_utf8_lossy(other).into_owned())),
    };
    Ok(Message { tid: tid.to_vec(), body, read_only, your_ip, version })
}

/// The transaction id and method name of a packet that is a well-formed
/// bencoded query but otherwise unusable, so it can be answered with an
/// error (BEP 5) and counted by method.
pub fn query_header(packet: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if packet.len() > MAX_MESSAGE_SIZE {
        return None;
    }
    let root = bencode::decode_with(packet, Limits { max_depth: 6, max_items: 512 }).ok()?;
    if root.get("y")?.as_bytes()? != b"q" {
        return None;
    }
    let tid = root.get("t")?.as_bytes()?;
    let method = root.get("q")?.as_bytes()?;
    (tid.len() <= MAX_TRANSACTION_ID && method.len() <= 32).then(|| (tid.to_vec(), method.to_vec()))
}

/// Messages lt builds carry no client version (`v`): its two-letter code
/// would be "LT", which is libtorrent's, and lt must not pass for it.
impl Message {
    /// A query from node `id`.
    pub fn query(tid: Vec<u8>, id: NodeId, query: Query, read_only: bool) -> Message {
        Message { tid, body: Body::Query { id, query }, read_only, your_ip: None, version: None }
    }

    /// A response from node `id` to a sender seen at `to` (BEP 42 `ip`).
    pub fn response(tid: Vec<u8>, id: NodeId, response: Response, to: SocketAddr) -> Message {
        Message {
            tid,
            body: Body::Response { id, response },
            read_only: false,
            your_ip: Some(to),
            version: None,
        }
    }

    /// An error answer.
    pub fn error(tid: Vec<u8>, code: i64, message: &str) -> Message {
        Message {
            tid,
            body: Body::Error { code, message: message.to_string() },
            read_only: false,
            your_ip: None,
            version: None,
        }
    }

    /// The canonical bencoding of the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut ip_buf = Vec::new();
        let (nodes_buf, nodes6_buf);
        let values_buf: Vec<Vec<u8>>;
        let mut top = Vec::new();
        top.push(("t", Value::Bytes(&self.tid)));
        match &self.body {
            Body::Query { id, query } => {
                let mut a = vec![("id", Value::Bytes(&id.0))];
                match query {
                    Query::Ping => {}
                    Query::FindNode { target } => a.push(("target", Value::Bytes(&target.0))),
                    Query::GetPeers { info_hash, noseed } => {
                        a.push(("info_hash", Value::Bytes(&info_hash.0)));
                        if *noseed {
                            a.push(("noseed", Value::Int(1)));
                        }
                    }
                    Query::AnnouncePeer { info_hash, port, implied_port, token, seed } => {
                        a.push(("info_hash", Value::Bytes(&info_hash.0)));
                        a.push(("port", Value::Int(*port as i64)));
                        a.push(("token", Value::Bytes(token)));
                        if *implied_port {
                            a.push(("implied_port", Value::Int(1)));
                        }
                        if *seed {
                            a.push(("seed", Value::Int(1)));
                        }
                    }
                }
                top.push(("y", Value::Bytes(b"q")));
                top.push(("q", Value::Bytes(query.method().as_bytes())));
                top.push(("a", bencode::dict(a)));
                if self.read_only {
                    top.push(("ro", Value::Int(1)));
                }
            }
            Body::Response { id, response } => {
                let mut r = vec![("id", Value::Bytes(&id.0))];
                nodes_buf = encode_compact_nodes(&response.nodes, false);
                if !nodes_buf.is_empty() {
                    r.push(("nodes", Value::Bytes(&nodes_buf)));
                }
                nodes6_buf = encode_compact_nodes(&response.nodes, true);
                if !nodes6_buf.is_empty() {
                    r.push(("nodes6", Value::Bytes(&nodes6_buf)));
                }
                if let Some(t) = &response.token {
                    r.push(("token", Value::Bytes(t)));
                }
                if !response.values.is_empty() {
                    values_buf = response
                        .values
                        .iter()
                        .map(|a| {
                            let mut b = Vec::with_capacity(COMPACT_PEER_V6);
                            encode_compact_peer(a, &mut b);
                            b
                        })
                        .collect();
                    r.push(("values", Value::List(values_buf.iter().map(|b| Value::Bytes(b)).collect())));
                }
                top.push(("y", Value::Bytes(b"r")));
                top.push(("r", bencode::dict(r)));
            }
            Body::Error { code, message } => {
                top.push(("y", Value::Bytes(b"e")));
                top.push(("e", Value::List(vec![Value::Int(*code), Value::Bytes(message.as_bytes())])));
            }
        }
        if let Some(addr) = self.your_ip {
            encode_compact_peer(&addr, &mut ip_buf);
            top.push(("ip", Value::Bytes(&ip_buf)));
        }
        if let Some(v) = &self.version {
            top.push(("v", Value::Bytes(v)));
        }
        bencode::dict(top).encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> NodeId {
        NodeId([b; 20])
    }

    #[test]
    fn every_message_round_trips() {
        let peers: Vec<SocketAddr> =
            vec!["10.0.0.1:6881".parse().unwrap(), "[2001:db8::1]:6882".parse().unwrap()];
        let nodes = vec![
            NodeEntry { id: id(7), addr: "1.2.3.4:5".parse().unwrap() },
            NodeEntry { id: id(8), addr: "[2001:db8::2]:6".parse().unwrap() },
        ];
        let messages = [
            Message::query(b"aa".to_vec(), id(1), Query::Ping, false),
            Message::query(b"ab".to_vec(), id(1), Query::FindNode { target: id(2) }, true),
            Message::query(b"ac".to_vec(), id(1), Query::GetPeers { info_hash: id(3), noseed: true }, false),
            Message::query(
                b"ad".to_vec(),
                id(1),
                Query::AnnouncePeer {
                    info_hash: id(3),
                    port: 6881,
                    implied_port: false,
                    token: b"tok".to_vec(),
                    seed: true,
                },
                false,
            ),
            Message::response(
                b"ae".to_vec(),
                id(4),
                Response { nodes, values: peers, token: Some(b"xyz".to_vec()) },
                "[2001:db8::9]:1".parse().unwrap(),
            ),
            Message::error(b"af".to_vec(), error_code::PROTOCOL, "bad"),
        ];
        for m in messages {
            let wire = m.encode();
            assert_eq!(decode(&wire).unwrap(), m, "{}", String::from_utf8_lossy(&wire));
        }
    }

    #[test]
    fn bep5_example_ping_decodes() {
        let m = decode(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe").unwrap();
        assert_eq!(m.tid, b"aa");
        assert_eq!(m.body, Body::Query { id: NodeId(*b"abcdefghij0123456789"), query: Query::Ping });
        let r = decode(b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re").unwrap();
        assert!(matches!(r.body, Body::Response { .. }));
    }

    fn err(packet: &[u8]) -> Error {
        decode(packet).unwrap_err()
    }

    #[test]
    fn malformed_messages_are_refused_with_a_reason() {
        assert_eq!(err(&vec![b'x'; MAX_MESSAGE_SIZE + 1]), Error::TooLarge(MAX_MESSAGE_SIZE + 1));
        assert_eq!(err(b"li1ee"), Error::NotADict);
        assert!(matches!(err(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q"), Error::Bencode(_)));
        assert_eq!(err(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:y1:qe"), Error::Missing("t"));
        assert_eq!(err(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:ti1e1:y1:qe"), Error::WrongType("t"));
        assert!(matches!(
            err(b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe"),
            Error::BadLength { key: "id", len: 3, .. }
        ));
        assert_eq!(err(b"d1:ai5e1:q4:ping1:t2:aa1:y1:qe"), Error::WrongType("a"));
        assert_eq!(
            err(b"d1:ad2:id20:abcdefghij0123456789e1:q3:foo1:t2:aa1:y1:qe"),
            Error::UnknownQuery("foo".into())
        );
        assert_eq!(err(b"d1:t2:aa1:y1:ze"), Error::UnknownType("z".into()));
        let long_tid = format!("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t17:{}1:y1:qe", "t".repeat(17));
        assert!(matches!(err(long_tid.as_bytes()), Error::BadLength { key: "t", .. }));
        assert_eq!(err(b"d1:e4:oops1:t2:aa1:y1:ee"), Error::WrongType("e"));
    }

    fn announce(args: &str) -> Result<Message, Error> {
        let a = format!("d2:id20:abcdefghij0123456789{args}e");
        decode(format!("d1:a{a}1:q13:announce_peer1:t2:aa1:y1:qe").as_bytes())
    }

    #[test]
    fn announce_checks_token_port_and_info_hash() {
        let ok = announce("9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token2:tk").unwrap();
        assert!(matches!(ok.body, Body::Query { query: Query::AnnouncePeer { port: 6881, .. }, .. }));
        // No token, an empty one, an absurd one, a token of the wrong type.
        assert_eq!(announce("9:info_hash20:mnopqrstuvwxyz1234564:porti6881e"), Err(Error::Missing("token")));
        assert!(matches!(
            announce("9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token0:"),
            Err(Error::BadLength { key: "token", len: 0, .. })
        ));
        let huge = format!("9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token65:{}", "k".repeat(65));
        assert!(matches!(announce(&huge), Err(Error::BadLength { key: "token", len: 65, .. })));
        assert_eq!(
            announce("9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:tokeni5e"),
            Err(Error::WrongType("token"))
        );
        assert_eq!(
            announce("9:info_hash20:mnopqrstuvwxyz1234564:porti0e5:token2:tk"),
            Err(Error::BadPort(0))
        );
        assert_eq!(
            announce("9:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token2:tk"),
            Err(Error::BadPort(70000))
        );
        assert_eq!(announce("9:info_hash20:mnopqrstuvwxyz1234565:token2:tk"), Err(Error::Missing("port")));
        let implied = announce("12:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234565:token2:tk").unwrap();
        assert!(matches!(
            implied.body,
            Body::Query { query: Query::AnnouncePeer { implied_port: true, .. }, .. }
        ));
        assert_eq!(announce("4:porti1e5:token2:tk"), Err(Error::Missing("info_hash")));
    }

    fn response(r: &str) -> Result<Message, Error> {
        decode(format!("d1:rd2:id20:abcdefghij0123456789{r}e1:t2:aa1:y1:re").as_bytes())
    }

    #[test]
    fn responses_bound_nodes_and_values() {
        let one = "n".repeat(26);
        let m = response(&format!("5:nodes26:{one}")).unwrap();
        let Body::Response { response: r, .. } = m.body else { panic!() };
        assert_eq!(r.nodes.len(), 1);
        assert!(matches!(response(&format!("5:nodes25:{}", "n".repeat(25))), Err(Error::BadLength { .. })));
        let many = "n".repeat(26 * 17);
        assert_eq!(
            response(&format!("5:nodes{}:{many}", many.len())),
            Err(Error::TooMany { key: "nodes", count: 17, max: MAX_NODES })
        );
        assert_eq!(response("5:nodesi1e"), Err(Error::WrongType("nodes")));
        assert_eq!(response("6:values3:abc"), Err(Error::WrongType("values")));
        assert!(matches!(response("6:valuesl5:abcdee"), Err(Error::BadLength { key: "values", len: 5, .. })));
        let values: String = (0..MAX_VALUES + 1).map(|_| "6:abcdef").collect();
        assert!(matches!(
            response(&format!("6:valuesl{values}e")),
            Err(Error::TooMany { key: "values", .. })
        ));
        assert!(matches!(response("5:token0:"), Err(Error::BadLength { key: "token", .. })));
        // The packet bound comes first, whatever it holds.
        let absurd = format!("6:valuesl{}e", "6:abcdef".repeat(300));
        assert!(matches!(response(&absurd), Err(Error::TooLarge(_))));
    }

    #[test]
    fn a_malformed_query_still_names_its_transaction_and_method() {
        let bad_token = b"d1:ad2:id20:abcdefghij0123456789e1:q13:announce_peer1:t2:xy1:y1:qe";
        assert!(decode(bad_token).is_err());
        assert_eq!(query_header(bad_token), Some((b"xy".to_vec(), b"announce_peer".to_vec())));
        assert_eq!(query_header(b"d1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:re"), None, "not a query");
        assert_eq!(query_header(b"garbage"), None);
    }

    #[test]
    fn compact_formats() {
        let n = NodeEntry { id: id(9), addr: "1.2.3.4:258".parse().unwrap() };
        let n6 = NodeEntry { id: id(10), addr: "[::1]:258".parse().unwrap() };
        let b = encode_compact_nodes(&[n, n6], false);
        assert_eq!(&b[20..], &[1, 2, 3, 4, 1, 2]);
        assert_eq!(decode_compact_nodes(&b, "nodes").unwrap(), vec![n]);
        let b6 = encode_compact_nodes(&[n, n6], true);
        assert_eq!(b6.len(), 38);
        assert_eq!(&b6[20..], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2]);
        assert_eq!(decode_compact_nodes(&b6, "nodes6").unwrap(), vec![n6]);
        assert!(matches!(
            decode_compact_nodes(&b, "nodes6"),
            Err(Error::BadLength { key: "nodes6", len: 26, .. })
        ));
        // A reply carrying both lists (BEP 32) gives both families.
        let mut reply = b"d1:rd2:id20:abcdefghij01234567895:nodes26:".to_vec();
        reply.extend_from_slice(&b);
        reply.extend_from_slice(b"6:nodes638:");
        reply.extend_from_slice(&b6);
        reply.extend_from_slice(b"e1:t2:aa1:y1:re");
        match decode(&reply).unwrap().body {
            Body::Response { response, .. } => assert_eq!(response.nodes, vec![n, n6]),
            other => panic!("{other:?}"),
        }
    }
}
