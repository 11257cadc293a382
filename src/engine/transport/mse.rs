//! Message Stream Encryption over a tokio byte stream: the handshake of
//! [`crate::proto::mse`] driven on a socket, the session's encryption
//! policy, and [`MseStream`], the stream after the handshake (RC4 both ways
//! or plain).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::engine::error::{Error, ErrorKind};
use crate::engine::settings::Settings;
pub use crate::proto::mse::Crypto;
use crate::proto::mse::{Established, Initiator, MseError, Rc4Cipher, Responder, Secrets, Step, MAX_IA};

/// How a direction treats encryption; libtorrent's `enc_policy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncMode {
    /// Encrypted handshakes only (setting value 0).
    Forced,
    /// Both; dialling tries the encrypted handshake first (value 1).
    Enabled,
    /// Plain handshakes only (value 2).
    Disabled,
}

impl EncMode {
    fn from_setting(value: i64) -> EncMode {
        match value {
            0 => EncMode::Forced,
            2 => EncMode::Disabled,
            _ => EncMode::Enabled,
        }
    }
}

/// Policy from settings (libtorrent names): out_enc_policy, in_enc_policy
/// (0 forced, 1 enabled, 2 disabled), allowed_enc_level (1 plaintext, 2 rc4,
/// 3 both), prefer_rc4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncPolicy {
    pub outgoing: EncMode,
    pub incoming: EncMode,
    /// The crypto bits we offer when dialling and accept when answering.
    pub allowed: u8,
    /// Of both modes offered, an accepted handshake picks RC4.
    pub prefer_rc4: bool,
}

impl EncPolicy {
    pub fn from_settings(s: &Settings) -> Self {
        EncPolicy {
            outgoing: EncMode::from_setting(s.out_enc_policy),
            incoming: EncMode::from_setting(s.in_enc_policy),
            // The setting's range is 1..=3.
            allowed: s.allowed_enc_level as u8,
            prefer_rc4: s.prefer_rc4,
        }
    }

    /// Whether a dial starts with the encrypted handshake.
    pub fn dial_encrypted(&self) -> bool {
        self.outgoing != EncMode::Disabled
    }

    /// Whether a failed encrypted dial may be retried in plain, as
    /// libtorrent retries with `pe_enabled` (never with `pe_forced`).
    pub fn plain_retry_allowed(&self) -> bool {
        self.outgoing == EncMode::Enabled
    }

    /// Whether an incoming connection may go on, told whether its first 20
    /// bytes were a plain BitTorrent handshake; the error names
    /// libtorrent's reason.
    pub fn check_incoming(&self, encrypted: bool) -> Result<(), Error> {
        match (self.incoming, encrypted) {
            (EncMode::Forced, false) => Err(Error::new(
                ErrorKind::Protocol,
                "no_incoming_regular: a plain handshake, and in_enc_policy forces encryption",
            )),
            (EncMode::Disabled, true) => Err(Error::new(
                ErrorKind::Protocol,
                "no_incoming_encrypted: not a plain handshake (encrypted?), and in_enc_policy disables encryption",
            )),
            _ => Ok(()),
        }
    }
}

/// Initiator: sends Ya+PadA, ..., `ia` (our 68-byte BitTorrent handshake)
/// as the initial payload. `allowed` is the crypto_provide bits (1
/// plaintext, 2 RC4, 3 both); the whole handshake must finish within
/// `timeout`.
pub async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    info_hash: &[u8; 20],
    ia: &[u8],
    allowed: u8,
    timeout: Duration,
) -> Result<(MseStream<S>, Crypto), Error> {
    check_allowed(allowed)?;
    if ia.len() > MAX_IA {
        return Err(Error::invalid_argument(format!(
            "MSE initial payload of {} bytes, more than {MAX_IA}",
            ia.len()
        )));
    }
    let mut out = Vec::new();
    let mut machine = Initiator::new(Secrets::random(), *info_hash, allowed.into(), ia, &mut out);
    let done =
        with_timeout(timeout, drive(&mut stream, out, &[], |data, out| machine.feed(data, out))).await?;
    let crypto = done.crypto;
    Ok((MseStream::new(stream, done), crypto))
}

/// Responder: `prefix` holds the bytes already read that were not a plain
/// handshake (start of Ya). `find` maps HASH('req2', SKEY) to the torrent's
/// info-hash if the session has it. Answers the stream, the info-hash, the
/// agreed mode and the initiator's IA decrypted (its handshake; may be
/// empty, when the handshake comes next on the stream).
pub async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    prefix: &[u8],
    find: impl Fn(&[u8; 20]) -> Option<[u8; 20]>,
    allowed: u8,
    prefer_rc4: bool,
    timeout: Duration,
) -> Result<(MseStream<S>, [u8; 20], Crypto, Vec<u8>), Error> {
    check_allowed(allowed)?;
    let mut machine = Responder::new(Secrets::random(), allowed.into(), prefer_rc4, find);
    let mut done =
        with_timeout(timeout, drive(&mut stream, Vec::new(), prefix, |data, out| machine.feed(data, out)))
            .await?;
    let (info_hash, crypto, ia) = (done.info_hash, done.crypto, std::mem::take(&mut done.ia));
    Ok((MseStream::new(stream, done), info_hash, crypto, ia))
}

fn check_allowed(allowed: u8) -> Result<(), Error> {
    if (1..=3).contains(&allowed) {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!("MSE crypto bits {allowed}: 1 plaintext, 2 RC4 or 3 both")))
    }
}

async fn with_timeout<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(timeout, f).await.unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::Timeout,
            format!("encrypted handshake (MSE) timed out after {} s", timeout.as_secs_f32()),
        ))
    })
}

/// Bytes read from the socket at a time during the handshake: more than
/// the largest step, so a step seldom needs two reads.
const HANDSHAKE_READ: usize = 2048;

/// Sends `out`, feeds `first` and then what the peer sends to `feed` until
/// the handshake is done, sending what it produces. Reads go on while a
/// write waits: both sides send a key and up to 512 bytes of pad before
/// they read, which would deadlock on a small pipe if writing blocked
/// reading.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    mut out: Vec<u8>,
    first: &[u8],
    mut feed: impl FnMut(&[u8], &mut Vec<u8>) -> Result<Step, MseError>,
) -> Result<Established, Error> {
    let protocol = |e: MseError| Error::new(ErrorKind::Protocol, format!("encrypted handshake (MSE): {e}"));
    let io = |e: io::Error| Error::new(ErrorKind::Io, format!("encrypted handshake (MSE): {e}"));
    let mut step = if first.is_empty() { Step::NeedMore } else { feed(first, &mut out).map_err(protocol)? };
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = [0u8; HANDSHAKE_READ];
    let mut sent = 0;
    loop {
        if sent == out.len() {
            out.clear();
            sent = 0;
            if let Step::Done(established) = step {
                writer.flush().await.map_err(io)?;
                return Ok(*established);
            }
        }
        let reading = matches!(step, Step::NeedMore);
        tokio::select! {
            written = writer.write(&out[sent..]), if sent < out.len() => {
                match written.map_err(io)? {
                    0 => return Err(io(io::ErrorKind::WriteZero.into())),
                    n => sent += n,
                }
            }
            read = reader.read(&mut buf), if reading => {
                let n = read.map_err(io)?;
                if n == 0 {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        "encrypted handshake (MSE): the peer closed the connection before the handshake finished",
                    ));
                }
                step = feed(&buf[..n], &mut out).map_err(protocol)?;
            }
        }
    }
}

/// Largest piece of a write encrypted at once; a larger write is accepted
/// in parts, as `AsyncWrite` allows.
const MAX_WRITE_CHUNK: usize = 64 * 1024;

/// After the handshake: RC4 both ways, or plaintext pass-through, with any
/// bytes already read but not consumed served first. Reads decrypt in
/// place in the caller's buffer; writes copy once into an internal buffer
/// that is encrypted in place and written from there.
pub struct MseStream<S> {
    inner: S,
    /// (encrypt what we send, decrypt what we receive), `None` for plaintext.
    ciphers: Option<(Rc4Cipher, Rc4Cipher)>,
    /// Bytes received with the handshake, already decrypted.
    leftover: Vec<u8>,
    leftover_pos: usize,
    /// Encrypted bytes accepted by `poll_write` and not yet written.
    unsent: Vec<u8>,
    unsent_pos: usize,
}

impl<S> MseStream<S> {
    fn new(inner: S, done: Established) -> MseStream<S> {
        MseStream {
            inner,
            ciphers: done.ciphers,
            leftover: done.leftover,
            leftover_pos: 0,
            unsent: Vec::new(),
            unsent_pos: 0,
        }
    }

    /// The underlying stream (for its addresses and socket options).
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The mode agreed in the handshake.
    pub fn crypto(&self) -> Crypto {
        if self.ciphers.is_some() {
            Crypto::Rc4
        } else {
            Crypto::Plaintext
        }
    }
}

impl<S: AsyncWrite + Unpin> MseStream<S> {
    /// Writes out the encrypted bytes `poll_write` already accepted.
    fn poll_unsent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.unsent_pos < self.unsent.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.unsent[self.unsent_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.unsent_pos += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MseStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.leftover_pos < this.leftover.len() {
            let rest = &this.leftover[this.leftover_pos..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.leftover_pos += n;
            if this.leftover_pos == this.leftover.len() {
                this.leftover = Vec::new();
                this.leftover_pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Some((_, recv)) = &mut this.ciphers {
            recv.apply(&mut buf.filled_mut()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MseStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.ciphers.is_none() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        ready!(this.poll_unsent(cx))?;
        let n = buf.len().min(MAX_WRITE_CHUNK);
        this.unsent.clear();
        this.unsent.extend_from_slice(&buf[..n]);
        this.unsent_pos = 0;
        if let Some((send, _)) = &mut this.ciphers {
            send.apply(&mut this.unsent);
        }
        // The bytes are ours now (the keystream moved on): start sending
        // them, and finish in a later write or flush if the socket is full.
        if let Poll::Ready(Err(e)) = this.poll_unsent(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_unsent(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_unsent(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_from_settings_and_incoming_checks() {
        let mut s = Settings::default();
        let p = EncPolicy::from_settings(&s);
        assert_eq!(
            p,
            EncPolicy {
                outgoing: EncMode::Enabled,
                incoming: EncMode::Enabled,
                allowed: 3,
                prefer_rc4: false
            },
            "libtorrent's defaults"
        );
        assert!(p.dial_encrypted() && p.plain_retry_allowed());
        assert!(p.check_incoming(true).is_ok() && p.check_incoming(false).is_ok());
        s.set_int("out_enc_policy", 0).unwrap();
        s.set_int("in_enc_policy", 0).unwrap();
        s.set_int("allowed_enc_level", 2).unwrap();
        s.set_bool("prefer_rc4", true).unwrap();
        let p = EncPolicy::from_settings(&s);
        assert!(p.dial_encrypted() && !p.plain_retry_allowed());
        assert_eq!((p.allowed, p.prefer_rc4), (2, true));
        let e = p.check_incoming(false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert!(e.message().starts_with("no_incoming_regular"));
        s.set_int("in_enc_policy", 2).unwrap();
        s.set_int("out_enc_policy", 2).unwrap();
        let p = EncPolicy::from_settings(&s);
        assert!(!p.dial_encrypted());
        assert!(p.check_incoming(true).unwrap_err().message().starts_with("no_incoming_encrypted"));
        assert!(s.set_int("allowed_enc_level", 0).is_err() && s.set_int("allowed_enc_level", 4).is_err());
        assert!(s.set_int("out_enc_policy", 3).is_err());
    }

    #[tokio::test]
    async fn a_duplex_pair_carries_bytes_after_either_mode() {
        let info_hash = [7u8; 20];
        for (offer, want) in [(2u8, Crypto::Rc4), (1, Crypto::Plaintext)] {
            // A pipe smaller than a key: each side's first step only gets
            // through if it reads while it writes.
            let (a, b) = tokio::io::duplex(64);
            let t = Duration::from_secs(30);
            let find =
                move |h: &[u8; 20]| (*h == crate::proto::mse::req2_hash(&info_hash)).then_some(info_hash);
            let (ra, rb) = tokio::join!(
                initiate(a, &info_hash, b"hello ia", offer, t),
                respond(b, &[], find, 3, false, t)
            );
            let (mut a, crypto) = ra.unwrap();
            let (mut b, found, crypto_b, ia) = rb.unwrap();
            assert_eq!((crypto, crypto_b, found, ia.as_slice()), (want, want, info_hash, &b"hello ia"[..]));
            let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            let send = async {
                a.write_all(&data).await.unwrap();
                a.flush().await.unwrap();
            };
            let mut got = vec![0u8; data.len()];
            let (_, r) = tokio::join!(send, b.read_exact(&mut got));
            r.unwrap();
            assert_eq!(got, data, "{want:?}");
        }
    }

    #[tokio::test]
    async fn bad_crypto_bits_are_refused_before_any_io() {
        let (a, _b) = tokio::io::duplex(64);
        let e = initiate(a, &[0; 20], b"", 4, Duration::from_secs(1)).await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
}
