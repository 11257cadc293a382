//! Message Stream Encryption (MSE, also "PE"): the obfuscated BitTorrent
//! handshake of Azureus/Vuze that libtorrent, transmission and most clients
//! speak. There is no BEP; the constants and the checks follow the Vuze
//! specification and libtorrent (`pe_crypto.cpp`, `bt_peer_connection.cpp`),
//! whose error names the messages here quote so that a log reads the same.
//!
//! The handshake, A the initiator and B the responder, SKEY the info-hash:
//!
//! 1. A→B: Ya, PadA
//! 2. B→A: Yb, PadB
//! 3. A→B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//!    RC4(VC, crypto_provide, len(PadC), PadC, len(IA)), RC4(IA)
//! 4. B→A: RC4(VC, crypto_select, len(PadD), PadD), then the stream
//!
//! Neither side knows the length of the other's first pad, so B finds the
//! end of PadA by searching for HASH('req1', S) and A finds the end of PadB
//! by searching for RC4(VC); both searches are bounded as libtorrent bounds
//! them. After step 4 the stream is RC4 (the ciphers carry on) or plain.
//!
//! Everything here is sans-IO: [`Initiator`] and [`Responder`] take the
//! bytes received and append the bytes to send. Randomness comes in through
//! [`Secrets`], so a test or a fuzzer can replay a handshake exactly.

use num_bigint::BigUint;
use rc4::{KeyInit, Rc4, StreamCipher};
use sha1::{Digest, Sha1};

/// Bytes of a Diffie-Hellman public key and of the shared secret.
pub const KEY_LEN: usize = 96;
/// Longest pad (PadA to PadD) a peer may send.
pub const MAX_PAD: usize = 512;
/// Longest initial payload (IA) accepted: libtorrent's limit, the size of
/// a BitTorrent handshake.
pub const MAX_IA: usize = 68;
/// The verification constant: 8 zero bytes, sent encrypted.
pub const VC: [u8; 8] = [0; 8];
/// crypto_provide / crypto_select bit: the stream after the handshake is plain.
pub const CRYPTO_PLAINTEXT: u32 = 0x01;
/// crypto_provide / crypto_select bit: the stream after the handshake is RC4.
pub const CRYPTO_RC4: u32 = 0x02;
/// Keystream bytes thrown away before use: the first bytes of RC4 leak key
/// material, and every client drops exactly 1024.
const RC4_DISCARD: usize = 1024;
/// Bytes a responder searches for HASH('req1', S) after Ya: PadA and the hash.
pub const REQ1_WINDOW: usize = MAX_PAD + 20;
/// Bytes an initiator searches for RC4(VC) after Yb: PadB and the constant.
pub const VC_WINDOW: usize = MAX_PAD + VC.len();
/// Most handshake bytes a responder reads before it is done or fails:
/// Ya, PadA and req1, the obfuscated SKEY, the encrypted VC, crypto_provide
/// and len(PadC), PadC, len(IA), IA.
pub const RESPONDER_MAX_INPUT: usize = KEY_LEN + REQ1_WINDOW + 20 + 14 + MAX_PAD + 2 + MAX_IA;
/// Most handshake bytes an initiator reads before it is done or fails: Yb,
/// PadB and RC4(VC), crypto_select and len(PadD), PadD.
pub const INITIATOR_MAX_INPUT: usize = KEY_LEN + VC_WINDOW + 6 + MAX_PAD;

/// The 768-bit safe prime of MSE's Diffie-Hellman group (big-endian); the
/// generator is 2.
pub const PRIME: [u8; KEY_LEN] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc9, 0x0f, 0xda, 0xa2, //
    0x21, 0x68, 0xc2, 0x34, 0xc4, 0xc6, 0x62, 0x8b, 0x80, 0xdc, 0x1c, 0xd1, //
    0x29, 0x02, 0x4e, 0x08, 0x8a, 0x67, 0xcc, 0x74, 0x02, 0x0b, 0xbe, 0xa6, //
    0x3b, 0x13, 0x9b, 0x22, 0x51, 0x4a, 0x08, 0x79, 0x8e, 0x34, 0x04, 0xdd, //
    0xef, 0x95, 0x19, 0xb3, 0xcd, 0x3a, 0x43, 0x1b, 0x30, 0x2b, 0x0a, 0x6d, //
    0xf2, 0x5f, 0x14, 0x37, 0x4f, 0xe1, 0x35, 0x6d, 0x6d, 0x51, 0xc2, 0x45, //
    0xe4, 0x85, 0xb5, 0x76, 0x62, 0x5e, 0x7e, 0xc6, 0xf4, 0x4c, 0x42, 0xe9, //
    0xa6, 0x3a, 0x36, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x05, 0x63,
];
const GENERATOR: u32 = 2;

/// Why a handshake failed. The messages start with libtorrent's error name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MseError {
    #[error("invalid_encrypt_handshake: the peer's public key is out of range (Y < 2 or Y >= P-1)")]
    InvalidKey,
    #[error("sync_hash_not_found: no HASH('req1', S) within {REQ1_WINDOW} bytes after the peer's key")]
    SyncHashNotFound,
    #[error("invalid_encryption_constant: no RC4(VC) within {VC_WINDOW} bytes after the peer's key")]
    VcNotFound,
    #[error("invalid_encryption_constant: the verification constant did not decrypt to zeros")]
    BadVc,
    #[error(
        "invalid_info_hash: the peer asked for a torrent that is not here (no HASH('req2', SKEY) matches)"
    )]
    UnknownTorrent,
    #[error("unsupported_encryption_mode: the peer provides {provided:#x}, we allow {allowed:#x}")]
    NoCommonMode { provided: u32, allowed: u32 },
    #[error(
        "unsupported_encryption_mode_selected: the peer selected {selected:#x}, we provided {provided:#x}"
    )]
    BadSelect { selected: u32, provided: u32 },
    #[error("invalid_pad_size: the peer's pad is {0} bytes, more than {MAX_PAD}")]
    PadTooLong(usize),
    #[error("invalid_encrypt_handshake: len(IA) is {0}, more than {MAX_IA}")]
    IaTooLong(usize),
}

/// SHA-1 over the concatenated parts.
fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// HASH('req1', S): the marker that ends PadA.
pub fn req1_hash(secret: &[u8; KEY_LEN]) -> [u8; 20] {
    hash(&[b"req1", secret])
}

/// HASH('req2', SKEY) for an info-hash: what a responder precomputes per
/// torrent to find the one an initiator asks for without learning it in
/// the clear.
pub fn req2_hash(info_hash: &[u8; 20]) -> [u8; 20] {
    hash(&[b"req2", info_hash])
}

/// HASH('req3', S): the mask over HASH('req2', SKEY).
pub fn req3_hash(secret: &[u8; KEY_LEN]) -> [u8; 20] {
    hash(&[b"req3", secret])
}

/// The RC4 keys: HASH('keyA', S, SKEY) encrypts what the initiator sends,
/// HASH('keyB', S, SKEY) what the responder sends.
pub fn rc4_key(which: &[u8; 4], secret: &[u8; KEY_LEN], skey: &[u8; 20]) -> [u8; 20] {
    hash(&[which, secret, skey])
}

fn xor20(a: &[u8; 20], b: &[u8; 20]) -> [u8; 20] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// A Diffie-Hellman key pair of MSE's group.
#[derive(Clone)]
pub struct KeyPair {
    private: BigUint,
    public: [u8; KEY_LEN],
}

impl KeyPair {
    /// The key pair of a 160-bit private exponent (libtorrent's size; the
    /// caller draws it at random).
    pub fn new(private: &[u8; 20]) -> KeyPair {
        let private = BigUint::from_bytes_be(private);
        let public = BigUint::from(GENERATOR).modpow(&private, &prime());
        KeyPair { private, public: to_key_bytes(&public) }
    }

    /// 2^X mod P, 96 bytes big-endian, left-padded with zeros.
    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    /// S = Y^X mod P from the peer's public key Y. A Y below 2 or at or above
    /// P-1 would make S one of 0, 1 or P-1, known to anyone watching, so it
    /// is refused as libtorrent refuses it.
    pub fn shared_secret(&self, remote: &[u8; KEY_LEN]) -> Result<[u8; KEY_LEN], MseError> {
        let p = prime();
        let y = BigUint::from_bytes_be(remote);
        if y < BigUint::from(2u32) || y >= &p - 1u32 {
            return Err(MseError::InvalidKey);
        }
        Ok(to_key_bytes(&y.modpow(&self.private, &p)))
    }
}

fn prime() -> BigUint {
    BigUint::from_bytes_be(&PRIME)
}

/// A number below P as exactly 96 big-endian bytes.
fn to_key_bytes(n: &BigUint) -> [u8; KEY_LEN] {
    let bytes = n.to_bytes_be();
    let mut out = [0u8; KEY_LEN];
    out[KEY_LEN - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// RC4 keyed from a 20-byte hash, with the first 1024 keystream bytes
/// already thrown away.
pub struct Rc4Cipher(Rc4);

impl Rc4Cipher {
    pub fn new(key: &[u8; 20]) -> Rc4Cipher {
        let mut rc4 = Rc4::new_from_slice(key).expect("RC4 takes keys of 1 to 256 bytes");
        rc4.apply_keystream(&mut [0u8; RC4_DISCARD]);
        Rc4Cipher(rc4)
    }

    /// Encrypts or decrypts `buf` in place (RC4 is its own inverse).
    pub fn apply(&mut self, buf: &mut [u8]) {
        self.0.apply_keystream(buf);
    }
}

/// The mode the two sides agreed on for the stream after the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Crypto {
    /// Only the handshake was obfuscated; the stream is plain.
    Plaintext,
    /// The stream is RC4 both ways.
    Rc4,
}

/// The random inputs of one side's handshake: the private key and the two
/// pads it sends (PadA and PadC for an initiator, PadB and PadD for a
/// responder). Pads are cut to [`MAX_PAD`] bytes, the most a peer accepts.
#[derive(Clone, Debug)]
pub struct Secrets {
    pub private_key: [u8; 20],
    pub first_pad: Vec<u8>,
    pub second_pad: Vec<u8>,
}

impl Secrets {
    /// A random private key and random pads of 0..=512 random bytes each,
    /// as libtorrent sends them.
    pub fn random() -> Secrets {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let mut pad = || {
            let mut p = vec![0u8; rng.gen_range(0..=MAX_PAD)];
            rng.fill(p.as_mut_slice());
            p
        };
        let (first_pad, second_pad) = (pad(), pad());
        Secrets { private_key: rand::random(), first_pad, second_pad }
    }
}

/// A finished handshake.
pub struct Established {
    /// The agreed mode.
    pub crypto: Crypto,
    /// For [`Crypto::Rc4`], the ciphers of the stream (ours to encrypt what
    /// we send, theirs to decrypt what we receive), carrying on from the
    /// handshake; `None` for [`Crypto::Plaintext`].
    pub ciphers: Option<(Rc4Cipher, Rc4Cipher)>,
    /// The info-hash (SKEY): the one asked for by an initiator, the one found
    /// by a responder.
    pub info_hash: [u8; 20],
    /// The initiator's initial payload, decrypted (responder only; usually
    /// its BitTorrent handshake, possibly empty).
    pub ia: Vec<u8>,
    /// Bytes received after the handshake, already decrypted: the start of
    /// the stream.
    pub leftover: Vec<u8>,
}

/// Where a handshake stands after some input.
pub enum Step {
    /// More bytes from the peer are needed.
    NeedMore,
    /// The handshake is complete (boxed: it holds two RC4 states).
    Done(Box<Established>),
}

/// Received bytes not yet used, with the first `start` already consumed
/// (kept to avoid moving the buffer at each field).
#[derive(Default)]
struct Input {
    buf: Vec<u8>,
    start: usize,
}

impl Input {
    fn push(&mut self, data: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The next `n` bytes, consumed, or `None` (nothing consumed) if fewer
    /// have arrived.
    fn take(&mut self, n: usize) -> Option<&mut [u8]> {
        if self.pending().len() < n {
            return None;
        }
        self.start += n;
        Some(&mut self.buf[self.start - n..self.start])
    }

    /// Everything left, decrypted with `cipher` when there is one.
    fn into_leftover(mut self, cipher: Option<&mut Rc4Cipher>) -> Vec<u8> {
        let mut rest = self.buf.split_off(self.start);
        if let Some(c) = cipher {
            c.apply(&mut rest);
        }
        rest
    }
}

/// Searches `marker` at offsets 0..=`window - marker.len()` of `hay`:
/// `Ok(Some(offset))`, `Ok(None)` when more bytes could still hold it, or
/// `Err(())` when the whole window arrived without it.
fn search(hay: &[u8], marker: &[u8], window: usize) -> Result<Option<usize>, ()> {
    let limit = hay.len().min(window);
    if let Some(at) = hay[..limit].windows(marker.len()).position(|w| w == marker) {
        return Ok(Some(at));
    }
    if hay.len() >= window {
        Err(())
    } else {
        Ok(None)
    }
}

fn be16(b: &[u8]) -> usize {
    u16::from_be_bytes([b[0], b[1]]) as usize
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The ciphers of both directions for one side.
struct Keys {
    send: Rc4Cipher,
    recv: Rc4Cipher,
}

impl Keys {
    fn new(secret: &[u8; KEY_LEN], skey: &[u8; 20], initiator: bool) -> Keys {
        let a = Rc4Cipher::new(&rc4_key(b"keyA", secret, skey));
        let b = Rc4Cipher::new(&rc4_key(b"keyB", secret, skey));
        if initiator {
            Keys { send: a, recv: b }
        } else {
            Keys { send: b, recv: a }
        }
    }
}

enum InitiatorState {
    /// Waiting for Yb.
    Key,
    /// Searching for RC4(VC) after Yb (the encrypted constant is `vc`).
    SyncVc { keys: Keys, vc: [u8; 8] },
    /// crypto_select and len(PadD).
    Select { keys: Keys },
    /// PadD, `len` bytes.
    PadD { keys: Keys, crypto: Crypto, len: usize },
    /// Done or failed: no more input is taken.
    Finished,
}

/// Side A of the handshake (the one that dialled).
pub struct Initiator {
    keys: KeyPair,
    info_hash: [u8; 20],
    provide: u32,
    pad_c: Vec<u8>,
    ia: Vec<u8>,
    input: Input,
    state: InitiatorState,
}

impl Initiator {
    /// Starts a handshake for `info_hash`, offering the `provide` modes
    /// ([`CRYPTO_PLAINTEXT`], [`CRYPTO_RC4`] or both) and sending `ia` (at
    /// most [`MAX_IA`] bytes, normally our BitTorrent handshake) inside
    /// step 3. Appends step 1 (Ya, PadA) to `out`.
    pub fn new(
        secrets: Secrets,
        info_hash: [u8; 20],
        provide: u32,
        ia: &[u8],
        out: &mut Vec<u8>,
    ) -> Initiator {
        debug_assert!(ia.len() <= MAX_IA && provide & (CRYPTO_PLAINTEXT | CRYPTO_RC4) != 0);
        let keys = KeyPair::new(&secrets.private_key);
        out.extend_from_slice(keys.public());
        out.extend_from_slice(&secrets.first_pad[..secrets.first_pad.len().min(MAX_PAD)]);
        let mut pad_c = secrets.second_pad;
        pad_c.truncate(MAX_PAD);
        Initiator {
            keys,
            info_hash,
            provide,
            pad_c,
            ia: ia.to_vec(),
            input: Input::default(),
            state: InitiatorState::Key,
        }
    }

    /// Takes bytes from the responder and appends what to send to `out`.
    /// After an error or [`Step::Done`] the initiator must not be fed again.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<Step, MseError> {
        self.input.push(data);
        let result = self.advance(out);
        if !matches!(result, Ok(Step::NeedMore)) {
            self.state = InitiatorState::Finished;
        }
        result
    }

    fn advance(&mut self, out: &mut Vec<u8>) -> Result<Step, MseError> {
        loop {
            match std::mem::replace(&mut self.state, InitiatorState::Finished) {
                InitiatorState::Key => {
                    let Some(yb) = self.input.take(KEY_LEN) else {
                        self.state = InitiatorState::Key;
                        return Ok(Step::NeedMore);
                    };
                    let yb: [u8; KEY_LEN] = (&*yb).try_into().expect("took KEY_LEN bytes");
                    let secret = self.keys.shared_secret(&yb)?;
                    let mut keys = Keys::new(&secret, &self.info_hash, true);
                    self.write_step3(&secret, &mut keys.send, out);
                    let mut vc = VC;
                    keys.recv.apply(&mut vc);
                    self.state = InitiatorState::SyncVc { keys, vc };
                }
                InitiatorState::SyncVc { keys, vc } => match search(self.input.pending(), &vc, VC_WINDOW) {
                    Ok(Some(at)) => {
                        self.input.take(at + vc.len());
                        self.state = InitiatorState::Select { keys };
                    }
                    Ok(None) => {
                        self.state = InitiatorState::SyncVc { keys, vc };
                        return Ok(Step::NeedMore);
                    }
                    Err(()) => return Err(MseError::VcNotFound),
                },
                InitiatorState::Select { mut keys } => {
                    let Some(field) = self.input.take(6) else {
                        self.state = InitiatorState::Select { keys };
                        return Ok(Step::NeedMore);
                    };
                    keys.recv.apply(field);
                    let selected = be32(field);
                    let len = be16(&field[4..]);
                    let crypto = match selected {
                        CRYPTO_PLAINTEXT if self.provide & selected != 0 => Crypto::Plaintext,
                        CRYPTO_RC4 if self.provide & selected != 0 => Crypto::Rc4,
                        _ => return Err(MseError::BadSelect { selected, provided: self.provide }),
                    };
                    if len > MAX_PAD {
                        return Err(MseError::PadTooLong(len));
                    }
                    self.state = InitiatorState::PadD { keys, crypto, len };
                }
                InitiatorState::PadD { mut keys, crypto, len } => {
                    let Some(pad) = self.input.take(len) else {
                        self.state = InitiatorState::PadD { keys, crypto, len };
                        return Ok(Step::NeedMore);
                    };
                    keys.recv.apply(pad);
                    let input = std::mem::take(&mut self.input);
                    let (ciphers, leftover) = match crypto {
                        Crypto::Rc4 => {
                            let leftover = input.into_leftover(Some(&mut keys.recv));
                            (Some((keys.send, keys.recv)), leftover)
                        }
                        Crypto::Plaintext => (None, input.into_leftover(None)),
                    };
                    return Ok(Step::Done(Box::new(Established {
                        crypto,
                        ciphers,
                        info_hash: self.info_hash,
                        ia: Vec::new(),
                        leftover,
                    })));
                }
                InitiatorState::Finished => return Ok(Step::NeedMore),
            }
        }
    }

    /// Step 3: the two hashes, then VC, crypto_provide, PadC, len(IA) and IA
    /// encrypted.
    fn write_step3(&self, secret: &[u8; KEY_LEN], send: &mut Rc4Cipher, out: &mut Vec<u8>) {
        out.extend_from_slice(&req1_hash(secret));
        out.extend_from_slice(&xor20(&req2_hash(&self.info_hash), &req3_hash(secret)));
        let start = out.len();
        out.extend_from_slice(&VC);
        out.extend_from_slice(&self.provide.to_be_bytes());
        out.extend_from_slice(&(self.pad_c.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.pad_c);
        out.extend_from_slice(&(self.ia.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.ia);
        send.apply(&mut out[start..]);
    }
}

enum ResponderState {
    /// Waiting for Ya.
    Key,
    /// Searching for HASH('req1', S) after Ya.
    SyncReq1 { secret: Box<[u8; KEY_LEN]> },
    /// HASH('req2', SKEY) xor HASH('req3', S).
    Skey { secret: Box<[u8; KEY_LEN]> },
    /// VC, crypto_provide, len(PadC).
    Provide { keys: Keys, info_hash: [u8; 20] },
    /// PadC and len(IA).
    PadC { keys: Keys, info_hash: [u8; 20], crypto: Crypto, len: usize },
    /// IA, `len` bytes.
    Ia { keys: Keys, info_hash: [u8; 20], crypto: Crypto, len: usize },
    /// Done or failed: no more input is taken.
    Finished,
}

/// Side B of the handshake (the one that accepted). `F` maps
/// HASH('req2', SKEY) to the info-hash of a torrent we have.
pub struct Responder<F> {
    keys: KeyPair,
    pad_b: Vec<u8>,
    pad_d: Vec<u8>,
    allowed: u32,
    prefer_rc4: bool,
    find: F,
    input: Input,
    state: ResponderState,
}

impl<F: Fn(&[u8; 20]) -> Option<[u8; 20]>> Responder<F> {
    /// A responder accepting the `allowed` modes; of two modes offered and
    /// allowed it picks RC4 if `prefer_rc4`, else plaintext (libtorrent's
    /// rule). Nothing is sent before Ya has arrived.
    pub fn new(secrets: Secrets, allowed: u32, prefer_rc4: bool, find: F) -> Responder<F> {
        let mut pad_b = secrets.first_pad;
        pad_b.truncate(MAX_PAD);
        let mut pad_d = secrets.second_pad;
        pad_d.truncate(MAX_PAD);
        Responder {
            keys: KeyPair::new(&secrets.private_key),
            pad_b,
            pad_d,
            allowed,
            prefer_rc4,
            find,
            input: Input::default(),
            state: ResponderState::Key,
        }
    }

    /// Takes bytes from the initiator and appends what to send to `out`.
    /// After an error or [`Step::Done`] the responder must not be fed again.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<Step, MseError> {
        self.input.push(data);
        let result = self.advance(out);
        if !matches!(result, Ok(Step::NeedMore)) {
            self.state = ResponderState::Finished;
        }
        result
    }

    fn advance(&mut self, out: &mut Vec<u8>) -> Result<Step, MseError> {
        loop {
            match std::mem::replace(&mut self.state, ResponderState::Finished) {
                ResponderState::Key => {
                    let Some(ya) = self.input.take(KEY_LEN) else {
                        self.state = ResponderState::Key;
                        return Ok(Step::NeedMore);
                    };
                    let ya: [u8; KEY_LEN] = (&*ya).try_into().expect("took KEY_LEN bytes");
                    let secret = Box::new(self.keys.shared_secret(&ya)?);
                    out.extend_from_slice(self.keys.public());
                    out.extend_from_slice(&self.pad_b);
                    self.state = ResponderState::SyncReq1 { secret };
                }
                ResponderState::SyncReq1 { secret } => {
                    match search(self.input.pending(), &req1_hash(&secret), REQ1_WINDOW) {
                        Ok(Some(at)) => {
                            self.input.take(at + 20);
                            self.state = ResponderState::Skey { secret };
                        }
                        Ok(None) => {
                            self.state = ResponderState::SyncReq1 { secret };
                            return Ok(Step::NeedMore);
                        }
                        Err(()) => return Err(MseError::SyncHashNotFound),
                    }
                }
                ResponderState::Skey { secret } => {
                    let Some(field) = self.input.take(20) else {
                        self.state = ResponderState::Skey { secret };
                        return Ok(Step::NeedMore);
                    };
                    let field: [u8; 20] = (&*field).try_into().expect("took 20 bytes");
                    let req2 = xor20(&field, &req3_hash(&secret));
                    let info_hash = (self.find)(&req2).ok_or(MseError::UnknownTorrent)?;
                    let keys = Keys::new(&secret, &info_hash, false);
                    self.state = ResponderState::Provide { keys, info_hash };
                }
                ResponderState::Provide { mut keys, info_hash } => {
                    let Some(field) = self.input.take(14) else {
                        self.state = ResponderState::Provide { keys, info_hash };
                        return Ok(Step::NeedMore);
                    };
                    keys.recv.apply(field);
                    if field[..8] != VC {
                        return Err(MseError::BadVc);
                    }
                    let provided = be32(&field[8..]);
                    let len = be16(&field[12..]);
                    let crypto = self.select(provided)?;
                    if len > MAX_PAD {
                        return Err(MseError::PadTooLong(len));
                    }
                    self.state = ResponderState::PadC { keys, info_hash, crypto, len };
                }
                ResponderState::PadC { mut keys, info_hash, crypto, len } => {
                    let Some(field) = self.input.take(len + 2) else {
                        self.state = ResponderState::PadC { keys, info_hash, crypto, len };
                        return Ok(Step::NeedMore);
                    };
                    keys.recv.apply(field);
                    let ia_len = be16(&field[len..]);
                    if ia_len > MAX_IA {
                        return Err(MseError::IaTooLong(ia_len));
                    }
                    self.state = ResponderState::Ia { keys, info_hash, crypto, len: ia_len };
                }
                ResponderState::Ia { mut keys, info_hash, crypto, len } => {
                    let Some(field) = self.input.take(len) else {
                        self.state = ResponderState::Ia { keys, info_hash, crypto, len };
                        return Ok(Step::NeedMore);
                    };
                    keys.recv.apply(field);
                    let ia = field.to_vec();
                    self.write_step4(crypto, &mut keys.send, out);
                    let input = std::mem::take(&mut self.input);
                    let (ciphers, leftover) = match crypto {
                        Crypto::Rc4 => {
                            let leftover = input.into_leftover(Some(&mut keys.recv));
                            (Some((keys.send, keys.recv)), leftover)
                        }
                        Crypto::Plaintext => (None, input.into_leftover(None)),
                    };
                    return Ok(Step::Done(Box::new(Established {
                        crypto,
                        ciphers,
                        info_hash,
                        ia,
                        leftover,
                    })));
                }
                ResponderState::Finished => return Ok(Step::NeedMore),
            }
        }
    }

    /// crypto_select from crypto_provide: the modes both allow, then the
    /// highest bit if `prefer_rc4`, else the lowest.
    fn select(&self, provided: u32) -> Result<Crypto, MseError> {
        let both = provided & self.allowed & (CRYPTO_PLAINTEXT | CRYPTO_RC4);
        match both {
            0 => Err(MseError::NoCommonMode { provided, allowed: self.allowed }),
            CRYPTO_RC4 => Ok(Crypto::Rc4),
            CRYPTO_PLAINTEXT => Ok(Crypto::Plaintext),
            _ if self.prefer_rc4 => Ok(Crypto::Rc4),
            _ => Ok(Crypto::Plaintext),
        }
    }

    /// Step 4: VC, crypto_select, len(PadD) and PadD, encrypted.
    fn write_step4(&self, crypto: Crypto, send: &mut Rc4Cipher, out: &mut Vec<u8>) {
        let select = match crypto {
            Crypto::Plaintext => CRYPTO_PLAINTEXT,
            Crypto::Rc4 => CRYPTO_RC4,
        };
        let start = out.len();
        out.extend_from_slice(&VC);
        out.extend_from_slice(&select.to_be_bytes());
        out.extend_from_slice(&(self.pad_d.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.pad_d);
        send.apply(&mut out[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn private(first: u8) -> [u8; 20] {
        std::array::from_fn(|i| first + i as u8)
    }

    const INFO_HASH: [u8; 20] = [0xaa; 20];

    // Expected values computed independently with Python (pow(2, x, P),
    // hashlib.sha1 and a 20-line RC4): private keys 01..14 (A) and 15..28
    // (B) in hex, info-hash aa*20.
    #[test]
    fn keys_hashes_and_rc4_match_an_independent_computation() {
        let a = KeyPair::new(&private(1));
        let b = KeyPair::new(&private(21));
        assert_eq!(a.public()[..8], hex("96e112dab29e8c52")[..]);
        assert_eq!(hash(&[a.public()]).to_vec(), hex("9fa4c50e31ec4635ddb9ef30405e9db341313ed2"));
        let s = a.shared_secret(b.public()).unwrap();
        assert_eq!(s, b.shared_secret(a.public()).unwrap(), "both sides agree");
        assert_eq!(hash(&[&s]).to_vec(), hex("12ba167261b1d285979464feaaf403c26052c6b8"));
        assert_eq!(req1_hash(&s).to_vec(), hex("83c8d8a3d91a5bf40d723666c4258731c8427ccb"));
        assert_eq!(req2_hash(&INFO_HASH).to_vec(), hex("c9b0599dfa950cfbde978efc6aa0588f510fa315"));
        assert_eq!(req3_hash(&s).to_vec(), hex("8397dbd4bb89c0a9a522662fc99aaa29c62a02e9"));
        let key_a = rc4_key(b"keyA", &s, &INFO_HASH);
        assert_eq!(key_a.to_vec(), hex("31d9009cff2c45e3be00d3d9ec6e4b32d0f06816"));
        let mut stream = [0u8; 8];
        Rc4Cipher::new(&key_a).apply(&mut stream);
        assert_eq!(stream.to_vec(), hex("0327b6d211c82d49"), "keystream bytes 1024..1032");
    }

    #[test]
    fn small_public_keys_are_left_padded_and_weak_remote_keys_refused() {
        let mut one = [0u8; 20];
        one[19] = 1;
        let k = KeyPair::new(&one);
        let mut two = [0u8; KEY_LEN];
        two[KEY_LEN - 1] = 2;
        assert_eq!(k.public(), &two, "2^1 is 2, in 96 bytes");
        let mut p_minus_1 = PRIME;
        p_minus_1[KEY_LEN - 1] -= 1;
        let mut p_minus_2 = PRIME;
        p_minus_2[KEY_LEN - 1] -= 2;
        let mut one_key = [0u8; KEY_LEN];
        one_key[KEY_LEN - 1] = 1;
        for bad in [[0u8; KEY_LEN], one_key, p_minus_1, PRIME, [0xff; KEY_LEN]] {
            assert_eq!(k.shared_secret(&bad), Err(MseError::InvalidKey));
        }
        assert!(k.shared_secret(&two).is_ok());
        assert!(k.shared_secret(&p_minus_2).is_ok());
    }

    fn secrets(first: u8, pad1: usize, pad2: usize) -> Secrets {
        Secrets { private_key: private(first), first_pad: vec![0x55; pad1], second_pad: vec![0x66; pad2] }
    }

    type Find = fn(&[u8; 20]) -> Option<[u8; 20]>;

    fn find(req2: &[u8; 20]) -> Option<[u8; 20]> {
        (*req2 == req2_hash(&INFO_HASH)).then_some(INFO_HASH)
    }

    /// Runs both sides against each other, delivering bytes `chunk` at a time.
    fn run(
        mut init: Initiator,
        mut a_out: Vec<u8>,
        mut resp: Responder<Find>,
        chunk: usize,
    ) -> (Result<Established, MseError>, Result<Established, MseError>) {
        let (mut a_done, mut b_done) = (None, None);
        let mut b_out = Vec::new();
        for _ in 0..10_000 {
            if a_done.is_some() && b_done.is_some() {
                break;
            }
            if b_done.is_none() && !a_out.is_empty() {
                let n = chunk.min(a_out.len());
                let piece: Vec<u8> = a_out.drain(..n).collect();
                match resp.feed(&piece, &mut b_out) {
                    Ok(Step::NeedMore) => {}
                    Ok(Step::Done(e)) => b_done = Some(Ok(*e)),
                    Err(e) => b_done = Some(Err(e)),
                }
            } else if a_done.is_none() && !b_out.is_empty() {
                let n = chunk.min(b_out.len());
                let piece: Vec<u8> = b_out.drain(..n).collect();
                match init.feed(&piece, &mut a_out) {
                    Ok(Step::NeedMore) => {}
                    Ok(Step::Done(e)) => a_done = Some(Ok(*e)),
                    Err(e) => a_done = Some(Err(e)),
                }
            } else {
                break;
            }
        }
        (a_done.expect("initiator finished"), b_done.expect("responder finished"))
    }

    #[test]
    fn both_sides_agree_whatever_the_chunking() {
        for (provide, allowed, prefer, want) in [
            (CRYPTO_RC4, CRYPTO_RC4 | CRYPTO_PLAINTEXT, false, Crypto::Rc4),
            (CRYPTO_RC4 | CRYPTO_PLAINTEXT, CRYPTO_RC4 | CRYPTO_PLAINTEXT, false, Crypto::Plaintext),
            (CRYPTO_RC4 | CRYPTO_PLAINTEXT, CRYPTO_RC4 | CRYPTO_PLAINTEXT, true, Crypto::Rc4),
            (CRYPTO_PLAINTEXT, CRYPTO_PLAINTEXT, true, Crypto::Plaintext),
        ] {
            for (chunk, pads) in [(1, (0, 0)), (7, (512, 512)), (1000, (3, 200)), (5000, (512, 0))] {
                let mut a_out = Vec::new();
                let ia = b"initial payload".to_vec();
                let init = Initiator::new(secrets(1, pads.0, pads.1), INFO_HASH, provide, &ia, &mut a_out);
                let resp: Responder<Find> =
                    Responder::new(secrets(21, pads.1, pads.0), allowed, prefer, find);
                let (a, b) = run(init, a_out, resp, chunk);
                let (mut a, mut b) = (a.unwrap(), b.unwrap());
                assert_eq!((a.crypto, b.crypto), (want, want), "chunk {chunk}");
                assert_eq!(b.ia, ia);
                assert_eq!((a.info_hash, b.info_hash), (INFO_HASH, INFO_HASH));
                assert!(a.leftover.is_empty() && b.leftover.is_empty());
                assert_eq!(a.ciphers.is_some(), want == Crypto::Rc4);
                if let (Some((a_send, a_recv)), Some((b_send, b_recv))) = (&mut a.ciphers, &mut b.ciphers) {
                    let mut msg = *b"stream bytes";
                    a_send.apply(&mut msg);
                    assert_ne!(&msg, b"stream bytes");
                    b_recv.apply(&mut msg);
                    assert_eq!(&msg, b"stream bytes", "A to B carries on from the handshake");
                    b_send.apply(&mut msg);
                    a_recv.apply(&mut msg);
                    assert_eq!(&msg, b"stream bytes", "B to A carries on from the handshake");
                }
            }
        }
    }

    #[test]
    fn bytes_after_the_handshake_come_back_decrypted() {
        let mut a_out = Vec::new();
        let mut init = Initiator::new(secrets(1, 10, 10), INFO_HASH, CRYPTO_RC4, b"", &mut a_out);
        let mut resp: Responder<Find> = Responder::new(secrets(21, 10, 10), CRYPTO_RC4, false, find);
        let mut b_out = Vec::new();
        assert!(matches!(resp.feed(&a_out[..96], &mut b_out), Ok(Step::NeedMore)));
        let mut a_step3 = Vec::new();
        assert!(matches!(init.feed(&b_out[..96], &mut a_step3), Ok(Step::NeedMore)));
        let mut b_step4 = Vec::new();
        let rest: Vec<u8> = a_out[96..].iter().chain(&a_step3).copied().collect();
        let Ok(Step::Done(mut b)) = resp.feed(&rest, &mut b_step4) else { panic!("responder done") };
        assert!(b.ia.is_empty());
        let mut payload = *b"\x13BitTorrent protocol";
        b.ciphers.as_mut().unwrap().0.apply(&mut payload);
        let mut tail = b_out[96..].to_vec();
        tail.extend_from_slice(&b_step4);
        tail.extend_from_slice(&payload);
        let Ok(Step::Done(a)) = init.feed(&tail, &mut Vec::new()) else { panic!("initiator done") };
        assert_eq!(a.leftover, b"\x13BitTorrent protocol");
    }

    /// Feeds Ya to the responder and Yb to the initiator: answers the
    /// responder's result for step 3.
    fn step3_result(info_hash: [u8; 20], provide: u32, allowed: u32) -> Result<Step, MseError> {
        let mut a_out = Vec::new();
        let mut init = Initiator::new(secrets(1, 0, 0), info_hash, provide, b"", &mut a_out);
        let mut resp: Responder<Find> = Responder::new(secrets(21, 0, 0), allowed, false, find);
        let mut b_out = Vec::new();
        assert!(matches!(resp.feed(&a_out, &mut b_out), Ok(Step::NeedMore)));
        let mut step3 = Vec::new();
        assert!(matches!(init.feed(&b_out, &mut step3), Ok(Step::NeedMore)));
        resp.feed(&step3, &mut Vec::new())
    }

    #[test]
    fn a_mismatch_of_modes_and_an_unknown_torrent_are_refused() {
        let err = step3_result(INFO_HASH, CRYPTO_PLAINTEXT, CRYPTO_RC4).err().unwrap();
        assert_eq!(err, MseError::NoCommonMode { provided: 1, allowed: 2 });
        assert!(err.to_string().starts_with("unsupported_encryption_mode:"));
        let err = step3_result([0xbb; 20], CRYPTO_RC4, CRYPTO_RC4).err().unwrap();
        assert_eq!(err, MseError::UnknownTorrent);
    }

    #[test]
    fn the_responder_gives_up_after_the_req1_window() {
        let mut resp: Responder<Find> = Responder::new(secrets(21, 0, 0), CRYPTO_RC4, false, find);
        let mut ya = KeyPair::new(&private(1)).public().to_vec();
        ya.extend_from_slice(&[0u8; REQ1_WINDOW - 1]);
        assert!(
            matches!(resp.feed(&ya, &mut Vec::new()), Ok(Step::NeedMore)),
            "one byte short of the window"
        );
        assert_eq!(resp.feed(&[0], &mut Vec::new()).err(), Some(MseError::SyncHashNotFound));
    }

    #[test]
    fn the_initiator_gives_up_after_the_vc_window() {
        let mut out = Vec::new();
        let mut init = Initiator::new(secrets(1, 0, 0), INFO_HASH, CRYPTO_RC4, b"", &mut out);
        let mut junk = KeyPair::new(&private(21)).public().to_vec();
        junk.extend_from_slice(&[0x11; VC_WINDOW - 1]);
        assert!(matches!(init.feed(&junk, &mut out), Ok(Step::NeedMore)));
        assert_eq!(init.feed(&[0x11], &mut out).err(), Some(MseError::VcNotFound));
    }

    #[test]
    fn too_long_pads_and_ia_are_refused() {
        // A hand-built step 3 with len(PadC) = 513, then one with len(IA) = 69.
        for (pad_len, ia_len, want) in
            [(513u16, 0u16, MseError::PadTooLong(513)), (0, 69, MseError::IaTooLong(69))]
        {
            let a = KeyPair::new(&private(1));
            let mut resp: Responder<Find> = Responder::new(secrets(21, 0, 0), CRYPTO_RC4, false, find);
            let mut b_out = Vec::new();
            assert!(matches!(resp.feed(a.public(), &mut b_out), Ok(Step::NeedMore)));
            let s = a.shared_secret(b_out[..96].try_into().unwrap()).unwrap();
            let mut step3 = req1_hash(&s).to_vec();
            step3.extend_from_slice(&xor20(&req2_hash(&INFO_HASH), &req3_hash(&s)));
            let mut enc = VC.to_vec();
            enc.extend_from_slice(&CRYPTO_RC4.to_be_bytes());
            enc.extend_from_slice(&pad_len.to_be_bytes());
            enc.extend_from_slice(&ia_len.to_be_bytes());
            Keys::new(&s, &INFO_HASH, true).send.apply(&mut enc);
            step3.extend_from_slice(&enc);
            assert_eq!(resp.feed(&step3, &mut Vec::new()).err(), Some(want));
        }
    }
}
