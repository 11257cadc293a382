//! Sans-IO protocol code: pure functions over bytes, no tokio, no clocks.
//! Every parser here takes untrusted input and answers an error value, never a panic.

pub mod bencode;
pub mod bitfield;
pub mod dht;
pub mod extension;
pub mod ip_filter;
pub mod lsd;
pub mod magnet;
pub mod merkle;
pub mod metainfo;
pub mod mse;
pub mod pex;
pub mod resume;
pub mod tracker;
pub mod types;
pub mod utp;
pub mod webseed;
pub mod wire;
