//! The engine's error type: a kind that the C layer maps to a code, and a
//! message written for the person reading the log.

use std::fmt;

/// What went wrong, coarsely. The FFI layer maps each kind to one `lt_error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An argument was out of range or malformed.
    InvalidArgument,
    /// A setting name is not known.
    UnknownSetting,
    /// A torrent id that does not (or no longer) exist.
    InvalidHandle,
    /// A .torrent file or info dictionary that cannot be used.
    InvalidTorrent,
    /// A magnet URI that cannot be used.
    InvalidMagnet,
    /// The torrent is already in the session.
    DuplicateTorrent,
    /// Reading or writing files failed.
    Io,
    /// A tracker failed or answered with an error.
    Tracker,
    /// A peer broke the protocol.
    Protocol,
    /// The session is shutting down.
    ShuttingDown,
    /// A bounded wait ran out.
    Timeout,
    /// The operation needs the torrent's metadata, which is not there yet.
    NoMetadata,
    /// Not supported by this build or version.
    NotSupported,
    /// Resume data is malformed or belongs to another torrent.
    InvalidResumeData,
    /// A limit was reached (connections, queue sizes).
    LimitReached,
    /// The caller cancelled the operation (for example from a progress
    /// callback).
    Cancelled,
    /// What was asked for is not there (a rule to remove, an optional
    /// field).
    NotFound,
}

impl ErrorKind {
    /// The kind's name as JSON and CSV write it (`error_code`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_arg",
            ErrorKind::UnknownSetting => "unknown_setting",
            ErrorKind::InvalidHandle => "invalid_handle",
            ErrorKind::InvalidTorrent => "invalid_torrent",
            ErrorKind::InvalidMagnet => "invalid_magnet",
            ErrorKind::DuplicateTorrent => "duplicate_torrent",
            ErrorKind::Io => "io",
            ErrorKind::Tracker => "tracker",
            ErrorKind::Protocol => "protocol",
            ErrorKind::ShuttingDown => "shutting_down",
            ErrorKind::Timeout => "timeout",
            ErrorKind::NoMetadata => "no_metadata",
            ErrorKind::NotSupported => "not_supported",
            ErrorKind::InvalidResumeData => "invalid_resume_data",
            ErrorKind::LimitReached => "limit_reached",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::NotFound => "not_found",
        }
    }
}

/// An engine error: a kind and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn invalid_handle(id: u64) -> Error {
        Error::new(ErrorKind::InvalidHandle, format!("no torrent with id {id} in this session"))
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The engine's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! operations {
    ($($variant:ident = $num:literal, $name:literal;)*) => {
        /// The operation that failed when a connection ended, numbered and
        /// named as libtorrent's `operation_t` so a libtorrent user's tables
        /// carry over. Only the operations lt performs are listed; the
        /// numbers never change.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Operation { $($variant = $num,)* }

        impl Operation {
            /// Every operation, in number order.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant,)*];

            /// libtorrent's name for the operation (`operation_name()`).
            pub fn name(self) -> &'static str {
                match self { $(Operation::$variant => $name,)* }
            }
        }
    };
}

operations! {
    Unknown = 0, "unknown";
    Bittorrent = 1, "bittorrent";
    FileWrite = 7, "file_write";
    FileRead = 8, "file_read";
    SockWrite = 10, "sock_write";
    SockRead = 11, "sock_read";
    SockBind = 13, "sock_bind";
    Encryption = 15, "encryption";
    Connect = 16, "connect";
    SockAccept = 21, "sock_accept";
    HostnameLookup = 38, "hostname_lookup";
    Handshake = 40, "handshake";
}

/// Why a connection ended: the operation that failed and the error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub op: Operation,
    pub error: Error,
}

impl Failure {
    pub fn new(op: Operation, error: Error) -> Failure {
        Failure { op, error }
    }
}

/// Errors raised by the protocol logic itself (a bad message, a timeout,
/// a ban) are the `bittorrent` operation, as in libtorrent.
impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure { op: Operation::Bittorrent, error }
    }
}
