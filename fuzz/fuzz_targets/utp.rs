//! uTP packets (BEP 29) and one connection's state machine.
//!
//! The whole input is first decoded as one packet: what decodes must
//! encode back to the same header. Then the input is a script for one
//! connection (`engine::transport::utp::conn::Conn`, driven without
//! sockets): the first byte picks whether it dialled or accepted, then
//! each step is an opcode byte and its operands:
//!   0 LEN_HI LEN_LO BYTES  a packet arrives (decoded; undecodable ones skipped)
//!   1 MS_HI MS_LO          the clock moves on and the timer ticks
//!   2 N                    the application writes N * 97 bytes
//!   3 N                    the application reads up to N * 97 bytes
//!   4                      shutdown (FIN); 5: the stream is dropped
//!   6 N                    the socket refused the last N % 32 packets sent
//!                          (as a batched output reports it: `Conn::refused`)
//! Every packet the connection sends must decode, and its buffers must stay
//! within their bounds.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use lt::engine::settings::Settings;
use lt::engine::stats::Counters;
use lt::engine::transport::utp::conn::{Conn, Output, RECV_BUFFER, SEND_BUFFER};
use lt::engine::transport::utp::UtpConfig;
use lt::proto::utp::{decode, Header, PacketType};

/// Checks and counts what the connection sends.
struct Checked {
    sent: usize,
    /// Sequence numbers of the packets sent that are not acks, newest last.
    seqs: Vec<u16>,
}

impl Output for Checked {
    fn send(&mut self, packet: &[u8]) -> bool {
        let (h, payload) = decode(packet).expect("our packets decode");
        assert!(payload.len() <= 1500, "payload of {} bytes", payload.len());
        assert!(h.ty != PacketType::Data || !payload.is_empty(), "empty DATA");
        self.sent += 1;
        if h.ty != PacketType::State {
            if self.seqs.len() == 64 {
                self.seqs.remove(0);
            }
            self.seqs.push(h.seq_nr);
        }
        true
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok((h, payload)) = decode(data) {
        let mut again = Vec::new();
        h.encode_vec(&mut again);
        again.extend_from_slice(payload);
        let (back, back_payload) = decode(&again).expect("an encoded header decodes");
        assert_eq!(back, h);
        assert_eq!(back_payload, payload);
    }

    let Some((&role, mut script)) = data.split_first() else { return };
    let cfg = UtpConfig::from_settings(&Settings::default());
    let counters = Arc::new(Counters::new());
    let mut out = Checked { sent: 0, seqs: Vec::new() };
    let mut now = 0u64;
    let mut conn = if role & 1 == 0 {
        Conn::connect(cfg, counters, 1000, 1, false, now, &mut out)
    } else {
        let syn = Header {
            ty: PacketType::Syn,
            connection_id: 999,
            timestamp_us: 5,
            timestamp_diff_us: 0,
            wnd_size: u32::from(role),
            seq_nr: 77,
            ack_nr: 0,
            sack: None,
        };
        Conn::accept(cfg, counters, &syn, 65500, false, now, &mut out)
    };
    let app_data = [0x5au8; 97 * 255];
    let mut read_buf = vec![0u8; 97 * 255];
    while let Some((&op, rest)) = script.split_first() {
        script = rest;
        match op % 7 {
            0 => {
                let [hi, lo, tail @ ..] = script else { return };
                let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
                let (packet, tail) = tail.split_at(len);
                script = tail;
                if let Ok((h, payload)) = decode(packet) {
                    conn.on_packet(&h, payload, now, &mut out);
                }
            }
            1 => {
                let [hi, lo, tail @ ..] = script else { return };
                script = tail;
                now += u64::from(u16::from_be_bytes([*hi, *lo])) * 1000;
                conn.on_tick(now, &mut out);
            }
            2 | 3 => {
                let [n, tail @ ..] = script else { return };
                script = tail;
                let len = usize::from(*n) * 97;
                if op % 7 == 2 {
                    conn.write(&app_data[..len], now, &mut out);
                } else {
                    conn.read(&mut read_buf[..len], now, &mut out);
                }
            }
            4 => conn.shutdown(now, &mut out),
            5 => conn.close(now, &mut out),
            _ => {
                let [n, tail @ ..] = script else { return };
                script = tail;
                let k = usize::from(*n % 32).min(out.seqs.len());
                let refused = out.seqs.split_off(out.seqs.len() - k);
                conn.refused(&refused);
            }
        }
        assert!(conn.readable() <= RECV_BUFFER);
        assert!(conn.writable() <= SEND_BUFFER);
        let _ = conn.take_wake();
    }
});
