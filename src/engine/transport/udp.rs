//! The UDP socket of one listen interface: a receive loop that routes each
//! datagram by its shape, and a send path every protocol shares.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::{classify, DatagramHandler, PacketKind};
use crate::engine::stats::{Counters, Metric};

/// Largest datagram read. Anything longer is truncated by the kernel and
/// then fails its protocol's checks.
const RECV_BUFFER: usize = 65536;
/// Kernel receive and send buffer asked for (bytes).
const SOCKET_BUFFER: usize = 2 << 20;
/// Datagrams read in one go before the handlers hear the queue is drained
/// (and the task yields): bounds the delay of uTP's batched acks.
const RECV_BATCH: usize = 64;

/// One UDP socket shared by the protocols of an interface.
pub struct UdpTransport {
    socket: UdpSocket,
    /// The same socket as a plain non-blocking one, for sending from any
    /// thread without waiting: tokio's `try_send_to` refuses until its
    /// reactor has seen the socket writable, which drops the first datagrams.
    sender: std::net::UdpSocket,
    local: SocketAddr,
    counters: Arc<Counters>,
    /// The handler of DHT datagrams. UDP trackers get a slot when they land.
    dht: RwLock<Option<Arc<dyn DatagramHandler>>>,
    /// The handler of uTP datagrams.
    utp: RwLock<Option<Arc<dyn DatagramHandler>>>,
}

impl UdpTransport {
    /// Binds `addr` (the TCP listener's address, port included).
    /// Must run inside the session's runtime.
    pub fn bind(addr: SocketAddr, counters: Arc<Counters>) -> std::io::Result<Arc<UdpTransport>> {
        let std_socket = super::listen::bind_udp(addr)?;
        // uTP moves bulk data through this socket: a congestion window's
        // burst must fit in the kernel's queues, or it is lost before the
        // receive task runs. Best effort: the kernel may cap the sizes.
        let tuned = socket2::SockRef::from(&std_socket);
        for r in [tuned.set_recv_buffer_size(SOCKET_BUFFER), tuned.set_send_buffer_size(SOCKET_BUFFER)] {
            if let Err(e) = r {
                tracing::debug!(error = %e, "udp socket buffer size not raised");
            }
        }
        let sender = std_socket.try_clone()?;
        let socket = UdpSocket::from_std(std_socket)?;
        let local = socket.local_addr()?;
        Ok(Arc::new(UdpTransport {
            socket,
            sender,
            local,
            counters,
            dht: RwLock::new(None),
            utp: RwLock::new(None),
        }))
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Routes DHT datagrams to `handler` (or, with `None`, drops them).
    pub fn set_dht_handler(&self, handler: Option<Arc<dyn DatagramHandler>>) {
        *self.dht.write() = handler;
    }

    /// Routes uTP datagrams to `handler` (or, with `None`, drops them).
    pub fn set_utp_handler(&self, handler: Option<Arc<dyn DatagramHandler>>) {
        *self.utp.write() = handler;
    }

    /// Sends one datagram without waiting: when the socket's buffer is
    /// full the datagram is dropped, as UDP would drop it further on
    /// (every protocol here retries on its own). Answers whether it left.
    pub fn send_to(&self, packet: &[u8], to: SocketAddr) -> bool {
        match self.sender.send_to(packet, to) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(to = %to, error = %e, "udp send failed");
                self.counters.add(Metric::UdpSendErrors, 1);
                false
            }
        }
    }

    /// Receives until `shutdown`, handing each datagram to its protocol.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.socket.recv_from(&mut buf) => r,
            };
            let (n, from) = match received {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port unreachable shows up here on some systems;
                    // the socket itself is fine.
                    tracing::trace!(error = %e, "udp receive error");
                    continue;
                }
            };
            self.dispatch(from, &buf[..n]);
            // Read what else is queued without waiting, then tell the
            // handlers the burst is over.
            for _ in 1..RECV_BATCH {
                match self.socket.try_recv_from(&mut buf) {
                    Ok((n, from)) => self.dispatch(from, &buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => tracing::trace!(error = %e, "udp receive error"),
                }
            }
            let utp = self.utp.read().clone();
            if let Some(h) = utp {
                h.on_drained();
            }
        }
    }

    fn dispatch(&self, from: SocketAddr, packet: &[u8]) {
        self.counters.add(Metric::UdpPacketsIn, 1);
        let kind = classify(packet);
        let handler = match kind {
            PacketKind::Dht => self.dht.read().clone(),
            PacketKind::Utp => self.utp.read().clone(),
            PacketKind::UdpTracker | PacketKind::Unknown => None,
        };
        match handler {
            Some(h) => h.on_datagram(from, packet),
            None => self.counters.add(
                match kind {
                    PacketKind::Dht => Metric::UdpDhtDropped,
                    PacketKind::Utp => Metric::UdpUtpDropped,
                    PacketKind::UdpTracker => Metric::UdpTrackerDropped,
                    PacketKind::Unknown => Metric::UdpUnknownDropped,
                },
                1,
            ),
        }
    }
}
