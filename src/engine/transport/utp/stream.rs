//! [`UtpStream`]: one uTP connection as a tokio byte stream.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::conn::State;
use super::Shared;

/// A uTP connection. Reads take bytes out of the receive queue, writes
/// copy into packet buffers that go out as the windows allow (a write
/// waits while the send buffer is full). `poll_shutdown` sends FIN;
/// dropping the stream sends the rest and FIN, then the socket forgets it.
pub struct UtpStream {
    shared: Arc<Shared>,
}

impl UtpStream {
    pub(super) fn new(shared: Arc<Shared>) -> UtpStream {
        UtpStream { shared }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.peer
    }

    /// Current congestion window in bytes (diagnostics).
    pub fn congestion_window(&self) -> usize {
        self.shared.slot.lock().conn.cwnd()
    }

    /// Current payload bytes per full packet (grows with MTU probing).
    pub fn packet_payload(&self) -> usize {
        self.shared.slot.lock().conn.mss()
    }

    /// Resolves once the handshake is done or failed.
    pub(super) async fn wait_connected(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            let mut slot = self.shared.slot.lock();
            if let Some(f) = slot.conn.failure() {
                return Poll::Ready(Err(f.io_error()));
            }
            if slot.conn.state() != State::SynSent {
                return Poll::Ready(Ok(()));
            }
            slot.write_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl AsyncRead for UtpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.shared.with_slot(|slot, out, now| {
            let c = &mut slot.conn;
            if c.readable() > 0 {
                let n = c.read(buf.initialize_unfilled(), now, out);
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            if c.eof() {
                return Poll::Ready(Ok(()));
            }
            if let Some(f) = c.failure() {
                return Poll::Ready(Err(f.io_error()));
            }
            slot.read_waker = Some(cx.waker().clone());
            Poll::Pending
        })
    }
}

impl AsyncWrite for UtpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.shared.with_slot(|slot, out, now| {
            let c = &mut slot.conn;
            if let Some(f) = c.failure() {
                return Poll::Ready(Err(f.io_error()));
            }
            if c.write_closed() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "uTP: write after shutdown",
                )));
            }
            if data.is_empty() {
                return Poll::Ready(Ok(0));
            }
            match c.write(data, now, out) {
                0 => {
                    slot.write_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                n => Poll::Ready(Ok(n)),
            }
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written data is already queued for sending; there is no buffer
        // in front of the connection to push down.
        let failure = self.shared.slot.lock().conn.failure();
        Poll::Ready(failure.map_or(Ok(()), |f| Err(f.io_error())))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.with(|c, out, now| c.shutdown(now, out));
        Poll::Ready(Ok(()))
    }
}

impl Drop for UtpStream {
    fn drop(&mut self) {
        self.shared.with(|c, out, now| c.close(now, out));
    }
}
