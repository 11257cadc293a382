//! uTP (BEP 29) over loopback: lt to lt (clean and through a lossy,
//! reordering relay), the connect timeout and RESETs, and interop with
//! libtorrent-rasterbar 2.0.8 both ways (tests/peers/utp_peer.py).
//! Everything runs on 127.0.0.1.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lt::engine::settings::Settings;
use lt::engine::stats::{Counters, Metric};
use lt::engine::transport::udp::UdpTransport;
use lt::engine::transport::utp::{UtpConfig, UtpSocket, UtpStream};
use lt::proto::types::{InfoHash, PeerId};
use lt::proto::utp::{decode, Header, PacketType};
use lt::proto::wire::Handshake;
use rand::{Rng, RngCore, SeedableRng};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Longest any test may take before it is reported as hung (a guard, not
/// a timing assertion).
const HANG_GUARD: Duration = Duration::from_secs(600);

/// One UDP socket with a uTP socket on it.
struct Endpoint {
    utp: Arc<UtpSocket>,
    counters: Arc<Counters>,
    addr: SocketAddr,
    shutdown: CancellationToken,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn endpoint(cfg: UtpConfig) -> Endpoint {
    let counters = Arc::new(Counters::new());
    let udp = UdpTransport::bind(common::local(0), counters.clone()).expect("bind udp");
    let shutdown = CancellationToken::new();
    tokio::spawn(udp.clone().run(shutdown.clone()));
    let utp = UtpSocket::start(udp.clone(), counters.clone(), cfg, shutdown.clone());
    utp.set_accepting(true);
    Endpoint { utp, counters, addr: udp.local_addr(), shutdown }
}

fn default_cfg() -> UtpConfig {
    UtpConfig::from_settings(&Settings::default())
}

/// `len` pseudo-random bytes from `seed`.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

fn sha1(b: &[u8]) -> [u8; 20] {
    Sha1::digest(b).into()
}

/// Writes `out` in uneven pieces and shuts the write side; reads until EOF
/// and answers the SHA-1 of what came and its length.
async fn exchange(stream: UtpStream, out: Arc<Vec<u8>>) -> ([u8; 20], usize) {
    let (mut r, mut w) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        let mut at = 0;
        let mut step = 1000;
        while at < out.len() {
            let end = (at + step).min(out.len());
            w.write_all(&out[at..end]).await.expect("write");
            at = end;
            step = step * 3 % 70_000 + 1;
        }
        w.shutdown().await.expect("shutdown");
        w
    });
    let (hash, n) = read_to_end_hashed(&mut r).await;
    // Keep the write half alive until the peer read everything too.
    let _w = writer.await.unwrap();
    (hash, n)
}

async fn read_to_end_hashed(r: &mut (impl AsyncRead + Unpin)) -> ([u8; 20], usize) {
    let mut hasher = Sha1::new();
    let mut buf = vec![0u8; 100_000];
    let mut n = 0;
    loop {
        let k = r.read(&mut buf).await.expect("read");
        if k == 0 {
            break;
        }
        hasher.update(&buf[..k]);
        n += k;
    }
    (hasher.finalize().into(), n)
}

/// Connects `a` to `b` (through `via` if given), sends `len` bytes each way
/// at once and checks both arrive intact.
async fn both_ways(a: &Endpoint, b: &Endpoint, via: SocketAddr, len: usize) {
    let (to_b, to_a) = (Arc::new(data(len, 1)), Arc::new(data(len, 2)));
    let (want_b, want_a) = (sha1(&to_b), sha1(&to_a));
    let accept = {
        let utp = b.utp.clone();
        let to_a = to_a.clone();
        tokio::spawn(async move {
            let s = utp.accept().await.expect("accept");
            exchange(s, to_a).await
        })
    };
    let s = a.utp.connect(via).await.expect("connect");
    assert_eq!(s.peer_addr(), via);
    let (got_a, n_a) = exchange(s, to_b).await;
    let (got_b, n_b) = accept.await.unwrap();
    assert_eq!((n_a, n_b), (len, len));
    assert_eq!(got_a, want_a, "b to a");
    assert_eq!(got_b, want_b, "a to b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lt_to_lt_32_mib_each_way() {
    let (a, b) = (endpoint(default_cfg()), endpoint(default_cfg()));
    let len = 32 << 20;
    tokio::time::timeout(HANG_GUARD, both_ways(&a, &b, b.addr, len)).await.expect("hung");
    for c in [&a.counters, &b.counters] {
        let payload_in = c.get(Metric::UtpPayloadPktsIn) as usize;
        assert!(payload_in >= len / 1452, "{payload_in} DATA packets for {len} bytes");
        assert!(c.get(Metric::UtpPayloadPktsOut) as usize >= len / 1452);
        assert!(c.get(Metric::UtpPacketsIn) > c.get(Metric::UtpPayloadPktsIn));
        assert!(c.get(Metric::UtpSamplesBelowTarget) + c.get(Metric::UtpSamplesAboveTarget) > 0);
        assert_eq!(c.get(Metric::UdpUtpDropped), 0);
    }
}

/// A UDP forwarder between one client and `target` that drops, reorders
/// (holds a packet a few ms) and duplicates packets with a seeded RNG.
async fn lossy_relay(target: SocketAddr, seed: u64, stop: CancellationToken) -> SocketAddr {
    let sock = Arc::new(tokio::net::UdpSocket::bind(common::local(0)).await.unwrap());
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut client: Option<SocketAddr> = None;
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = tokio::select! {
                _ = stop.cancelled() => return,
                r = sock.recv_from(&mut buf) => r.unwrap(),
            };
            let to = if from == target {
                match client {
                    Some(c) => c,
                    None => continue,
                }
            } else {
                client = Some(from);
                target
            };
            let roll: f64 = rng.gen();
            let packet = buf[..n].to_vec();
            if roll < 0.03 {
                continue; // dropped
            } else if roll < 0.06 {
                let sock = sock.clone();
                let hold = Duration::from_millis(rng.gen_range(2..10));
                tokio::spawn(async move {
                    tokio::time::sleep(hold).await;
                    let _ = sock.send_to(&packet, to).await;
                });
            } else {
                let _ = sock.send_to(&packet, to).await;
                if roll < 0.07 {
                    let _ = sock.send_to(&packet, to).await;
                }
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lt_to_lt_through_loss_reordering_and_duplicates() {
    let (a, b) = (endpoint(default_cfg()), endpoint(default_cfg()));
    let stop = CancellationToken::new();
    let relay = lossy_relay(b.addr, 11, stop.clone()).await;
    tokio::time::timeout(HANG_GUARD, both_ways(&a, &b, relay, 8 << 20)).await.expect("hung");
    stop.cancel();
    let resends = a.counters.get(Metric::UtpPacketResend) + b.counters.get(Metric::UtpPacketResend);
    assert!(resends > 0, "lost packets were resent");
    let redundant = a.counters.get(Metric::UtpRedundantPktsIn) + b.counters.get(Metric::UtpRedundantPktsIn);
    assert!(redundant > 0, "duplicated packets were seen as such");
    assert!(a.counters.get(Metric::UtpPacketLoss) + b.counters.get(Metric::UtpPacketLoss) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_times_out_and_strangers_get_reset() {
    let cfg = UtpConfig { connect_timeout_ms: 300, ..default_cfg() };
    let a = endpoint(cfg);
    // Nobody answers here.
    let silent = std::net::UdpSocket::bind(common::local(0)).unwrap();
    let started = Instant::now();
    let err = a.utp.connect(silent.local_addr().unwrap()).await.err().expect("no answer, no connection");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(300));
    silent.set_nonblocking(true).unwrap();
    let mut syns = 0;
    let mut buf = [0u8; 1500];
    while let Ok(n) = silent.recv(&mut buf) {
        let (h, _) = decode(&buf[..n]).unwrap();
        assert_eq!(h.ty, PacketType::Syn);
        syns += 1;
    }
    assert_eq!(syns, 1 + cfg.syn_resends, "the SYN and its resends");

    // A RESET for an unknown connection is not answered; a DATA packet is,
    // with RESET. Loopback keeps order, so the one answer is to the DATA.
    let stranger = std::net::UdpSocket::bind(common::local(0)).unwrap();
    stranger.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let packet = |ty, seq_nr| {
        let mut v = Vec::new();
        Header {
            ty,
            connection_id: 4242,
            timestamp_us: 1,
            timestamp_diff_us: 0,
            wnd_size: 65536,
            seq_nr,
            ack_nr: 9,
            sack: None,
        }
        .encode_vec(&mut v);
        v
    };
    stranger.send_to(&packet(PacketType::Reset, 100), a.addr).unwrap();
    stranger.send_to(&packet(PacketType::Data, 777), a.addr).unwrap();
    let n = stranger.recv(&mut buf).expect("an answer to DATA");
    let (h, _) = decode(&buf[..n]).unwrap();
    assert_eq!((h.ty, h.connection_id, h.ack_nr), (PacketType::Reset, 4242, 777));
    assert_eq!(a.counters.get(Metric::UtpInvalidPktsIn), 2);

    // A socket that does not accept refuses with RESET.
    let b = endpoint(default_cfg());
    b.utp.set_accepting(false);
    let err = a.utp.connect(b.addr).await.err().expect("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

/// libtorrent seeding over uTP only (tests/peers/utp_peer.py).
struct LibtorrentUtp {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    port: u16,
    _dir: common::TempDir,
}

impl Drop for LibtorrentUtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LibtorrentUtp {
    fn start(connect: Option<SocketAddr>) -> (LibtorrentUtp, InfoHash) {
        let dir = common::tempdir("utp-lt");
        let port = common::free_port();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/utp_peer.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script).arg("--dir").arg(&dir.path).args(["--port", &port.to_string()]);
        if let Some(c) = connect {
            cmd.args(["--connect", &c.to_string()]);
        }
        let mut child =
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("python3-libtorrent");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut peer = LibtorrentUtp { child, lines, port, _dir: dir };
        let ready = peer.wait_line("\"ready\"");
        let hex = ready.split("\"info_hash\": \"").nth(1).and_then(|s| s.get(..40)).expect("info_hash");
        (peer, InfoHash::from_hex(hex).expect("hex info-hash"))
    }

    fn wait_line(&mut self, want: &str) -> String {
        loop {
            let line = self.lines.recv_timeout(Duration::from_secs(120)).expect("utp_peer.py output");
            if line.contains(want) {
                return line;
            }
        }
    }
}

/// Reads messages until a bitfield (5) or have_all (14); answers its id.
async fn read_until_have(s: &mut UtpStream) -> u8 {
    loop {
        let len = s.read_u32().await.expect("message length") as usize;
        if len == 0 {
            continue;
        }
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.expect("message body");
        if body[0] == 5 || body[0] == 14 {
            return body[0];
        }
    }
}

async fn handshake_of(s: &mut (impl AsyncRead + Unpin)) -> Handshake {
    let mut hs = [0u8; Handshake::LEN];
    s.read_exact(&mut hs).await.expect("libtorrent's handshake");
    Handshake::decode(&hs).expect("a BitTorrent handshake")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_answers_our_utp_connection() {
    let (peer, info_hash) = LibtorrentUtp::start(None);
    let a = endpoint(default_cfg());
    let mut s = tokio::time::timeout(HANG_GUARD, a.utp.connect(common::local(peer.port)))
        .await
        .expect("hung")
        .expect("uTP connect to libtorrent");
    let ours = Handshake::new(info_hash, PeerId::generate("-LT0010-"));
    s.write_all(&ours.encode()).await.unwrap();
    let theirs = tokio::time::timeout(HANG_GUARD, handshake_of(&mut s)).await.expect("hung");
    assert_eq!(theirs.info_hash, info_hash);
    let id = tokio::time::timeout(HANG_GUARD, read_until_have(&mut s)).await.expect("hung");
    assert!(id == 5 || id == 14, "bitfield or have_all, got {id}");
    assert!(a.counters.get(Metric::UtpPayloadPktsIn) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_dials_our_utp_socket() {
    let a = endpoint(default_cfg());
    let (mut peer, info_hash) = LibtorrentUtp::start(Some(a.addr));
    let mut s = tokio::time::timeout(HANG_GUARD, a.utp.accept()).await.expect("hung").expect("accepted");
    let theirs = tokio::time::timeout(HANG_GUARD, handshake_of(&mut s)).await.expect("hung");
    assert_eq!(theirs.info_hash, info_hash);
    let ours = Handshake::new(info_hash, PeerId::generate("-LT0010-"));
    s.write_all(&ours.encode()).await.unwrap();
    let id = tokio::time::timeout(HANG_GUARD, read_until_have(&mut s)).await.expect("hung");
    assert!(id == 5 || id == 14, "bitfield or have_all, got {id}");
    let line = tokio::task::spawn_blocking(move || peer.wait_line("\"peer\"")).await.unwrap();
    assert!(line.contains("\"utp\": true"), "libtorrent says the peer is on uTP: {line}");
}

/// User and system CPU seconds of this process so far.
fn cpu_seconds() -> (f64, f64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) }, 0);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

/// Throughput of one lt to lt uTP connection on loopback: 1 GiB one way,
/// both ends in this process. Prints MiB/s and the CPU seconds per GiB
/// (user and system apart, both ends together, from getrusage). The
/// research target is librqbit-utp's loopback figures: >= 150 MiB/s and
/// <= 7 CPU-s/GiB. Run in release:
/// `nice cargo test --release --test utp -- --ignored --nocapture throughput`.
/// The received bytes are compared with what was sent; the figures are
/// printed, not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_1_gib() {
    const TOTAL: usize = 1 << 30;
    let (a, b) = (endpoint(default_cfg()), endpoint(default_cfg()));
    let pattern = Arc::new(data(1 << 20, 3));
    let reader = {
        let utp = b.utp.clone();
        let pattern = pattern.clone();
        tokio::spawn(async move {
            let mut s = utp.accept().await.expect("accept");
            let mut buf = vec![0u8; 256 * 1024];
            let mut at = 0usize;
            loop {
                let n = s.read(&mut buf).await.expect("read");
                if n == 0 {
                    return at;
                }
                let mut off = 0;
                while off < n {
                    let p = (at + off) % pattern.len();
                    let k = (pattern.len() - p).min(n - off);
                    assert!(buf[off..off + k] == pattern[p..p + k], "bytes from {} differ", at + off);
                    off += k;
                }
                at += n;
            }
        })
    };
    let (user0, sys0) = cpu_seconds();
    let started = Instant::now();
    let mut s = a.utp.connect(b.addr).await.expect("connect");
    for _ in 0..TOTAL / pattern.len() {
        s.write_all(&pattern).await.expect("write");
    }
    s.shutdown().await.unwrap();
    let received = tokio::time::timeout(HANG_GUARD, reader).await.expect("hung").unwrap();
    let secs = started.elapsed().as_secs_f64();
    let (user1, sys1) = cpu_seconds();
    assert_eq!(received, TOTAL);
    let gib = TOTAL as f64 / f64::from(1u32 << 30);
    println!(
        "uTP loopback: {:.0} MiB/s, CPU {:.2} s/GiB (user {:.2}, sys {:.2}), resends {}, packets from the receiver per DATA packet {:.3}, cwnd at end {} B, packet payload {} B",
        TOTAL as f64 / f64::from(1u32 << 20) / secs,
        (user1 - user0 + sys1 - sys0) / gib,
        (user1 - user0) / gib,
        (sys1 - sys0) / gib,
        a.counters.get(Metric::UtpPacketResend),
        b.counters.get(Metric::UtpPacketsOut) as f64 / b.counters.get(Metric::UtpPayloadPktsIn) as f64,
        s.congestion_window(),
        s.packet_payload(),
    );
}

/// A SYN is answered, but the connection is accepted only once a packet
/// acks that answer: a SYN with a forged source address never takes a
/// connection slot of the session. The ack must name our first sequence
/// number, which only the real sender saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syn_is_accepted_only_once_its_sender_acks_our_answer() {
    let b = endpoint(default_cfg());
    let peer = std::net::UdpSocket::bind(common::local(0)).unwrap();
    peer.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let packet = |ty, seq_nr, ack_nr| {
        // The SYN names our receive id; everything after it our send id.
        let connection_id = if ty == PacketType::Syn { 700 } else { 701 };
        let mut v = Vec::new();
        Header {
            ty,
            connection_id,
            timestamp_us: 1,
            timestamp_diff_us: 0,
            wnd_size: 65536,
            seq_nr,
            ack_nr,
            sack: None,
        }
        .encode_vec(&mut v);
        v
    };
    peer.send_to(&packet(PacketType::Syn, 50, 0), b.addr).unwrap();
    let mut buf = [0u8; 1500];
    let n = peer.recv(&mut buf).unwrap();
    let (state, _) = decode(&buf[..n]).unwrap();
    assert_eq!((state.ty, state.connection_id, state.ack_nr), (PacketType::State, 700, 50));
    // A packet with the wrong ack (a blind guess) does not prove anything.
    let wrong = state.seq_nr.wrapping_add(1000);
    peer.send_to(&packet(PacketType::Data, 51, wrong), b.addr).unwrap();
    peer.send_to(&packet(PacketType::State, 50, wrong), b.addr).unwrap();
    until("the guesses arrived", || b.counters.get(Metric::UdpPacketsIn) >= 3).await;
    assert_eq!(b.counters.get(Metric::NumUtpIdle), 0, "not accepted on a wrong ack");
    // The real ack: the sequence number before our STATE's.
    let mut hello = packet(PacketType::Data, 51, state.seq_nr.wrapping_sub(1));
    hello.extend_from_slice(b"hello");
    peer.send_to(&hello, b.addr).unwrap();
    let mut incoming = tokio::time::timeout(HANG_GUARD, b.utp.accept()).await.unwrap().expect("accepted");
    let mut got = [0u8; 5];
    incoming.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hello");
}

/// Waits until `f` holds, polling; the hang guard reports a stuck gauge.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG_GUARD;
    while !f() {
        assert!(Instant::now() < deadline, "{what} never became true");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauges_follow_the_connections() {
    let (a, b) = (endpoint(default_cfg()), endpoint(default_cfg()));
    let gauge = |e: &Endpoint, m| e.counters.get(m);
    let mut outgoing = a.utp.connect(b.addr).await.expect("connect");
    until("the dialled side counts one connected", || gauge(&a, Metric::NumUtpConnected) == 1).await;
    // The dialling side's first packet proves its address: only then does
    // the connection wait in the backlog.
    outgoing.write_all(b"ping").await.unwrap();
    until("the incoming one waits in the backlog", || gauge(&b, Metric::NumUtpIdle) == 1).await;
    let mut incoming = b.utp.accept().await.expect("accept");
    until("the accepted one is connected", || {
        gauge(&b, Metric::NumUtpIdle) == 0 && gauge(&b, Metric::NumUtpConnected) == 1
    })
    .await;
    let mut got = [0u8; 4];
    incoming.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    // Both ends close: FINs both ways, then the sockets forget them.
    outgoing.shutdown().await.unwrap();
    incoming.shutdown().await.unwrap();
    assert_eq!(incoming.read(&mut got).await.unwrap(), 0, "EOF after the peer's FIN");
    assert_eq!(outgoing.read(&mut got).await.unwrap(), 0, "EOF after the peer's FIN");
    until("both sides forgot their connection", || {
        [&a, &b].iter().all(|e| {
            [Metric::NumUtpConnected, Metric::NumUtpFinSent, Metric::NumUtpCloseWait]
                .iter()
                .all(|m| gauge(e, *m) == 0)
        })
    })
    .await;
    until("the held streams count as deleted", || {
        gauge(&a, Metric::NumUtpDeleted) == 1 && gauge(&b, Metric::NumUtpDeleted) == 1
    })
    .await;
    drop((outgoing, incoming));
    until("dropped streams are gone", || {
        gauge(&a, Metric::NumUtpDeleted) == 0 && gauge(&b, Metric::NumUtpDeleted) == 0
    })
    .await;
    // After shutdown: no more connections either way.
    b.shutdown.cancel();
    assert!(b.utp.accept().await.is_none());
    let err = b.utp.connect(a.addr).await.err().expect("shut down");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionAborted);
}
