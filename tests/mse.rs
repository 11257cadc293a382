//! Message Stream Encryption (lt::engine::transport::mse) on loopback TCP:
//! lt against itself, against libtorrent-rasterbar with forced encryption
//! (both directions) and against transmission with encryption required.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{free_port, local, make_data, make_torrent, tempdir};
use lt::engine::error::ErrorKind;
use lt::engine::transport::mse::{initiate, respond, Crypto, MseStream};
use lt::proto::metainfo::Metainfo;
use lt::proto::mse::req2_hash;
use lt::proto::types::{InfoHash, PeerId};
use lt::proto::wire::{decode_message, Handshake, Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Generous: the machine is slow and busy; nothing here measures time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
const PLAIN_HEADER: &[u8; 20] = b"\x13BitTorrent protocol";

/// A connected loopback TCP pair (dialler, acceptor).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (dialled, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (dialled.unwrap(), accepted.unwrap().0)
}

fn finder(info_hash: [u8; 20]) -> impl Fn(&[u8; 20]) -> Option<[u8; 20]> {
    let wanted = req2_hash(&info_hash);
    move |h| (*h == wanted).then_some(info_hash)
}

/// Deterministic bytes that differ between the two directions.
fn pattern(len: usize, salt: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(salt) >> 13) as u8).collect()
}

/// Sends `data` through `stream` while reading `data_len` bytes from it.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: S, data: &[u8], data_len: usize) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(stream);
    let send = async {
        w.write_all(data).await.unwrap();
        w.flush().await.unwrap();
    };
    let mut got = vec![0u8; data_len];
    let (_, read) = tokio::join!(send, r.read_exact(&mut got));
    read.unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lt_to_lt_carries_8_mib_both_ways_in_rc4_and_in_plaintext() {
    const SIZE: usize = 8 << 20;
    let info_hash = [0x42; 20];
    let (a_data, b_data) = (pattern(SIZE, 1), pattern(SIZE, 2));
    for (offer, allowed, prefer_rc4, want) in
        [(3u8, 3u8, true, Crypto::Rc4), (3, 3, false, Crypto::Plaintext), (2, 3, false, Crypto::Rc4)]
    {
        let (dialled, accepted) = tcp_pair().await;
        let ia = Handshake::new(InfoHash(info_hash), PeerId([b'a'; 20])).encode();
        let (a, b) = tokio::join!(
            initiate(dialled, &info_hash, &ia, offer, HANDSHAKE_TIMEOUT),
            respond(accepted, &[], finder(info_hash), allowed, prefer_rc4, HANDSHAKE_TIMEOUT)
        );
        let (a, a_crypto) = a.unwrap();
        let (b, found, b_crypto, b_ia) = b.unwrap();
        assert_eq!((a_crypto, b_crypto), (want, want), "offer {offer}, allowed {allowed}");
        assert_eq!((a.crypto(), b.crypto()), (want, want));
        assert_eq!(found, info_hash);
        assert_eq!(b_ia, ia, "the IA arrives decrypted");
        let (at_b, at_a) = tokio::join!(exchange(a, &a_data, SIZE), exchange(b, &b_data, SIZE));
        assert!(at_b == b_data, "B to A, {want:?}: bytes differ");
        assert!(at_a == a_data, "A to B, {want:?}: bytes differ");
    }
}

#[tokio::test]
async fn a_plaintext_only_initiator_and_an_rc4_only_responder_fail_clearly() {
    let info_hash = [0x43; 20];
    let (dialled, accepted) = tcp_pair().await;
    let (a, b) = tokio::join!(
        initiate(dialled, &info_hash, b"", 1, HANDSHAKE_TIMEOUT),
        respond(accepted, &[], finder(info_hash), 2, false, HANDSHAKE_TIMEOUT)
    );
    let b = b.err().expect("the responder refuses");
    assert_eq!(b.kind(), ErrorKind::Protocol);
    assert!(b.message().contains("unsupported_encryption_mode: the peer provides 0x1, we allow 0x2"), "{b}");
    let a = a.err().expect("the initiator sees the connection end");
    assert!(matches!(a.kind(), ErrorKind::Protocol | ErrorKind::Io), "{a}");
    assert!(a.message().contains("encrypted handshake (MSE)"), "{a}");

    // An initiator asking for a torrent the responder does not have.
    let (dialled, accepted) = tcp_pair().await;
    let (_, b) = tokio::join!(
        initiate(dialled, &[0x44; 20], b"", 3, HANDSHAKE_TIMEOUT),
        respond(accepted, &[], finder(info_hash), 3, false, HANDSHAKE_TIMEOUT)
    );
    assert!(b.err().unwrap().message().contains("invalid_info_hash"));

    // A peer that sends a plain handshake to a responder: no req1 ever comes.
    let (mut dialled, accepted) = tcp_pair().await;
    let plain = Handshake::new(InfoHash(info_hash), PeerId([b'p'; 20])).encode();
    dialled.write_all(&plain).await.unwrap();
    dialled.write_all(&[0u8; 600]).await.unwrap();
    let e = respond(accepted, &[], finder(info_hash), 3, false, HANDSHAKE_TIMEOUT).await.err().unwrap();
    assert!(e.message().contains("sync_hash_not_found"), "{e}");
}

/// A helper process (libtorrent or transmission), killed when dropped.
struct Process {
    child: Child,
    lines: Receiver<String>,
}

impl Process {
    fn spawn(cmd: &mut Command) -> Process {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn peer");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Process { child, lines }
    }

    fn wait_line(&mut self, want: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(want) => return line,
                Ok(_) => {}
                Err(e) => panic!("no '{want}' from the peer within {timeout:?}: {e}"),
            }
        }
    }
}

impl Process {
    /// The output lines not read yet (for a failure message).
    fn unread(&self) -> String {
        self.lines.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lt_mse_peer(cmd: &str, torrent: &Path, save_path: &Path, port: u16, extra: &[&str]) -> Process {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/lt_mse_peer.py");
    assert!(Path::new("/usr/bin/python3").exists(), "install python3-libtorrent");
    let mut c = Command::new("/usr/bin/python3");
    c.arg(script).arg(cmd).arg("--torrent").arg(torrent).arg("--save-path").arg(save_path);
    c.args(["--port", &port.to_string()]).args(extra);
    Process::spawn(&mut c)
}

/// A one-file torrent of `size` bytes under `dir`: (torrent path, data dir, info-hash).
fn small_torrent(dir: &Path, size: u64) -> (std::path::PathBuf, std::path::PathBuf, [u8; 20]) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    make_data(&data, &[("file.bin", size)], 11);
    let torrent = dir.join("t.torrent");
    make_torrent(&data.join("file.bin"), &torrent, 32 * 1024, &[], false);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    (torrent, data, meta.info_hash.0)
}

/// Reads the next non-keepalive message from `stream`.
async fn next_message<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut BytesMut) -> Message {
    loop {
        if let Some(msg) = decode_message(buf, 1 << 20).expect("a well-formed message") {
            if !matches!(msg, Message::KeepAlive) {
                return msg;
            }
            continue;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read a message");
        assert!(n > 0, "the peer closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Our handshake without the extension bits, so the seeder's first message
/// is its bitfield.
fn plain_bt_handshake(info_hash: [u8; 20]) -> [u8; 68] {
    let mut h = Handshake::new(InfoHash(info_hash), PeerId::generate("-LT0010-"));
    h.reserved = [0; 8];
    h.encode()
}

/// Reads the peer's 68-byte handshake through `stream` and checks its info-hash.
async fn read_handshake<S: AsyncRead + Unpin>(stream: &mut MseStream<S>, info_hash: [u8; 20]) -> Handshake {
    let mut theirs = [0u8; Handshake::LEN];
    stream.read_exact(&mut theirs).await.expect("the peer's handshake");
    let h = Handshake::decode(&theirs).expect("a BitTorrent handshake");
    assert_eq!(h.info_hash.0, info_hash);
    h
}

/// libtorrent seeding with forced encryption and `level` as its
/// allowed_enc_level; lt dials it offering `offer` and must agree on `want`,
/// read its handshake and then its bitfield.
async fn dial_libtorrent_seeder(level: &str, offer: u8, want: Crypto) {
    let dir = tempdir("mse-seeder");
    let (torrent, data, info_hash) = small_torrent(&dir.path, 200_000);
    let port = free_port();
    let mut seeder = lt_mse_peer("seed", &torrent, &data, port, &["--allowed-enc-level", level]);
    seeder.wait_line("\"ready\"", Duration::from_secs(120));

    let stream = TcpStream::connect(local(port)).await.unwrap();
    let ours = plain_bt_handshake(info_hash);
    let (mut s, crypto) = initiate(stream, &info_hash, &ours, offer, HANDSHAKE_TIMEOUT).await.unwrap();
    assert_eq!(crypto, want);
    read_handshake(&mut s, info_hash).await;
    let pieces = 200_000usize.div_ceil(32 * 1024);
    match next_message(&mut s, &mut BytesMut::new()).await {
        Message::Bitfield(bits) => {
            assert_eq!(bits.len(), pieces.div_ceil(8));
            let set: u32 = bits.iter().map(|b| b.count_ones()).sum();
            assert_eq!(set as usize, pieces, "a seeder has every piece");
        }
        other => panic!("expected the seeder's bitfield, got {other:?}"),
    }
}

#[tokio::test]
async fn lt_dials_a_libtorrent_seeder_that_forces_rc4() {
    dial_libtorrent_seeder("2", 2, Crypto::Rc4).await;
}

#[tokio::test]
async fn lt_dials_a_libtorrent_seeder_that_selects_plaintext() {
    // Offered both, libtorrent (prefer_rc4 off) keeps the lowest bit.
    dial_libtorrent_seeder("3", 3, Crypto::Plaintext).await;
}

/// A libtorrent downloader with forced encryption dials a listener of the
/// test; lt answers with `allowed` and must agree on `want`, find the
/// torrent by its req2 hash, decode libtorrent's handshake from the IA,
/// answer with its own and read libtorrent's extension handshake.
async fn libtorrent_dials_lt(allowed: u8, want: Crypto) {
    let dir = tempdir("mse-downloader");
    let (torrent, _data, info_hash) = small_torrent(&dir.path, 100_000);
    let empty = dir.path.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let _downloader =
        lt_mse_peer("download", &torrent, &empty, free_port(), &["--connect", &addr.to_string()]);

    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(120), listener.accept())
        .await
        .expect("libtorrent dials within 2 minutes")
        .unwrap();
    let mut first = [0u8; 20];
    stream.read_exact(&mut first).await.unwrap();
    assert_ne!(&first, PLAIN_HEADER, "forced encryption: not a plain handshake");
    let (mut s, found, crypto, ia) =
        respond(stream, &first, finder(info_hash), allowed, false, HANDSHAKE_TIMEOUT).await.unwrap();
    assert_eq!((found, crypto), (info_hash, want));
    let theirs = Handshake::decode(&ia).expect("libtorrent's handshake is the IA");
    assert_eq!(theirs.info_hash.0, info_hash);
    assert!(theirs.supports_extensions());

    // Our handshake with the extension bit: libtorrent's next message is
    // its extension handshake (BEP 10).
    let ours = Handshake::new(InfoHash(info_hash), PeerId::generate("-LT0010-")).encode();
    s.write_all(&ours).await.unwrap();
    s.flush().await.unwrap();
    let mut buf = BytesMut::new();
    loop {
        match next_message(&mut s, &mut buf).await {
            Message::Extended { id: 0, payload } => {
                assert_eq!(payload.first(), Some(&b'd'), "a bencoded dictionary");
                break;
            }
            // It may say it has no pieces first.
            Message::HaveNone | Message::Bitfield(_) => continue,
            other => panic!("expected libtorrent's extension handshake, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_libtorrent_downloader_that_forces_encryption_dials_lt_rc4() {
    libtorrent_dials_lt(2, Crypto::Rc4).await;
}

#[tokio::test]
async fn a_libtorrent_downloader_that_forces_encryption_dials_lt_plaintext() {
    // libtorrent offers both (allowed_enc_level 3); lt allows both and,
    // without prefer_rc4, picks plaintext as libtorrent would.
    libtorrent_dials_lt(3, Crypto::Plaintext).await;
}

#[tokio::test]
async fn lt_dials_a_transmission_seeder_that_requires_encryption() {
    assert!(Path::new("/usr/bin/transmission-cli").exists(), "install transmission-cli");
    let dir = tempdir("mse-transmission");
    let (_, data, _) = small_torrent(&dir.path, 150_000);
    // transmission 3.00 cannot open libtorrent 2's hybrid torrents: make
    // the torrent with transmission-create.
    let torrent = dir.path.join("tr.torrent");
    let made = Command::new("/usr/bin/transmission-create")
        .arg("-o")
        .arg(&torrent)
        .args(["-s", "32"])
        .arg(data.join("file.bin"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "transmission-create failed");
    let info_hash = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap().info_hash.0;
    let port = free_port();
    let config = dir.path.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let settings = serde_json::json!({
        "bind-address-ipv4": "127.0.0.1",
        "bind-address-ipv6": "::1",
        "peer-port": port,
        "dht-enabled": false,
        "lpd-enabled": false,
        "pex-enabled": false,
        "utp-enabled": false,
        "port-forwarding-enabled": false,
        "rpc-enabled": false,
        "blocklist-enabled": false,
        "encryption": 2,
        "message-level": 2,
    });
    std::fs::write(config.join("settings.json"), settings.to_string()).unwrap();
    let mut cmd = Command::new("/usr/bin/transmission-cli");
    cmd.arg("-g")
        .arg(&config)
        .arg("-w")
        .arg(&data)
        .args(["-p", &port.to_string(), "-er", "-v"])
        .arg(&torrent);
    let transmission = Process::spawn(cmd.stdin(Stdio::null()));

    // transmission resets connections while it checks the files, or holds
    // them unanswered: retry, each attempt bounded, until one gets through.
    let deadline = Instant::now() + Duration::from_secs(240);
    let attempt = Duration::from_secs(15);
    let ours = plain_bt_handshake(info_hash);
    let mut last = String::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "no encrypted handshake with transmission; last: {last}; its output:\n{}",
            transmission.unread()
        );
        let Ok(stream) = TcpStream::connect(local(port)).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut s = match initiate(stream, &info_hash, &ours, 2, attempt).await {
            Ok((s, crypto)) => {
                assert_eq!(crypto, Crypto::Rc4);
                s
            }
            Err(e) => {
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut theirs = [0u8; Handshake::LEN];
        match tokio::time::timeout(attempt, s.read_exact(&mut theirs)).await {
            Err(_) => last = "no handshake after the encrypted one".into(),
            Ok(Ok(_)) => {
                let h = Handshake::decode(&theirs).expect("transmission's handshake decodes");
                assert_eq!(h.info_hash.0, info_hash);
                assert_eq!(&h.peer_id.0[..3], b"-TR", "transmission's peer id");
                return;
            }
            Ok(Err(e)) => {
                last = format!("reading the handshake: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// CPU seconds (user, system) of this process so far.
fn cpu_times() -> (f64, f64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) }, 0);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

/// CPU cost of RC4 per GiB through MseStream on loopback TCP: one GiB from
/// A to B in RC4 and then in plaintext, user and system CPU seconds of
/// both ends apart. Run with
/// `cargo test --release --test mse -- --ignored --nocapture rc4_cpu_cost`.
#[test]
#[ignore]
fn rc4_cpu_cost_per_gib() {
    const GIB: usize = 1 << 30;
    const CHUNK: usize = 256 * 1024;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let info_hash = [0x45; 20];
    let mut results = Vec::new();
    for (offer, want) in [(2u8, Crypto::Rc4), (1, Crypto::Plaintext)] {
        let (user, sys) = rt.block_on(async {
            let (dialled, accepted) = tcp_pair().await;
            let (a, b) = tokio::join!(
                initiate(dialled, &info_hash, b"", offer, HANDSHAKE_TIMEOUT),
                respond(accepted, &[], finder(info_hash), 3, false, HANDSHAKE_TIMEOUT)
            );
            let (mut a, _) = a.unwrap();
            let (mut b, _, crypto, _) = b.unwrap();
            assert_eq!(crypto, want);
            let block = pattern(CHUNK, 3);
            let start = cpu_times();
            let send = tokio::spawn(async move {
                for _ in 0..GIB / CHUNK {
                    a.write_all(&block).await.unwrap();
                }
                a.flush().await.unwrap();
            });
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0usize;
            let mut first = 0u8;
            while total < GIB {
                let n = b.read(&mut buf).await.unwrap();
                assert!(n > 0);
                if total == 0 {
                    first = buf[0];
                }
                total += n;
            }
            send.await.unwrap();
            let end = cpu_times();
            assert_eq!(first, pattern(1, 3)[0], "the first byte decrypts");
            (end.0 - start.0, end.1 - start.1)
        });
        println!("{want:?}: 1 GiB A->B, user {user:.2} s, sys {sys:.2} s, total {:.2} CPU-s", user + sys);
        results.push((want, user + sys));
    }
    let rc4_extra = results[0].1 - results[1].1;
    println!("RC4 encrypt+decrypt cost: {rc4_extra:.2} CPU-s per GiB over plaintext");
    assert!(results.iter().all(|(_, s)| *s > 0.0), "CPU time was measured");
}
