//! The engine: tokio tasks with a Rust API that tests drive directly.
//! Nothing here knows about C.

pub mod alerts;
pub mod bandwidth;
pub mod bounded_read;
pub mod controls;
pub mod create;
pub mod discovery;
pub mod error;
pub mod export;
pub(crate) mod gauges;
pub mod ip_filter;
pub(crate) mod metadata;
pub mod peer;
pub mod piece_picker;
pub mod queue;
pub mod resume;
pub mod session;
pub mod settings;
pub mod stats;
pub mod storage;
pub mod sysinfo;
pub mod thresholds;
pub mod torrent;
pub mod transport;
pub(crate) mod v2;
pub(crate) mod webseed;

pub use discovery::tracker;

pub use alerts::{Alert, AlertKind, AlertType};
pub use error::{Error, ErrorKind, Failure, Operation, Result};
pub use session::{AddTorrentParams, QueueMove, Session, TorrentSource};
pub use settings::Settings;
pub use torrent::{TorrentId, TorrentState, TorrentStatus};
