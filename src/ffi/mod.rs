//! The C API. Thin: pointer, string and enum conversion around the engine's
//! Rust API, panics caught at every entry point, errors mapped to codes.
//! `include/lt.h` is generated from this module by build.rs (cbindgen).
#![allow(non_camel_case_types)]

pub mod alert;
pub mod boundary;
pub mod controls;
pub mod create;
pub mod dht;
pub mod error;
pub mod ip_filter;
pub mod log;
pub mod params;
pub mod session;
pub mod settings;
pub mod stats;
pub mod torrent;
pub mod torrent_info;
pub mod version;

#[cfg(test)]
mod abi_tests;

pub use alert::*;
pub use controls::*;
pub use create::*;
pub use dht::*;
pub use error::*;
pub use ip_filter::*;
pub use log::*;
pub use params::*;
pub use session::*;
pub use settings::*;
pub use stats::*;
pub use torrent::*;
pub use torrent_info::*;
pub use version::*;
