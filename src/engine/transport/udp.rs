//! The UDP socket of one listen interface: a receive loop that routes each
//! datagram by its shape, and a send path every protocol shares.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// Most datagrams one segmented send carries (the kernel's
/// `UDP_MAX_SEGMENTS` is 64 on the oldest kernels that segment).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Most bytes one segmented send carries: under a UDP payload's 65,507.
pub const GSO_MAX_BYTES: usize = 65_000;

/// One read off the socket: `len` bytes from `from`, which are datagrams
/// of `seg_len` bytes each (the last may be shorter) when the kernel
/// coalesced several (UDP GRO), else one datagram of `len` bytes.
struct Received {
    len: usize,
    from: SocketAddr,
    seg_len: usize,
}

/// One UDP socket shared by the protocols of an interface.
pub struct UdpTransport {
    socket: UdpSocket,
    /// The same socket as a plain non-blocking one, for sending from any
    /// thread without waiting: tokio's `try_send_to` refuses until its
    /// reactor has seen the socket writable, which drops the first datagrams.
    sender: std::net::UdpSocket,
    local: SocketAddr,
    counters: Arc<Counters>,
    /// Whether the kernel cuts one buffer into datagrams for us (Linux's
    /// UDP generic segmentation offload, `UDP_SEGMENT`): one system call
    /// and one pass through the stack for a run of uTP packets. Probed at
    /// bind; cleared if a send says the route cannot do it.
    gso: AtomicBool,
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
        let gso = gso::supported(&std_socket);
        // The receiving half of the same: runs of datagrams from one
        // sender arrive in one read (`Received::seg_len`). Best effort.
        gso::enable_gro(&std_socket);
        let sender = std_socket.try_clone()?;
        let socket = UdpSocket::from_std(std_socket)?;
        let local = socket.local_addr()?;
        Ok(Arc::new(UdpTransport {
            socket,
            sender,
            local,
            counters,
            gso: AtomicBool::new(gso),
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

    /// Whether [`UdpTransport::send_segments`] sends a run in one call.
    pub fn segments_in_one_call(&self) -> bool {
        self.gso.load(Ordering::Relaxed)
    }

    /// Sends `buf` as datagrams of `seg_len` bytes each (the last may be
    /// shorter) to `to`: in one system call where the kernel segments,
    /// else one by one. At most [`GSO_MAX_SEGMENTS`] and [`GSO_MAX_BYTES`].
    /// Answers how many datagrams left, from the first: as with
    /// [`UdpTransport::send_to`], the others are dropped.
    pub fn send_segments(&self, buf: &[u8], seg_len: usize, to: SocketAddr) -> usize {
        debug_assert!(
            seg_len > 0 && buf.len() <= GSO_MAX_BYTES && buf.len().div_ceil(seg_len) <= GSO_MAX_SEGMENTS
        );
        let count = buf.len().div_ceil(seg_len);
        if count > 1 && self.gso.load(Ordering::Relaxed) {
            match gso::send(&self.sender, buf, seg_len, to) {
                Ok(_) => return count,
                // The route's device or MTU does not take this run (a
                // segment larger than the path MTU, a tunnel): send it
                // one datagram at a time below. Only "not supported at
                // all" turns segmentation off for good.
                Err(e) if gso::unsupported(&e) => {
                    tracing::debug!(error = %e, "udp segmentation offload refused; sending datagrams singly");
                    self.gso.store(false, Ordering::Relaxed);
                }
                Err(e) if gso::not_for_this_run(&e) => {}
                Err(e) => {
                    tracing::debug!(to = %to, error = %e, "udp send failed");
                    self.counters.add(Metric::UdpSendErrors, 1);
                    return 0;
                }
            }
        }
        buf.chunks(seg_len).take_while(|d| self.send_to(d, to)).count()
    }

    /// Receives until `shutdown`, handing each datagram to its protocol.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.recv(&mut buf) => r,
            };
            let r = match received {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port unreachable shows up here on some systems;
                    // the socket itself is fine.
                    tracing::trace!(error = %e, "udp receive error");
                    continue;
                }
            };
            let mut datagrams = self.dispatch_all(&r, &buf);
            // Read what else is queued without waiting, then tell the
            // handlers the burst is over.
            while datagrams < RECV_BATCH {
                match self.try_recv(&mut buf) {
                    Ok(r) => datagrams += self.dispatch_all(&r, &buf),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        datagrams += 1;
                        tracing::trace!(error = %e, "udp receive error")
                    }
                }
            }
            let utp = self.utp.read().clone();
            if let Some(h) = utp {
                h.on_drained();
            }
        }
    }

    /// Waits for the next read off the socket.
    async fn recv(&self, buf: &mut [u8]) -> std::io::Result<Received> {
        #[cfg(target_os = "linux")]
        return self.socket.async_io(tokio::io::Interest::READABLE, || gso::recv(&self.socket, buf)).await;
        #[cfg(not(target_os = "linux"))]
        return self.socket.recv_from(buf).await.map(|(len, from)| Received { len, from, seg_len: len });
    }

    /// The next read off the socket if one is queued, else `WouldBlock`.
    fn try_recv(&self, buf: &mut [u8]) -> std::io::Result<Received> {
        #[cfg(target_os = "linux")]
        return self.socket.try_io(tokio::io::Interest::READABLE, || gso::recv(&self.socket, buf));
        #[cfg(not(target_os = "linux"))]
        return self.socket.try_recv_from(buf).map(|(len, from)| Received { len, from, seg_len: len });
    }

    /// Hands each datagram of a read to its protocol; answers how many.
    fn dispatch_all(&self, r: &Received, buf: &[u8]) -> usize {
        if r.len == 0 {
            // An empty datagram is still one, counted and dropped.
            self.dispatch(r.from, &[]);
            return 1;
        }
        buf[..r.len].chunks(r.seg_len).map(|d| self.dispatch(r.from, d)).count()
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

/// Linux's UDP segmentation offload: one `sendmsg` whose `UDP_SEGMENT`
/// control message tells the kernel to cut the buffer into datagrams.
#[cfg(target_os = "linux")]
mod gso {
    use std::io;
    use std::net::SocketAddr;
    use std::os::fd::AsRawFd;

    /// `UDP_SEGMENT` from linux/udp.h (not in every libc release).
    const UDP_SEGMENT: libc::c_int = 103;

    /// Whether the kernel knows `UDP_SEGMENT`: reading the option fails
    /// with ENOPROTOOPT on kernels before 4.18. Those would ignore the
    /// control message and send the whole buffer as one datagram, so it is
    /// never sent without this probe.
    pub fn supported(socket: &std::net::UdpSocket) -> bool {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the fd is a live socket; value and len point to locals
        // of the sizes passed.
        let r = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_UDP,
                UDP_SEGMENT,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        r == 0
    }

    /// `UDP_GRO` from linux/udp.h.
    const UDP_GRO: libc::c_int = 104;

    /// Asks the kernel to hand over runs of datagrams from one sender in
    /// one read, with their size in a control message (Linux 5.0 and
    /// later; older kernels refuse the option and nothing changes).
    pub fn enable_gro(socket: &std::net::UdpSocket) {
        let on: libc::c_int = 1;
        // SAFETY: the fd is a live socket; `on` is a c_int of the size passed.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_UDP,
                UDP_GRO,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            tracing::debug!(error = %io::Error::last_os_error(), "udp receive coalescing not enabled");
        }
    }

    /// Reads one datagram, or a run of them the kernel coalesced, into
    /// `buf`; `WouldBlock` when nothing is queued.
    pub fn recv(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<super::Received> {
        // Room for the GRO cmsg (an int) and any other the kernel adds.
        let mut control = [0u64; 8];
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: try_init hands a zeroed sockaddr_storage and its length;
        // recvmsg writes at most that many bytes there and sets the length.
        let ((len, seg, flags), from) = unsafe {
            socket2::SockAddr::try_init(|storage, addr_len| {
                // SAFETY: msghdr is plain data; all-zero is a valid empty value.
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_name = storage.cast();
                msg.msg_namelen = *addr_len;
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                msg.msg_control = control.as_mut_ptr().cast();
                msg.msg_controllen = std::mem::size_of_val(&control) as _;
                // SAFETY: every pointer in msg is to a local or to `buf`,
                // writable for the lengths given.
                let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, 0);
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                *addr_len = msg.msg_namelen;
                let mut seg = 0usize;
                // SAFETY: the kernel filled msg_controllen bytes of
                // `control` with well-formed cmsgs; CMSG_NXTHDR stays
                // within them and answers null at the end.
                let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
                while !cmsg.is_null() {
                    if (*cmsg).cmsg_level == libc::SOL_UDP && (*cmsg).cmsg_type == UDP_GRO {
                        seg = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>()).max(0)
                            as usize;
                    }
                    cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
                }
                Ok((n as usize, seg, msg.msg_flags))
            })
        }?;
        let from = from.as_socket().ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
        if flags & libc::MSG_CTRUNC != 0 {
            // The segment size may be what was cut: a run would pass for
            // one datagram (uTP carries no checksum of its own).
            return Err(io::Error::new(io::ErrorKind::InvalidData, "udp control message truncated"));
        }
        let (len, seg_len) = match seg {
            0 => (len, len),
            // A cut-off run: keep the whole datagrams only, never one
            // cut short.
            seg if flags & libc::MSG_TRUNC != 0 => (len - len % seg, seg),
            seg => (len, seg),
        };
        if seg > 0 && len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "udp run truncated"));
        }
        Ok(super::Received { len, from, seg_len })
    }

    /// Sends `buf` to `to` as segments of `seg_len` bytes.
    pub fn send(
        socket: &std::net::UdpSocket,
        buf: &[u8],
        seg_len: usize,
        to: SocketAddr,
    ) -> io::Result<usize> {
        let addr = socket2::SockAddr::from(to);
        let seg = u16::try_from(seg_len).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // Room for one cmsg carrying a u16, aligned as cmsghdr wants.
        let mut control = [0u64; 4];
        // SAFETY: CMSG_SPACE only computes a size.
        let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
        debug_assert!(space <= std::mem::size_of_val(&control));
        let mut iov = libc::iovec { iov_base: buf.as_ptr() as *mut libc::c_void, iov_len: buf.len() };
        // SAFETY: msghdr is plain data; all-zero is a valid empty value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = addr.as_ptr() as *mut libc::c_void;
        msg.msg_namelen = addr.len();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points to `control`, which is `space` bytes
        // or more and 8-aligned, so CMSG_FIRSTHDR is non-null and its data
        // has room for the u16 written.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_UDP;
            (*cmsg).cmsg_type = UDP_SEGMENT;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), seg);
        }
        // SAFETY: every pointer in msg is to a local or to `buf`, alive
        // for the call; the kernel only reads them.
        let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// The kernel or the route cannot segment at all.
    pub fn unsupported(e: &io::Error) -> bool {
        matches!(e.raw_os_error(), Some(libc::EIO | libc::ENOPROTOOPT | libc::EOPNOTSUPP))
    }

    /// This run cannot be segmented (EINVAL: a segment over the path
    /// MTU, or more segments than the kernel takes), others may be.
    pub fn not_for_this_run(e: &io::Error) -> bool {
        e.raw_os_error() == Some(libc::EINVAL)
    }
}

/// Elsewhere the datagrams are sent one by one.
#[cfg(not(target_os = "linux"))]
mod gso {
    use std::io;
    use std::net::SocketAddr;

    pub fn supported(_: &std::net::UdpSocket) -> bool {
        false
    }

    pub fn enable_gro(_: &std::net::UdpSocket) {}

    pub fn send(_: &std::net::UdpSocket, _: &[u8], _: usize, _: SocketAddr) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    pub fn unsupported(_: &io::Error) -> bool {
        true
    }

    pub fn not_for_this_run(_: &io::Error) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run sent with `send_segments` arrives as one datagram per
    /// segment, the last one shorter, in order: whether or not this
    /// kernel segments, the peer sees the same datagrams.
    #[tokio::test]
    async fn a_run_arrives_as_separate_datagrams() {
        let udp = UdpTransport::bind("127.0.0.1:0".parse().unwrap(), Arc::new(Counters::new())).unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let seg_len = 1200;
        let buf: Vec<u8> = (0..seg_len * 9 + 300).map(|i| (i / seg_len) as u8 ^ i as u8).collect();
        assert_eq!(udp.send_segments(&buf, seg_len, peer.local_addr().unwrap()), 10);
        let mut got = Vec::new();
        let mut d = [0u8; 2048];
        while got.len() < buf.len() {
            let (n, from) = peer.recv_from(&mut d).unwrap();
            assert_eq!(from, udp.local_addr());
            assert!(n == seg_len || (n == 300 && got.len() == seg_len * 9), "datagram of {n} bytes");
            got.extend_from_slice(&d[..n]);
        }
        assert_eq!(got, buf);
        // On Linux 4.18 and later (every kernel CI runs on), one call.
        #[cfg(target_os = "linux")]
        assert!(udp.segments_in_one_call());
    }

    /// Records what a transport's receive loop hands to uTP.
    struct Record(parking_lot::Mutex<Vec<Vec<u8>>>);

    impl DatagramHandler for Record {
        fn on_datagram(&self, _: SocketAddr, packet: &[u8]) {
            self.0.lock().push(packet.to_vec());
        }
    }

    /// Runs sent in one call, which the receiving kernel may hand over in
    /// one read (GRO), reach the protocol as the datagrams sent: every
    /// size, in order, none merged or cut.
    #[tokio::test]
    async fn the_receive_loop_splits_runs_into_their_datagrams() {
        let counters = Arc::new(Counters::new());
        let a = UdpTransport::bind("127.0.0.1:0".parse().unwrap(), counters.clone()).unwrap();
        let b = UdpTransport::bind("127.0.0.1:0".parse().unwrap(), counters).unwrap();
        let record = Arc::new(Record(parking_lot::Mutex::new(Vec::new())));
        b.set_utp_handler(Some(record.clone()));
        let stop = CancellationToken::new();
        tokio::spawn(b.clone().run(stop.clone()));
        let mut want: Vec<Vec<u8>> = Vec::new();
        for (run, (seg_len, count, last)) in
            [(1400, 40, 1400), (1200, 7, 500), (100, 64, 20), (1000, 1, 1000)].into_iter().enumerate()
        {
            let mut buf = Vec::new();
            for i in 0..count {
                let len = if i + 1 == count { last } else { seg_len };
                // A uTP data packet's first byte, then the run and index.
                let mut d = vec![0x01, run as u8, i as u8];
                d.resize(len, (run * 64 + i) as u8);
                buf.extend_from_slice(&d);
                want.push(d);
            }
            assert_eq!(a.send_segments(&buf, seg_len, b.local_addr()), count);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while record.0.lock().len() < want.len() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        stop.cancel();
        assert_eq!(*record.0.lock(), want);
    }
}
