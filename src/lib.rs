//! lt: an embeddable BitTorrent engine with a C ABI.
//!
//! Three layers, each using only the one below it:
//! - [`proto`]: sans-IO protocol code (bencode, metainfo, magnet, peer wire,
//!   tracker formats), pure functions over bytes;
//! - [`engine`]: the tokio engine with a Rust API (sessions, torrents,
//!   peers, storage, trackers, alerts, statistics);
//! - `ffi`: the thin C API that `include/lt.h` declares.

pub mod engine;
pub mod ffi;
pub mod proto;
