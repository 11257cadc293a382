//! Binding the listen sockets of a session's interfaces.
//!
//! An IPv6 socket is bound IPv6-only, so `0.0.0.0:P` and `[::]:P` (lt's
//! and libtorrent's default) are two sockets side by side rather than one
//! dual-stack socket that makes the second bind fail. An interface with
//! port 0 takes the port an earlier interface got when it is free there
//! too, so a session has one port on every interface, as trackers and
//! peers expect (a tracker announce carries a single `port`).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel queues before `accept`.
const BACKLOG: i32 = 1024;

/// A TCP listener on `addr`, IPv6-only for an IPv6 address. Must run
/// inside the runtime that accepts on it.
pub fn bind_tcp(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // A restarted session can listen again while old connections linger in
    // TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// A UDP socket on `addr`, IPv6-only for an IPv6 address.
pub fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The address to bind for `wanted` once interfaces before it got
/// `ports`: a port-0 interface first tries the port the first one got.
pub fn preferred(wanted: SocketAddr, ports: &[u16]) -> Option<SocketAddr> {
    match (wanted.port(), ports.first()) {
        (0, Some(&p)) => Some(SocketAddr::new(wanted.ip(), p)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_share_a_port() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = rt.enter();
        let v4 = bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = v4.local_addr().unwrap().port();
        let Ok(v6) = bind_tcp(SocketAddr::new("::1".parse().unwrap(), port)) else {
            // A machine without IPv6 loopback: nothing more to check.
            return;
        };
        assert_eq!(v6.local_addr().unwrap().port(), port);
        let u4 = bind_udp(SocketAddr::new("127.0.0.1".parse().unwrap(), port)).unwrap();
        let u6 = bind_udp(SocketAddr::new("::1".parse().unwrap(), port)).unwrap();
        assert_eq!(u4.local_addr().unwrap().port(), u6.local_addr().unwrap().port());
        assert_eq!(
            preferred("[::1]:0".parse().unwrap(), &[port]),
            Some(SocketAddr::new("::1".parse().unwrap(), port))
        );
        assert_eq!(preferred("[::1]:7".parse().unwrap(), &[port]), None);
    }
}
