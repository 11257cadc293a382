//! The byte stream of a peer connection, whatever carries it: a TCP
//! socket, a uTP connection, either of them under message stream
//! encryption. The peer code reads and writes through [`PeerSocket`] and
//! never asks which.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A bidirectional byte stream a peer connection can run on.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// The reading half of a split [`PeerSocket`].
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a split [`PeerSocket`].
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Which protocol carries a peer connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Utp,
}

/// What the encrypted handshake (MSE) agreed on, if it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encryption {
    /// A plain BitTorrent handshake: no MSE.
    None,
    /// MSE ran and chose plaintext for the payload (the handshake's keys
    /// still hid the info-hash).
    Plaintext,
    /// MSE ran and everything after it is RC4.
    Rc4,
}

/// How a connection is carried: shown in the peer's info and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub transport: Transport,
    pub encryption: Encryption,
}

impl Link {
    pub const TCP: Link = Link { transport: Transport::Tcp, encryption: Encryption::None };
}

/// An established stream to a peer. Plain TCP keeps tokio's own split
/// (no lock between the halves); anything else is boxed.
pub enum PeerSocket {
    Tcp(TcpStream),
    Boxed(Box<dyn Stream>),
}

impl PeerSocket {
    /// Splits into halves the reader and writer tasks own.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            PeerSocket::Tcp(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            PeerSocket::Boxed(s) => {
                let (r, w) = tokio::io::split(s);
                (Box::new(r), Box::new(w))
            }
        }
    }
}

impl AsyncRead for PeerSocket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerSocket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            PeerSocket::Boxed(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerSocket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerSocket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            PeerSocket::Boxed(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerSocket::Tcp(s) => Pin::new(s).poll_flush(cx),
            PeerSocket::Boxed(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerSocket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            PeerSocket::Boxed(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
