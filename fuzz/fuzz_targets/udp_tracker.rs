//! UDP tracker replies (BEP 15): any datagram that reaches our socket.
//!
//! Input: the first byte's low bit says whether the tracker was reached
//! over IPv6 (its peers are then 18-byte entries); the rest is the packet.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use lt::proto::tracker::{parse_udp_response, UdpResponse, MAX_PEERS};

fuzz_target!(|data: &[u8]| {
    let Some((&family, packet)) = data.split_first() else { return };
    let ipv6 = family & 1 == 1;
    let Ok(reply) = parse_udp_response(packet, ipv6) else { return };
    let transaction_id = match &reply {
        UdpResponse::Connect { transaction_id, .. } | UdpResponse::Error { transaction_id, .. } => {
            *transaction_id
        }
        UdpResponse::Announce { transaction_id, peers, .. } => {
            assert!(peers.len() <= MAX_PEERS);
            let stride = if ipv6 { 18 } else { 6 };
            assert!(peers.len() <= (packet.len() - 20) / stride, "more peers than the packet holds");
            for p in peers {
                assert_eq!(matches!(p, SocketAddr::V6(_)), ipv6, "{p} is of the other address family");
            }
            *transaction_id
        }
        UdpResponse::Scrape { transaction_id, entries } => {
            assert_eq!(entries.len() * 12, packet.len() - 8, "scrape entries must fill the packet");
            *transaction_id
        }
    };
    assert_eq!(transaction_id.to_be_bytes(), packet[4..8], "the transaction id is bytes 4..8");
});
