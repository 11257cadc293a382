//! The MSE handshake state machines fed hostile peers.
//!
//! The first byte picks the peer and how its bytes arrive:
//! - bit 0 clear: a responder hears the input. With bit 1 clear the input
//!   is raw (it must not get past the req1 search); with bit 1 set, a real
//!   initiator's Ya and the two hashes come first and the input is the
//!   plaintext of the rest of step 3 (VC, crypto_provide, PadC, IA ...),
//!   encrypted with the right key, so every field check is reached.
//! - bit 0 set: an initiator hears a real Yb, then the input, encrypted
//!   from its second byte on with the responder's key (the first byte is
//!   the length of a clear PadB), so crypto_select and PadD are reached.
//!
//! The other bits set the chunk size. Checked: no panic; the outcome does
//! not depend on how the bytes are chunked; a machine that has been given
//! more than its handshake can hold is done or has failed (the resync
//! windows and field limits bound it); what it sends stays within the
//! sizes of its steps; a finished responder names the torrent it knows and
//! carries at most 68 bytes of IA.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lt::proto::mse::{
    rc4_key, req1_hash, req2_hash, req3_hash, Initiator, KeyPair, MseError, Rc4Cipher, Responder, Secrets,
    Step, CRYPTO_PLAINTEXT, CRYPTO_RC4, INITIATOR_MAX_INPUT, KEY_LEN, MAX_IA, MAX_PAD, RESPONDER_MAX_INPUT,
};

const INFO_HASH: [u8; 20] = [0x5a; 20];
const A_KEY: [u8; 20] = [0x11; 20];
const B_KEY: [u8; 20] = [0x22; 20];

fn secrets(private_key: [u8; 20]) -> Secrets {
    Secrets { private_key, first_pad: vec![0xa5; 17], second_pad: vec![0x5a; 9] }
}

fn find(req2: &[u8; 20]) -> Option<[u8; 20]> {
    (*req2 == req2_hash(&INFO_HASH)).then_some(INFO_HASH)
}

/// What a machine ended with: whether it finished (RC4 or not, the IA), its
/// error, and the number of bytes it sent; and apart, because they depend on
/// the chunking, the bytes it returned after the handshake and the number of
/// input bytes it was never given.
#[derive(Debug, PartialEq)]
struct Outcome {
    done: Option<(bool, Vec<u8>)>,
    error: Option<MseError>,
    sent: usize,
}

struct Run {
    outcome: Outcome,
    leftover: Vec<u8>,
    unfed: usize,
}

/// Both runs agree, and the chunked run's leftover is the start of the
/// whole run's (the bytes it was not given make up the rest).
fn same(chunked: Run, whole: Run) {
    assert_eq!(chunked.outcome, whole.outcome, "chunking changed the outcome");
    assert_eq!(whole.unfed, 0);
    assert_eq!(chunked.leftover.len() + chunked.unfed, whole.leftover.len());
    assert!(whole.leftover.starts_with(&chunked.leftover));
}

fn feed_all(
    mut feed: impl FnMut(&[u8], &mut Vec<u8>) -> Result<Step, MseError>,
    input: &[u8],
    chunk: usize,
    max_input: usize,
) -> Run {
    let mut out = Vec::new();
    let mut fed = 0;
    for piece in input.chunks(chunk) {
        fed += piece.len();
        let (done, error, leftover) = match feed(piece, &mut out) {
            Ok(Step::NeedMore) => {
                assert!(fed < max_input, "still waiting after {fed} bytes");
                continue;
            }
            Ok(Step::Done(e)) => (Some((e.ciphers.is_some(), e.ia)), None, e.leftover),
            Err(e) => (None, Some(e), Vec::new()),
        };
        let unfed = if error.is_some() { 0 } else { input.len() - fed };
        return Run { outcome: Outcome { done, error, sent: out.len() }, leftover, unfed };
    }
    Run { outcome: Outcome { done: None, error: None, sent: out.len() }, leftover: Vec::new(), unfed: 0 }
}

fn responder_run(input: &[u8], chunk: usize, prefix: &[u8]) -> Run {
    let mut r = Responder::new(secrets(B_KEY), CRYPTO_RC4 | CRYPTO_PLAINTEXT, false, find);
    let mut whole = prefix.to_vec();
    whole.extend_from_slice(input);
    let o = feed_all(|d, out| r.feed(d, out), &whole, chunk, RESPONDER_MAX_INPUT);
    assert!(o.outcome.sent <= 2 * (KEY_LEN + MAX_PAD), "responder sent {} bytes", o.outcome.sent);
    if let Some((_, ia)) = &o.outcome.done {
        assert!(ia.len() <= MAX_IA);
    }
    o
}

fn initiator_run(input: &[u8], chunk: usize) -> Run {
    let mut first = Vec::new();
    let mut i =
        Initiator::new(secrets(A_KEY), INFO_HASH, CRYPTO_RC4 | CRYPTO_PLAINTEXT, &[7; 68], &mut first);
    let o = feed_all(|d, out| i.feed(d, out), input, chunk, INITIATOR_MAX_INPUT);
    assert!(o.outcome.sent <= 20 + 20 + 16 + MAX_PAD + 68, "initiator sent {} bytes", o.outcome.sent);
    o
}

/// Both fixed key pairs and their secret, computed once (modular
/// exponentiation dominates the time of a run).
fn keys() -> &'static (KeyPair, KeyPair, [u8; KEY_LEN]) {
    static KEYS: OnceLock<(KeyPair, KeyPair, [u8; KEY_LEN])> = OnceLock::new();
    KEYS.get_or_init(|| {
        let (a, b) = (KeyPair::new(&A_KEY), KeyPair::new(&B_KEY));
        let secret = a.shared_secret(b.public()).expect("fixed keys are valid");
        (a, b, secret)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let chunk = usize::from(mode >> 2) * 37 + 1;
    let (a, b, secret) = keys();
    if mode & 1 == 0 {
        let (prefix, input) = if mode & 2 == 0 {
            (Vec::new(), rest.to_vec())
        } else {
            let mut prefix = a.public().to_vec();
            prefix.extend_from_slice(&req1_hash(secret));
            let skey: Vec<u8> =
                req2_hash(&INFO_HASH).iter().zip(req3_hash(secret)).map(|(x, y)| x ^ y).collect();
            prefix.extend_from_slice(&skey);
            let mut input = rest.to_vec();
            Rc4Cipher::new(&rc4_key(b"keyA", secret, &INFO_HASH)).apply(&mut input);
            (prefix, input)
        };
        same(responder_run(&input, chunk, &prefix), responder_run(&input, usize::MAX, &prefix));
    } else {
        let mut input = b.public().to_vec();
        if let Some((&pad_len, tail)) = rest.split_first() {
            let pad_len = usize::from(pad_len).min(tail.len());
            input.extend_from_slice(&tail[..pad_len]);
            let mut encrypted = tail[pad_len..].to_vec();
            Rc4Cipher::new(&rc4_key(b"keyB", secret, &INFO_HASH)).apply(&mut encrypted);
            input.extend_from_slice(&encrypted);
        }
        same(initiator_run(&input, chunk), initiator_run(&input, usize::MAX));
    }
});
