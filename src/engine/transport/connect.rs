//! Establishing peer connections, up to the exchanged BitTorrent
//! handshakes: which transport a dial uses, whether it speaks the
//! encrypted handshake (MSE), and what an accepted connection speaks.
//!
//! Dialling follows libtorrent's settings. With `enable_outgoing_utp` and
//! `enable_outgoing_tcp` both on, uTP goes first; where libtorrent waits
//! for the uTP connect to time out (3 s) before it tries TCP, lt starts
//! TCP when uTP has not connected within [`UTP_HEAD_START`] and takes
//! whichever connects first, so a peer without uTP costs half a second,
//! not three. With `out_enc_policy` enabled the encrypted handshake goes
//! first and, when it fails, one plain dial follows over the transport
//! that connected (libtorrent retries the same way); forced never falls
//! back, disabled never tries it.
//!
//! An accepted connection's first 20 bytes tell plain from encrypted: the
//! plain handshake's protocol string, or the start of an MSE public key.
//! `in_enc_policy` refuses one or the other; an encrypted one names its
//! torrent by a hash that every torrent of the session is tried against.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::mse::{self, Crypto, EncPolicy};
use super::stream::{Encryption, Link, PeerSocket, Transport};
use crate::engine::error::{Error, ErrorKind, Failure, Operation};
use crate::engine::peer::{handshake_error, io_error, read_handshake_rest};
use crate::engine::session::SessionCore;
use crate::engine::stats::Metric;
use crate::engine::torrent::Torrent;
use crate::proto::types::InfoHash;
use crate::proto::wire::Handshake;

/// How long uTP has alone before TCP is tried beside it.
pub const UTP_HEAD_START: Duration = Duration::from_millis(500);

/// The first 20 bytes of a plain BitTorrent handshake.
const PLAIN_PREFIX: &[u8; 20] = b"\x13BitTorrent protocol";

impl From<Crypto> for Encryption {
    fn from(c: Crypto) -> Encryption {
        match c {
            Crypto::Plaintext => Encryption::Plaintext,
            Crypto::Rc4 => Encryption::Rc4,
        }
    }
}

fn timed_out(ses: &SessionCore, op: Operation, what: &str, timeout: Duration) -> Failure {
    ses.counters.add(Metric::ConnectTimeouts, 1);
    Failure::new(
        op,
        Error::new(ErrorKind::Timeout, format!("{what} timed out after {} s", timeout.as_secs())),
    )
}

/// Dials `addr` for torrent `ih` and exchanges handshakes, each step within
/// `handshake_timeout`: the transport and the encryption the settings ask
/// for, a plain retry when an encrypted one fails and the policy allows it.
pub(crate) async fn dial(
    ses: &SessionCore,
    ih: InfoHash,
    addr: SocketAddr,
) -> Result<(PeerSocket, Link, Handshake), Failure> {
    let (timeout, policy) = {
        let s = ses.settings.read();
        (Duration::from_secs(s.handshake_timeout as u64), EncPolicy::from_settings(&s))
    };
    let (socket, transport) = connect(ses, addr, timeout).await?;
    if !policy.dial_encrypted() {
        return plain_out(ses, ih, socket, transport, timeout).await;
    }
    match encrypted_out(ses, ih, socket, transport, &policy, timeout).await {
        Ok(done) => Ok(done),
        Err(failure) if policy.plain_retry_allowed() => {
            tracing::debug!(peer = %addr, reason = %failure.error, "encrypted handshake failed; dialling again in plain");
            ses.counters.add(Metric::ErrorEncryptedPeers, 1);
            let socket = connect_with(ses, addr, transport, timeout).await?;
            plain_out(ses, ih, socket, transport, timeout).await
        }
        Err(failure) => {
            ses.counters.add(Metric::ErrorEncryptedPeers, 1);
            Err(failure)
        }
    }
}

/// Connects over the transports the settings allow, uTP first (see the
/// module documentation).
async fn connect(
    ses: &SessionCore,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(PeerSocket, Transport), Failure> {
    let (utp_on, tcp_on) = {
        let s = ses.settings.read();
        (s.enable_outgoing_utp, s.enable_outgoing_tcp)
    };
    let utp_socket = if utp_on { ses.utp_socket_for(&addr) } else { None };
    let Some(utp_socket) = utp_socket else {
        if !tcp_on {
            let why = "no transport to dial with: enable_outgoing_tcp is off and uTP is off or has no socket for this address family";
            return Err(Failure::new(Operation::Connect, Error::new(ErrorKind::NotSupported, why)));
        }
        return Ok((connect_tcp(ses, addr, timeout).await?, Transport::Tcp));
    };
    let utp = connect_utp(ses, &utp_socket, addr, timeout);
    tokio::pin!(utp);
    if !tcp_on {
        return Ok((utp.await?, Transport::Utp));
    }
    tokio::select! {
        r = &mut utp => match r {
            Ok(s) => return Ok((s, Transport::Utp)),
            Err(_) => return Ok((connect_tcp(ses, addr, timeout).await?, Transport::Tcp)),
        },
        _ = tokio::time::sleep(UTP_HEAD_START) => {}
    }
    let tcp = connect_tcp(ses, addr, timeout);
    tokio::pin!(tcp);
    tokio::select! {
        r = &mut utp => match r {
            Ok(s) => Ok((s, Transport::Utp)),
            Err(_) => Ok((tcp.await?, Transport::Tcp)),
        },
        r = &mut tcp => match r {
            Ok(s) => Ok((s, Transport::Tcp)),
            // When both fail, TCP's reason (refused, unreachable) says
            // more than uTP's silence.
            Err(tcp_failure) => match utp.await {
                Ok(s) => Ok((s, Transport::Utp)),
                Err(_) => Err(tcp_failure),
            },
        },
    }
}

/// Connects again over the transport that worked (for the plain retry).
async fn connect_with(
    ses: &SessionCore,
    addr: SocketAddr,
    transport: Transport,
    timeout: Duration,
) -> Result<PeerSocket, Failure> {
    match transport {
        Transport::Tcp => connect_tcp(ses, addr, timeout).await,
        Transport::Utp => match ses.utp_socket_for(&addr) {
            Some(u) => connect_utp(ses, &u, addr, timeout).await,
            None => Err(Failure::new(
                Operation::Connect,
                Error::new(ErrorKind::NotSupported, "the uTP socket is gone"),
            )),
        },
    }
}

async fn connect_tcp(ses: &SessionCore, addr: SocketAddr, timeout: Duration) -> Result<PeerSocket, Failure> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(PeerSocket::Tcp(s))
        }
        Ok(Err(e)) => {
            ses.counters.add(Metric::ErrorTcpPeers, 1);
            Err(Failure::new(Operation::Connect, io_error(ses, "connecting", e)))
        }
        Err(_) => Err(timed_out(ses, Operation::Connect, "connecting", timeout)),
    }
}

async fn connect_utp(
    ses: &SessionCore,
    socket: &super::utp::UtpSocket,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<PeerSocket, Failure> {
    // The uTP socket times the connect out itself (utp_connect_timeout).
    match tokio::time::timeout(timeout, socket.connect(addr)).await {
        Ok(Ok(s)) => Ok(PeerSocket::Boxed(Box::new(s))),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            ses.counters.add(Metric::ErrorUtpPeers, 1);
            ses.counters.add(Metric::ConnectTimeouts, 1);
            let error =
                Error::new(ErrorKind::Timeout, "connecting over uTP: no answer within utp_connect_timeout");
            Err(Failure::new(Operation::Connect, error))
        }
        Ok(Err(e)) => {
            ses.counters.add(Metric::ErrorUtpPeers, 1);
            Err(Failure::new(Operation::Connect, io_error(ses, "connecting over uTP", e)))
        }
        Err(_) => Err(timed_out(ses, Operation::Connect, "connecting over uTP", timeout)),
    }
}

/// The plain handshake: ours, then theirs.
async fn plain_out(
    ses: &SessionCore,
    ih: InfoHash,
    mut socket: PeerSocket,
    transport: Transport,
    timeout: Duration,
) -> Result<(PeerSocket, Link, Handshake), Failure> {
    let ours = ses.handshake(ih).encode();
    match tokio::time::timeout(timeout, socket.write_all(&ours)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(Failure::new(Operation::SockWrite, io_error(ses, "sending the handshake", e)))
        }
        Err(_) => return Err(timed_out(ses, Operation::Handshake, "sending the handshake", timeout)),
    }
    let theirs = read_handshake_rest(ses, &mut socket, &[], timeout).await?;
    Ok((socket, Link { transport, encryption: Encryption::None }, check_answer(ses, ih, theirs)?))
}

/// The encrypted handshake, our BitTorrent handshake inside it, then theirs.
async fn encrypted_out(
    ses: &SessionCore,
    ih: InfoHash,
    socket: PeerSocket,
    transport: Transport,
    policy: &EncPolicy,
    timeout: Duration,
) -> Result<(PeerSocket, Link, Handshake), Failure> {
    let ours = ses.handshake(ih).encode();
    let (stream, crypto) = mse::initiate(socket, &ih.0, &ours, policy.allowed, timeout)
        .await
        .map_err(|e| Failure::new(Operation::Encryption, e))?;
    let mut socket = PeerSocket::Boxed(Box::new(stream));
    let theirs = read_handshake_rest(ses, &mut socket, &[], timeout).await?;
    Ok((socket, Link { transport, encryption: crypto.into() }, check_answer(ses, ih, theirs)?))
}

/// The dialled peer must answer for our torrent, and not be us.
fn check_answer(ses: &SessionCore, ih: InfoHash, theirs: Handshake) -> Result<Handshake, Failure> {
    if theirs.info_hash != ih {
        return Err(handshake_error(format!("peer answered for another torrent ({})", theirs.info_hash)));
    }
    if theirs.peer_id == ses.peer_id {
        return Err(handshake_error("connected to ourselves"));
    }
    Ok(theirs)
}

/// An accepted connection up to the exchanged handshakes; on failure, the
/// torrent when it was found, and why.
pub(crate) type Accepted =
    Result<(Arc<Torrent>, PeerSocket, Link, Handshake), (Option<Arc<Torrent>>, Failure)>;

/// Reads what an accepted connection speaks (a plain handshake, or the
/// encrypted one as `in_enc_policy` allows), finds the torrent by its
/// info-hash and answers with our handshake.
pub(crate) async fn accept(
    core: &Arc<SessionCore>,
    mut socket: PeerSocket,
    transport: Transport,
) -> Accepted {
    let (timeout, policy) = {
        let s = core.settings.read();
        (Duration::from_secs(s.handshake_timeout as u64), EncPolicy::from_settings(&s))
    };
    let refuse = |t: Option<Arc<Torrent>>, message: String| (t, handshake_error(message));
    let mut first = [0u8; 20];
    match tokio::time::timeout(timeout, socket.read_exact(&mut first)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            core.counters.add(Metric::EofPeers, 1);
            return Err(refuse(None, "connection closed before the handshake".into()));
        }
        Ok(Err(e)) => {
            return Err((None, Failure::new(Operation::SockRead, io_error(core, "reading the handshake", e))))
        }
        Err(_) => {
            let error =
                Error::new(ErrorKind::Timeout, format!("no handshake within {} s", timeout.as_secs()));
            return Err((None, Failure::new(Operation::Handshake, error)));
        }
    }
    let encrypted = &first != PLAIN_PREFIX;
    policy.check_incoming(encrypted).map_err(|e| (None, Failure::new(Operation::Handshake, e)))?;
    let (mut socket, encryption, theirs) = if encrypted {
        let find = |req2: &[u8; 20]| core.find_obfuscated(req2).map(|ih| ih.0);
        let (stream, ih, crypto, ia) =
            mse::respond(socket, &first, find, policy.allowed, policy.prefer_rc4, timeout).await.map_err(
                |e| {
                    core.counters.add(Metric::ErrorEncryptedPeers, 1);
                    (None, Failure::new(Operation::Encryption, e))
                },
            )?;
        let mut socket = PeerSocket::Boxed(Box::new(stream));
        // The initiator's handshake comes in the IA, whole or in part, or
        // after it on the stream.
        let theirs = read_handshake_rest(core, &mut socket, &ia, timeout).await.map_err(|f| (None, f))?;
        if theirs.info_hash.0 != ih {
            return Err(refuse(
                None,
                "the handshake names another torrent than the encrypted handshake did".into(),
            ));
        }
        (socket, crypto.into(), theirs)
    } else {
        let theirs = read_handshake_rest(core, &mut socket, &first, timeout).await.map_err(|f| (None, f))?;
        (socket, Encryption::None, theirs)
    };
    if theirs.peer_id == core.peer_id {
        return Err(refuse(None, "connected to ourselves".into()));
    }
    let Some(t) = core.find_by_hash(&theirs.info_hash) else {
        return Err(refuse(None, format!("no torrent with info-hash {} in this session", theirs.info_hash)));
    };
    if !Torrent::is_active(&t.core.lock()) {
        return Err(refuse(Some(t), "torrent is not active".into()));
    }
    // A hybrid answers with the id the peer came for.
    let ours = core.handshake(theirs.info_hash);
    match tokio::time::timeout(timeout, socket.write_all(&ours.encode())).await {
        Ok(Ok(())) => Ok((t, socket, Link { transport, encryption }, theirs)),
        Ok(Err(e)) => {
            let error = Error::new(ErrorKind::Io, format!("sending the handshake: {e}"));
            Err((Some(t), Failure::new(Operation::SockWrite, error)))
        }
        Err(_) => Err(refuse(Some(t), "sending the handshake timed out".into())),
    }
}
