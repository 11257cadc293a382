//! DHT datagrams (KRPC, BEP 5): any packet that reaches the UDP socket.
//!
//! Each input is decoded under the bounds of `proto::dht::krpc`; what
//! decodes must encode back to a message that decodes to the same value.
//! Then the packet goes to a DHT node, which must neither panic nor answer
//! with more than one datagram.
#![no_main]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use lt::engine::discovery::dht::node::{Config, Node};
use lt::engine::settings::Settings;
use lt::engine::stats::Counters;
use lt::proto::dht::krpc::{decode, Body, MAX_NODES, MAX_TOKEN, MAX_TRANSACTION_ID, MAX_VALUES};
use lt::proto::dht::NodeId;

fuzz_target!(|packet: &[u8]| {
    if let Ok(mut m) = decode(packet) {
        assert!(m.tid.len() <= MAX_TRANSACTION_ID);
        match &m.body {
            Body::Response { response, .. } => {
                assert!(response.nodes.len() <= 2 * MAX_NODES, "nodes and nodes6");
                assert!(response.values.len() <= MAX_VALUES);
                assert!(response.token.as_ref().is_none_or(|t| !t.is_empty() && t.len() <= MAX_TOKEN));
            }
            Body::Query { .. } | Body::Error { .. } => {}
        }
        // What lt encodes: no client version, read-only only on queries.
        m.version = None;
        m.read_only &= matches!(m.body, Body::Query { .. });
        let again = decode(&m.encode()).expect("an encoded message decodes");
        assert_eq!(again, m);
    }
    let now = Instant::now();
    let cfg = Config::from_settings(&Settings::default());
    let mut node = Node::new(NodeId([7; 20]), Arc::new(Counters::new()), now);
    let from: SocketAddr = "198.51.100.1:6881".parse().unwrap();
    node.incoming(from, packet, &cfg, now);
    let (out, _) = node.drain();
    assert!(out.iter().filter(|(to, _)| *to == from).count() <= 2, "at most an answer and a ping");
});
